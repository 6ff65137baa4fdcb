use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use tokio::net::TcpStream;

use super::client::{Response, fetch_status, get, parse_response};
use super::health::HealthBody;
use super::*;
use crate::model::ClusterView;
use crate::model::fixtures::node;
use crate::sync::{SyncKind, SyncReport};
use crate::telemetry::SyncAttempt;
use crate::telemetry::exposition::Exposition;

const PERIOD: Duration = Duration::from_secs(30);

struct Running {
    servers: SideServers,
    telemetry: Arc<Telemetry>,
    _dir: tempfile::TempDir,
}

/// Side servers on ephemeral 127.0.0.1 ports, the socket in a fresh
/// directory that does not exist yet.
async fn start() -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        health_address: "127.0.0.1:0".parse().expect("addr"),
        metrics_address: "127.0.0.1:0".parse().expect("addr"),
        admin_socket: dir.path().join("run/kroute.sock"),
        ..Config::default()
    };
    let telemetry = Arc::new(Telemetry::new(SystemTime::now(), PERIOD));
    let servers = spawn_side_servers(
        &config,
        telemetry.clone(),
        crate::bgp::slot::SpeakerSlot::new(),
    )
    .await
    .expect("side servers start");
    Running {
        servers,
        telemetry,
        _dir: dir,
    }
}

async fn http(addr: SocketAddr, path: &str) -> Response {
    let stream = TcpStream::connect(addr).await.expect("connect");
    get(stream, path).await.expect("GET")
}

async fn health(addr: SocketAddr, path: &str) -> (u16, HealthBody) {
    let r = http(addr, path).await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body));
    (r.status, body)
}

fn synced_ok(telemetry: &Telemetry, nft: usize) {
    let outcome = Ok(SyncReport::new(SyncKind::Full));
    telemetry.synced(
        SystemTime::now(),
        SyncAttempt {
            kind: SyncKind::Full,
            outcome: &outcome,
            duration: Duration::from_millis(3),
            artifacts: BTreeMap::from([("nftables".to_string(), nft)]),
        },
    );
}

#[tokio::test]
async fn healthz_is_503_once_a_change_waited_twice_the_sync_period_and_200_after_a_sync() {
    let r = start().await;
    let addr = r.servers.health_address;
    let (code, body) = health(addr, "/healthz").await;
    assert_eq!(code, 200, "healthy before any change: {body:?}");

    r.telemetry
        .queued(SystemTime::now() - 2 * PERIOD - Duration::from_secs(1));
    let (code, body) = health(addr, "/healthz").await;
    assert_eq!((code, body.healthy), (503, false));
    assert_eq!(health(addr, "/livez").await.0, 503);

    synced_ok(&r.telemetry, 3);
    let (code, body) = health(addr, "/healthz").await;
    assert_eq!((code, body.healthy, body.node_eligible), (200, true, true));
    let updated = crate::telemetry::parse_rfc3339(&body.last_updated).expect("RFC3339");
    let current = crate::telemetry::parse_rfc3339(&body.current_time).expect("RFC3339");
    assert!(updated <= current, "{body:?}");
}

#[tokio::test]
async fn a_node_being_deleted_fails_healthz_but_not_livez() {
    let r = start().await;
    let mut n = node("node-a", "192.168.50.1");
    n.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    let view = ClusterView::from_objects([], [], [n]);
    r.telemetry.view_changed(&view, &BTreeSet::new(), "node-a");
    let addr = r.servers.health_address;
    let (code, body) = health(addr, "/healthz").await;
    assert_eq!((code, body.healthy, body.node_eligible), (503, true, false));
    let (code, _) = health(addr, "/livez").await;
    assert_eq!(code, 200);
    assert_eq!(http(addr, "/nope").await.status, 404);
}

#[tokio::test]
async fn metrics_are_scraped_with_kube_proxy_names_and_values_that_change_after_a_sync() {
    let r = start().await;
    let addr = r.servers.metrics_address;
    let before = http(addr, "/metrics").await;
    assert_eq!(before.status, 200);
    assert!(
        before
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/openmetrics-text")),
        "{:?}",
        before.headers
    );
    let before = Exposition::parse(&before.body);
    assert_eq!(
        before
            .types
            .get("kubeproxy_sync_proxy_rules_duration_seconds")
            .map(String::as_str),
        Some("histogram")
    );
    assert_eq!(
        before.value("kubeproxy_sync_proxy_rules_last_timestamp_seconds"),
        Some(0.0)
    );

    synced_ok(&r.telemetry, 9);
    let after = Exposition::parse(&http(addr, "/metrics").await.body);
    let last = after
        .value("kubeproxy_sync_proxy_rules_last_timestamp_seconds")
        .expect("gauge");
    assert!(last > 1.7e9, "a wall-clock timestamp: {last}");
    assert_eq!(
        after.value("kroute_syncs_total{kind=\"full\",result=\"ok\"}"),
        Some(1.0)
    );
    assert_eq!(
        after.value("kroute_artifacts{facet=\"nftables\"}"),
        Some(9.0)
    );
    assert_eq!(
        after.value("kubeproxy_sync_proxy_rules_duration_seconds_count"),
        Some(1.0)
    );
}

#[tokio::test]
async fn the_admin_socket_answers_the_status_and_is_private() {
    let r = start().await;
    let socket = r.servers.admin_socket.clone();
    let mode = std::fs::metadata(&socket)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let doc = fetch_status(&socket).await.expect("status");
    assert!(doc.last_sync.is_none());
    assert_eq!(
        doc.listening.get("health"),
        Some(&r.servers.health_address.to_string())
    );
    assert_eq!(
        doc.listening.get("metrics"),
        Some(&r.servers.metrics_address.to_string())
    );

    synced_ok(&r.telemetry, 11);
    let doc = fetch_status(&socket).await.expect("status");
    assert!(doc.last_sync.as_ref().is_some_and(|s| s.ok), "{doc:?}");
    assert_eq!(doc.artifacts.get("nftables"), Some(&11));
    assert!(doc.last_successful_sync.is_some());
}

#[tokio::test]
async fn a_stale_socket_is_replaced_and_a_live_one_is_refused() {
    let r = start().await;
    let socket = r.servers.admin_socket.clone();
    let err = admin::bind(&socket).await.expect_err("an agent answers");
    assert!(matches!(err, ServeError::AdminSocketInUse { .. }), "{err}");

    // A socket file nobody listens on (a previous run killed hard).
    let dir = tempfile::tempdir().expect("tempdir");
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind"));
    assert!(stale.exists());
    let listener = admin::bind(&stale).await.expect("stale socket replaced");
    drop(listener);

    let file = dir.path().join("file");
    std::fs::write(&file, "not a socket").expect("write");
    let err = admin::bind(&file).await.expect_err("not a socket");
    let cause = std::error::Error::source(&err).map(|c| c.to_string());
    assert!(
        cause.as_deref().is_some_and(|c| c.contains("not a socket")),
        "{err}: {cause:?}"
    );
    assert!(file.exists(), "a regular file is never removed");
}

#[tokio::test]
async fn a_bind_failure_names_the_address() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = taken.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        health_address: "127.0.0.1:0".parse().expect("addr"),
        metrics_address: addr,
        admin_socket: dir.path().join("kroute.sock"),
        ..Config::default()
    };
    let telemetry = Arc::new(Telemetry::new(SystemTime::now(), PERIOD));
    let err = spawn_side_servers(&config, telemetry, crate::bgp::slot::SpeakerSlot::new())
        .await
        .expect_err("port in use");
    let text = err.to_string();
    assert!(
        text.contains(&addr.to_string()) && text.contains("metrics"),
        "{text}"
    );
}

#[tokio::test]
async fn status_without_an_agent_names_the_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kroute.sock");
    let err = fetch_status(&path).await.expect_err("nobody there");
    assert!(matches!(err, ServeError::Connect { .. }));
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn responses_are_parsed_with_content_length_or_chunks() {
    let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").expect("parse");
    assert_eq!((r.status, r.body.as_str()), (200, "hello"));
    let r = parse_response(
        b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    )
    .expect("parse");
    assert_eq!((r.status, r.body.as_str()), (503, "abcde"));
    assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
}
