//! `StatusDoc`: the JSON the admin socket serves and `kroute status` prints
//! (as is with `--json`, or as a short human summary).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::rfc3339;
use super::status::{AttemptResult, Health, LoopStatus};
use crate::sync::SyncKind;

/// The last sync attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncDoc {
    /// `full` or `incremental`.
    pub kind: String,
    pub at: String,
    pub ok: bool,
    pub error: Option<String>,
    pub duration_seconds: f64,
    pub services_planned: usize,
    pub creates: usize,
    pub updates: usize,
    pub deletes: usize,
    pub deletes_withheld: usize,
    /// Artifacts the host refused (a health check port already taken).
    #[serde(default)]
    pub refused: Vec<String>,
}

/// The last failed sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDoc {
    pub at: String,
    pub message: String,
}

/// One invalid annotation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnnotationDoc {
    pub kind: String,
    pub object: String,
    pub key: String,
    pub value: String,
    pub reason: String,
}

/// What `GET /status` on the admin socket returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDoc {
    pub node_name: String,
    pub started_at: String,
    pub current_time: String,
    pub healthy: bool,
    pub node_eligible: bool,
    pub source_synced: bool,
    pub last_sync: Option<SyncDoc>,
    pub last_successful_sync: Option<String>,
    pub oldest_pending_change: Option<String>,
    pub last_error: Option<ErrorDoc>,
    /// Owned artifacts per facet.
    pub artifacts: BTreeMap<String, usize>,
    pub invalid_annotations: Vec<AnnotationDoc>,
    /// Where the side servers listen (`health`, `metrics`), filled by the
    /// admin server.
    #[serde(default)]
    pub listening: BTreeMap<String, String>,
    /// The BGP speaker, filled by the admin server; `null` when
    /// `bgp.enabled` is false.
    #[serde(default)]
    pub bgp: Option<BgpStatusDoc>,
}

/// BGP in the status: whether the speaker answers, its sessions and the
/// routes it originates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BgpStatusDoc {
    /// The speaker answered (false: not started yet, or stopped).
    pub running: bool,
    pub peers: usize,
    pub peers_established: usize,
    pub routes_originated: usize,
}

impl StatusDoc {
    pub fn new(status: &LoopStatus, health: &Health) -> StatusDoc {
        let last_sync = status.last_attempt.as_ref().map(|a| SyncDoc {
            kind: match a.kind {
                SyncKind::Full => "full".into(),
                SyncKind::Incremental => "incremental".into(),
            },
            at: rfc3339(a.at),
            ok: a.result == AttemptResult::Ok,
            error: match &a.result {
                AttemptResult::Ok => None,
                AttemptResult::Error(e) => Some(e.clone()),
            },
            duration_seconds: a.duration.as_secs_f64(),
            services_planned: a.services_planned,
            creates: a.creates,
            updates: a.updates,
            deletes: a.deletes,
            deletes_withheld: a.deletes_withheld,
            refused: a.refused.clone(),
        });
        StatusDoc {
            node_name: status.node_name.clone(),
            started_at: rfc3339(status.started),
            current_time: rfc3339(health.current_time),
            healthy: health.healthy,
            node_eligible: health.node_eligible,
            source_synced: status.source_synced,
            last_sync,
            last_successful_sync: status.last_success.map(rfc3339),
            oldest_pending_change: status.oldest_pending.map(rfc3339),
            last_error: status.last_error.as_ref().map(|e| ErrorDoc {
                at: rfc3339(e.at),
                message: e.message.clone(),
            }),
            artifacts: status.artifacts.clone(),
            invalid_annotations: status
                .invalid_annotations
                .iter()
                .map(|a| AnnotationDoc {
                    kind: a.kind.to_string(),
                    object: a.object.clone(),
                    key: a.key.clone(),
                    value: a.value.clone(),
                    reason: a.reason.clone(),
                })
                .collect(),
            listening: BTreeMap::new(),
            bgp: None,
        }
    }

    /// A few lines for a human.
    pub fn render_human(&self) -> String {
        let mut out = String::new();
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let node = if self.node_name.is_empty() {
            "(no view yet)"
        } else {
            &self.node_name
        };
        let _ = writeln!(out, "node:            {node}");
        let _ = writeln!(out, "started:         {}", self.started_at);
        let _ = writeln!(
            out,
            "healthy:         {}{}",
            yes_no(self.healthy),
            match &self.oldest_pending_change {
                Some(t) => format!(" (change pending since {t})"),
                None => String::new(),
            }
        );
        let _ = writeln!(out, "node eligible:   {}", yes_no(self.node_eligible));
        let _ = writeln!(out, "sources synced:  {}", yes_no(self.source_synced));
        match &self.last_sync {
            None => {
                let _ = writeln!(out, "last sync:       none yet");
            }
            Some(s) => {
                let result = match &s.error {
                    None => "ok".to_string(),
                    Some(e) => format!("failed: {e}"),
                };
                let _ = writeln!(
                    out,
                    "last sync:       {} {} at {} ({:.3}s): {} services, +{} ~{} -{}{}",
                    s.kind,
                    result,
                    s.at,
                    s.duration_seconds,
                    s.services_planned,
                    s.creates,
                    s.updates,
                    s.deletes,
                    if s.deletes_withheld > 0 {
                        format!(" ({} deletes withheld)", s.deletes_withheld)
                    } else {
                        String::new()
                    }
                );
                for r in &s.refused {
                    let _ = writeln!(out, "  not applied:   {r}");
                }
            }
        }
        if let Some(t) = &self.last_successful_sync {
            let _ = writeln!(out, "last success:    {t}");
        }
        if let Some(e) = &self.last_error {
            let _ = writeln!(out, "last error:      {} at {}", e.message, e.at);
        }
        let artifacts: Vec<String> = self
            .artifacts
            .iter()
            .map(|(facet, n)| format!("{facet} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "artifacts:       {}",
            if artifacts.is_empty() {
                "none".to_string()
            } else {
                artifacts.join(", ")
            }
        );
        if let Some(bgp) = &self.bgp {
            let _ = if bgp.running {
                writeln!(
                    out,
                    "bgp:             {}/{} peers established, {} routes originated",
                    bgp.peers_established, bgp.peers, bgp.routes_originated
                )
            } else {
                writeln!(out, "bgp:             speaker not running")
            };
        }
        for (name, addr) in &self.listening {
            let _ = writeln!(out, "{:<17}{addr}", format!("{name}:"));
        }
        if !self.invalid_annotations.is_empty() {
            let _ = writeln!(out, "invalid annotations:");
            for a in &self.invalid_annotations {
                let _ = writeln!(
                    out,
                    "  {} {}: {}={:?}: {}",
                    a.kind, a.object, a.key, a.value, a.reason
                );
            }
        }
        out
    }
}
