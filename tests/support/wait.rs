//! Polling until a condition holds. The bound is a failure bound only: tests
//! never assert how fast something happened, only that it did eventually.

use std::time::{Duration, Instant};

/// How long any wait may take before the test fails.
pub const FAILURE_BOUND: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);

/// Polls `probe` until it returns `Some`, for at most `bound` (`None` then).
pub fn wait_for<T>(bound: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// Polls `cond` until it is true; panics naming `what` after [`FAILURE_BOUND`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    if wait_for(FAILURE_BOUND, || cond().then_some(())).is_none() {
        panic!("timed out after {FAILURE_BOUND:?} waiting until {what}");
    }
}
