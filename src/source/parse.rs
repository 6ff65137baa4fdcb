//! One manifest file's text → the Kubernetes objects kroute reads from it.
//!
//! Each document is read twice: first only its `apiVersion`/`kind` (and, for a
//! `List`, those of its items), then straight into the k8s-openapi type that
//! kind names. Deserializing in one streaming pass (no intermediate
//! `serde_json::Value`) is what keeps error locations exact.

use std::fmt;
use std::path::Path;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{MessageFormatter, Spanned, UserMessageFormatter};

use super::yaml_docs::{YamlDoc, split_documents};

/// Namespace given to namespaced objects that name none (as kubectl does).
pub const DEFAULT_NAMESPACE: &str = "default";

/// The object kinds kroute reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Service,
    EndpointSlice,
    Node,
}

impl Kind {
    /// The kind a manifest's `apiVersion` and `kind` name, if kroute reads it.
    /// Matching the group too keeps e.g. Knative's `serving.knative.dev/v1
    /// Service` out.
    fn of(api_version: &str, kind: &str) -> Option<Kind> {
        match (api_version, kind) {
            ("v1", "Service") => Some(Kind::Service),
            ("discovery.k8s.io/v1", "EndpointSlice") => Some(Kind::EndpointSlice),
            ("v1", "Node") => Some(Kind::Node),
            _ => None,
        }
    }

    fn deserialize_object<'de, D: Deserializer<'de>>(self, de: D) -> Result<Object, D::Error> {
        Ok(match self {
            Kind::Service => Object::Service(Box::new(Service::deserialize(de)?)),
            Kind::EndpointSlice => Object::EndpointSlice(Box::new(EndpointSlice::deserialize(de)?)),
            Kind::Node => Object::Node(Box::new(Node::deserialize(de)?)),
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A Kubernetes object kroute reads (boxed: the types differ a lot in size).
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    Service(Box<Service>),
    EndpointSlice(Box<EndpointSlice>),
    Node(Box<Node>),
}

impl Object {
    fn metadata_mut(&mut self) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        match self {
            Object::Service(o) => &mut o.metadata,
            Object::EndpointSlice(o) => &mut o.metadata,
            Object::Node(o) => &mut o.metadata,
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Object::Service(_) => Kind::Service,
            Object::EndpointSlice(_) => Kind::EndpointSlice,
            Object::Node(_) => Kind::Node,
        }
    }
}

/// What makes two manifests describe the same object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId {
    pub kind: Kind,
    /// Empty for Nodes (cluster-scoped).
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// An object, its identity and the file line where its manifest starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Located {
    pub id: ObjectId,
    pub line: usize,
    pub object: Object,
}

/// Why a manifest file could not be used. Lines are 1-based file lines.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not YAML, or not a valid object of its kind (wrong field type, …).
    #[error("{message}")]
    Yaml {
        line: Option<usize>,
        message: String,
    },
    /// A document without `apiVersion` or `kind` cannot be a Kubernetes object.
    #[error("manifest has no {missing}")]
    MissingTypeMeta { line: usize, missing: &'static str },
    /// An object without `metadata.name` cannot be identified.
    #[error("{kind} has no metadata.name")]
    MissingName { line: usize, kind: Kind },
}

impl ParseError {
    /// The file line the error points at, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ParseError::Yaml { line, .. } => *line,
            ParseError::MissingTypeMeta { line, .. } | ParseError::MissingName { line, .. } => {
                Some(*line)
            }
        }
    }
}

/// Parses every document of a manifest file. `path` only labels log lines.
/// The first error fails the whole file: a half-read file would silently drop
/// objects.
pub fn parse_manifests(path: &Path, text: &str) -> Result<Vec<Located>, ParseError> {
    let mut objects = Vec::new();
    for doc in split_documents(text) {
        parse_document(path, &doc, &mut objects)?;
    }
    Ok(objects)
}

/// `apiVersion` and `kind` of a document or list item; other fields skipped.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeMeta {
    api_version: Option<String>,
    kind: Option<String>,
}

/// The type metadata of a `List`'s items.
#[derive(Deserialize)]
struct ListItems {
    items: Option<Vec<Spanned<TypeMeta>>>,
}

fn parse_document(
    path: &Path,
    doc: &YamlDoc<'_>,
    out: &mut Vec<Located>,
) -> Result<(), ParseError> {
    // `Option`: a document that is just `~` or `null` is as empty as one
    // holding only comments.
    let Some(header) = deserialize::<Option<Spanned<TypeMeta>>>(doc)? else {
        return Ok(());
    };
    let line = doc.stream_line(header.referenced.line());
    let (api_version, kind) = type_meta(&header.value, line)?;
    if (api_version, kind) == ("v1", "List") {
        return parse_list(path, doc, out);
    }
    let Some(kind) = Kind::of(api_version, kind) else {
        tracing::debug!(path = %path.display(), line, api_version, kind, "ignoring manifest of a kind kroute does not read");
        return Ok(());
    };
    let object = with_deserializer(doc, |de| kind.deserialize_object(de))?;
    out.push(locate(object, line)?);
    Ok(())
}

fn parse_list(path: &Path, doc: &YamlDoc<'_>, out: &mut Vec<Located>) -> Result<(), ParseError> {
    let items = deserialize::<ListItems>(doc)?.items.unwrap_or_default();
    let mut kinds = Vec::with_capacity(items.len());
    for item in &items {
        let line = doc.stream_line(item.referenced.line());
        let (api_version, kind) = type_meta(&item.value, line)?;
        let known = Kind::of(api_version, kind);
        if known.is_none() {
            tracing::debug!(path = %path.display(), line, api_version, kind, "ignoring List item of a kind kroute does not read");
        }
        kinds.push(known);
    }
    let objects = with_deserializer(doc, |de| ListSeed { kinds: &kinds }.deserialize(de))?;
    for (item, object) in items.iter().zip(objects) {
        if let Some(object) = object {
            out.push(locate(object, doc.stream_line(item.referenced.line()))?);
        }
    }
    Ok(())
}

fn type_meta(meta: &TypeMeta, line: usize) -> Result<(&str, &str), ParseError> {
    let api_version = meta
        .api_version
        .as_deref()
        .ok_or(ParseError::MissingTypeMeta {
            line,
            missing: "apiVersion",
        })?;
    let kind = meta.kind.as_deref().ok_or(ParseError::MissingTypeMeta {
        line,
        missing: "kind",
    })?;
    Ok((api_version, kind))
}

/// Checks the name and fills in the default namespace.
fn locate(mut object: Object, line: usize) -> Result<Located, ParseError> {
    let kind = object.kind();
    let meta = object.metadata_mut();
    let name = meta
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or(ParseError::MissingName { line, kind })?;
    let namespace = match kind {
        Kind::Node => String::new(),
        Kind::Service | Kind::EndpointSlice => meta
            .namespace
            .get_or_insert_with(|| DEFAULT_NAMESPACE.to_owned())
            .clone(),
    };
    Ok(Located {
        id: ObjectId {
            kind,
            namespace,
            name,
        },
        line,
        object,
    })
}

fn options() -> serde_saphyr::Options {
    // Snippets are for terminals; we report path, line and a one-line reason.
    serde_saphyr::options! { with_snippet: false }
}

fn deserialize<T: serde::de::DeserializeOwned>(doc: &YamlDoc<'_>) -> Result<T, ParseError> {
    with_deserializer(doc, |de| T::deserialize(de))
}

fn with_deserializer<'de, T>(
    doc: &YamlDoc<'de>,
    f: impl for<'e> FnOnce(serde_saphyr::Deserializer<'de, 'e>) -> Result<T, serde_saphyr::Error>,
) -> Result<T, ParseError> {
    serde_saphyr::with_deserializer_from_str_with_options(doc.text, options(), f)
        .map_err(|e| yaml_error(doc, &e))
}

fn yaml_error(doc: &YamlDoc<'_>, err: &serde_saphyr::Error) -> ParseError {
    let err = err.without_snippet();
    let message = UserMessageFormatter.format_message(err);
    // The formatter's text is not sanitised for terminals (see its docs).
    let mut message: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let location = err.location();
    if let Some(loc) = location {
        message.push_str(&format!(" (column {})", loc.column()));
    }
    ParseError::Yaml {
        line: location.map(|l| doc.stream_line(l.line())),
        message,
    }
}

/// Reads a `List` document's items, each as the kind found in the first pass
/// (`None`: skipped).
struct ListSeed<'k> {
    kinds: &'k [Option<Kind>],
}

impl<'de> DeserializeSeed<'de> for ListSeed<'_> {
    type Value = Vec<Option<Object>>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_> {
    type Value = Vec<Option<Object>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a List")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut objects = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                objects = map.next_value_seed(ItemsSeed { kinds: self.kinds })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(objects)
    }
}

struct ItemsSeed<'k> {
    kinds: &'k [Option<Kind>],
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = Vec<Option<Object>>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = Vec<Option<Object>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of Kubernetes objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut objects = Vec::with_capacity(self.kinds.len());
        for &kind in self.kinds {
            match seq.next_element_seed(ItemSeed { kind })? {
                Some(object) => objects.push(object),
                None => break,
            }
        }
        // The first pass read the same text, so nothing should be left;
        // drain anyway rather than fail on a mismatch.
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(objects)
    }

    // `items:` with no value, as the first pass accepted it.
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
}

struct ItemSeed {
    kind: Option<Kind>,
}

impl<'de> DeserializeSeed<'de> for ItemSeed {
    type Value = Option<Object>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        match self.kind {
            Some(kind) => kind.deserialize_object(de).map(Some),
            None => IgnoredAny::deserialize(de).map(|_| None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Located>, ParseError> {
        parse_manifests(Path::new("test.yaml"), text)
    }

    fn ids_and_lines(objects: &[Located]) -> Vec<(String, usize)> {
        objects.iter().map(|o| (o.id.to_string(), o.line)).collect()
    }

    #[test]
    fn object_lines_are_file_lines() {
        let text = "\
# leading comment
apiVersion: v1
kind: Node
metadata:
  name: n1
---
# comment in the second document

apiVersion: v1
kind: Service
metadata:
  name: web
";
        let objects = parse(text).unwrap();
        assert_eq!(
            ids_and_lines(&objects),
            vec![
                ("Node n1".to_owned(), 2),
                ("Service default/web".to_owned(), 9)
            ]
        );
    }

    #[test]
    fn list_items_get_their_own_lines_and_unknown_items_are_skipped() {
        let text = "\
apiVersion: v1
kind: List
metadata: {}
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cm}
  data: {items: [1, 2]}
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: shop}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: web-1}
  addressType: IPv4
  endpoints: []
";
        let objects = parse(text).unwrap();
        assert_eq!(
            ids_and_lines(&objects),
            vec![
                ("Service shop/web".to_owned(), 9),
                ("EndpointSlice default/web-1".to_owned(), 12)
            ]
        );
    }

    #[test]
    fn empty_and_null_lists_are_empty() {
        assert_eq!(
            parse("apiVersion: v1\nkind: List\nitems: []\n").unwrap(),
            vec![]
        );
        assert_eq!(
            parse("apiVersion: v1\nkind: List\nitems:\n").unwrap(),
            vec![]
        );
        assert_eq!(parse("apiVersion: v1\nkind: List\n").unwrap(), vec![]);
    }

    #[test]
    fn same_kind_in_another_group_is_ignored() {
        let text = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: k}\nspec: {template: 3}\n";
        assert_eq!(parse(text).unwrap(), vec![]);
    }

    #[test]
    fn null_documents_are_skipped() {
        assert_eq!(parse("--- ~\n---\nnull\n").unwrap(), vec![]);
    }

    #[test]
    fn error_in_a_later_document_points_at_its_file_line() {
        let text = "\
apiVersion: v1
kind: Node
metadata:
  name: n1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: eighty
";
        let err = parse(text).unwrap_err();
        assert_eq!(err.line(), Some(12), "{err}");
        assert!(matches!(err, ParseError::Yaml { .. }), "{err:?}");
    }

    #[test]
    fn error_inside_a_list_item_points_at_its_file_line() {
        let text = "\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata: {name: n1}
- apiVersion: v1
  kind: Service
  metadata: {name: web}
  spec:
    clusterIPs: 10.0.0.1
";
        let err = parse(text).unwrap_err();
        assert_eq!(err.line(), Some(11), "{err}");
    }

    #[test]
    fn syntax_error_points_at_its_file_line() {
        let text = "apiVersion: v1\nkind: Node\nmetadata: {name: n}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: [web\n";
        let err = parse(text).unwrap_err();
        let line = err.line().expect("syntax errors have a location");
        assert!((7..=8).contains(&line), "line {line}: {err}");
    }

    #[test]
    fn missing_kind_apiversion_or_name_is_an_error_with_the_object_line() {
        let err = parse("---\n---\nmetadata: {name: x}\napiVersion: v1\n").unwrap_err();
        assert_eq!(
            err,
            ParseError::MissingTypeMeta {
                line: 3,
                missing: "kind"
            }
        );
        let err = parse("kind: Service\n").unwrap_err();
        assert_eq!(
            err,
            ParseError::MissingTypeMeta {
                line: 1,
                missing: "apiVersion"
            }
        );
        let err = parse("\napiVersion: v1\nkind: Service\nmetadata: {}\n").unwrap_err();
        assert_eq!(
            err,
            ParseError::MissingName {
                line: 2,
                kind: Kind::Service
            }
        );
    }

    #[test]
    fn a_document_that_is_not_a_mapping_is_an_error() {
        let err =
            parse("apiVersion: v1\nkind: Node\nmetadata: {name: n}\n---\n- a\n- b\n").unwrap_err();
        assert_eq!(err.line(), Some(5), "{err}");
    }

    #[test]
    fn json_is_accepted() {
        let text = r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "x"}, "spec": {"ports": [{"port": 80}]}}"#;
        let objects = parse(text).unwrap();
        assert_eq!(
            ids_and_lines(&objects),
            vec![("Service x/web".to_owned(), 1)]
        );
        let Object::Service(svc) = &objects[0].object else {
            panic!("not a Service");
        };
        assert_eq!(
            svc.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].port,
            80
        );
    }

    #[test]
    fn namespaces_default_for_namespaced_kinds_only() {
        let text = "\
apiVersion: v1
kind: Service
metadata: {name: a}
---
apiVersion: v1
kind: Node
metadata: {name: n}
";
        let objects = parse(text).unwrap();
        let Object::Service(svc) = &objects[0].object else {
            panic!("not a Service");
        };
        assert_eq!(svc.metadata.namespace.as_deref(), Some("default"));
        let Object::Node(node) = &objects[1].object else {
            panic!("not a Node");
        };
        assert_eq!(node.metadata.namespace, None);
        assert_eq!(objects[1].id.namespace, "");
    }
}
