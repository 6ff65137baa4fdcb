//! One peer, pure: its session, the routes exported to it (Adj-RIB-Out,
//! sent as a diff) and those received from it (Adj-RIB-In: every received
//! route, and which of them the import policy accepts, counted against the
//! peer's `max_prefixes`). Wraps the FSM: its actions pass through, and the
//! UPDATEs the routes need are added after them.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use super::attrs::{LargeCommunity, Origin, PathAttrs};
use super::config::PeerSpec;
use super::fsm::{Action, DownReason, Event, Session, SessionConfig, SessionUp, State};
use super::import;
use super::loc_rib::Path;
use super::open::Negotiated;
use super::pack::{self, PackContext};
use super::rib::{AdjRibOut, RibDiff, Table};
use super::update_decode::CheckedUpdate;
use super::{OriginatedRoute, RouteAttrs};
use crate::model::Family;

/// LOCAL_PREF on iBGP routes whose attributes give none.
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// The routes this node originates.
pub type LocalRib = BTreeMap<OriginatedRoute, RouteAttrs>;

/// The local RIB as peers see it.
#[derive(Clone, Debug, Default)]
pub struct LocalRoutes {
    pub routes: Arc<LocalRib>,
    /// Set once the owner has said what to announce; until then a new
    /// session gets no table and no End-of-RIB.
    pub complete: bool,
}

/// Input to a peer.
#[derive(Clone, Debug)]
pub enum Input {
    Session(Event),
    Routes(LocalRoutes),
}

/// A peer's state, for `kroute bgp peers`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PeerStatus {
    pub spec: PeerSpec,
    pub state: State,
    /// Time Established.
    pub uptime: Option<Duration>,
    pub negotiated: Option<Negotiated>,
    pub last_down: Option<DownReason>,
    pub routes_sent: usize,
    pub routes_received: usize,
    /// Of those, the ones the import policy accepts.
    pub routes_accepted: usize,
    pub updates_sent: u64,
    pub updates_received: u64,
    /// Families whose End-of-RIB the peer has sent.
    pub end_of_rib_received: Vec<Family>,
}

/// A peer's routes, for `kroute bgp routes --peer`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PeerRoutes {
    pub advertised: Vec<(IpNet, PathAttrs)>,
    pub received: Vec<(IpNet, PathAttrs)>,
}

/// One peer.
#[derive(Debug)]
pub struct Peer {
    spec: PeerSpec,
    session: Session,
    up: Option<SessionUp>,
    established_at: Option<Instant>,
    /// The initial table went out (it waits for a complete local RIB).
    table_sent: bool,
    local: LocalRoutes,
    rib_out: AdjRibOut,
    rib_in: Table,
    /// The prefixes of `rib_in` that `import::check` accepts.
    accepted: usize,
    updates_sent: u64,
    updates_received: u64,
    end_of_rib_received: Vec<Family>,
}

impl Peer {
    pub fn new(spec: PeerSpec, config: SessionConfig, local: LocalRoutes) -> Self {
        Peer {
            spec,
            session: Session::new(config),
            up: None,
            established_at: None,
            table_sent: false,
            local,
            rib_out: AdjRibOut::default(),
            rib_in: Table::new(),
            accepted: 0,
            updates_sent: 0,
            updates_received: 0,
            end_of_rib_received: Vec::new(),
        }
    }

    pub fn spec(&self) -> &PeerSpec {
        &self.spec
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// A new spec: the session is reconfigured (reset if its parameters
    /// changed).
    pub fn reconfigure(
        &mut self,
        spec: PeerSpec,
        config: SessionConfig,
        now: Instant,
    ) -> Vec<Action> {
        self.spec = spec;
        self.accepted = (self.rib_in.keys()).filter(|p| self.accepts(p)).count();
        self.handle(Input::Session(Event::ConfigChanged(config)), now)
    }

    pub fn handle(&mut self, input: Input, now: Instant) -> Vec<Action> {
        let actions = match input {
            Input::Session(event) => self.session.handle(event, now),
            Input::Routes(local) => {
                self.local = local;
                return self.export();
            }
        };
        let mut out = Vec::with_capacity(actions.len());
        let mut over_limit = None;
        for action in actions {
            let follow = match &action {
                Action::SessionUp(up) => {
                    self.up = Some((**up).clone());
                    self.established_at = Some(now);
                    self.table_sent = false;
                    true
                }
                Action::SessionDown(_) => {
                    self.up = None;
                    self.established_at = None;
                    self.rib_out.clear();
                    self.rib_in.clear();
                    self.accepted = 0;
                    self.end_of_rib_received.clear();
                    false
                }
                Action::Update(update) => {
                    self.received(update);
                    over_limit = over_limit.or(self.over_limit(update));
                    false
                }
                Action::RouteRefresh(family) => {
                    let diff = self.rib_out.resend(*family);
                    out.push(action.clone());
                    out.extend(self.send(&diff));
                    continue;
                }
                _ => false,
            };
            out.push(action);
            if follow {
                out.extend(self.export());
            }
        }
        out.extend(self.check_limit(over_limit, now));
        out
    }

    /// Whether the import policy takes `prefix` from this peer.
    fn accepts(&self, prefix: &IpNet) -> bool {
        let ibgp = self.session.config().ibgp();
        import::check(prefix, &self.spec.accept_prefixes, ibgp).is_ok()
    }

    /// The family to name in a prefix-limit Cease when the accepted routes
    /// now exceed `max_prefixes` (0: no limit) after `update`.
    fn over_limit(&self, update: &CheckedUpdate) -> Option<Family> {
        let limit = self.spec.max_prefixes;
        if limit == 0 || self.accepted <= limit as usize {
            return None;
        }
        let last = update.announced.iter().flat_map(|(_, p)| p).next_back();
        Some(last.map_or(Family::Ip, |p| Family::of(&p.addr())))
    }

    /// Closes the session with Cease / Maximum Number of Prefixes Reached
    /// when `over` says so, or (`None`) when the accepted count is over the
    /// limit anyway (a lowered `max_prefixes`, a wider `accept_prefixes`).
    fn check_limit(&mut self, over: Option<Family>, now: Instant) -> Vec<Action> {
        let limit = self.spec.max_prefixes;
        let over = over.or_else(|| {
            (limit > 0 && self.accepted > limit as usize && self.up.is_some()).then_some(Family::Ip)
        });
        let Some(family) = over else {
            return Vec::new();
        };
        tracing::warn!(
            peer = %self.spec.address,
            accepted = self.accepted,
            max_prefixes = limit,
            "BGP peer sent more accepted prefixes than its maxPrefixes: session closed (Cease, Maximum Number of Prefixes Reached), retried after the connect-retry time"
        );
        self.handle(
            Input::Session(Event::PrefixLimitExceeded { family, limit }),
            now,
        )
    }

    /// The received routes the import policy accepts, as paths for the
    /// best-path selection (`loc_rib`).
    pub fn accepted_paths(&self) -> BTreeMap<IpNet, Path> {
        let ibgp = self.session.config().ibgp();
        (self.rib_in.iter())
            .filter(|(p, _)| self.accepts(p))
            .map(|(p, attrs)| {
                let path = Path {
                    attrs: Arc::clone(attrs),
                    ibgp,
                };
                (*p, path)
            })
            .collect()
    }

    fn received(&mut self, update: &CheckedUpdate) {
        self.updates_received += 1;
        for prefix in &update.withdrawn {
            if self.rib_in.remove(prefix).is_some() && self.accepts(prefix) {
                self.accepted -= 1;
            }
        }
        for (attrs, prefixes) in &update.announced {
            let attrs = Arc::new(attrs.clone());
            for prefix in prefixes {
                if self.rib_in.insert(*prefix, Arc::clone(&attrs)).is_none() && self.accepts(prefix)
                {
                    self.accepted += 1;
                }
            }
        }
        if let Some(family) = update.end_of_rib
            && !self.end_of_rib_received.contains(&family)
        {
            self.end_of_rib_received.push(family);
        }
    }

    /// The UPDATEs that bring the peer to the local RIB; the first time in
    /// a session, the End-of-RIB markers after them.
    fn export(&mut self) -> Vec<Action> {
        let Some(up) = &self.up else {
            return Vec::new();
        };
        if !self.local.complete {
            return Vec::new();
        }
        let desired = export_table(
            &self.local.routes,
            self.spec.address,
            up,
            self.session.config(),
        );
        let families = up.negotiated.families.clone();
        let diff = self.rib_out.sync(&desired);
        let mut out = self.send(&diff);
        if !self.table_sent {
            self.table_sent = true;
            for family in families {
                match pack::end_of_rib(family) {
                    Ok(message) => out.push(self.sent(message)),
                    Err(e) => {
                        tracing::warn!(peer = %self.spec.address, error = %e, "End-of-RIB not sent")
                    }
                }
            }
        }
        out
    }

    fn sent(&mut self, message: netgauze_bgp_pkt::BgpMessage) -> Action {
        self.updates_sent += 1;
        Action::Send {
            conn: self.up.as_ref().map_or(0, |u| u.conn),
            message,
        }
    }

    fn send(&mut self, diff: &RibDiff) -> Vec<Action> {
        let Some(up) = &self.up else {
            return Vec::new();
        };
        if diff.is_empty() {
            return Vec::new();
        }
        let ctx = PackContext {
            max_len: up.negotiated.max_len(),
            asn4: up.negotiated.asn4,
        };
        match pack::pack(diff, &ctx) {
            Ok(messages) => messages.into_iter().map(|m| self.sent(m)).collect(),
            Err(e) => {
                tracing::warn!(peer = %self.spec.address, error = %e, "routes not sent");
                Vec::new()
            }
        }
    }

    pub fn status(&self, now: Instant) -> PeerStatus {
        PeerStatus {
            spec: self.spec.clone(),
            state: self.session.state(),
            uptime: self
                .established_at
                .map(|t| now.saturating_duration_since(t)),
            negotiated: self.session.negotiated().cloned(),
            last_down: self.session.last_down(),
            routes_sent: self.rib_out.sent().len(),
            routes_received: self.rib_in.len(),
            routes_accepted: self.accepted,
            updates_sent: self.updates_sent,
            updates_received: self.updates_received,
            end_of_rib_received: self.end_of_rib_received.clone(),
        }
    }

    pub fn routes(&self) -> PeerRoutes {
        let list = |t: &Table| t.iter().map(|(p, a)| (*p, (**a).clone())).collect();
        PeerRoutes {
            advertised: list(self.rib_out.sent()),
            received: list(&self.rib_in),
        }
    }
}

/// The table a peer should hold: the local routes meant for it, in a family
/// the session carries, with a next hop of the prefix's family (the
/// route's own, else our address on the session). eBGP: our AS in the path;
/// iBGP: an empty path and LOCAL_PREF. Equal attributes are shared.
pub fn export_table(
    local: &LocalRib,
    peer: IpAddr,
    up: &SessionUp,
    config: &SessionConfig,
) -> Table {
    let ibgp = config.ibgp();
    let mut shared: HashMap<PathAttrs, Arc<PathAttrs>> = HashMap::new();
    let mut out = Table::new();
    for (route, attrs) in local {
        if (!attrs.only_peers.is_empty() && !attrs.only_peers.contains(&peer))
            || attrs.except_peers.contains(&peer)
        {
            continue;
        }
        let family = match route.prefix {
            IpNet::V4(_) => Family::Ip,
            IpNet::V6(_) => Family::Ip6,
        };
        if !up.negotiated.families.contains(&family) {
            continue;
        }
        let same_family = |a: &IpAddr| Family::of(a) == family;
        let Some(next_hop) = attrs
            .next_hop
            .filter(same_family)
            .or(Some(up.local).filter(same_family))
        else {
            continue;
        };
        let path = PathAttrs {
            origin: Origin::Igp,
            // eBGP: our ASN first, then the prepend; iBGP: the prepend only.
            as_path: (!ibgp)
                .then_some(config.local.asn)
                .into_iter()
                .chain(attrs.prepend.iter().copied())
                .collect(),
            next_hop,
            med: None,
            local_pref: ibgp.then(|| attrs.local_pref.unwrap_or(DEFAULT_LOCAL_PREF)),
            communities: attrs.communities.clone(),
            large_communities: (attrs.large_communities.iter())
                .map(|[g, a, b]| LargeCommunity(*g, *a, *b))
                .collect(),
        };
        let path = shared
            .entry(path)
            .or_insert_with_key(|p| Arc::new(p.clone()))
            .clone();
        out.insert(route.prefix, path);
    }
    out
}

#[cfg(test)]
#[path = "peer_tests.rs"]
mod tests;
