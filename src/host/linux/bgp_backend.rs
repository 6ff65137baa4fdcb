//! `BgpBackend`: the host side of the three BGP facets, kroute's own
//! speaker (`crate::bgp`) running as tasks of the runtime it was given.
//!
//! Its snapshot is what the running speaker holds: its settings, its
//! peers' specs and its local RIB. `apply` takes the facets' plans in
//! order: the speaker (create: start it and its listeners; update: restart
//! it, carrying over its peers and local RIB so the other two plans,
//! computed against the old speaker, still apply; delete: withdraw, close
//! every session, stop), then peers one by one, then routes by difference
//! (one withdraw, one originate). It runs on the loop's blocking thread:
//! every speaker call waits with `Reply::blocking`, starting and stopping
//! with `Handle::block_on`.
//!
//! Graceful restart (the speaker's settings have a restart time): a
//! speaker started after a graceful stop (of the process, or of the old
//! speaker when its settings change) holds its table back, and peers keep
//! our stale routes meanwhile. The table and End-of-RIB go out once the
//! local RIB is everything the cluster view wants: after the first full
//! sync from a synced view ([`BgpBackend::synced_view_applied`]), and from
//! then on at the end of the apply that restarted the speaker.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::bgp::config::DEFAULT_CONNECT_RETRY;
use crate::bgp::open::GracefulRestart;
use crate::bgp::{Reply, Speaker, SpeakerConfig, SpeakerError, SpeakerHandle, SpeakerSlot};
use crate::host::bgp::{BgpPeerKey, BgpSpeakerKey, BgpSpeakerSettings};
use crate::host::{FacetPlan, HostError, HostPlan, HostSnapshot};

/// The speaker, when running, and how the next one starts.
#[derive(Debug)]
pub struct BgpBackend {
    runtime: Handle,
    slot: SpeakerSlot,
    /// The next start follows a graceful stop (see `bgp::restart_marker`).
    restarting: bool,
    /// A full sync from a synced view has been applied: from then on, the
    /// local RIB after an apply is everything the view wants.
    view_synced: bool,
    connect_retry: Duration,
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    settings: BgpSpeakerSettings,
    speaker: Speaker,
    /// Started as a graceful restart: peers get no table (nor End-of-RIB)
    /// until the local RIB is complete.
    awaiting_table: bool,
}

/// A speaker's peers and local RIB, carried over a restart.
type Carried = (Vec<crate::bgp::PeerSpec>, Arc<crate::bgp::LocalRib>);

impl BgpBackend {
    /// No speaker yet; the first plan's `bgp-speaker` create starts it on
    /// `runtime`. `slot` is set at every start and cleared at every stop.
    pub fn new(runtime: Handle, slot: SpeakerSlot) -> BgpBackend {
        BgpBackend {
            runtime,
            slot,
            restarting: false,
            view_synced: false,
            connect_retry: DEFAULT_CONNECT_RETRY,
            running: None,
        }
    }

    /// The first start follows a graceful stop (when the speaker's settings
    /// have graceful restart): Restart State bit, and no table until the
    /// first full sync from a synced view has been applied.
    pub fn after_graceful_stop(mut self, restarting: bool) -> BgpBackend {
        self.restarting = restarting;
        self
    }

    /// The connect-retry back-off's cap (tests shorten it).
    pub fn with_connect_retry(mut self, cap: Duration) -> BgpBackend {
        self.connect_retry = cap;
        self
    }

    /// Where the running speaker's handle is published.
    pub fn slot(&self) -> &SpeakerSlot {
        &self.slot
    }

    /// The running speaker's handle.
    pub fn handle(&self) -> Option<SpeakerHandle> {
        self.running.as_ref().map(|r| r.speaker.handle())
    }

    /// The running speaker's bound listen addresses (port 0 resolved).
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.running
            .as_ref()
            .map(|r| r.speaker.listen_addrs().to_vec())
            .unwrap_or_default()
    }

    /// Hands over the running speaker (clearing the slot), so the caller
    /// can stop it, gracefully or not, from async code at exit.
    pub fn take_speaker(&mut self) -> Option<Speaker> {
        let running = self.running.take()?;
        self.slot.set(None);
        Some(running.speaker)
    }

    /// Replaces the three BGP parts of `snap` with what the speaker holds
    /// (all empty when none runs). A speaker that has died is forgotten, so
    /// the plan starts a new one.
    pub fn snapshot_into(&mut self, snap: &mut HostSnapshot) -> Result<(), HostError> {
        snap.bgp_speaker.clear();
        snap.bgp_peers.clear();
        snap.bgp.clear();
        let Some(running) = &self.running else {
            return Ok(());
        };
        let handle = running.speaker.handle();
        let (peers, routes) = (handle.peers(), handle.local_routes());
        let (peers, routes) = match (peers.blocking(), routes.blocking()) {
            (Ok(peers), Ok(routes)) => (peers, routes),
            _ => {
                tracing::warn!("the BGP speaker has stopped on its own; starting it again");
                self.forget();
                return Ok(());
            }
        };
        snap.bgp_speaker
            .insert(BgpSpeakerKey, running.settings.clone());
        snap.bgp_peers = peers
            .into_iter()
            .map(|p| (BgpPeerKey(p.spec.address), p.spec))
            .collect();
        snap.bgp = Arc::unwrap_or_clone(routes);
        Ok(())
    }

    /// Applies the plan's three BGP parts and keeps `mirror`'s in step.
    /// `Ok` with errors: those artifacts were refused (a speaker that cannot
    /// listen: the error names the address; its peers and routes wait for
    /// the full sync that follows). `Err`: the speaker failed as a whole.
    pub fn apply(
        &mut self,
        plan: &HostPlan,
        mirror: &mut HostSnapshot,
    ) -> Result<Vec<HostError>, HostError> {
        let outcome = self.apply_parts(plan);
        match &outcome {
            Ok(refused) if refused.is_empty() => {
                plan.bgp_speaker.apply_to(&mut mirror.bgp_speaker);
                plan.bgp_peers.apply_to(&mut mirror.bgp_peers);
                plan.bgp.apply_to(&mut mirror.bgp);
            }
            _ => {
                if self.snapshot_into(mirror).is_err() {
                    mirror.bgp_speaker.clear();
                    mirror.bgp_peers.clear();
                    mirror.bgp.clear();
                }
            }
        }
        outcome
    }

    fn apply_parts(&mut self, plan: &HostPlan) -> Result<Vec<HostError>, HostError> {
        match self.apply_speaker(plan) {
            Ok(()) => {}
            Err(e @ SpeakerError::Listen { .. }) => {
                tracing::error!(error = %e, "BGP speaker not started; retried at the next full sync");
                return Ok(vec![host_error(e)]);
            }
            Err(e) => return Err(host_error(e)),
        }
        let Some(running) = &mut self.running else {
            // Deleted (or never started): its peers and routes went with it.
            if changes(&plan.bgp_peers) || changes(&plan.bgp) {
                return Err(HostError::InvalidPlan {
                    message: "BGP peers or routes planned without a BGP speaker".into(),
                });
            }
            return Ok(Vec::new());
        };
        let handle = running.speaker.handle();
        apply_peers(&handle, plan).map_err(host_error)?;
        let routes = &plan.bgp;
        let mut replies = Vec::new();
        if !routes.deletes.is_empty() {
            replies.push(handle.withdraw(routes.deletes.iter().cloned().collect()));
        }
        if changes(routes) {
            let batch = (routes.creates.iter().chain(&routes.updates))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            replies.push(handle.originate(batch));
        }
        wait_all(replies).map_err(host_error)?;
        // A speaker restarted for new settings, once the view is known
        // whole: its table is complete with this apply.
        if self.view_synced {
            release(running).map_err(host_error)?;
        }
        Ok(Vec::new())
    }

    /// A full sync from a synced view has been applied (or needed no
    /// change): the local RIB is everything the view wants, so a speaker
    /// that restarted gracefully sends its table and End-of-RIB now. Until
    /// then peers keep our stale routes, however partial the view (a
    /// manifest file not parsed yet, a watch not listed yet) was.
    pub fn synced_view_applied(&mut self) {
        self.view_synced = true;
        if let Some(running) = &mut self.running
            && let Err(e) = release(running)
        {
            tracing::warn!(error = %e, "BGP graceful restart: the table could not be released");
        }
    }

    /// The speaker's part: start, restart (carrying its peers and routes
    /// over; gracefully when both the old and the new settings have
    /// graceful restart) or stop.
    fn apply_speaker(&mut self, plan: &HostPlan) -> Result<(), SpeakerError> {
        let part = &plan.bgp_speaker;
        if part.deletes.contains(&BgpSpeakerKey) {
            self.stop(false);
        }
        let Some(settings) = part
            .creates
            .get(&BgpSpeakerKey)
            .or_else(|| part.updates.get(&BgpSpeakerKey))
        else {
            return Ok(());
        };
        if self
            .running
            .as_ref()
            .is_some_and(|r| r.settings == *settings)
        {
            return Ok(());
        }
        let carried = self.running.as_ref().map(|r| carry(&r.speaker.handle()));
        let graceful = settings.graceful_restart_time.is_some()
            && (self.running.as_ref()).is_some_and(|r| r.settings.graceful_restart_time.is_some());
        if self.stop(graceful) {
            // Peers keep our routes while the new speaker comes up.
            self.restarting = true;
        }
        self.start(settings.clone())?;
        match carried {
            None => Ok(()),
            Some(Ok((peers, routes))) => {
                let handle = self.handle().ok_or(SpeakerError::Stopped)?;
                let mut replies: Vec<_> = peers.into_iter().map(|p| handle.set_peer(p)).collect();
                replies.push(handle.set_routes(Arc::unwrap_or_clone(routes)));
                wait_all(replies)
            }
            // The old speaker was gone: the full sync that follows re-plans
            // the new one's peers and routes.
            Some(Err(e)) => Err(e),
        }
    }

    fn start(&mut self, settings: BgpSpeakerSettings) -> Result<(), SpeakerError> {
        let restarting = self.restarting && settings.graceful_restart_time.is_some();
        let config = SpeakerConfig {
            asn: settings.asn,
            router_id: settings.router_id,
            listen: settings.listen.clone(),
            graceful_restart: settings
                .graceful_restart_time
                .map(|restart_time| GracefulRestart {
                    restart_time,
                    restarting,
                }),
            connect_retry: self.connect_retry,
            wait_for_routes: restarting,
        };
        let speaker = self.runtime.block_on(Speaker::start(config))?;
        tracing::info!(asn = settings.asn, router_id = %settings.router_id, listen = ?speaker.listen_addrs(), graceful_restart = restarting, "BGP speaker started");
        self.restarting = false;
        self.slot.set(Some(speaker.handle()));
        self.running = Some(Running {
            settings,
            speaker,
            awaiting_table: restarting,
        });
        Ok(())
    }

    /// Stops the speaker: `graceful`, closing every session without
    /// NOTIFICATION (peers keep our routes for the restart time); else
    /// withdrawing our routes and closing with Cease / Administrative
    /// Shutdown. True when it stopped gracefully.
    fn stop(&mut self, graceful: bool) -> bool {
        let Some(speaker) = self.take_speaker() else {
            return false;
        };
        // A speaker that is already gone has nothing left to close.
        let stopped = self.runtime.block_on(speaker.shutdown(graceful)).is_ok();
        tracing::info!(graceful, "BGP speaker stopped");
        graceful && stopped
    }

    /// Drops a speaker that has stopped on its own.
    fn forget(&mut self) {
        self.running = None;
        self.slot.set(None);
    }
}

/// Whether a facet's plan creates or updates anything.
fn changes<K: Ord + Clone, V: Clone>(plan: &FacetPlan<K, V>) -> bool {
    !plan.creates.is_empty() || !plan.updates.is_empty()
}

/// Peers removed, then added or updated, one call each, waited together.
fn apply_peers(handle: &SpeakerHandle, plan: &HostPlan) -> Result<(), SpeakerError> {
    let peers = &plan.bgp_peers;
    let removed: Vec<Reply<bool>> = peers
        .deletes
        .iter()
        .map(|k| handle.remove_peer(k.0))
        .collect();
    let set: Vec<Reply<()>> = (peers.creates.values().chain(peers.updates.values()))
        .map(|spec| handle.set_peer(spec.clone()))
        .collect();
    for reply in removed {
        reply.blocking()?;
    }
    wait_all(set)
}

fn wait_all(replies: Vec<Reply<()>>) -> Result<(), SpeakerError> {
    replies.into_iter().try_for_each(Reply::blocking)
}

/// Sends a gracefully restarted speaker's table and End-of-RIB, once.
fn release(running: &mut Running) -> Result<(), SpeakerError> {
    if running.awaiting_table {
        running.speaker.handle().release_table().blocking()?;
        running.awaiting_table = false;
        tracing::info!("BGP graceful restart: table and End-of-RIB sent to peers");
    }
    Ok(())
}

/// A running speaker's peers and local RIB.
fn carry(handle: &SpeakerHandle) -> Result<Carried, SpeakerError> {
    let (peers, routes) = (handle.peers(), handle.local_routes());
    let peers = peers.blocking()?.into_iter().map(|p| p.spec).collect();
    Ok((peers, routes.blocking()?))
}

/// A speaker's error as the host reports it ("the BGP speaker: BGP:
/// cannot listen on ADDR: REASON").
fn host_error(e: SpeakerError) -> HostError {
    HostError::Bgp(e)
}

#[cfg(test)]
#[path = "bgp_backend_tests.rs"]
mod tests;
