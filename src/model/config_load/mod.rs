//! Loading the configuration: defaults < file (`--config` or
//! `KROUTE_CONFIG`) < env (`KROUTE_<KEY>`) < flags (`--<key>`).
//!
//! Every layer is parsed and checked on its own, so a typo in the file is an
//! error even when a flag overrides that key. Every error is collected and
//! they are reported together, each naming the source (file, `env KROUTE_X`
//! or `flag --x`), the key path and the bad value.
//!
//! - [`schema`]: the keys, their shapes and flags;
//! - [`flags`]: the clap flags;
//! - `layer`: one source read into raw values, `builder`/`peer`/`values`:
//!   parsed onto a [`Config`];
//! - `paths`: `~` and relative paths; `sources`: [`check_sources`].

mod builder;
mod error;
pub mod flags;
mod layer;
mod paths;
mod peer;
pub mod schema;
mod sources;
mod values;

#[cfg(test)]
mod test_util;

#[cfg(test)]
#[path = "errors_tests.rs"]
mod errors_tests;
#[cfg(test)]
#[path = "flags_tests.rs"]
mod flags_tests;
#[cfg(test)]
#[path = "load_tests.rs"]
mod load_tests;
#[cfg(test)]
#[path = "paths_tests.rs"]
mod paths_tests;
#[cfg(test)]
#[path = "sources_tests.rs"]
mod sources_tests;

pub use error::{ConfigError, Source};
pub use flags::ConfigFlags;
pub use paths::config_path;
pub use schema::{KEYS, PEER_KEYS, SCHEMA, Shape, env_name, flag_of};
pub use sources::check_sources;

use builder::Builder;
use layer::{Layer, PathBase, file_layer, text_value};
use paths::file_dir;

use super::config::Config;

/// Env var naming the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "KROUTE_CONFIG";
/// Prefix of the env var of every config key.
pub const ENV_PREFIX: &str = "KROUTE_";
/// Where the node name comes from when neither file, env nor flag sets it.
pub const NODE_NAME_ENV: &str = "NODE_NAME";
const HOSTNAME_FILE: &str = "/proc/sys/kernel/hostname";

/// Loads the configuration. `env` reads an environment variable (injected so
/// tests need not touch the process environment). On failure the error holds
/// every problem found ([`ConfigError::list`]).
pub fn load_config(
    flags: &ConfigFlags,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let home = env("HOME");
    let mut builder = Builder::new();

    if let Some(path) = config_path(flags, env) {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let dir = file_dir(&path);
                let base = PathBase {
                    home: home.as_deref(),
                    dir: Some(&dir),
                };
                let source = Source::File(path.clone());
                let layer = file_layer(&text, &source, base, &mut builder.errors);
                builder.apply_layer(&layer);
            }
            Err(error) => builder.errors.push(ConfigError::ReadFile { path, error }),
        }
    }

    // Env vars and flags: relative paths stay relative to the working directory.
    let base = PathBase {
        home: home.as_deref(),
        dir: None,
    };
    let mut env_layer = Layer::new();
    for (key, flag) in KEYS {
        let name = env_name(flag);
        if let Some(value) = env(&name) {
            let source = Source::Env(name);
            if let Some(raw) = text_value(key, &value, &source, base, &mut builder.errors) {
                env_layer.insert(key, (source, raw));
            }
        }
    }
    builder.apply_layer(&env_layer);

    let mut flag_layer = Layer::new();
    for (key, flag) in KEYS {
        if let Some(value) = flags.get(flag) {
            let source = Source::Flag(flag);
            if let Some(raw) = text_value(key, value, &source, base, &mut builder.errors) {
                flag_layer.insert(key, (source, raw));
            }
        }
    }
    builder.apply_layer(&flag_layer);

    let node_name_given =
        builder.sources.contains_key("nodeName") || builder.failed.contains("nodeName");
    if !node_name_given {
        match default_node_name(env) {
            Some(name) => builder.config.node_name = name,
            None => builder.errors.push(ConfigError::NoNodeName),
        }
    }
    builder.check();
    match ConfigError::from_list(builder.errors) {
        None => Ok(builder.config),
        Some(e) => Err(e),
    }
}

/// `$NODE_NAME`, else the hostname.
fn default_node_name(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    env(NODE_NAME_ENV)
        .filter(|s| !s.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string(HOSTNAME_FILE)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
}
