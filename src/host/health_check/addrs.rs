//! Where a health-check listener listens: kube-proxy's rule
//! (`newServiceHealthServer`). A family whose `nodePortAddresses` match
//! everything listens on its wildcard address; otherwise on every local
//! address inside the prefixes (with the default `primary`, the node's IP).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

use super::wildcard;

/// The socket addresses for `port` from `listen` prefixes; `local` is asked
/// only when a prefix is not a wildcard. Sorted, without duplicates.
pub fn listen_addresses(
    listen: &[IpNet],
    port: u16,
    local: impl FnOnce() -> io::Result<Vec<IpAddr>>,
) -> io::Result<Vec<SocketAddr>> {
    let mut out = Vec::new();
    let mut local = Some(local);
    let mut known: Vec<IpAddr> = Vec::new();
    for net in listen {
        if net.prefix_len() == 0 {
            out.push(wildcard(net, port));
            continue;
        }
        if let Some(read) = local.take() {
            known = read()?;
        }
        out.extend(
            known
                .iter()
                .filter(|ip| net.contains(*ip))
                .map(|ip| SocketAddr::new(*ip, port)),
        );
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Every address on this network namespace's interfaces (`getifaddrs`).
pub fn local_addresses() -> io::Result<Vec<IpAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cursor = head;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a node of the list getifaddrs returned.
        let entry = unsafe { &*cursor };
        if !entry.ifa_addr.is_null() {
            // SAFETY: `ifa_addr` points at a sockaddr whose family says
            // which sockaddr_* it is.
            match i32::from(unsafe { (*entry.ifa_addr).sa_family }) {
                libc::AF_INET => {
                    let sin = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
                    let octets = sin.sin_addr.s_addr.to_ne_bytes();
                    out.push(IpAddr::V4(Ipv4Addr::from(octets)));
                }
                libc::AF_INET6 => {
                    let sin6 = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in6) };
                    out.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                }
                _ => {}
            }
        }
        cursor = entry.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn addrs(list: &[SocketAddr]) -> Vec<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn wildcards_need_no_interface_list() {
        let got =
            listen_addresses(&nets(&["0.0.0.0/0", "::/0"]), 30000, || panic!("not asked")).unwrap();
        assert_eq!(addrs(&got), ["0.0.0.0:30000", "[::]:30000"]);
    }

    #[test]
    fn prefixes_pick_the_local_addresses_inside() {
        let local = || {
            Ok(vec![
                "127.0.0.1".parse().unwrap(),
                "192.168.50.1".parse().unwrap(),
                "10.1.0.7".parse().unwrap(),
                "fd00::1".parse().unwrap(),
            ])
        };
        let got = listen_addresses(&nets(&["192.168.50.1/32", "10.0.0.0/8"]), 80, local).unwrap();
        assert_eq!(addrs(&got), ["10.1.0.7:80", "192.168.50.1:80"]);
        let none = listen_addresses(&nets(&["192.168.60.1/32"]), 80, local).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn loopback_is_among_the_local_addresses() {
        let local = local_addresses().unwrap();
        assert!(
            local.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "{local:?}"
        );
    }
}
