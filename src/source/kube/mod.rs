//! The Kubernetes API source: watchers on Services, EndpointSlices, this Node
//! (and all Nodes when the BGP mesh needs them), applied to a [`KubeStore`]
//! that is the `ClusterView` the loop plans from, and a publisher of
//! Kubernetes Events for invalid annotations.
//!
//! Objects are selected as kube-proxy selects them: Services and slices
//! without a `service.kubernetes.io/service-proxy-name` label and slices not
//! labelled headless. Only the fields kroute reads are kept (see `trim`).

mod backoff;
mod events;
mod run;
pub mod store;
mod trim;

pub use events::{EventPublisher, object_reference};
pub use run::{KubeSourceSettings, run_kube_source};
pub use store::{Change, KubeEvent, KubeStore, Watched};

/// Errors of the Kubernetes source.
#[derive(Debug, thiserror::Error)]
pub enum KubeSourceError {
    /// No kubeconfig could be read and kroute is not running in a cluster.
    #[error("Kubernetes client configuration: {0}")]
    Config(String),
    /// The client could not be built from the configuration.
    #[error("Kubernetes client: {0}")]
    Client(#[source] kube::Error),
}

/// A client from `source.kubeconfig`; when none is given, the in-cluster
/// configuration inside a pod, else `$KUBECONFIG` / `~/.kube/config`.
pub async fn client(kubeconfig: Option<&std::path::Path>) -> Result<kube::Client, KubeSourceError> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| {
                KubeSourceError::Config(format!("source.kubeconfig {}: {e}", path.display()))
            })?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| {
                    KubeSourceError::Config(format!("source.kubeconfig {}: {e}", path.display()))
                })?
        }
        // In a pod: the ServiceAccount token and KUBERNETES_SERVICE_HOST/PORT.
        None if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => {
            kube::Config::incluster().map_err(|e| {
                KubeSourceError::Config(format!("in-cluster configuration: {e}"))
            })?
        }
        // Elsewhere: $KUBECONFIG or ~/.kube/config, as kubectl finds them.
        None => kube::Config::infer().await.map_err(|e| {
            KubeSourceError::Config(format!(
                "no source.manifests, no source.kubeconfig, not in a cluster, and no usable $KUBECONFIG or ~/.kube/config: {e}"
            ))
        })?,
    };
    kube::Client::try_from(config).map_err(KubeSourceError::Client)
}

#[cfg(test)]
mod run_tests;
#[cfg(test)]
mod store_tests;
