//! API-server tier: the harness itself. A real etcd + kube-apiserver in a
//! network namespace takes objects from the built kubectl, hands them back,
//! keeps them across an apiserver restart, and authenticates a
//! ServiceAccount token through `kubeconfig_for_token`.
mod support;

use support::apiserver::{ApiServer, apiserver_tier_available};
use support::netns::NetNs;

const OBJECTS: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: harness
spec:
  clusterIP: 10.96.0.10
  ports:
  - name: http
    port: 80
    targetPort: 8080
    protocol: TCP
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: harness
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
ports:
- name: http
  port: 8080
  protocol: TCP
endpoints:
- addresses: [10.244.1.11]
  conditions: {ready: true}
  nodeName: node-a
- addresses: [10.244.1.12]
  conditions: {ready: false}
";

/// What the server holds for the Service and the EndpointSlice, as
/// `clusterIP port/targetPort` and `address:ready ...`.
fn read_back(api: &ApiServer) -> (String, String) {
    let service = api.kubectl_ok(&[
        "get",
        "service",
        "web",
        "-n",
        "harness",
        "-o",
        "jsonpath={.spec.clusterIP} {.spec.ports[0].port}/{.spec.ports[0].targetPort}",
    ]);
    let slice = api.kubectl_ok(&[
        "get",
        "endpointslice",
        "web-1",
        "-n",
        "harness",
        "-o",
        "jsonpath={range .endpoints[*]}{.addresses[0]}:{.conditions.ready} {end}",
    ]);
    (service, slice.trim_end().to_string())
}

#[test]
fn apiserver_serves_objects_and_keeps_them_across_a_restart() {
    if !apiserver_tier_available() {
        return;
    }
    let ns = NetNs::new("api");
    let mut api = ApiServer::start(&ns);

    // The server is the one we built, not the kubectl on PATH talking to nothing.
    let version = api.kubectl_ok(&["version", "-o", "json"]);
    assert!(
        version.contains("\"gitVersion\": \"v1.37.2\""),
        "server/client version: {version}"
    );

    api.kubectl_ok(&["create", "namespace", "harness"]);
    api.apply_yaml(OBJECTS);
    let expected = (
        "10.96.0.10 80/8080".to_string(),
        "10.244.1.11:true 10.244.1.12:false".to_string(),
    );
    assert_eq!(read_back(&api), expected);
    // The server validates: a clusterIP outside the service range is refused.
    let bad = api.kubectl_with(
        &api.kubeconfig_admin(),
        &["apply", "-f", "-"],
        Some(
            &OBJECTS
                .split("---")
                .next()
                .unwrap()
                .replace("10.96.0.10", "192.0.2.1"),
        ),
    );
    assert!(
        !bad.status.success(),
        "a clusterIP outside 10.96.0.0/12 was accepted"
    );

    api.stop_apiserver();
    let down = api.kubectl(&["get", "namespaces"]);
    assert!(
        !down.status.success(),
        "kubectl succeeded with the apiserver stopped"
    );
    api.start_apiserver();
    assert_eq!(
        read_back(&api),
        expected,
        "objects lost across an apiserver restart"
    );
}

#[test]
fn serviceaccount_token_kubeconfig_authenticates_as_the_serviceaccount() {
    if !apiserver_tier_available() {
        return;
    }
    let ns = NetNs::new("api-sa");
    let api = ApiServer::start(&ns);
    api.kubectl_ok(&["create", "serviceaccount", "probe", "-n", "default"]);
    let token = api.create_token("default", "probe");
    let kubeconfig = api.kubeconfig_for_token(&token);

    let whoami = api.kubectl_with(
        &kubeconfig,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
        None,
    );
    assert!(
        whoami.status.success(),
        "{}",
        String::from_utf8_lossy(&whoami.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&whoami.stdout),
        "system:serviceaccount:default:probe"
    );
    // RBAC is on: a ServiceAccount without bindings may not list services.
    let refused = api.kubectl_with(&kubeconfig, &["get", "services", "-A"], None);
    assert!(
        !refused.status.success(),
        "an unbound ServiceAccount listed services"
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("forbidden"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // A wrong token is not authenticated at all.
    let bogus = api.kubeconfig_for_token("not-a-token");
    let out = api.kubectl_with(&bogus, &["get", "namespaces"], None);
    assert!(!out.status.success(), "a bogus token was accepted");
}
