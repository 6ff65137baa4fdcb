//! UDP conntrack cleanup on Linux, over ctnetlink (`NETLINK_NETFILTER`):
//! per family with filters, one dump of the UDP entries (filtered by the
//! kernel), each entry matched as it arrives (only the stale ones are
//! kept), then the stale ones deleted in batches of messages sent at once,
//! each acknowledged. No `conntrack` process, no syscall per entry beyond
//! reading its ack.
//!
//! The socket belongs to the calling thread's network namespace (kroute's).

use std::io;

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};

use super::conntrack_msg::{
    CtEntry, Reply, delete_request, dump_request, dump_request_unfiltered, parse_replies,
};
use crate::host::conntrack::{ConntrackFlush, ConntrackReport, FlowMatcher};
use crate::model::Family;

/// One `recv()`: a dump's datagrams are at most 32 KiB, an ack far less.
const RECV_BUFFER: usize = 64 * 1024;
/// Deletes sent in one `send()`; their acks (36 bytes each, kept short with
/// `NETLINK_CAP_ACK`) stay well inside the socket's receive buffer.
const DELETE_BATCH: usize = 64;
/// Asked for the receive buffer (the kernel caps it at `rmem_max`).
const SOCKET_RECV_BUFFER: usize = 1 << 20;
const ENOENT: i32 = 2;
const EINVAL: i32 = 22;
const EOPNOTSUPP: i32 = 95;

/// Errors of the ctnetlink cleanup.
#[derive(Debug, thiserror::Error)]
pub enum ConntrackError {
    /// The netlink socket could not be opened, bound or connected.
    #[error("cannot open a ctnetlink socket: {0}")]
    Open(#[source] io::Error),
    /// Sending to or receiving from the kernel failed.
    #[error("ctnetlink {op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// The kernel refused a dump of the table.
    #[error("the kernel refused the {family} conntrack dump: {source}")]
    Dump {
        family: Family,
        #[source]
        source: io::Error,
    },
    /// A reply was cut short: the receive buffer is too small for it.
    #[error("a ctnetlink reply was cut short")]
    Truncated,
    /// Some deletes failed for another reason than the entry being gone.
    #[error("{failed} of {asked} conntrack deletes failed: {first}")]
    Delete {
        failed: usize,
        asked: usize,
        first: io::Error,
    },
}

/// Deletes the UDP entries `flush` finds stale, family by family. Both
/// families are tried; the first error is returned after that.
pub fn flush(flush: &ConntrackFlush) -> Result<ConntrackReport, ConntrackError> {
    let mut report = ConntrackReport::default();
    if flush.is_empty() {
        return Ok(report);
    }
    let mut ct = Ctnetlink::open()?;
    let mut first_error = None;
    for family in flush.families() {
        let matcher = flush.matcher(family);
        let result = ct
            .stale_entries(family, &matcher, &mut report)
            .and_then(|stale| ct.delete(&stale, &mut report));
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// A ctnetlink socket and its sequence numbers.
pub struct Ctnetlink {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
    /// The kernel refused `CTA_FILTER` once: dump unfiltered from then on.
    no_kernel_filter: bool,
}

impl Ctnetlink {
    /// Opens a socket to the kernel's ctnetlink.
    pub fn open() -> Result<Ctnetlink, ConntrackError> {
        let mut socket = Socket::new(NETLINK_NETFILTER).map_err(ConntrackError::Open)?;
        socket.bind_auto().map_err(ConntrackError::Open)?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(ConntrackError::Open)?;
        // Best effort: short acks and room for a batch of them.
        let _ = socket.set_cap_ack(true);
        let _ = socket.set_rx_buf_sz(SOCKET_RECV_BUFFER);
        Ok(Ctnetlink {
            socket,
            seq: 0,
            buf: vec![0; RECV_BUFFER],
            no_kernel_filter: false,
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&self, bytes: &[u8]) -> Result<(), ConntrackError> {
        self.socket
            .send(bytes, 0)
            .map(|_| ())
            .map_err(|source| ConntrackError::Io { op: "send", source })
    }

    /// One datagram from the kernel, decoded.
    fn recv(&mut self) -> Result<super::conntrack_msg::Replies, ConntrackError> {
        let n = self
            .socket
            .recv(&mut &mut self.buf[..], 0)
            .map_err(|source| ConntrackError::Io { op: "recv", source })?;
        let replies = parse_replies(&self.buf[..n.min(self.buf.len())]);
        if replies.truncated {
            return Err(ConntrackError::Truncated);
        }
        Ok(replies)
    }

    /// Dumps `family`'s UDP entries and keeps the ones `matcher` finds stale.
    pub fn stale_entries(
        &mut self,
        family: Family,
        matcher: &FlowMatcher,
        report: &mut ConntrackReport,
    ) -> Result<Vec<CtEntry>, ConntrackError> {
        match self.dump(family, matcher, report) {
            Err(ConntrackError::Dump { source, .. })
                if !self.no_kernel_filter
                    && matches!(source.raw_os_error(), Some(EINVAL | EOPNOTSUPP)) =>
            {
                tracing::debug!("the kernel refuses CTA_FILTER ({source}): dumping unfiltered");
                self.no_kernel_filter = true;
                report.listed.remove(&family);
                self.dump(family, matcher, report)
            }
            other => other,
        }
    }

    fn dump(
        &mut self,
        family: Family,
        matcher: &FlowMatcher,
        report: &mut ConntrackReport,
    ) -> Result<Vec<CtEntry>, ConntrackError> {
        let seq = self.next_seq();
        let request = if self.no_kernel_filter {
            dump_request_unfiltered(family, seq)
        } else {
            dump_request(family, seq)
        };
        self.send(&request)?;
        let mut stale = Vec::new();
        loop {
            let replies = self.recv()?;
            report.interrupted |= replies.interrupted;
            for reply in replies.messages {
                match reply {
                    Reply::Entry(Ok(entry)) => {
                        let Some(flow) = entry.udp_flow().filter(|_| entry.family == family) else {
                            continue;
                        };
                        *report.listed.entry(family).or_default() += 1;
                        if matcher.is_stale(&flow) {
                            stale.push(entry);
                        }
                    }
                    Reply::Entry(Err(e)) => {
                        tracing::debug!("skipping a conntrack entry: {e}");
                        report.undecodable += 1;
                    }
                    Reply::Done => return Ok(stale),
                    Reply::Error { errno, .. } => {
                        return Err(ConntrackError::Dump {
                            family,
                            source: io::Error::from_raw_os_error(errno),
                        });
                    }
                    Reply::Ack { .. } | Reply::Other { .. } => {}
                }
            }
        }
    }

    /// Deletes `entries`; one already gone is no failure.
    pub fn delete(
        &mut self,
        entries: &[CtEntry],
        report: &mut ConntrackReport,
    ) -> Result<(), ConntrackError> {
        let (mut failed, mut first) = (0, None);
        for batch in entries.chunks(DELETE_BATCH) {
            let first_seq = self.seq.wrapping_add(1);
            let mut bytes = Vec::new();
            for entry in batch {
                let seq = self.next_seq();
                bytes.extend(delete_request(entry, seq));
            }
            self.send(&bytes)?;
            let in_batch = |seq: u32| seq.wrapping_sub(first_seq) < batch.len() as u32;
            let mut pending = batch.len();
            while pending > 0 {
                for reply in self.recv()?.messages {
                    match reply {
                        Reply::Ack { seq } if in_batch(seq) => {
                            report.deleted += 1;
                            pending -= 1;
                        }
                        Reply::Error { seq, errno } if in_batch(seq) => {
                            pending -= 1;
                            if errno == ENOENT {
                                report.already_gone += 1;
                            } else {
                                failed += 1;
                                first.get_or_insert(errno);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        match first {
            Some(errno) => Err(ConntrackError::Delete {
                failed,
                asked: entries.len(),
                first: io::Error::from_raw_os_error(errno),
            }),
            None => Ok(()),
        }
    }
}
