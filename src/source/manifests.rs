//! Standalone source: a directory of multi-document YAML manifests.
//!
//! Every file is parsed on its own and keeps its last good objects, so one bad
//! edit never removes the Services of the other files (nor of itself).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::parse::{Located, Object, ObjectId, parse_manifests};
use crate::model::ClusterView;

/// A file that could not be used: path, line (when known) and reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {reason}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ManifestError {
    /// The file (or, when it cannot be listed, the directory).
    pub path: PathBuf,
    /// 1-based line in the file, when the error points at one.
    pub line: Option<usize>,
    /// What is wrong, on one line.
    pub reason: String,
}

/// The manifests directory, with the last good content of every file.
#[derive(Debug)]
pub struct ManifestDir {
    dir: PathBuf,
    /// Current files by name; the map's order is the file-name order that
    /// decides which of two duplicate objects wins.
    files: BTreeMap<OsString, FileState>,
}

#[derive(Debug, Default)]
struct FileState {
    /// Stamp of the content last parsed: an equal stamp means no re-parse.
    stamp: Option<Stamp>,
    /// Objects of the last successful parse; `None` if it never parsed.
    good: Option<Vec<Located>>,
    /// Why the last parse failed, repeated on every load until the file changes.
    error: Option<ManifestError>,
}

/// Cheap stand-in for a file's content. The inode catches editors and
/// ConfigMap volumes that replace a file by rename with the same size and
/// mtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode: meta.ino(),
        }
    }
}

impl ManifestDir {
    pub fn new(dir: impl AsRef<Path>) -> ManifestDir {
        ManifestDir {
            dir: dir.as_ref().to_path_buf(),
            files: BTreeMap::new(),
        }
    }

    /// The directory this reads.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Re-reads the directory. A file that fails to parse keeps contributing
    /// its last good objects; `view.synced` is true once every current file
    /// has parsed. When the directory itself cannot be read, the last known
    /// objects are kept and the view is not synced.
    pub fn load(&mut self) -> (ClusterView, Vec<ManifestError>) {
        let mut errors = Vec::new();
        let listed = match self.list() {
            Ok(names) => {
                self.refresh(names, &mut errors);
                true
            }
            Err(err) => {
                errors.push(err);
                false
            }
        };
        let mut view = self.assemble(&mut errors);
        view.synced = listed && self.files.values().all(|f| f.good.is_some());
        (view, errors)
    }

    /// Names of the candidate files, sorted.
    fn list(&self) -> Result<Vec<OsString>, ManifestError> {
        let dir_error = |e: io::Error| ManifestError {
            path: self.dir.clone(),
            line: None,
            reason: format!("cannot read manifest directory: {e}"),
        };
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(dir_error)? {
            let name = entry.map_err(dir_error)?.file_name();
            if !is_ignored(&name) {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Re-parses the files that changed and forgets those that are gone.
    fn refresh(&mut self, names: Vec<OsString>, errors: &mut Vec<ManifestError>) {
        let mut files = BTreeMap::new();
        for name in names {
            let path = self.dir.join(&name);
            let mut state = self.files.remove(&name).unwrap_or_default();
            // `metadata` follows symlinks: ConfigMap volumes are symlinks
            // into a hidden, atomically swapped directory.
            let meta = match fs::metadata(&path) {
                Ok(meta) => meta,
                // Gone since listing, or a dangling symlink: not a file now.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    errors.push(io_error(&path, &e));
                    // Not cached: a permission fix changes no stamp field.
                    state.stamp = None;
                    files.insert(name, state);
                    continue;
                }
            };
            if !meta.is_file() {
                continue;
            }
            let stamp = Stamp::of(&meta);
            if state.stamp != Some(stamp) {
                match read_manifests(&path) {
                    Ok(objects) => {
                        state.good = Some(objects);
                        state.error = None;
                        state.stamp = Some(stamp);
                    }
                    Err(Failure::Parse(err)) => {
                        state.error = Some(err);
                        state.stamp = Some(stamp);
                    }
                    Err(Failure::Gone) => continue,
                    Err(Failure::Io(err)) => {
                        errors.push(err);
                        state.stamp = None;
                        files.insert(name, state);
                        continue;
                    }
                }
            }
            errors.extend(state.error.clone());
            files.insert(name, state);
        }
        self.files = files;
    }

    /// Builds the view from every file's last good objects; of two manifests
    /// of the same object the first in file order wins.
    fn assemble(&self, errors: &mut Vec<ManifestError>) -> ClusterView {
        let mut first_seen: BTreeMap<&ObjectId, (&OsStr, usize)> = BTreeMap::new();
        let (mut services, mut slices, mut nodes) = (Vec::new(), Vec::new(), Vec::new());
        for (name, state) in &self.files {
            for located in state.good.iter().flatten() {
                match first_seen.entry(&located.id) {
                    Entry::Occupied(first) => {
                        let (first_name, first_line) = *first.get();
                        errors.push(ManifestError {
                            path: self.dir.join(name),
                            line: Some(located.line),
                            reason: format!(
                                "{} is already defined at {}:{first_line}; ignoring this one",
                                located.id,
                                self.dir.join(first_name).display()
                            ),
                        });
                    }
                    Entry::Vacant(slot) => {
                        slot.insert((name, located.line));
                        match &located.object {
                            Object::Service(o) => services.push(Service::clone(o)),
                            Object::EndpointSlice(o) => slices.push(EndpointSlice::clone(o)),
                            Object::Node(o) => nodes.push(Node::clone(o)),
                        }
                    }
                }
            }
        }
        ClusterView::from_objects(services, slices, nodes)
    }
}

/// Editor swap files and backups are not manifests.
fn is_ignored(name: &OsStr) -> bool {
    let bytes = name.as_encoded_bytes();
    bytes.starts_with(b".") || bytes.ends_with(b"~")
}

/// Why a file's objects could not be (re)read.
enum Failure {
    /// The file vanished between listing and reading.
    Gone,
    /// Reading failed; worth retrying even if the file looks unchanged.
    Io(ManifestError),
    /// The content is bad; stays bad until the file changes.
    Parse(ManifestError),
}

fn read_manifests(path: &Path) -> Result<Vec<Located>, Failure> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Failure::Gone),
        Err(e) => return Err(Failure::Io(io_error(path, &e))),
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        Failure::Parse(ManifestError {
            path: path.to_path_buf(),
            line: None,
            reason: format!("not UTF-8: {e}"),
        })
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    parse_manifests(path, text).map_err(|e| {
        Failure::Parse(ManifestError {
            path: path.to_path_buf(),
            line: e.line(),
            reason: e.to_string(),
        })
    })
}

fn io_error(path: &Path, err: &io::Error) -> ManifestError {
    ManifestError {
        path: path.to_path_buf(),
        line: None,
        reason: format!("cannot read: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::ObjectKey;

    const SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  clusterIP: 10.96.0.10
  ports:
  - name: http
    port: 80
    targetPort: 8080
";

    const SLICE: &str = "\
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  namespace: shop
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
endpoints:
- addresses: [10.244.1.5]
  conditions: {ready: true}
  nodeName: node-a
ports:
- name: http
  port: 8080
  protocol: TCP
";

    const NODE: &str = "\
apiVersion: v1
kind: Node
metadata:
  name: node-a
  labels: {topology.kubernetes.io/zone: z1}
spec:
  podCIDR: 10.244.1.0/24
";

    /// A Service `default/<name>` with one port, as a one-line JSON manifest.
    fn service(name: &str, port: i32) -> String {
        format!(
            r#"{{"apiVersion": "v1", "kind": "Service", "metadata": {{"name": "{name}"}}, "spec": {{"ports": [{{"port": {port}}}]}}}}"#
        )
    }

    fn write(dir: &Path, name: &str, text: &str) {
        fs::write(dir.join(name), text).unwrap();
    }

    fn service_names(view: &ClusterView) -> Vec<String> {
        view.services.keys().map(ToString::to_string).collect()
    }

    fn port_of(view: &ClusterView, key: &ObjectKey) -> i32 {
        view.services[key]
            .spec
            .as_ref()
            .unwrap()
            .ports
            .as_ref()
            .unwrap()[0]
            .port
    }

    #[test]
    fn reads_all_three_kinds_from_a_multi_document_file() {
        let dir = tempfile::tempdir().unwrap();
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n";
        write(
            dir.path(),
            "cluster.yaml",
            &format!("---\n{SERVICE}---\n# empty\n---\n{SLICE}---\n{cm}---\n{NODE}"),
        );
        let (view, errors) = ManifestDir::new(dir.path()).load();
        assert_eq!(errors, vec![]);
        assert!(view.synced);
        let key = ObjectKey::new("shop", "web");
        assert_eq!(port_of(&view, &key), 80);
        let slices: Vec<_> = view.slices_of(&key).collect();
        assert_eq!(slices.len(), 1);
        assert_eq!(
            slices[0].endpoints.as_ref().unwrap()[0].addresses,
            vec!["10.244.1.5"]
        );
        assert_eq!(
            view.nodes["node-a"]
                .spec
                .as_ref()
                .unwrap()
                .pod_cidr
                .as_deref(),
            Some("10.244.1.0/24")
        );
    }

    #[test]
    fn reads_list_kind() {
        let dir = tempfile::tempdir().unwrap();
        let indent = |s: &str| s.replace('\n', "\n  ");
        let list = format!(
            "apiVersion: v1\nkind: List\nitems:\n- {}\n- {}\n- {}\n",
            indent(SERVICE).trim_end(),
            indent(SLICE).trim_end(),
            indent(NODE).trim_end()
        );
        write(dir.path(), "list.yaml", &list);
        let (view, errors) = ManifestDir::new(dir.path()).load();
        assert_eq!(errors, vec![]);
        assert_eq!(service_names(&view), vec!["shop/web"]);
        assert_eq!(view.slices_of(&ObjectKey::new("shop", "web")).count(), 1);
        assert!(view.nodes.contains_key("node-a"));
    }

    #[test]
    fn objects_without_namespace_go_to_default() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{}---\n{}",
            SERVICE.replace("  namespace: shop\n", ""),
            SLICE.replace("  namespace: shop\n", "")
        );
        write(dir.path(), "svc.yaml", &text);
        let (view, errors) = ManifestDir::new(dir.path()).load();
        assert_eq!(errors, vec![]);
        let key = ObjectKey::new("default", "web");
        assert_eq!(service_names(&view), vec!["default/web"]);
        let slice = view
            .slices_of(&key)
            .next()
            .expect("slice joined in default");
        assert_eq!(slice.metadata.namespace.as_deref(), Some("default"));
    }

    #[test]
    fn any_file_name_but_not_hidden_backup_or_nested_files() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.yaml", &service("a", 1));
        write(dir.path(), "b.yml", &service("b", 1));
        write(dir.path(), "c", &service("c", 1));
        write(dir.path(), "d.json", &service("d", 1));
        write(dir.path(), ".a.yaml.swp", "\0\u{1}garbage: [");
        write(dir.path(), "a.yaml~", "garbage: [");
        write(dir.path(), ".hidden.yaml", &service("hidden", 1));
        fs::create_dir(dir.path().join("sub")).unwrap();
        write(&dir.path().join("sub"), "e.yaml", &service("e", 1));
        let (view, errors) = ManifestDir::new(dir.path()).load();
        assert_eq!(errors, vec![]);
        assert!(view.synced);
        assert_eq!(
            service_names(&view),
            vec!["default/a", "default/b", "default/c", "default/d"]
        );
    }

    #[test]
    fn broken_file_keeps_its_last_good_objects_and_reports_the_file_line() {
        let dir = tempfile::tempdir().unwrap();
        let good = format!("{NODE}---\n{SERVICE}");
        write(dir.path(), "cluster.yaml", &good);
        let mut source = ManifestDir::new(dir.path());
        let (view, errors) = source.load();
        assert_eq!(errors, vec![]);
        assert_eq!(port_of(&view, &ObjectKey::new("shop", "web")), 80);

        // NODE is 7 lines and `---` the 8th; `port:` is the 10th line of SERVICE.
        let broken = good.replace("port: 80", "port: eighty");
        write(dir.path(), "cluster.yaml", &broken);
        let (view, errors) = source.load();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, dir.path().join("cluster.yaml"));
        assert_eq!(errors[0].line, Some(18), "{}", errors[0]);
        assert!(view.synced, "the file parsed once");
        assert_eq!(port_of(&view, &ObjectKey::new("shop", "web")), 80);
        assert!(view.nodes.contains_key("node-a"));

        // Still broken and unchanged: still reported.
        let (_, errors) = source.load();
        assert_eq!(errors.len(), 1, "{errors:?}");

        write(
            dir.path(),
            "cluster.yaml",
            &good.replace("port: 80", "port: 81"),
        );
        let (view, errors) = source.load();
        assert_eq!(errors, vec![]);
        assert_eq!(port_of(&view, &ObjectKey::new("shop", "web")), 81);
    }

    #[test]
    fn a_file_that_never_parsed_keeps_the_view_unsynced() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.yaml", &service("a", 1));
        write(
            dir.path(),
            "b.yaml",
            "apiVersion: v1\nkind: Service\nmetadata: {name: [b\n",
        );
        let mut source = ManifestDir::new(dir.path());
        let (view, errors) = source.load();
        assert!(!view.synced);
        assert_eq!(service_names(&view), vec!["default/a"]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, dir.path().join("b.yaml"));
        assert!(errors[0].line.is_some());

        write(dir.path(), "b.yaml", &service("b", 1));
        let (view, errors) = source.load();
        assert_eq!(errors, vec![]);
        assert!(view.synced);
        assert_eq!(service_names(&view), vec!["default/a", "default/b"]);
    }

    #[test]
    fn removing_a_file_drops_its_objects() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.yaml", &service("a", 1));
        write(dir.path(), "b.yaml", &service("b", 1));
        let mut source = ManifestDir::new(dir.path());
        assert_eq!(
            service_names(&source.load().0),
            vec!["default/a", "default/b"]
        );
        fs::remove_file(dir.path().join("b.yaml")).unwrap();
        let (view, errors) = source.load();
        assert_eq!(errors, vec![]);
        assert!(view.synced);
        assert_eq!(service_names(&view), vec!["default/a"]);
    }

    #[test]
    fn removing_a_broken_file_that_never_parsed_syncs_the_view() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.yaml", &service("a", 1));
        write(dir.path(), "b.yaml", "kind: [");
        let mut source = ManifestDir::new(dir.path());
        assert!(!source.load().0.synced);
        fs::remove_file(dir.path().join("b.yaml")).unwrap();
        let (view, errors) = source.load();
        assert_eq!(errors, vec![]);
        assert!(view.synced);
    }

    #[test]
    fn duplicate_object_keeps_the_first_file_and_names_both() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "b.yaml", &service("web", 2));
        write(
            dir.path(),
            "a.yaml",
            &format!("{NODE}---\n{}\n", service("web", 1)),
        );
        let (view, errors) = ManifestDir::new(dir.path()).load();
        assert_eq!(port_of(&view, &ObjectKey::new("default", "web")), 1);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, dir.path().join("b.yaml"));
        assert_eq!(errors[0].line, Some(1));
        let first = format!("{}:9", dir.path().join("a.yaml").display());
        assert!(errors[0].reason.contains(&first), "{}", errors[0]);
        assert!(
            errors[0].reason.contains("Service default/web"),
            "{}",
            errors[0]
        );
        // Same name, other kind: no conflict.
        assert!(view.nodes.contains_key("node-a"));
    }

    #[test]
    fn unchanged_files_are_not_parsed_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.yaml");
        write(dir.path(), "svc.yaml", &service("web", 1));
        let mut source = ManifestDir::new(dir.path());
        assert_eq!(
            port_of(&source.load().0, &ObjectKey::new("default", "web")),
            1
        );
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();

        // Same size, same inode, same mtime: the new content must go unseen.
        write(dir.path(), "svc.yaml", &service("web", 2));
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert_eq!(
            port_of(&source.load().0, &ObjectKey::new("default", "web")),
            1
        );

        let later = mtime + Duration::from_secs(1);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(
            port_of(&source.load().0, &ObjectKey::new("default", "web")),
            2
        );
    }

    #[test]
    fn replacing_a_file_by_rename_is_seen_even_with_the_same_size_and_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("svc.yaml");
        write(dir.path(), "svc.yaml", &service("web", 1));
        let mut source = ManifestDir::new(dir.path());
        assert_eq!(
            port_of(&source.load().0, &ObjectKey::new("default", "web")),
            1
        );
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();

        let temp = dir.path().join(".svc.yaml.tmp");
        write(dir.path(), ".svc.yaml.tmp", &service("web", 2));
        fs::File::options()
            .write(true)
            .open(&temp)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        fs::rename(&temp, &path).unwrap();
        assert_eq!(
            port_of(&source.load().0, &ObjectKey::new("default", "web")),
            2
        );
    }

    #[test]
    fn missing_directory_is_an_unsynced_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let (view, errors) = ManifestDir::new(&missing).load();
        assert!(!view.synced);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, missing);
        assert!(errors[0].to_string().contains("nope"), "{}", errors[0]);
    }

    #[test]
    fn vanished_directory_keeps_the_last_objects_but_unsyncs() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("manifests");
        fs::create_dir(&dir).unwrap();
        write(&dir, "a.yaml", &service("a", 1));
        let mut source = ManifestDir::new(&dir);
        assert!(source.load().0.synced);
        fs::remove_dir_all(&dir).unwrap();
        let (view, errors) = source.load();
        assert!(!view.synced);
        assert_eq!(errors[0].path, dir);
        assert_eq!(service_names(&view), vec!["default/a"]);
    }

    #[test]
    fn empty_directory_is_synced_and_empty() {
        let dir = tempfile::tempdir().unwrap();
        let (view, errors) = ManifestDir::new(dir.path()).load();
        assert_eq!(errors, vec![]);
        assert!(view.synced);
        assert!(view.services.is_empty());
    }

    #[test]
    fn non_utf8_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("bin.yaml"), [0xff, 0xfe, 0x00, b'a']).unwrap();
        let (view, errors) = ManifestDir::new(dir.path()).load();
        assert!(!view.synced);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, None);
    }
}
