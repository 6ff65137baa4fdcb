//! `KubeStore`: the watched objects, kept as a `ClusterView`, updated from
//! kube-rs watcher events. Pure (no I/O), so tests replay event sequences.
//!
//! A relist (start, a watch that expired with 410 Gone, a reconnect after an
//! error) is buffered from `Init` to `InitDone` and then swapped in at once:
//! objects absent from the new list are deleted, everything else that is
//! unchanged wakes nothing. The view counts as synced once every watcher has
//! completed its first list.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::Event;

use super::trim;
use crate::model::cluster_view::{key_of, slice_service_key};
use crate::model::{ClusterView, ObjectKey};

/// An event of one of the watchers, tagged with the watcher it came from.
#[derive(Clone, Debug)]
pub enum KubeEvent {
    Service(Event<Service>),
    Slice(Event<EndpointSlice>),
    /// The watch on this node (field selector on its name).
    ThisNode(Event<Node>),
    /// The watch on all Nodes (only when the Node list is needed).
    Nodes(Event<Node>),
}

/// The watchers a store waits for before its view counts as synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Watched {
    Services,
    Slices,
    ThisNode,
    Nodes,
}

/// What one event changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// Services whose Service or slices changed.
    pub dirty: BTreeSet<ObjectKey>,
    /// A Node changed (this node's facts feed every service's plan).
    pub nodes: bool,
    /// The view became synced with this event.
    pub became_synced: bool,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self.dirty.is_empty() && !self.nodes && !self.became_synced
    }

    pub fn merge(&mut self, other: Change) {
        self.dirty.extend(other.dirty);
        self.nodes |= other.nodes;
        self.became_synced |= other.became_synced;
    }
}

/// The objects of every watcher, and their relist buffers.
pub struct KubeStore {
    view: ClusterView,
    /// `namespace/slice-name` → the Service it belongs to.
    slice_owner: BTreeMap<ObjectKey, ObjectKey>,
    /// This node's name.
    node_name: String,
    /// Whether this node has a watch of its own.
    watches_this_node: bool,
    /// Watchers still to complete their first list.
    pending: BTreeSet<Watched>,
    services_relist: Option<Vec<Service>>,
    slices_relist: Option<Vec<EndpointSlice>>,
    this_node_relist: Option<Vec<Node>>,
    nodes_relist: Option<Vec<Node>>,
}

impl KubeStore {
    /// A store for node `node_name` that waits for the given watchers.
    pub fn new(node_name: &str, watched: impl IntoIterator<Item = Watched>) -> KubeStore {
        let pending: BTreeSet<Watched> = watched.into_iter().collect();
        KubeStore {
            view: ClusterView::default(),
            slice_owner: BTreeMap::new(),
            node_name: node_name.to_string(),
            watches_this_node: pending.contains(&Watched::ThisNode),
            pending,
            services_relist: None,
            slices_relist: None,
            this_node_relist: None,
            nodes_relist: None,
        }
    }

    /// The current view (`synced` once every watcher has listed once).
    pub fn view(&self) -> &ClusterView {
        &self.view
    }

    pub fn is_synced(&self) -> bool {
        self.view.synced
    }

    /// Applies one watcher event.
    pub fn apply(&mut self, event: KubeEvent) -> Change {
        let mut change = match event {
            KubeEvent::Service(ev) => self.service_event(ev),
            KubeEvent::Slice(ev) => self.slice_event(ev),
            KubeEvent::ThisNode(ev) => self.node_event(ev, Watched::ThisNode),
            KubeEvent::Nodes(ev) => self.node_event(ev, Watched::Nodes),
        };
        if !self.view.synced && self.pending.is_empty() {
            self.view.synced = true;
            change.became_synced = true;
        }
        change
    }

    fn listed(&mut self, watched: Watched) {
        self.pending.remove(&watched);
    }

    fn service_event(&mut self, ev: Event<Service>) -> Change {
        let mut change = Change::default();
        match ev {
            Event::Apply(mut svc) | Event::InitApply(mut svc) => {
                trim::service(&mut svc);
                if let Some(buffer) = self.services_relist.as_mut() {
                    buffer.push(svc);
                } else {
                    self.put_service(svc, &mut change);
                }
            }
            Event::Delete(svc) => {
                let key = key_of(&svc.metadata);
                if self.view.services.remove(&key).is_some() {
                    change.dirty.insert(key);
                }
            }
            Event::Init => self.services_relist = Some(Vec::new()),
            Event::InitDone => {
                let listed = self.services_relist.take().unwrap_or_default();
                let mut fresh: BTreeMap<ObjectKey, Service> = BTreeMap::new();
                for svc in listed {
                    fresh.insert(key_of(&svc.metadata), svc);
                }
                for key in self.view.services.keys() {
                    if !fresh.contains_key(key) {
                        change.dirty.insert(key.clone());
                    }
                }
                for (key, svc) in &fresh {
                    if self.view.services.get(key) != Some(svc) {
                        change.dirty.insert(key.clone());
                    }
                }
                self.view.services = fresh;
                self.listed(Watched::Services);
            }
        }
        change
    }

    fn put_service(&mut self, svc: Service, change: &mut Change) {
        let key = key_of(&svc.metadata);
        if self.view.services.get(&key) != Some(&svc) {
            self.view.services.insert(key.clone(), svc);
            change.dirty.insert(key);
        }
    }

    fn slice_event(&mut self, ev: Event<EndpointSlice>) -> Change {
        let mut change = Change::default();
        match ev {
            Event::Apply(mut slice) | Event::InitApply(mut slice) => {
                trim::endpoint_slice(&mut slice);
                if let Some(buffer) = self.slices_relist.as_mut() {
                    buffer.push(slice);
                } else {
                    self.put_slice(slice, &mut change);
                }
            }
            Event::Delete(slice) => {
                let id = key_of(&slice.metadata);
                self.remove_slice(&id, &mut change);
            }
            Event::Init => self.slices_relist = Some(Vec::new()),
            Event::InitDone => {
                let listed = self.slices_relist.take().unwrap_or_default();
                let fresh: BTreeSet<ObjectKey> =
                    listed.iter().map(|s| key_of(&s.metadata)).collect();
                let gone: Vec<ObjectKey> = self
                    .slice_owner
                    .keys()
                    .filter(|id| !fresh.contains(id))
                    .cloned()
                    .collect();
                for id in gone {
                    self.remove_slice(&id, &mut change);
                }
                for slice in listed {
                    self.put_slice(slice, &mut change);
                }
                self.listed(Watched::Slices);
            }
        }
        change
    }

    fn put_slice(&mut self, slice: EndpointSlice, change: &mut Change) {
        let id = key_of(&slice.metadata);
        let owner = slice_service_key(&slice);
        // A slice whose owner label changed leaves its old service.
        if self.slice_owner.get(&id) != owner.as_ref() {
            self.remove_slice(&id, change);
        }
        // Without the service-name label a slice serves nothing (as in kube-proxy).
        let Some(owner) = owner else {
            return;
        };
        let slices = self.view.slices.entry(owner.clone()).or_default();
        if slices.get(&id.name) != Some(&slice) {
            slices.insert(id.name.clone(), slice);
            change.dirty.insert(owner.clone());
        }
        self.slice_owner.insert(id, owner);
    }

    fn remove_slice(&mut self, id: &ObjectKey, change: &mut Change) {
        let Some(owner) = self.slice_owner.remove(id) else {
            return;
        };
        if let Some(slices) = self.view.slices.get_mut(&owner) {
            slices.remove(&id.name);
            if slices.is_empty() {
                self.view.slices.remove(&owner);
            }
        }
        change.dirty.insert(owner);
    }

    fn node_event(&mut self, ev: Event<Node>, watched: Watched) -> Change {
        let relist = match watched {
            Watched::ThisNode => &mut self.this_node_relist,
            _ => &mut self.nodes_relist,
        };
        let mut change = Change::default();
        match ev {
            Event::Apply(mut node) | Event::InitApply(mut node) => {
                trim::node(&mut node);
                match relist.as_mut() {
                    Some(buffer) => buffer.push(node),
                    None => self.put_node(node, watched, &mut change),
                }
            }
            Event::Delete(node) => {
                let name = node.metadata.name.clone().unwrap_or_default();
                self.remove_node(&name, watched, &mut change);
            }
            Event::Init => *relist = Some(Vec::new()),
            Event::InitDone => {
                let listed = relist.take().unwrap_or_default();
                let fresh: BTreeSet<String> = listed
                    .iter()
                    .map(|n| n.metadata.name.clone().unwrap_or_default())
                    .collect();
                let gone: Vec<String> = self
                    .view
                    .nodes
                    .keys()
                    .filter(|name| !fresh.contains(*name))
                    .cloned()
                    .collect();
                for name in gone {
                    self.remove_node(&name, watched, &mut change);
                }
                for node in listed {
                    self.put_node(node, watched, &mut change);
                }
                self.listed(watched);
            }
        }
        change
    }

    /// The own node's watch is authoritative for it; the all-Nodes watch
    /// keeps every other node.
    fn owns(&self, name: &str, watched: Watched) -> bool {
        let own = name == self.node_name;
        match watched {
            Watched::ThisNode => own,
            _ => !own || !self.watches_this_node,
        }
    }

    fn put_node(&mut self, node: Node, watched: Watched, change: &mut Change) {
        let name = node.metadata.name.clone().unwrap_or_default();
        if !self.owns(&name, watched) {
            return;
        }
        if self.view.nodes.get(&name) != Some(&node) {
            self.view.nodes.insert(name, node);
            change.nodes = true;
        }
    }

    fn remove_node(&mut self, name: &str, watched: Watched, change: &mut Change) {
        if self.owns(name, watched) && self.view.nodes.remove(name).is_some() {
            change.nodes = true;
        }
    }
}
