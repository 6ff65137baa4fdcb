//! BGP peers from annotations: per-service (`kroute.io/bgp.peers`) and
//! per-node (`kube-router.io/peers`, and kube-router's older comma-list form
//! `kube-router.io/peer.ips`, `.asns`, `.passwords`, `.ports`, `.localips`).

use std::net::IpAddr;

use serde::Deserialize;

use super::reader::Reader;
use super::values::{comma_items, decode_password, parse_asn, parse_port, positional_items};

/// The BGP port, when a peer does not name one.
pub const DEFAULT_BGP_PORT: u16 = 179;

/// How a per-service peer session is authenticated (TCP MD5).
#[derive(Clone, PartialEq, Eq)]
pub enum PeerAuth {
    /// The password itself (decoded from the annotation's base64).
    Password(String),
    /// The name of a Secret in the service's namespace holding the password.
    Secret(String),
}

impl std::fmt::Debug for PeerAuth {
    // Passwords end up in logs through Debug; never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerAuth::Password(_) => f.write_str("Password(<redacted>)"),
            PeerAuth::Secret(name) => f.debug_tuple("Secret").field(name).finish(),
        }
    }
}

/// One entry of `kroute.io/bgp.peers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePeer {
    pub address: IpAddr,
    pub asn: u32,
    pub port: u16,
    pub auth: Option<PeerAuth>,
    /// This node's ASN on this session (default: the node's ASN).
    pub local_asn: Option<u32>,
    /// eBGP multihop TTL (default: direct, 1).
    pub multihop_ttl: Option<u8>,
}

/// One per-node peer (`kube-router.io/peers` or the comma-list form).
#[derive(Clone, PartialEq, Eq)]
pub struct NodePeer {
    pub remote_ip: IpAddr,
    pub remote_asn: u32,
    /// Local address for the session (default: the node's address).
    pub local_ip: Option<IpAddr>,
    /// Decoded from the annotation's base64.
    pub password: Option<String>,
    pub port: u16,
}

impl std::fmt::Debug for NodePeer {
    // Passwords end up in logs through Debug; never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodePeer")
            .field("remote_ip", &self.remote_ip)
            .field("remote_asn", &self.remote_asn)
            .field("local_ip", &self.local_ip)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("port", &self.port)
            .finish()
    }
}

/// A YAML scalar of any type, kept as its text: numbers and strings are both
/// welcome where the annotation author may quote or not.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a scalar")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServicePeer {
    address: Option<Scalar>,
    asn: Option<Scalar>,
    port: Option<Scalar>,
    #[serde(rename = "passwordSecret")]
    password_secret: Option<Scalar>,
    password: Option<Scalar>,
    #[serde(rename = "localASN")]
    local_asn: Option<Scalar>,
    #[serde(rename = "multihopTTL")]
    multihop_ttl: Option<Scalar>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNodePeer {
    remoteip: Option<Scalar>,
    remoteasn: Option<Scalar>,
    localip: Option<Scalar>,
    password: Option<Scalar>,
    port: Option<Scalar>,
}

/// Parses a YAML list annotation. Errors are one line, without the snippet
/// serde-saphyr would render (the value is reported beside it anyway).
fn yaml_list<T: for<'de> Deserialize<'de>>(value: &str) -> Result<Vec<T>, String> {
    if value.trim().is_empty() {
        return Err("empty value, expected a YAML list".into());
    }
    serde_saphyr::from_str::<Vec<T>>(value)
        .map_err(|e| format!("invalid YAML peer list: {}", e.without_snippet()))
}

fn field<'a>(index: usize, name: &str, v: &'a Option<Scalar>) -> Result<&'a str, String> {
    v.as_ref()
        .map(|s| s.0.as_str())
        .ok_or_else(|| format!("peers[{index}].{name} is required"))
}

fn at<T>(index: usize, name: &str, r: Result<T, String>) -> Result<T, String> {
    r.map_err(|e| format!("peers[{index}].{name}: {e}"))
}

fn parse_ip(v: &str) -> Result<IpAddr, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("{v:?} is not an IP address"))
}

/// Parses `kroute.io/bgp.peers`.
pub fn parse_service_peers(value: &str) -> Result<Vec<ServicePeer>, String> {
    let raw: Vec<RawServicePeer> = yaml_list(value)?;
    raw.iter()
        .enumerate()
        .map(|(i, r)| {
            let address = at(i, "address", parse_ip(field(i, "address", &r.address)?))?;
            let asn = at(i, "asn", parse_asn(field(i, "asn", &r.asn)?))?;
            let port = match &r.port {
                Some(p) => at(i, "port", parse_port(&p.0))?,
                None => DEFAULT_BGP_PORT,
            };
            let auth = match (&r.password, &r.password_secret) {
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "peers[{i}]: password and passwordSecret are exclusive"
                    ));
                }
                (Some(p), None) => Some(PeerAuth::Password(at(
                    i,
                    "password",
                    decode_password(&p.0),
                )?)),
                (None, Some(s)) if s.0.trim().is_empty() => {
                    return Err(format!("peers[{i}].passwordSecret: empty"));
                }
                (None, Some(s)) => Some(PeerAuth::Secret(s.0.trim().to_string())),
                (None, None) => None,
            };
            let local_asn = r
                .local_asn
                .as_ref()
                .map(|v| at(i, "localASN", parse_asn(&v.0)))
                .transpose()?;
            let multihop_ttl = r
                .multihop_ttl
                .as_ref()
                .map(|v| {
                    at(
                        i,
                        "multihopTTL",
                        match v.0.trim().parse::<u8>() {
                            Ok(0) | Err(_) => Err("not a TTL (1-255)".to_string()),
                            Ok(t) => Ok(t),
                        },
                    )
                })
                .transpose()?;
            Ok(ServicePeer {
                address,
                asn,
                port,
                auth,
                local_asn,
                multihop_ttl,
            })
        })
        .collect()
}

/// Parses `kube-router.io/peers`.
pub fn parse_node_peers(value: &str) -> Result<Vec<NodePeer>, String> {
    let raw: Vec<RawNodePeer> = yaml_list(value)?;
    raw.iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(NodePeer {
                remote_ip: at(i, "remoteip", parse_ip(field(i, "remoteip", &r.remoteip)?))?,
                remote_asn: at(
                    i,
                    "remoteasn",
                    parse_asn(field(i, "remoteasn", &r.remoteasn)?),
                )?,
                local_ip: r
                    .localip
                    .as_ref()
                    .map(|v| at(i, "localip", parse_ip(&v.0)))
                    .transpose()?,
                password: r
                    .password
                    .as_ref()
                    .map(|v| at(i, "password", decode_password(&v.0)))
                    .transpose()?,
                port: r
                    .port
                    .as_ref()
                    .map(|v| at(i, "port", parse_port(&v.0)))
                    .transpose()?
                    .unwrap_or(DEFAULT_BGP_PORT),
            })
        })
        .collect()
}

pub const PEER_IPS: &str = "kube-router.io/peer.ips";
pub const PEER_ASNS: &str = "kube-router.io/peer.asns";
pub const PEER_PASSWORDS: &str = "kube-router.io/peer.passwords";
pub const PEER_PORTS: &str = "kube-router.io/peer.ports";
pub const PEER_LOCALIPS: &str = "kube-router.io/peer.localips";

/// Parses a list annotation item by item; with `count`, the list must have
/// exactly that many items. Reports and returns `None` on any error.
fn checked_list<T>(
    reader: &mut Reader,
    (key, value): &(String, &str),
    items: &[&str],
    count: Option<usize>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<Vec<T>> {
    if let Some(count) = count
        && items.len() != count
    {
        let reason = format!("{} items but {PEER_IPS} has {count}", items.len());
        reader.report(key, value, reason);
        return None;
    }
    let parsed: Result<Vec<T>, String> = items
        .iter()
        .enumerate()
        .map(|(i, item)| parse(item).map_err(|e| format!("item {i}: {e}")))
        .collect();
    parsed.map_err(|e| reader.report(key, value, e)).ok()
}

/// Per-peer optional item: blank means "default for this peer".
fn blank_is_none<T>(
    parse: impl Fn(&str) -> Result<T, String>,
) -> impl Fn(&str) -> Result<Option<T>, String> {
    move |s| {
        if s.is_empty() {
            Ok(None)
        } else {
            parse(s).map(Some)
        }
    }
}

/// The older comma-list form. `ips` and `asns` must both be given and align;
/// `passwords`, `ports` and `localips` are either absent or one item per peer
/// (blank items for defaults). Any error makes the whole form absent: a
/// half-understood peer list must not open the wrong sessions.
pub fn parse_legacy_node_peers(reader: &mut Reader) -> Option<Vec<NodePeer>> {
    let optional_keys = [PEER_PASSWORDS, PEER_PORTS, PEER_LOCALIPS];
    let (ips_raw, asns_raw) = match (reader.first(PEER_IPS), reader.first(PEER_ASNS)) {
        (Some(ips), Some(asns)) => (ips, asns),
        (None, None) => {
            for key in optional_keys {
                if let Some((k, v)) = reader.first(key) {
                    reader.report(&k, v, format!("requires {PEER_IPS} and {PEER_ASNS}"));
                }
            }
            return None;
        }
        (Some((k, v)), None) => {
            reader.report(&k, v, format!("requires {PEER_ASNS}"));
            return None;
        }
        (None, Some((k, v))) => {
            reader.report(&k, v, format!("requires {PEER_IPS}"));
            return None;
        }
    };

    let ip_items: Vec<&str> = comma_items(ips_raw.1).collect();
    if ip_items.is_empty() {
        reader.report(&ips_raw.0, ips_raw.1, "empty list");
        return None;
    }
    let count = ip_items.len();
    let ips = checked_list(reader, &ips_raw, &ip_items, None, parse_ip);
    let asn_items: Vec<&str> = comma_items(asns_raw.1).collect();
    let asns = checked_list(reader, &asns_raw, &asn_items, Some(count), parse_asn);

    let passwords = match reader.first(PEER_PASSWORDS) {
        Some(raw) => {
            let items = positional_items(raw.1);
            checked_list(
                reader,
                &raw,
                &items,
                Some(count),
                blank_is_none(decode_password),
            )
        }
        None => Some(vec![None; count]),
    };
    let ports = match reader.first(PEER_PORTS) {
        Some(raw) => {
            let items = positional_items(raw.1);
            checked_list(reader, &raw, &items, Some(count), blank_is_none(parse_port))
        }
        None => Some(vec![None; count]),
    };
    let local_ips = match reader.first(PEER_LOCALIPS) {
        Some(raw) => {
            let items = positional_items(raw.1);
            checked_list(reader, &raw, &items, Some(count), blank_is_none(parse_ip))
        }
        None => Some(vec![None; count]),
    };
    let (ips, asns, passwords, ports, local_ips) = (ips?, asns?, passwords?, ports?, local_ips?);
    let peers = (0..count)
        .map(|i| NodePeer {
            remote_ip: ips[i],
            remote_asn: asns[i],
            local_ip: local_ips[i],
            password: passwords[i].clone(),
            port: ports[i].unwrap_or(DEFAULT_BGP_PORT),
        })
        .collect();
    Some(peers)
}
