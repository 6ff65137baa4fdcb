//! The configuration: file (YAML) < env (`KROUTE_*`) < flags. Loading lives in
//! `config_load`; this file is the shape and the defaults.

use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

/// Dataplane of the service proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ProxyMode {
    #[default]
    Nftables,
    Ipvs,
}

/// One entry of `proxy.nodePortAddresses`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodePortAddress {
    /// The node's primary address of each family.
    Primary,
    /// Every local address inside this prefix.
    Cidr(IpNet),
}

/// `source:`
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceConfig {
    /// Standalone mode: a directory of manifests.
    pub manifests: Option<PathBuf>,
    pub kubeconfig: Option<PathBuf>,
}

/// `proxy:`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyConfig {
    pub enabled: bool,
    pub mode: ProxyMode,
    pub cluster_cidrs: Vec<IpNet>,
    pub service_cidrs: Vec<IpNet>,
    pub node_port_addresses: Vec<NodePortAddress>,
    pub masquerade_all: bool,
    pub sync_period: Duration,
    pub min_sync_period: Duration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            enabled: true,
            mode: ProxyMode::Nftables,
            cluster_cidrs: Vec::new(),
            service_cidrs: Vec::new(),
            node_port_addresses: vec![NodePortAddress::Primary],
            masquerade_all: false,
            sync_period: Duration::from_secs(30),
            min_sync_period: Duration::from_millis(100),
        }
    }
}

/// `bgp.advertise`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdvertiseConfig {
    pub cluster_ip: bool,
    pub external_ip: bool,
    pub load_balancer_ip: bool,
    pub pod_cidr: bool,
}

impl Default for AdvertiseConfig {
    fn default() -> Self {
        AdvertiseConfig {
            cluster_ip: false,
            external_ip: false,
            load_balancer_ip: true,
            pod_cidr: true,
        }
    }
}

/// `bgp.gracefulRestart`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GracefulRestartConfig {
    pub enabled: bool,
    pub restart_time: Duration,
}

impl Default for GracefulRestartConfig {
    fn default() -> Self {
        GracefulRestartConfig {
            enabled: true,
            restart_time: Duration::from_secs(90),
        }
    }
}

/// One entry of `bgp.peers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    pub address: std::net::IpAddr,
    pub asn: u32,
    pub port: u16,
    pub password_file: Option<PathBuf>,
    pub password: Option<String>,
    pub hold_time: Duration,
    pub keepalive_time: Duration,
    pub multihop_ttl: u8,
    pub passive: bool,
    /// Import: routes inside these prefixes are accepted (empty: none).
    pub accept_prefixes: Vec<ipnet::IpNet>,
    /// Received prefixes allowed before the session is closed (0: no limit).
    pub max_prefixes: u32,
}

/// `bgp:`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpConfig {
    pub enabled: bool,
    pub asn: u32,
    /// `None` = auto (the node's IPv4 address).
    pub router_id: Option<std::net::Ipv4Addr>,
    pub listen_addresses: Vec<std::net::IpAddr>,
    pub listen_port: u16,
    pub nodes_full_mesh: bool,
    pub advertise: AdvertiseConfig,
    pub graceful_restart: GracefulRestartConfig,
    pub peers: Vec<PeerConfig>,
}

impl Default for BgpConfig {
    fn default() -> Self {
        BgpConfig {
            enabled: false,
            asn: 64512,
            router_id: None,
            listen_addresses: Vec::new(),
            listen_port: 179,
            nodes_full_mesh: true,
            advertise: AdvertiseConfig::default(),
            graceful_restart: GracefulRestartConfig::default(),
            peers: Vec::new(),
        }
    }
}

/// The whole configuration, after merging file, env and flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Default: `$NODE_NAME`, else the hostname.
    pub node_name: String,
    pub source: SourceConfig,
    pub proxy: ProxyConfig,
    pub bgp: BgpConfig,
    pub health_address: std::net::SocketAddr,
    pub metrics_address: std::net::SocketAddr,
    pub admin_socket: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_name: String::new(),
            source: SourceConfig::default(),
            proxy: ProxyConfig::default(),
            bgp: BgpConfig::default(),
            health_address: "0.0.0.0:10256".parse().expect("valid literal"),
            metrics_address: "127.0.0.1:10249".parse().expect("valid literal"),
            admin_socket: PathBuf::from("/run/kroute/kroute.sock"),
        }
    }
}
