//! Per-peer import policy, pure: which received prefixes enter the
//! selection (`loc_rib`). An eBGP peer's routes are refused unless they lie
//! inside one of its `accept_prefixes`; an iBGP peer's (the mesh's pod
//! CIDRs) are all accepted unless `accept_prefixes` is set, then the same
//! rule applies. The default route is never accepted. The node-level rules
//! (service VIPs, `customimportreject`) are the planner's.

use ipnet::IpNet;

/// Why a received prefix was not accepted (shown by `kroute bgp routes
/// --received`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Refused {
    /// 0.0.0.0/0 or ::/0.
    DefaultRoute,
    /// Outside every `acceptPrefixes` CIDR (or none set on an eBGP peer).
    NotInAcceptPrefixes,
}

/// The import decision for one prefix from a peer with these
/// `accept_prefixes`, on an iBGP session or not.
pub fn check(prefix: &IpNet, accept_prefixes: &[IpNet], ibgp: bool) -> Result<(), Refused> {
    if prefix.prefix_len() == 0 {
        return Err(Refused::DefaultRoute);
    }
    if ibgp && accept_prefixes.is_empty() {
        return Ok(());
    }
    if accept_prefixes.iter().any(|cidr| cidr.contains(prefix)) {
        Ok(())
    } else {
        Err(Refused::NotInAcceptPrefixes)
    }
}

#[cfg(test)]
#[path = "import_tests.rs"]
mod tests;
