//! One layer of configuration (the file, the env vars or the flags) read into
//! raw values per key path, checking keys and shapes against the schema.
//! Every problem is collected; reading goes on past it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ConfigError;
use super::error::Source;
use super::paths::resolve;
use super::schema::{PEER_KEYS, SCHEMA, Shape, leaf_shape, static_key};

/// A value as one layer gives it, before parsing.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Raw {
    Scalar(String),
    /// Already resolved (`~`, the file's directory).
    Path(PathBuf),
    List(Vec<String>),
    /// Each peer's keys (already checked against [`PEER_KEYS`]) and values;
    /// `passwordFile` already resolved, list fields as comma lists.
    Peers(Vec<BTreeMap<String, String>>),
}

/// One layer: key path → where the value came from, and the value.
pub(super) type Layer = BTreeMap<&'static str, (Source, Raw)>;

/// How one layer's path values are resolved.
#[derive(Clone, Copy)]
pub(super) struct PathBase<'a> {
    pub home: Option<&'a str>,
    /// The config file's directory; `None` for env vars and flags.
    pub dir: Option<&'a Path>,
}

/// Reads YAML (JSON is YAML); an empty or comments-only text is `Null`.
fn parse_yaml(text: &str, source: &Source) -> Result<Value, ConfigError> {
    serde_saphyr::from_str::<Option<Value>>(text)
        .map(|v| v.unwrap_or(Value::Null))
        .map_err(|e| ConfigError::Syntax {
            source_name: source.clone(),
            message: e.to_string(),
        })
}

/// Parses the file's text into a layer.
pub(super) fn file_layer(
    text: &str,
    source: &Source,
    base: PathBase,
    errors: &mut Vec<ConfigError>,
) -> Layer {
    let mut reader = LayerReader {
        source,
        base,
        errors,
        layer: Layer::new(),
    };
    match parse_yaml(text, source) {
        Ok(Value::Null) => {}
        Ok(value) => reader.walk_map(&value, SCHEMA, ""),
        Err(e) => reader.errors.push(e),
    }
    reader.layer
}

/// An env var's or a flag's value for `key`: comma lists split, peers parsed
/// as YAML. `None` (with the error recorded) when it cannot be read.
pub(super) fn text_value(
    key: &str,
    text: &str,
    source: &Source,
    base: PathBase,
    errors: &mut Vec<ConfigError>,
) -> Option<Raw> {
    let mut reader = LayerReader {
        source,
        base,
        errors,
        layer: Layer::new(),
    };
    match leaf_shape(key) {
        Shape::List => Some(Raw::List(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        )),
        Shape::Peers => match parse_yaml(text, source) {
            Ok(Value::Null) => Some(Raw::Peers(Vec::new())),
            Ok(value) => reader.peers(&value, key).map(Raw::Peers),
            Err(e) => {
                reader.errors.push(e);
                None
            }
        },
        Shape::Path => reader.path(text, key).map(Raw::Path),
        Shape::Scalar | Shape::Map(_) => Some(Raw::Scalar(text.to_string())),
    }
}

/// How a value is shown in an error.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

struct LayerReader<'a> {
    source: &'a Source,
    base: PathBase<'a>,
    errors: &'a mut Vec<ConfigError>,
    layer: Layer,
}

impl LayerReader<'_> {
    fn wrong_shape(&mut self, key: &str, expected: &'static str, value: &Value) {
        self.errors.push(ConfigError::WrongShape {
            source_name: self.source.clone(),
            key: key.to_string(),
            expected,
            value: shown(value),
        });
    }

    fn unknown(&mut self, key: String) {
        self.errors.push(ConfigError::UnknownKey {
            source_name: self.source.clone(),
            key,
        });
    }

    fn walk_map(&mut self, value: &Value, schema: &'static [(&'static str, Shape)], prefix: &str) {
        let path_of = |k: &str| {
            if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            }
        };
        let Value::Object(map) = value else {
            let key = if prefix.is_empty() {
                "(top level)"
            } else {
                prefix
            };
            self.wrong_shape(key, "a map", value);
            return;
        };
        for (k, v) in map {
            let path = path_of(k);
            let Some((_, shape)) = schema.iter().find(|(name, _)| name == k) else {
                self.unknown(path);
                continue;
            };
            if v.is_null() {
                continue; // `key:` with no value: as if absent
            }
            let raw = match shape {
                Shape::Map(inner) => {
                    self.walk_map(v, inner, &path);
                    continue;
                }
                Shape::Scalar => self.scalar(v, &path).map(Raw::Scalar),
                Shape::Path => self
                    .scalar(v, &path)
                    .and_then(|text| self.path(&text, &path))
                    .map(Raw::Path),
                Shape::List => self.list(v, &path).map(Raw::List),
                Shape::Peers => self.peers(v, &path).map(Raw::Peers),
            };
            if let Some(raw) = raw {
                let key = static_key(&path).expect("every schema leaf is in KEYS");
                self.layer.insert(key, (self.source.clone(), raw));
            }
        }
    }

    fn scalar(&mut self, v: &Value, path: &str) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => {
                self.wrong_shape(path, "a single value", other);
                None
            }
        }
    }

    fn path(&mut self, text: &str, path: &str) -> Option<PathBuf> {
        resolve(text, self.base.home, self.base.dir)
            .map_err(|problem| {
                self.errors.push(ConfigError::InvalidValue {
                    source_name: self.source.clone(),
                    key: path.to_string(),
                    value: text.to_string(),
                    problem,
                })
            })
            .ok()
    }

    /// A list of scalars; `None` if any item is not one.
    fn list(&mut self, v: &Value, path: &str) -> Option<Vec<String>> {
        let Value::Array(items) = v else {
            self.wrong_shape(path, "a list", v);
            return None;
        };
        let items: Vec<Option<String>> = items
            .iter()
            .enumerate()
            .map(|(i, item)| self.scalar(item, &format!("{path}[{i}]")))
            .collect();
        items.into_iter().collect()
    }

    /// A list of peers; `None` if it is not a list of maps of known keys.
    fn peers(&mut self, v: &Value, path: &str) -> Option<Vec<BTreeMap<String, String>>> {
        let Value::Array(items) = v else {
            self.wrong_shape(path, "a list of peers", v);
            return None;
        };
        let before = self.errors.len();
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = format!("{path}[{i}]");
            let Value::Object(map) = item else {
                self.wrong_shape(&at, "a map", item);
                continue;
            };
            let mut peer = BTreeMap::new();
            for (k, v) in map {
                let key = format!("{at}.{k}");
                let Some((_, shape)) = PEER_KEYS.iter().find(|(name, _)| name == k) else {
                    self.unknown(key);
                    continue;
                };
                if v.is_null() {
                    continue;
                }
                let text = match shape {
                    Shape::List => self.list(v, &key).map(|items| items.join(",")),
                    _ => self.scalar(v, &key),
                };
                let Some(text) = text else {
                    continue;
                };
                let text = match shape {
                    Shape::Path => match self.path(&text, &key) {
                        Some(p) => p.to_string_lossy().into_owned(),
                        None => continue,
                    },
                    _ => text,
                };
                peer.insert(k.clone(), text);
            }
            out.push(peer);
        }
        (self.errors.len() == before).then_some(out)
    }
}
