//! UPDATE packing: N prefixes with equal attributes take ceil(N / capacity)
//! UPDATEs, each within the size limit, together carrying every prefix.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::*;
use crate::bgp::codec::{self, DecodeContext, MAX_EXTENDED_LEN, MAX_LEN, Received};

fn v4_prefixes(n: u32) -> Vec<IpNet> {
    (0..n)
        .map(|i| IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(0x0a60_0000 + i), 32).unwrap()))
        .collect()
}

fn v6_prefixes(n: u32) -> Vec<IpNet> {
    (0..n)
        .map(|i| {
            let addr =
                Ipv6Addr::from(0x2001_0db8_0000_0000_0000_0000_0000_0000u128 + u128::from(i));
            IpNet::V6(ipnet::Ipv6Net::new(addr, 128).unwrap())
        })
        .collect()
}

fn announce(attrs: PathAttrs, prefixes: Vec<IpNet>) -> RibDiff {
    RibDiff {
        withdraw: Vec::new(),
        announce: BTreeMap::from([(Arc::new(attrs), prefixes)]),
    }
}

fn attrs(nh: IpAddr) -> PathAttrs {
    let mut a = PathAttrs::with_next_hop(nh);
    a.as_path = vec![64512, 64513];
    a.communities = vec![1, 2, 3];
    a
}

/// Packs, checks every message's size, decodes them all back.
fn packed(diff: &RibDiff, max_len: usize) -> (Vec<usize>, Vec<IpNet>, Vec<IpNet>) {
    let ctx = PackContext {
        max_len,
        asn4: true,
    };
    let dctx = DecodeContext {
        max_len,
        ..DecodeContext::initial(64512, true)
    };
    let (mut sizes, mut announced, mut withdrawn) = (Vec::new(), Vec::new(), Vec::new());
    for m in pack(diff, &ctx).unwrap() {
        let bytes = codec::encode(&m, max_len).unwrap();
        sizes.push(bytes.len());
        let Received::Update(u) = codec::decode(&bytes, &dctx).unwrap() else {
            panic!("not an UPDATE")
        };
        assert_eq!(u.problems, []);
        announced.extend(u.announced.into_iter().flat_map(|(_, p)| p));
        withdrawn.extend(u.withdrawn);
    }
    (sizes, announced, withdrawn)
}

/// Capacity in /32 (5 octets) or /128 (17 octets) prefixes next to `base`.
fn capacity(max_len: usize, base: usize, per_prefix: usize) -> usize {
    (max_len - base) / per_prefix
}

#[test]
fn ipv4_prefixes_with_equal_attributes_fill_each_update() {
    let a = attrs(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    let mut wire = attrs::to_wire(&a, true).unwrap();
    wire.push(attrs::next_hop(Ipv4Addr::new(192, 0, 2, 1)).unwrap());
    let base = base_len(&wire);
    for (n, max) in [
        (1, MAX_LEN),
        (2000, MAX_LEN),
        (100_000, MAX_LEN),
        (30_000, MAX_EXTENDED_LEN),
    ] {
        let prefixes = v4_prefixes(n);
        let (sizes, announced, _) = packed(&announce(a.clone(), prefixes.clone()), max);
        let cap = capacity(max, base, 5);
        assert_eq!(
            sizes.len(),
            (n as usize).div_ceil(cap),
            "{n} prefixes, limit {max}"
        );
        assert!(sizes.iter().all(|s| *s <= max));
        assert_eq!(announced, prefixes);
    }
}

#[test]
fn ipv6_prefixes_go_in_mp_reach_and_fill_each_update() {
    let nh: Ipv6Addr = "2001:db8::ff".parse().unwrap();
    let a = attrs(IpAddr::V6(nh));
    let mut wire = vec![attrs::mp_reach_v6(nh, Vec::new()).unwrap()];
    wire.extend(attrs::to_wire(&a, true).unwrap());
    let base = base_len(&wire);
    for (n, max) in [(1000, MAX_LEN), (10_000, MAX_EXTENDED_LEN)] {
        let prefixes = v6_prefixes(n);
        let (sizes, announced, _) = packed(&announce(a.clone(), prefixes.clone()), max);
        assert_eq!(sizes.len(), (n as usize).div_ceil(capacity(max, base, 17)));
        assert!(sizes.iter().all(|s| *s <= max));
        assert_eq!(announced, prefixes);
    }
}

#[test]
fn withdrawals_of_both_families_are_packed_too() {
    let mut withdraw = v4_prefixes(2000);
    withdraw.extend(v6_prefixes(500));
    let diff = RibDiff {
        withdraw: withdraw.clone(),
        announce: BTreeMap::new(),
    };
    let (sizes, _, withdrawn) = packed(&diff, MAX_LEN);
    let v4 = 2000usize.div_ceil(capacity(MAX_LEN, 23, 5));
    let v6 = 500usize.div_ceil(capacity(MAX_LEN, 23 + 7, 17));
    assert_eq!(sizes.len(), v4 + v6);
    assert_eq!(withdrawn, withdraw);
}

#[test]
fn a_next_hop_of_the_other_family_is_refused() {
    let diff = announce(
        attrs(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
        v6_prefixes(1),
    );
    let ctx = PackContext {
        max_len: MAX_LEN,
        asn4: true,
    };
    assert!(matches!(
        pack(&diff, &ctx),
        Err(PackError::NextHopFamily { .. })
    ));
}

#[test]
fn end_of_rib_markers_decode_as_such() {
    let dctx = DecodeContext::initial(64512, true);
    for family in Family::ALL {
        let bytes = codec::encode(&end_of_rib(family).unwrap(), MAX_LEN).unwrap();
        let Received::Update(u) = codec::decode(&bytes, &dctx).unwrap() else {
            panic!("not an UPDATE")
        };
        assert_eq!(u.end_of_rib, Some(family));
    }
}
