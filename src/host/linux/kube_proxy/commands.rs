//! The commands kube-proxy cleanup runs (`nft`, `iptables-save`, `ip`,
//! `ipvsadm`, …), behind a trait so tests can replay canned output.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::host::linux::cleanup::CleanupError;

/// What a finished command said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs host commands and looks at the host's files.
pub trait Commands {
    /// Runs `argv`, feeding `stdin` when given. An error only when the
    /// command cannot be started.
    fn run(&self, argv: &[&str], stdin: Option<&str>) -> Result<CommandOutput, CleanupError>;
    /// Whether `program` is installed (on `PATH`, or in `/usr/sbin`, `/sbin`).
    fn installed(&self, program: &str) -> bool;
    /// Whether `path` exists (`/proc/net/ip_vs`).
    fn exists(&self, path: &Path) -> bool;
}

/// Runs `argv`; its stdout when it succeeds, else an error with its stderr.
pub fn run_ok(
    commands: &dyn Commands,
    argv: &[&str],
    stdin: Option<&str>,
) -> Result<String, CleanupError> {
    let out = commands.run(argv, stdin)?;
    if out.success {
        Ok(out.stdout)
    } else {
        Err(CleanupError::Command {
            command: argv.join(" "),
            message: out.stderr.trim().to_string(),
        })
    }
}

/// The real host.
pub struct SystemCommands;

const SBIN: [&str; 2] = ["/usr/sbin", "/sbin"];

impl SystemCommands {
    fn locate(program: &str) -> Option<std::path::PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(SBIN.iter().map(Into::into))
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    }
}

impl Commands for SystemCommands {
    fn run(&self, argv: &[&str], stdin: Option<&str>) -> Result<CommandOutput, CleanupError> {
        let spawn_error = |source| CleanupError::Spawn {
            command: argv.join(" "),
            source,
        };
        let program = Self::locate(argv[0]).unwrap_or_else(|| argv[0].into());
        let mut child = Command::new(program)
            .args(&argv[1..])
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        let input = child.stdin.take();
        // Feed stdin from another thread so a large input cannot deadlock
        // against the command filling its output pipes.
        let output = std::thread::scope(|s| {
            if let (Some(mut pipe), Some(text)) = (input, stdin) {
                s.spawn(move || {
                    let _ = pipe.write_all(text.as_bytes());
                });
            }
            child.wait_with_output()
        })
        .map_err(spawn_error)?;
        Ok(CommandOutput {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    fn installed(&self, program: &str) -> bool {
        Self::locate(program).is_some()
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
}
