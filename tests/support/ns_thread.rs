//! Running Rust code inside a network namespace: a fresh thread `setns`es
//! into it (only that thread moves; the test's own threads stay where they are).

use std::fs::File;
use std::thread::JoinHandle;

use nix::sched::{CloneFlags, setns};

/// Moves the calling thread into the network namespace at `ns_path`
/// (`/run/netns/NAME`).
pub fn enter(ns_path: &str) {
    let file = File::open(ns_path).unwrap_or_else(|e| panic!("open {ns_path}: {e}"));
    setns(&file, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns {ns_path}: {e}"));
}

/// Spawns a named thread that runs `f` inside the namespace at `ns_path`.
pub fn spawn<T, F>(ns_path: &str, thread_name: &str, f: F) -> JoinHandle<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let ns_path = ns_path.to_string();
    std::thread::Builder::new()
        .name(thread_name.to_string())
        .spawn(move || {
            enter(&ns_path);
            f()
        })
        .expect("spawn namespace thread")
}

/// Runs `f` inside the namespace at `ns_path` and returns its result;
/// a panic inside `f` is re-raised in the caller.
pub fn run<T, F>(ns_path: &str, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    match spawn(ns_path, "in-netns", f).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
