//! `check_sources`: configured sources must be readable.

use std::path::PathBuf;

use super::*;
use crate::model::config::{Config, SourceConfig};

fn with_sources(manifests: Option<PathBuf>, kubeconfig: Option<PathBuf>) -> Config {
    Config {
        source: SourceConfig {
            manifests,
            kubeconfig,
        },
        ..Config::default()
    }
}

#[test]
fn readable_sources_pass() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, "apiVersion: v1\n").unwrap();
    check_sources(&with_sources(None, None)).unwrap();
    check_sources(&with_sources(Some(dir.path().into()), Some(kubeconfig))).unwrap();
}

#[test]
fn a_missing_manifests_directory_names_the_key_and_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = check_sources(&with_sources(Some(missing.clone()), None)).unwrap_err();
    assert!(matches!(err, ConfigError::Unreadable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "source.manifests: cannot read directory {:?}: ",
            missing.display().to_string()
        )),
        "{text}"
    );
    assert!(text.contains("No such file or directory"), "{text}");
}

#[test]
fn a_file_is_not_a_manifests_directory_nor_a_directory_a_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file.yaml");
    std::fs::write(&file, "").unwrap();
    let err = check_sources(&with_sources(Some(file), Some(dir.path().into()))).unwrap_err();
    let messages: Vec<String> = err.list().iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].starts_with("source.manifests: cannot read directory"),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with("source.kubeconfig: cannot read file"),
        "{messages:?}"
    );
}
