//! A manifests directory for standalone mode, and the YAML of the objects
//! tests put in it (Service, EndpointSlice, Node), in the shape `kubectl get
//! -o yaml` would give.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
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
}

fn protocol(t: Transport) -> &'static str {
    match t {
        Transport::Tcp => "TCP",
        Transport::Udp => "UDP",
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
    yaml
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
    let mut yaml = format!(
        "apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {service}-slice1
  namespace: default
  labels:
    kubernetes.io/service-name: {service}
addressType: IPv4
ports:
"
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
    format!(
        "apiVersion: v1
kind: Node
metadata:
  name: {name}
  labels:
    kubernetes.io/hostname: {name}
spec:
  podCIDR: {pod_cidr}
  podCIDRs:
  - {pod_cidr}
status:
  addresses:
  - type: InternalIP
    address: {internal_ip}
  - type: Hostname
    address: {name}
"
    )
}
