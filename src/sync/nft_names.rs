//! Names of the per-service chains and sets. A short hash keeps names unique
//! when truncated to nft's length limit; the readable part helps humans.

use std::net::IpAddr;

use crate::host::nft::Proto;
use crate::model::ObjectKey;
use crate::model::service::ServicePort;

/// nf_tables' chain and set name limit (NFT_NAME_MAXLEN, 256 including the
/// NUL; a 256-byte name is refused, 255 bytes work: checked with nft 1.0.6).
const MAX_CHAIN_NAME: usize = 255;

/// Chain and set names of one service port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortChains {
    base: String,
}

impl PortChains {
    pub fn new(svc: &ObjectKey, port: &ServicePort) -> PortChains {
        let port_name = if port.name.is_empty() {
            format!("p{}", port.port)
        } else {
            port.name.clone()
        };
        PortChains {
            base: format!(
                "{}/{}/{}/{}",
                svc.namespace,
                svc.name,
                port.protocol.keyword(),
                port_name
            ),
        }
    }

    /// Picks a random endpoint of the cluster set (the ClusterIP target).
    pub fn service(&self) -> String {
        chain_name("svc", &self.base)
    }

    /// Entry for external traffic (NodePort, external IPs, LB IPs).
    pub fn external(&self) -> String {
        chain_name("ext", &self.base)
    }

    /// Picks a random endpoint of the local set.
    pub fn local(&self) -> String {
        chain_name("local", &self.base)
    }

    /// Drops LB IP traffic from sources outside `loadBalancerSourceRanges`.
    pub fn firewall(&self) -> String {
        chain_name("firewall", &self.base)
    }

    /// DNATs to one endpoint.
    pub fn endpoint(&self, ip: IpAddr, port: u16, proto: Proto) -> String {
        let _ = proto; // the protocol is already part of the base name
        chain_name("ep", &self.endpoint_readable(ip, port))
    }

    /// The dynamic set of client addresses stuck to one endpoint (session
    /// affinity). The timeout is part of the hash: a new timeout makes a new
    /// set, and the rules that refer to the set change with its name (a set
    /// cannot be replaced while rules refer to it).
    pub fn affinity_set(&self, ip: IpAddr, port: u16, timeout_secs: u32) -> String {
        let readable = self.endpoint_readable(ip, port);
        let hash = fnv32("affinity", &format!("{readable}/{timeout_secs}s"));
        cut(format!("affinity-{hash:08x}-{readable}"))
    }

    fn endpoint_readable(&self, ip: IpAddr, port: u16) -> String {
        // ':' is not allowed in nft identifiers; IPv6 endpoints use '.'.
        let ip = ip.to_string().replace(':', ".");
        format!("{}__{ip}/{port}", self.base)
    }
}

/// `<prefix>-<hash8>-<readable>`, cut to nft's limit.
fn chain_name(prefix: &str, readable: &str) -> String {
    cut(format!(
        "{prefix}-{:08x}-{readable}",
        fnv32(prefix, readable)
    ))
}

/// Cuts a name to nft's limit (on a character boundary).
fn cut(mut name: String) -> String {
    if name.len() > MAX_CHAIN_NAME {
        let mut cut = MAX_CHAIN_NAME;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
    }
    name
}

fn fnv32(prefix: &str, readable: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in prefix.bytes().chain([0]).chain(readable.bytes()) {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str) -> ServicePort {
        ServicePort {
            name: name.into(),
            protocol: Proto::Tcp,
            port: 80,
            node_port: None,
        }
    }

    #[test]
    fn names_are_readable_and_distinct() {
        let c = PortChains::new(&ObjectKey::new("default", "web"), &port("http"));
        assert!(c.service().starts_with("svc-"));
        assert!(c.service().ends_with("-default/web/tcp/http"));
        assert_ne!(c.service(), c.external());
        let ep = c.endpoint("fd00::1".parse().unwrap(), 8080, Proto::Tcp);
        assert!(ep.ends_with("__fd00..1/8080"), "{ep}");
        assert!(!ep.contains(':'));
    }

    #[test]
    fn unnamed_ports_use_the_number() {
        let c = PortChains::new(&ObjectKey::new("ns", "s"), &port(""));
        assert!(c.service().ends_with("ns/s/tcp/p80"));
    }

    #[test]
    fn long_names_are_cut_but_stay_unique() {
        let long = "x".repeat(250);
        let a = PortChains::new(&ObjectKey::new("ns", &long), &port("a"));
        let b = PortChains::new(&ObjectKey::new("ns", &long), &port("b"));
        assert!(a.service().len() <= MAX_CHAIN_NAME);
        assert_ne!(a.service(), b.service());
        let ip: IpAddr = "fd00:244:1::11".parse().unwrap();
        for (x, y) in [
            (a.firewall(), b.firewall()),
            (a.affinity_set(ip, 80, 10800), b.affinity_set(ip, 80, 10800)),
        ] {
            assert_eq!(x.len(), MAX_CHAIN_NAME);
            assert_ne!(x, y);
        }
    }

    #[test]
    fn affinity_sets_are_named_per_endpoint_and_timeout() {
        let c = PortChains::new(&ObjectKey::new("default", "web"), &port("http"));
        let ip: IpAddr = "10.244.1.2".parse().unwrap();
        let set = c.affinity_set(ip, 8080, 10800);
        assert!(set.starts_with("affinity-"), "{set}");
        assert!(
            set.ends_with("-default/web/tcp/http__10.244.1.2/8080"),
            "{set}"
        );
        assert_ne!(set, c.affinity_set(ip, 8081, 10800));
        assert_ne!(set, c.affinity_set(ip, 8080, 2));
        assert!(c.firewall().starts_with("firewall-"));
        assert!(c.firewall().ends_with("-default/web/tcp/http"));
    }
}
