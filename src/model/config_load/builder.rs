//! Applies layers to a [`Config`], one key at a time, in precedence order,
//! remembering where each value came from, then checks what spans keys.
//! Errors are collected, not returned at the first.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::ConfigError;
use super::error::Source;
use super::layer::{Layer, Raw};
use super::values::{
    Parsed, asn, boolean, cidr, duration, ip, node_port_address, port, proxy_mode, restart_time,
    router_id, socket_addr,
};
use crate::model::config::Config;

pub(super) struct Builder {
    pub config: Config,
    /// Where each key's value in `config` came from.
    pub sources: BTreeMap<&'static str, Source>,
    /// Keys whose latest value did not parse (`config` holds an earlier one).
    pub failed: BTreeSet<&'static str>,
    pub errors: Vec<ConfigError>,
}

fn invalid(source: &Source, key: &str, value: &str, problem: String) -> ConfigError {
    ConfigError::InvalidValue {
        source_name: source.clone(),
        key: key.to_string(),
        value: value.to_string(),
        problem,
    }
}

/// Parses every item; each bad one is an error naming `key[i]`.
fn each<T>(
    key: &str,
    items: &[String],
    parse: fn(&str) -> Parsed<T>,
    source: &Source,
    errors: &mut Vec<ConfigError>,
) -> Option<Vec<T>> {
    let before = errors.len();
    let mut out = Vec::new();
    for (i, v) in items.iter().enumerate() {
        match parse(v) {
            Ok(t) => out.push(t),
            Err(p) => errors.push(invalid(source, &format!("{key}[{i}]"), v, p)),
        }
    }
    (errors.len() == before).then_some(out)
}

fn node_name(v: &str) -> Parsed<String> {
    match v.trim() {
        "" => Err("empty node name".into()),
        name => Ok(name.to_string()),
    }
}

impl Builder {
    pub fn new() -> Builder {
        Builder {
            config: Config::default(),
            sources: BTreeMap::new(),
            failed: BTreeSet::new(),
            errors: Vec::new(),
        }
    }

    /// Applies every key of `layer` over what earlier layers set.
    pub fn apply_layer(&mut self, layer: &Layer) {
        for (key, (source, raw)) in layer {
            let errors = self.apply(key, raw, source);
            if errors.is_empty() {
                self.failed.remove(key);
                self.sources.insert(key, source.clone());
            } else {
                self.failed.insert(key);
                self.errors.extend(errors);
            }
        }
    }

    fn apply(&mut self, key: &'static str, raw: &Raw, source: &Source) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let c = &mut self.config;
        match raw {
            Raw::Path(p) => match key {
                "source.manifests" => c.source.manifests = Some(p.clone()),
                "source.kubeconfig" => c.source.kubeconfig = Some(p.clone()),
                "admin.socket" => c.admin_socket = p.clone(),
                _ => {}
            },
            Raw::Scalar(v) => {
                let adv = &mut c.bgp.advertise;
                let result: Parsed<()> = match key {
                    "nodeName" => node_name(v).map(|n| c.node_name = n),
                    "proxy.enabled" => boolean(v).map(|b| c.proxy.enabled = b),
                    "proxy.mode" => proxy_mode(v).map(|m| c.proxy.mode = m),
                    "proxy.masqueradeAll" => boolean(v).map(|b| c.proxy.masquerade_all = b),
                    "proxy.syncPeriod" => duration(v).map(|d| c.proxy.sync_period = d),
                    "proxy.minSyncPeriod" => duration(v).map(|d| c.proxy.min_sync_period = d),
                    "bgp.enabled" => boolean(v).map(|b| c.bgp.enabled = b),
                    "bgp.asn" => asn(v).map(|n| c.bgp.asn = n),
                    "bgp.routerId" => router_id(v).map(|id| c.bgp.router_id = id),
                    "bgp.listenPort" => port(v).map(|p| c.bgp.listen_port = p),
                    "bgp.nodesFullMesh" => boolean(v).map(|b| c.bgp.nodes_full_mesh = b),
                    "bgp.advertise.clusterIP" => boolean(v).map(|b| adv.cluster_ip = b),
                    "bgp.advertise.externalIP" => boolean(v).map(|b| adv.external_ip = b),
                    "bgp.advertise.loadBalancerIP" => boolean(v).map(|b| adv.load_balancer_ip = b),
                    "bgp.advertise.podCIDR" => boolean(v).map(|b| adv.pod_cidr = b),
                    "bgp.gracefulRestart.enabled" => {
                        boolean(v).map(|b| c.bgp.graceful_restart.enabled = b)
                    }
                    "bgp.gracefulRestart.restartTime" => {
                        restart_time(v).map(|d| c.bgp.graceful_restart.restart_time = d)
                    }
                    "health.address" => socket_addr(v).map(|a| c.health_address = a),
                    "metrics.address" => socket_addr(v).map(|a| c.metrics_address = a),
                    _ => Ok(()),
                };
                if let Err(problem) = result {
                    errors.push(invalid(source, key, v, problem));
                }
            }
            Raw::List(items) => {
                let e = &mut errors;
                match key {
                    "proxy.clusterCIDRs" => {
                        if let Some(v) = each(key, items, cidr, source, e) {
                            c.proxy.cluster_cidrs = v;
                        }
                    }
                    "proxy.serviceCIDRs" => {
                        if let Some(v) = each(key, items, cidr, source, e) {
                            c.proxy.service_cidrs = v;
                        }
                    }
                    "proxy.nodePortAddresses" => {
                        if let Some(v) = each(key, items, node_port_address, source, e) {
                            c.proxy.node_port_addresses = v;
                        }
                    }
                    "bgp.listenAddresses" => {
                        if let Some(v) = each(key, items, ip, source, e) {
                            c.bgp.listen_addresses = v;
                        }
                    }
                    _ => {}
                }
            }
            Raw::Peers(peers) => {
                let mut parsed = Vec::new();
                for (i, peer) in peers.iter().enumerate() {
                    match super::peer::peer(key, i, peer, source) {
                        Ok(p) => parsed.push(p),
                        Err(e) => errors.extend(e),
                    }
                }
                if errors.is_empty() {
                    self.config.bgp.peers = parsed;
                }
            }
        }
        errors
    }

    fn source(&self, key: &str) -> Source {
        self.sources.get(key).cloned().unwrap_or(Source::Default)
    }

    /// Checks between keys, on the merged result. A check involving a key
    /// whose value did not parse is skipped: that key is reported already.
    pub fn check(&mut self) {
        let show = |d: Duration| humantime::format_duration(d).to_string();
        let ok = |keys: &[&str]| keys.iter().all(|k| !self.failed.contains(k));
        let proxy = &self.config.proxy;
        let mut errors = Vec::new();
        if ok(&["proxy.syncPeriod"]) && proxy.sync_period.is_zero() {
            errors.push(invalid(
                &self.source("proxy.syncPeriod"),
                "proxy.syncPeriod",
                &show(proxy.sync_period),
                "must be positive, got".into(),
            ));
        } else if ok(&["proxy.syncPeriod", "proxy.minSyncPeriod"])
            && proxy.min_sync_period > proxy.sync_period
        {
            // Blame the key that was set explicitly (the minimum, unless only
            // the period was).
            let (key, value) = match self.source("proxy.minSyncPeriod") {
                Source::Default => ("proxy.syncPeriod", proxy.sync_period),
                _ => ("proxy.minSyncPeriod", proxy.min_sync_period),
            };
            errors.push(invalid(
                &self.source(key),
                key,
                &show(value),
                format!(
                    "proxy.minSyncPeriod ({}) must not exceed proxy.syncPeriod ({}), got",
                    show(proxy.min_sync_period),
                    show(proxy.sync_period)
                ),
            ));
        }
        let gr = &self.config.bgp.graceful_restart;
        let gr_keys = [
            "bgp.gracefulRestart.enabled",
            "bgp.gracefulRestart.restartTime",
        ];
        if ok(&gr_keys) && gr.enabled && gr.restart_time.is_zero() {
            errors.push(invalid(
                &self.source("bgp.gracefulRestart.restartTime"),
                "bgp.gracefulRestart.restartTime",
                "0s",
                "must be positive when graceful restart is enabled, got".into(),
            ));
        }
        self.errors.extend(errors);
    }
}
