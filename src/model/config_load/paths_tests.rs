//! Paths: `~`, and relative paths in the file taken from its directory.

use std::path::{Path, PathBuf};

use super::paths::{file_dir, resolve};
use super::test_util::{base_env, env_of, file, flags, load_file};
use super::*;

/// The path a loaded config holds for a path-shaped key.
fn path_at(config: &crate::model::config::Config, key: &str) -> PathBuf {
    match key {
        "source.manifests" => config.source.manifests.clone().unwrap(),
        "source.kubeconfig" => config.source.kubeconfig.clone().unwrap(),
        "admin.socket" => config.admin_socket.clone(),
        other => panic!("{other}: a path key this test does not know"),
    }
}

/// Every `Shape::Path` key of the schema (nested key paths).
fn path_keys() -> Vec<&'static str> {
    KEYS.iter()
        .map(|(key, _)| *key)
        .filter(|key| *schema::leaf_shape(key) == Shape::Path)
        .collect()
}

/// `source: {manifests: VALUE}` for `source.manifests`.
fn yaml_setting(key: &str, value: &str) -> String {
    let (outer, inner) = key.split_once('.').unwrap();
    format!("{outer}:\n  {inner}: {value}\n")
}

#[test]
fn relative_paths_in_the_file_are_taken_from_its_directory() {
    let keys = path_keys();
    assert_eq!(
        keys,
        ["source.manifests", "source.kubeconfig", "admin.socket"]
    );
    for key in keys {
        for (written, want) in [
            ("rel/x", "rel/x"),
            ("./rel/./x", "rel/x"),
            ("../up", "../up"),
        ] {
            let (cfg, f) = load_file(&yaml_setting(key, written));
            let got = path_at(&cfg.unwrap(), key);
            assert_eq!(got, f.dir.path().join(want), "{key}: {written}");
        }
        let (cfg, _f) = load_file(&yaml_setting(key, "/abs/x"));
        assert_eq!(path_at(&cfg.unwrap(), key), Path::new("/abs/x"), "{key}");
    }
    let (cfg, f) = load_file(
        "bgp: {peers: [{address: 10.0.0.1, asn: 1, passwordFile: secrets/pw}, {address: 10.0.0.2, asn: 1, passwordFile: /pw}]}\n",
    );
    let peers = cfg.unwrap().bgp.peers;
    assert_eq!(
        peers[0].password_file,
        Some(f.dir.path().join("secrets/pw"))
    );
    assert_eq!(peers[1].password_file, Some("/pw".into()));
}

#[test]
fn relative_paths_from_env_and_flags_stay_relative_to_the_working_directory() {
    let f = file("source: {kubeconfig: kc}\n");
    let mut fl = flags(&[
        "--source-manifests=m",
        "--bgp-peers=[{address: 10.0.0.1, asn: 1, passwordFile: pw}]",
    ]);
    fl.config = Some(f.path.clone());
    let mut env = base_env();
    env.push(("KROUTE_ADMIN_SOCKET", "run/k.sock"));
    let cfg = load_config(&fl, &env_of(&env)).unwrap();
    assert_eq!(cfg.source.manifests, Some("m".into()));
    assert_eq!(cfg.admin_socket, PathBuf::from("run/k.sock"));
    assert_eq!(cfg.bgp.peers[0].password_file, Some("pw".into()));
    // The file's own relative path still follows the file.
    assert_eq!(cfg.source.kubeconfig, Some(f.dir.path().join("kc")));
}

#[test]
fn paths_expand_home() {
    let (cfg, _f) = load_file(
        "source: {manifests: ~/m}\nadmin: {socket: ~/s.sock}\nbgp: {peers: [{address: 10.0.0.1, asn: 1, passwordFile: ~/pw}]}\n",
    );
    let cfg = cfg.unwrap();
    assert_eq!(cfg.source.manifests, Some("/home/test/m".into()));
    assert_eq!(cfg.admin_socket, PathBuf::from("/home/test/s.sock"));
    assert_eq!(cfg.bgp.peers[0].password_file, Some("/home/test/pw".into()));
    // `~user` is not ours to expand: it is a relative path like any other.
    let (cfg, f) = load_file("source: {manifests: ~bob/m}\n");
    assert_eq!(
        cfg.unwrap().source.manifests,
        Some(f.dir.path().join("~bob/m"))
    );
    let cfg = load_config(&flags(&["--source-manifests=~/m"]), &env_of(&base_env())).unwrap();
    assert_eq!(cfg.source.manifests, Some("/home/test/m".into()));
}

#[test]
fn a_file_in_the_working_directory_keeps_paths_relative_to_it() {
    assert_eq!(file_dir(Path::new("kroute.yaml")), Path::new("."));
    assert_eq!(file_dir(Path::new("etc/kroute.yaml")), Path::new("etc"));
    let dot = file_dir(Path::new("kroute.yaml"));
    assert_eq!(resolve("m", None, Some(&dot)), Ok(PathBuf::from("m")));
    assert_eq!(resolve(".", None, Some(&dot)), Ok(PathBuf::from(".")));
    assert_eq!(
        resolve(" ./a/./b ", None, Some(Path::new("etc"))),
        Ok(PathBuf::from("etc/a/b"))
    );
    assert_eq!(resolve("  ", None, None), Err("empty path".to_string()));
}
