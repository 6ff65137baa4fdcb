//! Parsers of single config values. Each returns the problem as text; the
//! caller adds source, key path and value.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

use crate::model::annotations::values::{check_asn, parse_bool};
use crate::model::config::{NodePortAddress, ProxyMode};

/// Parses one value; the error carries the problem text.
pub(super) type Parsed<T> = Result<T, String>;

pub(super) fn duration(v: &str) -> Parsed<Duration> {
    humantime::parse_duration(v.trim()).map_err(|_| "invalid duration".into())
}

pub(super) fn boolean(v: &str) -> Parsed<bool> {
    parse_bool(v).map_err(|_| "invalid boolean (true or false)".into())
}

pub(super) fn cidr(v: &str) -> Parsed<IpNet> {
    v.trim().parse().map_err(|_| "invalid CIDR".into())
}

pub(super) fn ip(v: &str) -> Parsed<IpAddr> {
    v.trim().parse().map_err(|_| "invalid IP address".into())
}

pub(super) fn port(v: &str) -> Parsed<u16> {
    match v.trim().parse::<u16>() {
        Ok(0) | Err(_) => Err("invalid port (1-65535)".into()),
        Ok(p) => Ok(p),
    }
}

pub(super) fn asn(v: &str) -> Parsed<u32> {
    let n: u32 = v
        .trim()
        .parse()
        .map_err(|_| "invalid AS number".to_string())?;
    check_asn(n).map_err(|e| format!("invalid AS number ({e})"))?;
    Ok(n)
}

pub(super) fn proxy_mode(v: &str) -> Parsed<ProxyMode> {
    match v.trim().to_ascii_lowercase().as_str() {
        "nftables" => Ok(ProxyMode::Nftables),
        "ipvs" => Ok(ProxyMode::Ipvs),
        _ => Err("invalid mode (nftables or ipvs)".into()),
    }
}

/// `auto` is `None`.
pub(super) fn router_id(v: &str) -> Parsed<Option<Ipv4Addr>> {
    match v.trim() {
        "auto" => Ok(None),
        other => other
            .parse::<Ipv4Addr>()
            .map(Some)
            .map_err(|_| "invalid router ID (auto or an IPv4 address)".into()),
    }
}

pub(super) fn socket_addr(v: &str) -> Parsed<SocketAddr> {
    v.trim()
        .parse()
        .map_err(|_| "invalid address (expected IP:PORT)".into())
}

pub(super) fn node_port_address(v: &str) -> Parsed<NodePortAddress> {
    if v.trim().eq_ignore_ascii_case("primary") {
        Ok(NodePortAddress::Primary)
    } else {
        cidr(v)
            .map(NodePortAddress::Cidr)
            .map_err(|_| "invalid node port address (a CIDR or primary)".into())
    }
}

/// The graceful-restart capability carries the time in 12 bits of seconds.
pub(super) fn restart_time(v: &str) -> Parsed<Duration> {
    let d = duration(v)?;
    if d.as_secs() > 4095 {
        return Err("restart time above 4095s".into());
    }
    Ok(d)
}

/// RFC 4271: zero (no keepalives) or at least three seconds.
pub(super) fn hold_time(v: &str) -> Parsed<Duration> {
    let d = duration(v)?;
    if d != Duration::ZERO && d < Duration::from_secs(3) || d.as_secs() > 65535 {
        return Err("invalid hold time (0, or 3s to 65535s)".into());
    }
    Ok(d)
}

pub(super) fn ttl(v: &str) -> Parsed<u8> {
    match v.trim().parse::<u8>() {
        Ok(0) | Err(_) => Err("invalid TTL (1-255)".into()),
        Ok(t) => Ok(t),
    }
}
