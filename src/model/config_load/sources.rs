//! The sources a configuration names must be readable before anything runs:
//! a missing manifests directory is a config error (exit 2), not a watch
//! that waits forever on nothing.

use std::path::Path;

use super::ConfigError;
use crate::model::config::Config;

/// Checks that `source.manifests` (when set) is a readable directory and
/// `source.kubeconfig` (when set) a readable file. Every problem is reported.
/// `load_config` does not do this, so `kroute cleanup` works whatever the
/// sources; `run` and `plan` call it after loading.
pub fn check_sources(config: &Config) -> Result<(), ConfigError> {
    let mut errors = Vec::new();
    if let Some(dir) = &config.source.manifests
        && let Err(error) = std::fs::read_dir(dir)
    {
        errors.push(unreadable("source.manifests", "directory", dir, error));
    }
    if let Some(file) = &config.source.kubeconfig
        && let Err(error) = readable_file(file)
    {
        errors.push(unreadable("source.kubeconfig", "file", file, error));
    }
    match ConfigError::from_list(errors) {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

fn readable_file(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?;
    if std::fs::metadata(path)?.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory",
        ));
    }
    Ok(())
}

fn unreadable(
    key: &'static str,
    what: &'static str,
    path: &Path,
    error: std::io::Error,
) -> ConfigError {
    ConfigError::Unreadable {
        key,
        what,
        path: path.to_path_buf(),
        error,
    }
}
