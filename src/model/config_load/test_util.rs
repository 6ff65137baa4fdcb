//! Helpers shared by the loader's tests: config files in temp dirs, an
//! injected environment, flags parsed the way the binary parses them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use clap::Parser;

use super::{ConfigError, ConfigFlags, load_config};
use crate::model::config::Config;

/// A config file in a temp dir; the dir lives as long as the value.
pub struct File {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn file(text: &str) -> File {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    File { dir, path }
}

pub fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

pub fn base_env() -> Vec<(&'static str, &'static str)> {
    vec![("NODE_NAME", "env-node"), ("HOME", "/home/test")]
}

pub fn flags_with(config: &File) -> ConfigFlags {
    ConfigFlags {
        config: Some(config.path.clone()),
        ..ConfigFlags::default()
    }
}

pub fn load_file(text: &str) -> (Result<Config, ConfigError>, File) {
    let f = file(text);
    (load_config(&flags_with(&f), &env_of(&base_env())), f)
}

/// Every message of a failed load, one per error.
pub fn messages(result: Result<Config, ConfigError>) -> Vec<String> {
    match result {
        Ok(config) => panic!("loaded: {config:?}"),
        Err(e) => e.list().iter().map(ToString::to_string).collect(),
    }
}

/// Parses flags the way the binary does.
#[derive(Parser)]
pub struct Cli {
    #[command(flatten)]
    pub flags: ConfigFlags,
}

pub fn flags(args: &[&str]) -> ConfigFlags {
    Cli::try_parse_from(std::iter::once("kroute").chain(args.iter().copied()))
        .unwrap()
        .flags
}
