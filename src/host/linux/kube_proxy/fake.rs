//! A scripted host for the cleanup's unit tests: canned output per command
//! line, every call recorded.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::commands::{CommandOutput, Commands};
use crate::host::linux::cleanup::CleanupError;

#[derive(Default)]
pub struct FakeCommands {
    /// Command line (words joined by spaces) → what it prints; a command not
    /// listed succeeds with no output.
    pub outputs: BTreeMap<String, CommandOutput>,
    pub installed: BTreeSet<String>,
    pub paths: BTreeSet<String>,
    /// Every call: the command line and its stdin.
    pub calls: RefCell<Vec<(String, Option<String>)>>,
}

impl FakeCommands {
    pub fn with_tools(tools: &[&str]) -> FakeCommands {
        FakeCommands {
            installed: tools.iter().map(|t| t.to_string()).collect(),
            ..FakeCommands::default()
        }
    }

    pub fn prints(&mut self, command: &str, stdout: &str) {
        self.outputs.insert(
            command.to_string(),
            CommandOutput {
                success: true,
                stdout: stdout.to_string(),
                stderr: String::new(),
            },
        );
    }

    pub fn fails(&mut self, command: &str, stderr: &str) {
        self.outputs.insert(
            command.to_string(),
            CommandOutput {
                success: false,
                stdout: String::new(),
                stderr: stderr.to_string(),
            },
        );
    }

    /// The command lines run, in order.
    pub fn commands(&self) -> Vec<String> {
        self.calls.borrow().iter().map(|(c, _)| c.clone()).collect()
    }

    /// The stdin given to `command` (its last call).
    pub fn stdin_of(&self, command: &str) -> Option<String> {
        self.calls
            .borrow()
            .iter()
            .rev()
            .find(|(c, _)| c == command)
            .and_then(|(_, s)| s.clone())
    }
}

impl Commands for FakeCommands {
    fn run(&self, argv: &[&str], stdin: Option<&str>) -> Result<CommandOutput, CleanupError> {
        let line = argv.join(" ");
        self.calls
            .borrow_mut()
            .push((line.clone(), stdin.map(String::from)));
        Ok(self.outputs.get(&line).cloned().unwrap_or(CommandOutput {
            success: true,
            ..CommandOutput::default()
        }))
    }

    fn installed(&self, program: &str) -> bool {
        self.installed.contains(program)
    }

    fn exists(&self, path: &Path) -> bool {
        self.paths.contains(&path.to_string_lossy().into_owned())
    }
}
