//! A manifests directory for standalone mode, and the YAML of the objects
//! tests put in it (Service, EndpointSlice, Node), in the shape `kubectl get
//! -o yaml` would give.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use super::servers::Transport;

/// A temp directory kroute watches. Files are written in a sibling staging
/// directory and renamed in, so kroute never reads a half-written file.
pub struct ManifestDir {
    root: tempfile::TempDir,
}

impl ManifestDir {
    pub fn new() -> ManifestDir {
        let root = tempfile::Builder::new()
            .prefix("kroute-manifests-")
            .tempdir()
            .expect("create manifest tempdir");
        for sub in ["manifests", "staging"] {
            std::fs::create_dir(root.path().join(sub)).expect("create manifest subdir");
        }
        ManifestDir { root }
    }

    /// The directory to give kroute as `source.manifests`.
    pub fn path(&self) -> PathBuf {
        self.root.path().join("manifests")
    }

    /// A place for files that are not manifests (the config), outside `path()`.
    pub fn scratch(&self) -> PathBuf {
        self.root.path().to_path_buf()
    }

    /// Writes (or replaces) `file` atomically.
    pub fn write(&self, file: &str, yaml: &str) {
        let staged = self.root.path().join("staging").join(file);
        std::fs::write(&staged, yaml).expect("write staged manifest");
        std::fs::rename(&staged, self.path().join(file)).expect("move manifest in");
    }

    /// Deletes `file`.
    pub fn remove(&self, file: &str) {
        std::fs::remove_file(self.path().join(file)).expect("remove manifest");
    }

    pub fn contains(&self, file: &str) -> bool {
        Path::new(&self.path().join(file)).exists()
    }
}

impl Default for ManifestDir {
    fn default() -> Self {
        ManifestDir::new()
    }
}

/// One port of a Service (and, by name, of its EndpointSlices).
#[derive(Clone, Debug)]
pub struct ServicePort {
    pub name: String,
    pub transport: Transport,
    pub port: u16,
    pub target_port: u16,
    pub node_port: Option<u16>,
}

impl ServicePort {
    pub fn new(name: &str, transport: Transport, port: u16, target_port: u16) -> ServicePort {
        ServicePort {
            name: name.to_string(),
            transport,
            port,
            target_port,
            node_port: None,
        }
    }

    pub fn with_node_port(mut self, node_port: u16) -> ServicePort {
        self.node_port = Some(node_port);
        self
    }

    /// `port` over TCP (named `tcp`) and UDP (`udp`) to `target`, with the
    /// same node port for both protocols when `node_port` is given.
    pub fn tcp_and_udp(port: u16, target: u16, node_port: Option<u16>) -> Vec<ServicePort> {
        [("tcp", Transport::Tcp), ("udp", Transport::Udp)]
            .into_iter()
            .map(|(name, transport)| {
                let p = ServicePort::new(name, transport, port, target);
                match node_port {
                    Some(np) => p.with_node_port(np),
                    None => p,
                }
            })
            .collect()
    }
}

fn protocol(t: Transport) -> &'static str {
    match t {
        Transport::Tcp => "TCP",
        Transport::Udp => "UDP",
        Transport::Sctp => "SCTP",
    }
}

/// A Service in namespace `default` with one TCP port named `tcp` (`port` →
/// target `port` as well); type NodePort when `node_port` is given.
pub fn service_yaml(name: &str, cluster_ip: Ipv4Addr, port: u16, node_port: Option<u16>) -> String {
    let mut p = ServicePort::new("tcp", Transport::Tcp, port, port);
    p.node_port = node_port;
    service_yaml_ports(name, cluster_ip, &[p])
}

/// A Service in namespace `default` with these ports; type NodePort when any
/// port has a node port.
pub fn service_yaml_ports(name: &str, cluster_ip: Ipv4Addr, ports: &[ServicePort]) -> String {
    let kind = if ports.iter().any(|p| p.node_port.is_some()) {
        "NodePort"
    } else {
        "ClusterIP"
    };
    let mut yaml = format!(
        "apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: default
spec:
  type: {kind}
  clusterIP: {cluster_ip}
  clusterIPs:
  - {cluster_ip}
  ipFamilies:
  - IPv4
  ipFamilyPolicy: SingleStack
  selector:
    app: {name}
  ports:
"
    );
    write_service_ports(&mut yaml, ports);
    yaml
}

/// A LoadBalancer ingress entry in the Service status.
#[derive(Clone, Debug)]
pub struct LbIngress {
    pub ip: IpAddr,
    /// `Some("Proxy")`: the LB proxies to the node itself; not programmed.
    pub ip_mode: Option<String>,
}

/// A Service of any family mix, type and traffic policy, in namespace
/// `default`.
#[derive(Clone, Debug, Default)]
pub struct ServiceSpec {
    pub name: String,
    /// `NodePort` when empty and a port has a node port, else `ClusterIP`.
    pub type_: Option<String>,
    /// First one is `clusterIP`; their families make `ipFamilies`.
    pub cluster_ips: Vec<IpAddr>,
    pub ports: Vec<ServicePort>,
    pub external_ips: Vec<IpAddr>,
    pub lb_ingress: Vec<LbIngress>,
    /// `Cluster` or `Local`; omitted (Cluster) when `None`.
    pub external_traffic_policy: Option<String>,
    pub internal_traffic_policy: Option<String>,
    /// `metadata.annotations`.
    pub annotations: Vec<(String, String)>,
    /// `sessionAffinity: ClientIP` with this `timeoutSeconds` (`Some(None)`:
    /// the default timeout).
    pub client_ip_affinity: Option<Option<u32>>,
    /// `spec.loadBalancerSourceRanges`.
    pub load_balancer_source_ranges: Vec<String>,
}

impl ServiceSpec {
    pub fn new(name: &str, cluster_ips: &[IpAddr], ports: Vec<ServicePort>) -> ServiceSpec {
        ServiceSpec {
            name: name.to_string(),
            cluster_ips: cluster_ips.to_vec(),
            ports,
            ..ServiceSpec::default()
        }
    }

    /// The families of the cluster IPs, in order.
    pub fn families(&self) -> Vec<IpFamily> {
        let mut families: Vec<IpFamily> = Vec::new();
        for ip in &self.cluster_ips {
            if !families.contains(&IpFamily::of(ip)) {
                families.push(IpFamily::of(ip));
            }
        }
        families
    }

    pub fn to_yaml(&self) -> String {
        let kind = self.type_.clone().unwrap_or_else(|| {
            if self.ports.iter().any(|p| p.node_port.is_some()) {
                "NodePort".to_string()
            } else {
                "ClusterIP".to_string()
            }
        });
        let families = self.families();
        let policy = if families.len() > 1 {
            "RequireDualStack"
        } else {
            "SingleStack"
        };
        let mut yaml = format!(
            "apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: default
",
            name = self.name,
        );
        if !self.annotations.is_empty() {
            yaml.push_str("  annotations:\n");
            for (key, value) in &self.annotations {
                let _ = writeln!(yaml, "    {key}: {value:?}");
            }
        }
        let _ = write!(
            yaml,
            "spec:
  type: {kind}
  clusterIP: {first}
  clusterIPs:
",
            first = self.cluster_ips.first().expect("at least one cluster IP"),
        );
        for ip in &self.cluster_ips {
            let _ = writeln!(yaml, "  - {ip}");
        }
        yaml.push_str("  ipFamilies:\n");
        for f in &families {
            let _ = writeln!(yaml, "  - {}", f.name());
        }
        let _ = write!(
            yaml,
            "  ipFamilyPolicy: {policy}\n  selector:\n    app: {}\n",
            self.name
        );
        if let Some(etp) = &self.external_traffic_policy {
            let _ = writeln!(yaml, "  externalTrafficPolicy: {etp}");
        }
        if let Some(itp) = &self.internal_traffic_policy {
            let _ = writeln!(yaml, "  internalTrafficPolicy: {itp}");
        }
        if let Some(timeout) = self.client_ip_affinity {
            yaml.push_str("  sessionAffinity: ClientIP\n");
            if let Some(secs) = timeout {
                let _ = writeln!(
                    yaml,
                    "  sessionAffinityConfig:\n    clientIP:\n      timeoutSeconds: {secs}"
                );
            }
        }
        if !self.load_balancer_source_ranges.is_empty() {
            yaml.push_str("  loadBalancerSourceRanges:\n");
            for range in &self.load_balancer_source_ranges {
                let _ = writeln!(yaml, "  - {range}");
            }
        }
        if !self.external_ips.is_empty() {
            yaml.push_str("  externalIPs:\n");
            for ip in &self.external_ips {
                let _ = writeln!(yaml, "  - {ip}");
            }
        }
        yaml.push_str("  ports:\n");
        write_service_ports(&mut yaml, &self.ports);
        if !self.lb_ingress.is_empty() {
            yaml.push_str("status:\n  loadBalancer:\n    ingress:\n");
            for entry in &self.lb_ingress {
                let _ = writeln!(yaml, "    - ip: {}", entry.ip);
                if let Some(mode) = &entry.ip_mode {
                    let _ = writeln!(yaml, "      ipMode: {mode}");
                }
            }
        }
        yaml
    }
}

/// One ready endpoint.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub node_name: String,
}

/// An EndpointSlice of `service` (label `kubernetes.io/service-name`) whose
/// ports are the service's `ports` by name, pointing at their target ports.
/// An empty `endpoints` is a service without endpoints.
pub fn endpoint_slice_yaml(service: &str, ports: &[ServicePort], endpoints: &[Endpoint]) -> String {
    let endpoints: Vec<SliceEndpoint> = endpoints
        .iter()
        .map(|e| SliceEndpoint {
            ip: IpAddr::V4(e.ip),
            node_name: e.node_name.clone(),
        })
        .collect();
    slice_yaml(
        service,
        &format!("{service}-slice1"),
        IpFamily::V4,
        ports,
        &endpoints,
    )
}

/// An IP family, as `ipFamilies` and `addressType` spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    pub fn of(ip: &IpAddr) -> IpFamily {
        match ip {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        }
    }
}

/// One ready endpoint of either family.
#[derive(Clone, Debug)]
pub struct SliceEndpoint {
    pub ip: IpAddr,
    pub node_name: String,
}

/// An EndpointSlice named `slice` of `service` with address type `family`;
/// every endpoint must be of that family. Empty `endpoints`: none.
pub fn slice_yaml(
    service: &str,
    slice: &str,
    family: IpFamily,
    ports: &[ServicePort],
    endpoints: &[SliceEndpoint],
) -> String {
    let mut yaml = format!(
        "apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {slice}
  namespace: default
  labels:
    kubernetes.io/service-name: {service}
addressType: {family}
ports:
",
        family = family.name(),
    );
    for p in ports {
        let _ = write!(
            yaml,
            "- name: {}\n  protocol: {}\n  port: {}\n",
            p.name,
            protocol(p.transport),
            p.target_port
        );
    }
    if endpoints.is_empty() {
        yaml.push_str("endpoints: []\n");
    } else {
        yaml.push_str("endpoints:\n");
    }
    for e in endpoints {
        assert_eq!(
            IpFamily::of(&e.ip),
            family,
            "{} in an {family:?} slice",
            e.ip
        );
        let _ = write!(
            yaml,
            "- addresses:\n  - {}\n  nodeName: {}\n  conditions:\n    ready: true\n    serving: true\n    terminating: false\n",
            e.ip, e.node_name
        );
    }
    yaml
}

/// A Node with one InternalIP (its primary address) and a pod CIDR.
pub fn node_yaml(name: &str, internal_ip: Ipv4Addr, pod_cidr: &str) -> String {
    node_yaml_dual(name, &[IpAddr::V4(internal_ip)], &[pod_cidr])
}

/// A Node with these InternalIPs (the first of each family is its primary
/// address there) and pod CIDRs.
pub fn node_yaml_dual(name: &str, internal_ips: &[IpAddr], pod_cidrs: &[&str]) -> String {
    let mut yaml = format!(
        "apiVersion: v1
kind: Node
metadata:
  name: {name}
  labels:
    kubernetes.io/hostname: {name}
spec:
  podCIDR: {first}
  podCIDRs:
",
        first = pod_cidrs.first().expect("at least one pod CIDR"),
    );
    for cidr in pod_cidrs {
        let _ = writeln!(yaml, "  - {cidr}");
    }
    yaml.push_str("status:\n  addresses:\n");
    for ip in internal_ips {
        let _ = write!(yaml, "  - type: InternalIP\n    address: {ip}\n");
    }
    let _ = write!(yaml, "  - type: Hostname\n    address: {name}\n");
    yaml
}

/// Appends the `spec.ports` entries of a Service.
fn write_service_ports(yaml: &mut String, ports: &[ServicePort]) {
    for p in ports {
        let _ = write!(
            yaml,
            "  - name: {}\n    protocol: {}\n    port: {}\n    targetPort: {}\n",
            p.name,
            protocol(p.transport),
            p.port,
            p.target_port
        );
        if let Some(node_port) = p.node_port {
            let _ = writeln!(yaml, "    nodePort: {node_port}");
        }
    }
}
