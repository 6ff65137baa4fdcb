//! Where peer definitions come from, besides the mesh (`bgp_mesh`): the
//! config file's `bgp.peers`, this Node's peer annotations, and every
//! Service's `kroute.io/bgp.peers`. A definition that cannot be used (an
//! unreadable `passwordFile`, a `passwordSecret`) is left out and reported,
//! naming where it is; the other peers are unaffected.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::bgp_peers::{PeerDefinition, PeerSource};
use crate::host::bgp::{PeerPassword, PeerSpec};
use crate::model::annotations::{
    BGP_PEERS, InvalidAnnotation, NODE_PEERS, PEER_IPS, PeerAuth, ServiceAnnotations,
};
use crate::model::config::PeerConfig;
use crate::model::projection::SERVICE_PROXY_NAME_LABEL;
use crate::model::{ClusterView, NodeInfo, ObjectKey};

/// A peer definition left out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerSourceError {
    /// `bgp.peers[index].passwordFile` cannot be read.
    #[error(
        "bgp.peers[{index}] ({address}): cannot read passwordFile {}: {reason}; this peer is not configured until it can be read",
        path.display()
    )]
    PasswordFile {
        index: usize,
        address: std::net::IpAddr,
        path: PathBuf,
        reason: String,
    },
    /// A Service peer names a Secret; kroute reads no Secrets.
    #[error(
        "Service {service}: {BGP_PEERS} peers[{index}] ({address}): passwordSecret {secret:?} is not supported: kroute reads no Secrets (a manifests directory has none, the API source does not watch them); this peer is ignored, give its password base64-encoded in password instead"
    )]
    PasswordSecret {
        service: ObjectKey,
        index: usize,
        address: std::net::IpAddr,
        secret: String,
        /// The annotation's value, for the report on the Service.
        value: String,
    },
}

impl PeerSourceError {
    /// As a problem of an annotated object (Event on it), when it is one.
    pub fn on_object(&self) -> Option<InvalidAnnotation> {
        match self {
            PeerSourceError::PasswordFile { .. } => None,
            PeerSourceError::PasswordSecret {
                service,
                index,
                address,
                secret,
                value,
            } => Some(InvalidAnnotation {
                kind: "Service",
                object: service.to_string(),
                key: BGP_PEERS.to_string(),
                value: value.clone(),
                reason: format!(
                    "peers[{index}] ({address}): passwordSecret {secret:?} is not supported (kroute reads no Secrets); this peer is ignored, use password (base64)"
                ),
            }),
        }
    }
}

/// Definitions and what was left out.
#[derive(Debug, Default)]
pub struct Definitions {
    pub peers: Vec<PeerDefinition>,
    pub errors: Vec<PeerSourceError>,
}

/// When an object was created (`None` without a timestamp: as old as the
/// config, ties kept in the order definitions are given).
pub fn created(meta: &ObjectMeta) -> Option<SystemTime> {
    (meta.creation_timestamp.as_ref()).map(|t| SystemTime::from(t.0))
}

/// The configuration's `bgp.peers`, in order. The password is `password`,
/// else the content of `passwordFile` (read now, trailing newline removed).
/// A `multihopTTL` of 1 (the default) leaves the TTL to the session kind.
pub fn config_peers(peers: &[PeerConfig], out: &mut Definitions) {
    for (index, p) in peers.iter().enumerate() {
        let mut spec = PeerSpec::from(p);
        spec.password = match (&p.password, &p.password_file) {
            (Some(pw), _) => Some(PeerPassword(pw.clone())),
            (None, Some(path)) => match std::fs::read_to_string(path) {
                Ok(text) => Some(PeerPassword(
                    text.trim_end_matches(['\r', '\n']).to_string(),
                )),
                Err(e) => {
                    out.errors.push(PeerSourceError::PasswordFile {
                        index,
                        address: p.address,
                        path: path.clone(),
                        reason: e.to_string(),
                    });
                    continue;
                }
            },
            (None, None) => None,
        };
        spec.multihop_ttl = (p.multihop_ttl != 1).then_some(p.multihop_ttl);
        spec.accept_prefixes = p.accept_prefixes.clone();
        spec.max_prefixes = p.max_prefixes;
        out.peers.push(PeerDefinition {
            source: PeerSource::Config { index },
            since: None,
            spec,
        });
    }
}

/// This Node's `kube-router.io/peers` (or `peer.*` lists), as parsed.
pub fn node_peers(node: &NodeInfo, meta: Option<&ObjectMeta>, out: &mut Definitions) {
    let annotations = meta.and_then(|m| m.annotations.as_ref());
    let yaml = annotations
        .is_some_and(|a| a.contains_key(NODE_PEERS) || a.contains_key(&kroute_key(NODE_PEERS)));
    let key = if yaml { NODE_PEERS } else { PEER_IPS };
    let since = meta.and_then(created);
    for p in &node.annotations.peers {
        let mut spec = PeerSpec::new(p.remote_ip, p.remote_asn);
        spec.port = p.port;
        spec.local_address = p.local_ip;
        spec.password = p.password.clone().map(PeerPassword);
        out.peers.push(PeerDefinition {
            source: PeerSource::Node {
                name: node.name.clone(),
                key,
            },
            since,
            spec,
        });
    }
}

/// `kube-router.io/<x>` as `kroute.io/<x>`.
fn kroute_key(key: &str) -> String {
    key.replacen("kube-router.io/", "kroute.io/", 1)
}

/// Every Service's `kroute.io/bgp.peers` (Services another proxy serves
/// excepted). Malformed values are the projection's to report; here they
/// define nothing.
pub fn service_peers(view: &ClusterView, proxy_name: Option<&str>, out: &mut Definitions) {
    for (key, svc) in &view.services {
        let Some(annotations) = svc.metadata.annotations.as_ref() else {
            continue;
        };
        let Some(value) = annotations.get(BGP_PEERS) else {
            continue;
        };
        let label = (svc.metadata.labels.as_ref()).and_then(|l| l.get(SERVICE_PROXY_NAME_LABEL));
        if label.is_some_and(|l| Some(l.as_str()) != proxy_name) {
            continue;
        }
        let only_peers: BTreeMap<String, String> =
            BTreeMap::from([(BGP_PEERS.to_string(), value.clone())]);
        let (parsed, _) = ServiceAnnotations::parse(key, &only_peers);
        let since = created(&svc.metadata);
        for (index, p) in parsed.bgp_peers.into_iter().enumerate() {
            let mut spec = PeerSpec::new(p.address, p.asn);
            spec.port = p.port;
            spec.local_asn = p.local_asn;
            spec.multihop_ttl = p.multihop_ttl;
            match p.auth {
                None => {}
                Some(PeerAuth::Password(pw)) => spec.password = Some(PeerPassword(pw)),
                Some(PeerAuth::Secret(secret)) => {
                    out.errors.push(PeerSourceError::PasswordSecret {
                        service: key.clone(),
                        index,
                        address: p.address,
                        secret,
                        value: value.clone(),
                    });
                    continue;
                }
            }
            out.peers.push(PeerDefinition {
                source: PeerSource::Service { key: key.clone() },
                since,
                spec,
            });
        }
    }
}

#[cfg(test)]
#[path = "bgp_sources_tests.rs"]
mod tests;
