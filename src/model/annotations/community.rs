//! BGP communities as annotations write them: `AA:NN`, a plain 32-bit number,
//! a well-known name (`no-export`, …) or a large community `A:B:C`.

use std::fmt;
use std::str::FromStr;

use super::values::comma_items;

/// A large community (RFC 8092): three 32-bit parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LargeCommunity {
    pub global_admin: u32,
    pub local_data1: u32,
    pub local_data2: u32,
}

/// One community to attach to routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Community {
    /// A standard (RFC 1997) community, `AA:NN` as one 32-bit value.
    Standard(u32),
    Large(LargeCommunity),
}

/// Well-known community names (GoBGP's spellings, which kube-router accepts,
/// plus RFC 8326's `graceful-shutdown` for GoBGP's `planned-shut`).
const WELL_KNOWN: &[(&str, u32)] = &[
    ("internet", 0x0000_0000),
    ("graceful-shutdown", 0xFFFF_0000),
    ("planned-shut", 0xFFFF_0000),
    ("accept-own", 0xFFFF_0001),
    ("route-filter-translated-v4", 0xFFFF_0002),
    ("route-filter-v4", 0xFFFF_0003),
    ("route-filter-translated-v6", 0xFFFF_0004),
    ("route-filter-v6", 0xFFFF_0005),
    ("llgr-stale", 0xFFFF_0006),
    ("no-llgr", 0xFFFF_0007),
    ("blackhole", 0xFFFF_029A),
    ("no-export", 0xFFFF_FF01),
    ("no-advertise", 0xFFFF_FF02),
    ("no-export-subconfed", 0xFFFF_FF03),
    ("no-peer", 0xFFFF_FF04),
];

impl Community {
    /// The standard community for a well-known name, if it is one.
    pub fn well_known(name: &str) -> Option<Community> {
        WELL_KNOWN
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| Community::Standard(*v))
    }
}

impl FromStr for Community {
    type Err = String;

    fn from_str(s: &str) -> Result<Community, String> {
        let s = s.trim();
        if let Some(c) = Community::well_known(s) {
            return Ok(c);
        }
        let bad =
            || format!("{s:?} is not a community (AA:NN, a number, a well-known name or A:B:C)");
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            [n] => n.parse::<u32>().map(Community::Standard).map_err(|_| bad()),
            [hi, lo] => {
                let hi: u16 = hi.parse().map_err(|_| bad())?;
                let lo: u16 = lo.parse().map_err(|_| bad())?;
                Ok(Community::Standard((u32::from(hi) << 16) | u32::from(lo)))
            }
            [a, b, c] => Ok(Community::Large(LargeCommunity {
                global_admin: a.parse().map_err(|_| bad())?,
                local_data1: b.parse().map_err(|_| bad())?,
                local_data2: c.parse().map_err(|_| bad())?,
            })),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Community::Standard(v) => write!(f, "{}:{}", v >> 16, v & 0xFFFF),
            Community::Large(l) => {
                write!(f, "{}:{}:{}", l.global_admin, l.local_data1, l.local_data2)
            }
        }
    }
}

/// A comma list of communities, at least one. Duplicates are kept once, in
/// first-seen order.
pub fn parse_community_list(value: &str) -> Result<Vec<Community>, String> {
    let mut out: Vec<Community> = Vec::new();
    for item in comma_items(value) {
        let c: Community = item.parse()?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    if out.is_empty() {
        return Err("empty list".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn forms() {
        let cases: &[(&str, Community)] = &[
            ("65000:100", Community::Standard(65000 << 16 | 100)),
            ("4294967041", Community::Standard(0xFFFF_FF01)),
            ("65535:65281", Community::Standard(0xFFFF_FF01)),
            ("no-export", Community::Standard(0xFFFF_FF01)),
            ("NO-ADVERTISE", Community::Standard(0xFFFF_FF02)),
            ("no-export-subconfed", Community::Standard(0xFFFF_FF03)),
            ("graceful-shutdown", Community::Standard(0xFFFF_0000)),
            ("blackhole", Community::Standard(0xFFFF_029A)),
            ("llgr-stale", Community::Standard(0xFFFF_0006)),
            ("no-llgr", Community::Standard(0xFFFF_0007)),
            ("accept-own", Community::Standard(0xFFFF_0001)),
            (
                "4200000000:1:2",
                Community::Large(LargeCommunity {
                    global_admin: 4_200_000_000,
                    local_data1: 1,
                    local_data2: 2,
                }),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Community>().as_ref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "65536:1",
            "1:65536",
            "4294967296",
            "1:2:3:4",
            "no_export",
            "a:b",
            "1:",
            ":1",
            "1:2:4294967296",
            "-1",
        ] {
            let err = bad.parse::<Community>().unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn lists() {
        assert_eq!(
            parse_community_list(" no-export, 1:2 ,,no-export"),
            Ok(vec![
                Community::Standard(0xFFFF_FF01),
                Community::Standard(0x0001_0002)
            ])
        );
        assert!(parse_community_list(" , ").is_err());
        assert!(parse_community_list("1:2,bogus").is_err());
    }

    fn arb_community() -> impl Strategy<Value = Community> {
        prop_oneof![
            any::<u32>().prop_map(Community::Standard),
            any::<(u32, u32, u32)>().prop_map(|(a, b, c)| Community::Large(LargeCommunity {
                global_admin: a,
                local_data1: b,
                local_data2: c,
            })),
        ]
    }

    proptest! {
        #[test]
        fn display_round_trips(c in arb_community()) {
            prop_assert_eq!(c.to_string().parse::<Community>(), Ok(c));
        }

        #[test]
        fn list_round_trips(cs in prop::collection::btree_set(arb_community(), 1..8)) {
            let cs: Vec<Community> = cs.into_iter().collect();
            let text = cs.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ");
            prop_assert_eq!(parse_community_list(&text), Ok(cs));
        }

        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_community_list(&s);
        }

        #[test]
        fn never_panics_on_community_like(s in "[0-9:a-z-]{0,30}") {
            let _ = s.parse::<Community>();
        }
    }
}
