//! Runs `nft`: a script on stdin (one transaction), or a JSON listing.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::host::HostError;
use crate::host::nft::{Family, TABLE};

/// How to invoke `nft`. `argv` is the command and its leading arguments:
/// `["nft"]` on the host, `["ip", "netns", "exec", NS, "nft"]` in tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NftRunner {
    pub argv: Vec<String>,
}

impl Default for NftRunner {
    fn default() -> Self {
        NftRunner {
            argv: vec!["nft".to_string()],
        }
    }
}

impl NftRunner {
    pub fn new(argv: Vec<String>) -> NftRunner {
        NftRunner { argv }
    }

    /// `nft` inside the named network namespace.
    pub fn in_netns(name: &str) -> NftRunner {
        NftRunner::new(
            ["ip", "netns", "exec", name, "nft"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        )
    }

    /// Applies `script` with `nft -f -`: one transaction, all or nothing.
    pub fn run_script(&self, script: &str) -> Result<(), HostError> {
        let mut child = self
            .command(&["-f", "-"])?
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.spawn_error(e))?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        // Feed stdin from another thread so a large script cannot deadlock
        // against nft filling its output pipes. A write error (nft exited
        // early) is reported through nft's exit status and stderr.
        let output = std::thread::scope(|s| {
            s.spawn(move || {
                let _ = stdin.write_all(script.as_bytes());
            });
            child.wait_with_output()
        })
        .map_err(|e| self.spawn_error(e))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(HostError::NftRejected {
                message: failure_text(&output),
            })
        }
    }

    /// `nft -j list table FAMILY kroute`; `None` when the table does not exist.
    pub fn list_table(&self, family: Family) -> Result<Option<String>, HostError> {
        let output = self
            .command(&["-j", "list", "table", family.keyword(), TABLE])?
            .stdin(Stdio::null())
            .output()
            .map_err(|e| self.spawn_error(e))?;
        if output.status.success() {
            return String::from_utf8(output.stdout)
                .map(Some)
                .map_err(|e| HostError::Read {
                    what: format!("table {family} {TABLE}"),
                    message: e.to_string(),
                });
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        if is_no_such_table(&stderr) {
            Ok(None)
        } else {
            Err(HostError::Read {
                what: format!("table {family} {TABLE}"),
                message: failure_text(&output),
            })
        }
    }

    /// Deletes the family's `kroute` table; a missing table is not an error.
    pub fn delete_table(&self, family: Family) -> Result<(), HostError> {
        self.run_script(&delete_tables_script(&[family]))
    }

    fn command(&self, args: &[&str]) -> Result<Command, HostError> {
        let (program, leading) = self.argv.split_first().ok_or_else(|| HostError::Spawn {
            command: "nft".to_string(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty argv"),
        })?;
        let mut cmd = Command::new(program);
        cmd.args(leading).args(args);
        Ok(cmd)
    }

    fn spawn_error(&self, source: std::io::Error) -> HostError {
        HostError::Spawn {
            command: self.argv.join(" "),
            source,
        }
    }
}

/// A script that deletes tables whether or not they exist: nft 1.0.6 has no
/// `destroy`, but adding a table first makes the delete always valid, and
/// both happen in one transaction.
pub fn delete_tables_script(families: &[Family]) -> String {
    families
        .iter()
        .map(|f| format!("add table {f} {TABLE}\ndelete table {f} {TABLE}\n"))
        .collect()
}

/// nft reports a missing table as `Error: No such file or directory`. The
/// prefix matters: `ip netns exec` reports a missing namespace with the same
/// errno text, and that must stay an error.
fn is_no_such_table(stderr: &str) -> bool {
    stderr
        .lines()
        .any(|l| l.trim_start() == "Error: No such file or directory")
}

fn failure_text(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if stderr.is_empty() {
        format!("nft exited with {}", output.status)
    } else {
        stderr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runner whose "nft" is a shell snippet; `nft`'s own arguments land in
    /// `$@` (after `$0`).
    fn sh(snippet: &str) -> NftRunner {
        NftRunner::new(vec![
            "sh".into(),
            "-c".into(),
            snippet.into(),
            "fake-nft".into(),
        ])
    }

    #[test]
    fn a_script_goes_to_stdin_with_f_dash() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("got");
        let runner = sh(&format!("echo \"$@\" > {0}; cat >> {0}", file.display()));
        runner.run_script("add table ip kroute\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "-f -\nadd table ip kroute\n"
        );
    }

    #[test]
    fn a_large_script_does_not_deadlock_against_output() {
        let script = "x".repeat(1 << 20);
        // Writes a lot to stderr before reading stdin, then fails.
        let runner = sh("head -c 300000 /dev/zero | tr '\\0' e >&2; cat > /dev/null; exit 1");
        let err = runner.run_script(&script).unwrap_err();
        assert!(matches!(err, HostError::NftRejected { message } if message.len() == 300000));
    }

    #[test]
    fn a_refused_script_reports_nft_stderr() {
        let runner = sh("cat > /dev/null; echo 'Error: syntax error' >&2; exit 1");
        match runner.run_script("bogus") {
            Err(HostError::NftRejected { message }) => assert_eq!(message, "Error: syntax error"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn listing_a_missing_table_is_none_but_other_failures_are_errors() {
        let absent =
            sh("printf 'Error: No such file or directory\\nlist table ip kroute\\n' >&2; exit 1");
        assert_eq!(absent.list_table(Family::Ip).unwrap(), None);
        let no_netns =
            sh("echo 'Cannot open network namespace \"x\": No such file or directory' >&2; exit 1");
        assert!(matches!(
            no_netns.list_table(Family::Ip),
            Err(HostError::Read { .. })
        ));
    }

    #[test]
    fn listing_passes_json_flags_and_returns_stdout() {
        let runner = sh("echo \"$@\"");
        assert_eq!(
            runner.list_table(Family::Ip6).unwrap().as_deref(),
            Some("-j list table ip6 kroute\n")
        );
    }

    #[test]
    fn a_missing_binary_is_a_spawn_error() {
        let runner = NftRunner::new(vec!["/nonexistent/nft".into()]);
        assert!(matches!(
            runner.run_script(""),
            Err(HostError::Spawn { .. })
        ));
        assert!(matches!(
            NftRunner::new(vec![]).list_table(Family::Ip),
            Err(HostError::Spawn { .. })
        ));
    }

    #[test]
    fn deleting_tables_adds_them_first() {
        assert_eq!(
            delete_tables_script(&[Family::Ip, Family::Ip6]),
            "add table ip kroute\ndelete table ip kroute\nadd table ip6 kroute\ndelete table ip6 kroute\n"
        );
    }
}
