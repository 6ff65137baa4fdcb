//! When to sync: a pure schedule (no clock of its own) so it can be tested
//! with made-up instants. Changes are coalesced within `minSyncPeriod`; a full
//! sync runs every `syncPeriod` and after a failure, with backoff.

use std::time::{Duration, Instant};

/// What the loop should do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Sync now; `full` re-reads the host and plans everything.
    SyncNow { full: bool },
    /// Nothing to do before this instant (unless a change arrives).
    WaitUntil(Instant),
}

/// The sync schedule.
#[derive(Clone, Debug)]
pub struct SyncSchedule {
    sync_period: Duration,
    min_sync_period: Duration,
    last_sync: Option<Instant>,
    last_full: Option<Instant>,
    /// Changes arrived since the last sync.
    pending: bool,
    /// A full sync is owed (start, or the last sync failed).
    full_due: bool,
    consecutive_failures: u32,
}

impl SyncSchedule {
    pub fn new(sync_period: Duration, min_sync_period: Duration) -> SyncSchedule {
        SyncSchedule {
            sync_period,
            min_sync_period,
            last_sync: None,
            last_full: None,
            pending: false,
            full_due: true,
            consecutive_failures: 0,
        }
    }

    /// A source reported a change.
    pub fn changed(&mut self) {
        self.pending = true;
    }

    /// True when changes are waiting for a sync.
    pub fn has_pending(&self) -> bool {
        self.pending
    }

    /// Decides what to do at `now`.
    pub fn next(&self, now: Instant) -> Next {
        let earliest = match self.last_sync {
            Some(t) => t + self.retry_delay(),
            None => now,
        };
        let full_at = match self.last_full {
            Some(t) => t + self.sync_period,
            None => now,
        };
        if now >= earliest && (self.full_due || now >= full_at) {
            return Next::SyncNow { full: true };
        }
        if now >= earliest && self.pending {
            return Next::SyncNow { full: false };
        }
        // Owed work waits only for the coalescing window; otherwise sleep
        // until the periodic full sync.
        let wake = if self.pending || self.full_due {
            earliest
        } else {
            full_at.max(earliest)
        };
        Next::WaitUntil(wake)
    }

    /// Records a sync that ran at `now`.
    pub fn synced(&mut self, now: Instant, full: bool, ok: bool) {
        self.last_sync = Some(now);
        self.pending = false;
        if ok {
            self.consecutive_failures = 0;
            if full {
                self.last_full = Some(now);
                self.full_due = false;
            }
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.full_due = true;
        }
    }

    /// `minSyncPeriod`, doubled per consecutive failure up to `syncPeriod`.
    fn retry_delay(&self) -> Duration {
        let factor = 1u32 << self.consecutive_failures.min(16);
        (self.min_sync_period * factor).min(self.sync_period.max(self.min_sync_period))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD: Duration = Duration::from_secs(30);
    const MIN: Duration = Duration::from_millis(100);

    #[test]
    fn first_sync_is_full_and_immediate() {
        let s = SyncSchedule::new(PERIOD, MIN);
        let t0 = Instant::now();
        assert_eq!(s.next(t0), Next::SyncNow { full: true });
    }

    #[test]
    fn changes_within_min_sync_period_are_coalesced() {
        let mut s = SyncSchedule::new(PERIOD, MIN);
        let t0 = Instant::now();
        s.synced(t0, true, true);
        s.changed();
        s.changed();
        let t1 = t0 + Duration::from_millis(20);
        assert_eq!(s.next(t1), Next::WaitUntil(t0 + MIN));
        assert_eq!(s.next(t0 + MIN), Next::SyncNow { full: false });
    }

    #[test]
    fn idle_waits_for_the_periodic_full_sync() {
        let mut s = SyncSchedule::new(PERIOD, MIN);
        let t0 = Instant::now();
        s.synced(t0, true, true);
        assert_eq!(s.next(t0 + MIN), Next::WaitUntil(t0 + PERIOD));
        assert_eq!(s.next(t0 + PERIOD), Next::SyncNow { full: true });
    }

    #[test]
    fn a_failure_forces_a_full_sync_with_backoff() {
        let mut s = SyncSchedule::new(PERIOD, MIN);
        let t0 = Instant::now();
        s.synced(t0, true, true);
        s.changed();
        let t1 = t0 + MIN;
        assert_eq!(s.next(t1), Next::SyncNow { full: false });
        s.synced(t1, false, false);
        // Backoff: twice minSyncPeriod after one failure, then a full sync.
        assert_eq!(s.next(t1 + MIN), Next::WaitUntil(t1 + 2 * MIN));
        assert_eq!(s.next(t1 + 2 * MIN), Next::SyncNow { full: true });
    }

    #[test]
    fn backoff_is_capped_at_the_sync_period() {
        let mut s = SyncSchedule::new(PERIOD, MIN);
        let mut t = Instant::now();
        for _ in 0..40 {
            s.synced(t, true, false);
            t += Duration::from_millis(1);
        }
        match s.next(t) {
            Next::WaitUntil(w) => assert!(w <= t + PERIOD),
            other => panic!("expected a wait, got {other:?}"),
        }
    }
}
