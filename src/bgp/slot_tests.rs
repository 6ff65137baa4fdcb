use super::*;
use crate::bgp::{Speaker, SpeakerConfig};

#[tokio::test]
async fn a_clone_sees_the_handle_set_and_cleared() {
    let slot = SpeakerSlot::new();
    let reader = slot.clone();
    assert!(reader.current().is_none());
    let config = SpeakerConfig {
        asn: 65001,
        router_id: "192.0.2.1".parse().unwrap(),
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        graceful_restart: None,
        connect_retry: std::time::Duration::from_secs(1),
        wait_for_routes: false,
    };
    let speaker = Speaker::start(config).await.unwrap();
    slot.set(Some(speaker.handle()));
    let handle = reader.current().expect("set through another clone");
    assert!(handle.peers().await.unwrap().is_empty());
    slot.set(None);
    assert!(reader.current().is_none());
    speaker.shutdown(false).await.unwrap();
}
