//! Defensive UPDATE decoding (RFC 7606): a malformed UPDATE costs the routes
//! it carries, not the session, wherever the RFC allows.
//!
//! netgauze parses a whole UPDATE or fails it with one error, so the RFC 7606
//! classification is done here, in three steps:
//! 1. a pre-scan of the framing only: the withdrawn-routes and total
//!    path-attribute lengths, then each attribute's flags, type and length
//!    (no value is interpreted). An attribute overrunning the attribute
//!    list is treat-as-withdraw (RFC 7606 4); lengths that overrun the
//!    message make the NLRI impossible to locate: session reset;
//! 2. each attribute is parsed on its own by netgauze (`PathAttribute`),
//!    withdrawn routes and NLRI prefix by prefix (netgauze's prefix parser);
//!    a failure is mapped by attribute type to its RFC 7606 section 7
//!    outcome (`classify`), which does not depend on netgauze's error kind;
//! 3. checks netgauze does not make: repeated attributes (3g), missing
//!    mandatory attributes (3d), the NEXT_HOP's and the eBGP first AS's
//!    semantics (RFC 4271 6.3, revised by RFC 7606 7.2/7.3).
//!
//! When problems differ, the strongest approach wins (3j). Session reset is
//! the `Err` (the NOTIFICATION to send); the others are `Outcome`s.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};
use netgauze_bgp_pkt::nlri::Ipv4Unicast;
use netgauze_bgp_pkt::notification::{BgpNotificationMessage, UpdateMessageError};
use netgauze_bgp_pkt::path_attribute::{MpReach, MpUnreach, PathAttribute, PathAttributeValue};
use netgauze_bgp_pkt::update::BgpUpdateMessage;
use netgauze_iana::address_family::AddressType;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::{ParseFrom, ParseFromWithOneInput};

use super::attrs::{self, AS_TRANS, PathAttrs};
use super::codec::DecodeContext;
use crate::model::Family;

const FLAG_OPTIONAL: u8 = 0x80;
const FLAG_EXTENDED: u8 = 0x10;

/// Attribute type codes this module names.
mod code {
    pub const ORIGIN: u8 = 1;
    pub const AS_PATH: u8 = 2;
    pub const NEXT_HOP: u8 = 3;
    pub const MED: u8 = 4;
    pub const LOCAL_PREF: u8 = 5;
    pub const ATOMIC_AGGREGATE: u8 = 6;
    pub const AGGREGATOR: u8 = 7;
    pub const COMMUNITIES: u8 = 8;
    pub const ORIGINATOR_ID: u8 = 9;
    pub const CLUSTER_LIST: u8 = 10;
    pub const MP_REACH: u8 = 14;
    pub const MP_UNREACH: u8 = 15;
    pub const EXT_COMMUNITIES: u8 = 16;
    pub const AS4_PATH: u8 = 17;
    pub const AS4_AGGREGATOR: u8 = 18;
    pub const IPV6_EXT_COMMUNITIES: u8 = 25;
    pub const LARGE_COMMUNITIES: u8 = 32;
}

/// RFC 7606 approach for a problem that does not reset the session,
/// weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// The attribute is dropped, the routes are kept (RFC 7606 2).
    AttributeDiscard,
    /// Every route the UPDATE announces is handled as withdrawn.
    TreatAsWithdraw,
}

/// One problem found in an UPDATE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The attribute type, when the problem is one attribute's.
    pub attr_type: Option<u8>,
    pub outcome: Outcome,
    pub detail: String,
}

/// A received UPDATE after RFC 7606 handling: what to apply to the
/// Adj-RIB-In.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckedUpdate {
    /// Withdrawn routes, with the announcements of a treat-as-withdraw UPDATE.
    pub withdrawn: Vec<IpNet>,
    /// Announced routes, grouped by attributes (one group per next hop).
    pub announced: Vec<(PathAttrs, Vec<IpNet>)>,
    /// This UPDATE is the End-of-RIB marker of a family (RFC 4724 2).
    pub end_of_rib: Option<Family>,
    pub problems: Vec<Problem>,
}

impl CheckedUpdate {
    /// The strongest approach taken, `None` for a clean UPDATE.
    pub fn outcome(&self) -> Option<Outcome> {
        self.problems.iter().map(|p| p.outcome).max()
    }
}

/// One attribute as the pre-scan found it.
struct Tlv<'a> {
    flags: u8,
    code: u8,
    /// Flags, type, length and value.
    bytes: &'a [u8],
}

fn update_error(err: UpdateMessageError) -> BgpNotificationMessage {
    BgpNotificationMessage::UpdateMessageError(err)
}

fn malformed_attribute_list() -> BgpNotificationMessage {
    update_error(UpdateMessageError::MalformedAttributeList {
        value: Box::new([]),
    })
}

fn invalid_network_field() -> BgpNotificationMessage {
    update_error(UpdateMessageError::InvalidNetworkField {
        value: Box::new([]),
    })
}

/// Splits a two-octet length and that many octets off `buf`.
fn take_counted(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = buf.split_first_chunk::<2>()?;
    rest.split_at_checked(usize::from(u16::from_be_bytes(*len)))
}

/// Step 1: the attribute list's TLVs, and the overrun problem if the list
/// does not end on an attribute boundary (RFC 7606 4: treat-as-withdraw).
fn scan_attributes(mut rest: &[u8]) -> (Vec<Tlv<'_>>, Option<Problem>) {
    let mut tlvs = Vec::new();
    while let Some(&flags) = rest.first() {
        let header = if flags & FLAG_EXTENDED != 0 { 4 } else { 3 };
        let len = match (rest.get(1), rest.get(2), rest.get(3)) {
            (Some(_), Some(l), _) if header == 3 => Some(usize::from(*l)),
            (Some(_), Some(hi), Some(lo)) => Some(usize::from(u16::from_be_bytes([*hi, *lo]))),
            _ => None,
        };
        let whole = len.and_then(|l| rest.split_at_checked(header + l));
        let Some((bytes, tail)) = whole else {
            let problem = Problem {
                attr_type: rest.get(1).copied(),
                outcome: Outcome::TreatAsWithdraw,
                detail: format!(
                    "attribute overruns the attribute list ({} octets left)",
                    rest.len()
                ),
            };
            return (tlvs, Some(problem));
        };
        tlvs.push(Tlv {
            flags,
            code: bytes.get(1).copied().unwrap_or(0),
            bytes,
        });
        rest = tail;
    }
    (tlvs, None)
}

/// Withdrawn routes or NLRI: prefixes through netgauze's parser. Any
/// syntax error is a session reset (RFC 7606 5.3); non-unicast prefixes are
/// ignored (RFC 4271 6.3).
fn parse_v4_prefixes(bytes: &[u8]) -> Result<Vec<IpNet>, BgpNotificationMessage> {
    let mut reader = SliceReader::new(bytes);
    let mut out = Vec::new();
    while !reader.is_empty() {
        let net = Ipv4Net::parse(&mut reader).map_err(|_| invalid_network_field())?;
        if Ipv4Unicast::from_net(net).is_ok() {
            out.push(IpNet::V4(net));
        }
    }
    Ok(out)
}

/// RFC 7606 section 7 outcome of a malformed attribute of type `code`;
/// `None` when the session must be reset.
fn classify(code: u8, ibgp: bool) -> Option<Outcome> {
    match code {
        code::ORIGIN
        | code::AS_PATH
        | code::NEXT_HOP
        | code::MED
        | code::COMMUNITIES
        | code::ORIGINATOR_ID
        | code::CLUSTER_LIST
        | code::EXT_COMMUNITIES
        | code::IPV6_EXT_COMMUNITIES
        | code::LARGE_COMMUNITIES => Some(Outcome::TreatAsWithdraw),
        // 7.5: from an external peer LOCAL_PREF is discarded anyway.
        code::LOCAL_PREF if ibgp => Some(Outcome::TreatAsWithdraw),
        // 7.11: the NLRI inside cannot be located.
        code::MP_REACH | code::MP_UNREACH => None,
        // 7.6, 7.7, RFC 6793 6: no effect on route selection, dropped.
        code::ATOMIC_AGGREGATE | code::AGGREGATOR | code::AS4_PATH | code::AS4_AGGREGATOR => {
            Some(Outcome::AttributeDiscard)
        }
        // Attributes kroute does not use: dropped likewise.
        _ => Some(Outcome::AttributeDiscard),
    }
}

/// Routes one MP attribute carries, by kind.
#[derive(Default)]
struct Mp {
    reach: Vec<(IpAddr, Vec<IpNet>)>,
    unreach: Vec<IpNet>,
    /// The parsed MP attributes, for the End-of-RIB test.
    attributes: Vec<PathAttribute>,
}

impl Mp {
    /// Unicast IPv4/IPv6; other families were not negotiated and are
    /// ignored (RFC 4760 7).
    fn add(&mut self, attr: PathAttribute) {
        match attr.value() {
            PathAttributeValue::MpReach(MpReach::Ipv6Unicast {
                next_hop_global,
                nlri,
                ..
            }) => self.reach.push((
                IpAddr::V6(*next_hop_global),
                nlri.iter()
                    .map(|a| IpNet::V6(a.network().address()))
                    .collect(),
            )),
            PathAttributeValue::MpReach(MpReach::Ipv4Unicast { next_hop, nlri, .. }) => {
                self.reach.push((
                    *next_hop,
                    nlri.iter()
                        .map(|a| IpNet::V4(a.network().address()))
                        .collect(),
                ))
            }
            PathAttributeValue::MpUnreach(MpUnreach::Ipv6Unicast { nlri }) => self
                .unreach
                .extend(nlri.iter().map(|a| IpNet::V6(a.network().address()))),
            PathAttributeValue::MpUnreach(MpUnreach::Ipv4Unicast { nlri }) => self
                .unreach
                .extend(nlri.iter().map(|a| IpNet::V4(a.network().address()))),
            _ => {}
        }
        self.attributes.push(attr);
    }
}

/// What step 2 leaves: the attributes kept, the MP routes, the problems.
struct Attributes {
    kept: Vec<PathAttribute>,
    mp: Mp,
    problems: Vec<Problem>,
}

/// Step 2 over the pre-scanned attributes.
fn parse_attributes(
    tlvs: &[Tlv<'_>],
    ctx: &DecodeContext,
) -> Result<Attributes, BgpNotificationMessage> {
    let mut pctx = ctx.parsing_context();
    let mut seen = [false; 256];
    let mut out = Attributes {
        kept: Vec::new(),
        mp: Mp::default(),
        problems: Vec::new(),
    };
    for tlv in tlvs {
        let code = tlv.code;
        let slot = &mut seen[usize::from(code)];
        if *slot {
            // 3g: a repeated MP attribute is a malformed list; any other
            // repeat is dropped.
            if code == code::MP_REACH || code == code::MP_UNREACH {
                return Err(malformed_attribute_list());
            }
            out.problems.push(Problem {
                attr_type: Some(code),
                outcome: Outcome::AttributeDiscard,
                detail: "repeated attribute".to_string(),
            });
            continue;
        }
        *slot = true;
        let mut reader = SliceReader::new(tlv.bytes);
        let parsed = match PathAttribute::parse(&mut reader, &mut pctx) {
            Ok(_) if !reader.is_empty() => Err("octets left after the value".to_string()),
            Ok(attr) => Ok(attr),
            Err(e) => Err(e.to_string()),
        };
        match parsed {
            Ok(attr) => match attr.value() {
                PathAttributeValue::UnknownAttribute(_) if tlv.flags & FLAG_OPTIONAL == 0 => {
                    return Err(update_error(
                        UpdateMessageError::UnrecognizedWellKnownAttribute {
                            value: tlv.bytes.into(),
                        },
                    ));
                }
                PathAttributeValue::MpReach(_) | PathAttributeValue::MpUnreach(_) => {
                    out.mp.add(attr)
                }
                // RFC 4271 5.1.5: ignored from an external peer.
                PathAttributeValue::LocalPreference(_) if !ctx.ibgp => {}
                _ => out.kept.push(attr),
            },
            Err(detail) => match classify(code, ctx.ibgp) {
                Some(outcome) => out.problems.push(Problem {
                    attr_type: Some(code),
                    outcome,
                    detail,
                }),
                None => {
                    return Err(update_error(UpdateMessageError::OptionalAttributeError {
                        value: tlv.bytes.into(),
                    }));
                }
            },
        }
    }
    Ok(out)
}

fn has(kept: &[PathAttribute], f: impl Fn(&PathAttributeValue) -> bool) -> bool {
    kept.iter().any(|a| f(a.value()))
}

/// Step 3: mandatory attributes and the semantics netgauze leaves to us.
fn semantic_problems(
    kept: &[PathAttribute],
    v4_nlri: bool,
    v4_next_hop: Option<IpAddr>,
    mp_next_hops: &[IpAddr],
    ctx: &DecodeContext,
) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut taw = |attr_type: u8, detail: String| {
        out.push(Problem {
            attr_type: Some(attr_type),
            outcome: Outcome::TreatAsWithdraw,
            detail,
        })
    };
    if !has(kept, |v| matches!(v, PathAttributeValue::Origin(_))) {
        taw(code::ORIGIN, "ORIGIN missing or malformed".to_string());
    }
    let path = attrs::from_wire(kept, IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)).as_path;
    if !has(kept, |v| matches!(v, PathAttributeValue::AsPath(_))) {
        taw(code::AS_PATH, "AS_PATH missing or malformed".to_string());
    } else if !ctx.ibgp {
        let expected = if ctx.asn4 {
            ctx.peer_asn
        } else {
            u16::try_from(ctx.peer_asn).map_or(u32::from(AS_TRANS), u32::from)
        };
        if path.first() != Some(&expected) {
            taw(
                code::AS_PATH,
                format!("eBGP AS_PATH {path:?} does not start with the peer's AS {expected}"),
            );
        }
    }
    if v4_nlri {
        match v4_next_hop {
            None => taw(code::NEXT_HOP, "NEXT_HOP missing or malformed".to_string()),
            Some(nh) if !usable_next_hop(nh) => taw(code::NEXT_HOP, format!("NEXT_HOP {nh}")),
            Some(_) => {}
        }
    }
    for nh in mp_next_hops {
        if !usable_next_hop(*nh) {
            taw(code::MP_REACH, format!("MP_REACH_NLRI next hop {nh}"));
        }
    }
    out
}

/// A next hop a route can use: not unspecified, broadcast or multicast.
fn usable_next_hop(nh: IpAddr) -> bool {
    match nh {
        IpAddr::V4(a) => !(a.is_unspecified() || a.is_broadcast() || a.is_multicast()),
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast()),
    }
}

/// The family an End-of-RIB UPDATE closes, using netgauze's definition.
fn end_of_rib(mp_attributes: Vec<PathAttribute>) -> Option<Family> {
    match BgpUpdateMessage::new(Vec::new(), mp_attributes, Vec::new()).end_of_rib() {
        Some(AddressType::Ipv4Unicast) => Some(Family::Ip),
        Some(AddressType::Ipv6Unicast) => Some(Family::Ip6),
        _ => None,
    }
}

/// Decodes an UPDATE's body (after the header). `Err` is a session reset:
/// the NOTIFICATION to send.
pub fn decode_update(
    body: &[u8],
    ctx: &DecodeContext,
) -> Result<CheckedUpdate, BgpNotificationMessage> {
    // RFC 4271 6.3: lengths that overrun the message: Malformed Attribute List.
    let (withdrawn_bytes, rest) = take_counted(body).ok_or_else(malformed_attribute_list)?;
    let (attr_bytes, nlri_bytes) = take_counted(rest).ok_or_else(malformed_attribute_list)?;
    let mut withdrawn = parse_v4_prefixes(withdrawn_bytes)?;
    let nlri = parse_v4_prefixes(nlri_bytes)?;
    let (tlvs, overrun) = scan_attributes(attr_bytes);
    let Attributes {
        kept,
        mp,
        mut problems,
    } = parse_attributes(&tlvs, ctx)?;
    problems.extend(overrun);
    withdrawn.extend(mp.unreach.iter().copied());

    let announces = !nlri.is_empty() || mp.reach.iter().any(|(_, n)| !n.is_empty());
    if withdrawn.is_empty() && !announces && kept.is_empty() && problems.is_empty() {
        let end_of_rib = end_of_rib(mp.attributes);
        return Ok(CheckedUpdate {
            end_of_rib,
            ..CheckedUpdate::default()
        });
    }
    if !announces {
        return Ok(CheckedUpdate {
            withdrawn,
            problems,
            ..CheckedUpdate::default()
        });
    }
    let v4_next_hop = kept.iter().find_map(|a| match a.value() {
        PathAttributeValue::NextHop(nh) => Some(IpAddr::V4(nh.next_hop())),
        _ => None,
    });
    let mp_next_hops: Vec<IpAddr> = mp.reach.iter().map(|(nh, _)| *nh).collect();
    problems.extend(semantic_problems(
        &kept,
        !nlri.is_empty(),
        v4_next_hop,
        &mp_next_hops,
        ctx,
    ));

    let treat_as_withdraw = problems
        .iter()
        .any(|p| p.outcome == Outcome::TreatAsWithdraw);
    if treat_as_withdraw {
        withdrawn.extend(nlri);
        withdrawn.extend(mp.reach.into_iter().flat_map(|(_, n)| n));
        return Ok(CheckedUpdate {
            withdrawn,
            problems,
            ..CheckedUpdate::default()
        });
    }
    let mut announced = Vec::new();
    if let (false, Some(nh)) = (nlri.is_empty(), v4_next_hop) {
        announced.push((attrs::from_wire(&kept, nh), nlri));
    }
    for (nh, prefixes) in mp.reach {
        if !prefixes.is_empty() {
            announced.push((attrs::from_wire(&kept, nh), prefixes));
        }
    }
    Ok(CheckedUpdate {
        withdrawn,
        announced,
        end_of_rib: None,
        problems,
    })
}

#[cfg(test)]
#[path = "update_decode_tests.rs"]
mod tests;
