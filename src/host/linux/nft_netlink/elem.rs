//! Set and map elements as `NFTA_LIST_ELEM`s: keys (addresses, each
//! concatenated part padded to 4 bytes), verdict data, and intervals as a
//! start element plus an end element one past the prefix.

use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_netfilter::nftables::{
    DataAttribute, ListAttribute, SetElementAttribute, SetElementFlags,
};

use super::attr::Udata;
use super::expr::verdict_attrs;
use crate::host::nft::{ElementKey, Verdict};

/// One element of a `NFTA_SET_ELEM_LIST_ELEMENTS` list.
pub type Elem = ListAttribute<SetElementAttribute>;

/// `NFTNL_UDATA_SET_ELEM_FLAGS` = `NFTNL_SET_ELEM_F_INTERVAL_OPEN`: an
/// interval running to the end of the address space (it has no end element).
const UDATA_ELEM_FLAGS: u8 = 1;
const ELEM_F_INTERVAL_OPEN: u32 = 1;

pub fn addr_bytes(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// The key of an element of a non-interval set; `None` for a prefix (it
/// needs an interval set) or a key kept as nft text.
pub fn key_bytes(key: &ElementKey) -> Option<Vec<u8>> {
    match key {
        ElementKey::Net(net) if net.prefix_len() == net.max_prefix_len() => {
            Some(addr_bytes(net.addr()))
        }
        ElementKey::Net(_) | ElementKey::Unknown(_) => None,
        ElementKey::AddrProtoPort(addr, proto, port) => {
            let mut bytes = addr_bytes(*addr);
            bytes.extend(proto_port(proto.number(), *port));
            Some(bytes)
        }
        ElementKey::ProtoPort(proto, port) => Some(proto_port(proto.number(), *port)),
    }
}

/// `inet_proto . inet_service`: one byte and two big-endian bytes, each
/// padded to a 32-bit word.
fn proto_port(proto: u8, port: u16) -> Vec<u8> {
    let [hi, lo] = port.to_be_bytes();
    vec![proto, 0, 0, 0, hi, lo, 0, 0]
}

/// An element: its key and, for a verdict map, its verdict.
pub fn element(key: Vec<u8>, data: Option<&Verdict>) -> Elem {
    let mut attrs = vec![SetElementAttribute::Key(DataAttribute::Value(key))];
    if let Some(v) = data {
        attrs.push(SetElementAttribute::Data(DataAttribute::Verdict(
            verdict_attrs(v),
        )));
    }
    ListAttribute::Element(attrs)
}

/// The end of an interval (`NFT_SET_ELEM_INTERVAL_END`).
pub fn interval_end(key: Vec<u8>) -> Elem {
    ListAttribute::Element(vec![
        SetElementAttribute::Flags(SetElementFlags::IntervalEnd),
        SetElementAttribute::Key(DataAttribute::Value(key)),
    ])
}

/// The interval end at the bottom of the address space that nft 1.0.6 puts
/// first in every element add to an interval set (the kernel keeps one).
pub fn bottom_end(v4: bool) -> Elem {
    interval_end(num_bytes(0, v4))
}

/// The first address past `net`; `None` when `net` reaches the top.
fn past_end(net: &IpNet) -> Option<IpAddr> {
    match net.broadcast() {
        IpAddr::V4(a) => u32::from(a)
            .checked_add(1)
            .map(|n| IpAddr::from(n.to_be_bytes())),
        IpAddr::V6(a) => u128::from(a)
            .checked_add(1)
            .map(|n| IpAddr::from(n.to_be_bytes())),
    }
}

/// The elements of a prefix in an interval set: its start, and its end one
/// past it (or, at the top of the address space, a start marked open).
pub fn interval(net: &IpNet) -> Vec<Elem> {
    let start = addr_bytes(net.network());
    match past_end(net) {
        Some(end) => vec![element(start, None), interval_end(addr_bytes(end))],
        None => {
            let udata = Udata::new().u32(UDATA_ELEM_FLAGS, ELEM_F_INTERVAL_OPEN);
            vec![ListAttribute::Element(vec![
                SetElementAttribute::Key(DataAttribute::Value(start)),
                SetElementAttribute::UserData(udata.into_bytes()),
            ])]
        }
    }
}

/// The elements of a constant anonymous interval set: prefixes sorted and
/// merged (overlapping or adjacent), with the end element nft puts at the
/// bottom of the space when the first interval starts above it.
pub fn anonymous_intervals(nets: &[IpNet]) -> Vec<Elem> {
    let mut ranges: Vec<(u128, Option<u128>, bool)> = nets
        .iter()
        .map(|n| {
            let v4 = n.addr().is_ipv4();
            (addr_num(n.network()), past_end(n).map(addr_num), v4)
        })
        .collect();
    ranges.sort();
    let mut merged: Vec<(u128, Option<u128>, bool)> = Vec::new();
    for r in ranges {
        match merged.last_mut() {
            Some(last) if last.1.is_none_or(|end| r.0 <= end) => {
                last.1 = match (last.1, r.1) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
            _ => merged.push(r),
        }
    }
    let mut out = Vec::new();
    if let Some(&(start, _, v4)) = merged.first()
        && start > 0
    {
        out.push(bottom_end(v4));
    }
    for (start, end, v4) in merged {
        match end {
            Some(end) => {
                out.push(element(num_bytes(start, v4), None));
                out.push(interval_end(num_bytes(end, v4)));
            }
            None => out.push(element(num_bytes(start, v4), None)),
        }
    }
    out
}

fn addr_num(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn num_bytes(n: u128, v4: bool) -> Vec<u8> {
    if v4 {
        (n as u32).to_be_bytes().to_vec()
    } else {
        n.to_be_bytes().to_vec()
    }
}
