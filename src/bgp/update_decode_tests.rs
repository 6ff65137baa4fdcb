//! RFC 7606 handling of received UPDATEs: a table of malformed UPDATEs, each
//! with the approach the RFC gives it. The bytes are written by hand here
//! because no encoder produces malformed messages.

use std::net::IpAddr;

use ipnet::IpNet;
use proptest::prelude::*;

use super::*;
use crate::bgp::codec::{self, MAX_LEN};

fn ctx() -> DecodeContext {
    DecodeContext {
        asn4: true,
        max_len: MAX_LEN,
        peer_asn: 65001,
        ibgp: false,
    }
}

/// One attribute; the extended length bit when flags ask for it.
fn attr(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![flags, code];
    if flags & 0x10 != 0 {
        out.extend((value.len() as u16).to_be_bytes());
    } else {
        out.push(value.len() as u8);
    }
    out.extend(value);
    out
}

fn origin(v: u8) -> Vec<u8> {
    attr(0x40, 1, &[v])
}

fn as_path(asns: &[u32]) -> Vec<u8> {
    if asns.is_empty() {
        return attr(0x40, 2, &[]);
    }
    let mut v = vec![2, asns.len() as u8];
    for a in asns {
        v.extend(a.to_be_bytes());
    }
    attr(0x40, 2, &v)
}

fn next_hop(a: [u8; 4]) -> Vec<u8> {
    attr(0x40, 3, &a)
}

/// ORIGIN, AS_PATH from the peer, NEXT_HOP 10.0.0.1.
fn good() -> Vec<u8> {
    [origin(0), as_path(&[65001]), next_hop([10, 0, 0, 1])].concat()
}

/// 10.1.0.0/16
const NLRI: &[u8] = &[16, 10, 1];

fn body(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut out = (withdrawn.len() as u16).to_be_bytes().to_vec();
    out.extend(withdrawn);
    out.extend((attrs.len() as u16).to_be_bytes());
    out.extend(attrs);
    out.extend(nlri);
    out
}

/// MP_REACH_NLRI IPv6 unicast, next hop 2001:db8::1, raw prefixes.
fn mp_reach_v6(prefixes: &[u8]) -> Vec<u8> {
    let nh: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
    let mut v = vec![0, 2, 1, 16];
    v.extend(nh.octets());
    v.push(0);
    v.extend(prefixes);
    attr(0x90, 14, &v)
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

#[derive(Debug, PartialEq)]
enum Expect {
    Clean,
    Discard,
    Withdraw,
    /// NOTIFICATION code and subcode.
    Reset(u8, u8),
}

fn run(body: &[u8]) -> Expect {
    match decode_update(body, &ctx()) {
        Err(n) => {
            let (c, s) = codec::notification_code(&n);
            Expect::Reset(c, s)
        }
        Ok(u) => match u.outcome() {
            None => Expect::Clean,
            Some(Outcome::AttributeDiscard) => Expect::Discard,
            Some(Outcome::TreatAsWithdraw) => {
                assert!(
                    u.announced.is_empty(),
                    "treat-as-withdraw announces nothing"
                );
                assert!(u.withdrawn.contains(&net("10.1.0.0/16")) || !body.ends_with(NLRI));
                Expect::Withdraw
            }
        },
    }
}

#[test]
fn malformed_updates_map_to_their_rfc7606_outcome() {
    let long_as_path = attr(0x40, 2, &[2, 3, 0, 0, 0xfd, 0xe9]);
    let v6_nlri = [64, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0];
    let mut truncated_nh = vec![0, 2, 1, 16, 0x20, 0x01, 0x0d, 0xb8];
    truncated_nh.truncate(8);
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("well-formed", body(&[], &good(), NLRI), Expect::Clean),
        (
            "bad attribute length: ORIGIN of 2 octets",
            body(
                &[],
                &[
                    attr(0x40, 1, &[0, 0]),
                    as_path(&[65001]),
                    next_hop([10, 0, 0, 1]),
                ]
                .concat(),
                NLRI,
            ),
            Expect::Withdraw,
        ),
        (
            "bad attribute length: the last attribute overruns the list",
            body(&[], &[good(), vec![0xc0, 8, 10, 0, 0]].concat(), NLRI),
            Expect::Withdraw,
        ),
        (
            "bad attribute length: fewer than 3 octets left in the list",
            body(&[], &[good(), vec![0x40, 1]].concat(), NLRI),
            Expect::Withdraw,
        ),
        (
            "bad ORIGIN value",
            body(
                &[],
                &[origin(7), as_path(&[65001]), next_hop([10, 0, 0, 1])].concat(),
                NLRI,
            ),
            Expect::Withdraw,
        ),
        (
            "ORIGIN flagged optional",
            body(
                &[],
                &[
                    attr(0xc0, 1, &[0]),
                    as_path(&[65001]),
                    next_hop([10, 0, 0, 1]),
                ]
                .concat(),
                NLRI,
            ),
            Expect::Withdraw,
        ),
        (
            "bad NEXT_HOP length",
            body(
                &[],
                &[
                    origin(0),
                    as_path(&[65001]),
                    attr(0x40, 3, &[10, 0, 0, 1, 0]),
                ]
                .concat(),
                NLRI,
            ),
            Expect::Withdraw,
        ),
        (
            "bad NEXT_HOP 0.0.0.0",
            body(
                &[],
                &[origin(0), as_path(&[65001]), next_hop([0, 0, 0, 0])].concat(),
                NLRI,
            ),
            Expect::Withdraw,
        ),
        (
            "bad NEXT_HOP multicast",
            body(
                &[],
                &[origin(0), as_path(&[65001]), next_hop([224, 0, 0, 5])].concat(),
                NLRI,
            ),
            Expect::Withdraw,
        ),
        (
            "NEXT_HOP missing",
            body(&[], &[origin(0), as_path(&[65001])].concat(), NLRI),
            Expect::Withdraw,
        ),
        (
            "ORIGIN missing",
            body(
                &[],
                &[as_path(&[65001]), next_hop([10, 0, 0, 1])].concat(),
                NLRI,
            ),
            Expect::Withdraw,
        ),
        (
            "eBGP AS_PATH not starting with the peer's AS",
            body(
                &[],
                &[origin(0), as_path(&[65002]), next_hop([10, 0, 0, 1])].concat(),
                NLRI,
            ),
            Expect::Withdraw,
        ),
        (
            "AS_PATH segment overruns the attribute",
            body(
                &[],
                &[origin(0), long_as_path, next_hop([10, 0, 0, 1])].concat(),
                NLRI,
            ),
            Expect::Withdraw,
        ),
        (
            "COMMUNITIES not a multiple of 4",
            body(&[], &[good(), attr(0xc0, 8, &[0; 5])].concat(), NLRI),
            Expect::Withdraw,
        ),
        (
            "LARGE_COMMUNITIES not a multiple of 12",
            body(&[], &[good(), attr(0xc0, 32, &[0; 8])].concat(), NLRI),
            Expect::Withdraw,
        ),
        (
            "AGGREGATOR of 3 octets",
            body(&[], &[good(), attr(0xc0, 7, &[1, 2, 3])].concat(), NLRI),
            Expect::Discard,
        ),
        (
            "ATOMIC_AGGREGATE with a value",
            body(&[], &[good(), attr(0x40, 6, &[1])].concat(), NLRI),
            Expect::Discard,
        ),
        (
            "LOCAL_PREF from an eBGP peer, malformed",
            body(&[], &[good(), attr(0x40, 5, &[0, 0, 1])].concat(), NLRI),
            Expect::Discard,
        ),
        (
            "repeated COMMUNITIES",
            body(
                &[],
                &[
                    good(),
                    attr(0xc0, 8, &[0, 1, 0, 1]),
                    attr(0xc0, 8, &[0, 1, 0, 2]),
                ]
                .concat(),
                NLRI,
            ),
            Expect::Discard,
        ),
        (
            "unknown optional attribute",
            body(&[], &[good(), attr(0xc0, 99, &[1, 2, 3])].concat(), NLRI),
            Expect::Clean,
        ),
        (
            "unknown well-known attribute",
            body(&[], &[good(), attr(0x40, 99, &[1])].concat(), NLRI),
            Expect::Reset(3, 2),
        ),
        (
            "truncated MP_REACH: next hop longer than the attribute",
            body(
                &[],
                &[origin(0), as_path(&[65001]), attr(0x90, 14, &truncated_nh)].concat(),
                &[],
            ),
            Expect::Reset(3, 9),
        ),
        (
            "truncated MP_REACH: last prefix cut short",
            body(
                &[],
                &[origin(0), as_path(&[65001]), mp_reach_v6(&v6_nlri[..5])].concat(),
                &[],
            ),
            Expect::Reset(3, 9),
        ),
        (
            "MP_REACH prefix longer than 128 bits",
            body(
                &[],
                &[origin(0), as_path(&[65001]), mp_reach_v6(&[129, 0x20])].concat(),
                &[],
            ),
            Expect::Reset(3, 9),
        ),
        (
            "repeated MP_REACH",
            body(
                &[],
                &[
                    origin(0),
                    as_path(&[65001]),
                    mp_reach_v6(&v6_nlri),
                    mp_reach_v6(&v6_nlri),
                ]
                .concat(),
                &[],
            ),
            Expect::Reset(3, 1),
        ),
        (
            "withdrawn routes length overruns the message",
            vec![0, 50, 0, 0],
            Expect::Reset(3, 1),
        ),
        (
            "total attribute length overruns the message",
            vec![0, 0, 0, 40, 0x40, 1, 1, 0],
            Expect::Reset(3, 1),
        ),
        (
            "NLRI prefix longer than 32 bits",
            body(&[], &good(), &[33, 10, 0, 0, 0, 0]),
            Expect::Reset(3, 10),
        ),
        (
            "NLRI prefix cut short",
            body(&[], &good(), &[24, 10, 1]),
            Expect::Reset(3, 10),
        ),
        (
            "withdrawn prefix cut short",
            body(&[24, 10], &[], &[]),
            Expect::Reset(3, 10),
        ),
    ];
    for (name, bytes, expect) in cases {
        assert_eq!(run(&bytes), expect, "{name}");
    }
}

#[test]
fn a_clean_update_announces_its_prefixes_with_their_attributes() {
    let u = decode_update(&body(&[8, 11], &good(), NLRI), &ctx()).unwrap();
    assert_eq!(u.withdrawn, vec![net("11.0.0.0/8")]);
    let (attrs, prefixes) = &u.announced[0];
    assert_eq!(prefixes, &vec![net("10.1.0.0/16")]);
    assert_eq!(attrs.next_hop, "10.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(attrs.as_path, vec![65001]);
}

#[test]
fn treat_as_withdraw_withdraws_mp_reach_announcements_too() {
    let v6 = [64, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0];
    let attrs = [origin(9), as_path(&[65001]), mp_reach_v6(&v6)].concat();
    let u = decode_update(&body(&[], &attrs, &[]), &ctx()).unwrap();
    assert_eq!(u.outcome(), Some(Outcome::TreatAsWithdraw));
    assert_eq!(u.withdrawn, vec![net("2001:db8:1::/64")]);
    assert!(u.announced.is_empty());
}

#[test]
fn attribute_discard_keeps_the_routes() {
    let u = decode_update(
        &body(&[], &[good(), attr(0xc0, 7, &[1])].concat(), NLRI),
        &ctx(),
    )
    .unwrap();
    assert_eq!(u.outcome(), Some(Outcome::AttributeDiscard));
    assert_eq!(u.announced[0].1, vec![net("10.1.0.0/16")]);
    assert_eq!(u.problems[0].attr_type, Some(7));
}

#[test]
fn end_of_rib_of_both_families() {
    let v4 = decode_update(&body(&[], &[], &[]), &ctx()).unwrap();
    assert_eq!(v4.end_of_rib, Some(Family::Ip));
    let v6 = decode_update(&body(&[], &attr(0x90, 15, &[0, 2, 1]), &[]), &ctx()).unwrap();
    assert_eq!(v6.end_of_rib, Some(Family::Ip6));
    let not = decode_update(&body(&[8, 11], &[], &[]), &ctx()).unwrap();
    assert_eq!(not.end_of_rib, None);
}

#[test]
fn ibgp_keeps_local_pref_and_takes_any_first_as() {
    let ibgp = DecodeContext {
        ibgp: true,
        peer_asn: 64512,
        ..ctx()
    };
    let attrs = [
        origin(0),
        as_path(&[]),
        next_hop([10, 0, 0, 1]),
        attr(0x40, 5, &[0, 0, 0, 200]),
    ]
    .concat();
    let u = decode_update(&body(&[], &attrs, NLRI), &ibgp).unwrap();
    assert_eq!(u.outcome(), None);
    assert_eq!(u.announced[0].0.local_pref, Some(200));
    let bad = [
        origin(0),
        as_path(&[]),
        next_hop([10, 0, 0, 1]),
        attr(0x40, 5, &[0, 0, 0]),
    ]
    .concat();
    let u = decode_update(&body(&[], &bad, NLRI), &ibgp).unwrap();
    assert_eq!(u.outcome(), Some(Outcome::TreatAsWithdraw));
}

proptest! {
    #[test]
    fn arbitrary_update_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_update(&bytes, &ctx());
    }

    #[test]
    fn arbitrary_attribute_lists_never_panic(attrs in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_update(&body(&[], &attrs, NLRI), &ctx());
    }
}
