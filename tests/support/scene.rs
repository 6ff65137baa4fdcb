//! The standard scene of a kroute kernel test: a dual-stack node topology with
//! backends serving TCP and UDP (their name on [`BACKEND_PORT`], their name and
//! the peer they saw on [`PEER_PORT`]), a manifests directory describing it
//! (Node + Services), a foreign nftables table kroute must not touch, and the
//! agent itself.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use super::kroute_process::{Kroute, write_config};
use super::manifests::{
    Endpoint, IpFamily, ManifestDir, ServicePort, ServiceSpec, SliceEndpoint, endpoint_slice_yaml,
    node_yaml_dual, service_yaml_ports, slice_yaml,
};
use super::nft::{self, ForeignTable, NftTable};
use super::servers::{self, EchoServer, Reply};
use super::topology::{NODE_IP, NODE_IP6, POD_CIDR, POD_CIDR6, Topology};

pub const NODE_NAME: &str = "node-a";
/// A node other than this one: endpoints there are remote for kroute (their
/// pods still live in this topology, so they stay reachable).
pub const OTHER_NODE: &str = "node-b";
/// What every backend listens on (TCP and UDP), answering its name.
pub const BACKEND_PORT: u16 = 8080;
/// Where every backend answers its name and the source address it saw.
pub const PEER_PORT: u16 = 8081;
/// Short, so "swept at the next full sync" fits well inside the failure bound.
pub const SYNC_PERIOD: &str = "2s";

/// A Service and its single EndpointSlice, kept in one manifest file.
#[derive(Clone, Debug)]
pub struct TestService {
    pub name: String,
    pub cluster_ip: Ipv4Addr,
    pub ports: Vec<ServicePort>,
    /// Pod names (`backend-N`) that are ready endpoints.
    pub backends: Vec<String>,
}

impl TestService {
    /// Port 80 over TCP and UDP to the backends' [`BACKEND_PORT`], with the
    /// same node port for both protocols when `node_port` is given.
    pub fn web(
        name: &str,
        cluster_ip: Ipv4Addr,
        node_port: Option<u16>,
        backends: &[&str],
    ) -> Self {
        TestService {
            name: name.to_string(),
            cluster_ip,
            ports: ServicePort::tcp_and_udp(80, BACKEND_PORT, node_port),
            backends: backends.iter().map(|b| b.to_string()).collect(),
        }
    }

    pub fn file(&self) -> String {
        format!("{}.yaml", self.name)
    }

    /// The Service and its EndpointSlice (endpoints: the backends' pod
    /// addresses in `topo`, on this node), as one multi-document YAML.
    pub fn to_yaml(&self, topo: &Topology) -> String {
        let endpoints: Vec<Endpoint> = self
            .backends
            .iter()
            .map(|name| Endpoint {
                ip: topo.pod(name).ip,
                node_name: NODE_NAME.to_string(),
            })
            .collect();
        format!(
            "{}---\n{}",
            service_yaml_ports(&self.name, self.cluster_ip, &self.ports),
            endpoint_slice_yaml(&self.name, &self.ports, &endpoints)
        )
    }

    pub fn cluster_addr(&self) -> SocketAddr {
        SocketAddr::from((self.cluster_ip, 80))
    }

    /// The node port of the first port, at the node's primary IP.
    pub fn node_port_addr(&self) -> SocketAddr {
        let np = self.ports[0].node_port.expect("service has a node port");
        SocketAddr::from((NODE_IP, np))
    }
}

/// An endpoint of a [`ServiceSpec`] in the scene: a pod, on some node.
#[derive(Clone, Debug)]
pub struct Backend {
    pub pod: String,
    pub node: String,
}

impl Backend {
    /// `pod` on this node.
    pub fn local(pod: &str) -> Backend {
        Backend {
            pod: pod.to_string(),
            node: NODE_NAME.to_string(),
        }
    }

    /// `pod` on [`OTHER_NODE`].
    pub fn remote(pod: &str) -> Backend {
        Backend {
            pod: pod.to_string(),
            node: OTHER_NODE.to_string(),
        }
    }
}

/// Fields drop in order: the agent first, then servers, files, namespaces.
pub struct Scene {
    pub kroute: Option<Kroute>,
    pub servers: Vec<EchoServer>,
    pub manifests: ManifestDir,
    pub config: PathBuf,
    pub foreign: ForeignTable,
    pub topo: Topology,
}

impl Scene {
    /// A node with `pods` backends, its Node manifest, and the foreign table.
    pub fn new(prefix: &str, pods: usize) -> Scene {
        let topo = Topology::new(prefix, pods);
        let mut servers = servers::start_in_pods(&topo.pods, BACKEND_PORT);
        servers.extend(servers::start_in_pods_with(
            &topo.pods,
            PEER_PORT,
            Reply::NameAndPeer,
        ));
        let foreign = ForeignTable::install(&topo.node);
        let manifests = ManifestDir::new();
        manifests.write(
            "node.yaml",
            &node_yaml_dual(
                NODE_NAME,
                &[IpAddr::V4(NODE_IP), IpAddr::V6(NODE_IP6)],
                &[POD_CIDR, POD_CIDR6],
            ),
        );
        let config = write_config(
            &manifests.scratch(),
            NODE_NAME,
            &manifests.path(),
            SYNC_PERIOD,
        );
        Scene {
            kroute: None,
            servers,
            manifests,
            config,
            foreign,
            topo,
        }
    }

    /// Rewrites the config with these extra `proxy:` keys (one `key: value`
    /// each, e.g. `masqueradeAll: true`); takes effect at the next start.
    pub fn set_proxy_options(&mut self, options: &[&str]) {
        let config = write_config(
            &self.manifests.scratch(),
            NODE_NAME,
            &self.manifests.path(),
            SYNC_PERIOD,
        );
        let yaml = std::fs::read_to_string(&config).expect("read kroute config");
        let extra: String = options.iter().map(|o| format!("  {o}\n")).collect();
        let yaml = yaml.replacen("proxy:\n", &format!("proxy:\n{extra}"), 1);
        std::fs::write(&config, yaml).expect("write kroute config");
        self.config = config;
    }

    /// Writes (or rewrites) the manifest file of `svc`.
    pub fn put_service(&self, svc: &TestService) {
        self.manifests.write(&svc.file(), &svc.to_yaml(&self.topo));
    }

    /// Writes (or rewrites) `<name>.yaml`: the Service of `spec` and, per
    /// family of its cluster IPs, an EndpointSlice with the `backends`' pod
    /// addresses of that family (none: a service without endpoints).
    pub fn put_spec(&self, spec: &ServiceSpec, backends: &[Backend]) {
        let mut yaml = spec.to_yaml();
        for family in spec.families() {
            let endpoints: Vec<SliceEndpoint> = backends
                .iter()
                .map(|b| {
                    let pod = self.topo.pod(&b.pod);
                    SliceEndpoint {
                        ip: match family {
                            IpFamily::V4 => IpAddr::V4(pod.ip),
                            IpFamily::V6 => IpAddr::V6(pod.ip6),
                        },
                        node_name: b.node.clone(),
                    }
                })
                .collect();
            let slice = format!("{}-{}", spec.name, family.name().to_lowercase());
            yaml.push_str("---\n");
            yaml.push_str(&slice_yaml(
                &spec.name,
                &slice,
                family,
                &spec.ports,
                &endpoints,
            ));
        }
        self.manifests.write(&format!("{}.yaml", spec.name), &yaml);
    }

    pub fn remove_service(&self, svc: &TestService) {
        self.manifests.remove(&svc.file());
    }

    /// Starts `kroute run` in the node namespace.
    pub fn start_kroute(&mut self) {
        assert!(self.kroute.is_none(), "kroute already running");
        self.kroute = Some(Kroute::start(&self.topo.node, &self.config));
    }

    pub fn kroute(&mut self) -> &mut Kroute {
        self.kroute.as_mut().expect("kroute is running")
    }

    /// Polls `cond` (which may look at the scene) until it holds; panics with
    /// kroute's output when the failure bound passes or kroute exits first.
    pub fn wait_until(&mut self, what: &str, mut cond: impl FnMut(&Scene) -> bool) {
        // Taken out so `cond` can borrow the rest of the scene; a panic drops
        // (stops) it, like dropping the scene would.
        let mut kroute = self.kroute.take().expect("kroute is running");
        kroute.wait_until(what, || cond(self));
        self.kroute = Some(kroute);
    }

    /// Stops the agent; the dataplane it programmed stays.
    pub fn stop_kroute(&mut self) {
        self.kroute.take().expect("kroute is running").stop();
    }

    /// `nft -j list table ip kroute` in the node namespace.
    pub fn kroute_table(&self) -> Option<NftTable> {
        nft::list_table_json(&self.topo.node, "ip", "kroute")
    }

    /// `nft -j list table ip6 kroute` in the node namespace.
    pub fn kroute_table6(&self) -> Option<NftTable> {
        nft::list_table_json(&self.topo.node, "ip6", "kroute")
    }

    /// Panics unless the foreign table is as it was installed.
    pub fn assert_foreign_unchanged(&self, when: &str) {
        self.foreign.assert_unchanged(&self.topo.node, when);
    }
}
