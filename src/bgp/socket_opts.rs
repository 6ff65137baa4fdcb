//! Per-peer socket options, and the speaker's only `unsafe` (each a
//! `setsockopt`/`getsockopt` call): the TCP MD5 signature key of a peer
//! (RFC 2385, `TCP_MD5SIG`) on an outgoing socket or a listener; the TTL
//! (IPv6: hop limit) of what a session sends; GTSM's minimum TTL of what it
//! accepts (RFC 5082, `IP_MINTTL` / `IPV6_MINHOPCOUNT`).
//!
//! An IPv6 socket may carry IPv4 traffic (a dual-stack listener, a
//! v4-mapped peer): there an IPv4 peer's key is set for its v4-mapped
//! address, and the TTL options are set for both families.

use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd};

use socket2::SockRef;

/// The kernel's `TCP_MD5SIG_MAXKEYLEN`.
pub const MAX_KEY_LEN: usize = 80;

/// A socket option could not be set. The MD5 key itself is never part of
/// an error.
#[derive(Debug, thiserror::Error)]
pub enum SocketOptError {
    #[error(
        "BGP peer {peer}: the TCP MD5 password is {len} bytes long, the kernel takes {MAX_KEY_LEN} at most"
    )]
    KeyTooLong { peer: IpAddr, len: usize },
    #[error("BGP peer {peer}: cannot {what} the TCP MD5 key: {source}")]
    Md5 {
        peer: IpAddr,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("BGP peer {peer}: cannot set {option} to {value}: {source}")]
    Option {
        peer: IpAddr,
        option: &'static str,
        value: u8,
        #[source]
        source: std::io::Error,
    },
}

/// The kernel's `struct tcp_md5sig` (`linux/tcp.h`). `addr` is a
/// `__kernel_sockaddr_storage` (128 bytes) written byte by byte; the
/// kernel copies the struct, so its alignment does not matter.
#[repr(C)]
struct TcpMd5Sig {
    addr: [u8; 128],
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; MAX_KEY_LEN],
}

/// Whether `socket` is an IPv6 socket.
fn is_v6(socket: &impl AsFd) -> std::io::Result<bool> {
    Ok(SockRef::from(socket).local_addr()?.is_ipv6())
}

/// `peer` as a `sockaddr_in` or `sockaddr_in6` (port 0) for a socket of
/// the given family; `None` when an IPv6 peer cannot reach an IPv4 socket.
fn sockaddr(peer: IpAddr, v6_socket: bool) -> Option<[u8; 128]> {
    let mut out = [0u8; 128];
    let family = |f: libc::c_int| u16::try_from(f).unwrap_or_default().to_ne_bytes();
    match (peer.to_canonical(), v6_socket) {
        (IpAddr::V4(v4), false) => {
            out[..2].copy_from_slice(&family(libc::AF_INET));
            // sin_port (0) then sin_addr.
            out[4..8].copy_from_slice(&v4.octets());
        }
        (IpAddr::V6(_), false) => return None,
        (ip, true) => {
            let v6 = match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            out[..2].copy_from_slice(&family(libc::AF_INET6));
            // sin6_port (0), sin6_flowinfo (0), then sin6_addr.
            out[8..24].copy_from_slice(&v6.octets());
        }
    }
    Some(out)
}

/// `setsockopt(fd, level, name, value)` for a plain value.
fn set_raw<T>(
    socket: &impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> std::io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<T>()).unwrap_or(libc::socklen_t::MAX);
    // SAFETY: the fd is open for the borrow of `socket`; `value` points to
    // `len` initialized bytes that live across the call, and the kernel
    // only reads them.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(value).cast(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Sets (`Some`) or removes (`None`) the MD5 key for connections with
/// `peer` on `socket` (a listener: for every connection it accepts from
/// `peer`; a socket before `connect`: for its session). An empty key is
/// none. Removing a key that is not set is not an error. A no-op for an
/// IPv6 peer on an IPv4 socket, which it can never reach.
pub fn set_md5_key(
    socket: &impl AsFd,
    peer: IpAddr,
    key: Option<&[u8]>,
) -> Result<(), SocketOptError> {
    let key = key.filter(|k| !k.is_empty());
    let what = if key.is_some() { "set" } else { "remove" };
    let md5_err = |source| SocketOptError::Md5 { peer, what, source };
    let v6 = is_v6(socket).map_err(md5_err)?;
    let Some(addr) = sockaddr(peer, v6) else {
        return Ok(());
    };
    let mut sig = TcpMd5Sig {
        addr,
        flags: 0,
        prefixlen: 0,
        keylen: 0,
        ifindex: 0,
        key: [0; MAX_KEY_LEN],
    };
    if let Some(k) = key {
        let len = k.len();
        let slot = sig
            .key
            .get_mut(..len)
            .ok_or(SocketOptError::KeyTooLong { peer, len })?;
        slot.copy_from_slice(k);
        sig.keylen = u16::try_from(len).map_err(|_| SocketOptError::KeyTooLong { peer, len })?;
    }
    match set_raw(socket, libc::IPPROTO_TCP, libc::TCP_MD5SIG, &sig) {
        Ok(()) => Ok(()),
        Err(e) if key.is_none() && e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(md5_err(e)),
    }
}

/// Sets the TTL (and on an IPv6 socket the hop limit too) of what
/// `socket` sends.
pub fn set_ttl(socket: &impl AsFd, peer: IpAddr, ttl: u8) -> Result<(), SocketOptError> {
    let err = |option, source| SocketOptError::Option {
        peer,
        option,
        value: ttl,
        source,
    };
    let s = SockRef::from(socket);
    if is_v6(socket).map_err(|e| err("IP_TTL", e))? {
        s.set_unicast_hops_v6(u32::from(ttl))
            .map_err(|e| err("IPV6_UNICAST_HOPS", e))?;
    }
    s.set_ttl_v4(u32::from(ttl)).map_err(|e| err("IP_TTL", e))
}

/// Drops received packets whose TTL (IPv6: hop limit) is below `min`
/// (GTSM); 0 accepts every packet again.
pub fn set_min_ttl(socket: &impl AsFd, peer: IpAddr, min: u8) -> Result<(), SocketOptError> {
    let err = |option, source| SocketOptError::Option {
        peer,
        option,
        value: min,
        source,
    };
    let value = libc::c_int::from(min);
    if is_v6(socket).map_err(|e| err("IP_MINTTL", e))? {
        set_raw(socket, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, &value)
            .map_err(|e| err("IPV6_MINHOPCOUNT", e))?;
    }
    set_raw(socket, libc::IPPROTO_IP, libc::IP_MINTTL, &value).map_err(|e| err("IP_MINTTL", e))
}

/// Reads an `int` option back (tests: `IP_MINTTL`, `IPV6_MINHOPCOUNT`).
#[cfg(test)]
fn get_int(
    socket: &impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
) -> std::io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or_default();
    // SAFETY: the fd is open for the borrow of `socket`; `value` and `len`
    // are live, writable and `len` holds `value`'s size.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_fd().as_raw_fd(),
            level,
            name,
            std::ptr::from_mut(&mut value).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
#[path = "socket_opts_tests.rs"]
mod tests;
