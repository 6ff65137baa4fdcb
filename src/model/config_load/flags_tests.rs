//! Flags: one per key, each read, each described in `--help`.

use clap::{CommandFactory, Parser};

use super::schema::leaf_shape;
use super::test_util::{Cli, base_env, env_of, flags};
use super::*;

#[test]
fn every_key_has_a_flag_and_an_env_var() {
    let cmd = Cli::command();
    for (key, flag) in KEYS {
        assert!(
            cmd.get_arguments().any(|a| a.get_long() == Some(flag)),
            "{key}: no flag --{flag}"
        );
        assert!(env_name(flag).starts_with("KROUTE_"));
        assert!(
            !matches!(leaf_shape(key), Shape::Map(_)),
            "{key} is not a leaf"
        );
    }
    assert_eq!(
        env_name("proxy-cluster-cidrs"),
        "KROUTE_PROXY_CLUSTER_CIDRS"
    );
}

#[test]
fn every_flag_has_help_text() {
    let cmd = Cli::command();
    let mut undocumented = Vec::new();
    for arg in cmd.get_arguments() {
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        if help.trim().is_empty() {
            undocumented.push(arg.get_id().to_string());
        }
    }
    assert_eq!(
        undocumented,
        Vec::<String>::new(),
        "flags without help text"
    );
    // Every flag of the struct is counted (the wrapper adds no argument).
    assert_eq!(
        cmd.get_arguments().count(),
        KEYS.len() + 1,
        "KEYS + --config"
    );
}

#[test]
fn every_flag_is_read() {
    // Give each flag a recognisable bad value; each must be reported as its own.
    let free_text = [
        "nodeName",
        "source.manifests",
        "source.kubeconfig",
        "admin.socket",
    ];
    let per_item = [
        "proxy.clusterCIDRs",
        "proxy.serviceCIDRs",
        "proxy.nodePortAddresses",
        "bgp.listenAddresses",
    ];
    for (key, flag) in KEYS {
        if free_text.contains(key) || per_item.contains(key) {
            continue; // free text, or lists reported per item below
        }
        let arg = format!("--{flag}=@bad@");
        let err = load_config(&flags(&[&arg]), &env_of(&base_env()))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(&format!("flag --{flag}: ")), "{err}");
    }
    for key in per_item {
        let flag = schema::flag_of(key);
        let good = if key == "bgp.listenAddresses" {
            "10.0.0.1"
        } else {
            "10.0.0.0/8"
        };
        let arg = format!("--{flag}={good},@bad@");
        let err = load_config(&flags(&[&arg]), &env_of(&base_env()))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("flag --{flag}: {key}[1]: ")) && err.ends_with("\"@bad@\""),
            "{err}"
        );
    }
    for key in free_text {
        let flag = schema::flag_of(key);
        let arg = format!("--{flag}=@free@");
        let cfg = load_config(&flags(&[&arg]), &env_of(&base_env())).unwrap();
        assert!(format!("{cfg:?}").contains("@free@"), "{key}: not applied");
    }
}

#[test]
fn every_schema_leaf_is_a_key() {
    fn leaves(schema: &[(&str, Shape)], prefix: &str, out: &mut Vec<String>) {
        for (name, shape) in schema {
            let path = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            };
            match shape {
                Shape::Map(inner) => leaves(inner, &path, out),
                _ => out.push(path),
            }
        }
    }
    let mut all = Vec::new();
    leaves(SCHEMA, "", &mut all);
    let keys: Vec<String> = KEYS.iter().map(|(k, _)| k.to_string()).collect();
    assert_eq!(all, keys);
}

#[test]
fn boolean_flags_take_a_value() {
    let cfg = load_config(
        &flags(&["--proxy-masquerade-all=true", "--bgp-enabled", "TRUE"]),
        &env_of(&base_env()),
    )
    .unwrap();
    assert!(cfg.proxy.masquerade_all && cfg.bgp.enabled);
    assert!(Cli::try_parse_from(["kroute", "--proxy-masquerade-all"]).is_err());
}
