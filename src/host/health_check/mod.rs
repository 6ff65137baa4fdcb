//! Health-check facet: one HTTP listener per `healthCheckNodePort` of a
//! service with `externalTrafficPolicy: Local`, telling load balancers
//! whether this node has a ready endpoint of the service (kube-proxy's
//! service health server, pkg/proxy/healthcheck/service_health.go).
//!
//! The artifacts ([`HealthCheckKey`] → [`HealthCheckValue`]) say which port
//! answers for which service, with how many local ready endpoints, on which
//! addresses. Their backend is in-process ([`HealthCheckServers`]): applying
//! a create binds the port, an update changes the endpoint count in place,
//! a delete closes the listener; what listens now is the facet's snapshot.

mod addrs;
mod server;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::http::StatusCode;
use ipnet::IpNet;

use crate::model::ObjectKey;

pub use addrs::{listen_addresses, local_addresses};
pub use server::HealthCheckServers;

/// Header carrying the number of local ready endpoints (kube-proxy writes
/// `X-Load-Balancing-Endpoint-Weight`; header names are case-insensitive).
pub const WEIGHT_HEADER: &str = "x-load-balancing-endpoint-weight";

/// Identity of a listener: its port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct HealthCheckKey {
    pub port: u16,
}

impl fmt::Display for HealthCheckKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "health check node port {}", self.port)
    }
}

/// What a listener answers for, and where it listens.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HealthCheckValue {
    pub service: ObjectKey,
    /// Distinct ready endpoint addresses of the service on this node.
    pub local_endpoints: usize,
    /// Where to listen: a zero prefix (`0.0.0.0/0`, `::/0`) is that
    /// family's wildcard address; any other prefix, every local address
    /// inside it.
    pub listen: Vec<IpNet>,
}

/// Whether the proxy is healthy (the loop's health rule), asked on every
/// request.
pub trait ProxyHealth: Send + Sync {
    fn healthy(&self) -> bool;
}

impl<F: Fn() -> bool + Send + Sync> ProxyHealth for F {
    fn healthy(&self) -> bool {
        self()
    }
}

/// kube-proxy's answer: 200 when the service has a local ready endpoint and
/// the proxy is healthy, else 503; the body is kube-proxy's JSON, byte for
/// byte (tab-indented, no final newline).
pub fn answer(service: &ObjectKey, local_endpoints: usize, healthy: bool) -> (StatusCode, String) {
    let code = if local_endpoints > 0 && healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    let body = format!(
        "{{\n\t\"service\": {{\n\t\t\"namespace\": {},\n\t\t\"name\": {}\n\t}},\n\t\"localEndpoints\": {local_endpoints},\n\t\"serviceProxyHealthy\": {healthy}\n}}",
        quote(&service.namespace),
        quote(&service.name),
    );
    (code, body)
}

/// The wildcard address of a prefix's family.
fn wildcard(net: &IpNet, port: u16) -> SocketAddr {
    let ip = match net {
        IpNet::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpNet::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_kube_proxys() {
        let web = ObjectKey::new("default", "web");
        let (code, body) = answer(&web, 2, true);
        assert_eq!(code, StatusCode::OK);
        assert_eq!(
            body,
            "{\n\t\"service\": {\n\t\t\"namespace\": \"default\",\n\t\t\"name\": \"web\"\n\t},\n\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}"
        );
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["service"]["name"], "web");
        assert_eq!(answer(&web, 0, true).0, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer(&web, 3, false).0, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn a_key_names_its_port() {
        assert_eq!(
            HealthCheckKey { port: 32000 }.to_string(),
            "health check node port 32000"
        );
    }
}
