//! Codec glue on netgauze-bgp-pkt: the 19-octet header (framing and its
//! checks), decoding with the session's context, encoding within the
//! session's size limit. UPDATEs are decoded defensively (`update_decode`);
//! every other message goes through netgauze's `BgpMessage` parser, whose
//! errors map to the NOTIFICATION RFC 4271 section 6 asks for.

use std::collections::HashMap;

use netgauze_bgp_pkt::BgpMessage;
use netgauze_bgp_pkt::notification::{BgpNotificationMessage, MessageHeaderError};
use netgauze_bgp_pkt::open::BgpOpenMessage;
use netgauze_bgp_pkt::route_refresh::BgpRouteRefreshMessage;
use netgauze_bgp_pkt::wire::deserializer::BgpParsingContext;
use netgauze_bgp_pkt::wire::serializer::BgpMessageWritingError;
use netgauze_parse_utils::WritablePdu;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::ParseFromWithOneInput;

use super::update_decode::{self, CheckedUpdate};

/// Marker, length and type.
pub const HEADER_LEN: usize = 19;
/// RFC 4271's maximum message size.
pub const MAX_LEN: usize = 4096;
/// With extended messages negotiated (RFC 8654), except OPEN and KEEPALIVE.
pub const MAX_EXTENDED_LEN: usize = 65535;
/// Header, withdrawn routes length, total path attribute length.
pub const MIN_UPDATE_LEN: usize = HEADER_LEN + 4;
const UPDATE_TYPE: u8 = 2;

/// Encoding failed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("encoding a BGP message: {0}")]
    Encode(#[from] BgpMessageWritingError),
    #[error("BGP message of {len} octets exceeds the session's limit of {max}")]
    TooLong { len: usize, max: usize },
}

/// What decoding needs to know about the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeContext {
    /// Both sides sent the 4-octet AS capability.
    pub asn4: bool,
    /// Largest acceptable message.
    pub max_len: usize,
    /// The peer's ASN (eBGP: the first AS of a received AS_PATH).
    pub peer_asn: u32,
    pub ibgp: bool,
}

impl DecodeContext {
    /// Before the OPENs are exchanged: RFC 4271 sizes.
    pub fn initial(peer_asn: u32, ibgp: bool) -> Self {
        DecodeContext {
            asn4: true,
            max_len: MAX_LEN,
            peer_asn,
            ibgp,
        }
    }

    /// netgauze's context: strict about everything except capabilities it
    /// does not understand, which RFC 5492 says to ignore.
    pub fn parsing_context(&self) -> BgpParsingContext {
        BgpParsingContext::new(
            self.asn4,
            HashMap::new(),
            HashMap::new(),
            true,
            true,
            false,
            true,
        )
    }
}

/// A decoded message.
#[derive(Clone, Debug, PartialEq)]
pub enum Received {
    Open(BgpOpenMessage),
    Update(CheckedUpdate),
    Notification(BgpNotificationMessage),
    Keepalive,
    RouteRefresh(BgpRouteRefreshMessage),
}

/// The whole message's length announced by a header (at least the header's
/// own length, so a reader always makes progress; a short length is
/// rejected by `decode`).
pub fn frame_len(header: &[u8; HEADER_LEN]) -> usize {
    let len = usize::from(u16::from_be_bytes([header[16], header[17]]));
    len.max(HEADER_LEN)
}

fn header_error(err: MessageHeaderError) -> BgpNotificationMessage {
    BgpNotificationMessage::MessageHeaderError(err)
}

/// Decodes one whole message (`frame`, header included). An error is the
/// NOTIFICATION to send before closing the session.
pub fn decode(frame: &[u8], ctx: &DecodeContext) -> Result<Received, BgpNotificationMessage> {
    let header: &[u8; HEADER_LEN] = frame
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| {
            header_error(MessageHeaderError::BadMessageLength {
                value: Box::new([]),
            })
        })?;
    if header[..16].iter().any(|b| *b != 0xff) {
        return Err(header_error(
            MessageHeaderError::ConnectionNotSynchronized {
                value: Box::new([]),
            },
        ));
    }
    let declared = u16::from_be_bytes([header[16], header[17]]);
    let len = usize::from(declared);
    let kind = header[18];
    let min = if kind == UPDATE_TYPE {
        MIN_UPDATE_LEN
    } else {
        HEADER_LEN
    };
    if len < min || len > ctx.max_len || len != frame.len() {
        return Err(header_error(MessageHeaderError::BadMessageLength {
            value: declared.to_be_bytes().into(),
        }));
    }
    if kind == UPDATE_TYPE {
        let body = frame.get(HEADER_LEN..).unwrap_or_default();
        return update_decode::decode_update(body, ctx).map(Received::Update);
    }
    let mut pctx = ctx.parsing_context();
    let mut reader = SliceReader::new(frame);
    match BgpMessage::parse(&mut reader, &mut pctx) {
        Ok(BgpMessage::Open(open)) => Ok(Received::Open(open)),
        Ok(BgpMessage::Notification(n)) => Ok(Received::Notification(n)),
        Ok(BgpMessage::KeepAlive) => Ok(Received::Keepalive),
        Ok(BgpMessage::RouteRefresh(r)) => Ok(Received::RouteRefresh(r)),
        // Not reached (UPDATEs are decoded above); kept total.
        Ok(BgpMessage::Update(_)) => Err(header_error(MessageHeaderError::BadMessageType {
            value: Box::new([UPDATE_TYPE]),
        })),
        Err(e) => Err(BgpNotificationMessage::from(e)),
    }
}

/// Encodes a message, refusing one larger than `max_len`.
pub fn encode(msg: &BgpMessage, max_len: usize) -> Result<Vec<u8>, CodecError> {
    let len = msg.len();
    if len > max_len {
        return Err(CodecError::TooLong { len, max: max_len });
    }
    let mut out = Vec::with_capacity(len);
    msg.write(&mut out)?;
    Ok(out)
}

/// Appends an encoded message to `out` (a batch for one socket write).
pub fn encode_into(msg: &BgpMessage, max_len: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let len = msg.len();
    if len > max_len {
        return Err(CodecError::TooLong { len, max: max_len });
    }
    msg.write(out)?;
    Ok(())
}

/// A NOTIFICATION's error code and subcode, as they go on the wire.
pub fn notification_code(n: &BgpNotificationMessage) -> (u8, u8) {
    let mut out = Vec::new();
    match BgpMessage::Notification(n.clone()).write(&mut out) {
        Ok(()) => (
            out.get(HEADER_LEN).copied().unwrap_or(0),
            out.get(HEADER_LEN + 1).copied().unwrap_or(0),
        ),
        Err(_) => (0, 0),
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
