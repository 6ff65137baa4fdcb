use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn def(source: PeerSource, since: Option<u64>, address: &str, asn: u32) -> PeerDefinition {
    PeerDefinition {
        source,
        since: since.map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s)),
        spec: PeerSpec::new(ip(address), asn),
    }
}

/// A `bgp.peers` entry with the loader's defaults.
pub(crate) fn peer_config(address: &str, asn: u32) -> PeerConfig {
    PeerConfig {
        address: ip(address),
        asn,
        port: 179,
        password_file: None,
        password: None,
        hold_time: Duration::from_secs(90),
        keepalive_time: Duration::from_secs(30),
        multihop_ttl: 1,
        passive: false,
        accept_prefixes: Vec::new(),
        max_prefixes: 0,
    }
}

fn config(index: usize) -> PeerSource {
    PeerSource::Config { index }
}

fn node(name: &str) -> PeerSource {
    PeerSource::Node { name: name.into() }
}

#[test]
fn distinct_peers_are_each_one_session() {
    let set = PeerSet::merge([
        def(config(0), None, "10.0.0.1", 65000),
        def(config(1), None, "fd00::1", 65001),
    ]);
    let specs = set.specs();
    assert_eq!(specs.len(), 2);
    assert_eq!(specs[&BgpPeerKey(ip("10.0.0.1"))].asn, 65000);
    assert_eq!(specs[&BgpPeerKey(ip("fd00::1"))].asn, 65001);
    assert!(set.conflicts().is_empty());
}

#[test]
fn the_same_peer_from_two_places_is_one_session_with_both_sources() {
    let set = PeerSet::merge([
        def(node("node-a"), Some(100), "10.0.0.1", 65000),
        def(config(0), None, "10.0.0.1", 65000),
    ]);
    let key = BgpPeerKey(ip("10.0.0.1"));
    assert_eq!(set.specs().len(), 1);
    assert_eq!(set.sources(&key), [config(0), node("node-a")]);
    assert!(set.conflicts().is_empty());
}

#[test]
fn a_disagreeing_definition_is_a_conflict_and_the_oldest_stays() {
    let mut newer = def(node("node-b"), Some(200), "10.0.0.1", 65009);
    newer.spec.port = 1179;
    let set = PeerSet::merge([newer, def(node("node-a"), Some(100), "10.0.0.1", 65000)]);
    let spec = &set.specs()[&BgpPeerKey(ip("10.0.0.1"))];
    assert_eq!(
        (spec.asn, spec.port),
        (65000, 179),
        "the older one is in force"
    );
    assert_eq!(set.conflicts().len(), 1);
    let text = set.conflicts()[0].to_string();
    assert_eq!(
        text,
        "BGP peer 10.0.0.1: Node node-b sets asn 65009, port 1179, Node node-a (older, in force) \
         sets asn 65000, port 179; Node node-b is ignored for this peer"
    );
}

#[test]
fn config_peers_are_older_than_any_object_and_keep_their_order() {
    let set = PeerSet::merge([
        def(node("node-a"), Some(0), "10.0.0.1", 65002),
        def(config(0), None, "10.0.0.1", 65000),
        def(config(1), None, "10.0.0.1", 65001),
    ]);
    assert_eq!(set.specs()[&BgpPeerKey(ip("10.0.0.1"))].asn, 65000);
    let ignored: Vec<String> = (set.conflicts().iter())
        .map(|PeerSetError::Conflict { ignored, .. }| ignored.to_string())
        .collect();
    assert_eq!(ignored, ["bgp.peers[1]", "Node node-a"]);
}

#[test]
fn definitions_from_the_config_keep_its_fields() {
    let mut peer = peer_config("192.0.2.1", 65100);
    peer.port = 1790;
    peer.hold_time = Duration::from_secs(30);
    peer.keepalive_time = Duration::from_secs(10);
    peer.passive = true;
    let defs = PeerDefinition::from_config(std::slice::from_ref(&peer));
    assert_eq!(defs.len(), 1);
    assert_eq!((defs[0].source.clone(), defs[0].since), (config(0), None));
    assert_eq!(defs[0].spec, PeerSpec::from(&peer));
    assert_eq!(
        defs[0].spec.local_address, None,
        "the session's own address"
    );
}
