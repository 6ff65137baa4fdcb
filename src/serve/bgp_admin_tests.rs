//! The query of `/bgp/routes`, and the answers without a speaker.

use super::*;

fn query(q: &str) -> Result<(Option<IpAddr>, bool), BgpRefusal> {
    routes_query(&format!("/bgp/routes{q}").parse::<Uri>().unwrap())
}

#[test]
fn the_routes_query_takes_a_peer_of_either_family_and_received() {
    assert_eq!(query("").unwrap(), (None, false));
    assert_eq!(
        query("?peer=10.0.0.1").unwrap(),
        (Some("10.0.0.1".parse().unwrap()), false)
    );
    assert_eq!(
        query("?peer=fd00::2&received=true").unwrap(),
        (Some("fd00::2".parse().unwrap()), true)
    );
    assert_eq!(
        query("?peer=fd00%3A%3A2").unwrap(),
        (Some("fd00::2".parse().unwrap()), false)
    );
}

#[test]
fn a_bad_query_is_a_400_naming_the_parameter_and_value() {
    for (q, says) in [
        ("?peer=10.0.0.300", "10.0.0.300"),
        ("?received=yes&peer=10.0.0.1", "yes"),
        ("?received=true", "needs a peer"),
        ("?prefix=10.0.0.0/8", "prefix"),
    ] {
        let refused = query(q).expect_err(q);
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(refused.doc.error, "bad-request", "{q}");
        assert!(
            refused.doc.message.contains(says),
            "{q}: {}",
            refused.doc.message
        );
    }
}

#[tokio::test]
async fn without_a_speaker_every_answer_is_503_and_says_why() {
    let disabled = BgpSource {
        slot: SpeakerSlot::new(),
        enabled: false,
    };
    let empty = BgpSource {
        slot: SpeakerSlot::new(),
        enabled: true,
    };
    for (source, error) in [(&disabled, "bgp-disabled"), (&empty, "bgp-not-running")] {
        let refused = source.peers_doc().await.expect_err(error);
        assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.doc.error, error);
        let refused = source.rib_doc().await.expect_err(error);
        assert_eq!(refused.doc.error, error);
        assert_eq!(source.sample().await, BgpSample::default());
    }
    assert_eq!(disabled.status().await, None);
    let status = empty.status().await.expect("enabled");
    assert!(!status.running && status.peers == 0);
}
