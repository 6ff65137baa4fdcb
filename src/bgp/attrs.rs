//! Path attributes as kroute's RIBs hold them (`PathAttrs`, hashable so
//! routes with equal attributes share one UPDATE), and their netgauze wire
//! form. NEXT_HOP and MP_REACH_NLRI/MP_UNREACH_NLRI carry the NLRI and are
//! added by the packer (`pack.rs`), not here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netgauze_bgp_pkt::community::{Community, LargeCommunity as WireLargeCommunity};
use netgauze_bgp_pkt::nlri::Ipv6UnicastAddress;
use netgauze_bgp_pkt::path_attribute::{
    As2PathSegment, As4Path, As4PathSegment, AsPath, AsPathSegmentType, Communities,
    LargeCommunities, LocalPreference, MpReach, MpUnreach, MultiExitDiscriminator, NextHop,
    Origin as WireOrigin, PathAttribute, PathAttributeValue,
};
use netgauze_parse_utils::WritablePdu;

/// ASN used in 2-octet fields for an ASN above 65535 (RFC 6793).
pub const AS_TRANS: u16 = 23456;

/// At most this many ASNs in one AS_PATH segment (its count is one octet).
const MAX_SEGMENT_ASNS: usize = 255;

/// Building an attribute failed: netgauze refused the flags we gave it.
#[derive(Debug, thiserror::Error)]
pub enum AttrsError {
    #[error("path attribute {what}: flags refused by the codec ({detail})")]
    Flags { what: &'static str, detail: String },
}

/// ORIGIN (RFC 4271 5.1.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Origin {
    #[default]
    Igp,
    Egp,
    Incomplete,
}

/// A large community (RFC 8092): global administrator, two local data parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct LargeCommunity(pub u32, pub u32, pub u32);

/// The attributes of one route, sent or received.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct PathAttrs {
    pub origin: Origin,
    /// One AS_SEQUENCE, nearest AS first (received AS_SETs are flattened in).
    pub as_path: Vec<u32>,
    pub next_hop: IpAddr,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    /// Standard communities as `(asn << 16) | value`.
    pub communities: Vec<u32>,
    pub large_communities: Vec<LargeCommunity>,
}

impl PathAttrs {
    /// Attributes with only a next hop (ORIGIN IGP, empty AS_PATH).
    pub fn with_next_hop(next_hop: IpAddr) -> Self {
        PathAttrs {
            origin: Origin::Igp,
            as_path: Vec::new(),
            next_hop,
            med: None,
            local_pref: None,
            communities: Vec::new(),
            large_communities: Vec::new(),
        }
    }
}

/// Wraps a value with the flags netgauze expects for it; the extended length
/// bit only when the value needs it (RFC 4271 4.3).
fn attribute(
    what: &'static str,
    optional: bool,
    transitive: bool,
    value: PathAttributeValue,
) -> Result<PathAttribute, AttrsError> {
    let short =
        PathAttribute::from(optional, transitive, false, false, value).map_err(|(_, e)| {
            AttrsError::Flags {
                what,
                detail: e.to_string(),
            }
        })?;
    // Type, flags and a one-octet length are 3 of `len()`.
    if short.len() <= 255 + 3 {
        return Ok(short);
    }
    PathAttribute::from(optional, transitive, false, true, short.value().clone()).map_err(
        |(_, e)| AttrsError::Flags {
            what,
            detail: e.to_string(),
        },
    )
}

/// The attributes of `attrs` other than the NLRI carriers, for a peer that
/// does (`asn4`) or does not speak 4-octet ASNs.
pub fn to_wire(attrs: &PathAttrs, asn4: bool) -> Result<Vec<PathAttribute>, AttrsError> {
    let origin = match attrs.origin {
        Origin::Igp => WireOrigin::IGP,
        Origin::Egp => WireOrigin::EGP,
        Origin::Incomplete => WireOrigin::Incomplete,
    };
    let mut out = vec![attribute(
        "ORIGIN",
        false,
        true,
        PathAttributeValue::Origin(origin),
    )?];
    let chunks: Vec<&[u32]> = attrs.as_path.chunks(MAX_SEGMENT_ASNS).collect();
    let as_path = if asn4 {
        AsPath::As4PathSegments(
            chunks
                .iter()
                .map(|c| As4PathSegment::new(AsPathSegmentType::AsSequence, c.to_vec()))
                .collect::<Vec<_>>()
                .into(),
        )
    } else {
        AsPath::As2PathSegments(
            chunks
                .iter()
                .map(|c| {
                    let asns: Vec<u16> = c
                        .iter()
                        .map(|a| u16::try_from(*a).unwrap_or(AS_TRANS))
                        .collect();
                    As2PathSegment::new(AsPathSegmentType::AsSequence, asns)
                })
                .collect::<Vec<_>>()
                .into(),
        )
    };
    out.push(attribute(
        "AS_PATH",
        false,
        true,
        PathAttributeValue::AsPath(as_path),
    )?);
    if !asn4 && attrs.as_path.iter().any(|a| *a > u32::from(u16::MAX)) {
        let segments: Vec<As4PathSegment> = chunks
            .iter()
            .map(|c| As4PathSegment::new(AsPathSegmentType::AsSequence, c.to_vec()))
            .collect();
        out.push(attribute(
            "AS4_PATH",
            true,
            true,
            PathAttributeValue::As4Path(As4Path::new(segments)),
        )?);
    }
    if let Some(med) = attrs.med {
        out.push(attribute(
            "MULTI_EXIT_DISC",
            true,
            false,
            PathAttributeValue::MultiExitDiscriminator(MultiExitDiscriminator::new(med)),
        )?);
    }
    if let Some(pref) = attrs.local_pref {
        out.push(attribute(
            "LOCAL_PREF",
            false,
            true,
            PathAttributeValue::LocalPreference(LocalPreference::new(pref)),
        )?);
    }
    if !attrs.communities.is_empty() {
        let list: Vec<Community> = attrs
            .communities
            .iter()
            .map(|c| Community::new(*c))
            .collect();
        out.push(attribute(
            "COMMUNITIES",
            true,
            true,
            PathAttributeValue::Communities(Communities::new(list)),
        )?);
    }
    if !attrs.large_communities.is_empty() {
        let list: Vec<WireLargeCommunity> = attrs
            .large_communities
            .iter()
            .map(|LargeCommunity(g, a, b)| WireLargeCommunity::new(*g, *a, *b))
            .collect();
        out.push(attribute(
            "LARGE_COMMUNITIES",
            true,
            true,
            PathAttributeValue::LargeCommunities(LargeCommunities::new(list)),
        )?);
    }
    Ok(out)
}

/// NEXT_HOP, for IPv4 NLRI in the UPDATE's own NLRI field.
pub fn next_hop(addr: Ipv4Addr) -> Result<PathAttribute, AttrsError> {
    attribute(
        "NEXT_HOP",
        false,
        true,
        PathAttributeValue::NextHop(NextHop::new(addr)),
    )
}

/// MP_REACH_NLRI for IPv6 unicast, always with the extended length bit (as
/// FRR and GoBGP send it), so its size is the same whatever it holds.
pub fn mp_reach_v6(
    next_hop: Ipv6Addr,
    nlri: Vec<Ipv6UnicastAddress>,
) -> Result<PathAttribute, AttrsError> {
    let value = PathAttributeValue::MpReach(MpReach::Ipv6Unicast {
        next_hop_global: next_hop,
        next_hop_local: None,
        nlri: nlri.into(),
    });
    PathAttribute::from(true, false, false, true, value).map_err(|(_, e)| AttrsError::Flags {
        what: "MP_REACH_NLRI",
        detail: e.to_string(),
    })
}

/// MP_UNREACH_NLRI for IPv6 unicast (empty: the IPv6 End-of-RIB).
pub fn mp_unreach_v6(nlri: Vec<Ipv6UnicastAddress>) -> Result<PathAttribute, AttrsError> {
    let value = PathAttributeValue::MpUnreach(MpUnreach::Ipv6Unicast { nlri: nlri.into() });
    PathAttribute::from(true, false, false, true, value).map_err(|(_, e)| AttrsError::Flags {
        what: "MP_UNREACH_NLRI",
        detail: e.to_string(),
    })
}

/// Our view of received attributes (`next_hop` taken from NEXT_HOP or
/// MP_REACH_NLRI by the caller). Attributes kroute does not keep are ignored.
pub fn from_wire(attrs: &[PathAttribute], next_hop: IpAddr) -> PathAttrs {
    let mut out = PathAttrs::with_next_hop(next_hop);
    for attr in attrs {
        match attr.value() {
            PathAttributeValue::Origin(o) => {
                out.origin = match o {
                    WireOrigin::IGP => Origin::Igp,
                    WireOrigin::EGP => Origin::Egp,
                    WireOrigin::Incomplete => Origin::Incomplete,
                }
            }
            PathAttributeValue::AsPath(AsPath::As4PathSegments(segments)) => {
                out.as_path = segments
                    .iter()
                    .flat_map(|s| s.as_numbers().iter().copied())
                    .collect();
            }
            PathAttributeValue::AsPath(AsPath::As2PathSegments(segments)) => {
                out.as_path = segments
                    .iter()
                    .flat_map(|s| s.as_numbers().iter().map(|a| u32::from(*a)))
                    .collect();
            }
            PathAttributeValue::MultiExitDiscriminator(m) => out.med = Some(m.metric()),
            PathAttributeValue::LocalPreference(l) => out.local_pref = Some(l.metric()),
            PathAttributeValue::Communities(c) => {
                out.communities = c.communities().iter().map(|c| c.value()).collect();
            }
            PathAttributeValue::LargeCommunities(c) => {
                out.large_communities = c
                    .communities()
                    .iter()
                    .map(|c| LargeCommunity(c.global_admin(), c.local_data1(), c.local_data2()))
                    .collect();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
#[path = "attrs_tests.rs"]
mod tests;
