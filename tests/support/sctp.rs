//! SCTP without the kernel's SCTP stack. This machine's kernel has no SCTP
//! sockets (`CONFIG_IP_SCTP` is off, and tests load no modules), but
//! netfilter tracks and NATs SCTP all the same: so the test endpoints speak
//! just enough SCTP over raw IP sockets. A server answers an INIT to its port
//! with an INIT ACK whose State Cookie is its answer ("backend-1", or
//! "backend-1 <peer>"); a client sends an INIT and reads the cookie of the
//! INIT ACK that comes back. Conntrack sees a valid association start (INIT,
//! then INIT ACK with the INIT's tag), and checks and rewrites the CRC32c
//! checksum, so NAT in between is exercised as for real SCTP.
//!
//! A raw socket receives every SCTP packet of its namespace (it also keeps
//! the kernel from answering "protocol unreachable"), so both ends filter on
//! ports and tags.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::time::{Duration, Instant};

const IPPROTO_SCTP: libc::c_int = 132;
pub const CHUNK_INIT: u8 = 1;
pub const CHUNK_INIT_ACK: u8 = 2;
const PARAM_STATE_COOKIE: u16 = 7;

/// Whether raw SCTP sockets can be opened here (root, raw sockets).
pub fn raw_sockets_work() -> Result<(), String> {
    RawSctp::open(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        .map(drop)
        .map_err(|e| format!("a raw SCTP socket cannot be opened: {e}"))
}

/// CRC32c (Castagnoli), as SCTP uses it.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// One SCTP packet with a single chunk, checksummed.
pub fn packet(src_port: u16, dst_port: u16, vtag: u32, chunk: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + chunk.len());
    p.extend_from_slice(&src_port.to_be_bytes());
    p.extend_from_slice(&dst_port.to_be_bytes());
    p.extend_from_slice(&vtag.to_be_bytes());
    p.extend_from_slice(&[0; 4]);
    p.extend_from_slice(chunk);
    // The CRC goes out in the byte order it is computed in (RFC 9260 B).
    let crc = crc32c(&p);
    p[8..12].copy_from_slice(&crc.to_le_bytes());
    p
}

/// An INIT or INIT ACK chunk; `cookie` becomes a State Cookie parameter.
pub fn init_chunk(kind: u8, initiate_tag: u32, cookie: Option<&[u8]>) -> Vec<u8> {
    let mut c = vec![kind, 0, 0, 0];
    c.extend_from_slice(&initiate_tag.to_be_bytes());
    c.extend_from_slice(&65535u32.to_be_bytes()); // a_rwnd
    c.extend_from_slice(&1u16.to_be_bytes()); // outbound streams
    c.extend_from_slice(&1u16.to_be_bytes()); // inbound streams
    c.extend_from_slice(&1u32.to_be_bytes()); // initial TSN
    if let Some(cookie) = cookie {
        let len = 4 + cookie.len();
        c.extend_from_slice(&PARAM_STATE_COOKIE.to_be_bytes());
        c.extend_from_slice(&(len as u16).to_be_bytes());
        c.extend_from_slice(cookie);
        c.resize(c.len().next_multiple_of(4), 0);
    }
    let chunk_len = (20 + cookie.map_or(0, |c| 4 + c.len())) as u16;
    c[2..4].copy_from_slice(&chunk_len.to_be_bytes());
    c
}

/// What a received packet says, when it is an INIT or INIT ACK.
#[derive(Debug)]
pub struct Init {
    pub src_port: u16,
    pub dst_port: u16,
    pub vtag: u32,
    pub kind: u8,
    pub initiate_tag: u32,
    pub cookie: Option<Vec<u8>>,
}

pub fn parse(sctp: &[u8]) -> Option<Init> {
    if sctp.len() < 12 + 20 {
        return None;
    }
    let be16 = |i: usize| u16::from_be_bytes([sctp[i], sctp[i + 1]]);
    let be32 = |i: usize| u32::from_be_bytes(sctp[i..i + 4].try_into().unwrap());
    let kind = sctp[12];
    if kind != CHUNK_INIT && kind != CHUNK_INIT_ACK {
        return None;
    }
    let chunk_end = (12 + usize::from(be16(14))).min(sctp.len());
    let mut cookie = None;
    let mut at = 12 + 20;
    while at + 4 <= chunk_end {
        let (ptype, plen) = (be16(at), usize::from(be16(at + 2)));
        if plen < 4 || at + plen > chunk_end {
            break;
        }
        if ptype == PARAM_STATE_COOKIE {
            cookie = Some(sctp[at + 4..at + plen].to_vec());
        }
        at += plen.next_multiple_of(4);
    }
    Some(Init {
        src_port: be16(0),
        dst_port: be16(2),
        vtag: be32(4),
        kind,
        initiate_tag: be32(16),
        cookie,
    })
}

/// A raw IP socket for protocol SCTP, of one family.
struct RawSctp {
    fd: OwnedFd,
    v6: bool,
}

impl RawSctp {
    fn open(family_of: IpAddr) -> io::Result<RawSctp> {
        let v6 = family_of.is_ipv6();
        let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
        // SAFETY: plain socket(2); the fd is owned right away.
        let fd = unsafe { libc::socket(domain, libc::SOCK_RAW | libc::SOCK_CLOEXEC, IPPROTO_SCTP) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh socket nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(RawSctp { fd, v6 })
    }

    fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        let tv = libc::timeval {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_usec: timeout.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: a timeval of the right size for SO_RCVTIMEO.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Connects (filters the sender; ICMP errors then surface as errors of
    /// `recv`, port unreachable as `ConnectionRefused`).
    fn connect(&self, to: IpAddr) -> io::Result<()> {
        let (addr, len) = sockaddr(to);
        // SAFETY: addr is a sockaddr_storage holding `len` valid bytes.
        let rc = unsafe {
            libc::connect(
                self.fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_storage).cast(),
                len,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn send_to(&self, sctp: &[u8], to: IpAddr) -> io::Result<()> {
        let (addr, len) = sockaddr(to);
        // SAFETY: buffer and address are valid for the given lengths.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                sctp.as_ptr().cast(),
                sctp.len(),
                0,
                (&addr as *const libc::sockaddr_storage).cast(),
                len,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// One packet: its SCTP part and the sender.
    fn recv(&self) -> io::Result<(Vec<u8>, IpAddr)> {
        let mut buf = vec![0u8; 2048];
        // SAFETY: zeroed sockaddr_storage is a valid out-parameter.
        let mut from: libc::sockaddr_storage = unsafe { zeroed() };
        let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: buffer and address are valid for the given lengths.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut from as *mut libc::sockaddr_storage).cast(),
                &mut len,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(n as usize);
        let peer = peer_of(&from);
        // IPv4 raw sockets hand over the IP header too; IPv6 ones do not.
        if !self.v6 {
            let ihl = usize::from(buf.first().copied().unwrap_or(0) & 0x0f) * 4;
            buf.drain(..ihl.min(buf.len()));
        }
        Ok((buf, peer))
    }
}

fn sockaddr(ip: IpAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match ip {
        IpAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from_ne_bytes(v4.octets());
            size_of::<libc::sockaddr_in>()
        }
        IpAddr::V6(v6) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr.s6_addr = v6.octets();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

fn peer_of(storage: &libc::sockaddr_storage) -> IpAddr {
    if i32::from(storage.ss_family) == libc::AF_INET6 {
        // SAFETY: the kernel filled in a sockaddr_in6.
        let sin6 =
            unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
        IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
    } else {
        // SAFETY: the kernel filled in a sockaddr_in.
        let sin =
            unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
        IpAddr::V4(Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()))
    }
}

/// Source ports and tags unique within this test process, so every attempt
/// is a new conntrack entry and its answer cannot be mistaken for another's.
static NEXT_PORT: AtomicU16 = AtomicU16::new(40000);
static NEXT_TAG: AtomicU32 = AtomicU32::new(0x1000_0001);

/// Sends an INIT to `addr` from the current namespace and waits up to
/// `timeout` for its INIT ACK; returns the State Cookie as text.
pub fn request(addr: SocketAddr, timeout: Duration) -> io::Result<String> {
    let socket = RawSctp::open(addr.ip())?;
    socket.connect(addr.ip())?;
    let src_port = NEXT_PORT.fetch_add(1, Ordering::Relaxed);
    let tag = NEXT_TAG.fetch_add(1, Ordering::Relaxed) | process_salt();
    let init = packet(src_port, addr.port(), 0, &init_chunk(CHUNK_INIT, tag, None));
    socket.send_to(&init, addr.ip())?;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        socket.set_timeout(left)?;
        let (sctp, _) = socket.recv()?;
        let Some(ack) = parse(&sctp) else { continue };
        if ack.kind == CHUNK_INIT_ACK
            && ack.vtag == tag
            && ack.dst_port == src_port
            && ack.src_port == addr.port()
        {
            let cookie = ack.cookie.unwrap_or_default();
            return Ok(String::from_utf8_lossy(&cookie).trim().to_string());
        }
    }
}

/// Tags of parallel test processes differ in their high bits.
fn process_salt() -> u32 {
    (std::process::id() & 0x7f) << 24
}

/// Serves `port` in the current namespace (both families) until `stop`
/// says so: every INIT gets an INIT ACK carrying `answer(peer)`. Calls
/// `ready` once both sockets are open.
pub fn serve(
    port: u16,
    answer: impl Fn(IpAddr) -> Vec<u8>,
    stop: impl Fn() -> bool,
    ready: impl FnOnce(io::Result<()>),
    poll: Duration,
) {
    let sockets = [
        RawSctp::open(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        RawSctp::open(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
    ];
    let sockets: io::Result<Vec<RawSctp>> = sockets.into_iter().collect();
    let sockets = match sockets.and_then(|s| {
        for socket in &s {
            socket.set_timeout(poll)?;
        }
        Ok(s)
    }) {
        Ok(s) => s,
        Err(e) => return ready(Err(e)),
    };
    ready(Ok(()));
    while !stop() {
        for socket in &sockets {
            let Ok((sctp, peer)) = socket.recv() else {
                continue;
            };
            let Some(init) = parse(&sctp) else { continue };
            if init.kind != CHUNK_INIT || init.dst_port != port || init.vtag != 0 {
                continue;
            }
            let my_tag = init.initiate_tag.rotate_left(16) | 1;
            let cookie = answer(peer);
            let ack = packet(
                port,
                init.src_port,
                init.initiate_tag,
                &init_chunk(CHUNK_INIT_ACK, my_tag, Some(&cookie)),
            );
            let _ = socket.send_to(&ack, peer);
        }
    }
}
