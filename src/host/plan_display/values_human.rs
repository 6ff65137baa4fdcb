//! One line for an artifact's value in `kroute plan`'s text, for the
//! facets without a renderer of their own (health checks, BGP speaker,
//! peers and routes): the fields that are set, `name value`, from the
//! value's JSON form, by name. A field is unset when it is null, false,
//! empty or zero (`max_prefixes 0` means no limit). Durations read as
//! seconds, communities as `AA:NN`.

use serde::Serialize;
use serde_json::Value;

/// `value`'s set fields, `, `-separated ("" when none is set).
pub fn summary(value: &impl Serialize) -> String {
    let Ok(Value::Object(fields)) = serde_json::to_value(value) else {
        return String::new();
    };
    (fields.iter())
        .filter(|(_, v)| is_set(v))
        .map(|(name, v)| format!("{} {}", name.replace('_', " "), text(name, v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_set(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::Array(items) => !items.is_empty(),
        Value::String(s) => !s.is_empty(),
        Value::Number(n) => n.as_f64() != Some(0.0),
        _ => true,
    }
}

fn text(name: &str, v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => (items.iter())
            .map(|i| text(name, i))
            .collect::<Vec<_>>()
            .join(" "),
        Value::Number(n) if name == "communities" => match n.as_u64() {
            Some(c) => format!("{}:{}", c >> 16, c & 0xFFFF),
            None => n.to_string(),
        },
        // `Duration`'s serde form.
        Value::Object(o) if o.contains_key("secs") && o.contains_key("nanos") => {
            format!("{}s", o["secs"])
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::HostPlan;
    use crate::host::bgp::{BgpSpeakerSettings, OriginatedRoute, PeerSpec, RouteAttrs};
    use crate::host::linux::nft_rules_read::ChainRules;
    use crate::host::plan::HostSnapshot;
    use crate::host::plan_display::PlanView;

    #[test]
    fn a_plan_shows_each_bgp_route_with_its_attributes() {
        let route = |p: &str| OriginatedRoute {
            prefix: p.parse().unwrap(),
        };
        let mut plan = HostPlan::default();
        let attrs = RouteAttrs {
            communities: vec![65000 << 16 | 1],
            ..RouteAttrs::default()
        };
        plan.bgp.creates.insert(route("203.0.113.10/32"), attrs);
        plan.bgp
            .creates
            .insert(route("10.244.1.0/24"), RouteAttrs::default());
        plan.bgp.deletes.insert(route("203.0.113.11/32"));
        let (current, rules) = (HostSnapshot::default(), ChainRules::new());
        let view = PlanView {
            plan: &plan,
            current: &current,
            nft_rules: &rules,
        };
        assert_eq!(
            view.human(),
            "bgp:\n  add bgp route 10.244.1.0/24\n  add bgp route 203.0.113.10/32: communities 65000:1\n  delete bgp route 203.0.113.11/32\n\nPlan: bgp: 2 to create, 0 to update, 1 to delete.\n"
        );
    }

    #[test]
    fn bgp_values_read_as_their_set_fields() {
        let route = RouteAttrs {
            communities: vec![65000 << 16 | 1, 0xFFFF_FF01],
            local_pref: Some(200),
            prepend: vec![65100, 65100],
            ..RouteAttrs::default()
        };
        assert_eq!(
            summary(&route),
            "communities 65000:1 65535:65281, local pref 200, prepend 65100 65100"
        );
        assert_eq!(summary(&RouteAttrs::default()), "");
        let peer = PeerSpec::new("10.0.0.1".parse().unwrap(), 65000);
        assert_eq!(
            summary(&peer),
            "address 10.0.0.1, asn 65000, hold time 90s, keepalive 30s, port 179"
        );
        let speaker = BgpSpeakerSettings {
            asn: 64512,
            router_id: "192.168.50.1".parse().unwrap(),
            listen: vec!["[::]:179".parse().unwrap()],
            graceful_restart_time: Some(90),
            cluster_id: None,
        };
        assert_eq!(
            summary(&speaker),
            "asn 64512, graceful restart time 90, listen [::]:179, router id 192.168.50.1"
        );
    }
}
