//! The Kubernetes objects of a [`World`]: Services, EndpointSlices and
//! Nodes as JSON the API server would return, parsed into k8s-openapi types.

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kroute::model::{ClusterView, ObjectKey};
use serde_json::{Value, json};

use super::{Ep, NAMESPACE, NODE, NODE_V6, OTHER_NODE, SLOTS, Stack, Svc, World, svc_name};

impl World {
    /// The cluster view of this world (always synced).
    pub fn view(&self) -> ClusterView {
        let services = (0..SLOTS).filter_map(|s| Some(service(s, self.svcs[s].as_ref()?)));
        let slices = (0..SLOTS).flat_map(|s| self.slices(s));
        let mut view = ClusterView::from_objects(services, slices, self.nodes());
        view.synced = true;
        view
    }

    /// Every Service key, present or not (a removed one is dirty once).
    pub fn keys() -> impl Iterator<Item = ObjectKey> {
        (0..SLOTS).map(|s| ObjectKey::new(NAMESPACE, svc_name(s)))
    }

    fn slices(&self, slot: usize) -> Vec<EndpointSlice> {
        // A slice lists the Service's current ports (its last ones once it is gone).
        let ports: Vec<Value> = match &self.svcs[slot] {
            Some(svc) => svc
                .ports
                .iter()
                .map(|p| json!({"name": p.name, "protocol": p.proto, "port": p.target}))
                .collect(),
            None => vec![json!({"name": "p0-tcp", "protocol": "TCP", "port": 8000})],
        };
        let mut out = Vec::new();
        for v6 in [false, true] {
            for slice in 0..2u8 {
                let eps: Vec<Value> = (self.eps[slot].iter())
                    .filter(|e| e.v6 == v6 && e.slice == slice)
                    .map(|e| endpoint(slot, e))
                    .collect();
                if eps.is_empty() {
                    continue;
                }
                let fam = if v6 { "IPv6" } else { "IPv4" };
                let value = json!({
                    "metadata": {
                        "namespace": NAMESPACE,
                        "name": format!("{}-{}-{slice}", svc_name(slot), fam.to_lowercase()),
                        "labels": {"kubernetes.io/service-name": svc_name(slot)},
                    },
                    "addressType": fam,
                    "ports": ports,
                    "endpoints": eps,
                });
                out.push(serde_json::from_value(value).expect("valid EndpointSlice"));
            }
        }
        out
    }

    fn nodes(&self) -> Vec<Node> {
        let mut addresses = Vec::new();
        if let Some(v4) = self.node_v4 {
            addresses.push(json!({"type": "InternalIP", "address": v4}));
        }
        if self.node_v6 {
            addresses.push(json!({"type": "InternalIP", "address": NODE_V6}));
        }
        let mut labels = json!({});
        if let Some(zone) = self.node_zone {
            labels["topology.kubernetes.io/zone"] = json!(zone);
        }
        if self.node_label {
            labels["example.com/role"] = json!("edge");
        }
        let this = json!({
            "metadata": {"name": NODE, "labels": labels},
            "spec": {"podCIDRs": ["10.244.1.0/24", "fd00:244:1::/64"]},
            "status": {"addresses": addresses},
        });
        let other = json!({
            "metadata": {"name": OTHER_NODE, "labels": {"topology.kubernetes.io/zone": self.other_zone}},
            "spec": {"podCIDRs": ["10.244.2.0/24"]},
            "status": {"addresses": [{"type": "InternalIP", "address": "192.168.50.20"}]},
        });
        [this, other]
            .into_iter()
            .map(|n| serde_json::from_value(n).expect("valid Node"))
            .collect()
    }
}

fn endpoint(slot: usize, e: &Ep) -> Value {
    let address = if e.v6 {
        format!("fd00:244:{slot:x}::{:x}", e.host)
    } else {
        format!("10.244.{slot}.{}", e.host)
    };
    let mut v = json!({
        "addresses": [address],
        "conditions": {"ready": e.ready, "serving": e.serving, "terminating": e.terminating},
    });
    if let Some(node) = e.node {
        v["nodeName"] = json!(node);
    }
    if let Some(zone) = e.zone {
        v["zone"] = json!(zone);
    }
    if let Some(hint) = e.hint {
        v["hints"] = json!({"forZones": [{"name": hint}]});
    }
    v
}

fn service(slot: usize, svc: &Svc) -> Service {
    let mut cluster_ips = Vec::new();
    let mut families = Vec::new();
    if svc.stack.v4() {
        cluster_ips.push(format!("10.96.0.{}", slot + 10));
        families.push("IPv4");
    }
    if svc.stack.v6() {
        cluster_ips.push(format!("fd00:96::{:x}", slot + 10));
        families.push("IPv6");
    }
    let node_ports = svc.kind != "ClusterIP";
    let ports: Vec<Value> = (svc.ports.iter().enumerate())
        .map(|(i, p)| {
            let mut v = json!({"name": p.name, "protocol": p.proto, "port": p.port, "targetPort": p.target});
            if node_ports {
                v["nodePort"] = json!(30000 + slot * 10 + i);
            }
            v
        })
        .collect();
    let external = svc.kind != "ClusterIP";
    let mut spec = json!({
        "type": svc.kind,
        "clusterIP": cluster_ips[0],
        "clusterIPs": cluster_ips,
        "ipFamilies": families,
        "ipFamilyPolicy": if svc.stack == Stack::Dual { "RequireDualStack" } else { "SingleStack" },
        "ports": ports,
        "internalTrafficPolicy": if svc.itp_local { "Local" } else { "Cluster" },
    });
    if !svc.external_ips.is_empty() {
        spec["externalIPs"] = json!(svc.external_ips);
    }
    if external {
        spec["externalTrafficPolicy"] = json!(if svc.etp_local { "Local" } else { "Cluster" });
    }
    if let Some(timeout) = svc.affinity {
        spec["sessionAffinity"] = json!("ClientIP");
        if let Some(t) = timeout {
            spec["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": t}});
        }
    }
    let mut status = json!({});
    if svc.kind == "LoadBalancer" {
        if !svc.source_ranges.is_empty() {
            spec["loadBalancerSourceRanges"] = json!(svc.source_ranges);
        }
        if svc.etp_local {
            spec["healthCheckNodePort"] = json!(32000 + slot);
        }
        let ingress: Vec<Value> = (svc.lb_ingress.iter())
            .map(|(ip, mode)| match mode {
                Some(m) => json!({"ip": ip, "ipMode": m}),
                None => json!({"ip": ip}),
            })
            .collect();
        status = json!({"loadBalancer": {"ingress": ingress}});
    }
    let value = json!({
        "metadata": {"namespace": NAMESPACE, "name": svc_name(slot), "annotations": svc.annotations},
        "spec": spec,
        "status": status,
    });
    serde_json::from_value(value).expect("valid Service")
}
