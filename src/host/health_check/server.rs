//! `HealthCheckServers`: the in-process backend of the health-check facet.
//! Each listener is a task on the runtime the host was given, serving
//! kube-proxy's answer on every path; `apply` is synchronous (it runs on the
//! loop's blocking thread): binding happens before it returns, so a taken
//! port is an error of that artifact, and a closed listener has released its
//! port by the time `apply` returns.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, HeaderName, X_CONTENT_TYPE_OPTIONS};
use axum::response::{IntoResponse, Response};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::{
    HealthCheckKey, HealthCheckValue, ProxyHealth, WEIGHT_HEADER, answer, listen_addresses,
};
use crate::host::{FacetPlan, HostError};
use crate::model::ObjectKey;

/// How long closing a listener waits for its task to let the port go.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Every listener, by port.
pub struct HealthCheckServers {
    runtime: Handle,
    health: Arc<dyn ProxyHealth>,
    local: fn() -> io::Result<Vec<IpAddr>>,
    listeners: BTreeMap<HealthCheckKey, Listener>,
}

impl std::fmt::Debug for HealthCheckServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthCheckServers")
            .field("listening", &self.listening())
            .finish()
    }
}

/// What a listener answers, changed in place by an update.
struct Shared {
    answer: Mutex<(ObjectKey, usize)>,
    health: Arc<dyn ProxyHealth>,
}

/// One port's listener: a serving task per address.
struct Listener {
    value: HealthCheckValue,
    shared: Arc<Shared>,
    serving: Vec<Serving>,
}

struct Serving {
    address: SocketAddr,
    task: JoinHandle<()>,
    /// Disconnected once the task (and its socket) is gone.
    closed: mpsc::Receiver<()>,
}

impl HealthCheckServers {
    /// Listeners served on `runtime`, answering with `health`'s verdict.
    pub fn new(runtime: Handle, health: Arc<dyn ProxyHealth>) -> HealthCheckServers {
        HealthCheckServers {
            runtime,
            health,
            local: super::local_addresses,
            listeners: BTreeMap::new(),
        }
    }

    /// What listens now: the facet's snapshot.
    pub fn current(&self) -> BTreeMap<HealthCheckKey, HealthCheckValue> {
        self.listeners
            .iter()
            .map(|(k, l)| (*k, l.value.clone()))
            .collect()
    }

    /// The addresses each port listens on.
    pub fn listening(&self) -> BTreeMap<u16, Vec<SocketAddr>> {
        self.listeners
            .iter()
            .map(|(k, l)| (k.port, l.serving.iter().map(|s| s.address).collect()))
            .collect()
    }

    /// Closes what is deleted, updates counts in place, opens what is new.
    /// Returns the artifacts that could not be applied (each error names
    /// the service, the port and the address); the others are applied.
    /// Call it off the runtime's own threads (the loop's blocking task):
    /// closing waits, up to `CLOSE_WAIT`, for the runtime to drop a
    /// listener's task.
    pub fn apply(&mut self, plan: &FacetPlan<HealthCheckKey, HealthCheckValue>) -> Vec<HostError> {
        for key in &plan.deletes {
            if let Some(listener) = self.listeners.remove(key) {
                close(listener);
            }
        }
        let mut errors = Vec::new();
        for (key, value) in plan.updates.iter().chain(&plan.creates) {
            if let Some(listener) = self.listeners.get_mut(key)
                && listener.value.listen == value.listen
            {
                *lock(&listener.shared.answer) = (value.service.clone(), value.local_endpoints);
                listener.value = value.clone();
                continue;
            }
            // New, or its addresses changed: (re)open it.
            if let Some(old) = self.listeners.remove(key) {
                close(old);
            }
            match self.open(*key, value) {
                Ok(listener) => {
                    self.listeners.insert(*key, listener);
                }
                Err(e) => errors.push(e),
            }
        }
        errors
    }

    fn open(&self, key: HealthCheckKey, value: &HealthCheckValue) -> Result<Listener, HostError> {
        let fail = |address: String, source| HostError::Listen {
            service: value.service.clone(),
            port: key.port,
            address,
            source,
        };
        let nets = value
            .listen
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>();
        let addresses = listen_addresses(&value.listen, key.port, self.local)
            .map_err(|e| fail(nets.join(", "), e))?;
        if addresses.is_empty() {
            tracing::warn!(
                service = %value.service,
                port = key.port,
                prefixes = ?nets,
                "no local address to listen on for the healthCheckNodePort"
            );
        }
        let shared = Arc::new(Shared {
            answer: Mutex::new((value.service.clone(), value.local_endpoints)),
            health: self.health.clone(),
        });
        let mut listener = Listener {
            value: value.clone(),
            shared,
            serving: Vec::new(),
        };
        for address in addresses {
            match self.serve(address, &listener.shared) {
                Ok(serving) => listener.serving.push(serving),
                Err(e) => {
                    // Nothing half-open stays behind.
                    close(listener);
                    return Err(fail(address.to_string(), e));
                }
            }
        }
        tracing::info!(service = %value.service, port = key.port, "health check listening");
        Ok(listener)
    }

    fn serve(&self, address: SocketAddr, shared: &Arc<Shared>) -> io::Result<Serving> {
        let std_listener = bind(address)?;
        let _entered = self.runtime.enter();
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let app = Router::new().fallback(respond).with_state(shared.clone());
        let (closed_tx, closed) = mpsc::channel::<()>();
        let task = self.runtime.spawn(async move {
            // Declared first, dropped last: after the listener.
            let _closed = closed_tx;
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(%address, error = %e, "health check listener stopped");
            }
        });
        Ok(Serving {
            address,
            task,
            closed,
        })
    }
}

impl Drop for HealthCheckServers {
    fn drop(&mut self) {
        for listener in self.listeners.values() {
            for s in &listener.serving {
                s.task.abort();
            }
        }
    }
}

/// Stops a listener's tasks and waits (bounded) until their sockets are closed.
fn close(listener: Listener) {
    for s in &listener.serving {
        s.task.abort();
    }
    for s in listener.serving {
        if let Err(mpsc::RecvTimeoutError::Timeout) = s.closed.recv_timeout(CLOSE_WAIT) {
            tracing::warn!(address = %s.address, "health check listener slow to close");
        }
    }
}

/// A listening socket like Go's: `SO_REUSEADDR`, IPv6 sockets IPv6-only (so
/// `0.0.0.0` and `[::]` can both listen on a port).
fn bind(address: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&address.into())?;
    socket.listen(128)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Every request, whatever its path: kube-proxy's answer and headers.
async fn respond(State(shared): State<Arc<Shared>>) -> Response {
    let (service, count) = lock(&shared.answer).clone();
    let (code, body) = answer(&service, count, shared.health.healthy());
    let weight = HeaderName::from_static(WEIGHT_HEADER);
    let headers = [
        (CONTENT_TYPE, "application/json".to_string()),
        (X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        (weight, count.to_string()),
    ];
    (code, headers, body).into_response()
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
