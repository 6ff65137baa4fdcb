//! The `kroute` command line: `run`, `plan`, `cleanup`, `check-config`,
//! `status`, `bgp`, `version`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use kroute::bgp::SpeakerSlot;
use kroute::bgp::restart_marker;
use kroute::host::health_check::HealthCheckServers;
use kroute::host::linux::nft_exec::NftRunner;
use kroute::host::linux::nft_rules_read::snapshot_with_rules;
use kroute::host::linux::{BgpBackend, LinuxHost};
use kroute::host::plan_display::PlanView;
use kroute::model::ClusterView;
use kroute::model::SourceUpdate;
use kroute::model::annotations::InvalidAnnotation;
use kroute::model::config::{Config, ProxyMode};
use kroute::model::config_load::{ConfigFlags, load_config};
use kroute::source::kube as kube_source;
use kroute::source::kube::{KubeSourceSettings, run_kube_source};
use kroute::source::manifests::ManifestDir;
use kroute::source::standalone::run_manifest_source;
use kroute::sync::Reconciler;
use kroute::sync::reconciler::ReconcilerSettings;
use kroute::sync::run_loop::run_reconcile_loop;
use kroute::sync::schedule::SyncSchedule;

/// Exit code for a bad configuration (nothing was touched).
const EXIT_CONFIG: u8 = 2;
/// Exit code of `plan --exit-code` when changes are pending.
const EXIT_CHANGES_PENDING: u8 = 2;
/// Exit code of `kroute bgp` when BGP is disabled or the speaker is not running.
const EXIT_BGP_NOT_RUNNING: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "kroute",
    version,
    about = "Kubernetes service proxy (nftables) and BGP announcer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Watch the sources, program the dataplane, keep it converged (until SIGTERM).
    Run {
        #[command(flatten)]
        config: ConfigFlags,
    },
    /// Print what `run` would change on this host, changing nothing.
    Plan {
        #[command(flatten)]
        config: ConfigFlags,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Exit 2 when changes are pending.
        #[arg(long)]
        exit_code: bool,
    },
    /// Remove everything kroute owns on this host (idempotent).
    Cleanup {
        #[command(flatten)]
        config: ConfigFlags,
        /// Also remove kube-proxy's leftovers: nftables tables, iptables KUBE-* chains, IPVS services on kube-ipvs0.
        #[arg(long)]
        kube_proxy: bool,
    },
    /// Load and validate the configuration (file, env, flags) and exit:
    /// 0 when `run` would accept it, 2 with every error otherwise.
    CheckConfig {
        #[command(flatten)]
        config: ConfigFlags,
    },
    /// Ask the running agent (over its admin socket) how it is doing.
    Status {
        #[command(flatten)]
        config: ConfigFlags,
        /// Print the JSON status document instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Sessions and routes of the running agent's BGP speaker (over its admin socket).
    Bgp {
        #[command(subcommand)]
        command: BgpCommand,
    },
    /// Print the version.
    Version,
}

#[derive(Subcommand, Debug)]
enum BgpCommand {
    /// One line per peer: address, AS, state, uptime, routes and updates sent/received, last down reason.
    Peers {
        #[command(flatten)]
        config: ConfigFlags,
        /// Print the JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The routes this node originates, or with --peer what one peer was sent and sent us.
    Routes {
        #[command(flatten)]
        config: ConfigFlags,
        /// Show this peer's routes: advertised to it (attributes as sent) and received from it.
        #[arg(long, value_name = "IP")]
        peer: Option<std::net::IpAddr>,
        /// With --peer: only the routes received from the peer.
        #[arg(long, requires = "peer")]
        received: bool,
        /// Print the JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Version => {
            println!("kroute {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { config } => with_config(&config, run),
        Command::Plan {
            config,
            json,
            exit_code,
        } => with_config(&config, |c| plan(c, json, exit_code)),
        Command::CheckConfig { config } => with_config(&config, check_config),
        Command::Cleanup { config, kube_proxy } => {
            with_config(&config, |_| cleanup_host(kube_proxy))
        }
        Command::Status { config, json } => with_config(&config, |c| status(c, json)),
        Command::Bgp {
            command: BgpCommand::Peers { config, json },
        } => with_config(&config, |c| bgp(c, BgpQuery::Peers, json)),
        Command::Bgp {
            command:
                BgpCommand::Routes {
                    config,
                    peer,
                    received,
                    json,
                },
        } => with_config(&config, |c| {
            bgp(c, BgpQuery::Routes { peer, received }, json)
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kroute: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `KROUTE_LOG` (tracing's filter syntax), default `info`; kube-rs' client is
/// silenced by default because the source logs every watch failure itself.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KROUTE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube_client=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Loads the configuration; a bad one exits 2 before anything is touched.
fn with_config(
    flags: &ConfigFlags,
    f: impl FnOnce(Config) -> Result<ExitCode>,
) -> Result<ExitCode> {
    match load_config(flags, &|k| std::env::var(k).ok()) {
        Ok(config) => f(config),
        Err(e) => {
            for e in e.list() {
                eprintln!("kroute: {e}");
            }
            Ok(ExitCode::from(EXIT_CONFIG))
        }
    }
}

fn settings(config: &Config) -> ReconcilerSettings {
    ReconcilerSettings {
        node_name: config.node_name.clone(),
        proxy: config.proxy.clone(),
        proxy_name: None,
        bgp: config.bgp.clone(),
    }
}

/// Where the cluster view comes from.
enum SourceChoice {
    /// `source.manifests`: a directory of manifests (standalone).
    Manifests(std::path::PathBuf),
    /// The Kubernetes API (`source.kubeconfig`, else in-cluster).
    Kube(Option<std::path::PathBuf>),
}

/// Checks what this build can run; exits 2 (like a config error) otherwise.
fn supported(config: &Config) -> Result<SourceChoice, String> {
    if config.proxy.mode == ProxyMode::Ipvs {
        return Err(
            "proxy.mode: \"ipvs\" is not available in this build yet; use \"nftables\"".into(),
        );
    }
    // A missing or unreadable manifests directory or kubeconfig is a config
    // error (exit 2), every problem listed.
    if let Err(e) = kroute::model::config_load::check_sources(config) {
        let lines: Vec<String> = e.list().iter().map(|e| e.to_string()).collect();
        return Err(lines.join("\nkroute: "));
    }
    Ok(match &config.source.manifests {
        Some(dir) => SourceChoice::Manifests(dir.clone()),
        None => SourceChoice::Kube(config.source.kubeconfig.clone()),
    })
}

fn kube_settings(config: &Config) -> KubeSourceSettings {
    KubeSourceSettings {
        node_name: config.node_name.clone(),
        // The BGP mesh and route reflection (rr.server / rr.client, with
        // or without nodesFullMesh) need every Node; the proxy only this one.
        watch_all_nodes: config.bgp.enabled,
    }
}

/// Starts the configured source; it sends views on `tx` until it is dropped.
async fn spawn_source(
    config: &Config,
    source: SourceChoice,
    tx: tokio::sync::mpsc::Sender<SourceUpdate>,
    invalid: Option<tokio::sync::mpsc::UnboundedReceiver<InvalidAnnotation>>,
) -> Result<tokio::task::JoinHandle<()>> {
    Ok(match source {
        SourceChoice::Manifests(dir) => {
            tracing::info!(manifests = %dir.display(), "reading Services from a manifests directory");
            tokio::spawn(run_manifest_source(
                dir,
                config.proxy.sync_period,
                config.node_name.clone(),
                tx,
            ))
        }
        SourceChoice::Kube(kubeconfig) => {
            let client = kube_source::client(kubeconfig.as_deref()).await?;
            tracing::info!(kubeconfig = ?kubeconfig, "watching the Kubernetes API");
            tokio::spawn(run_kube_source(client, kube_settings(config), tx, invalid))
        }
    })
}

fn check_config(config: Config) -> Result<ExitCode> {
    let source = match supported(&config) {
        Ok(source) => source,
        Err(e) => {
            eprintln!("kroute: {e}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let from = match source {
        SourceChoice::Manifests(dir) => format!("manifests in {}", dir.display()),
        SourceChoice::Kube(Some(path)) => format!("the Kubernetes API ({})", path.display()),
        SourceChoice::Kube(None) => "the Kubernetes API (in-cluster config)".to_string(),
    };
    println!(
        "config ok: node {}, {} dataplane, Services from {from}",
        config.node_name,
        match config.proxy.mode {
            ProxyMode::Nftables => "nftables",
            ProxyMode::Ipvs => "ipvs",
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn run(config: Config) -> Result<ExitCode> {
    let source = match supported(&config) {
        Ok(source) => source,
        Err(e) => {
            eprintln!("kroute: {e}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        // side servers: health, metrics and the admin socket, fed by the loop.
        let telemetry = std::sync::Arc::new(kroute::telemetry::Telemetry::new(
            std::time::SystemTime::now(),
            config.proxy.sync_period,
        ));
        // The running BGP speaker's handle, set by the BGP backend.
        let bgp_slot = SpeakerSlot::new();
        let _side_servers =
            kroute::serve::spawn_side_servers(&config, telemetry.clone(), bgp_slot.clone())
                .await
                .context("starting the side servers")?;
        tracing::info!(node = %config.node_name, "kroute starting");
        if !config.proxy.enabled && !config.bgp.enabled {
            tracing::info!("proxy.enabled and bgp.enabled are false: nothing to program");
            shutdown_signal().await;
            return Ok(ExitCode::SUCCESS);
        }
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        // Invalid annotations become Kubernetes Events (API source only).
        let invalid = telemetry.take_invalid_annotation_feed();
        let source = spawn_source(&config, source, tx, invalid).await?;
        // healthCheckNodePort listeners: tasks of this runtime, answering
        // with the loop's health.
        let health_checks =
            HealthCheckServers::new(tokio::runtime::Handle::current(), telemetry.clone());
        let mut host = LinuxHost::new(NftRunner::default()).with_health_checks(health_checks);
        if config.bgp.enabled {
            host = host.with_bgp(bgp_backend(&config, bgp_slot));
        }
        let reconciler = Reconciler::new(host, settings(&config));
        let schedule = SyncSchedule::new(config.proxy.sync_period, config.proxy.min_sync_period);
        let mut reconciler =
            run_reconcile_loop(reconciler, rx, schedule, telemetry, shutdown_signal()).await;
        // Stop watching; the dataplane stays as it is.
        source.abort();
        stop_bgp(&config, reconciler.host_mut()).await;
        tracing::info!(
            "kroute stopped; the dataplane stays in place (`kroute cleanup` removes it)"
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// The BGP facets' backend, its speaker on this runtime. A fresh
/// graceful-stop marker (left by the last run) makes its first start a
/// graceful restart.
fn bgp_backend(config: &Config, slot: SpeakerSlot) -> BgpBackend {
    let marker = restart_marker::path_for(&config.admin_socket);
    let restarting = config.bgp.graceful_restart.enabled
        && restart_marker::take(&marker, std::time::SystemTime::now());
    if restarting {
        tracing::info!(marker = %marker.display(), "BGP graceful restart: peers keep our routes until the first sync sets them");
    }
    BgpBackend::new(tokio::runtime::Handle::current(), slot).after_graceful_stop(restarting)
}

/// At exit, with `bgp.gracefulRestart.enabled`: close every session without
/// withdrawing (peers keep our routes for the restart time) and leave the
/// marker for the next start. Without: withdraw and close (Cease /
/// Administrative Shutdown).
async fn stop_bgp(config: &Config, host: &mut LinuxHost) {
    let Some(speaker) = host.bgp_mut().and_then(BgpBackend::take_speaker) else {
        return;
    };
    let gr = &config.bgp.graceful_restart;
    if let Err(e) = speaker.shutdown(gr.enabled).await {
        tracing::warn!(error = %e, "BGP speaker stop");
    }
    if !gr.enabled {
        tracing::info!("BGP speaker stopped: routes withdrawn, sessions closed");
        return;
    }
    let marker = restart_marker::path_for(&config.admin_socket);
    match restart_marker::write(&marker, std::time::SystemTime::now(), gr.restart_time) {
        Ok(()) => tracing::info!(
            marker = %marker.display(),
            restart_time = ?gr.restart_time,
            "BGP speaker stopped gracefully: peers keep our routes for the restart time"
        ),
        Err(e) => tracing::warn!(error = %e, "the next start will not be a graceful restart"),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn plan(config: Config, json: bool, exit_code: bool) -> Result<ExitCode> {
    let source = match supported(&config) {
        Ok(source) => source,
        Err(e) => {
            eprintln!("kroute: {e}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let view = match source {
        SourceChoice::Manifests(dir) => {
            let (view, errors): (ClusterView, _) = ManifestDir::new(&dir).load();
            for e in &errors {
                eprintln!("kroute: manifest error: {e}");
            }
            view
        }
        SourceChoice::Kube(kubeconfig) => first_kube_view(&config, kubeconfig)?,
    };
    let mut host = LinuxHost::new(NftRunner::default());
    // The rules of the chains too, to show an updated chain's rules against
    // those it has now.
    let (current, rules) = snapshot_with_rules(&mut host).context("reading the kroute tables")?;
    let reconciler = Reconciler::new(host, settings(&config));
    let planned = reconciler.plan_full(&view, &current);
    let report = &planned.report;
    for e in &report.invalid_annotations {
        eprintln!("kroute: {e}");
    }
    for e in &report.invalid_services {
        eprintln!("kroute: {e}");
    }
    if report.deletes_withheld > 0 {
        eprintln!(
            "kroute: {} deletes withheld: some manifest files have never parsed",
            report.deletes_withheld
        );
    }
    let view = PlanView {
        plan: &planned.plan,
        current: &current,
        nft_rules: &rules,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&view.json()?)?);
    } else {
        print!("{}", view.human());
    }
    if exit_code && !planned.plan.is_empty() {
        return Ok(ExitCode::from(EXIT_CHANGES_PENDING));
    }
    Ok(ExitCode::SUCCESS)
}

/// One complete view from the Kubernetes API (every watcher listed once).
fn first_kube_view(config: &Config, kubeconfig: Option<std::path::PathBuf>) -> Result<ClusterView> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let client = kube_source::client(kubeconfig.as_deref()).await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let source = tokio::spawn(run_kube_source(client, kube_settings(config), tx, None));
        let first = rx.recv().await.context("the Kubernetes source stopped")?;
        source.abort();
        Ok(std::sync::Arc::unwrap_or_clone(first.view))
    })
}

/// `kroute status`: asks the running agent over its admin socket; exits 1
/// (naming the socket) when no agent answers.
fn status(config: Config, json: bool) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let doc = runtime.block_on(kroute::serve::client::fetch_status(&config.admin_socket))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", doc.render_human());
    }
    Ok(ExitCode::SUCCESS)
}

/// What `kroute bgp` asks for.
enum BgpQuery {
    Peers,
    Routes {
        peer: Option<std::net::IpAddr>,
        received: bool,
    },
}

/// `kroute bgp peers|routes`: asks the running agent over its admin socket;
/// exits 3 when BGP is disabled or its speaker is not running, 1 (naming
/// the socket) when no agent answers.
fn bgp(config: Config, query: BgpQuery, json: bool) -> Result<ExitCode> {
    use kroute::serve::bgp_doc::{PeerRoutesDoc, PeersDoc, RibDoc};
    use kroute::serve::client::{BgpRequest, fetch_bgp};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let socket = &config.admin_socket;
    let fetched = runtime.block_on(async {
        Ok::<_, kroute::serve::ServeError>(match query {
            BgpQuery::Peers => {
                let doc: PeersDoc = fetch_bgp(socket, &BgpRequest::Peers).await?;
                (serde_json::to_string_pretty(&doc), doc.render_text())
            }
            BgpQuery::Routes { peer: None, .. } => {
                let doc: RibDoc = fetch_bgp(socket, &BgpRequest::Routes).await?;
                (serde_json::to_string_pretty(&doc), doc.render_text())
            }
            BgpQuery::Routes {
                peer: Some(peer),
                received,
            } => {
                let request = BgpRequest::PeerRoutes { peer, received };
                let doc: PeerRoutesDoc = fetch_bgp(socket, &request).await?;
                (serde_json::to_string_pretty(&doc), doc.render_text())
            }
        })
    });
    let (json_text, text) = match fetched {
        Ok(out) => out,
        Err(e @ kroute::serve::ServeError::BgpNotRunning { .. }) => {
            eprintln!("kroute: {e}");
            return Ok(ExitCode::from(EXIT_BGP_NOT_RUNNING));
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        println!("{}", json_text?);
    } else {
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `kroute cleanup`: every step runs even when one fails; exit 1 if any did.
fn cleanup_host(kube_proxy: bool) -> Result<ExitCode> {
    let report = kroute::host::linux::cleanup_host(&NftRunner::default(), kube_proxy);
    for line in &report.done {
        println!("{line}");
    }
    for e in &report.errors {
        eprintln!("kroute: {e}");
    }
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
