//! The command-line flags: one per config key, flattened into every
//! subcommand. Each is optional text, so "not given" is distinguishable from
//! a default; the loader parses and checks it like a file value. Booleans
//! take an explicit value: `--proxy-masquerade-all=true`.

use std::path::PathBuf;

/// One flag per config key (see `docs/config.md`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ConfigFlags {
    /// Config file (YAML). Default: $KROUTE_CONFIG, else none.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// This node's name. Default: $NODE_NAME, else the hostname.
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// Standalone mode: directory of Service/EndpointSlice/Node manifests.
    #[arg(long, value_name = "DIR")]
    pub source_manifests: Option<String>,
    /// Kubeconfig file (default: in-cluster config).
    #[arg(long, value_name = "FILE")]
    pub source_kubeconfig: Option<String>,
    /// Program Services into the kernel (true or false; default true).
    #[arg(long, value_name = "BOOL")]
    pub proxy_enabled: Option<String>,
    /// Dataplane: nftables (default) or ipvs.
    #[arg(long, value_name = "MODE")]
    pub proxy_mode: Option<String>,
    /// Pod CIDRs of the cluster, comma separated: traffic from elsewhere is masqueraded.
    #[arg(long, value_name = "CIDRS")]
    pub proxy_cluster_cidrs: Option<String>,
    /// Service CIDRs of the cluster, comma separated.
    #[arg(long, value_name = "CIDRS")]
    pub proxy_service_cidrs: Option<String>,
    /// Where NodePorts listen: comma list of CIDRs or "primary" (default primary).
    #[arg(long, value_name = "LIST")]
    pub proxy_node_port_addresses: Option<String>,
    /// Masquerade all Service traffic (true or false; default false).
    #[arg(long, value_name = "BOOL")]
    pub proxy_masquerade_all: Option<String>,
    /// Full resync period: re-read the host and repair drift (default 30s).
    #[arg(long, value_name = "DURATION")]
    pub proxy_sync_period: Option<String>,
    /// Coalescing window for bursts of changes (default 100ms).
    #[arg(long, value_name = "DURATION")]
    pub proxy_min_sync_period: Option<String>,
    /// Run the embedded BGP speaker (true or false; default false).
    #[arg(long, value_name = "BOOL")]
    pub bgp_enabled: Option<String>,
    /// This node's AS number (default 64512) unless its Node annotation says otherwise.
    #[arg(long, value_name = "ASN")]
    pub bgp_asn: Option<String>,
    /// BGP router ID: "auto" (the node's IPv4 address, default) or an IPv4 address.
    #[arg(long, value_name = "ID")]
    pub bgp_router_id: Option<String>,
    /// Addresses BGP listens on, comma separated (default: all).
    #[arg(long, value_name = "IPS")]
    pub bgp_listen_addresses: Option<String>,
    /// Port BGP listens on (default 179).
    #[arg(long, value_name = "PORT")]
    pub bgp_listen_port: Option<String>,
    /// iBGP full mesh with the other nodes (true or false; default true).
    #[arg(long, value_name = "BOOL")]
    pub bgp_nodes_full_mesh: Option<String>,
    /// Announce ClusterIPs (true or false; default false).
    #[arg(long, value_name = "BOOL")]
    pub bgp_advertise_cluster_ip: Option<String>,
    /// Announce external IPs (true or false; default false).
    #[arg(long, value_name = "BOOL")]
    pub bgp_advertise_external_ip: Option<String>,
    /// Announce LoadBalancer ingress IPs (true or false; default true).
    #[arg(long, value_name = "BOOL")]
    pub bgp_advertise_load_balancer_ip: Option<String>,
    /// Announce this node's pod CIDRs (true or false; default true).
    #[arg(long, value_name = "BOOL")]
    pub bgp_advertise_pod_cidr: Option<String>,
    /// BGP graceful restart (true or false; default true).
    #[arg(long, value_name = "BOOL")]
    pub bgp_graceful_restart_enabled: Option<String>,
    /// Graceful restart time announced to peers (default 90s, at most 4095s).
    #[arg(long, value_name = "DURATION")]
    pub bgp_graceful_restart_time: Option<String>,
    /// Global peers: a YAML or JSON list, same schema as `bgp.peers` in the file.
    #[arg(long, value_name = "YAML")]
    pub bgp_peers: Option<String>,
    /// Health server address (default 0.0.0.0:10256).
    #[arg(long, value_name = "ADDR:PORT")]
    pub health_address: Option<String>,
    /// Metrics server address (default 127.0.0.1:10249).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_address: Option<String>,
    /// Admin unix socket (default /run/kroute/kroute.sock).
    #[arg(long, value_name = "PATH")]
    pub admin_socket: Option<String>,
}

impl ConfigFlags {
    /// The value given for a flag (by its name in [`KEYS`](super::KEYS)).
    pub(super) fn get(&self, flag: &str) -> Option<&str> {
        let v = match flag {
            "node-name" => &self.node_name,
            "source-manifests" => &self.source_manifests,
            "source-kubeconfig" => &self.source_kubeconfig,
            "proxy-enabled" => &self.proxy_enabled,
            "proxy-mode" => &self.proxy_mode,
            "proxy-cluster-cidrs" => &self.proxy_cluster_cidrs,
            "proxy-service-cidrs" => &self.proxy_service_cidrs,
            "proxy-node-port-addresses" => &self.proxy_node_port_addresses,
            "proxy-masquerade-all" => &self.proxy_masquerade_all,
            "proxy-sync-period" => &self.proxy_sync_period,
            "proxy-min-sync-period" => &self.proxy_min_sync_period,
            "bgp-enabled" => &self.bgp_enabled,
            "bgp-asn" => &self.bgp_asn,
            "bgp-router-id" => &self.bgp_router_id,
            "bgp-listen-addresses" => &self.bgp_listen_addresses,
            "bgp-listen-port" => &self.bgp_listen_port,
            "bgp-nodes-full-mesh" => &self.bgp_nodes_full_mesh,
            "bgp-advertise-cluster-ip" => &self.bgp_advertise_cluster_ip,
            "bgp-advertise-external-ip" => &self.bgp_advertise_external_ip,
            "bgp-advertise-load-balancer-ip" => &self.bgp_advertise_load_balancer_ip,
            "bgp-advertise-pod-cidr" => &self.bgp_advertise_pod_cidr,
            "bgp-graceful-restart-enabled" => &self.bgp_graceful_restart_enabled,
            "bgp-graceful-restart-time" => &self.bgp_graceful_restart_time,
            "bgp-peers" => &self.bgp_peers,
            "health-address" => &self.health_address,
            "metrics-address" => &self.metrics_address,
            "admin-socket" => &self.admin_socket,
            _ => &None,
        };
        v.as_deref()
    }
}
