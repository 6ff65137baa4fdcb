//! Adj-RIB-Out diffing: only changes go out, one change is one UPDATE with
//! exactly that change.

use std::net::IpAddr;
use std::sync::Arc;

use super::*;
use crate::bgp::codec::{self, DecodeContext, MAX_LEN, Received};
use crate::bgp::pack::{self, PackContext};

fn attrs(nh: &str, communities: &[u32]) -> Arc<PathAttrs> {
    let mut a = PathAttrs::with_next_hop(nh.parse::<IpAddr>().unwrap());
    a.as_path = vec![64512];
    a.communities = communities.to_vec();
    Arc::new(a)
}

fn table(entries: &[(&str, &Arc<PathAttrs>)]) -> Table {
    entries
        .iter()
        .map(|(p, a)| (p.parse().unwrap(), Arc::clone(a)))
        .collect()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// The diff as the peer decodes it.
fn on_the_wire(diff: &RibDiff) -> Vec<codec::Received> {
    let ctx = PackContext {
        max_len: MAX_LEN,
        asn4: true,
    };
    let dctx = DecodeContext::initial(64512, false);
    pack::pack(diff, &ctx)
        .unwrap()
        .iter()
        .map(|m| codec::decode(&codec::encode(m, MAX_LEN).unwrap(), &dctx).unwrap())
        .collect()
}

#[test]
fn the_first_sync_announces_everything_grouped_by_attributes() {
    let a = attrs("192.0.2.1", &[1]);
    let b = attrs("192.0.2.1", &[2]);
    let mut rib = AdjRibOut::default();
    let diff = rib.sync(&table(&[
        ("10.0.0.1/32", &a),
        ("10.0.0.2/32", &b),
        ("10.0.0.3/32", &a),
    ]));
    assert!(diff.withdraw.is_empty());
    assert_eq!(diff.announce.len(), 2);
    assert_eq!(
        diff.announce[&a],
        vec![net("10.0.0.1/32"), net("10.0.0.3/32")]
    );
    assert_eq!(
        on_the_wire(&diff).len(),
        2,
        "one UPDATE per set of attributes"
    );
}

#[test]
fn an_unchanged_table_sends_nothing() {
    let a = attrs("192.0.2.1", &[1]);
    let mut rib = AdjRibOut::default();
    let t = table(&[("10.0.0.1/32", &a), ("10.0.0.2/32", &a)]);
    rib.sync(&t);
    let equal_not_same = table(&[
        ("10.0.0.1/32", &attrs("192.0.2.1", &[1])),
        ("10.0.0.2/32", &a),
    ]);
    assert!(rib.sync(&equal_not_same).is_empty());
}

#[test]
fn one_change_is_one_update_with_exactly_that_change() {
    let a = attrs("192.0.2.1", &[1]);
    let b = attrs("192.0.2.1", &[2]);
    let mut rib = AdjRibOut::default();
    let mut t = table(&[
        ("10.0.0.1/32", &a),
        ("10.0.0.2/32", &a),
        ("10.0.0.3/32", &a),
    ]);
    rib.sync(&t);

    t.insert(net("10.0.0.2/32"), Arc::clone(&b));
    let wire = on_the_wire(&rib.sync(&t));
    let [Received::Update(u)] = &wire[..] else {
        panic!("one UPDATE: {wire:?}")
    };
    assert_eq!(u.announced, vec![((*b).clone(), vec![net("10.0.0.2/32")])]);
    assert!(u.withdrawn.is_empty());

    t.remove(&net("10.0.0.3/32"));
    let wire = on_the_wire(&rib.sync(&t));
    let [Received::Update(u)] = &wire[..] else {
        panic!("one UPDATE: {wire:?}")
    };
    assert_eq!(u.withdrawn, vec![net("10.0.0.3/32")]);
    assert!(u.announced.is_empty());

    t.insert(net("2001:db8::1/128"), attrs("2001:db8::ff", &[1]));
    let wire = on_the_wire(&rib.sync(&t));
    let [Received::Update(u)] = &wire[..] else {
        panic!("one UPDATE: {wire:?}")
    };
    assert_eq!(u.announced[0].1, vec![net("2001:db8::1/128")]);
    assert_eq!(rib.sent().len(), 3);
}

#[test]
fn resend_repeats_one_family_and_clear_forgets_everything() {
    let a = attrs("192.0.2.1", &[]);
    let six = attrs("2001:db8::ff", &[]);
    let mut rib = AdjRibOut::default();
    rib.sync(&table(&[("10.0.0.1/32", &a), ("2001:db8::1/128", &six)]));
    let again = rib.resend(Family::Ip6);
    assert_eq!(again.announce[&six], vec![net("2001:db8::1/128")]);
    assert_eq!(again.announce.len(), 1);
    rib.clear();
    assert_eq!(rib.sync(&Table::new()), RibDiff::default());
}
