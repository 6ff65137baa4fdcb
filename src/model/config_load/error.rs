//! What a config error says: where the value came from ([`Source`]), the key
//! path and the bad value. Loading collects every error it finds, so a file
//! with three mistakes is reported with three lines at once.

use std::fmt;
use std::path::PathBuf;

use super::{HOSTNAME_FILE, NODE_NAME_ENV};

/// Where a config value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    /// The env var's name.
    Env(String),
    /// The flag's name, without dashes.
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Flag(name) => write!(f, "flag --{name}"),
        }
    }
}

/// A configuration that cannot be used. Each names its source, and where
/// it applies the key path and the bad value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file cannot be read.
    #[error("{}: cannot read config file: {error}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    /// The file (or a YAML-valued env var or flag) is not valid YAML.
    #[error("{source_name}: invalid YAML: {message}")]
    Syntax {
        source_name: Source,
        message: String,
    },
    /// A key kroute does not know: most likely a typo.
    #[error("{source_name}: unknown key {key}")]
    UnknownKey { source_name: Source, key: String },
    /// A value of the wrong shape (a scalar where a list or map belongs, …).
    #[error("{source_name}: {key}: expected {expected}, got {value}")]
    WrongShape {
        source_name: Source,
        key: String,
        expected: &'static str,
        value: String,
    },
    /// A value that does not parse or is not allowed.
    #[error("{source_name}: {key}: {problem} {value:?}")]
    InvalidValue {
        source_name: Source,
        key: String,
        value: String,
        /// e.g. `invalid duration`.
        problem: String,
    },
    /// No node name: none configured, no `$NODE_NAME`, no readable hostname.
    #[error("nodeName: not configured, ${NODE_NAME_ENV} unset and no hostname in {HOSTNAME_FILE}")]
    NoNodeName,
    /// A configured source (`source.manifests`, `source.kubeconfig`) that
    /// cannot be read: found by [`check_sources`](super::check_sources).
    #[error("{key}: cannot read {what} {:?}: {error}", path.display().to_string())]
    Unreadable {
        key: &'static str,
        /// `directory` or `file`.
        what: &'static str,
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    /// More than one of the above, in the order found; one per line.
    #[error("{}", lines(.0))]
    Several(Vec<ConfigError>),
}

fn lines(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    /// One error as itself, several as [`ConfigError::Several`]; `None` when
    /// there is none.
    pub fn from_list(mut errors: Vec<ConfigError>) -> Option<ConfigError> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(ConfigError::Several(errors)),
        }
    }

    /// Every single error: the list of a `Several`, else this one.
    pub fn list(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Several(errors) => errors.iter().flat_map(ConfigError::list).collect(),
            one => vec![one],
        }
    }
}
