//! Key lookup shared by the Service and Node parsers: `kroute.io/` aliases,
//! error collection.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use super::InvalidAnnotation;

/// Prefix of kube-router's keys.
pub const KUBE_ROUTER_PREFIX: &str = "kube-router.io/";
/// Prefix of kroute's own keys (and of aliases of kube-router's).
pub const KROUTE_PREFIX: &str = "kroute.io/";

/// Reads one object's annotations and collects what is malformed.
pub struct Reader<'a> {
    kind: &'static str,
    object: String,
    annotations: &'a BTreeMap<String, String>,
    pub errors: Vec<InvalidAnnotation>,
    /// Every key asked for, as the parser names it: the list of accepted
    /// keys comes from the parser itself.
    asked: RefCell<BTreeSet<String>>,
}

impl<'a> Reader<'a> {
    pub fn new(
        kind: &'static str,
        object: String,
        annotations: &'a BTreeMap<String, String>,
    ) -> Self {
        Reader {
            kind,
            object,
            annotations,
            errors: Vec::new(),
            asked: RefCell::new(BTreeSet::new()),
        }
    }

    /// The keys asked for so far (by [`present`](Self::present),
    /// [`raw`](Self::raw) and what builds on them), `kube-router.io/` spelling
    /// where there is one.
    pub fn asked(&self) -> Vec<String> {
        self.asked.borrow().iter().cloned().collect()
    }

    /// The keys that may carry `key`, highest precedence first: a
    /// `kube-router.io/` key is preceded by its `kroute.io/` alias.
    fn candidates(&self, key: &str) -> Vec<String> {
        self.asked.borrow_mut().insert(key.to_string());
        match key.strip_prefix(KUBE_ROUTER_PREFIX) {
            Some(suffix) => vec![format!("{KROUTE_PREFIX}{suffix}"), key.to_string()],
            None => vec![key.to_string()],
        }
    }

    /// Present (under either spelling), whatever the value: kube-router's
    /// "present" semantics.
    pub fn present(&self, key: &str) -> bool {
        self.candidates(key)
            .iter()
            .any(|k| self.annotations.contains_key(k))
    }

    /// Every spelling of `key` that is present, with its value, in precedence order.
    pub fn raw(&self, key: &str) -> Vec<(String, &'a str)> {
        self.candidates(key)
            .into_iter()
            .filter_map(|k| self.annotations.get(&k).map(|v| (k, v.as_str())))
            .collect()
    }

    /// The highest-precedence spelling of `key` that is present, with its value.
    pub fn first(&self, key: &str) -> Option<(String, &'a str)> {
        self.raw(key).into_iter().next()
    }

    /// Parses `key`: the first present spelling that parses wins; each one that
    /// does not is reported. `None` when absent or all malformed.
    pub fn parse<T>(&mut self, key: &str, parse: impl Fn(&str) -> Result<T, String>) -> Option<T> {
        for (k, v) in self.raw(key) {
            match parse(v) {
                Ok(t) => return Some(t),
                Err(reason) => self.report(&k, v, reason),
            }
        }
        None
    }

    pub fn report(&mut self, key: &str, value: &str, reason: impl Into<String>) {
        self.errors.push(InvalidAnnotation {
            kind: self.kind,
            object: self.object.clone(),
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        });
    }
}
