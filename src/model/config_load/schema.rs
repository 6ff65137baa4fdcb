//! The keys kroute accepts: the shape of each in the file ([`SCHEMA`]), its
//! flag ([`KEYS`]; the env var derives from the flag) and the keys of one
//! `bgp.peers` entry ([`PEER_KEYS`]). Everything else reads these tables, so
//! a key added here is a key of the file, a flag and an env var at once.

use super::ENV_PREFIX;

/// The shape of a config value in the file.
#[derive(Debug, PartialEq, Eq)]
pub enum Shape {
    /// One value (string, number or boolean).
    Scalar,
    /// A filesystem path: `~` is expanded, and a relative path in the
    /// file is taken from the file's directory.
    Path,
    /// A list of values (a comma list in env vars and flags).
    List,
    /// A list of peers, each a map of [`PEER_KEYS`] (YAML or JSON text in
    /// env vars and flags).
    Peers,
    /// A map of further keys.
    Map(&'static [(&'static str, Shape)]),
}

/// The keys of one `bgp.peers` entry.
pub const PEER_KEYS: &[(&str, Shape)] = &[
    ("address", Shape::Scalar),
    ("asn", Shape::Scalar),
    ("port", Shape::Scalar),
    ("passwordFile", Shape::Path),
    ("password", Shape::Scalar),
    ("holdTime", Shape::Scalar),
    ("keepaliveTime", Shape::Scalar),
    ("multihopTTL", Shape::Scalar),
    ("passive", Shape::Scalar),
    ("acceptPrefixes", Shape::List),
    ("maxPrefixes", Shape::Scalar),
];

/// The whole file, as nested maps.
pub const SCHEMA: &[(&str, Shape)] = &[
    ("nodeName", Shape::Scalar),
    (
        "source",
        Shape::Map(&[("manifests", Shape::Path), ("kubeconfig", Shape::Path)]),
    ),
    (
        "proxy",
        Shape::Map(&[
            ("enabled", Shape::Scalar),
            ("mode", Shape::Scalar),
            ("clusterCIDRs", Shape::List),
            ("serviceCIDRs", Shape::List),
            ("nodePortAddresses", Shape::List),
            ("masqueradeAll", Shape::Scalar),
            ("syncPeriod", Shape::Scalar),
            ("minSyncPeriod", Shape::Scalar),
        ]),
    ),
    (
        "bgp",
        Shape::Map(&[
            ("enabled", Shape::Scalar),
            ("asn", Shape::Scalar),
            ("routerId", Shape::Scalar),
            ("listenAddresses", Shape::List),
            ("listenPort", Shape::Scalar),
            ("nodesFullMesh", Shape::Scalar),
            (
                "advertise",
                Shape::Map(&[
                    ("clusterIP", Shape::Scalar),
                    ("externalIP", Shape::Scalar),
                    ("loadBalancerIP", Shape::Scalar),
                    ("podCIDR", Shape::Scalar),
                ]),
            ),
            (
                "gracefulRestart",
                Shape::Map(&[("enabled", Shape::Scalar), ("restartTime", Shape::Scalar)]),
            ),
            ("peers", Shape::Peers),
        ]),
    ),
    ("health", Shape::Map(&[("address", Shape::Scalar)])),
    ("metrics", Shape::Map(&[("address", Shape::Scalar)])),
    ("admin", Shape::Map(&[("socket", Shape::Path)])),
];

/// Every leaf key path with its flag name (the env name derives from it).
pub const KEYS: &[(&str, &str)] = &[
    ("nodeName", "node-name"),
    ("source.manifests", "source-manifests"),
    ("source.kubeconfig", "source-kubeconfig"),
    ("proxy.enabled", "proxy-enabled"),
    ("proxy.mode", "proxy-mode"),
    ("proxy.clusterCIDRs", "proxy-cluster-cidrs"),
    ("proxy.serviceCIDRs", "proxy-service-cidrs"),
    ("proxy.nodePortAddresses", "proxy-node-port-addresses"),
    ("proxy.masqueradeAll", "proxy-masquerade-all"),
    ("proxy.syncPeriod", "proxy-sync-period"),
    ("proxy.minSyncPeriod", "proxy-min-sync-period"),
    ("bgp.enabled", "bgp-enabled"),
    ("bgp.asn", "bgp-asn"),
    ("bgp.routerId", "bgp-router-id"),
    ("bgp.listenAddresses", "bgp-listen-addresses"),
    ("bgp.listenPort", "bgp-listen-port"),
    ("bgp.nodesFullMesh", "bgp-nodes-full-mesh"),
    ("bgp.advertise.clusterIP", "bgp-advertise-cluster-ip"),
    ("bgp.advertise.externalIP", "bgp-advertise-external-ip"),
    (
        "bgp.advertise.loadBalancerIP",
        "bgp-advertise-load-balancer-ip",
    ),
    ("bgp.advertise.podCIDR", "bgp-advertise-pod-cidr"),
    (
        "bgp.gracefulRestart.enabled",
        "bgp-graceful-restart-enabled",
    ),
    (
        "bgp.gracefulRestart.restartTime",
        "bgp-graceful-restart-time",
    ),
    ("bgp.peers", "bgp-peers"),
    ("health.address", "health-address"),
    ("metrics.address", "metrics-address"),
    ("admin.socket", "admin-socket"),
];

/// The env var of a flag: `proxy-mode` → `KROUTE_PROXY_MODE`.
pub fn env_name(flag: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        flag.to_ascii_uppercase().replace('-', "_")
    )
}

/// The flag of a key path in [`KEYS`] (empty when it has none).
pub fn flag_of(key: &str) -> &'static str {
    KEYS.iter()
        .find(|(k, _)| *k == key)
        .map(|(_, f)| *f)
        .unwrap_or("")
}

/// The `&'static` spelling of a leaf key path, if it is one.
pub(super) fn static_key(path: &str) -> Option<&'static str> {
    KEYS.iter().map(|(key, _)| *key).find(|key| *key == path)
}

/// The shape of a leaf key path (`Scalar` for an unknown one).
pub(super) fn leaf_shape(key: &str) -> &'static Shape {
    let mut schema = SCHEMA;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let Some((_, shape)) = schema.iter().find(|(name, _)| *name == part) else {
            break;
        };
        match shape {
            Shape::Map(inner) if parts.peek().is_some() => schema = inner,
            other => return other,
        }
    }
    &Shape::Scalar
}
