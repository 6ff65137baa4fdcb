//! The TTLs a peer's sockets get, and which spec changes need new sockets.

use super::*;
use crate::host::bgp::PeerPassword;

fn peer() -> PeerSpec {
    PeerSpec::new("192.0.2.1".parse().unwrap(), 65001)
}

#[test]
fn ttl_is_one_for_ebgp_255_for_ibgp_and_multihop_when_set() {
    let p = peer();
    assert_eq!(p.ttl(false), 1);
    assert_eq!(p.ttl(true), 255);
    assert_eq!(p.min_ttl(), None);
    let multihop = PeerSpec {
        multihop_ttl: Some(3),
        ..peer()
    };
    assert_eq!(multihop.ttl(false), 3);
    assert_eq!(multihop.ttl(true), 3);
}

#[test]
fn gtsm_sends_255_and_accepts_only_within_the_hops() {
    let direct = PeerSpec {
        gtsm: true,
        ..peer()
    };
    assert_eq!((direct.ttl(false), direct.min_ttl()), (255, Some(255)));
    let two_hops = PeerSpec {
        multihop_ttl: Some(2),
        ..direct.clone()
    };
    assert_eq!((two_hops.ttl(false), two_hops.min_ttl()), (255, Some(254)));
    let far = PeerSpec {
        multihop_ttl: Some(255),
        ..direct
    };
    assert_eq!(far.min_ttl(), Some(1));
}

#[test]
fn password_ttl_gtsm_source_and_port_changes_need_new_sockets() {
    let old = peer();
    assert!(!peer().transport_changed(&old));
    let timers = PeerSpec {
        hold_time: std::time::Duration::from_secs(9),
        ..peer()
    };
    assert!(
        !timers.transport_changed(&old),
        "timers: the session's own reset"
    );
    let changes = [
        PeerSpec {
            password: Some(PeerPassword("s".into())),
            ..peer()
        },
        PeerSpec {
            multihop_ttl: Some(2),
            ..peer()
        },
        PeerSpec {
            gtsm: true,
            ..peer()
        },
        PeerSpec {
            local_address: Some("192.0.2.2".parse().unwrap()),
            ..peer()
        },
        PeerSpec {
            port: 1179,
            ..peer()
        },
    ];
    for new in changes {
        assert!(new.transport_changed(&old), "{new:?}");
    }
}
