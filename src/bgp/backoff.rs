//! Connect-retry back-off: the first retry comes quickly (a peer that starts
//! a moment after us is reached well under a second later), each next one
//! waits twice as long, up to the ConnectRetryTime.

use std::time::Duration;

/// First retry delay.
pub const FIRST_RETRY: Duration = Duration::from_millis(50);

/// Doubling delays from `FIRST_RETRY` to a cap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    cap: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(cap: Duration) -> Self {
        Backoff {
            cap,
            next: FIRST_RETRY.min(cap),
        }
    }

    /// The delay before the next attempt; the one after doubles.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.cap);
        delay
    }

    /// After a session came up: start small again.
    pub fn reset(&mut self) {
        self.next = FIRST_RETRY.min(self.cap);
    }

    /// The cap (the ConnectRetryTime), also the connect attempt's timeout.
    pub fn cap(&self) -> Duration {
        self.cap
    }
}
