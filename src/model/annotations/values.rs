//! Parsers for the scalar and list shapes annotation values take. Each returns
//! a human reason on failure; the caller adds object, key and value.

use std::net::IpAddr;
use std::str::FromStr;

use base64::Engine;
use ipnet::IpNet;

/// Splits a comma list: items trimmed, empty items dropped.
pub fn comma_items(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Splits a positional comma list (kube-router's `peer.passwords`,
/// `peer.ports`, `peer.localips`): empty items are kept, they mean "default
/// for this peer". An all-blank value is an empty list.
pub fn positional_items(value: &str) -> Vec<&str> {
    if value.trim().is_empty() {
        return Vec::new();
    }
    value.split(',').map(str::trim).collect()
}

/// `true` or `false`, case-insensitive.
pub fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected \"true\" or \"false\"".into()),
    }
}

/// A decimal unsigned integer of type `T`.
pub fn parse_uint<T: FromStr>(value: &str, what: &str) -> Result<T, String> {
    value.trim().parse().map_err(|_| format!("not a {what}"))
}

/// An AS number usable for a session: 1..=4294967294, not AS_TRANS (23456,
/// RFC 6793) nor 65535 (reserved, RFC 7300).
pub fn parse_asn(value: &str) -> Result<u32, String> {
    let asn: u32 = parse_uint(value, "4-byte AS number")?;
    check_asn(asn)?;
    Ok(asn)
}

/// See [`parse_asn`].
pub fn check_asn(asn: u32) -> Result<(), String> {
    match asn {
        0 => Err("AS number 0 is reserved".into()),
        23456 => Err("AS number 23456 is AS_TRANS, not usable".into()),
        65535 | u32::MAX => Err(format!("AS number {asn} is reserved")),
        _ => Ok(()),
    }
}

/// A TCP port, 1..=65535.
pub fn parse_port(value: &str) -> Result<u16, String> {
    match value.trim().parse::<u16>() {
        Ok(0) | Err(_) => Err("not a TCP port (1-65535)".into()),
        Ok(p) => Ok(p),
    }
}

/// A comma list of CIDRs, at least one.
pub fn parse_cidr_list(value: &str) -> Result<Vec<IpNet>, String> {
    let nets = comma_items(value)
        .map(|item| {
            item.parse::<IpNet>()
                .map_err(|_| format!("{item:?} is not a CIDR"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if nets.is_empty() {
        return Err("empty list".into());
    }
    Ok(nets)
}

/// A comma list of IP addresses, at least one.
pub fn parse_ip_list(value: &str) -> Result<Vec<IpAddr>, String> {
    let ips = comma_items(value)
        .map(|item| {
            item.parse::<IpAddr>()
                .map_err(|_| format!("{item:?} is not an IP address"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if ips.is_empty() {
        return Err("empty list".into());
    }
    Ok(ips)
}

/// A base64 password (kube-router's encoding), padding optional; the
/// decoded text must be UTF-8 and non-empty.
pub fn decode_password(value: &str) -> Result<String, String> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine
        .decode(value.trim())
        .map_err(|e| format!("password is not base64: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "decoded password is not UTF-8".to_string())?;
    if text.is_empty() {
        return Err("decoded password is empty".into());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn comma_items_trims_and_drops_empties() {
        let items: Vec<&str> = comma_items(" a, ,b ,,c,").collect();
        assert_eq!(items, vec!["a", "b", "c"]);
    }

    #[test]
    fn positional_items_keep_empties() {
        assert_eq!(positional_items("x, ,y,"), vec!["x", "", "y", ""]);
        assert!(positional_items("  ").is_empty());
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("TRUE"), Ok(true));
        assert_eq!(parse_bool("false"), Ok(false));
        assert!(parse_bool("yes").is_err());
        assert!(parse_bool("").is_err());
    }

    #[test]
    fn asns() {
        assert_eq!(parse_asn("65000"), Ok(65000));
        assert_eq!(parse_asn("4200000000"), Ok(4_200_000_000));
        for bad in [
            "0",
            "23456",
            "65535",
            "4294967295",
            "4294967296",
            "-1",
            "as65000",
        ] {
            assert!(parse_asn(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("179"), Ok(179));
        assert!(parse_port("0").is_err());
        assert!(parse_port("65536").is_err());
    }

    #[test]
    fn passwords() {
        assert_eq!(
            decode_password("U2VjdXJlUGFzc3dvcmQ=").as_deref(),
            Ok("SecurePassword")
        );
        assert_eq!(
            decode_password("U2VjdXJlUGFzc3dvcmQ").as_deref(),
            Ok("SecurePassword")
        );
        assert!(decode_password("not base64!").is_err());
        assert!(decode_password("").is_err());
    }

    fn arb_net() -> impl Strategy<Value = IpNet> {
        prop_oneof![
            (any::<[u8; 4]>(), 0u8..=32).prop_map(|(a, l)| IpNet::new(a.into(), l).unwrap()),
            (any::<[u8; 16]>(), 0u8..=128).prop_map(|(a, l)| IpNet::new(a.into(), l).unwrap()),
        ]
    }

    proptest! {
        #[test]
        fn cidr_list_round_trips(nets in prop::collection::vec(arb_net(), 1..6)) {
            let text = nets.iter().map(|n| format!(" {n} ")).collect::<Vec<_>>().join(",");
            prop_assert_eq!(parse_cidr_list(&text), Ok(nets));
        }

        #[test]
        fn list_parsers_never_panic(s in "\\PC*") {
            let _ = parse_cidr_list(&s);
            let _ = parse_ip_list(&s);
            let _ = parse_asn(&s);
            let _ = decode_password(&s);
        }
    }
}
