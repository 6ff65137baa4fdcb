use super::*;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// prefix, acceptPrefixes, iBGP, decision.
type Case<'a> = (&'a str, &'a [IpNet], bool, Result<(), Refused>);

#[test]
fn import_policy_table() {
    let accept = [net("10.20.0.0/16"), net("fd00:20::/48")];
    let none: [IpNet; 0] = [];
    use Refused::*;
    let cases: &[Case] = &[
        // eBGP: nothing without acceptPrefixes.
        ("10.20.1.0/24", &none, false, Err(NotInAcceptPrefixes)),
        // eBGP: inside one CIDR, the CIDR itself, outside, wider than it.
        ("10.20.1.0/24", &accept, false, Ok(())),
        ("10.20.0.0/16", &accept, false, Ok(())),
        ("10.21.0.0/24", &accept, false, Err(NotInAcceptPrefixes)),
        ("10.0.0.0/8", &accept, false, Err(NotInAcceptPrefixes)),
        ("fd00:20:0:1::/64", &accept, false, Ok(())),
        ("fd00:21::/64", &accept, false, Err(NotInAcceptPrefixes)),
        // A v4 prefix is never inside a v6 CIDR.
        (
            "10.20.1.1/32",
            &[net("::/0")],
            false,
            Err(NotInAcceptPrefixes),
        ),
        // iBGP: everything without acceptPrefixes, filtered with them.
        ("10.244.3.0/24", &none, true, Ok(())),
        ("fd00:244::/64", &none, true, Ok(())),
        ("10.244.3.0/24", &accept, true, Err(NotInAcceptPrefixes)),
        ("10.20.3.0/24", &accept, true, Ok(())),
        // The default route never, even when a CIDR covers it.
        ("0.0.0.0/0", &none, true, Err(DefaultRoute)),
        ("::/0", &none, true, Err(DefaultRoute)),
        ("0.0.0.0/0", &[net("0.0.0.0/0")], false, Err(DefaultRoute)),
    ];
    for (prefix, accept, ibgp, want) in cases {
        assert_eq!(
            check(&net(prefix), accept, *ibgp),
            *want,
            "{prefix} accept {accept:?} ibgp {ibgp}"
        );
    }
}
