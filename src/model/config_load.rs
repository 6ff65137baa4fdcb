//! Loading the configuration: defaults < file (`--config` or
//! `KROUTE_CONFIG`) < env (`KROUTE_<KEY>`) < flags (`--<key>`).
//!
//! Every layer is parsed and checked on its own, so a typo in the file is an
//! error even when a flag overrides that key. Errors name the source (file,
//! `env KROUTE_X` or `flag --x`), the key path and the bad value.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde_json::Value;

use super::annotations::values::{check_asn, parse_bool};
use super::config::{Config, NodePortAddress, PeerConfig, ProxyMode};

/// Env var naming the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "KROUTE_CONFIG";
/// Prefix of the env var of every config key.
pub const ENV_PREFIX: &str = "KROUTE_";
/// Where the node name comes from when neither file, env nor flag sets it.
pub const NODE_NAME_ENV: &str = "NODE_NAME";
const HOSTNAME_FILE: &str = "/proc/sys/kernel/hostname";

/// One flag per config key. Every value is optional text, so "not given" is
/// distinguishable from a default; the loader parses and checks it.
/// Booleans take an explicit value: `--proxy-masquerade-all=true`.
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
    #[arg(long, value_name = "BOOL")]
    pub proxy_enabled: Option<String>,
    /// nftables | ipvs
    #[arg(long, value_name = "MODE")]
    pub proxy_mode: Option<String>,
    /// Comma list of CIDRs.
    #[arg(long, value_name = "CIDRS")]
    pub proxy_cluster_cidrs: Option<String>,
    /// Comma list of CIDRs.
    #[arg(long, value_name = "CIDRS")]
    pub proxy_service_cidrs: Option<String>,
    /// Comma list of CIDRs or "primary".
    #[arg(long, value_name = "LIST")]
    pub proxy_node_port_addresses: Option<String>,
    #[arg(long, value_name = "BOOL")]
    pub proxy_masquerade_all: Option<String>,
    /// Full resync period, e.g. 30s.
    #[arg(long, value_name = "DURATION")]
    pub proxy_sync_period: Option<String>,
    /// Coalescing window for bursts, e.g. 100ms.
    #[arg(long, value_name = "DURATION")]
    pub proxy_min_sync_period: Option<String>,
    #[arg(long, value_name = "BOOL")]
    pub bgp_enabled: Option<String>,
    #[arg(long, value_name = "ASN")]
    pub bgp_asn: Option<String>,
    /// "auto" or an IPv4 address.
    #[arg(long, value_name = "ID")]
    pub bgp_router_id: Option<String>,
    /// Comma list of IP addresses (default: all).
    #[arg(long, value_name = "IPS")]
    pub bgp_listen_addresses: Option<String>,
    #[arg(long, value_name = "PORT")]
    pub bgp_listen_port: Option<String>,
    #[arg(long, value_name = "BOOL")]
    pub bgp_nodes_full_mesh: Option<String>,
    #[arg(long, value_name = "BOOL")]
    pub bgp_advertise_cluster_ip: Option<String>,
    #[arg(long, value_name = "BOOL")]
    pub bgp_advertise_external_ip: Option<String>,
    #[arg(long, value_name = "BOOL")]
    pub bgp_advertise_load_balancer_ip: Option<String>,
    #[arg(long, value_name = "BOOL")]
    pub bgp_advertise_pod_cidr: Option<String>,
    #[arg(long, value_name = "BOOL")]
    pub bgp_graceful_restart_enabled: Option<String>,
    #[arg(long, value_name = "DURATION")]
    pub bgp_graceful_restart_time: Option<String>,
    /// Global peers: a YAML or JSON list, same schema as `bgp.peers` in the file.
    #[arg(long, value_name = "YAML")]
    pub bgp_peers: Option<String>,
    #[arg(long, value_name = "ADDR:PORT")]
    pub health_address: Option<String>,
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_address: Option<String>,
    #[arg(long, value_name = "PATH")]
    pub admin_socket: Option<String>,
}

/// What a config error is about: where the value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    /// The env var's name.
    Env(String),
    /// The flag's name, without dashes.
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Flag(name) => write!(f, "flag --{name}"),
        }
    }
}

/// A configuration that cannot be used. Each names its source, and where
/// it applies the key path and the bad value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file cannot be read.
    #[error("{path}: cannot read config file: {error}")]
    ReadFile {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    /// The file (or a YAML-valued env var or flag) is not valid YAML.
    #[error("{source_name}: invalid YAML: {message}")]
    Syntax {
        source_name: Source,
        message: String,
    },
    /// A key kroute does not know: most likely a typo.
    #[error("{source_name}: unknown key {key}")]
    UnknownKey { source_name: Source, key: String },
    /// A value of the wrong shape (a scalar where a list or map belongs, …).
    #[error("{source_name}: {key}: expected {expected}, got {value}")]
    WrongShape {
        source_name: Source,
        key: String,
        expected: &'static str,
        value: String,
    },
    /// A value that does not parse or is not allowed.
    #[error("{source_name}: {key}: {problem} {value:?}")]
    InvalidValue {
        source_name: Source,
        key: String,
        value: String,
        /// e.g. `invalid duration`.
        problem: String,
    },
    /// No node name: none configured, no `$NODE_NAME`, no readable hostname.
    #[error("nodeName: not configured, ${NODE_NAME_ENV} unset and no hostname in {HOSTNAME_FILE}")]
    NoNodeName,
}

/// The shape of a config value in the file.
enum Shape {
    Scalar,
    List,
    Peers,
    Map(&'static [(&'static str, Shape)]),
}

const PEER_KEYS: &[&str] = &[
    "address",
    "asn",
    "port",
    "passwordFile",
    "password",
    "holdTime",
    "keepaliveTime",
    "multihopTTL",
    "passive",
];

const SCHEMA: &[(&str, Shape)] = &[
    ("nodeName", Shape::Scalar),
    (
        "source",
        Shape::Map(&[("manifests", Shape::Scalar), ("kubeconfig", Shape::Scalar)]),
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
    ("admin", Shape::Map(&[("socket", Shape::Scalar)])),
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

impl ConfigFlags {
    /// The value given for a flag (by its name in [`KEYS`]).
    fn get(&self, flag: &str) -> Option<&str> {
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

/// A value as one layer gives it, before parsing.
#[derive(Clone, Debug, PartialEq)]
enum Raw {
    Scalar(String),
    List(Vec<String>),
    /// Each peer's keys (already checked against [`PEER_KEYS`]) and values.
    Peers(Vec<BTreeMap<String, String>>),
}

/// One layer: key path → raw value.
type Layer = BTreeMap<&'static str, Raw>;

/// Loads the configuration. `env` reads an environment variable (injected so
/// tests need not touch the process environment).
pub fn load_config(
    flags: &ConfigFlags,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let home = env("HOME");
    let mut layers: Vec<(Source, Layer)> = Vec::new();

    if let Some(path) = config_path(flags, env) {
        let text = std::fs::read_to_string(&path).map_err(|error| ConfigError::ReadFile {
            path: path.clone(),
            error,
        })?;
        let source = Source::File(path);
        let layer = file_layer(&text, &source)?;
        layers.push((source, layer));
    }

    let mut env_layer = Layer::new();
    let mut env_source_of = BTreeMap::new();
    for (key, flag) in KEYS {
        let name = env_name(flag);
        if let Some(value) = env(&name) {
            let source = Source::Env(name);
            env_layer.insert(key, text_value(key, &value, &source)?);
            env_source_of.insert(*key, source);
        }
    }

    let mut flag_layer = Layer::new();
    for (key, flag) in KEYS {
        if let Some(value) = flags.get(flag) {
            flag_layer.insert(key, text_value(key, value, &Source::Flag(flag))?);
        }
    }

    let mut builder = Builder {
        config: Config::default(),
        sources: BTreeMap::new(),
        home,
    };
    for (source, layer) in &layers {
        builder.apply_layer(layer, |_| source.clone())?;
    }
    builder.apply_layer(&env_layer, |key| env_source_of[key].clone())?;
    builder.apply_layer(&flag_layer, |key| Source::Flag(flag_of(key)))?;

    if !builder.sources.contains_key("nodeName") {
        builder.config.node_name = env(NODE_NAME_ENV)
            .filter(|s| !s.trim().is_empty())
            .or_else(|| {
                std::fs::read_to_string(HOSTNAME_FILE)
                    .ok()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
            })
            .ok_or(ConfigError::NoNodeName)?;
    }
    builder.check()?;
    Ok(builder.config)
}

fn flag_of(key: &str) -> &'static str {
    KEYS.iter()
        .find(|(k, _)| *k == key)
        .map(|(_, f)| *f)
        .unwrap_or("")
}

fn expand_home(path: &str, home: Option<&str>) -> PathBuf {
    match (path.strip_prefix('~'), home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            PathBuf::from(format!("{home}{rest}"))
        }
        _ => PathBuf::from(path),
    }
}

fn parse_yaml(text: &str, source: &Source) -> Result<Value, ConfigError> {
    // An empty (or comments-only) document is no value at all.
    serde_saphyr::from_str::<Option<Value>>(text)
        .map(|v| v.unwrap_or(Value::Null))
        .map_err(|e| ConfigError::Syntax {
            source_name: source.clone(),
            message: e.to_string(),
        })
}

/// Parses the file into a flat layer, checking keys and shapes.
fn file_layer(text: &str, source: &Source) -> Result<Layer, ConfigError> {
    let value = parse_yaml(text, source)?;
    let mut layer = Layer::new();
    if value.is_null() {
        return Ok(layer);
    }
    walk_map(&value, SCHEMA, "", source, &mut layer)?;
    Ok(layer)
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn walk_map(
    value: &Value,
    schema: &'static [(&'static str, Shape)],
    prefix: &str,
    source: &Source,
    layer: &mut Layer,
) -> Result<(), ConfigError> {
    let path_of = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    let Value::Object(map) = value else {
        return Err(ConfigError::WrongShape {
            source_name: source.clone(),
            key: if prefix.is_empty() {
                "(top level)".into()
            } else {
                prefix.into()
            },
            expected: "a map",
            value: shown(value),
        });
    };
    for (k, v) in map {
        let Some((_, shape)) = schema.iter().find(|(name, _)| name == k) else {
            return Err(ConfigError::UnknownKey {
                source_name: source.clone(),
                key: path_of(k),
            });
        };
        let path = path_of(k);
        if v.is_null() {
            continue; // `key:` with no value: as if absent
        }
        let leaf = |layer: &mut Layer, raw: Raw| {
            let key = KEYS
                .iter()
                .map(|(key, _)| *key)
                .find(|key| *key == path)
                .expect("every schema leaf is in KEYS");
            layer.insert(key, raw);
        };
        match shape {
            Shape::Map(inner) => walk_map(v, inner, &path, source, layer)?,
            Shape::Scalar => leaf(layer, Raw::Scalar(scalar(v, &path, source)?)),
            Shape::List => {
                let Value::Array(items) = v else {
                    return Err(ConfigError::WrongShape {
                        source_name: source.clone(),
                        key: path,
                        expected: "a list",
                        value: shown(v),
                    });
                };
                let items = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| scalar(item, &format!("{path}[{i}]"), source))
                    .collect::<Result<_, _>>()?;
                leaf(layer, Raw::List(items));
            }
            Shape::Peers => leaf(layer, Raw::Peers(peers(v, &path, source)?)),
        }
    }
    Ok(())
}

fn scalar(v: &Value, path: &str, source: &Source) -> Result<String, ConfigError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(ConfigError::WrongShape {
            source_name: source.clone(),
            key: path.to_string(),
            expected: "a single value",
            value: shown(other),
        }),
    }
}

fn peers(
    v: &Value,
    path: &str,
    source: &Source,
) -> Result<Vec<BTreeMap<String, String>>, ConfigError> {
    let Value::Array(items) = v else {
        return Err(ConfigError::WrongShape {
            source_name: source.clone(),
            key: path.to_string(),
            expected: "a list of peers",
            value: shown(v),
        });
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let Value::Object(map) = item else {
            return Err(ConfigError::WrongShape {
                source_name: source.clone(),
                key: at,
                expected: "a map",
                value: shown(item),
            });
        };
        let mut peer = BTreeMap::new();
        for (k, v) in map {
            if !PEER_KEYS.contains(&k.as_str()) {
                return Err(ConfigError::UnknownKey {
                    source_name: source.clone(),
                    key: format!("{at}.{k}"),
                });
            }
            if !v.is_null() {
                peer.insert(k.clone(), scalar(v, &format!("{at}.{k}"), source)?);
            }
        }
        out.push(peer);
    }
    Ok(out)
}

/// An env or flag value: comma lists split, peers parsed as YAML (JSON is YAML).
fn text_value(key: &str, text: &str, source: &Source) -> Result<Raw, ConfigError> {
    let shape = leaf_shape(key);
    Ok(match shape {
        Shape::List => Raw::List(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        ),
        Shape::Peers => {
            let value = parse_yaml(text, source)?;
            if value.is_null() {
                Raw::Peers(Vec::new())
            } else {
                Raw::Peers(peers(&value, key, source)?)
            }
        }
        Shape::Scalar | Shape::Map(_) => Raw::Scalar(text.to_string()),
    })
}

fn leaf_shape(key: &str) -> &'static Shape {
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

/// Applies layers to a config, remembering where each key came from.
struct Builder {
    config: Config,
    sources: BTreeMap<&'static str, Source>,
    home: Option<String>,
}

/// Parses one value; the error carries the problem text.
type Parsed<T> = Result<T, String>;

fn duration(v: &str) -> Parsed<Duration> {
    humantime::parse_duration(v.trim()).map_err(|_| "invalid duration".into())
}

fn boolean(v: &str) -> Parsed<bool> {
    parse_bool(v).map_err(|_| "invalid boolean (true or false)".into())
}

fn cidr(v: &str) -> Parsed<IpNet> {
    v.trim().parse().map_err(|_| "invalid CIDR".into())
}

fn ip(v: &str) -> Parsed<IpAddr> {
    v.trim().parse().map_err(|_| "invalid IP address".into())
}

fn port(v: &str) -> Parsed<u16> {
    match v.trim().parse::<u16>() {
        Ok(0) | Err(_) => Err("invalid port (1-65535)".into()),
        Ok(p) => Ok(p),
    }
}

fn asn(v: &str) -> Parsed<u32> {
    let n: u32 = v
        .trim()
        .parse()
        .map_err(|_| "invalid AS number".to_string())?;
    check_asn(n).map_err(|e| format!("invalid AS number ({e})"))?;
    Ok(n)
}

fn proxy_mode(v: &str) -> Parsed<ProxyMode> {
    match v.trim().to_ascii_lowercase().as_str() {
        "nftables" => Ok(ProxyMode::Nftables),
        "ipvs" => Ok(ProxyMode::Ipvs),
        _ => Err("invalid mode (nftables or ipvs)".into()),
    }
}

/// `auto` is `None`.
fn router_id(v: &str) -> Parsed<Option<Ipv4Addr>> {
    match v.trim() {
        "auto" => Ok(None),
        other => other
            .parse::<Ipv4Addr>()
            .map(Some)
            .map_err(|_| "invalid router ID (auto or an IPv4 address)".into()),
    }
}

fn socket_addr(v: &str) -> Parsed<SocketAddr> {
    v.trim()
        .parse()
        .map_err(|_| "invalid address (expected IP:PORT)".into())
}

impl Builder {
    fn apply_layer(
        &mut self,
        layer: &Layer,
        source_of: impl Fn(&str) -> Source,
    ) -> Result<(), ConfigError> {
        for (key, raw) in layer {
            let source = source_of(key);
            self.apply(key, raw, &source)?;
            self.sources.insert(key, source);
        }
        Ok(())
    }

    fn apply(&mut self, key: &'static str, raw: &Raw, source: &Source) -> Result<(), ConfigError> {
        let err = |path: &str, value: &str, problem: String| ConfigError::InvalidValue {
            source_name: source.clone(),
            key: path.to_string(),
            value: value.to_string(),
            problem,
        };
        let c = &mut self.config;
        match raw {
            Raw::Scalar(v) => {
                let wrap = |r: Parsed<()>| r.map_err(|problem| err(key, v, problem));
                let path = |v: &str| expand_home(v, self.home.as_deref());
                match key {
                    "nodeName" if v.trim().is_empty() => {
                        return Err(err(key, v, "empty node name".into()));
                    }
                    "nodeName" => c.node_name = v.trim().to_string(),
                    "source.manifests" => c.source.manifests = Some(path(v)),
                    "source.kubeconfig" => c.source.kubeconfig = Some(path(v)),
                    "proxy.enabled" => wrap(boolean(v).map(|b| c.proxy.enabled = b))?,
                    "proxy.mode" => wrap(proxy_mode(v).map(|m| c.proxy.mode = m))?,
                    "proxy.masqueradeAll" => wrap(boolean(v).map(|b| c.proxy.masquerade_all = b))?,
                    "proxy.syncPeriod" => wrap(duration(v).map(|d| c.proxy.sync_period = d))?,
                    "proxy.minSyncPeriod" => {
                        wrap(duration(v).map(|d| c.proxy.min_sync_period = d))?
                    }
                    "bgp.enabled" => wrap(boolean(v).map(|b| c.bgp.enabled = b))?,
                    "bgp.asn" => wrap(asn(v).map(|n| c.bgp.asn = n))?,
                    "bgp.routerId" => wrap(router_id(v).map(|id| c.bgp.router_id = id))?,
                    "bgp.listenPort" => wrap(port(v).map(|p| c.bgp.listen_port = p))?,
                    "bgp.nodesFullMesh" => wrap(boolean(v).map(|b| c.bgp.nodes_full_mesh = b))?,
                    "bgp.advertise.clusterIP" => {
                        wrap(boolean(v).map(|b| c.bgp.advertise.cluster_ip = b))?
                    }
                    "bgp.advertise.externalIP" => {
                        wrap(boolean(v).map(|b| c.bgp.advertise.external_ip = b))?
                    }
                    "bgp.advertise.loadBalancerIP" => {
                        wrap(boolean(v).map(|b| c.bgp.advertise.load_balancer_ip = b))?
                    }
                    "bgp.advertise.podCIDR" => {
                        wrap(boolean(v).map(|b| c.bgp.advertise.pod_cidr = b))?
                    }
                    "bgp.gracefulRestart.enabled" => {
                        wrap(boolean(v).map(|b| c.bgp.graceful_restart.enabled = b))?
                    }
                    "bgp.gracefulRestart.restartTime" => wrap(duration(v).and_then(|d| {
                        // The capability carries the time in 12 bits of seconds.
                        if d.as_secs() > 4095 {
                            Err("restart time above 4095s".into())
                        } else {
                            c.bgp.graceful_restart.restart_time = d;
                            Ok(())
                        }
                    }))?,
                    "health.address" => wrap(socket_addr(v).map(|a| c.health_address = a))?,
                    "metrics.address" => wrap(socket_addr(v).map(|a| c.metrics_address = a))?,
                    "admin.socket" => c.admin_socket = path(v),
                    _ => {}
                }
            }
            Raw::List(items) => {
                fn each<T>(
                    key: &str,
                    items: &[String],
                    parse: fn(&str) -> Parsed<T>,
                    err: &dyn Fn(&str, &str, String) -> ConfigError,
                ) -> Result<Vec<T>, ConfigError> {
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| parse(v).map_err(|p| err(&format!("{key}[{i}]"), v, p)))
                        .collect()
                }
                match key {
                    "proxy.clusterCIDRs" => c.proxy.cluster_cidrs = each(key, items, cidr, &err)?,
                    "proxy.serviceCIDRs" => c.proxy.service_cidrs = each(key, items, cidr, &err)?,
                    "proxy.nodePortAddresses" => {
                        c.proxy.node_port_addresses = each(
                            key,
                            items,
                            |v| {
                                if v.trim().eq_ignore_ascii_case("primary") {
                                    Ok(NodePortAddress::Primary)
                                } else {
                                    cidr(v).map(NodePortAddress::Cidr).map_err(|_| {
                                        "invalid node port address (a CIDR or primary)".into()
                                    })
                                }
                            },
                            &err,
                        )?
                    }
                    "bgp.listenAddresses" => c.bgp.listen_addresses = each(key, items, ip, &err)?,
                    _ => {}
                }
            }
            Raw::Peers(peers) => {
                let mut parsed = Vec::new();
                for (i, peer) in peers.iter().enumerate() {
                    parsed.push(self.peer(key, i, peer, source)?);
                }
                self.config.bgp.peers = parsed;
            }
        }
        Ok(())
    }

    fn peer(
        &self,
        key: &str,
        index: usize,
        fields: &BTreeMap<String, String>,
        source: &Source,
    ) -> Result<PeerConfig, ConfigError> {
        let at = |field: &str| format!("{key}[{index}].{field}");
        let get = |field: &str| fields.get(field).map(String::as_str);
        fn field<T>(
            source: &Source,
            path: String,
            value: Option<&str>,
            parse: impl Fn(&str) -> Parsed<T>,
        ) -> Result<Option<T>, ConfigError> {
            value
                .map(|v| {
                    parse(v).map_err(|problem| ConfigError::InvalidValue {
                        source_name: source.clone(),
                        key: path,
                        value: v.to_string(),
                        problem,
                    })
                })
                .transpose()
        }
        let required = |field: &str| ConfigError::InvalidValue {
            source_name: source.clone(),
            key: at(field),
            value: String::new(),
            problem: "required, missing".into(),
        };
        let address =
            field(source, at("address"), get("address"), ip)?.ok_or_else(|| required("address"))?;
        let asn = field(source, at("asn"), get("asn"), asn)?.ok_or_else(|| required("asn"))?;
        let port = field(source, at("port"), get("port"), port)?.unwrap_or(179);
        let password_file = field(source, at("passwordFile"), get("passwordFile"), |v| {
            if v.trim().is_empty() {
                Err("empty path".into())
            } else {
                Ok(expand_home(v.trim(), self.home.as_deref()))
            }
        })?;
        let password = get("password").map(String::from);
        if password.is_some() && password_file.is_some() {
            return Err(ConfigError::InvalidValue {
                source_name: source.clone(),
                key: at("password"),
                value: "<redacted>".into(),
                problem: "password and passwordFile are exclusive, both given:".into(),
            });
        }
        let hold_time = field(source, at("holdTime"), get("holdTime"), |v| {
            let d = duration(v)?;
            // RFC 4271: zero (no keepalives) or at least three seconds.
            if d != Duration::ZERO && d < Duration::from_secs(3) || d.as_secs() > 65535 {
                return Err("invalid hold time (0, or 3s to 65535s)".into());
            }
            Ok(d)
        })?
        .unwrap_or(Duration::from_secs(90));
        let keepalive_time = field(source, at("keepaliveTime"), get("keepaliveTime"), duration)?
            .unwrap_or(hold_time / 3);
        if hold_time != Duration::ZERO && keepalive_time >= hold_time {
            return Err(ConfigError::InvalidValue {
                source_name: source.clone(),
                key: at("keepaliveTime"),
                value: humantime::format_duration(keepalive_time).to_string(),
                problem: format!(
                    "must be less than holdTime ({}), got",
                    humantime::format_duration(hold_time)
                ),
            });
        }
        let multihop_ttl = field(source, at("multihopTTL"), get("multihopTTL"), |v| {
            match v.trim().parse::<u8>() {
                Ok(0) | Err(_) => Err("invalid TTL (1-255)".into()),
                Ok(t) => Ok(t),
            }
        })?
        .unwrap_or(1);
        let passive = field(source, at("passive"), get("passive"), boolean)?.unwrap_or(false);
        Ok(PeerConfig {
            address,
            asn,
            port,
            password_file,
            password,
            hold_time,
            keepalive_time,
            multihop_ttl,
            passive,
        })
    }

    /// Checks between keys, on the merged result.
    fn check(&self) -> Result<(), ConfigError> {
        let source = |key: &str| self.sources.get(key).cloned().unwrap_or(Source::Default);
        let show = |d: Duration| humantime::format_duration(d).to_string();
        let proxy = &self.config.proxy;
        if proxy.sync_period.is_zero() {
            return Err(ConfigError::InvalidValue {
                source_name: source("proxy.syncPeriod"),
                key: "proxy.syncPeriod".into(),
                value: show(proxy.sync_period),
                problem: "must be positive, got".into(),
            });
        }
        if proxy.min_sync_period > proxy.sync_period {
            // Blame the key that was set explicitly (the minimum, unless only
            // the period was).
            let key = match source("proxy.minSyncPeriod") {
                Source::Default => "proxy.syncPeriod",
                _ => "proxy.minSyncPeriod",
            };
            let value = if key == "proxy.syncPeriod" {
                proxy.sync_period
            } else {
                proxy.min_sync_period
            };
            return Err(ConfigError::InvalidValue {
                source_name: source(key),
                key: key.into(),
                value: show(value),
                problem: format!(
                    "proxy.minSyncPeriod ({}) must not exceed proxy.syncPeriod ({}), got",
                    show(proxy.min_sync_period),
                    show(proxy.sync_period)
                ),
            });
        }
        if self.config.bgp.graceful_restart.enabled
            && self.config.bgp.graceful_restart.restart_time.is_zero()
        {
            return Err(ConfigError::InvalidValue {
                source_name: source("bgp.gracefulRestart.restartTime"),
                key: "bgp.gracefulRestart.restartTime".into(),
                value: "0s".into(),
                problem: "must be positive when graceful restart is enabled, got".into(),
            });
        }
        Ok(())
    }
}

/// The path of the config file in use, if any (for messages and reloads).
pub fn config_path(flags: &ConfigFlags, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let home = env("HOME");
    flags
        .config
        .clone()
        .or_else(|| env(CONFIG_ENV).filter(|s| !s.is_empty()).map(PathBuf::from))
        .map(|p| expand_home(&p.to_string_lossy(), home.as_deref()))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::model::config::{AdvertiseConfig, GracefulRestartConfig};

    /// The example of interfaces.md, verbatim.
    const EXAMPLE: &str = r#"nodeName: node-a              # default: $NODE_NAME, else the hostname
source:
  manifests: ./examples/cluster   # standalone: Service/EndpointSlice/Node YAML (multi-doc, any
                                  # file name), re-read on change. Omit to use Kubernetes:
  kubeconfig: ~/.kube/config      # or in-cluster config when neither is given
proxy:
  enabled: true
  mode: nftables              # nftables | ipvs
  clusterCIDRs: [10.244.0.0/16]
  serviceCIDRs: [10.96.0.0/12]
  nodePortAddresses: [primary]  # CIDRs, or "primary"
  masqueradeAll: false
  syncPeriod: 30s             # full resync: re-read the host, sweep drift
  minSyncPeriod: 100ms        # coalescing window for bursts
bgp:
  enabled: false
  asn: 64512                  # this node's ASN unless the node annotation says otherwise
  routerId: auto              # auto: the node's IPv4 address
  listenAddresses: []         # default: all
  listenPort: 179
  nodesFullMesh: true         # iBGP mesh with the other nodes (route reflectors via annotations)
  advertise: {clusterIP: false, externalIP: false, loadBalancerIP: true, podCIDR: true}
  gracefulRestart: {enabled: true, restartTime: 90s}
  peers:                      # global peers, every node peers with them
    - address: 10.0.0.1
      asn: 65000
      port: 179
      passwordFile: /etc/kroute/peer-pw   # or password: (discouraged)
      holdTime: 90s
      keepaliveTime: 30s
      multihopTTL: 1
      passive: false
health: {address: "0.0.0.0:10256"}
metrics: {address: "127.0.0.1:10249"}
admin: {socket: /run/kroute/kroute.sock}
"#;

    /// A config file in a temp dir; the dir lives as long as the value.
    struct File {
        _dir: tempfile::TempDir,
        path: PathBuf,
    }

    fn file(text: &str) -> File {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        File { _dir: dir, path }
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn base_env() -> Vec<(&'static str, &'static str)> {
        vec![("NODE_NAME", "env-node"), ("HOME", "/home/test")]
    }

    fn flags_with(config: &File) -> ConfigFlags {
        ConfigFlags {
            config: Some(config.path.clone()),
            ..ConfigFlags::default()
        }
    }

    fn load_file(text: &str) -> (Result<Config, ConfigError>, File) {
        let f = file(text);
        (load_config(&flags_with(&f), &env_of(&base_env())), f)
    }

    /// Parses flags the way the binary does.
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        flags: ConfigFlags,
    }

    fn flags(args: &[&str]) -> ConfigFlags {
        Cli::try_parse_from(std::iter::once("kroute").chain(args.iter().copied()))
            .unwrap()
            .flags
    }

    #[test]
    fn example_of_the_contract_loads() {
        let (cfg, _f) = load_file(EXAMPLE);
        let cfg = cfg.unwrap();
        let want = Config {
            node_name: "node-a".into(),
            source: crate::model::config::SourceConfig {
                manifests: Some("./examples/cluster".into()),
                kubeconfig: Some("/home/test/.kube/config".into()),
            },
            proxy: crate::model::config::ProxyConfig {
                cluster_cidrs: vec!["10.244.0.0/16".parse().unwrap()],
                service_cidrs: vec!["10.96.0.0/12".parse().unwrap()],
                ..Default::default()
            },
            bgp: crate::model::config::BgpConfig {
                advertise: AdvertiseConfig::default(),
                graceful_restart: GracefulRestartConfig::default(),
                peers: vec![PeerConfig {
                    address: "10.0.0.1".parse().unwrap(),
                    asn: 65000,
                    port: 179,
                    password_file: Some("/etc/kroute/peer-pw".into()),
                    password: None,
                    hold_time: Duration::from_secs(90),
                    keepalive_time: Duration::from_secs(30),
                    multihop_ttl: 1,
                    passive: false,
                }],
                ..Default::default()
            },
            ..Config::default()
        };
        assert_eq!(cfg, want);
    }

    #[test]
    fn empty_file_is_defaults() {
        for text in ["", "\n", "# only a comment\n", "---\n"] {
            let (cfg, _f) = load_file(text);
            let want = Config {
                node_name: "env-node".into(),
                ..Config::default()
            };
            assert_eq!(cfg.unwrap(), want, "{text:?}");
        }
    }

    #[test]
    fn no_file_no_env_no_flags_is_defaults() {
        let cfg = load_config(&ConfigFlags::default(), &env_of(&base_env())).unwrap();
        assert_eq!(
            cfg,
            Config {
                node_name: "env-node".into(),
                ..Config::default()
            }
        );
    }

    #[test]
    fn node_name_falls_back_to_the_hostname() {
        let cfg = load_config(&ConfigFlags::default(), &env_of(&[])).unwrap();
        let hostname = std::fs::read_to_string(HOSTNAME_FILE).unwrap();
        assert_eq!(cfg.node_name, hostname.trim());
    }

    #[test]
    fn precedence_flag_over_env_over_file_over_default() {
        let f = file(
            "proxy:\n  mode: ipvs\n  syncPeriod: 10s\n  clusterCIDRs: [10.0.0.0/8]\nbgp:\n  asn: 65001\n",
        );
        // file only
        let cfg = load_config(&flags_with(&f), &env_of(&base_env())).unwrap();
        assert_eq!(cfg.proxy.mode, ProxyMode::Ipvs);
        assert_eq!(cfg.proxy.sync_period, Duration::from_secs(10));
        assert_eq!(cfg.bgp.asn, 65001);
        assert_eq!(
            cfg.proxy.cluster_cidrs,
            vec!["10.0.0.0/8".parse::<IpNet>().unwrap()]
        );
        // default where the file says nothing
        assert_eq!(cfg.proxy.min_sync_period, Duration::from_millis(100));

        // env over file
        let mut env = base_env();
        env.extend([
            ("KROUTE_PROXY_MODE", "nftables"),
            ("KROUTE_PROXY_SYNC_PERIOD", "20s"),
            ("KROUTE_PROXY_CLUSTER_CIDRS", "10.1.0.0/16, 10.2.0.0/16"),
            ("KROUTE_BGP_ASN", "65002"),
        ]);
        let cfg = load_config(&flags_with(&f), &env_of(&env)).unwrap();
        assert_eq!(cfg.proxy.mode, ProxyMode::Nftables);
        assert_eq!(cfg.proxy.sync_period, Duration::from_secs(20));
        assert_eq!(cfg.bgp.asn, 65002);
        assert_eq!(cfg.proxy.cluster_cidrs.len(), 2);

        // flag over env
        let mut fl = flags(&[
            "--proxy-mode=ipvs",
            "--proxy-sync-period",
            "40s",
            "--proxy-cluster-cidrs=10.3.0.0/16",
            "--node-name=flag-node",
        ]);
        fl.config = Some(f.path.clone());
        let cfg = load_config(&fl, &env_of(&env)).unwrap();
        assert_eq!(cfg.proxy.mode, ProxyMode::Ipvs);
        assert_eq!(cfg.proxy.sync_period, Duration::from_secs(40));
        assert_eq!(
            cfg.proxy.cluster_cidrs,
            vec!["10.3.0.0/16".parse::<IpNet>().unwrap()]
        );
        assert_eq!(
            cfg.bgp.asn, 65002,
            "env still applies where no flag is given"
        );
        assert_eq!(cfg.node_name, "flag-node");
    }

    #[test]
    fn node_name_precedence() {
        let f = file("nodeName: file-node\n");
        let cfg = load_config(&flags_with(&f), &env_of(&base_env())).unwrap();
        assert_eq!(
            cfg.node_name, "file-node",
            "file beats $NODE_NAME (a default)"
        );
        let mut env = base_env();
        env.push(("KROUTE_NODE_NAME", "kroute-env-node"));
        let cfg = load_config(&flags_with(&f), &env_of(&env)).unwrap();
        assert_eq!(cfg.node_name, "kroute-env-node");
    }

    #[test]
    fn config_file_from_env_and_flag_over_env() {
        let from_env = file("proxy: {mode: ipvs}\n");
        let from_flag = file("proxy: {mode: nftables}\n");
        let mut env = base_env();
        let path = from_env.path.to_string_lossy().to_string();
        env.push(("KROUTE_CONFIG", &path));
        let cfg = load_config(&ConfigFlags::default(), &env_of(&env)).unwrap();
        assert_eq!(cfg.proxy.mode, ProxyMode::Ipvs);
        let cfg = load_config(&flags_with(&from_flag), &env_of(&env)).unwrap();
        assert_eq!(cfg.proxy.mode, ProxyMode::Nftables);
    }

    #[test]
    fn config_path_expands_home() {
        let f = file("proxy: {mode: ipvs}\n");
        let dir = f.path.parent().unwrap().to_string_lossy().to_string();
        let fl = ConfigFlags {
            config: Some("~/config.yaml".into()),
            ..ConfigFlags::default()
        };
        let cfg = load_config(&fl, &env_of(&[("HOME", &dir), ("NODE_NAME", "n")])).unwrap();
        assert_eq!(cfg.proxy.mode, ProxyMode::Ipvs);
    }

    #[test]
    fn peers_from_flag_replace_file_peers() {
        let f = file("bgp:\n  peers:\n    - {address: 10.0.0.1, asn: 65000}\n");
        let mut fl = flags(&[
            r#"--bgp-peers=[{"address": "10.0.0.9", "asn": 65009, "passive": true, "password": "pw"}]"#,
        ]);
        fl.config = Some(f.path.clone());
        let cfg = load_config(&fl, &env_of(&base_env())).unwrap();
        assert_eq!(cfg.bgp.peers.len(), 1);
        let p = &cfg.bgp.peers[0];
        assert_eq!(
            (p.address, p.asn, p.passive),
            ("10.0.0.9".parse().unwrap(), 65009, true)
        );
        assert_eq!(p.password.as_deref(), Some("pw"));
        assert_eq!(
            (p.hold_time, p.keepalive_time, p.multihop_ttl),
            (Duration::from_secs(90), Duration::from_secs(30), 1)
        );
    }

    #[test]
    fn every_key_has_a_flag_and_an_env_var() {
        let cmd = Cli::command();
        for (key, flag) in KEYS {
            assert!(
                cmd.get_arguments().any(|a| a.get_long() == Some(flag)),
                "{key}: no flag --{flag}"
            );
            assert!(env_name(flag).starts_with("KROUTE_"));
            assert!(
                !matches!(leaf_shape(key), Shape::Map(_)),
                "{key} is not a leaf"
            );
        }
        assert_eq!(
            env_name("proxy-cluster-cidrs"),
            "KROUTE_PROXY_CLUSTER_CIDRS"
        );
    }

    #[test]
    fn every_flag_is_read() {
        // Give each flag a recognisable bad value; each must be reported as its own.
        for (key, flag) in KEYS {
            if [
                "nodeName",
                "source.manifests",
                "source.kubeconfig",
                "admin.socket",
            ]
            .contains(key)
                || [
                    "proxy.clusterCIDRs",
                    "proxy.serviceCIDRs",
                    "proxy.nodePortAddresses",
                    "bgp.listenAddresses",
                ]
                .contains(key)
            {
                continue; // free text, or lists reported per item below
            }
            let arg = format!("--{flag}=@bad@");
            let err = load_config(&flags(&[&arg]), &env_of(&base_env()))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(&format!("flag --{flag}: ")), "{err}");
        }
        let err = load_config(
            &flags(&["--bgp-listen-addresses=10.0.0.1,@bad@"]),
            &env_of(&base_env()),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            r#"flag --bgp-listen-addresses: bgp.listenAddresses[1]: invalid IP address "@bad@""#
        );
    }

    #[test]
    fn every_schema_leaf_is_a_key() {
        fn leaves(schema: &[(&str, Shape)], prefix: &str, out: &mut Vec<String>) {
            for (name, shape) in schema {
                let path = if prefix.is_empty() {
                    name.to_string()
                } else {
                    format!("{prefix}.{name}")
                };
                match shape {
                    Shape::Map(inner) => leaves(inner, &path, out),
                    _ => out.push(path),
                }
            }
        }
        let mut all = Vec::new();
        leaves(SCHEMA, "", &mut all);
        let keys: Vec<String> = KEYS.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(all, keys);
    }

    #[test]
    fn boolean_flags_take_a_value() {
        let cfg = load_config(
            &flags(&["--proxy-masquerade-all=true", "--bgp-enabled", "TRUE"]),
            &env_of(&base_env()),
        )
        .unwrap();
        assert!(cfg.proxy.masquerade_all && cfg.bgp.enabled);
        assert!(Cli::try_parse_from(["kroute", "--proxy-masquerade-all"]).is_err());
    }

    /// (file text, exact error message after "<path>: ").
    #[test]
    fn file_errors_name_file_key_and_value() {
        let cases: &[(&str, &str)] = &[
            (
                "proxy:\n  syncPeriod: 30 parsecs\n",
                r#"proxy.syncPeriod: invalid duration "30 parsecs""#,
            ),
            (
                "proxy: {mode: iptables}\n",
                r#"proxy.mode: invalid mode (nftables or ipvs) "iptables""#,
            ),
            (
                "proxy: {enabled: maybe}\n",
                r#"proxy.enabled: invalid boolean (true or false) "maybe""#,
            ),
            (
                "proxy: {clusterCIDRs: [10.0.0.0/8, 10.0.0.0/33]}\n",
                r#"proxy.clusterCIDRs[1]: invalid CIDR "10.0.0.0/33""#,
            ),
            (
                "proxy: {nodePortAddresses: [secondary]}\n",
                r#"proxy.nodePortAddresses[0]: invalid node port address (a CIDR or primary) "secondary""#,
            ),
            (
                "proxy: {syncPeriod: 0s}\n",
                r#"proxy.syncPeriod: must be positive, got "0s""#,
            ),
            (
                "proxy: {minSyncPeriod: 1m}\n",
                r#"proxy.minSyncPeriod: proxy.minSyncPeriod (1m) must not exceed proxy.syncPeriod (30s), got "1m""#,
            ),
            (
                "proxy: {syncPeriod: 50ms}\n",
                r#"proxy.syncPeriod: proxy.minSyncPeriod (100ms) must not exceed proxy.syncPeriod (50ms), got "50ms""#,
            ),
            (
                "bgp: {asn: 0}\n",
                r#"bgp.asn: invalid AS number (AS number 0 is reserved) "0""#,
            ),
            (
                "bgp: {routerId: 10.0.0.300}\n",
                r#"bgp.routerId: invalid router ID (auto or an IPv4 address) "10.0.0.300""#,
            ),
            (
                "bgp: {listenPort: 70000}\n",
                r#"bgp.listenPort: invalid port (1-65535) "70000""#,
            ),
            (
                "bgp: {listenAddresses: [x]}\n",
                r#"bgp.listenAddresses[0]: invalid IP address "x""#,
            ),
            (
                "bgp: {gracefulRestart: {restartTime: 2h}}\n",
                r#"bgp.gracefulRestart.restartTime: restart time above 4095s "2h""#,
            ),
            (
                "bgp: {advertise: {podCIDR: 1}}\n",
                r#"bgp.advertise.podCIDR: invalid boolean (true or false) "1""#,
            ),
            (
                "bgp: {peers: [{address: 10.0.0.1, asn: 0}]}\n",
                r#"bgp.peers[0].asn: invalid AS number (AS number 0 is reserved) "0""#,
            ),
            (
                "bgp: {peers: [{address: 10.0.0.1, asn: 1}, {asn: 2}]}\n",
                r#"bgp.peers[1].address: required, missing """#,
            ),
            (
                "bgp: {peers: [{address: 10.0.0.1, asn: 1, port: 0}]}\n",
                r#"bgp.peers[0].port: invalid port (1-65535) "0""#,
            ),
            (
                "bgp: {peers: [{address: 10.0.0.1, asn: 1, holdTime: 1s}]}\n",
                r#"bgp.peers[0].holdTime: invalid hold time (0, or 3s to 65535s) "1s""#,
            ),
            (
                "bgp: {peers: [{address: 10.0.0.1, asn: 1, holdTime: 9s, keepaliveTime: 9s}]}\n",
                r#"bgp.peers[0].keepaliveTime: must be less than holdTime (9s), got "9s""#,
            ),
            (
                "bgp: {peers: [{address: 10.0.0.1, asn: 1, multihopTTL: 0}]}\n",
                r#"bgp.peers[0].multihopTTL: invalid TTL (1-255) "0""#,
            ),
            (
                "health: {address: localhost}\n",
                r#"health.address: invalid address (expected IP:PORT) "localhost""#,
            ),
            ("nodeName: \"\"\n", r#"nodeName: empty node name """#),
            // shapes
            (
                "proxy: {clusterCIDRs: 10.0.0.0/8}\n",
                r#"proxy.clusterCIDRs: expected a list, got "10.0.0.0/8""#,
            ),
            ("proxy: fast\n", r#"proxy: expected a map, got "fast""#),
            (
                "proxy: {mode: [ipvs]}\n",
                r#"proxy.mode: expected a single value, got ["ipvs"]"#,
            ),
            (
                "bgp: {peers: {address: 10.0.0.1}}\n",
                r#"bgp.peers: expected a list of peers, got {"address":"10.0.0.1"}"#,
            ),
            ("- a\n", r#"(top level): expected a map, got ["a"]"#),
            // unknown keys, at every depth
            ("nodename: a\n", "unknown key nodename"),
            ("proxy: {synPeriod: 30s}\n", "unknown key proxy.synPeriod"),
            (
                "bgp: {gracefulRestart: {restartTme: 1s}}\n",
                "unknown key bgp.gracefulRestart.restartTme",
            ),
            (
                "bgp: {peers: [{address: 10.0.0.1, asn: 1, hold: 3s}]}\n",
                "unknown key bgp.peers[0].hold",
            ),
        ];
        for (text, want) in cases {
            let (result, f) = load_file(text);
            let Err(err) = result else {
                panic!("{text:?} loaded");
            };
            let err = err.to_string();
            assert_eq!(err, format!("{}: {want}", f.path.display()), "{text:?}");
        }
    }

    #[test]
    fn syntax_error_names_the_file_and_line() {
        let (err, f) = load_file("proxy:\n  mode: nftables\n   bad: [\n");
        let err = err.unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("{}: invalid YAML: ", f.path.display())),
            "{text}"
        );
        assert!(text.contains("line 3") || text.contains(":3:"), "{text}");
    }

    #[test]
    fn unreadable_file_names_the_path() {
        let fl = ConfigFlags {
            config: Some("/nonexistent/kroute.yaml".into()),
            ..ConfigFlags::default()
        };
        let err = load_config(&fl, &env_of(&base_env())).unwrap_err();
        assert!(matches!(err, ConfigError::ReadFile { .. }));
        assert!(
            err.to_string()
                .starts_with("/nonexistent/kroute.yaml: cannot read config file")
        );
    }

    #[test]
    fn env_and_flag_errors_name_their_source() {
        let mut env = base_env();
        env.push(("KROUTE_PROXY_SYNC_PERIOD", "soon"));
        let err = load_config(&ConfigFlags::default(), &env_of(&env))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            r#"env KROUTE_PROXY_SYNC_PERIOD: proxy.syncPeriod: invalid duration "soon""#
        );

        let err = load_config(
            &flags(&["--bgp-peers=[{address: 10.0.0.1, asn: 65000, color: red}]"]),
            &env_of(&base_env()),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(err, "flag --bgp-peers: unknown key bgp.peers[0].color");

        let err = load_config(
            &flags(&["--proxy-min-sync-period=1h"]),
            &env_of(&base_env()),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("flag --proxy-min-sync-period: proxy.minSyncPeriod: "),
            "{err}"
        );
    }

    #[test]
    fn bad_file_value_is_an_error_even_when_a_flag_overrides_it() {
        let f = file("proxy: {mode: iptables}\n");
        let mut fl = flags(&["--proxy-mode=ipvs"]);
        fl.config = Some(f.path.clone());
        let err = load_config(&fl, &env_of(&base_env()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("proxy.mode") && err.contains("iptables"),
            "{err}"
        );
    }

    #[test]
    fn paths_expand_home() {
        let (cfg, _f) = load_file(
            "source: {manifests: ~/m}\nadmin: {socket: ~/s.sock}\nbgp: {peers: [{address: 10.0.0.1, asn: 1, passwordFile: ~/pw}]}\n",
        );
        let cfg = cfg.unwrap();
        assert_eq!(cfg.source.manifests, Some("/home/test/m".into()));
        assert_eq!(cfg.admin_socket, PathBuf::from("/home/test/s.sock"));
        assert_eq!(cfg.bgp.peers[0].password_file, Some("/home/test/pw".into()));
        // `~user` is not ours to expand
        let (cfg, _f) = load_file("source: {manifests: ~bob/m}\n");
        assert_eq!(cfg.unwrap().source.manifests, Some("~bob/m".into()));
    }

    #[test]
    fn peer_password_and_file_are_exclusive_and_the_password_is_not_shown() {
        let (err, _f) = load_file(
            "bgp: {peers: [{address: 10.0.0.1, asn: 1, password: hunter2, passwordFile: /pw}]}\n",
        );
        let err = err.unwrap_err().to_string();
        assert!(
            err.contains("bgp.peers[0].password") && err.contains("exclusive"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }
}
