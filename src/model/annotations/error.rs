//! The error value for a malformed annotation.

/// A malformed annotation: names the object, the key and the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {object}: invalid annotation {key}={value:?}: {reason}")]
pub struct InvalidAnnotation {
    /// `Service` or `Node`.
    pub kind: &'static str,
    /// `namespace/name` (or the node name).
    pub object: String,
    pub key: String,
    pub value: String,
    pub reason: String,
}
