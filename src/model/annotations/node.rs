//! Node annotations.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use ipnet::IpNet;

use super::InvalidAnnotation;
use super::community::{Community, parse_community_list};
use super::peers::{NodePeer, parse_legacy_node_peers, parse_node_peers};
use super::reader::Reader;
use super::values::{parse_asn, parse_cidr_list, parse_ip_list, parse_uint};

pub const NODE_ASN: &str = "kube-router.io/node.asn";
pub const PEERS: &str = "kube-router.io/peers";
pub const RR_SERVER: &str = "kube-router.io/rr.server";
pub const RR_CLIENT: &str = "kube-router.io/rr.client";
pub const PATH_PREPEND_AS: &str = "kube-router.io/path-prepend.as";
pub const PATH_PREPEND_REPEAT_N: &str = "kube-router.io/path-prepend.repeat-n";
pub const NODE_COMMUNITIES: &str = "kube-router.io/node.bgp.communities";
pub const CUSTOM_IMPORT_REJECT: &str = "kube-router.io/node.bgp.customimportreject";
pub const BGP_LOCAL_ADDRESSES: &str = "kube-router.io/bgp-local-addresses";
pub const POD_CIDRS: &str = "kube-router.io/pod-cidrs";

/// A route reflector cluster ID: a 32-bit number, written as a decimal or as
/// an IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteReflectorClusterId(pub u32);

impl FromStr for RouteReflectorClusterId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(n) = s.parse::<u32>() {
            return Ok(RouteReflectorClusterId(n));
        }
        s.parse::<Ipv4Addr>()
            .map(|ip| RouteReflectorClusterId(u32::from(ip)))
            .map_err(|_| "not a cluster ID (a 32-bit number or an IPv4 address)".into())
    }
}

impl fmt::Display for RouteReflectorClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Ipv4Addr::from(self.0))
    }
}

/// AS-path prepend on this node's exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathPrepend {
    pub asn: u32,
    /// How many times `asn` is prepended.
    pub repeat: u8,
}

/// Parsed Node annotations. Absent or invalid keys take the default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeAnnotations {
    /// `kube-router.io/node.asn`
    pub asn: Option<u32>,
    /// `kube-router.io/peers`, else the older `kube-router.io/peer.*` lists.
    pub peers: Vec<NodePeer>,
    /// `kube-router.io/rr.server`: this node is a route reflector.
    pub rr_server: Option<RouteReflectorClusterId>,
    /// `kube-router.io/rr.client`: this node is a route reflector client.
    pub rr_client: Option<RouteReflectorClusterId>,
    /// `kube-router.io/path-prepend.as` with `.repeat-n` (both required).
    pub path_prepend: Option<PathPrepend>,
    /// `kube-router.io/node.bgp.communities`
    pub communities: Vec<Community>,
    /// `kube-router.io/node.bgp.customimportreject`: never import these.
    pub custom_import_reject: Vec<IpNet>,
    /// `kube-router.io/bgp-local-addresses`
    pub bgp_local_addresses: Vec<IpAddr>,
    /// `kube-router.io/pod-cidrs`
    pub pod_cidrs: Option<Vec<ipnet::IpNet>>,
}

impl NodeAnnotations {
    pub fn parse(
        node: &str,
        annotations: &BTreeMap<String, String>,
    ) -> (NodeAnnotations, Vec<InvalidAnnotation>) {
        let mut r = Reader::new("Node", node.to_string(), annotations);
        let parsed = Self::read(&mut r);
        (parsed, r.errors)
    }

    /// Every key [`parse`](Self::parse) reads (each `kube-router.io/` one is
    /// also read as `kroute.io/`), taken from the parser itself.
    pub fn accepted_keys() -> Vec<String> {
        let none = BTreeMap::new();
        let mut r = Reader::new("Node", String::new(), &none);
        Self::read(&mut r);
        r.asked()
    }

    fn read(r: &mut Reader) -> NodeAnnotations {
        // The YAML form wins over the comma lists, as in kube-router.
        let peers = match r.parse(PEERS, parse_node_peers) {
            Some(peers) => peers,
            None => parse_legacy_node_peers(r).unwrap_or_default(),
        };
        NodeAnnotations {
            asn: r.parse(NODE_ASN, parse_asn),
            peers,
            rr_server: r.parse(RR_SERVER, str::parse),
            rr_client: r.parse(RR_CLIENT, str::parse),
            path_prepend: parse_path_prepend(r),
            communities: r
                .parse(NODE_COMMUNITIES, parse_community_list)
                .unwrap_or_default(),
            custom_import_reject: r
                .parse(CUSTOM_IMPORT_REJECT, parse_cidr_list)
                .unwrap_or_default(),
            bgp_local_addresses: r
                .parse(BGP_LOCAL_ADDRESSES, parse_ip_list)
                .unwrap_or_default(),
            pod_cidrs: r.parse(POD_CIDRS, parse_cidr_list),
        }
    }
}

/// Both keys must be present and valid; a lone one is reported.
fn parse_path_prepend(r: &mut Reader) -> Option<PathPrepend> {
    let asn_present = r.present(PATH_PREPEND_AS);
    let repeat_present = r.present(PATH_PREPEND_REPEAT_N);
    let asn = r.parse(PATH_PREPEND_AS, parse_asn);
    let repeat = r.parse(PATH_PREPEND_REPEAT_N, |v| {
        parse_uint::<u8>(v, "repeat count (0-255)")
    });
    match (asn_present, repeat_present) {
        (true, false) => {
            if let Some((k, v)) = r.first(PATH_PREPEND_AS) {
                r.report(&k, v, format!("requires {PATH_PREPEND_REPEAT_N}"));
            }
            None
        }
        (false, true) => {
            if let Some((k, v)) = r.first(PATH_PREPEND_REPEAT_N) {
                r.report(&k, v, format!("requires {PATH_PREPEND_AS}"));
            }
            None
        }
        _ => Some(PathPrepend {
            asn: asn?,
            repeat: repeat?,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::peers::{
        DEFAULT_BGP_PORT, PEER_ASNS, PEER_IPS, PEER_LOCALIPS, PEER_PASSWORDS, PEER_PORTS,
    };
    use super::*;
    use proptest::prelude::*;

    fn parse(pairs: &[(&str, &str)]) -> (NodeAnnotations, Vec<InvalidAnnotation>) {
        let map = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        NodeAnnotations::parse("node-a", &map)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn peer(remote: &str, asn: u32) -> NodePeer {
        NodePeer {
            remote_ip: ip(remote),
            remote_asn: asn,
            local_ip: None,
            password: None,
            port: DEFAULT_BGP_PORT,
        }
    }

    #[test]
    fn good_values() {
        let d = NodeAnnotations::default;
        let cases: Vec<(Vec<(&str, &str)>, NodeAnnotations)> = vec![
            (
                vec![(NODE_ASN, "64512")],
                NodeAnnotations {
                    asn: Some(64512),
                    ..d()
                },
            ),
            (
                vec![(RR_SERVER, "42")],
                NodeAnnotations {
                    rr_server: Some(RouteReflectorClusterId(42)),
                    ..d()
                },
            ),
            (
                vec![(RR_CLIENT, "10.0.0.1")],
                NodeAnnotations {
                    rr_client: Some(RouteReflectorClusterId(0x0A00_0001)),
                    ..d()
                },
            ),
            (
                vec![(PATH_PREPEND_AS, "65000"), (PATH_PREPEND_REPEAT_N, "5")],
                NodeAnnotations {
                    path_prepend: Some(PathPrepend {
                        asn: 65000,
                        repeat: 5,
                    }),
                    ..d()
                },
            ),
            (
                vec![(NODE_COMMUNITIES, "4294967041,65535:65281, no-export")],
                NodeAnnotations {
                    communities: vec![Community::Standard(0xFFFF_FF01)],
                    ..d()
                },
            ),
            (
                vec![(CUSTOM_IMPORT_REJECT, "10.0.0.0/16, 192.168.1.0/24")],
                NodeAnnotations {
                    custom_import_reject: vec![net("10.0.0.0/16"), net("192.168.1.0/24")],
                    ..d()
                },
            ),
            (
                vec![(BGP_LOCAL_ADDRESSES, "172.20.56.25,192.168.1.99, fd00::1")],
                NodeAnnotations {
                    bgp_local_addresses: vec![
                        ip("172.20.56.25"),
                        ip("192.168.1.99"),
                        ip("fd00::1"),
                    ],
                    ..d()
                },
            ),
            (
                vec![(POD_CIDRS, "10.244.1.0/24,fd00:10:244:1::/64")],
                NodeAnnotations {
                    pod_cidrs: Some(vec![net("10.244.1.0/24"), net("fd00:10:244:1::/64")]),
                    ..d()
                },
            ),
            (
                vec![(
                    PEERS,
                    "- remoteip: 192.168.1.99\n  remoteasn: 65000\n  password: U2VjdXJlUGFzc3dvcmQ=\n- remoteip: 192.168.1.100\n  remoteasn: 65001\n  localip: 192.168.1.5\n  port: 1179\n",
                )],
                NodeAnnotations {
                    peers: vec![
                        NodePeer {
                            password: Some("SecurePassword".into()),
                            ..peer("192.168.1.99", 65000)
                        },
                        NodePeer {
                            local_ip: Some(ip("192.168.1.5")),
                            port: 1179,
                            ..peer("192.168.1.100", 65001)
                        },
                    ],
                    ..d()
                },
            ),
            (
                vec![
                    (PEER_IPS, "192.168.1.99, 192.168.1.100"),
                    (PEER_ASNS, "65000,65001"),
                ],
                NodeAnnotations {
                    peers: vec![peer("192.168.1.99", 65000), peer("192.168.1.100", 65001)],
                    ..d()
                },
            ),
            (
                vec![
                    (PEER_IPS, "192.168.1.99,192.168.1.100"),
                    (PEER_ASNS, "65000,65000"),
                    (PEER_PASSWORDS, "U2VjdXJlUGFzc3dvcmQ=,"),
                    (PEER_PORTS, ",1179"),
                    (PEER_LOCALIPS, "10.0.0.5, "),
                ],
                NodeAnnotations {
                    peers: vec![
                        NodePeer {
                            password: Some("SecurePassword".into()),
                            local_ip: Some(ip("10.0.0.5")),
                            ..peer("192.168.1.99", 65000)
                        },
                        NodePeer {
                            port: 1179,
                            ..peer("192.168.1.100", 65000)
                        },
                    ],
                    ..d()
                },
            ),
            (
                // The YAML form wins over the comma lists.
                vec![
                    (PEERS, "- {remoteip: 10.0.0.1, remoteasn: 65000}"),
                    (PEER_IPS, "10.0.0.2"),
                    (PEER_ASNS, "65002"),
                ],
                NodeAnnotations {
                    peers: vec![peer("10.0.0.1", 65000)],
                    ..d()
                },
            ),
        ];
        for (pairs, want) in cases {
            let (got, errors) = parse(&pairs);
            assert_eq!(errors, vec![], "{pairs:?}");
            assert_eq!(got, want, "{pairs:?}");
        }
    }

    /// (annotations, key and value the error must name, reason fragment).
    #[test]
    fn bad_values() {
        type BadCase<'a> = (Vec<(&'a str, &'a str)>, (&'a str, &'a str), &'a str);
        let cases: Vec<BadCase> = vec![
            (vec![(NODE_ASN, "abc")], (NODE_ASN, "abc"), "AS number"),
            (vec![(NODE_ASN, "0")], (NODE_ASN, "0"), "reserved"),
            (
                vec![(RR_SERVER, "10.0.0")],
                (RR_SERVER, "10.0.0"),
                "cluster ID",
            ),
            (
                vec![(RR_CLIENT, "fd00::1")],
                (RR_CLIENT, "fd00::1"),
                "cluster ID",
            ),
            (
                vec![(RR_CLIENT, "4294967296")],
                (RR_CLIENT, "4294967296"),
                "cluster ID",
            ),
            (
                vec![(PATH_PREPEND_AS, "65000")],
                (PATH_PREPEND_AS, "65000"),
                "requires",
            ),
            (
                vec![(PATH_PREPEND_REPEAT_N, "3")],
                (PATH_PREPEND_REPEAT_N, "3"),
                "requires",
            ),
            (
                vec![(PATH_PREPEND_AS, "65000"), (PATH_PREPEND_REPEAT_N, "256")],
                (PATH_PREPEND_REPEAT_N, "256"),
                "repeat count",
            ),
            (
                vec![(PATH_PREPEND_AS, "x"), (PATH_PREPEND_REPEAT_N, "2")],
                (PATH_PREPEND_AS, "x"),
                "AS number",
            ),
            (
                vec![(NODE_COMMUNITIES, "no-exprot")],
                (NODE_COMMUNITIES, "no-exprot"),
                "not a community",
            ),
            (
                vec![(CUSTOM_IMPORT_REJECT, "10.0.0.0/33")],
                (CUSTOM_IMPORT_REJECT, "10.0.0.0/33"),
                "not a CIDR",
            ),
            (
                vec![(BGP_LOCAL_ADDRESSES, "10.0.0.1,host")],
                (BGP_LOCAL_ADDRESSES, "10.0.0.1,host"),
                "not an IP",
            ),
            (
                vec![(POD_CIDRS, "10.244.1.0/24,x")],
                (POD_CIDRS, "10.244.1.0/24,x"),
                "not a CIDR",
            ),
            (vec![(POD_CIDRS, "")], (POD_CIDRS, ""), "empty list"),
            (
                vec![(PEERS, "- {remoteip: 10.0.0.1}")],
                (PEERS, "- {remoteip: 10.0.0.1}"),
                "remoteasn is required",
            ),
            (
                vec![(PEERS, "- {remoteip: 10.0.0.1, remoteasn: 1, bfd: {}}")],
                (PEERS, "- {remoteip: 10.0.0.1, remoteasn: 1, bfd: {}}"),
                "bfd",
            ),
            (
                vec![(PEERS, "- {remoteip: 10.0.0.1, remoteasn: 1, port: 70000}")],
                (PEERS, "- {remoteip: 10.0.0.1, remoteasn: 1, port: 70000}"),
                "peers[0].port",
            ),
            (
                vec![(PEER_IPS, "10.0.0.1")],
                (PEER_IPS, "10.0.0.1"),
                "requires",
            ),
            (vec![(PEER_ASNS, "65000")], (PEER_ASNS, "65000"), "requires"),
            (vec![(PEER_PORTS, "179")], (PEER_PORTS, "179"), "requires"),
            (
                vec![(PEER_IPS, "10.0.0.1,10.0.0.2"), (PEER_ASNS, "65000")],
                (PEER_ASNS, "65000"),
                "1 items but kube-router.io/peer.ips has 2",
            ),
            (
                vec![(PEER_IPS, "10.0.0.1,10.0.0.x"), (PEER_ASNS, "65000,65000")],
                (PEER_IPS, "10.0.0.1,10.0.0.x"),
                "item 1",
            ),
            (
                vec![
                    (PEER_IPS, "10.0.0.1"),
                    (PEER_ASNS, "65000"),
                    (PEER_PASSWORDS, "a,b"),
                ],
                (PEER_PASSWORDS, "a,b"),
                "2 items",
            ),
            (
                vec![
                    (PEER_IPS, "10.0.0.1"),
                    (PEER_ASNS, "65000"),
                    (PEER_PASSWORDS, "!!"),
                ],
                (PEER_PASSWORDS, "!!"),
                "base64",
            ),
            (
                vec![
                    (PEER_IPS, "10.0.0.1"),
                    (PEER_ASNS, "65000"),
                    (PEER_PORTS, "0"),
                ],
                (PEER_PORTS, "0"),
                "TCP port",
            ),
            (
                vec![
                    (PEER_IPS, "10.0.0.1"),
                    (PEER_ASNS, "65000"),
                    (PEER_LOCALIPS, "me"),
                ],
                (PEER_LOCALIPS, "me"),
                "not an IP",
            ),
        ];
        for (pairs, (key, value), reason) in cases {
            let (got, errors) = parse(&pairs);
            assert_eq!(got, NodeAnnotations::default(), "{pairs:?}");
            assert_eq!(errors.len(), 1, "{pairs:?}: {errors:?}");
            let e = &errors[0];
            assert_eq!((e.kind, e.object.as_str()), ("Node", "node-a"));
            assert_eq!(
                (e.key.as_str(), e.value.as_str()),
                (key, value),
                "{pairs:?}"
            );
            assert!(e.reason.contains(reason), "{pairs:?}: {}", e.reason);
        }
    }

    #[test]
    fn malformed_yaml_peers_fall_back_to_comma_lists() {
        let (got, errors) = parse(&[
            (PEERS, "- {remoteip: nope, remoteasn: 1}"),
            (PEER_IPS, "10.0.0.2"),
            (PEER_ASNS, "65002"),
        ]);
        assert_eq!(got.peers, vec![peer("10.0.0.2", 65002)]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, PEERS);
    }

    #[test]
    fn kroute_alias_wins_over_kube_router() {
        let (got, errors) = parse(&[
            (NODE_ASN, "64512"),
            ("kroute.io/node.asn", "65010"),
            (POD_CIDRS, "10.0.0.0/24"),
            ("kroute.io/pod-cidrs", "10.1.0.0/24"),
        ]);
        assert_eq!(errors, vec![]);
        assert_eq!(got.asn, Some(65010));
        assert_eq!(got.pod_cidrs, Some(vec![net("10.1.0.0/24")]));
    }

    #[test]
    fn cluster_id_displays_as_ipv4() {
        assert_eq!(RouteReflectorClusterId(42).to_string(), "0.0.0.42");
    }

    #[test]
    fn passwords_are_not_in_debug_output() {
        let (got, _) = parse(&[(
            PEERS,
            "- {remoteip: 10.0.0.1, remoteasn: 1, password: U2VjcmV0}",
        )]);
        assert_eq!(got.peers[0].password.as_deref(), Some("Secret"));
        assert!(!format!("{got:?}").contains("Secret\""));
    }

    proptest! {
        #[test]
        fn never_panics(values in prop::collection::vec("\\PC{0,40}", 12)) {
            let keys = [
                NODE_ASN, PEERS, RR_SERVER, RR_CLIENT, PATH_PREPEND_AS, PATH_PREPEND_REPEAT_N,
                NODE_COMMUNITIES, CUSTOM_IMPORT_REJECT, BGP_LOCAL_ADDRESSES, POD_CIDRS,
                PEER_IPS, PEER_ASNS,
            ];
            let pairs: Vec<(&str, &str)> =
                keys.iter().copied().zip(values.iter().map(String::as_str)).collect();
            let (_, errors) = parse(&pairs);
            for e in errors {
                prop_assert!(keys.contains(&e.key.as_str()));
            }
        }

        #[test]
        fn pod_cidrs_round_trip(nets in prop::collection::vec(
            (any::<[u8; 4]>(), 0u8..=32).prop_map(|(a, l)| IpNet::new(a.into(), l).unwrap()), 1..5)
        ) {
            let text = nets.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            let (got, errors) = parse(&[(POD_CIDRS, &text)]);
            prop_assert!(errors.is_empty());
            prop_assert_eq!(got.pod_cidrs, Some(nets));
        }
    }
}
