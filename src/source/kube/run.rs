//! The I/O of the Kubernetes source: the watch streams, merged, applied to
//! the store in bursts, each burst sent to the loop as one `SourceUpdate`.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::{FutureExt, StreamExt, stream::BoxStream};
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::mpsc;

use super::backoff::WatchBackoff;
use super::events::EventPublisher;
use super::store::{Change, KubeEvent, KubeStore, Watched};
use crate::model::annotations::InvalidAnnotation;
use crate::model::{ObjectKey, SourceUpdate};

/// kube-proxy's selection: no foreign proxy, not headless.
pub const PROXY_LABEL_SELECTOR: &str =
    "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless";

/// Events applied before the burst is handed to the loop, at most.
const MAX_BURST: usize = 4096;

/// What the source watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeSourceSettings {
    pub node_name: String,
    /// Watch every Node (the BGP mesh needs them), not only this one.
    pub watch_all_nodes: bool,
}

impl KubeSourceSettings {
    fn watched(&self) -> Vec<Watched> {
        let mut w = vec![Watched::Services, Watched::Slices, Watched::ThisNode];
        if self.watch_all_nodes {
            w.push(Watched::Nodes);
        }
        w
    }
}

type Events = BoxStream<'static, Result<KubeEvent, watcher::Error>>;

fn streams(client: &Client, settings: &KubeSourceSettings) -> Vec<Events> {
    let proxied = watcher::Config::default().labels(PROXY_LABEL_SELECTOR);
    let services = watcher(Api::<Service>::all(client.clone()), proxied.clone())
        .backoff(WatchBackoff::default())
        .map(|r| r.map(KubeEvent::Service))
        .boxed();
    let slices = watcher(Api::<EndpointSlice>::all(client.clone()), proxied)
        .backoff(WatchBackoff::default())
        .map(|r| r.map(KubeEvent::Slice))
        .boxed();
    let this_node =
        watcher::Config::default().fields(&format!("metadata.name={}", settings.node_name));
    let node = watcher(Api::<Node>::all(client.clone()), this_node)
        .backoff(WatchBackoff::default())
        .map(|r| r.map(KubeEvent::ThisNode))
        .boxed();
    let mut all = vec![services, slices, node];
    if settings.watch_all_nodes {
        all.push(
            watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
                .backoff(WatchBackoff::default())
                .map(|r| r.map(KubeEvent::Nodes))
                .boxed(),
        );
    }
    all
}

/// Runs until the receiver of `updates` is dropped. Nothing is sent before
/// every watcher has listed once (an API server that is down is waited for);
/// watch errors back off and keep the last good view. Invalid annotations
/// from `invalid` become `Warning InvalidAnnotation` Events on their object.
pub async fn run_kube_source(
    client: Client,
    settings: KubeSourceSettings,
    updates: mpsc::Sender<SourceUpdate>,
    mut invalid: Option<mpsc::UnboundedReceiver<InvalidAnnotation>>,
) {
    let mut store = KubeStore::new(&settings.node_name, settings.watched());
    let mut events = futures::stream::select_all(streams(&client, &settings));
    let publisher = EventPublisher::spawn(client.clone(), &settings.node_name);
    let mut pending = Change::default();
    let mut errors_in_row = 0u32;
    let mut warned_missing_node = false;
    loop {
        let invalid_next = async {
            match invalid.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        let first = tokio::select! {
            ev = events.next() => ev,
            bad = invalid_next => {
                match bad {
                    Some(bad) => publisher.report(&bad, store.view()),
                    None => invalid = None,
                }
                continue;
            }
            _ = updates.closed() => return,
        };
        let Some(first) = first else {
            tracing::error!("Kubernetes watch streams ended");
            return;
        };
        // Take everything already received: one update per burst.
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(item) = next {
            match item {
                Ok(ev) => {
                    errors_in_row = 0;
                    pending.merge(store.apply(ev));
                }
                Err(e) => {
                    errors_in_row += 1;
                    // The stream backs off and retries; the view stays as it was.
                    if errors_in_row == 1 || errors_in_row.is_power_of_two() {
                        tracing::warn!(error = %e, attempts = errors_in_row, "Kubernetes watch failed; retrying with back-off, keeping the last good view");
                    }
                }
            }
            taken += 1;
            next = if taken < MAX_BURST {
                events.next().now_or_never().flatten()
            } else {
                None
            };
        }
        if !store.is_synced() || pending.is_empty() {
            continue;
        }
        let view = store.view();
        crate::source::warn_if_node_missing(view, &settings.node_name, &mut warned_missing_node);
        let change = std::mem::take(&mut pending);
        let dirty: BTreeSet<ObjectKey> = if change.became_synced {
            view.services.keys().cloned().collect()
        } else {
            change.dirty
        };
        let update = SourceUpdate {
            view: Arc::new(view.clone()),
            dirty,
        };
        if updates.send(update).await.is_err() {
            return;
        }
    }
}
