//! `SpeakerSlot`: where the running speaker's handle is, for readers other
//! than the facet's backend (the admin socket's `kroute bgp`, metrics).
//! The backend sets it at every (re)start and clears it at stop; readers
//! take the current handle at each call, so a restart is seen at once.

use tokio::sync::watch;

use super::SpeakerHandle;

/// A cheap-to-clone holder of the running speaker's handle (`None`: BGP is
/// disabled, not started yet, or stopped).
#[derive(Clone, Debug)]
pub struct SpeakerSlot {
    tx: watch::Sender<Option<SpeakerHandle>>,
}

impl SpeakerSlot {
    /// An empty slot.
    pub fn new() -> Self {
        SpeakerSlot {
            tx: watch::Sender::new(None),
        }
    }

    /// Sets (a start or restart) or clears (a stop) the handle.
    pub fn set(&self, handle: Option<SpeakerHandle>) {
        self.tx.send_replace(handle);
    }

    /// The running speaker's handle, if any.
    pub fn current(&self) -> Option<SpeakerHandle> {
        self.tx.borrow().clone()
    }

    /// Waits for changes of the handle (e.g. to follow restarts).
    pub fn subscribe(&self) -> watch::Receiver<Option<SpeakerHandle>> {
        self.tx.subscribe()
    }
}

impl Default for SpeakerSlot {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
#[path = "slot_tests.rs"]
mod tests;
