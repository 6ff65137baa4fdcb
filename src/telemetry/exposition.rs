//! Test helper: a small reader of the Prometheus text exposition, so tests
//! check what a scraper would see (names, types, values), not our structs.

use std::collections::BTreeMap;

/// Families' types (`# TYPE name type`) and samples (`series value`).
#[derive(Debug, Default)]
pub struct Exposition {
    pub types: BTreeMap<String, String>,
    /// Series as written (`name{label="v"}`) → value.
    pub samples: BTreeMap<String, f64>,
}

impl Exposition {
    /// Parses `text`; panics on a line that is neither a comment nor a sample.
    pub fn parse(text: &str) -> Exposition {
        let mut e = Exposition::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                e.types.insert(name.to_string(), kind.to_string());
            } else if !line.starts_with('#') {
                let (series, value) = line.rsplit_once(' ').expect("series value");
                let value = value
                    .parse()
                    .unwrap_or_else(|_| panic!("value in {line:?}"));
                e.samples.insert(series.to_string(), value);
            }
        }
        e
    }

    /// The value of `series` (exact text, labels included).
    pub fn value(&self, series: &str) -> Option<f64> {
        self.samples.get(series).copied()
    }
}
