//! How long a failed watch waits before it retries: exponential from 250 ms
//! up to 5 s, with jitter so a thousand nodes do not come back at once, and
//! reset after the first success. kube-rs' default climbs to 30 s, which
//! would leave a node's dataplane that long behind after an API server
//! restart.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use kube::runtime::utils::Backoff;

pub const FIRST: Duration = Duration::from_millis(250);
pub const MAX: Duration = Duration::from_secs(5);

/// The watchers' back-off.
#[derive(Clone, Debug)]
pub struct WatchBackoff {
    next: Duration,
}

impl Default for WatchBackoff {
    fn default() -> Self {
        WatchBackoff { next: FIRST }
    }
}

/// A factor in [0.5, 1.0) from the process' random hash keys.
fn jitter() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    0.5 + (h.finish() % 1000) as f64 / 2000.0
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let wait = self.next.mul_f64(jitter());
        self.next = (self.next * 2).min(MAX);
        Some(wait)
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter_and_resets() {
        let mut b = WatchBackoff::default();
        let waits: Vec<Duration> = (&mut b).take(8).collect();
        assert!(waits[0] >= FIRST / 2 && waits[0] < FIRST, "{waits:?}");
        assert!(waits.iter().all(|w| *w < MAX), "{waits:?}");
        assert!(waits[7] >= MAX / 2, "capped at 5 s: {waits:?}");
        b.reset();
        assert!(b.next().unwrap() < FIRST);
    }
}
