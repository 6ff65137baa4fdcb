//! The JSON documents of `kroute bgp peers` and `kroute bgp routes`, as the
//! admin socket serves them (`GET /bgp/peers`, `GET /bgp/routes[?peer=IP]`)
//! and `--json` prints them. Keys are snake_case, values lowercase; the
//! schema is documented in docs/cli.md: keys keep their meaning, new keys
//! may appear.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::bgp::attrs::{LargeCommunity, Origin, PathAttrs};
use crate::bgp::fsm::{DownReason, State, StopReason};
use crate::bgp::{LocalRib, PeerRoutes, PeerStatus};
use crate::model::Family;

/// `GET /bgp/peers`: every configured peer, by address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeersDoc {
    pub peers: Vec<PeerDoc>,
}

/// One peer's session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerDoc {
    pub address: IpAddr,
    pub port: u16,
    /// The configured peer ASN.
    pub asn: u32,
    pub passive: bool,
    /// `idle`, `connect`, `active`, `opensent`, `openconfirm`, `established`.
    pub state: String,
    /// Seconds since the session was established; `null` when it is not.
    pub uptime_seconds: Option<u64>,
    /// Routes in the Adj-RIB-Out (held by the peer now).
    pub routes_sent: usize,
    /// Routes the peer sent us and has not withdrawn.
    pub routes_received: usize,
    /// Of those, the ones the import policy accepts (counted against the
    /// peer's `maxPrefixes`).
    pub routes_accepted: usize,
    /// UPDATE messages (End-of-RIB markers included) since the peer was added.
    pub updates_sent: u64,
    pub updates_received: u64,
    /// Why the session last went down; `null` if it never did.
    pub last_down: Option<DownDoc>,
    /// What both OPENs agreed; `null` before the first OPEN exchange.
    pub negotiated: Option<NegotiatedDoc>,
    /// Families whose End-of-RIB the peer has sent (`ipv4-unicast`, `ipv6-unicast`).
    pub end_of_rib_received: Vec<String>,
}

/// Why a session went down.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownDoc {
    /// `stopped`, `graceful-close`, `hold-timer-expired`,
    /// `notification-sent`, `notification-received`, `connection-closed`.
    pub reason: String,
    /// For `stopped`: `admin-shutdown`, `peer-deconfigured`, `admin-reset`,
    /// `config-change`; else `null`.
    pub stop: Option<String>,
    /// NOTIFICATION error code and subcode (for the two notification reasons).
    pub code: Option<u8>,
    pub subcode: Option<u8>,
    /// A human sentence (`notification received: cease / administrative shutdown (6/2)`).
    pub text: String,
}

/// The negotiated session parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NegotiatedDoc {
    pub peer_asn: u32,
    pub peer_router_id: std::net::Ipv4Addr,
    pub hold_time_seconds: u16,
    pub keepalive_seconds: u16,
    pub four_octet_asn: bool,
    pub families: Vec<String>,
    pub route_refresh: bool,
    pub extended_messages: bool,
    /// The peer's graceful restart time in seconds, when it offered it.
    pub peer_graceful_restart_seconds: Option<u16>,
}

/// `GET /bgp/routes`: the local RIB, the routes this node originates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RibDoc {
    pub routes: Vec<LocalRouteDoc>,
}

/// One originated route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalRouteDoc {
    pub prefix: IpNet,
    /// `null`: our address on each session.
    pub next_hop: Option<IpAddr>,
    /// `ASN:VALUE`.
    pub communities: Vec<String>,
    /// Sent to iBGP peers (`null`: 100).
    pub local_pref: Option<u32>,
    /// ASNs prepended to the AS path.
    pub prepend: Vec<u32>,
    /// The configured peers the route is meant for (all of them unless the
    /// route is restricted to some).
    pub peers: Vec<IpAddr>,
}

/// `GET /bgp/routes?peer=IP`: what one peer was sent and what it sent us.
/// `advertised` is left out with `--received`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRoutesDoc {
    pub peer: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertised: Option<Vec<PathDoc>>,
    pub received: Vec<PathDoc>,
}

/// A route with its attributes as sent or received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathDoc {
    pub prefix: IpNet,
    pub next_hop: IpAddr,
    /// Nearest AS first.
    pub as_path: Vec<u32>,
    /// `igp`, `egp`, `incomplete`.
    pub origin: String,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    /// `ASN:VALUE`.
    pub communities: Vec<String>,
    /// `GLOBAL:DATA1:DATA2`.
    pub large_communities: Vec<String>,
}

/// The error body of the BGP requests (status 503: `bgp-disabled`,
/// `bgp-not-running`; 404: `unknown-peer`; 400: `bad-request`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpErrorDoc {
    pub error: String,
    pub message: String,
}

/// A session state's name (gobgp's spelling).
pub fn state_name(state: State) -> &'static str {
    match state {
        State::Idle => "idle",
        State::Connect => "connect",
        State::Active => "active",
        State::OpenSent => "opensent",
        State::OpenConfirm => "openconfirm",
        State::Established => "established",
    }
}

/// The AFI/SAFI name of a family.
pub fn family_name(family: Family) -> &'static str {
    match family {
        Family::Ip => "ipv4-unicast",
        Family::Ip6 => "ipv6-unicast",
    }
}

fn stop_name(reason: StopReason) -> &'static str {
    match reason {
        StopReason::AdminShutdown => "admin-shutdown",
        StopReason::PeerDeconfigured => "peer-deconfigured",
        StopReason::AdminReset => "admin-reset",
        StopReason::ConfigChange => "config-change",
    }
}

/// RFC 4271 4.5 error codes, and RFC 4486 Cease subcodes.
fn notification_text(code: u8, subcode: u8) -> String {
    let name = match code {
        1 => "message header error",
        2 => "OPEN message error",
        3 => "UPDATE message error",
        4 => "hold timer expired",
        5 => "finite state machine error",
        6 => "cease",
        _ => "unknown error",
    };
    let sub = match (code, subcode) {
        (6, 1) => Some("maximum number of prefixes reached"),
        (6, 2) => Some("administrative shutdown"),
        (6, 3) => Some("peer de-configured"),
        (6, 4) => Some("administrative reset"),
        (6, 5) => Some("connection rejected"),
        (6, 6) => Some("other configuration change"),
        (6, 7) => Some("connection collision resolution"),
        (6, 8) => Some("out of resources"),
        _ => None,
    };
    match sub {
        Some(sub) => format!("{name} / {sub} ({code}/{subcode})"),
        None => format!("{name} ({code}/{subcode})"),
    }
}

impl From<DownReason> for DownDoc {
    fn from(down: DownReason) -> Self {
        let plain = |reason: &str, text: &str| DownDoc {
            reason: reason.to_string(),
            stop: None,
            code: None,
            subcode: None,
            text: text.to_string(),
        };
        let notification = |reason: &str, code: u8, subcode: u8| DownDoc {
            reason: reason.to_string(),
            stop: None,
            code: Some(code),
            subcode: Some(subcode),
            text: format!(
                "{}: {}",
                reason.replace('-', " "),
                notification_text(code, subcode)
            ),
        };
        match down {
            DownReason::Stopped(stop) => DownDoc {
                stop: Some(stop_name(stop).to_string()),
                text: format!("stopped: {}", stop_name(stop).replace('-', " ")),
                ..plain("stopped", "")
            },
            DownReason::Graceful => plain("graceful-close", "closed for graceful restart"),
            DownReason::HoldTimerExpired => plain("hold-timer-expired", "hold timer expired"),
            DownReason::NotificationSent(code, sub) => notification("notification-sent", code, sub),
            DownReason::NotificationReceived(code, sub) => {
                notification("notification-received", code, sub)
            }
            DownReason::ConnectionClosed => plain("connection-closed", "connection closed"),
        }
    }
}

impl From<&PeerStatus> for PeerDoc {
    fn from(p: &PeerStatus) -> Self {
        PeerDoc {
            address: p.spec.address,
            port: p.spec.port,
            asn: p.spec.asn,
            passive: p.spec.passive,
            state: state_name(p.state).to_string(),
            uptime_seconds: p
                .uptime
                .filter(|_| p.state == State::Established)
                .map(|d| d.as_secs()),
            routes_sent: p.routes_sent,
            routes_received: p.routes_received,
            routes_accepted: p.routes_accepted,
            updates_sent: p.updates_sent,
            updates_received: p.updates_received,
            last_down: p.last_down.map(DownDoc::from),
            negotiated: p.negotiated.as_ref().map(|n| NegotiatedDoc {
                peer_asn: n.peer_asn,
                peer_router_id: n.peer_id,
                hold_time_seconds: n.hold_time,
                keepalive_seconds: n.keepalive,
                four_octet_asn: n.asn4,
                families: n.families.iter().map(|f| family_name(*f).into()).collect(),
                route_refresh: n.route_refresh,
                extended_messages: n.extended_messages,
                peer_graceful_restart_seconds: n.peer_graceful_restart.map(|g| g.restart_time),
            }),
            end_of_rib_received: p
                .end_of_rib_received
                .iter()
                .map(|f| family_name(*f).into())
                .collect(),
        }
    }
}

impl PeersDoc {
    /// The peers in address order.
    pub fn new(peers: &[PeerStatus]) -> Self {
        let mut peers: Vec<PeerDoc> = peers.iter().map(PeerDoc::from).collect();
        peers.sort_by_key(|p| p.address);
        PeersDoc { peers }
    }
}

/// A standard community as `ASN:VALUE`.
pub fn community(c: u32) -> String {
    format!("{}:{}", c >> 16, c & 0xffff)
}

fn large_community(c: &LargeCommunity) -> String {
    format!("{}:{}:{}", c.0, c.1, c.2)
}

fn origin_name(origin: Origin) -> &'static str {
    match origin {
        Origin::Igp => "igp",
        Origin::Egp => "egp",
        Origin::Incomplete => "incomplete",
    }
}

impl RibDoc {
    /// The local RIB in prefix order; `peers` are the configured peers'
    /// addresses.
    pub fn new(rib: &LocalRib, peers: &[IpAddr]) -> Self {
        let mut peers = peers.to_vec();
        peers.sort();
        let routes = rib
            .iter()
            .map(|(route, attrs)| LocalRouteDoc {
                prefix: route.prefix,
                next_hop: attrs.next_hop,
                communities: attrs.communities.iter().map(|c| community(*c)).collect(),
                local_pref: attrs.local_pref,
                prepend: attrs.prepend.clone(),
                peers: peers
                    .iter()
                    .filter(|p| attrs.only_peers.is_empty() || attrs.only_peers.contains(p))
                    .filter(|p| !attrs.except_peers.contains(p))
                    .copied()
                    .collect(),
            })
            .collect();
        RibDoc { routes }
    }
}

fn paths(routes: &[(IpNet, PathAttrs)]) -> Vec<PathDoc> {
    let mut out: Vec<PathDoc> = routes
        .iter()
        .map(|(prefix, a)| PathDoc {
            prefix: *prefix,
            next_hop: a.next_hop,
            as_path: a.as_path.clone(),
            origin: origin_name(a.origin).to_string(),
            med: a.med,
            local_pref: a.local_pref,
            communities: a.communities.iter().map(|c| community(*c)).collect(),
            large_communities: a.large_communities.iter().map(large_community).collect(),
        })
        .collect();
    out.sort_by_key(|p| p.prefix);
    out
}

impl PeerRoutesDoc {
    /// `peer`'s Adj-RIB-Out (unless `received_only`) and the routes it sent.
    pub fn new(peer: IpAddr, routes: &PeerRoutes, received_only: bool) -> Self {
        PeerRoutesDoc {
            peer,
            advertised: (!received_only).then(|| paths(&routes.advertised)),
            received: paths(&routes.received),
        }
    }
}

#[cfg(test)]
#[path = "bgp_doc_tests.rs"]
mod tests;
