//! The scene of an API-server-tier test: the standard node topology with its
//! backends, a real kube-apiserver + etcd inside the node namespace, `deploy/`
//! applied to it, and `kroute run` watching it with the token of the
//! ServiceAccount that `deploy/` creates, through a [`TcpProxy`] so a test can
//! cut or withhold kroute's connections without touching kubectl's.

use std::net::IpAddr;
use std::path::PathBuf;

use super::apiserver::ApiServer;
use super::kroute_process::{Kroute, write_config_with_source};
use super::manifests::node_yaml_dual;
use super::nft::{self, NftTable};
use super::scene::{NODE_NAME, TestService};
use super::servers::{self, EchoServer};
use super::tcp_proxy::TcpProxy;
use super::topology::{NODE_IP, NODE_IP6, POD_CIDR, POD_CIDR6, Topology};

/// Fields drop in order: the agent, the proxy, the servers, then the API
/// server and the namespaces.
pub struct KubeScene {
    pub kroute: Option<Kroute>,
    pub proxy: TcpProxy,
    pub servers: Vec<EchoServer>,
    pub api: ApiServer,
    pub config: PathBuf,
    pub dir: tempfile::TempDir,
    pub topo: Topology,
}

impl KubeScene {
    /// Topology with `pods` backends, the API server with `deploy/` applied,
    /// and kroute's config (not started: see [`KubeScene::start_kroute`]).
    pub fn new(prefix: &str, pods: usize) -> KubeScene {
        let topo = Topology::new(prefix, pods);
        let servers = servers::start_in_pods(&topo.pods, super::scene::BACKEND_PORT);
        let api = ApiServer::start(&topo.node);
        let deploy = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");
        api.kubectl_ok(&["apply", "-k", deploy]);
        let token = api.create_token("kube-system", "kroute");
        let proxy = TcpProxy::start(&topo.node, api.port());
        // kroute talks to the API server through the proxy.
        let direct = api.kubeconfig_for_token(&token);
        let via_proxy = std::fs::read_to_string(&direct)
            .expect("read token kubeconfig")
            .replace(
                &format!("127.0.0.1:{}", api.port()),
                &format!("127.0.0.1:{}", proxy.port()),
            );
        let dir = tempfile::Builder::new()
            .prefix("kroute-kube-")
            .tempdir()
            .expect("temp dir");
        let kubeconfig = dir.path().join("kroute.kubeconfig");
        std::fs::write(&kubeconfig, via_proxy).expect("write kroute kubeconfig");
        let config = write_config_with_source(
            dir.path(),
            NODE_NAME,
            "kubeconfig",
            &kubeconfig,
            super::scene::SYNC_PERIOD,
        );
        KubeScene {
            kroute: None,
            proxy,
            servers,
            api,
            config,
            dir,
            topo,
        }
    }

    /// Creates (or updates) this node's Node object with its addresses.
    pub fn put_node(&self, addresses: &[IpAddr]) {
        self.api.apply_yaml(&node_yaml_dual(
            NODE_NAME,
            &[IpAddr::V4(NODE_IP), IpAddr::V6(NODE_IP6)],
            &[POD_CIDR, POD_CIDR6],
        ));
        // `status` is a subresource: apply ignores it.
        let addrs: Vec<String> = addresses
            .iter()
            .map(|ip| format!(r#"{{"type":"InternalIP","address":"{ip}"}}"#))
            .collect();
        let patch = format!(r#"{{"status":{{"addresses":[{}]}}}}"#, addrs.join(","));
        self.api.kubectl_ok(&[
            "patch",
            "node",
            NODE_NAME,
            "--subresource=status",
            "--type=merge",
            "-p",
            &patch,
        ]);
    }

    /// Creates (or updates) the Service and its EndpointSlice.
    pub fn put_service(&self, svc: &TestService) {
        self.api.apply_yaml(&svc.to_yaml(&self.topo));
    }

    /// Deletes the Service and its EndpointSlice.
    pub fn delete_service(&self, svc: &TestService) {
        self.api
            .kubectl_ok(&["delete", "service", "-n", "default", &svc.name]);
        self.api.kubectl_ok(&[
            "delete",
            "endpointslice",
            "-n",
            "default",
            &format!("{}-slice1", svc.name),
        ]);
    }

    /// Starts `kroute run` in the node namespace.
    pub fn start_kroute(&mut self) {
        assert!(self.kroute.is_none(), "kroute already running");
        self.kroute = Some(Kroute::start(&self.topo.node, &self.config));
    }

    /// Polls `cond` until it holds; panics with kroute's output otherwise.
    pub fn wait_until(&mut self, what: &str, mut cond: impl FnMut(&KubeScene) -> bool) {
        let mut kroute = self.kroute.take().expect("kroute is running");
        kroute.wait_until(what, || cond(self));
        self.kroute = Some(kroute);
    }

    /// kroute's output so far.
    pub fn log(&self) -> String {
        self.kroute.as_ref().map(Kroute::log).unwrap_or_default()
    }

    pub fn kroute_table(&self) -> Option<NftTable> {
        nft::list_table_json(&self.topo.node, "ip", "kroute")
    }
}
