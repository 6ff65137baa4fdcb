//! Service annotations.

use std::collections::BTreeMap;

use super::InvalidAnnotation;
use super::community::{Community, parse_community_list};
use super::peers::{ServicePeer, parse_service_peers};
use super::reader::Reader;
use super::scheduler::{SchedFlags, Scheduler};
use super::values::{parse_bool, parse_uint};
use crate::model::ObjectKey;

pub const SCHEDULER: &str = "kube-router.io/service.scheduler";
pub const SCHED_FLAGS: &str = "kube-router.io/service.schedflags";
pub const LOCAL: &str = "kube-router.io/service.local";
pub const HAIRPIN: &str = "kube-router.io/service.hairpin";
pub const HAIRPIN_EXTERNAL_IPS: &str = "kube-router.io/service.hairpin.externalips";
pub const ADVERTISE_CLUSTER_IP: &str = "kube-router.io/service.advertise.clusterip";
pub const ADVERTISE_EXTERNAL_IP: &str = "kube-router.io/service.advertise.externalip";
pub const ADVERTISE_LOAD_BALANCER_IP: &str = "kube-router.io/service.advertise.loadbalancerip";
pub const SKIP_LB_IPS: &str = "kube-router.io/service.skiplbips";
pub const BGP_PEERS: &str = "kroute.io/bgp.peers";
pub const BGP_PEERS_ONLY: &str = "kroute.io/bgp.peers-only";
pub const BGP_COMMUNITIES: &str = "kroute.io/bgp.communities";
pub const BGP_LOCAL_PREF: &str = "kroute.io/bgp.local-pref";

/// Parsed Service annotations. Absent or invalid keys take the default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceAnnotations {
    /// `kube-router.io/service.local`: force externalTrafficPolicy Local.
    pub local: bool,
    /// `kube-router.io/service.skiplbips`: neither program nor announce LB IPs.
    pub skip_lb_ips: bool,
    /// `kube-router.io/service.hairpin`
    pub hairpin: bool,
    /// `kube-router.io/service.hairpin.externalips`: hairpin external IPs too.
    pub hairpin_external_ips: bool,
    /// `kube-router.io/service.scheduler` (`None`: the default, round robin).
    pub scheduler: Option<Scheduler>,
    /// `kube-router.io/service.schedflags`
    pub sched_flags: SchedFlags,
    /// `kube-router.io/service.advertise.clusterip` (`None`: `bgp.advertise`).
    pub advertise_cluster_ip: Option<bool>,
    /// `kube-router.io/service.advertise.externalip`
    pub advertise_external_ip: Option<bool>,
    /// `kube-router.io/service.advertise.loadbalancerip`
    pub advertise_load_balancer_ip: Option<bool>,
    /// `kroute.io/bgp.peers`: per-service peers.
    pub bgp_peers: Vec<ServicePeer>,
    /// `kroute.io/bgp.peers-only`: announce only to `bgp_peers`.
    pub bgp_peers_only: bool,
    /// `kroute.io/bgp.communities`
    pub bgp_communities: Vec<Community>,
    /// `kroute.io/bgp.local-pref`
    pub bgp_local_pref: Option<u32>,
}

impl ServiceAnnotations {
    /// Parses every annotation kroute knows; unknown keys are ignored.
    pub fn parse(
        object: &ObjectKey,
        annotations: &BTreeMap<String, String>,
    ) -> (ServiceAnnotations, Vec<InvalidAnnotation>) {
        let mut r = Reader::new("Service", object.to_string(), annotations);
        let parsed = Self::read(&mut r);
        (parsed, r.errors)
    }

    /// Every key [`parse`](Self::parse) reads (each `kube-router.io/` one is
    /// also read as `kroute.io/`), taken from the parser itself.
    pub fn accepted_keys() -> Vec<String> {
        let none = BTreeMap::new();
        let mut r = Reader::new("Service", String::new(), &none);
        Self::read(&mut r);
        r.asked()
    }

    fn read(r: &mut Reader) -> ServiceAnnotations {
        ServiceAnnotations {
            local: r.parse(LOCAL, parse_bool).unwrap_or(false),
            skip_lb_ips: r.present(SKIP_LB_IPS),
            hairpin: r.present(HAIRPIN),
            hairpin_external_ips: r.present(HAIRPIN_EXTERNAL_IPS),
            scheduler: r.parse(SCHEDULER, str::parse),
            sched_flags: r.parse(SCHED_FLAGS, str::parse).unwrap_or_default(),
            advertise_cluster_ip: r.parse(ADVERTISE_CLUSTER_IP, parse_bool),
            advertise_external_ip: r.parse(ADVERTISE_EXTERNAL_IP, parse_bool),
            advertise_load_balancer_ip: r.parse(ADVERTISE_LOAD_BALANCER_IP, parse_bool),
            bgp_peers: r.parse(BGP_PEERS, parse_service_peers).unwrap_or_default(),
            bgp_peers_only: r.parse(BGP_PEERS_ONLY, parse_bool).unwrap_or(false),
            bgp_communities: r
                .parse(BGP_COMMUNITIES, parse_community_list)
                .unwrap_or_default(),
            bgp_local_pref: r.parse(BGP_LOCAL_PREF, |v| parse_uint(v, "32-bit LOCAL_PREF")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::super::community::LargeCommunity;
    use super::super::peers::PeerAuth;
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> (ServiceAnnotations, Vec<InvalidAnnotation>) {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ServiceAnnotations::parse(&ObjectKey::new("ns", "svc"), &map)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// (key, value, expected parse) for every good value.
    #[test]
    fn good_values() {
        let d = ServiceAnnotations::default;
        let cases: Vec<(&str, &str, ServiceAnnotations)> = vec![
            (LOCAL, "true", ServiceAnnotations { local: true, ..d() }),
            (LOCAL, "TRUE", ServiceAnnotations { local: true, ..d() }),
            (LOCAL, "false", d()),
            (
                SKIP_LB_IPS,
                "",
                ServiceAnnotations {
                    skip_lb_ips: true,
                    ..d()
                },
            ),
            (
                HAIRPIN,
                "",
                ServiceAnnotations {
                    hairpin: true,
                    ..d()
                },
            ),
            (
                HAIRPIN,
                "anything",
                ServiceAnnotations {
                    hairpin: true,
                    ..d()
                },
            ),
            (
                HAIRPIN_EXTERNAL_IPS,
                "",
                ServiceAnnotations {
                    hairpin_external_ips: true,
                    ..d()
                },
            ),
            (
                SCHEDULER,
                "mh",
                ServiceAnnotations {
                    scheduler: Some(Scheduler::Mh),
                    ..d()
                },
            ),
            (
                SCHEDULER,
                "twos",
                ServiceAnnotations {
                    scheduler: Some(Scheduler::Twos),
                    ..d()
                },
            ),
            (
                SCHED_FLAGS,
                "flag-1,flag-2",
                ServiceAnnotations {
                    sched_flags: SchedFlags {
                        flag1: true,
                        flag2: true,
                        flag3: false,
                    },
                    ..d()
                },
            ),
            (
                ADVERTISE_CLUSTER_IP,
                "true",
                ServiceAnnotations {
                    advertise_cluster_ip: Some(true),
                    ..d()
                },
            ),
            (
                ADVERTISE_CLUSTER_IP,
                "false",
                ServiceAnnotations {
                    advertise_cluster_ip: Some(false),
                    ..d()
                },
            ),
            (
                ADVERTISE_EXTERNAL_IP,
                "true",
                ServiceAnnotations {
                    advertise_external_ip: Some(true),
                    ..d()
                },
            ),
            (
                ADVERTISE_LOAD_BALANCER_IP,
                "False",
                ServiceAnnotations {
                    advertise_load_balancer_ip: Some(false),
                    ..d()
                },
            ),
            (
                BGP_PEERS_ONLY,
                "true",
                ServiceAnnotations {
                    bgp_peers_only: true,
                    ..d()
                },
            ),
            (
                BGP_COMMUNITIES,
                "65000:1, no-export, 1:2:3",
                ServiceAnnotations {
                    bgp_communities: vec![
                        Community::Standard(65000 << 16 | 1),
                        Community::Standard(0xFFFF_FF01),
                        Community::Large(LargeCommunity {
                            global_admin: 1,
                            local_data1: 2,
                            local_data2: 3,
                        }),
                    ],
                    ..d()
                },
            ),
            (
                BGP_LOCAL_PREF,
                "200",
                ServiceAnnotations {
                    bgp_local_pref: Some(200),
                    ..d()
                },
            ),
            (
                BGP_PEERS,
                "- address: 10.0.0.1\n  asn: 65000\n",
                ServiceAnnotations {
                    bgp_peers: vec![ServicePeer {
                        address: ip("10.0.0.1"),
                        asn: 65000,
                        port: 179,
                        auth: None,
                        local_asn: None,
                        multihop_ttl: None,
                    }],
                    ..d()
                },
            ),
            (
                BGP_PEERS,
                "- {address: 'fd00::1', asn: '65001', port: 1179, password: U2VjdXJlUGFzc3dvcmQ=, localASN: 64513, multihopTTL: 3}\n- {address: 10.0.0.2, asn: 65002, passwordSecret: peer-pw}",
                ServiceAnnotations {
                    bgp_peers: vec![
                        ServicePeer {
                            address: ip("fd00::1"),
                            asn: 65001,
                            port: 1179,
                            auth: Some(PeerAuth::Password("SecurePassword".into())),
                            local_asn: Some(64513),
                            multihop_ttl: Some(3),
                        },
                        ServicePeer {
                            address: ip("10.0.0.2"),
                            asn: 65002,
                            port: 179,
                            auth: Some(PeerAuth::Secret("peer-pw".into())),
                            local_asn: None,
                            multihop_ttl: None,
                        },
                    ],
                    ..d()
                },
            ),
        ];
        for (key, value, want) in cases {
            let (got, errors) = parse(&[(key, value)]);
            assert_eq!(errors, vec![], "{key}={value:?}");
            assert_eq!(got, want, "{key}={value:?}");
        }
    }

    /// Every bad value: one error naming key and value, field at its default.
    #[test]
    fn bad_values() {
        let cases: &[(&str, &str, &str)] = &[
            (LOCAL, "yes", "expected \"true\" or \"false\""),
            (LOCAL, "", "expected"),
            (SCHEDULER, "round-robin", "unknown IPVS scheduler"),
            (SCHED_FLAGS, "flag-1,flag-9", "flag-9"),
            (ADVERTISE_CLUSTER_IP, "1", "expected"),
            (ADVERTISE_EXTERNAL_IP, "no", "expected"),
            (ADVERTISE_LOAD_BALANCER_IP, "maybe", "expected"),
            (BGP_PEERS_ONLY, "present", "expected"),
            (BGP_COMMUNITIES, "65536:1", "not a community"),
            (BGP_COMMUNITIES, ",", "empty list"),
            (BGP_LOCAL_PREF, "-5", "not a 32-bit LOCAL_PREF"),
            (BGP_LOCAL_PREF, "4294967296", "not a 32-bit"),
            (BGP_PEERS, "", "empty value"),
            (BGP_PEERS, "address: 10.0.0.1", "invalid YAML peer list"),
            (
                BGP_PEERS,
                "- {address: 10.0.0.1, asn: 65000, asnn: 1}",
                "asnn",
            ),
            (
                BGP_PEERS,
                "- {address: 10.0.0.300, asn: 65000}",
                "peers[0].address",
            ),
            (BGP_PEERS, "- {asn: 65000}", "peers[0].address is required"),
            (
                BGP_PEERS,
                "- {address: 10.0.0.1}",
                "peers[0].asn is required",
            ),
            (
                BGP_PEERS,
                "- {address: 10.0.0.1, asn: 1}\n- {address: 10.0.0.2, asn: 0}",
                "peers[1].asn",
            ),
            (
                BGP_PEERS,
                "- {address: 10.0.0.1, asn: 1, port: 0}",
                "peers[0].port",
            ),
            (
                BGP_PEERS,
                "- {address: 10.0.0.1, asn: 1, password: '%%%'}",
                "peers[0].password",
            ),
            (
                BGP_PEERS,
                "- {address: 10.0.0.1, asn: 1, password: YQ==, passwordSecret: s}",
                "exclusive",
            ),
            (
                BGP_PEERS,
                "- {address: 10.0.0.1, asn: 1, localASN: 23456}",
                "peers[0].localASN",
            ),
            (
                BGP_PEERS,
                "- {address: 10.0.0.1, asn: 1, multihopTTL: 256}",
                "peers[0].multihopTTL",
            ),
        ];
        for (key, value, reason) in cases {
            let (got, errors) = parse(&[(key, value)]);
            assert_eq!(got, ServiceAnnotations::default(), "{key}={value:?}");
            assert_eq!(errors.len(), 1, "{key}={value:?}: {errors:?}");
            let e = &errors[0];
            assert_eq!((e.kind, e.object.as_str()), ("Service", "ns/svc"));
            assert_eq!((e.key.as_str(), e.value.as_str()), (*key, *value));
            assert!(e.reason.contains(reason), "{key}={value:?}: {}", e.reason);
            let shown = e.to_string();
            assert!(shown.contains(key) && shown.contains("ns/svc"), "{shown}");
        }
    }

    #[test]
    fn bad_value_leaves_other_annotations_alone() {
        let (got, errors) = parse(&[(SCHEDULER, "bogus"), (LOCAL, "true"), (HAIRPIN, "")]);
        assert_eq!(errors.len(), 1);
        assert_eq!(
            got,
            ServiceAnnotations {
                local: true,
                hairpin: true,
                ..ServiceAnnotations::default()
            }
        );
    }

    #[test]
    fn kroute_alias_wins_over_kube_router() {
        let (got, errors) = parse(&[
            (SCHEDULER, "rr"),
            ("kroute.io/service.scheduler", "mh"),
            (ADVERTISE_CLUSTER_IP, "false"),
            ("kroute.io/service.advertise.clusterip", "true"),
        ]);
        assert_eq!(errors, vec![]);
        assert_eq!(got.scheduler, Some(Scheduler::Mh));
        assert_eq!(got.advertise_cluster_ip, Some(true));

        let (got, _) = parse(&[("kroute.io/service.hairpin", "")]);
        assert!(got.hairpin);
    }

    #[test]
    fn malformed_kroute_alias_falls_back_to_kube_router() {
        let (got, errors) = parse(&[(SCHEDULER, "sh"), ("kroute.io/service.scheduler", "nope")]);
        assert_eq!(got.scheduler, Some(Scheduler::Sh));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, "kroute.io/service.scheduler");
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let (got, errors) = parse(&[("kube-router.io/service.dsr", "tunnel"), ("other/x", "y")]);
        assert_eq!((got, errors), (ServiceAnnotations::default(), vec![]));
    }
}
