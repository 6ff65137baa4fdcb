//! One entry of `bgp.peers`: every field parsed and checked, every problem
//! reported (the password itself never is).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;
use super::error::Source;
use super::values::{Parsed, asn, boolean, cidr, duration, hold_time, ip, port, ttl};
use crate::model::config::PeerConfig;

/// The default hold time, and the keepalive time when none is given is a
/// third of the hold time.
const DEFAULT_HOLD_TIME: Duration = Duration::from_secs(90);

/// Parses peer `index` of `key` (`bgp.peers`); `passwordFile` is resolved
/// already.
pub(super) fn peer(
    key: &str,
    index: usize,
    fields: &BTreeMap<String, String>,
    source: &Source,
) -> Result<PeerConfig, Vec<ConfigError>> {
    let mut p = PeerFields {
        key,
        index,
        fields,
        source,
        errors: Vec::new(),
    };
    let address = p.required("address", ip);
    let asn = p.required("asn", asn);
    let port = p.optional("port", port).unwrap_or(179);
    let password_file = p.optional("passwordFile", |v| Ok(PathBuf::from(v)));
    let password = fields.get("password").cloned();
    if password.is_some() && password_file.is_some() {
        p.errors.push(ConfigError::InvalidValue {
            source_name: source.clone(),
            key: p.at("password"),
            value: "<redacted>".into(),
            problem: "password and passwordFile are exclusive, both given:".into(),
        });
    }
    let hold = p.optional("holdTime", hold_time);
    let keepalive = p.optional("keepaliveTime", duration);
    let hold_time = hold.unwrap_or(DEFAULT_HOLD_TIME);
    let keepalive_time = keepalive.unwrap_or(hold_time / 3);
    let hold_ok = hold.is_some() || !fields.contains_key("holdTime");
    if hold_ok && hold_time != Duration::ZERO && keepalive_time >= hold_time {
        p.errors.push(ConfigError::InvalidValue {
            source_name: source.clone(),
            key: p.at("keepaliveTime"),
            value: humantime::format_duration(keepalive_time).to_string(),
            problem: format!(
                "must be less than holdTime ({}), got",
                humantime::format_duration(hold_time)
            ),
        });
    }
    let multihop_ttl = p.optional("multihopTTL", ttl).unwrap_or(1);
    let passive = p.optional("passive", boolean).unwrap_or(false);
    let accept_prefixes = p.list("acceptPrefixes", cidr).unwrap_or_default();
    let max_prefixes = p
        .optional("maxPrefixes", |v| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| "invalid prefix count (0 or more)".into())
        })
        .unwrap_or(0);
    match (address, asn) {
        (Some(address), Some(asn)) if p.errors.is_empty() => Ok(PeerConfig {
            address,
            asn,
            port,
            password_file,
            password,
            hold_time,
            keepalive_time,
            multihop_ttl,
            passive,
            accept_prefixes,
            max_prefixes,
        }),
        _ => Err(p.errors),
    }
}

struct PeerFields<'a> {
    key: &'a str,
    index: usize,
    fields: &'a BTreeMap<String, String>,
    source: &'a Source,
    errors: Vec<ConfigError>,
}

impl PeerFields<'_> {
    fn at(&self, field: &str) -> String {
        format!("{}[{}].{field}", self.key, self.index)
    }

    fn optional<T>(&mut self, field: &str, parse: impl Fn(&str) -> Parsed<T>) -> Option<T> {
        let v = self.fields.get(field)?;
        match parse(v) {
            Ok(t) => Some(t),
            Err(problem) => {
                self.errors.push(ConfigError::InvalidValue {
                    source_name: self.source.clone(),
                    key: self.at(field),
                    value: v.clone(),
                    problem,
                });
                None
            }
        }
    }

    /// A list field (kept as a comma list): each bad item is an error
    /// naming `field[i]`.
    fn list<T>(&mut self, field: &str, parse: impl Fn(&str) -> Parsed<T>) -> Option<Vec<T>> {
        let v = self.fields.get(field)?.clone();
        let mut out = Vec::new();
        for (i, item) in v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
        {
            match parse(item) {
                Ok(t) => out.push(t),
                Err(problem) => self.errors.push(ConfigError::InvalidValue {
                    source_name: self.source.clone(),
                    key: format!("{}[{i}]", self.at(field)),
                    value: item.to_string(),
                    problem,
                }),
            }
        }
        Some(out)
    }

    fn required<T>(&mut self, field: &str, parse: impl Fn(&str) -> Parsed<T>) -> Option<T> {
        if !self.fields.contains_key(field) {
            self.errors.push(ConfigError::InvalidValue {
                source_name: self.source.clone(),
                key: self.at(field),
                value: String::new(),
                problem: "required, missing".into(),
            });
            return None;
        }
        self.optional(field, parse)
    }
}
