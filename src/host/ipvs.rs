//! IPVS facet: virtual services and their real servers (IPVS mode).

use std::net::{IpAddr, SocketAddr};

use super::nft::Proto;

/// A virtual service (`vip:port/proto`) or one of its real servers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum IpvsKey {
    Service {
        vip: IpAddr,
        proto: Proto,
        port: u16,
    },
    RealServer {
        vip: IpAddr,
        proto: Proto,
        port: u16,
        server: IpAddr,
        server_port: u16,
    },
}

/// Settings of a virtual service or real server.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum IpvsValue {
    Service {
        scheduler: String,
        flags: Vec<String>,
        /// ClientIP affinity: persistence timeout in seconds.
        persistence_secs: Option<u32>,
    },
    RealServer {
        weight: u32,
    },
}

impl std::fmt::Display for IpvsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IpvsKey::Service { vip, proto, port } => {
                write!(f, "ipvs service {proto} {}", SocketAddr::new(*vip, *port))
            }
            IpvsKey::RealServer {
                vip,
                proto,
                port,
                server,
                server_port,
            } => write!(
                f,
                "ipvs real server {} of {proto} {}",
                SocketAddr::new(*server, *server_port),
                SocketAddr::new(*vip, *port)
            ),
        }
    }
}
