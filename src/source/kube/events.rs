//! Kubernetes Events for bad input: `Warning InvalidAnnotation` on the
//! Service or Node that carries a malformed annotation. Which annotations are
//! reported (each object, key and value once) is decided by the loop's
//! telemetry; this publishes them without blocking the watchers.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::mpsc;

use crate::model::annotations::InvalidAnnotation;
use crate::model::{ClusterView, ObjectKey};

/// The controller name on kroute's Events.
pub const REPORTING_CONTROLLER: &str = "kroute";

/// Publishes Events from a background task.
pub struct EventPublisher {
    tx: mpsc::UnboundedSender<(Event, ObjectReference)>,
}

impl EventPublisher {
    /// Starts the publishing task (reporting instance: this node).
    pub fn spawn(client: Client, node_name: &str) -> EventPublisher {
        let reporter = Reporter {
            controller: REPORTING_CONTROLLER.into(),
            instance: Some(node_name.to_string()),
        };
        let recorder = Recorder::new(client, reporter);
        let (tx, mut rx) = mpsc::unbounded_channel::<(Event, ObjectReference)>();
        tokio::spawn(async move {
            while let Some((event, reference)) = rx.recv().await {
                if let Err(e) = recorder.publish(&event, &reference).await {
                    tracing::warn!(
                        error = %e,
                        object = ?reference.name,
                        "cannot publish a Kubernetes Event"
                    );
                }
            }
        });
        EventPublisher { tx }
    }

    /// Queues a `Warning InvalidAnnotation` Event on the annotated object.
    pub fn report(&self, bad: &InvalidAnnotation, view: &ClusterView) {
        let Some(reference) = object_reference(bad, view) else {
            return;
        };
        let event = Event {
            type_: EventType::Warning,
            reason: "InvalidAnnotation".into(),
            note: Some(truncate(&bad.to_string(), 1024)),
            action: "ParseAnnotation".into(),
            secondary: None,
        };
        // The task lives as long as the source; a send error means shutdown.
        let _ = self.tx.send((event, reference));
    }
}

/// The object an invalid annotation sits on, with its uid when the view has
/// it (`kubectl describe` matches Events by uid).
pub fn object_reference(bad: &InvalidAnnotation, view: &ClusterView) -> Option<ObjectReference> {
    match bad.kind {
        "Service" => {
            let (namespace, name) = bad.object.split_once('/')?;
            let key = ObjectKey::new(namespace, name);
            let uid = view.services.get(&key).and_then(|s| s.metadata.uid.clone());
            Some(ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Service".into()),
                namespace: Some(namespace.into()),
                name: Some(name.into()),
                uid,
                ..ObjectReference::default()
            })
        }
        "Node" => {
            let uid = view
                .nodes
                .get(&bad.object)
                .and_then(|n| n.metadata.uid.clone());
            Some(ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Node".into()),
                name: Some(bad.object.clone()),
                uid,
                ..ObjectReference::default()
            })
        }
        _ => None,
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}
