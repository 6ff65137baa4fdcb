//! The BGP metrics, collected at scrape time: the metrics server asks the
//! running speaker for its peers and local RIB, hands the answer over as a
//! [`BgpSample`], and the registry's [`BgpCollector`] encodes it with the
//! loop's metrics. Per peer (label `peer`, its address), as GoBGP's
//! exporters do: the session state as BGP4-MIB's number (idle 1 …
//! established 6) and 1/0 for established, the routes held each way, and
//! the UPDATEs sent and received.

use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::bgp::PeerStatus;
use crate::bgp::fsm::State;

/// One peer at scrape time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSample {
    pub peer: String,
    /// BGP4-MIB `bgpPeerState`: idle 1, connect 2, active 3, opensent 4,
    /// openconfirm 5, established 6.
    pub state: u8,
    pub established: bool,
    pub routes_sent: u64,
    pub routes_received: u64,
    pub updates_sent: u64,
    pub updates_received: u64,
}

/// What the speaker said at one scrape; `Default`: not running.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BgpSample {
    /// The speaker answered.
    pub running: bool,
    pub peers: Vec<PeerSample>,
    /// Routes in the local RIB.
    pub routes_originated: u64,
}

/// BGP4-MIB's number of a session state.
pub fn state_number(state: State) -> u8 {
    match state {
        State::Idle => 1,
        State::Connect => 2,
        State::Active => 3,
        State::OpenSent => 4,
        State::OpenConfirm => 5,
        State::Established => 6,
    }
}

impl BgpSample {
    /// A running speaker's peers (sorted by address) and local RIB size.
    pub fn new(peers: &[PeerStatus], routes_originated: usize) -> Self {
        let mut sorted: Vec<&PeerStatus> = peers.iter().collect();
        sorted.sort_by_key(|p| p.spec.address);
        BgpSample {
            running: true,
            peers: sorted
                .into_iter()
                .map(|p| PeerSample {
                    peer: p.spec.address.to_string(),
                    state: state_number(p.state),
                    established: p.state == State::Established,
                    routes_sent: p.routes_sent as u64,
                    routes_received: p.routes_received as u64,
                    updates_sent: p.updates_sent,
                    updates_received: p.updates_received,
                })
                .collect(),
            routes_originated: routes_originated as u64,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    peer: String,
}

/// Encodes the sample last handed over; registered once in the loop's
/// registry.
#[derive(Debug, Default)]
pub struct BgpCollector {
    sample: Mutex<BgpSample>,
}

impl BgpCollector {
    pub fn new() -> Arc<BgpCollector> {
        Arc::new(BgpCollector::default())
    }

    /// The sample the next encoding shows.
    pub fn set(&self, sample: BgpSample) {
        *super::lock(&self.sample) = sample;
    }
}

type PeerValue = fn(&PeerSample) -> u64;

/// The per-peer families: name, help, type, value.
const PEER_FAMILIES: [(&str, &str, MetricType, PeerValue); 6] = [
    (
        "kroute_bgp_peer_session_state",
        "BGP session state per peer (BGP4-MIB: idle 1, connect 2, active 3, opensent 4, openconfirm 5, established 6)",
        MetricType::Gauge,
        |p| u64::from(p.state),
    ),
    (
        "kroute_bgp_peer_up",
        "1 when the BGP session with the peer is established, else 0",
        MetricType::Gauge,
        |p| u64::from(p.established),
    ),
    (
        "kroute_bgp_peer_routes_sent",
        "Routes advertised to the peer and held by it now (Adj-RIB-Out)",
        MetricType::Gauge,
        |p| p.routes_sent,
    ),
    (
        "kroute_bgp_peer_routes_received",
        "Routes the peer advertised to us and has not withdrawn",
        MetricType::Gauge,
        |p| p.routes_received,
    ),
    (
        "kroute_bgp_peer_updates_sent",
        "BGP UPDATE messages sent to the peer",
        MetricType::Counter,
        |p| p.updates_sent,
    ),
    (
        "kroute_bgp_peer_updates_received",
        "BGP UPDATE messages received from the peer",
        MetricType::Counter,
        |p| p.updates_received,
    ),
];

fn gauge(value: u64) -> ConstGauge {
    ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX))
}

impl Collector for BgpCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sample = super::lock(&self.sample).clone();
        gauge(u64::from(sample.running)).encode(encoder.encode_descriptor(
            "kroute_bgp_speaker_running",
            "1 when the BGP speaker runs and answers, else 0 (disabled, starting or stopped)",
            None,
            MetricType::Gauge,
        )?)?;
        gauge(sample.routes_originated).encode(encoder.encode_descriptor(
            "kroute_bgp_routes_originated",
            "Routes in the BGP local RIB (what this node announces)",
            None,
            MetricType::Gauge,
        )?)?;
        if sample.peers.is_empty() {
            return Ok(());
        }
        for (name, help, kind, value) in PEER_FAMILIES {
            let mut family = encoder.encode_descriptor(name, help, None, kind)?;
            for p in &sample.peers {
                let labels = PeerLabels {
                    peer: p.peer.clone(),
                };
                let metric = family.encode_family(&labels)?;
                match kind {
                    MetricType::Counter => ConstCounter::new(value(p)).encode(metric)?,
                    _ => gauge(value(p)).encode(metric)?,
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "bgp_tests.rs"]
mod tests;
