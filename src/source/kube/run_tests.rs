//! The Kubernetes source against an API server faked at the HTTP level
//! (kube's `tower-test` mock): the cases a real server cannot produce on
//! demand, such as a 410 Gone at a chosen moment or a watch stream cut in
//! the middle of an object.

use std::collections::BTreeMap;
use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tower_test::mock;

use super::run::{KubeSourceSettings, PROXY_LABEL_SELECTOR, run_kube_source};
use crate::model::fixtures::{node, service, slice};
use crate::model::{ObjectKey, SourceUpdate};

/// The watched collection a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Services,
    Slices,
    Nodes,
}

/// The fake server's answer to one request.
enum Reply {
    /// A list: items (as JSON) at a resourceVersion.
    List(&'static str, Vec<Value>),
    /// A watch response: these lines, then the stream ends.
    Lines(Vec<String>),
    /// A watch that stays open with nothing to say.
    Hold,
}

fn kind_of(req: &Request<Body>) -> (Kind, bool) {
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    let kind = if path.ends_with("/services") {
        Kind::Services
    } else if path.ends_with("/endpointslices") {
        Kind::Slices
    } else if path.ends_with("/nodes") {
        Kind::Nodes
    } else {
        panic!("unexpected request {}", req.uri())
    };
    (kind, query.contains("watch=true"))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn list_body(kind: Kind, rv: &str, items: Vec<Value>) -> Vec<u8> {
    let (api_version, list_kind) = match kind {
        Kind::Services => ("v1", "ServiceList"),
        Kind::Slices => ("discovery.k8s.io/v1", "EndpointSliceList"),
        Kind::Nodes => ("v1", "NodeList"),
    };
    serde_json::to_vec(&json!({
        "apiVersion": api_version,
        "kind": list_kind,
        "metadata": {"resourceVersion": rv},
        "items": items,
    }))
    .unwrap()
}

/// Serves requests with `script(kind, is_watch, nth call of that pair)`;
/// held watches stay open until the test ends.
fn serve(
    mut handle: mock::Handle<Request<Body>, Response<Body>>,
    mut script: impl FnMut(Kind, bool, usize) -> Reply + Send + 'static,
) {
    tokio::spawn(async move {
        let mut calls: BTreeMap<(Kind, bool), usize> = BTreeMap::new();
        let mut held = Vec::new();
        while let Some((req, send)) = handle.next_request().await {
            let (kind, watch) = kind_of(&req);
            if kind != Kind::Nodes {
                let query = percent_decode(req.uri().query().unwrap_or(""));
                assert!(
                    query.contains(&format!("labelSelector={PROXY_LABEL_SELECTOR}")),
                    "kube-proxy's selector on {}",
                    req.uri()
                );
            }
            let n = calls.entry((kind, watch)).or_default();
            let reply = script(kind, watch, *n);
            *n += 1;
            match reply {
                Reply::List(rv, items) => {
                    send.send_response(Response::new(Body::from(list_body(kind, rv, items))))
                }
                Reply::Lines(lines) => {
                    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
                    send.send_response(Response::new(Body::from(body.into_bytes())))
                }
                Reply::Hold => held.push(send),
            }
        }
    });
}

fn start(
    script: impl FnMut(Kind, bool, usize) -> Reply + Send + 'static,
) -> mpsc::Receiver<SourceUpdate> {
    let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
    serve(handle, script);
    let client = kube::Client::new(svc, "default");
    let (tx, rx) = mpsc::channel(16);
    let settings = KubeSourceSettings {
        node_name: "node-a".into(),
        watch_all_nodes: false,
    };
    tokio::spawn(run_kube_source(client, settings, tx, None));
    rx
}

async fn next(rx: &mut mpsc::Receiver<SourceUpdate>) -> SourceUpdate {
    tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("an update within 60 s")
        .expect("source running")
}

fn svc_json(name: &str, ip: &str) -> Value {
    let mut v = serde_json::to_value(service(
        "default",
        name,
        "ClusterIP",
        ip,
        &[("http", "TCP", 80, None)],
    ))
    .unwrap();
    v["metadata"]["resourceVersion"] = json!("5");
    v
}

fn slice_json(svc: &str, name: &str, ips: &[&str]) -> Value {
    let eps: Vec<(&str, &str, bool)> = ips.iter().map(|ip| (*ip, "node-a", true)).collect();
    serde_json::to_value(slice("default", svc, name, ("http", "TCP", 80), &eps)).unwrap()
}

fn node_json() -> Value {
    serde_json::to_value(node("node-a", "192.168.50.1")).unwrap()
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::new("default", name)
}

#[tokio::test]
async fn a_410_gone_relists_and_sweeps_only_what_was_deleted_meanwhile() {
    let mut rx = start(|kind, watch, n| match (kind, watch, n) {
        (Kind::Services, false, 0) => Reply::List(
            "10",
            vec![svc_json("web", "10.96.0.10"), svc_json("api", "10.96.0.11")],
        ),
        // The watch expires at once: the server has compacted past rv 10.
        (Kind::Services, true, 0) => Reply::Lines(vec![
            json!({
                "type": "ERROR",
                "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
                           "status": "Failure", "reason": "Expired", "code": 410,
                           "message": "too old resource version: 10 (20)"}
            })
            .to_string(),
        ]),
        // api was deleted while kroute could not watch.
        (Kind::Services, false, _) => Reply::List("20", vec![svc_json("web", "10.96.0.10")]),
        (Kind::Slices, false, _) => Reply::List(
            "10",
            vec![
                slice_json("web", "web-1", &["10.244.1.1"]),
                slice_json("api", "api-1", &["10.244.1.2"]),
            ],
        ),
        (Kind::Nodes, false, _) => Reply::List("10", vec![node_json()]),
        (_, true, _) => Reply::Hold,
    });
    let first = next(&mut rx).await;
    assert!(first.view.synced);
    assert_eq!(
        first.view.services.len(),
        2,
        "{:?}",
        first.view.services.keys()
    );
    assert!(first.view.nodes.contains_key("node-a"));

    let relisted = next(&mut rx).await;
    assert_eq!(
        relisted.dirty,
        [key("api")].into(),
        "only the deleted service"
    );
    assert!(relisted.view.synced);
    assert_eq!(
        relisted.view.services.keys().collect::<Vec<_>>(),
        [&key("web")]
    );
    assert_eq!(relisted.view.slices_of(&key("web")).count(), 1);
}

#[tokio::test]
async fn a_watch_cut_mid_object_keeps_the_view_and_resumes() {
    let cut = r#"{"type":"MODIFIED","object":{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"web-1","#;
    let mut rx = start(move |kind, watch, n| match (kind, watch, n) {
        (Kind::Services, false, _) => Reply::List("10", vec![svc_json("web", "10.96.0.10")]),
        (Kind::Slices, false, _) => {
            Reply::List("10", vec![slice_json("web", "web-1", &["10.244.1.1"])])
        }
        (Kind::Nodes, false, _) => Reply::List("10", vec![node_json()]),
        (Kind::Slices, true, 0) => Reply::Lines(vec![cut.to_string()]),
        (Kind::Slices, true, 1) => {
            let mut modified = slice_json("web", "web-1", &["10.244.1.1", "10.244.1.3"]);
            modified["metadata"]["resourceVersion"] = json!("11");
            Reply::Lines(vec![
                json!({"type": "MODIFIED", "object": modified}).to_string(),
            ])
        }
        (_, true, _) => Reply::Hold,
    });
    let first = next(&mut rx).await;
    assert_eq!(first.view.slices_of(&key("web")).count(), 1);

    // The broken line is an error the watcher backs off from; the next
    // watch's change arrives, and nothing was dropped in between.
    let resumed = next(&mut rx).await;
    assert_eq!(resumed.dirty, [key("web")].into());
    let slice = resumed.view.slices_of(&key("web")).next().unwrap();
    assert_eq!(slice.endpoints.as_ref().map(Vec::len), Some(2));
    assert_eq!(resumed.view.services.len(), 1);
}

#[tokio::test]
async fn nothing_is_sent_while_the_api_server_answers_with_errors() {
    let mut rx = start(|kind, watch, n| match (kind, watch, n) {
        (Kind::Services, false, 0..=2) => Reply::Lines(vec!["not json".into()]),
        (Kind::Services, false, _) => Reply::List("10", vec![svc_json("web", "10.96.0.10")]),
        (Kind::Slices, false, _) => Reply::List("10", vec![]),
        (Kind::Nodes, false, _) => Reply::List("10", vec![node_json()]),
        (_, true, _) => Reply::Hold,
    });
    // The first update comes only after the service list finally succeeded,
    // and is complete.
    let first = next(&mut rx).await;
    assert!(first.view.synced);
    assert_eq!(first.view.services.len(), 1);
    assert_eq!(first.dirty, [key("web")].into());
}
