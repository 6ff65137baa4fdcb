//! Attributes to the wire and back.

use netgauze_bgp_pkt::path_attribute::PathAttributeValue;

use super::*;

#[test]
fn large_communities_are_sent_as_one_attribute_and_read_back() {
    let mut attrs = PathAttrs::with_next_hop("192.0.2.1".parse().unwrap());
    attrs.as_path = vec![64512];
    attrs.communities = vec![65000 << 16 | 1];
    attrs.large_communities = vec![
        LargeCommunity(64512, 1, 2),
        LargeCommunity(4_200_000_000, 0, 7),
    ];
    let wire = to_wire(&attrs, true).unwrap();
    let large: Vec<&PathAttribute> = (wire.iter())
        .filter(|a| matches!(a.value(), PathAttributeValue::LargeCommunities(_)))
        .collect();
    assert_eq!(large.len(), 1, "{wire:?}");
    let back = from_wire(&wire, attrs.next_hop);
    assert_eq!(back.large_communities, attrs.large_communities);
    assert_eq!(back.communities, attrs.communities);

    attrs.large_communities.clear();
    let wire = to_wire(&attrs, true).unwrap();
    assert!(
        !(wire.iter()).any(|a| matches!(a.value(), PathAttributeValue::LargeCommunities(_))),
        "none: no attribute"
    );
}
