//! `ClusterView`: the raw Kubernetes objects a source has seen, plus which
//! services changed since the last sync.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// Label joining an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// `namespace/name` of a namespaced object (namespace empty for cluster-scoped).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ObjectKey {
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

/// What a source sends the reconcile loop: a new view and the services that
/// changed in it (a model type, so sources and the loop never import each other).
#[derive(Clone, Debug)]
pub struct SourceUpdate {
    pub view: Arc<ClusterView>,
    pub dirty: BTreeSet<ObjectKey>,
}

/// Everything the sources know, indexed for projection.
#[derive(Clone, Debug, Default)]
pub struct ClusterView {
    /// Services by `namespace/name`.
    pub services: BTreeMap<ObjectKey, Service>,
    /// EndpointSlices by the Service they belong to, then by slice name.
    pub slices: BTreeMap<ObjectKey, BTreeMap<String, EndpointSlice>>,
    /// All Nodes by name (this node is looked up by name).
    pub nodes: BTreeMap<String, Node>,
    /// True once every source has delivered a complete view at least once.
    /// Nothing may be swept before that.
    pub synced: bool,
}

impl ClusterView {
    /// Builds a view from loose objects (slices are joined by their label;
    /// slices without it are ignored, as kube-proxy does).
    pub fn from_objects(
        services: impl IntoIterator<Item = Service>,
        slices: impl IntoIterator<Item = EndpointSlice>,
        nodes: impl IntoIterator<Item = Node>,
    ) -> Self {
        let mut view = ClusterView::default();
        for svc in services {
            let key = key_of(&svc.metadata);
            view.services.insert(key, svc);
        }
        for slice in slices {
            let Some(owner) = slice_service_key(&slice) else {
                continue;
            };
            let name = slice.metadata.name.clone().unwrap_or_default();
            view.slices.entry(owner).or_default().insert(name, slice);
        }
        for node in nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            view.nodes.insert(name, node);
        }
        view
    }

    /// The slices of one service (empty when it has none).
    pub fn slices_of(&self, key: &ObjectKey) -> impl Iterator<Item = &EndpointSlice> {
        self.slices.get(key).into_iter().flat_map(|m| m.values())
    }

    /// Service keys whose Service or slices differ between `self` and `other`.
    pub fn changed_services(&self, other: &ClusterView) -> BTreeSet<ObjectKey> {
        let mut changed = BTreeSet::new();
        let keys: BTreeSet<&ObjectKey> = self
            .services
            .keys()
            .chain(other.services.keys())
            .chain(self.slices.keys())
            .chain(other.slices.keys())
            .collect();
        for key in keys {
            if self.services.get(key) != other.services.get(key)
                || self.slices.get(key) != other.slices.get(key)
            {
                changed.insert(key.clone());
            }
        }
        changed
    }
}

/// `namespace/name` of an object from its metadata.
pub fn key_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> ObjectKey {
    ObjectKey::new(
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// The Service an EndpointSlice belongs to, from its `kubernetes.io/service-name` label.
pub fn slice_service_key(slice: &EndpointSlice) -> Option<ObjectKey> {
    let name = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    Some(ObjectKey::new(
        slice.metadata.namespace.clone().unwrap_or_default(),
        name.clone(),
    ))
}
