//! Service annotations.

use std::collections::BTreeMap;

use super::InvalidAnnotation;
use crate::model::ObjectKey;

/// Parsed Service annotations. Absent or invalid keys take the default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceAnnotations {
    /// `kube-router.io/service.local`: force externalTrafficPolicy Local.
    pub local: bool,
    /// `kube-router.io/service.skiplbips`: neither program nor announce LB IPs.
    pub skip_lb_ips: bool,
    /// `kube-router.io/service.hairpin`
    pub hairpin: bool,
}

impl ServiceAnnotations {
    /// Parses every annotation kroute knows; unknown keys are ignored.
    pub fn parse(
        _object: &ObjectKey,
        annotations: &BTreeMap<String, String>,
    ) -> (ServiceAnnotations, Vec<InvalidAnnotation>) {
        let parsed = ServiceAnnotations {
            local: annotations
                .get("kube-router.io/service.local")
                .map(String::as_str)
                == Some("true"),
            skip_lb_ips: annotations.contains_key("kube-router.io/service.skiplbips"),
            hairpin: annotations.contains_key("kube-router.io/service.hairpin"),
        };
        (parsed, Vec::new())
    }
}
