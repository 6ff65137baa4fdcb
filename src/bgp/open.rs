//! OPEN: ours with its capabilities, and the peer's checked and negotiated
//! against it (RFC 4271 4.2 and 6.2; capabilities RFC 4760, 6793, 2918,
//! 4724, 8654).

use std::net::Ipv4Addr;

use netgauze_bgp_pkt::capabilities::{
    BgpCapability, FourOctetAsCapability, GracefulRestartAddressFamily, GracefulRestartCapability,
    MultiProtocolExtensionsCapability,
};
use netgauze_bgp_pkt::notification::OpenMessageError;
use netgauze_bgp_pkt::open::{BgpOpenMessage, BgpOpenMessageParameter};
use netgauze_iana::address_family::AddressType;

use super::attrs::AS_TRANS;
use super::codec::{MAX_EXTENDED_LEN, MAX_LEN};
use crate::model::Family;

/// Graceful restart restart time is a 12-bit field (RFC 4724 3).
pub const MAX_RESTART_TIME: u16 = 4095;

/// Graceful restart as this speaker offers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GracefulRestart {
    /// Seconds the peer keeps our routes after the session drops.
    pub restart_time: u16,
    /// This OPEN follows a restart: the Restart State bit, and forwarding
    /// state kept for both families (kroute leaves the dataplane in place).
    pub restarting: bool,
}

/// What our OPEN says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalOpen {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    /// Proposed hold time in seconds (0, or at least 3).
    pub hold_time: u16,
    pub graceful_restart: Option<GracefulRestart>,
}

/// The peer's graceful restart capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PeerGracefulRestart {
    pub restart_time: u16,
    /// The peer has just restarted (Restart State bit).
    pub restarting: bool,
}

/// A session's parameters once both OPENs are known.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Negotiated {
    pub peer_asn: u32,
    pub peer_id: Ipv4Addr,
    /// Seconds; 0: neither hold timer nor keepalives.
    pub hold_time: u16,
    /// Seconds between our KEEPALIVEs (0 with hold time 0).
    pub keepalive: u16,
    /// Both sides speak 4-octet ASNs.
    pub asn4: bool,
    /// Unicast families both sides enabled.
    pub families: Vec<Family>,
    pub route_refresh: bool,
    /// Both sides offered extended messages: UPDATEs up to 65535 octets.
    pub extended_messages: bool,
    pub peer_graceful_restart: Option<PeerGracefulRestart>,
}

impl Negotiated {
    /// Largest UPDATE either side may send.
    pub fn max_len(&self) -> usize {
        if self.extended_messages {
            MAX_EXTENDED_LEN
        } else {
            MAX_LEN
        }
    }
}

fn address_type(family: Family) -> AddressType {
    match family {
        Family::Ip => AddressType::Ipv4Unicast,
        Family::Ip6 => AddressType::Ipv6Unicast,
    }
}

/// Our OPEN.
pub fn build(local: &LocalOpen) -> BgpOpenMessage {
    let mut caps: Vec<BgpCapability> = Family::ALL
        .iter()
        .map(|f| {
            BgpCapability::MultiProtocolExtensions(MultiProtocolExtensionsCapability::new(
                address_type(*f),
            ))
        })
        .collect();
    caps.push(BgpCapability::RouteRefresh);
    caps.push(BgpCapability::FourOctetAs(FourOctetAsCapability::new(
        local.asn,
    )));
    caps.push(BgpCapability::ExtendedMessage);
    if let Some(gr) = local.graceful_restart {
        let families: Vec<GracefulRestartAddressFamily> = Family::ALL
            .iter()
            .map(|f| GracefulRestartAddressFamily::new(gr.restarting, address_type(*f)))
            .collect();
        caps.push(BgpCapability::GracefulRestartCapability(
            GracefulRestartCapability::new(
                gr.restarting,
                false,
                gr.restart_time.min(MAX_RESTART_TIME),
                families,
            ),
        ));
    }
    let my_as = u16::try_from(local.asn).unwrap_or(AS_TRANS);
    BgpOpenMessage::new(
        my_as,
        local.hold_time,
        local.router_id,
        vec![BgpOpenMessageParameter::Capabilities(caps.into())],
    )
}

/// Checks the peer's OPEN (netgauze has checked the version, a hold time of
/// 1 or 2 and a non-unicast identifier) and negotiates the session.
/// `keepalive` is the configured interval in seconds, used when smaller than
/// a third of the hold time. An error is the OPEN error to send.
pub fn negotiate(
    local: &LocalOpen,
    keepalive: u16,
    expected_asn: u32,
    open: &BgpOpenMessage,
) -> Result<Negotiated, OpenMessageError> {
    let caps = open.capabilities();
    let peer_asn = open.my_asn4();
    if peer_asn != expected_asn {
        return Err(OpenMessageError::BadPeerAs {
            value: open.my_as().to_be_bytes().into(),
        });
    }
    // RFC 6286 2.1: within an AS the identifiers must differ.
    if expected_asn == local.asn && open.bgp_id() == local.router_id {
        return Err(OpenMessageError::BadBgpIdentifier {
            value: open.bgp_id().octets().into(),
        });
    }
    let hold_time = match (local.hold_time, open.hold_time()) {
        (0, _) | (_, 0) => 0,
        (ours, theirs) => ours.min(theirs),
    };
    let keepalive = match hold_time {
        0 => 0,
        hold => keepalive.clamp(1, (hold / 3).max(1)),
    };
    let mp: Vec<AddressType> = caps
        .iter()
        .filter_map(|c| match c {
            BgpCapability::MultiProtocolExtensions(m) => Some(m.address_type()),
            _ => None,
        })
        .collect();
    let families = Family::ALL
        .into_iter()
        .filter(|f| {
            // RFC 4760 8: no MP capability at all means IPv4 unicast only.
            mp.contains(&address_type(*f)) || (mp.is_empty() && *f == Family::Ip)
        })
        .collect();
    let peer_graceful_restart = caps.iter().find_map(|c| match c {
        BgpCapability::GracefulRestartCapability(gr) => Some(PeerGracefulRestart {
            restart_time: gr.time(),
            restarting: gr.restart(),
        }),
        _ => None,
    });
    Ok(Negotiated {
        peer_asn,
        peer_id: open.bgp_id(),
        hold_time,
        keepalive,
        asn4: caps
            .iter()
            .any(|c| matches!(c, BgpCapability::FourOctetAs(_))),
        families,
        route_refresh: caps.iter().any(|c| {
            matches!(
                c,
                BgpCapability::RouteRefresh | BgpCapability::EnhancedRouteRefresh
            )
        }),
        extended_messages: caps
            .iter()
            .any(|c| matches!(c, BgpCapability::ExtendedMessage)),
        peer_graceful_restart,
    })
}
