//! Names of the per-service chains. A short hash keeps names unique when
//! truncated to nft's length limit; the readable part helps humans.

use std::net::IpAddr;

use crate::host::nft::Proto;
use crate::model::ObjectKey;
use crate::model::service::ServicePort;

/// nf_tables' chain name limit (NFT_CHAIN_MAXNAMELEN, including the NUL).
const MAX_CHAIN_NAME: usize = 255;

/// Chain names of one service port.
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

    /// DNATs to one endpoint.
    pub fn endpoint(&self, ip: IpAddr, port: u16, proto: Proto) -> String {
        let _ = proto; // the protocol is already part of the base name
        // ':' is not allowed in nft identifiers; IPv6 endpoints use '.'.
        let ip = ip.to_string().replace(':', ".");
        chain_name("ep", &format!("{}__{ip}/{port}", self.base))
    }
}

/// `<prefix>-<hash8>-<readable>`, cut to nft's limit.
fn chain_name(prefix: &str, readable: &str) -> String {
    let mut name = format!("{prefix}-{:08x}-{readable}", fnv32(prefix, readable));
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
    }
}
