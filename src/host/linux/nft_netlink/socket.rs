//! Sending a batch: one `sendmsg` on a `NETLINK_NETFILTER` socket whose send
//! buffer is sized for it, then the kernel's answers. The kernel processes
//! the whole batch inside that `sendmsg`, so every answer is queued by the
//! time it returns; only the last message asks for an ack, errors come
//! anyway, each with the sequence number of the message that caused it.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::AsRawFd;

use netlink_packet_core::{NLM_F_ACK, NLMSG_ERROR, NetlinkBuffer};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};

use super::NftNetlinkError;
use super::batch::{Batch, control, encode};
use crate::host::linux::nft_script;
use crate::host::linux::nft_txn::NftOp;
use crate::host::nft::{NftKey, NftValue};

/// Asked for the receive buffer: room for many errors (the kernel caps it
/// at `rmem_max` unless forced).
const RECV_BUFFER: usize = 4 << 20;
/// Send buffer below which we do not bother resizing.
const MIN_SEND_BUFFER: usize = 1 << 20;
/// `NLM_F_CAPPED`, `NLM_F_ACK_TLVS` on an error message; `NLMSGERR_ATTR_MSG`.
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const HEADER_LEN: usize = 16;

/// What the kernel said about one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub seq: u32,
    /// 0 for an ack, else a positive errno.
    pub errno: i32,
    /// The extended ack's message, when the kernel gave one.
    pub extack: Option<String>,
}

/// The acks and errors in one datagram (other messages are skipped).
pub fn parse_answers(mut bytes: &[u8]) -> Vec<Answer> {
    let mut out = Vec::new();
    while bytes.len() >= HEADER_LEN {
        let Ok(msg) = NetlinkBuffer::new_checked(bytes) else {
            break;
        };
        let len = (msg.length() as usize).max(HEADER_LEN);
        if msg.message_type() == NLMSG_ERROR && len >= HEADER_LEN + 4 {
            let payload = &bytes[HEADER_LEN..len.min(bytes.len())];
            let code = i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]]);
            out.push(Answer {
                seq: msg.sequence_number(),
                errno: -code,
                extack: extack_message(msg.flags(), payload),
            });
        }
        let next = (len + 3) & !3;
        if next >= bytes.len() {
            break;
        }
        bytes = &bytes[next..];
    }
    out
}

/// `NLMSGERR_ATTR_MSG` from the TLVs after the echoed request.
fn extack_message(flags: u16, payload: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 || payload.len() < 4 + HEADER_LEN {
        return None;
    }
    let orig_len = u32::from_ne_bytes(payload[4..8].try_into().ok()?) as usize;
    let echoed = if flags & NLM_F_CAPPED != 0 {
        HEADER_LEN
    } else {
        (orig_len + 3) & !3
    };
    let mut tlvs = payload.get(4 + echoed..)?;
    while tlvs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([tlvs[0], tlvs[1]]));
        let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff;
        if len < 4 || len > tlvs.len() {
            break;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = &tlvs[4..len];
            let text = text.split(|b| *b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(text).into_owned());
        }
        tlvs = &tlvs[((len + 3) & !3).min(tlvs.len())..];
    }
    None
}

/// A netlink socket to nf_tables in the calling thread's network namespace.
pub struct NftNetlink {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for NftNetlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NftNetlink")
            .field("seq", &self.seq)
            .finish()
    }
}

fn io(what: &'static str) -> impl Fn(io::Error) -> NftNetlinkError {
    move |source| NftNetlinkError::Io { what, source }
}

impl NftNetlink {
    pub fn open() -> Result<NftNetlink, NftNetlinkError> {
        let mut socket = Socket::new(NETLINK_NETFILTER).map_err(io("open"))?;
        socket.bind_auto().map_err(io("bind"))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(io("connect"))?;
        // Best effort: short errors that still say why.
        let _ = socket.set_cap_ack(true);
        let _ = socket.set_ext_ack(true);
        set_buffer(&socket, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, RECV_BUFFER);
        Ok(NftNetlink {
            socket,
            seq: 0,
            buf: vec![0; 1 << 16],
        })
    }

    /// Encodes and applies `ops` as one transaction: all of it or nothing.
    pub fn apply(
        &mut self,
        ops: &[NftOp],
        current: &BTreeMap<NftKey, NftValue>,
    ) -> Result<(), NftNetlinkError> {
        let batch = encode(ops, current)?;
        self.send(&batch, ops)
    }

    /// Sends `batch` (encoded from `ops`) and reads the kernel's answer.
    pub fn send(&mut self, batch: &Batch, ops: &[NftOp]) -> Result<(), NftNetlinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        let begin_seq = self.seq.wrapping_add(1);
        let first_seq = begin_seq.wrapping_add(1);
        let last_seq = first_seq.wrapping_add(batch.len() as u32 - 1);
        let bytes = self.serialize(batch, begin_seq);
        self.seq = last_seq.wrapping_add(1);
        if bytes.len() > MIN_SEND_BUFFER {
            set_buffer(
                &self.socket,
                libc::SO_SNDBUFFORCE,
                libc::SO_SNDBUF,
                bytes.len() + MIN_SEND_BUFFER,
            );
        }
        let sent = self.socket.send(&bytes, 0).map_err(io("send"))?;
        if sent != bytes.len() {
            return Err(NftNetlinkError::NoAnswer(format!(
                "sent {sent} of {} bytes",
                bytes.len()
            )));
        }
        let answers = self.drain()?;
        let describe = |seq: u32| -> String {
            let index = seq.wrapping_sub(first_seq) as usize;
            match batch.messages.get(index) {
                Some(m) => describe_ops(ops, &m.ops),
                None => "the batch".to_string(),
            }
        };
        let mut acked = false;
        for a in &answers {
            if a.errno != 0 {
                return Err(NftNetlinkError::Rejected {
                    op: describe(a.seq),
                    source: io::Error::from_raw_os_error(a.errno),
                    extack: a.extack.clone(),
                });
            }
            acked |= a.seq == last_seq;
        }
        if acked {
            Ok(())
        } else {
            Err(NftNetlinkError::NoAnswer(format!(
                "no ack for message {last_seq} among {} answers",
                answers.len()
            )))
        }
    }

    fn serialize(&self, batch: &Batch, begin_seq: u32) -> Vec<u8> {
        let mut messages = Vec::with_capacity(batch.len() + 2);
        messages.push(control(true));
        messages.extend(batch.messages.iter().map(|m| m.message.clone()));
        messages.push(control(false));
        let n = messages.len();
        let total: usize = messages.iter().map(|m| m.buffer_len()).sum();
        let mut bytes = vec![0; total];
        let mut at = 0;
        for (k, mut m) in messages.into_iter().enumerate() {
            m.header.sequence_number = begin_seq.wrapping_add(k as u32);
            if k == n - 2 {
                m.header.flags |= NLM_F_ACK;
            }
            let len = m.buffer_len();
            m.serialize(&mut bytes[at..at + len]);
            at += len;
        }
        bytes
    }

    /// Every answer queued on the socket (all of them are, once `send`
    /// returned).
    fn drain(&mut self) -> Result<Vec<Answer>, NftNetlinkError> {
        self.socket.set_non_blocking(true).map_err(io("recv"))?;
        let mut answers = Vec::new();
        let result = loop {
            match self.socket.recv(&mut &mut self.buf[..], 0) {
                Ok(n) => answers.extend(parse_answers(&self.buf[..n.min(self.buf.len())])),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(answers),
                Err(e) => break Err(io("recv")(e)),
            }
        };
        self.socket.set_non_blocking(false).map_err(io("recv"))?;
        result
    }
}

/// The op (or the run of element ops) a message encodes, in nft syntax.
fn describe_ops(ops: &[NftOp], indexes: &[usize]) -> String {
    let render = |i: usize| nft_script::render(&ops[i..=i]).trim_end().to_string();
    match indexes {
        [] => "the batch".to_string(),
        [one] => render(*one),
        [first, rest @ ..] => format!(
            "{} (and {} more in the same message)",
            render(*first),
            rest.len()
        ),
    }
}

/// Sets a socket buffer, forced past the sysctl cap when we may (root).
fn set_buffer(socket: &Socket, force: libc::c_int, plain: libc::c_int, size: usize) {
    let value = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    for option in [force, plain] {
        // SAFETY: setsockopt on a socket we own, with a pointer to a c_int
        // that lives across the call and its exact size.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return;
        }
    }
}
