//! The listeners over real sockets on 127.0.0.1: status codes, body and
//! headers; updates in place; a taken port; closing.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn value(name: &str, local_endpoints: usize) -> HealthCheckValue {
    HealthCheckValue {
        service: ObjectKey::new("default", name),
        local_endpoints,
        listen: vec!["127.0.0.1/32".parse().unwrap()],
    }
}

fn creating(items: &[(u16, HealthCheckValue)]) -> FacetPlan<HealthCheckKey, HealthCheckValue> {
    let mut plan = FacetPlan::default();
    for (port, v) in items {
        plan.creates
            .insert(HealthCheckKey { port: *port }, v.clone());
    }
    plan
}

/// Status code, headers (lowercased names), body.
type Answer = (u16, Vec<(String, String)>, String);

/// `GET /any/path` on 127.0.0.1:`port`.
fn get(port: u16) -> std::io::Result<Answer> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET /any/path HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").expect("headers end");
    let mut lines = head.lines();
    let code = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    Ok((code, headers, body.to_string()))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

static HEALTHY: AtomicBool = AtomicBool::new(true);

fn servers(rt: &tokio::runtime::Runtime) -> HealthCheckServers {
    HealthCheckServers::new(rt.handle().clone(), Arc::new(|| true))
}

#[test]
fn a_local_endpoint_and_a_healthy_proxy_answer_200_with_kube_proxys_body_and_weight() {
    let rt = runtime();
    let mut hcs = servers(&rt);
    let port = free_port();
    assert!(hcs.apply(&creating(&[(port, value("web", 2))])).is_empty());
    let (code, headers, body) = get(port).unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(header(&headers, WEIGHT_HEADER), Some("2"));
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert_eq!(body, answer(&ObjectKey::new("default", "web"), 2, true).1);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["service"]["namespace"], "default");
    assert_eq!(json["localEndpoints"], 2);
    assert_eq!(json["serviceProxyHealthy"], true);
    assert_eq!(
        hcs.listening()[&port],
        [SocketAddr::from((Ipv4Addr::LOCALHOST, port))]
    );
}

#[test]
fn no_local_endpoint_answers_503_and_an_update_changes_the_count_in_place() {
    let rt = runtime();
    let mut hcs = servers(&rt);
    let port = free_port();
    hcs.apply(&creating(&[(port, value("web", 0))]));
    let (code, headers, body) = get(port).unwrap();
    assert_eq!(code, 503, "{body}");
    assert_eq!(header(&headers, WEIGHT_HEADER), Some("0"));
    assert!(body.contains("\"localEndpoints\": 0"), "{body}");

    // A connection held open across the update: the listener is not restarted.
    let held = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    let mut update = FacetPlan::default();
    update
        .updates
        .insert(HealthCheckKey { port }, value("web", 1));
    assert!(hcs.apply(&update).is_empty());
    let (code, headers, _) = get(port).unwrap();
    assert_eq!(code, 200);
    assert_eq!(header(&headers, WEIGHT_HEADER), Some("1"));
    assert_eq!(hcs.current()[&HealthCheckKey { port }], value("web", 1));
    drop(held);
}

#[test]
fn an_unhealthy_proxy_answers_503_even_with_local_endpoints() {
    let rt = runtime();
    let health = Arc::new(|| HEALTHY.load(Ordering::SeqCst));
    let mut hcs = HealthCheckServers::new(rt.handle().clone(), health);
    let port = free_port();
    hcs.apply(&creating(&[(port, value("web", 3))]));
    HEALTHY.store(false, Ordering::SeqCst);
    let (code, headers, body) = get(port).unwrap();
    HEALTHY.store(true, Ordering::SeqCst);
    assert_eq!(code, 503);
    assert_eq!(header(&headers, WEIGHT_HEADER), Some("3"));
    assert!(body.contains("\"serviceProxyHealthy\": false"), "{body}");
}

#[test]
fn a_taken_port_is_an_error_naming_service_and_port_and_the_others_listen() {
    let rt = runtime();
    let mut hcs = servers(&rt);
    let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let other = free_port();
    let errors = hcs.apply(&creating(&[
        (taken_port, value("db", 1)),
        (other, value("web", 1)),
    ]));
    assert_eq!(errors.len(), 1);
    let text = errors[0].to_string();
    assert!(
        text.contains("default/db") && text.contains(&taken_port.to_string()),
        "{text}"
    );
    assert!(matches!(&errors[0], HostError::Listen { source, .. }
        if source.kind() == io::ErrorKind::AddrInUse));
    assert_eq!(get(other).unwrap().0, 200);
    assert!(
        !hcs.current()
            .contains_key(&HealthCheckKey { port: taken_port })
    );

    // Retried once the port is free.
    drop(taken);
    assert!(
        hcs.apply(&creating(&[(taken_port, value("db", 1))]))
            .is_empty()
    );
    assert_eq!(get(taken_port).unwrap().0, 200);
}

#[test]
fn a_delete_closes_the_listener_before_apply_returns() {
    let rt = runtime();
    let mut hcs = servers(&rt);
    let port = free_port();
    hcs.apply(&creating(&[(port, value("web", 1))]));
    let mut delete = FacetPlan::default();
    delete.deletes.insert(HealthCheckKey { port });
    assert!(hcs.apply(&delete).is_empty());
    assert!(hcs.current().is_empty());
    assert!(get(port).is_err(), "still listening");
    // The port is free again at once.
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
}

#[test]
fn wildcard_prefixes_listen_on_both_families_side_by_side() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("SKIPPED: no IPv6 on this machine");
        return;
    }
    let rt = runtime();
    let mut hcs = servers(&rt);
    let port = free_port();
    let mut v = value("web", 1);
    v.listen = vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()];
    assert!(hcs.apply(&creating(&[(port, v)])).is_empty());
    let wildcards: Vec<SocketAddr> = vec![
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)),
    ];
    assert_eq!(hcs.listening()[&port], wildcards);
    assert_eq!(get(port).unwrap().0, 200);
}
