//! Node annotations.

use std::collections::BTreeMap;

use super::InvalidAnnotation;

/// Parsed Node annotations. Absent or invalid keys take the default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeAnnotations {
    /// `kube-router.io/pod-cidrs`
    pub pod_cidrs: Option<Vec<ipnet::IpNet>>,
}

impl NodeAnnotations {
    pub fn parse(
        _node: &str,
        _annotations: &BTreeMap<String, String>,
    ) -> (NodeAnnotations, Vec<InvalidAnnotation>) {
        (NodeAnnotations::default(), Vec::new())
    }
}
