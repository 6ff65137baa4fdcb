//! ctnetlink messages, without I/O: the dump request for one family's UDP
//! entries, the delete of one entry, and the decoding of what the kernel
//! sends back (entries, acks, errors, the end of a dump).
//!
//! Built on `netlink-packet-netfilter`'s conntrack types (the tuple
//! attributes, `IPCTNL_MSG_CT_GET` / `_DELETE`); what it does not model
//! (`CTA_FILTER`, `CTA_ZONE`, `CTA_ID`) is built here as plain attributes.
//! Decoding reads only the attributes kroute needs and skips every other
//! one, known or not, so a kernel that adds attributes changes nothing; an
//! entry that cannot be decoded is reported as such, never a panic.

use std::net::{IpAddr, SocketAddr};

use netlink_packet_core::{
    DefaultNla, Emitable, ErrorBuffer, NLA_F_NESTED, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR,
    NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NetlinkBuffer, NetlinkHeader, NetlinkMessage,
    NetlinkPayload, Nla, NlaBuffer, NlasIterator, Parseable, parse_u16_be, parse_u32_be,
};
use netlink_packet_netfilter::conntrack::{
    ConntrackAttribute, ConntrackMessage, IPTuple, ProtoTuple, Protocol, Tuple,
};
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
    NetfilterSubsystem,
};

use crate::host::conntrack::UdpFlow;
use crate::model::Family;

/// `NFNL_SUBSYS_CTNETLINK`, the high byte of every ctnetlink message type.
const SUBSYS_CTNETLINK: u16 = 1;
/// `IPCTNL_MSG_CT_NEW`: the type of every entry a dump returns.
const MSG_CT_NEW: u16 = 0;
/// `CTA_TUPLE_ORIG`, `CTA_TUPLE_REPLY`, `CTA_ID`, `CTA_ZONE`, `CTA_FILTER`.
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_ID: u16 = 12;
const CTA_ZONE: u16 = 18;
const CTA_FILTER: u16 = 25;
/// `CTA_FILTER_ORIG_FLAGS` and its `CTA_FILTER_FLAG_CTA_PROTO_NUM` bit.
const CTA_FILTER_ORIG_FLAGS: u16 = 1;
const CTA_FILTER_FLAG_CTA_PROTO_NUM: u32 = 1 << 3;
const IPPROTO_UDP: u8 = 17;
/// `EPROTO`, for an error message too short to carry its code.
const EPROTO: i32 = 71;

/// Why a message from the kernel could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum CtMessageError {
    /// The bytes are not a well-formed netlink message or attribute.
    #[error("malformed ctnetlink message: {0}")]
    Malformed(String),
    /// An entry lacks an attribute kroute needs.
    #[error("conntrack entry without {0}")]
    Missing(&'static str),
}

impl From<netlink_packet_core::DecodeError> for CtMessageError {
    fn from(e: netlink_packet_core::DecodeError) -> Self {
        CtMessageError::Malformed(e.to_string())
    }
}

/// One direction of an entry: addresses, protocol and ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtTuple {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    /// Ports (0 for protocols without them).
    pub src_port: u16,
    pub dst_port: u16,
    /// The attributes as the kernel sent them, echoed back by a delete (so
    /// a tuple zone or anything else in it is kept as it was).
    raw: Vec<Tuple>,
}

/// One conntrack entry from a dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtEntry {
    pub family: Family,
    pub orig: CtTuple,
    pub reply: CtTuple,
    /// `CTA_ZONE`, when the entry is in a zone other than 0.
    pub zone: Option<u16>,
    /// `CTA_ID`: a delete naming it removes only this very entry, not a
    /// new one made with the same tuple since the dump.
    pub id: Option<u32>,
}

impl CtEntry {
    /// The entry as a UDP flow (`None` for any other protocol).
    pub fn udp_flow(&self) -> Option<UdpFlow> {
        (self.orig.proto == IPPROTO_UDP).then(|| UdpFlow {
            orig_src: SocketAddr::new(self.orig.src, self.orig.src_port),
            orig_dst: SocketAddr::new(self.orig.dst, self.orig.dst_port),
            reply_src: SocketAddr::new(self.reply.src, self.reply.src_port),
            reply_dst: SocketAddr::new(self.reply.dst, self.reply.dst_port),
        })
    }
}

/// One message the kernel sent.
#[derive(Debug)]
pub enum Reply {
    /// An entry of a dump (or why it could not be decoded).
    Entry(Result<CtEntry, CtMessageError>),
    /// The end of a dump (`NLMSG_DONE`).
    Done,
    /// `NLMSG_ERROR` with code 0: the request `seq` succeeded.
    Ack { seq: u32 },
    /// `NLMSG_ERROR`: the request `seq` failed with this errno (positive).
    Error { seq: u32, errno: i32 },
    /// Anything else (ignored).
    Other { message_type: u16 },
}

/// The messages of one `recv()`, and whether the kernel flagged the dump
/// as inconsistent (`NLM_F_DUMP_INTR`: the table changed during it).
#[derive(Debug, Default)]
pub struct Replies {
    pub messages: Vec<Reply>,
    pub interrupted: bool,
    /// Trailing bytes that were not a whole message (the rest is dropped).
    pub truncated: bool,
}

/// `IPCTNL_MSG_CT_GET` dump of `family`'s UDP entries. The kernel filters
/// by family always, and by protocol when it knows `CTA_FILTER` (5.9+;
/// older ones ignore it, and the caller checks the protocol anyway).
pub fn dump_request(family: Family, seq: u32) -> Vec<u8> {
    let udp_only = vec![
        ConntrackAttribute::CtaTupleOrig(vec![Tuple::Proto(vec![ProtoTuple::Protocol(
            Protocol::Udp,
        )])]),
        nested(CTA_FILTER, &[&FilterFlags(CTA_FILTER_FLAG_CTA_PROTO_NUM)]),
    ];
    serialize(
        family,
        ConntrackMessage::Get(udp_only),
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
    )
}

/// A dump of `family` without the protocol filter, for a kernel that
/// refuses `CTA_FILTER`.
pub fn dump_request_unfiltered(family: Family, seq: u32) -> Vec<u8> {
    serialize(
        family,
        ConntrackMessage::Get(Vec::new()),
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
    )
}

/// `IPCTNL_MSG_CT_DELETE` of `entry`, acknowledged: its original tuple as
/// the kernel sent it, its zone and its id.
pub fn delete_request(entry: &CtEntry, seq: u32) -> Vec<u8> {
    let mut attrs = vec![ConntrackAttribute::CtaTupleOrig(entry.orig.raw.clone())];
    if let Some(zone) = entry.zone {
        attrs.push(ConntrackAttribute::Other(DefaultNla::new(
            CTA_ZONE,
            zone.to_be_bytes().to_vec(),
        )));
    }
    if let Some(id) = entry.id {
        attrs.push(ConntrackAttribute::Other(DefaultNla::new(
            CTA_ID,
            id.to_be_bytes().to_vec(),
        )));
    }
    serialize(
        entry.family,
        ConntrackMessage::Delete(attrs),
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
    )
}

fn serialize(family: Family, message: ConntrackMessage, flags: u16, seq: u32) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let nf_family = match family {
        Family::Ip => NetfilterProtoFamily::IPv4,
        Family::Ip6 => NetfilterProtoFamily::IPv6,
    };
    let attributes = match &message {
        ConntrackMessage::New(a) | ConntrackMessage::Get(a) | ConntrackMessage::Delete(a) => {
            a.iter().map(flagged).collect()
        }
        _ => Vec::new(),
    };
    // Sent as plain attributes: the crate emits an `Other` conntrack
    // attribute without `NLA_F_NESTED`, and the kernel parses `CTA_FILTER`
    // strictly (`nla_parse_nested`: EINVAL without the flag).
    let inner = NetfilterMessageInner::Other {
        subsys: NetfilterSubsystem::Conntrack,
        message_type: message.message_type().into(),
        attributes,
    };
    let mut packet = NetlinkMessage::new(
        header,
        NetlinkPayload::from(NetfilterMessage::new(
            NetfilterHeader::new(nf_family, 0, 0),
            inner,
        )),
    );
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    buf
}

/// `attr` as a plain attribute whose kind carries `NLA_F_NESTED` when it
/// is nested (a typed one, or an `Other` built with the flag).
fn flagged(attr: &ConntrackAttribute) -> DefaultNla {
    let mut value = vec![0; attr.value_len()];
    attr.emit_value(&mut value);
    let nested = attr.is_nested() || attr.kind() & NLA_F_NESTED != 0;
    let flag = if nested { NLA_F_NESTED } else { 0 };
    DefaultNla::new(attr.kind() | flag, value)
}

/// `CTA_FILTER_ORIG_FLAGS`: a u32 in host byte order (`nla_get_u32`).
struct FilterFlags(u32);

impl Nla for FilterFlags {
    fn value_len(&self) -> usize {
        4
    }
    fn kind(&self) -> u16 {
        CTA_FILTER_ORIG_FLAGS
    }
    fn emit_value(&self, buffer: &mut [u8]) {
        buffer[..4].copy_from_slice(&self.0.to_ne_bytes());
    }
}

/// A nested attribute of `kind` holding `children`, as a conntrack attribute.
fn nested(kind: u16, children: &[&dyn NlaEmit]) -> ConntrackAttribute {
    let len = children.iter().map(|c| c.len()).sum();
    let mut value = vec![0; len];
    let mut at = 0;
    for child in children {
        child.emit_into(&mut value[at..]);
        at += child.len();
    }
    ConntrackAttribute::Other(DefaultNla::new(kind | NLA_F_NESTED, value))
}

/// An attribute that can be emitted through a `&dyn` (the `Nla` trait's
/// blanket `Emitable` is not object-safe as such).
trait NlaEmit {
    fn len(&self) -> usize;
    fn emit_into(&self, buf: &mut [u8]);
}

impl<T: Nla> NlaEmit for T {
    fn len(&self) -> usize {
        Emitable::buffer_len(self)
    }
    fn emit_into(&self, buf: &mut [u8]) {
        Emitable::emit(self, buf)
    }
}

/// Splits one `recv()` into messages and decodes each.
pub fn parse_replies(buf: &[u8]) -> Replies {
    let mut out = Replies::default();
    let mut rest = buf;
    while !rest.is_empty() {
        let Ok(nl) = NetlinkBuffer::new_checked(rest) else {
            out.truncated = true;
            break;
        };
        let len = nl.length() as usize;
        if nl.flags() & NLM_F_DUMP_INTR != 0 {
            out.interrupted = true;
        }
        out.messages.push(decode(&nl));
        // Messages are 4-byte aligned; the last one may end the buffer unpadded.
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    out
}

fn decode(nl: &NetlinkBuffer<&[u8]>) -> Reply {
    let payload = nl.payload();
    match nl.message_type() {
        NLMSG_DONE => Reply::Done,
        NLMSG_ERROR => match ErrorBuffer::new_checked(payload) {
            Ok(err) => match err.code() {
                None => Reply::Ack {
                    seq: nl.sequence_number(),
                },
                Some(code) => Reply::Error {
                    seq: nl.sequence_number(),
                    errno: code.get().saturating_neg(),
                },
            },
            Err(_) => Reply::Error {
                seq: nl.sequence_number(),
                errno: EPROTO,
            },
        },
        t if t == (SUBSYS_CTNETLINK << 8 | MSG_CT_NEW) => Reply::Entry(decode_entry(payload)),
        message_type => Reply::Other { message_type },
    }
}

/// An entry: the nfgenmsg header (family) then its attributes.
fn decode_entry(payload: &[u8]) -> Result<CtEntry, CtMessageError> {
    let header = NetfilterHeader::parse(payload)?;
    let family = match header.family {
        NetfilterProtoFamily::IPv4 => Family::Ip,
        NetfilterProtoFamily::IPv6 => Family::Ip6,
        _ => return Err(CtMessageError::Malformed("not an IPv4/IPv6 entry".into())),
    };
    let attrs = payload.get(4..).unwrap_or_default();
    let (mut orig, mut reply, mut zone, mut id) = (None, None, None, None);
    for nla in NlasIterator::new(attrs) {
        let nla = nla?;
        match nla.kind() {
            CTA_TUPLE_ORIG => orig = Some(decode_tuple(&nla)?),
            CTA_TUPLE_REPLY => reply = Some(decode_tuple(&nla)?),
            CTA_ZONE => zone = Some(parse_u16_be(nla.value())?).filter(|z| *z != 0),
            CTA_ID => id = Some(parse_u32_be(nla.value())?),
            _ => {}
        }
    }
    Ok(CtEntry {
        family,
        orig: orig.ok_or(CtMessageError::Missing("CTA_TUPLE_ORIG"))?,
        reply: reply.ok_or(CtMessageError::Missing("CTA_TUPLE_REPLY"))?,
        zone,
        id,
    })
}

fn decode_tuple(nla: &NlaBuffer<&[u8]>) -> Result<CtTuple, CtMessageError> {
    let raw = match ConntrackAttribute::parse(nla)? {
        ConntrackAttribute::CtaTupleOrig(t) | ConntrackAttribute::CtaTupleReply(t) => t,
        _ => return Err(CtMessageError::Missing("a tuple")),
    };
    let (mut src, mut dst, mut proto) = (None, None, None);
    let (mut src_port, mut dst_port) = (0, 0);
    for part in &raw {
        match part {
            Tuple::Ip(ips) => {
                for ip in ips {
                    match ip {
                        IPTuple::SourceAddress(a) => src = Some(*a),
                        IPTuple::DestinationAddress(a) => dst = Some(*a),
                        _ => {}
                    }
                }
            }
            Tuple::Proto(parts) => {
                for p in parts {
                    match p {
                        ProtoTuple::Protocol(n) => proto = Some(u8::from(*n)),
                        ProtoTuple::SourcePort(port) => src_port = *port,
                        ProtoTuple::DestinationPort(port) => dst_port = *port,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(CtTuple {
        src: src.ok_or(CtMessageError::Missing("CTA_IP_*_SRC"))?,
        dst: dst.ok_or(CtMessageError::Missing("CTA_IP_*_DST"))?,
        proto: proto.ok_or(CtMessageError::Missing("CTA_PROTO_NUM"))?,
        src_port,
        dst_port,
        raw,
    })
}

#[cfg(test)]
#[path = "conntrack_msg_tests.rs"]
mod tests;
