//! Byte-level tests of the ctnetlink messages: requests against bytes
//! written out from the uapi headers, replies from real kernel captures
//! (`testdata/capture_conntrack.sh`).

use proptest::prelude::*;

use super::*;

/// The `recv()`s of a fixture: one hex line each, after `#` comments.
fn fixture(text: &str) -> Vec<Vec<u8>> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| unhex(l.trim()))
        .collect()
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const DUMP_IP_ALL: &str = include_str!("testdata/conntrack_dump_ip_all.hex");
const DUMP_IP6_UDP: &str = include_str!("testdata/conntrack_dump_ip6_udp.hex");
const DELETE_ACK: &str = include_str!("testdata/conntrack_delete_ack.hex");
const DELETE_ENOENT: &str = include_str!("testdata/conntrack_delete_enoent.hex");

fn entries(text: &str) -> Vec<CtEntry> {
    fixture(text)
        .iter()
        .flat_map(|buf| parse_replies(buf).messages)
        .filter_map(|m| match m {
            Reply::Entry(e) => Some(e.expect("every captured entry decodes")),
            _ => None,
        })
        .collect()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn the_dump_request_asks_for_one_familys_udp_entries() {
    let expected = unhex(concat!(
        "30000000 0101 0103 07000000 00000000", // nlmsghdr: CT_GET, REQUEST|DUMP, seq 7
        "02 00 0000",                           // nfgenmsg: AF_INET, v0, res_id 0
        "10000180 0c000280 05000100 11000000", // CTA_TUPLE_ORIG { CTA_TUPLE_PROTO { CTA_PROTO_NUM 17 } }
        "0c001980 08000100 08000000",          // CTA_FILTER { ORIG_FLAGS = PROTO_NUM (host order) }
    ));
    assert_eq!(dump_request(Family::Ip, 7), expected);
    let v6 = dump_request(Family::Ip6, 7);
    assert_eq!(v6[16], 10, "AF_INET6");
    assert_eq!(v6[..16], expected[..16]);
    assert_eq!(v6[17..], expected[17..]);
}

#[test]
fn the_unfiltered_dump_is_what_the_conntrack_tool_sends() {
    // `conntrack -L -f ipv4` (strace): 20 bytes, no attribute.
    assert_eq!(
        dump_request_unfiltered(Family::Ip, 1),
        unhex("14000000 0101 0103 01000000 00000000 02000000")
    );
}

#[test]
fn a_captured_ipv4_dump_decodes_its_udp_entries_and_skips_the_others() {
    let all = entries(DUMP_IP_ALL);
    assert_eq!(all.len(), 5, "{all:#?}");
    let udp: Vec<UdpFlow> = all.iter().filter_map(CtEntry::udp_flow).collect();
    assert_eq!(udp.len(), 3, "TCP and ICMP entries are no UDP flows");
    let dnat = UdpFlow {
        orig_src: sa("10.244.1.11:40000"),
        orig_dst: sa("10.96.0.10:53"),
        reply_src: sa("10.244.1.11:5353"),
        reply_dst: sa("10.244.1.11:40000"),
    };
    assert!(udp.contains(&dnat), "{udp:#?}");
    let zoned = all
        .iter()
        .find(|e| e.orig.src_port == 40002)
        .expect("the zone-7 flow");
    assert_eq!(zoned.zone, Some(7));
    assert_eq!(zoned.reply.src_port, 5353);
    let plain = all
        .iter()
        .find(|e| e.orig.src_port == 40003)
        .expect("the flow that is not NATed");
    assert_eq!(plain.reply.src, plain.orig.dst);
    assert!(all.iter().all(|e| e.family == Family::Ip && e.id.is_some()));
    assert!(
        all.iter()
            .filter(|e| e.orig.src_port != 40002)
            .all(|e| e.zone.is_none())
    );

    let last = fixture(DUMP_IP_ALL).pop().unwrap();
    let end = parse_replies(&last);
    assert!(matches!(end.messages[..], [Reply::Done]), "{end:?}");
    assert!(!end.interrupted && !end.truncated);
}

#[test]
fn a_captured_filtered_ipv6_dump_holds_the_dnated_udp_flow() {
    let all = entries(DUMP_IP6_UDP);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].family, Family::Ip6);
    assert_eq!(
        all[0].udp_flow(),
        Some(UdpFlow {
            orig_src: sa("[fd00:244:1::11]:40001"),
            orig_dst: sa("[fd00:96::10]:53"),
            reply_src: sa("[fd00:244:1::11]:5353"),
            reply_dst: sa("[fd00:244:1::11]:40001"),
        })
    );
}

#[test]
fn a_delete_echoes_the_original_tuple_and_names_the_entry() {
    let all = entries(DUMP_IP_ALL);
    let dnat = all.iter().find(|e| e.orig.src_port == 40000).unwrap();
    let id = dnat.id.unwrap().to_be_bytes();
    let mut expected = unhex(concat!(
        "50000000 0201 0500 09000000 00000000", // nlmsghdr: CT_DELETE, REQUEST|ACK, seq 9
        "02 00 0000",                           // nfgenmsg: AF_INET
        "34000180",                             // CTA_TUPLE_ORIG
        "14000180 08000100 0af4010b 08000200 0a60000a", // CTA_TUPLE_IP { src 10.244.1.11, dst 10.96.0.10 }
        "1c000280 05000100 11000000 06000200 9c400000 06000300 00350000", // PROTO { 17, 40000, 53 }
        "08000c00",                                     // CTA_ID (big endian)
    ));
    expected.extend(id);
    assert_eq!(delete_request(dnat, 9), expected);

    let zoned = all.iter().find(|e| e.zone == Some(7)).unwrap();
    let bytes = delete_request(zoned, 10);
    let zone = unhex("06001200 00070000");
    assert!(
        bytes.windows(zone.len()).any(|w| w == zone),
        "CTA_ZONE 7 in {bytes:02x?}"
    );
}

#[test]
fn a_delete_reply_is_an_ack_or_an_errno() {
    let ack = parse_replies(&fixture(DELETE_ACK)[0]);
    assert!(matches!(ack.messages[..], [Reply::Ack { .. }]), "{ack:?}");
    let gone = parse_replies(&fixture(DELETE_ENOENT)[0]);
    assert!(
        matches!(gone.messages[..], [Reply::Error { errno: 2, .. }]),
        "ENOENT: {gone:?}"
    );
}

#[test]
fn sequence_numbers_come_back_with_acks() {
    let mut ack = fixture(DELETE_ACK).remove(0);
    ack[8..12].copy_from_slice(&77u32.to_ne_bytes());
    assert!(matches!(
        parse_replies(&ack).messages[..],
        [Reply::Ack { seq: 77 }]
    ));
}

/// An attribute: little-endian header, value, padding.
fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut out = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
    out.extend(kind.to_ne_bytes());
    out.extend(value);
    out.resize(out.len().next_multiple_of(4), 0);
    out
}

/// A dump message (`CT_NEW`, AF_INET) holding `attrs`.
fn entry_message(attrs: &[u8]) -> Vec<u8> {
    let mut out = ((20 + attrs.len()) as u32).to_ne_bytes().to_vec();
    out.extend(0x0100u16.to_ne_bytes());
    out.extend(0x0002u16.to_ne_bytes());
    out.extend([0; 8]);
    out.extend([2, 0, 0, 0]);
    out.extend(attrs);
    out
}

fn tuple(kind: u16, src: [u8; 4], dst: [u8; 4], ports: (u16, u16), extra: &[u8]) -> Vec<u8> {
    let mut ip = attr(1, &src);
    ip.extend(attr(2, &dst));
    ip.extend(attr(9, &[1, 2, 3])); // unknown CTA_IP_* attribute
    let mut proto = attr(1, &[17]);
    proto.extend(attr(2, &ports.0.to_be_bytes()));
    proto.extend(attr(3, &ports.1.to_be_bytes()));
    proto.extend(attr(14, &[0xff; 6])); // unknown CTA_PROTO_* attribute
    let mut inner = attr(1 | NLA_F_NESTED, &ip);
    inner.extend(attr(2 | NLA_F_NESTED, &proto));
    inner.extend(attr(3, &[0, 0])); // CTA_TUPLE_ZONE
    inner.extend(extra);
    attr(kind | NLA_F_NESTED, &inner)
}

#[test]
fn unknown_attributes_anywhere_are_skipped() {
    let mut attrs = tuple(
        1,
        [10, 0, 0, 1],
        [10, 96, 0, 10],
        (1000, 53),
        &attr(42, b"?"),
    );
    attrs.extend(tuple(2, [10, 0, 0, 9], [10, 0, 0, 1], (5353, 1000), &[]));
    attrs.extend(attr(0x7ff, &[0xde, 0xad]));
    attrs.extend(attr(4 | NLA_F_NESTED, &attr(1, &[0xff; 3]))); // CTA_PROTOINFO, garbage inside
    let msg = entry_message(&attrs);
    let replies = parse_replies(&msg);
    let [Reply::Entry(Ok(entry))] = &replies.messages[..] else {
        panic!("{replies:?}");
    };
    assert_eq!(
        entry.udp_flow().unwrap().reply_src,
        sa("10.0.0.9:5353"),
        "{entry:?}"
    );
    // The delete echoes the unknown parts of the tuple as they came.
    let delete = delete_request(entry, 1);
    assert!(delete.windows(8).any(|w| w == attr(42, b"?").as_slice()));
}

#[test]
fn an_entry_without_its_reply_tuple_or_with_a_bad_address_is_an_error() {
    let orig = tuple(1, [10, 0, 0, 1], [10, 96, 0, 10], (1000, 53), &[]);
    let replies = parse_replies(&entry_message(&orig));
    assert!(matches!(
        replies.messages[..],
        [Reply::Entry(Err(CtMessageError::Missing(
            "CTA_TUPLE_REPLY"
        )))]
    ));

    let bad_ip = attr(
        1 | NLA_F_NESTED,
        &attr(1 | NLA_F_NESTED, &attr(1, &[10, 0, 0])),
    );
    let replies = parse_replies(&entry_message(&bad_ip));
    assert!(
        matches!(replies.messages[..], [Reply::Entry(Err(_))]),
        "{replies:?}"
    );
}

#[test]
fn a_message_cut_short_ends_the_buffer_and_is_reported() {
    let whole = fixture(DUMP_IP_ALL).remove(0);
    let cut = &whole[..whole.len() - 10];
    let replies = parse_replies(cut);
    assert!(replies.truncated);
    assert_eq!(replies.messages.len(), 4, "the whole messages before it");
}

#[test]
fn the_dump_interrupted_flag_is_reported() {
    let mut buf = fixture(DUMP_IP6_UDP).remove(0);
    let flags = u16::from_ne_bytes([buf[6], buf[7]]) | NLM_F_DUMP_INTR;
    buf[6..8].copy_from_slice(&flags.to_ne_bytes());
    assert!(parse_replies(&buf).interrupted);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_replies(&bytes);
    }

    #[test]
    fn a_corrupted_capture_never_panics(
        at in 0usize..900,
        value in any::<u8>(),
        cut in 0usize..900,
    ) {
        let mut buf = fixture(DUMP_IP_ALL).remove(0);
        let n = buf.len();
        buf[at % n] = value;
        buf.truncate(n - cut % n);
        for m in parse_replies(&buf).messages {
            if let Reply::Entry(Ok(e)) = m {
                let _ = delete_request(&e, 1);
            }
        }
    }
}
