use super::*;
use crate::bgp::attrs::Origin;

fn path(hop: &str, f: impl FnOnce(&mut PathAttrs), ibgp: bool) -> Path {
    let mut a = PathAttrs::with_next_hop(hop.parse().unwrap());
    a.as_path = vec![65001];
    f(&mut a);
    Path {
        attrs: Arc::new(a),
        ibgp,
    }
}

fn hops(peers: &PeerPaths, prefix: &str) -> Vec<String> {
    let sel = select(peers);
    let p: IpNet = prefix.parse().unwrap();
    sel.routes[&p].iter().map(|h| h.to_string()).collect()
}

fn two(a: Path, b: Path) -> PeerPaths {
    let p: IpNet = "10.20.0.0/24".parse().unwrap();
    let mut m = PeerPaths::new();
    m.entry("192.0.2.1".parse().unwrap())
        .or_default()
        .insert(p, a);
    m.entry("192.0.2.2".parse().unwrap())
        .or_default()
        .insert(p, b);
    m
}

const P: &str = "10.20.0.0/24";

#[test]
fn equal_paths_keep_both_next_hops() {
    let m = two(
        path("192.0.2.1", |_| {}, false),
        path("192.0.2.2", |_| {}, false),
    );
    assert_eq!(hops(&m, P), ["192.0.2.1", "192.0.2.2"]);
}

#[test]
fn selection_order() {
    let cases: Vec<(Path, Path)> = vec![
        // LOCAL_PREF: higher wins, absent is 100.
        (
            path("192.0.2.1", |a| a.local_pref = Some(200), true),
            path("192.0.2.2", |_| {}, true),
        ),
        // AS_PATH: shorter wins.
        (
            path("192.0.2.1", |_| {}, false),
            path("192.0.2.2", |a| a.as_path = vec![65002, 65003], false),
        ),
        // ORIGIN: IGP over incomplete.
        (
            path("192.0.2.1", |_| {}, false),
            path("192.0.2.2", |a| a.origin = Origin::Incomplete, false),
        ),
        // MED from the same neighbour AS: lower wins.
        (
            path("192.0.2.1", |a| a.med = Some(5), false),
            path("192.0.2.2", |a| a.med = Some(10), false),
        ),
        // eBGP over iBGP.
        (
            path("192.0.2.1", |_| {}, false),
            path("192.0.2.2", |a| a.local_pref = Some(100), true),
        ),
    ];
    for (i, (winner, loser)) in cases.into_iter().enumerate() {
        let m = two(winner.clone(), loser.clone());
        assert_eq!(hops(&m, P), ["192.0.2.1"], "case {i}");
        // From the other peer, the same path still wins.
        let m = two(loser, winner);
        assert_eq!(hops(&m, P), ["192.0.2.1"], "case {i} swapped");
    }
}

#[test]
fn med_is_not_compared_across_neighbour_ases() {
    let m = two(
        path("192.0.2.1", |a| a.med = Some(5), false),
        path(
            "192.0.2.2",
            |a| {
                a.med = Some(10);
                a.as_path = vec![65009];
            },
            false,
        ),
    );
    assert_eq!(hops(&m, P), ["192.0.2.1", "192.0.2.2"]);
}

#[test]
fn nothing_received_selects_nothing() {
    assert!(select(&PeerPaths::new()).is_empty());
}
