//! UPDATE packing: a `RibDiff` into as few UPDATEs as the session's size
//! limit allows. Withdrawals go first (IPv4 in the withdrawn routes field,
//! IPv6 in MP_UNREACH_NLRI), then one run of UPDATEs per set of equal
//! attributes (IPv4 NLRI after NEXT_HOP, IPv6 inside MP_REACH_NLRI).
//!
//! Sizes: netgauze gives the length of an UPDATE with every attribute and
//! no NLRI; each prefix then adds its encoded length (one octet of prefix
//! length and the prefix's significant octets, RFC 4271 4.3).

use std::net::IpAddr;

use ipnet::IpNet;
use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::nlri::{Ipv4Unicast, Ipv4UnicastAddress, Ipv6Unicast, Ipv6UnicastAddress};
use netgauze_bgp_pkt::path_attribute::PathAttribute;
use netgauze_bgp_pkt::update::BgpUpdateMessage;
use netgauze_parse_utils::WritablePdu;

use super::attrs::{self, AttrsError, PathAttrs};
use super::rib::RibDiff;
use crate::model::Family;

/// Packing failed.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error(transparent)]
    Attrs(#[from] AttrsError),
    #[error("{prefix} cannot be sent with next hop {next_hop} (another family)")]
    NextHopFamily { prefix: IpNet, next_hop: IpAddr },
    #[error("{prefix} is not a unicast prefix")]
    NotUnicast { prefix: IpNet },
    #[error("the attributes alone ({len} octets) do not fit in an UPDATE of {max}")]
    AttributesTooLong { len: usize, max: usize },
}

/// The session's encoding parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackContext {
    pub max_len: usize,
    pub asn4: bool,
}

/// Octets a prefix takes in NLRI or withdrawn routes.
pub fn prefix_len(prefix: &IpNet) -> usize {
    1 + usize::from(prefix.prefix_len()).div_ceil(8)
}

fn v4(prefix: &IpNet) -> Result<Ipv4UnicastAddress, PackError> {
    match prefix {
        IpNet::V4(net) => Ipv4Unicast::from_net(*net)
            .map(Ipv4UnicastAddress::new_no_path_id)
            .map_err(|_| PackError::NotUnicast { prefix: *prefix }),
        IpNet::V6(_) => Err(PackError::NotUnicast { prefix: *prefix }),
    }
}

fn v6(prefix: &IpNet) -> Result<Ipv6UnicastAddress, PackError> {
    match prefix {
        IpNet::V6(net) => Ipv6Unicast::from_net(*net)
            .map(|u| Ipv6UnicastAddress::new(None, u))
            .map_err(|_| PackError::NotUnicast { prefix: *prefix }),
        IpNet::V4(_) => Err(PackError::NotUnicast { prefix: *prefix }),
    }
}

/// Splits `prefixes` into runs that fit next to `base` octets.
fn chunks(prefixes: &[IpNet], base: usize, max: usize) -> Result<Vec<&[IpNet]>, PackError> {
    let room = max
        .checked_sub(base)
        .filter(|r| *r > 0)
        .ok_or(PackError::AttributesTooLong { len: base, max })?;
    let mut out = Vec::new();
    let (mut start, mut used) = (0, 0);
    for (i, p) in prefixes.iter().enumerate() {
        let len = prefix_len(p);
        if used + len > room {
            out.push(&prefixes[start..i]);
            (start, used) = (i, 0);
        }
        used += len;
    }
    if start < prefixes.len() {
        out.push(&prefixes[start..]);
    }
    Ok(out)
}

/// Length of an UPDATE with these attributes and no NLRI.
fn base_len(attrs: &[PathAttribute]) -> usize {
    BgpMessage::Update(BgpUpdateMessage::new(
        Vec::new(),
        attrs.to_vec(),
        Vec::new(),
    ))
    .len()
}

fn withdrawals(
    prefixes: &[IpNet],
    ctx: &PackContext,
    out: &mut Vec<BgpMessage>,
) -> Result<(), PackError> {
    let (v4s, v6s): (Vec<IpNet>, Vec<IpNet>) =
        prefixes.iter().partition(|p| matches!(p, IpNet::V4(_)));
    let base = base_len(&[]);
    for run in chunks(&v4s, base, ctx.max_len)? {
        let withdrawn = run.iter().map(v4).collect::<Result<Vec<_>, _>>()?;
        out.push(BgpMessage::Update(BgpUpdateMessage::new(
            withdrawn,
            Vec::new(),
            Vec::new(),
        )));
    }
    let base = base_len(&[attrs::mp_unreach_v6(Vec::new())?]);
    for run in chunks(&v6s, base, ctx.max_len)? {
        let nlri = run.iter().map(v6).collect::<Result<Vec<_>, _>>()?;
        let unreach = attrs::mp_unreach_v6(nlri)?;
        out.push(BgpMessage::Update(BgpUpdateMessage::new(
            Vec::new(),
            vec![unreach],
            Vec::new(),
        )));
    }
    Ok(())
}

fn announcements(
    attrs: &PathAttrs,
    prefixes: &[IpNet],
    ctx: &PackContext,
    out: &mut Vec<BgpMessage>,
) -> Result<(), PackError> {
    let common = attrs::to_wire(attrs, ctx.asn4)?;
    if let Some(bad) = prefixes.iter().find(|p| {
        matches!(
            (p, attrs.next_hop),
            (IpNet::V4(_), IpAddr::V6(_)) | (IpNet::V6(_), IpAddr::V4(_))
        )
    }) {
        return Err(PackError::NextHopFamily {
            prefix: *bad,
            next_hop: attrs.next_hop,
        });
    }
    match attrs.next_hop {
        IpAddr::V4(nh) => {
            let mut wire = common;
            wire.push(attrs::next_hop(nh)?);
            let base = base_len(&wire);
            for run in chunks(prefixes, base, ctx.max_len)? {
                let nlri = run.iter().map(v4).collect::<Result<Vec<_>, _>>()?;
                out.push(BgpMessage::Update(BgpUpdateMessage::new(
                    Vec::new(),
                    wire.clone(),
                    nlri,
                )));
            }
        }
        IpAddr::V6(nh) => {
            let mut with_mp = vec![attrs::mp_reach_v6(nh, Vec::new())?];
            with_mp.extend(common.iter().cloned());
            let base = base_len(&with_mp);
            for run in chunks(prefixes, base, ctx.max_len)? {
                let nlri = run.iter().map(v6).collect::<Result<Vec<_>, _>>()?;
                // RFC 7606 5.1: MP_REACH_NLRI first.
                let mut wire = vec![attrs::mp_reach_v6(nh, nlri)?];
                wire.extend(common.iter().cloned());
                out.push(BgpMessage::Update(BgpUpdateMessage::new(
                    Vec::new(),
                    wire,
                    Vec::new(),
                )));
            }
        }
    }
    Ok(())
}

/// The UPDATEs that carry `diff`.
pub fn pack(diff: &RibDiff, ctx: &PackContext) -> Result<Vec<BgpMessage>, PackError> {
    let mut out = Vec::new();
    withdrawals(&diff.withdraw, ctx, &mut out)?;
    for (attrs, prefixes) in &diff.announce {
        announcements(attrs, prefixes, ctx, &mut out)?;
    }
    Ok(out)
}

/// The End-of-RIB marker of a family (RFC 4724 2).
pub fn end_of_rib(family: Family) -> Result<BgpMessage, PackError> {
    let attributes = match family {
        Family::Ip => Vec::new(),
        Family::Ip6 => vec![attrs::mp_unreach_v6(Vec::new())?],
    };
    Ok(BgpMessage::Update(BgpUpdateMessage::new(
        Vec::new(),
        attributes,
        Vec::new(),
    )))
}

#[cfg(test)]
#[path = "pack_tests.rs"]
mod tests;
