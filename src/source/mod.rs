//! Sources of the cluster view: a directory of manifests (standalone) today,
//! Kubernetes reflectors later.

pub mod manifests;
