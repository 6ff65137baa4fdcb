//! The backend against a real in-process speaker on loopback: a peer
//! speaker (AS 65001 on 127.0.0.2, passive) driven by the test sees what
//! each applied plan does. The test thread plays the loop's blocking
//! thread: the runtime's own threads are never blocked.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::*;
use crate::bgp::attrs::PathAttrs;
use crate::bgp::fsm::{DownReason, State};
use crate::bgp::{OriginatedRoute, PeerSpec, PeerStatus, RouteAttrs};
use crate::host::linux::{LinuxHost, NftRunner};
use crate::host::{HostNetwork, nft};

const OUR_ASN: u32 = 64512;
const PEER_ASN: u32 = 65001;

fn ours() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

fn theirs() -> IpAddr {
    "127.0.0.2".parse().unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The test's peer: accepts our speaker (AS `our_asn`) on 127.0.0.2.
fn peer_speaker(rt: &tokio::runtime::Runtime, our_asn: u32) -> Speaker {
    let peer = rt
        .block_on(Speaker::start(SpeakerConfig {
            asn: PEER_ASN,
            router_id: Ipv4Addr::new(10, 0, 0, 2),
            listen: vec!["127.0.0.2:0".parse().unwrap()],
            graceful_restart: None,
            connect_retry: Duration::from_secs(1),
            wait_for_routes: false,
        }))
        .unwrap();
    accept_us(&peer, our_asn);
    peer
}

fn accept_us(peer: &Speaker, our_asn: u32) {
    let spec = PeerSpec {
        passive: true,
        ..PeerSpec::new(ours(), our_asn)
    };
    peer.handle().set_peer(spec).blocking().unwrap();
}

fn settings(asn: u32, listen: &str) -> BgpSpeakerSettings {
    BgpSpeakerSettings {
        asn,
        router_id: Ipv4Addr::new(10, 0, 0, 1),
        listen: vec![listen.parse().unwrap()],
        graceful_restart_time: None,
        cluster_id: None,
    }
}

/// Our spec of the test's peer.
fn peer_spec(peer: &Speaker) -> PeerSpec {
    PeerSpec {
        port: peer.listen_addrs()[0].port(),
        local_address: Some(ours()),
        ..PeerSpec::new(theirs(), PEER_ASN)
    }
}

fn route(prefix: &str) -> OriginatedRoute {
    OriginatedRoute {
        prefix: prefix.parse().unwrap(),
    }
}

fn community(value: u32) -> RouteAttrs {
    RouteAttrs {
        communities: vec![(OUR_ASN << 16) | value],
        ..RouteAttrs::default()
    }
}

/// Speaker, the test's peer and two routes, all created.
fn create_all(peer: &Speaker) -> HostPlan {
    let mut plan = HostPlan::default();
    plan.bgp_speaker
        .creates
        .insert(BgpSpeakerKey, settings(OUR_ASN, "127.0.0.1:0"));
    plan.bgp_peers
        .creates
        .insert(BgpPeerKey(theirs()), peer_spec(peer));
    plan.bgp
        .creates
        .insert(route("10.96.0.10/32"), RouteAttrs::default());
    plan.bgp
        .creates
        .insert(route("10.96.0.11/32"), community(7));
    plan
}

/// Polls until `check` holds (30 s at most, as the machine may be busy:
/// a bound, not a speed claim).
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..3000 {
        if let Some(v) = check() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}");
}

/// The peer's view of our session.
fn our_session(peer: &Speaker) -> Option<PeerStatus> {
    peer.handle().peers().blocking().unwrap().pop()
}

fn received(peer: &Speaker) -> BTreeMap<IpNet, PathAttrs> {
    let routes = peer.handle().peer_routes(ours()).blocking().unwrap();
    routes
        .map(|r| r.received)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// Waits until the peer holds exactly `prefixes` from us and has our
/// End-of-RIB; returns the UPDATEs it has received so far. The status and
/// the table are two requests: the count is taken only when it is the same
/// before and after the table was read (an UPDATE arriving in between
/// would otherwise be in the table and not in the count).
fn wait_for_table(peer: &Speaker, prefixes: &[&str]) -> u64 {
    let want: Vec<IpNet> = prefixes.iter().map(|p| p.parse().unwrap()).collect();
    wait_for("the peer to hold our table", || {
        let status = our_session(peer)?;
        let got: Vec<IpNet> = received(peer).into_keys().collect();
        let count = our_session(peer)?.updates_received;
        (status.state == State::Established
            && !status.end_of_rib_received.is_empty()
            && got == want
            && count == status.updates_received)
            .then_some(count)
    })
}

fn snapshot(backend: &mut BgpBackend) -> HostSnapshot {
    let mut snap = HostSnapshot::default();
    backend.snapshot_into(&mut snap).unwrap();
    snap
}

fn established(rt: &tokio::runtime::Runtime) -> (BgpBackend, Speaker, HostSnapshot) {
    let peer = peer_speaker(rt, OUR_ASN);
    let mut backend = BgpBackend::new(rt.handle().clone(), SpeakerSlot::new())
        .with_connect_retry(Duration::from_secs(1));
    let mut mirror = HostSnapshot::default();
    let refused = backend.apply(&create_all(&peer), &mut mirror).unwrap();
    assert!(refused.is_empty(), "{refused:?}");
    wait_for_table(&peer, &["10.96.0.10/32", "10.96.0.11/32"]);
    (backend, peer, mirror)
}

#[test]
fn apply_creates_speaker_peer_and_routes_and_the_snapshot_returns_them() {
    let rt = runtime();
    let (mut backend, peer, mirror) = established(&rt);
    assert!(backend.slot().current().is_some(), "the slot is set");
    let at_peer = received(&peer);
    let tagged = &at_peer[&"10.96.0.11/32".parse::<IpNet>().unwrap()];
    assert_eq!(tagged.as_path, vec![OUR_ASN]);
    assert_eq!(tagged.communities, vec![(OUR_ASN << 16) | 7]);
    assert_eq!(tagged.next_hop, ours());

    let snap = snapshot(&mut backend);
    let plan = create_all(&peer);
    assert_eq!(snap.bgp_speaker, plan.bgp_speaker.creates);
    assert_eq!(snap.bgp_peers, plan.bgp_peers.creates);
    assert_eq!(snap.bgp, plan.bgp.creates);
    assert_eq!(mirror.bgp, snap.bgp, "the mirror follows the apply");
    assert_eq!(mirror.bgp_peers, snap.bgp_peers);
    assert!(snap.nft.is_empty(), "the backend's parts only");
}

#[test]
fn a_route_plan_sends_exactly_its_change() {
    let rt = runtime();
    let (mut backend, peer, mut mirror) = established(&rt);
    let before = wait_for_table(&peer, &["10.96.0.10/32", "10.96.0.11/32"]);

    let mut plan = HostPlan::default();
    plan.bgp
        .updates
        .insert(route("10.96.0.10/32"), community(9));
    backend.apply(&plan, &mut mirror).unwrap();
    let key: IpNet = "10.96.0.10/32".parse().unwrap();
    wait_for("the changed communities at the peer", || {
        (received(&peer)[&key].communities == vec![(OUR_ASN << 16) | 9]).then_some(())
    });
    std::thread::sleep(Duration::from_millis(200));
    let status = our_session(&peer).unwrap();
    assert_eq!(status.updates_received, before + 1, "one UPDATE");
    assert_eq!(
        received(&peer)[&"10.96.0.11/32".parse::<IpNet>().unwrap()].communities,
        vec![(OUR_ASN << 16) | 7],
        "the other route is unchanged"
    );

    let mut plan = HostPlan::default();
    plan.bgp.deletes.insert(route("10.96.0.11/32"));
    backend.apply(&plan, &mut mirror).unwrap();
    let after = wait_for_table(&peer, &["10.96.0.10/32"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(after, before + 2, "one withdrawal");
    assert_eq!(
        our_session(&peer).unwrap().updates_received,
        after,
        "nothing else"
    );
    assert_eq!(snapshot(&mut backend).bgp, mirror.bgp);
    assert_eq!(mirror.bgp.len(), 1);
}

#[test]
fn an_asn_change_restarts_the_speaker_with_its_peers_and_routes() {
    let rt = runtime();
    let (mut backend, peer, mut mirror) = established(&rt);
    let old = backend.slot().current().unwrap();
    accept_us(&peer, 64999);

    let mut plan = HostPlan::default();
    plan.bgp_speaker
        .updates
        .insert(BgpSpeakerKey, settings(64999, "127.0.0.1:0"));
    assert!(backend.apply(&plan, &mut mirror).unwrap().is_empty());
    assert!(old.peers().blocking().is_err(), "the old speaker stopped");
    let new = backend.slot().current().expect("the slot has the new one");
    assert_eq!(new.peers().blocking().unwrap().len(), 1);

    wait_for("our routes with the new AS path", || {
        let r = received(&peer);
        (r.len() == 2 && r.values().all(|a| a.as_path == vec![64999])).then_some(())
    });
    let snap = snapshot(&mut backend);
    assert_eq!(snap.bgp_speaker[&BgpSpeakerKey].asn, 64999);
    assert_eq!(snap.bgp_peers, create_all(&peer).bgp_peers.creates);
    assert_eq!(snap.bgp, create_all(&peer).bgp.creates);
    assert_eq!(mirror.bgp_speaker, snap.bgp_speaker);
}

#[test]
fn a_delete_withdraws_closes_and_stops() {
    let rt = runtime();
    let (mut backend, peer, mut mirror) = established(&rt);
    let mut plan = HostPlan::default();
    plan.bgp_speaker.deletes.insert(BgpSpeakerKey);
    plan.bgp_peers.deletes.insert(BgpPeerKey(theirs()));
    plan.bgp.deletes.insert(route("10.96.0.10/32"));
    plan.bgp.deletes.insert(route("10.96.0.11/32"));
    assert!(backend.apply(&plan, &mut mirror).unwrap().is_empty());

    assert!(backend.slot().current().is_none(), "the slot is cleared");
    let snap = snapshot(&mut backend);
    assert!(snap.bgp_speaker.is_empty() && snap.bgp_peers.is_empty() && snap.bgp.is_empty());
    assert_eq!(mirror.bgp_speaker, snap.bgp_speaker);
    let down = wait_for("the peer to see the Cease", || {
        our_session(&peer)?.last_down
    });
    assert_eq!(
        down,
        DownReason::NotificationReceived(6, 2),
        "Cease / administrative shutdown"
    );
    assert!(received(&peer).is_empty(), "our routes are gone");
}

#[test]
fn a_taken_listen_address_is_refused_by_name_and_nftables_still_applies() {
    let rt = runtime();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("scripts");
    let nft = NftRunner::new(vec![
        "sh".into(),
        "-c".into(),
        format!("cat >> {}", log.display()),
    ]);
    let backend = BgpBackend::new(rt.handle().clone(), SpeakerSlot::new());
    let mut host = LinuxHost::with_kernel_release(nft, "6.6").with_bgp(backend);

    let mut plan = HostPlan::default();
    plan.bgp_speaker
        .creates
        .insert(BgpSpeakerKey, settings(OUR_ASN, &addr.to_string()));
    plan.bgp_peers
        .creates
        .insert(BgpPeerKey(theirs()), PeerSpec::new(theirs(), PEER_ASN));
    plan.bgp
        .creates
        .insert(route("10.96.0.10/32"), RouteAttrs::default());
    plan.nft.creates.insert(
        nft::NftKey::Table(crate::model::Family::Ip),
        nft::NftValue::Table,
    );
    let applied = host.apply(&plan).unwrap();

    assert_eq!(applied.refused.len(), 1);
    assert_eq!(applied.refused[0].facet, "bgp-speaker");
    let message = applied.refused[0].error.to_string();
    assert!(message.contains(&addr.to_string()), "{message}");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("add table ip kroute")
    );
    assert_eq!(host.mirror().nft.len(), 1, "nftables applied and mirrored");
    assert!(host.mirror().bgp_speaker.is_empty() && host.mirror().bgp.is_empty());
    let backend = host.bgp_mut().unwrap();
    assert!(backend.slot().current().is_none());
    assert!(snapshot(backend).bgp_peers.is_empty());

    // Once the address is free, the full sync's same plan starts it.
    drop(taken);
    plan.nft = Default::default();
    assert!(host.apply(&plan).unwrap().is_complete());
    assert_eq!(host.mirror().bgp.len(), 1);
    assert!(host.bgp().unwrap().slot().current().is_some());
}

#[test]
fn peers_or_routes_without_a_speaker_are_a_planner_error() {
    let rt = runtime();
    let mut backend = BgpBackend::new(rt.handle().clone(), SpeakerSlot::new());
    let mut plan = HostPlan::default();
    plan.bgp
        .creates
        .insert(route("10.96.0.10/32"), RouteAttrs::default());
    let err = backend
        .apply(&plan, &mut HostSnapshot::default())
        .unwrap_err();
    assert!(matches!(err, HostError::InvalidPlan { .. }), "{err}");
    // Deletes of what a stopped speaker had are moot.
    let mut plan = HostPlan::default();
    plan.bgp.deletes.insert(route("10.96.0.10/32"));
    assert!(
        backend
            .apply(&plan, &mut HostSnapshot::default())
            .unwrap()
            .is_empty()
    );
}

/// `settings` with graceful restart (restart time 90 s).
fn graceful(mut settings: BgpSpeakerSettings) -> BgpSpeakerSettings {
    settings.graceful_restart_time = Some(90);
    settings
}

/// Our OPEN's graceful restart capability, as the peer saw it.
fn our_graceful_restart(peer: &Speaker) -> Option<crate::bgp::open::PeerGracefulRestart> {
    our_session(peer)
        .and_then(|s| s.negotiated)
        .and_then(|n| n.peer_graceful_restart)
}

/// The peer's session with us is up; waits a little longer, then says
/// whether it has had any UPDATE from us (a route or an End-of-RIB).
fn up_and_silent(peer: &Speaker) -> bool {
    wait_for("the session", || {
        our_session(peer).filter(|s| s.state == State::Established)
    });
    std::thread::sleep(Duration::from_millis(300));
    let status = our_session(peer).unwrap();
    status.updates_received == 0 && status.routes_received == 0
}

#[test]
fn after_a_graceful_stop_the_table_waits_for_the_first_synced_full_sync() {
    let rt = runtime();
    let peer = peer_speaker(&rt, OUR_ASN);
    let mut backend = BgpBackend::new(rt.handle().clone(), SpeakerSlot::new())
        .with_connect_retry(Duration::from_secs(1))
        .after_graceful_stop(true);
    let mut mirror = HostSnapshot::default();
    // The first syncs come from a partial view: one route of two.
    let mut plan = create_all(&peer);
    plan.bgp.creates.remove(&route("10.96.0.11/32"));
    (plan.bgp_speaker.creates.values_mut()).for_each(|s| s.graceful_restart_time = Some(90));
    assert!(backend.apply(&plan, &mut mirror).unwrap().is_empty());
    assert!(
        up_and_silent(&peer),
        "no table, no End-of-RIB from a partial view"
    );
    assert_eq!(
        our_graceful_restart(&peer),
        Some(crate::bgp::open::PeerGracefulRestart {
            restart_time: 90,
            restarting: true
        }),
        "our OPEN has the Restart State bit"
    );
    let mut more = HostPlan::default();
    more.bgp
        .updates
        .insert(route("10.96.0.10/32"), community(3));
    backend.apply(&more, &mut mirror).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        our_session(&peer).unwrap().updates_received,
        0,
        "still held"
    );

    // The view is synced: its full sync brings the rest, then the table goes.
    let mut rest = HostPlan::default();
    rest.bgp
        .creates
        .insert(route("10.96.0.11/32"), community(7));
    backend.apply(&rest, &mut mirror).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(our_session(&peer).unwrap().updates_received, 0);
    backend.synced_view_applied();
    wait_for_table(&peer, &["10.96.0.10/32", "10.96.0.11/32"]);
    let at_peer = received(&peer);
    assert_eq!(
        at_peer[&"10.96.0.10/32".parse::<IpNet>().unwrap()].communities,
        vec![(OUR_ASN << 16) | 3]
    );
    assert_eq!(snapshot(&mut backend).bgp, mirror.bgp);
}

#[test]
fn with_graceful_restart_a_settings_change_restarts_without_notification() {
    let rt = runtime();
    let peer = peer_speaker(&rt, OUR_ASN);
    let mut backend = BgpBackend::new(rt.handle().clone(), SpeakerSlot::new())
        .with_connect_retry(Duration::from_secs(1));
    let mut mirror = HostSnapshot::default();
    let mut plan = create_all(&peer);
    (plan.bgp_speaker.creates.values_mut()).for_each(|s| s.graceful_restart_time = Some(90));
    backend.apply(&plan, &mut mirror).unwrap();
    wait_for_table(&peer, &["10.96.0.10/32", "10.96.0.11/32"]);
    backend.synced_view_applied();
    assert_eq!(
        our_graceful_restart(&peer).map(|g| g.restarting),
        Some(false)
    );

    // A new router ID and a new route in the same plan.
    let mut change = HostPlan::default();
    let mut new = graceful(settings(OUR_ASN, "127.0.0.1:0"));
    new.router_id = Ipv4Addr::new(10, 0, 0, 9);
    change.bgp_speaker.updates.insert(BgpSpeakerKey, new);
    change
        .bgp
        .creates
        .insert(route("10.96.0.12/32"), community(8));
    assert!(backend.apply(&change, &mut mirror).unwrap().is_empty());

    let down = wait_for("the old session to go down", || {
        our_session(&peer)?.last_down
    });
    assert_eq!(down, DownReason::ConnectionClosed, "no NOTIFICATION");
    let table = ["10.96.0.10/32", "10.96.0.11/32", "10.96.0.12/32"];
    wait_for_table(&peer, &table);
    let status = our_session(&peer).unwrap();
    let negotiated = status.negotiated.unwrap();
    assert_eq!(negotiated.peer_id, Ipv4Addr::new(10, 0, 0, 9));
    assert_eq!(
        negotiated.peer_graceful_restart.map(|g| g.restarting),
        Some(true),
        "the new OPEN has the Restart State bit"
    );
    assert_eq!(snapshot(&mut backend).bgp.len(), 3);
    assert_eq!(mirror.bgp_speaker, snapshot(&mut backend).bgp_speaker);
}

#[test]
fn without_graceful_restart_a_settings_change_closes_with_a_cease() {
    let rt = runtime();
    let (mut backend, peer, mut mirror) = established(&rt);
    let mut change = HostPlan::default();
    let mut new = settings(OUR_ASN, "127.0.0.1:0");
    new.router_id = Ipv4Addr::new(10, 0, 0, 9);
    change.bgp_speaker.updates.insert(BgpSpeakerKey, new);
    backend.apply(&change, &mut mirror).unwrap();
    let down = wait_for("the old session to go down", || {
        our_session(&peer)?.last_down
    });
    assert_eq!(down, DownReason::NotificationReceived(6, 2));
    wait_for_table(&peer, &["10.96.0.10/32", "10.96.0.11/32"]);
}

#[test]
fn on_a_current_thread_runtime_from_the_loops_blocking_task() {
    // As in `kroute run`: one runtime thread, the host on a blocking task.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let peer_rt = runtime();
    let peer = peer_speaker(&peer_rt, OUR_ASN);
    let plan = create_all(&peer);
    let backend = BgpBackend::new(rt.handle().clone(), SpeakerSlot::new())
        .with_connect_retry(Duration::from_secs(1));
    let (prefixes, slot_after_delete) = rt.block_on(async move {
        tokio::task::spawn_blocking(move || {
            let mut backend = backend;
            let mut mirror = HostSnapshot::default();
            assert!(backend.apply(&plan, &mut mirror).unwrap().is_empty());
            wait_for_table(&peer, &["10.96.0.10/32", "10.96.0.11/32"]);
            let prefixes: Vec<String> = snapshot(&mut backend)
                .bgp
                .keys()
                .map(|r| r.prefix.to_string())
                .collect();
            let mut delete = HostPlan::default();
            delete.bgp_speaker.deletes.insert(BgpSpeakerKey);
            backend.apply(&delete, &mut mirror).unwrap();
            (prefixes, backend.slot().current().is_some())
        })
        .await
        .unwrap()
    });
    assert_eq!(prefixes, ["10.96.0.10/32", "10.96.0.11/32"]);
    assert!(!slot_after_delete);
}
