//! A long-running process started inside a namespace (`ip netns exec`, which
//! execs in place, so the child's pid is the process itself). Its stdout and
//! stderr go to a temp file, printed when the test fails; killed by pid on drop.

use std::fs::File;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::netns::NetNs;
use super::wait::wait_for;

/// How long a process gets to exit after SIGTERM before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(5);

pub struct NsProcess {
    pub label: String,
    child: Child,
    log: tempfile::NamedTempFile,
    exit: Option<ExitStatus>,
}

impl NsProcess {
    /// Starts `argv` in `ns`.
    pub fn spawn(ns: &NetNs, label: &str, argv: &[&str]) -> NsProcess {
        NsProcess::spawn_in(&ns.name, label, argv)
    }

    /// Starts `argv` in the namespace named `ns` (for holders of a name only).
    pub fn spawn_in(ns: &str, label: &str, argv: &[&str]) -> NsProcess {
        let log = tempfile::Builder::new()
            .prefix(&format!("{label}-"))
            .suffix(".log")
            .tempfile()
            .expect("create log file");
        let out: File = log.reopen().expect("reopen log for stdout");
        let err: File = log.reopen().expect("reopen log for stderr");
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {argv:?} in {ns}: {e}"));
        NsProcess {
            label: label.to_string(),
            child,
            log,
            exit: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// The exit status if the process has ended (it is reaped then).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// SIGTERM, then SIGKILL after a grace period; returns the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        if let Some(status) = self.exited() {
            return status;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .stderr(Stdio::null())
            .status();
        if let Some(status) = wait_for(TERM_GRACE, || self.exited()) {
            return status;
        }
        let _ = self.child.kill();
        let status = self.child.wait().expect("wait for killed process");
        self.exit = Some(status);
        status
    }
}

impl Drop for NsProcess {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "----- {} (pid {}) output -----\n{}----- end of {} -----",
                self.label,
                self.pid(),
                self.log(),
                self.label
            );
        }
    }
}
