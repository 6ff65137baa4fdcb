use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use super::*;
use crate::model::config::PeerConfig;

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
    PeerSource::Node {
        name: name.into(),
        key: "kube-router.io/peers",
    }
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
fn across_kinds_only_the_session_identity_conflicts() {
    // A Service naming the global peer takes the defaults for the timers:
    // no conflict. A different ASN or password is one, never printing it.
    let mut global = def(config(0), None, "10.0.0.1", 65000);
    global.spec.hold_time = Duration::from_secs(30);
    global.spec.password = Some(PeerPassword("s3cret".into()));
    let key = ObjectKey::new("default", "web");
    let service = |asn: u32, pw: &str| PeerDefinition {
        source: PeerSource::Service { key: key.clone() },
        since: Some(SystemTime::UNIX_EPOCH),
        spec: PeerSpec {
            password: Some(PeerPassword(pw.into())),
            ..PeerSpec::new(ip("10.0.0.1"), asn)
        },
    };
    let set = PeerSet::merge([global.clone(), service(65000, "s3cret")]);
    assert!(set.conflicts().is_empty(), "{:?}", set.conflicts());
    assert_eq!(set.sources(&BgpPeerKey(ip("10.0.0.1"))).len(), 2);
    assert!(
        set.service_only().is_empty(),
        "the global peer is not service-only"
    );

    let set = PeerSet::merge([global, service(65009, "other")]);
    let text = set.conflicts()[0].to_string();
    assert_eq!(
        text,
        "BGP peer 10.0.0.1: Service default/web sets asn 65009, a different password, \
         bgp.peers[0] (older, in force) sets asn 65000, a different password; \
         Service default/web is ignored for this peer"
    );
    assert!(!text.contains("s3cret") && !text.contains("other"));
}

#[test]
fn peers_only_services_define_are_service_only() {
    let web = PeerSource::Service {
        key: ObjectKey::new("default", "web"),
    };
    let set = PeerSet::merge([
        def(web.clone(), Some(5), "10.0.0.2", 65002),
        def(
            PeerSource::Mesh { node: "n2".into() },
            Some(1),
            "10.0.0.3",
            64512,
        ),
        def(web, Some(5), "10.0.0.3", 64512),
    ]);
    assert_eq!(set.service_only(), [ip("10.0.0.2")].into());
    assert_eq!(
        set.sources(&BgpPeerKey(ip("10.0.0.3")))[0].to_string(),
        "Node n2 (iBGP mesh)"
    );
}
