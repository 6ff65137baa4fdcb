//! Paths in the configuration: `~/` is the home directory, and a relative
//! path written in the config file is taken from the file's directory (so a
//! file works from any working directory). Paths from flags and env vars stay
//! relative to the working directory, as a shell user expects.

use std::path::{Component, Path, PathBuf};

use super::CONFIG_ENV;
use super::flags::ConfigFlags;

/// `~` and `~/…` become `home` and `home/…`; `~user` is left alone.
pub(super) fn expand_home(path: &str, home: Option<&str>) -> PathBuf {
    match (path.strip_prefix('~'), home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            PathBuf::from(format!("{home}{rest}"))
        }
        _ => PathBuf::from(path),
    }
}

/// A path value as written: `~` expanded, then a relative path joined to
/// `base` (the config file's directory) when there is one. An empty path is
/// an error.
pub(super) fn resolve(
    text: &str,
    home: Option<&str>,
    base: Option<&Path>,
) -> Result<PathBuf, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty path".into());
    }
    let path = expand_home(text, home);
    Ok(match base {
        Some(base) if path.is_relative() => tidy(&base.join(path)),
        _ => path,
    })
}

/// Drops `.` components (`dir/./x` → `dir/x`); `..` is kept, since it means
/// something else through a symlink.
fn tidy(path: &Path) -> PathBuf {
    let tidied: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    if tidied.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        tidied
    }
}

/// The directory relative paths of the config file at `path` are taken from.
pub(super) fn file_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The path of the config file in use, if any (for messages and reloads):
/// `--config`, else `$KROUTE_CONFIG`; `~` expanded.
pub fn config_path(flags: &ConfigFlags, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let home = env("HOME");
    flags
        .config
        .clone()
        .or_else(|| env(CONFIG_ENV).filter(|s| !s.is_empty()).map(PathBuf::from))
        .map(|p| expand_home(&p.to_string_lossy(), home.as_deref()))
}
