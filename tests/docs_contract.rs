//! The user documentation in `docs/` keeps up with the code: every config key
//! the loader accepts (from its own key table), every annotation the parsers
//! read (from the parsers), every subcommand and flag of the binary (from its
//! `--help`) is documented, and no documented annotation is unknown.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use kroute::model::annotations::{NodeAnnotations, ServiceAnnotations};
use kroute::model::config_load::{KEYS, PEER_KEYS, env_name};

fn doc(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `needle` as inline code: `` `needle` ``, or `` `needle `` followed by a
/// value placeholder (`` `--config FILE` ``).
fn mentions_code(text: &str, needle: &str) -> bool {
    text.contains(&format!("`{needle}`")) || text.contains(&format!("`{needle} "))
}

fn missing<'a>(text: &str, needles: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    needles
        .into_iter()
        .filter(|n| !mentions_code(text, n))
        .cloned()
        .collect()
}

#[test]
fn every_config_key_flag_and_env_var_is_in_config_md() {
    let text = doc("config.md");
    let mut wanted = Vec::new();
    for (key, flag) in KEYS {
        wanted.push(key.to_string());
        wanted.push(format!("--{flag}"));
        wanted.push(env_name(flag));
    }
    for (peer_key, _) in PEER_KEYS {
        wanted.push(format!("bgp.peers[].{peer_key}"));
    }
    assert_eq!(
        missing(&text, &wanted),
        Vec::<String>::new(),
        "not in docs/config.md"
    );
    assert!(wanted.len() > 80, "the key table went missing: {wanted:?}");
}

/// Annotation keys in the first column of the doc's tables.
fn documented_annotation_keys(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(key, _)| key.to_string()))
        .filter(|key| key.starts_with("kube-router.io/") || key.starts_with("kroute.io/"))
        .collect()
}

#[test]
fn every_annotation_the_parsers_read_is_in_annotations_md_and_no_other() {
    let text = doc("annotations.md");
    let service = ServiceAnnotations::accepted_keys();
    let node = NodeAnnotations::accepted_keys();
    assert!(
        service.len() >= 10 && node.len() >= 10,
        "{service:?} {node:?}"
    );
    let accepted: BTreeSet<String> = service.iter().chain(&node).cloned().collect();
    let documented = documented_annotation_keys(&text);
    let undocumented: Vec<&String> = accepted.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "read by the parsers, not in a table of docs/annotations.md: {undocumented:?}"
    );
    let unknown: Vec<&String> = documented.difference(&accepted).collect();
    assert!(
        unknown.is_empty(),
        "documented in docs/annotations.md, read by no parser: {unknown:?}"
    );
    for section in [
        "## Service annotations",
        "## Node annotations",
        "kroute.io/",
    ] {
        assert!(text.contains(section), "{section}");
    }
}

fn kroute(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kroute"))
        .args(args)
        .env_remove("KROUTE_CONFIG")
        .output()
        .expect("run kroute");
    assert!(out.status.success(), "kroute {args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8 help")
}

/// The subcommands listed by `kroute --help` (without `help`).
fn subcommands() -> Vec<String> {
    let help = kroute(&["--help"]);
    let section = help
        .split("Commands:\n")
        .nth(1)
        .expect("a Commands section")
        .split("\n\n")
        .next()
        .unwrap();
    section
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(String::from)
        .collect()
}

/// `(flag, help text)` of every option in a `--help` output.
fn options(help: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = help.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let trimmed = match trimmed.strip_prefix('-') {
            Some(rest) if !rest.starts_with('-') => match rest.split_once(", ") {
                Some((_, long)) => long,
                None => continue, // short-only: none here
            },
            _ => trimmed,
        };
        let Some(rest) = trimmed.strip_prefix("--") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let after = rest[name.len()..].trim_start();
        let after = match after.strip_prefix('<') {
            Some(v) => v.split_once('>').map(|(_, r)| r).unwrap_or(""),
            None => after,
        };
        let mut text = after.trim().to_string();
        if text.is_empty()
            && let Some(next) = lines.get(i + 1)
            && !next.trim_start().starts_with('-')
        {
            text = next.trim().to_string();
        }
        out.push((format!("--{name}"), text));
    }
    out
}

#[test]
fn every_command_and_flag_is_in_cli_md_and_has_help_text() {
    let text = doc("cli.md");
    let commands = subcommands();
    for want in ["run", "plan", "cleanup", "version"] {
        assert!(
            commands.iter().any(|c| c == want),
            "{want} not in {commands:?}"
        );
    }
    let mut undocumented = Vec::new();
    let mut no_help = Vec::new();
    for command in &commands {
        if !text.contains(&format!("## `kroute {command}`")) {
            undocumented.push(format!("kroute {command}"));
        }
        let help = kroute(&[command, "--help"]);
        for (flag, help_text) in options(&help) {
            if flag == "--help" || flag == "--version" {
                continue;
            }
            if help_text.is_empty() {
                no_help.push(format!("kroute {command} {flag}"));
            }
            if !mentions_code(&text, &flag) {
                undocumented.push(format!("kroute {command} {flag}"));
            }
        }
    }
    assert_eq!(undocumented, Vec::<String>::new(), "not in docs/cli.md");
    assert_eq!(no_help, Vec::<String>::new(), "no help text in --help");
}

#[test]
fn help_parsing_sees_every_config_flag() {
    // Guards the parser above: `run --help` lists every config flag.
    let help = kroute(&["run", "--help"]);
    let flags: BTreeSet<String> = options(&help).into_iter().map(|(f, _)| f).collect();
    for (_, flag) in KEYS {
        assert!(flags.contains(&format!("--{flag}")), "--{flag} not seen");
    }
}

#[test]
fn readme_points_to_docs_not_to_the_spec() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    assert!(
        !readme.contains("shared/spec"),
        "README links outside the repo"
    );
    for page in ["cli.md", "config.md", "annotations.md", "host.md"] {
        assert!(
            readme.contains(&format!("docs/{page}")),
            "README: no link to docs/{page}"
        );
    }
}
