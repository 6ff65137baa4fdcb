//! API-server tier: a real etcd + kube-apiserver (v1.37, built from the
//! `k8s.io/kubernetes` Go module by `scripts/k8s-binaries.sh`, cached outside
//! the work tree) started inside a test's network namespace on 127.0.0.1, and
//! the matching kubectl to drive it. Certificates, keys, the token file, etcd's
//! data and the kubeconfigs live in a temp dir removed on drop; both processes
//! are killed by pid on drop.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::netns::NetNs;
use super::ns_process::NsProcess;
use super::wait::wait_for;

/// The Kubernetes version the binaries are built at (tests/k8s-bins/go.mod).
pub const K8S_VERSION: &str = "v1.37.2";
/// `--service-cluster-ip-range` of the test API server.
pub const SERVICE_RANGE: &str = "10.96.0.0/12";
/// How long etcd + kube-apiserver may take to become ready (they take a few
/// seconds; the bound is generous for a loaded 2-core machine).
const READY_BOUND: Duration = Duration::from_secs(120);

static BINARIES: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// Runs `scripts/k8s-binaries.sh` once per test process (it builds the
/// binaries on a fresh machine, minutes; otherwise returns at once) under a
/// file lock, so test processes running in parallel never build concurrently.
fn build_binaries() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cache = std::env::var_os("KROUTE_K8S_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/kroute"));
    std::fs::create_dir_all(&cache).map_err(|e| format!("create {}: {e}", cache.display()))?;
    let lock_path = cache.join("k8s-binaries.lock");
    let lock = File::create(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("lock {}: {e}", lock_path.display()))?;
    let out = Command::new("bash")
        .arg(root.join("scripts/k8s-binaries.sh"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("spawn scripts/k8s-binaries.sh: {e}"))?;
    drop(lock);
    if !out.status.success() {
        return Err(format!(
            "scripts/k8s-binaries.sh failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    for bin in ["kube-apiserver", "etcd", "kubectl", "kube-proxy"] {
        if !dir.join(bin).is_file() {
            return Err(format!(
                "scripts/k8s-binaries.sh printed {}, which has no {bin}",
                dir.display()
            ));
        }
    }
    Ok(dir)
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// Checks that the API-server tier can run: root, `ip` and `openssl`, and
/// the Kubernetes binaries (built now if missing, which needs Go). Returns
/// `false` (after printing why) when the test should be skipped; under `CI`
/// a missing requirement is a failure. A build that fails with Go present
/// is a failure too, never a skip.
pub fn apiserver_tier_available() -> bool {
    if !super::kernel_tier_available(&["ip", "openssl"]) {
        return false;
    }
    match BINARIES.get_or_init(build_binaries) {
        Ok(_) => true,
        Err(e) if !on_path("go") => {
            let why =
                format!("API-server tier needs Go 1.26 to build the Kubernetes binaries ({e})");
            if std::env::var_os("CI").is_some() {
                panic!("{why} (CI is set: a skipped tier is a failure)");
            }
            eprintln!("SKIPPED: {why}");
            false
        }
        Err(e) => panic!("{e}"),
    }
}

/// The directory holding kube-apiserver, kube-proxy, kubectl and etcd at
/// [`K8S_VERSION`]; builds them once per test process when missing. Panics
/// when they cannot be had: call [`apiserver_tier_available`] first to skip.
pub fn k8s_binaries() -> PathBuf {
    match BINARIES.get_or_init(build_binaries) {
        Ok(dir) => dir.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// Free loopback TCP ports inside the namespace (bound at once, then released).
fn free_ports(ns: &NetNs, n: usize) -> Vec<u16> {
    super::ns_thread::run(&ns.path(), move || {
        let listeners: Vec<TcpListener> = (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
            .collect();
        listeners
            .iter()
            .map(|l| l.local_addr().expect("local addr").port())
            .collect()
    })
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("spawn openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// X.509 extensions of the CA and the serving certificate.
const OPENSSL_CNF: &str = "[req]
distinguished_name = dn
prompt = no
[dn]
CN = kroute-test-ca
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1,DNS:localhost,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
";

/// In `dir`: `ca.crt`/`ca.key`, `server.crt`/`server.key` (the SANs above),
/// `sa.key`/`sa.pub` (RSA, for service-account tokens).
fn make_pki(dir: &Path) {
    std::fs::write(dir.join("openssl.cnf"), OPENSSL_CNF).expect("write openssl.cnf");
    // EC keys for the TLS pair: generated instantly, and Go serves them.
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-config",
        "openssl.cnf",
        "-extensions",
        "ca",
    ];
    ca.extend_from_slice(&ec);
    ca.extend_from_slice(&["-keyout", "ca.key", "-out", "ca.crt", "-days", "2"]);
    openssl(dir, &ca);
    let mut csr = vec![
        "req",
        "-new",
        "-config",
        "openssl.cnf",
        "-subj",
        "/CN=kube-apiserver",
    ];
    csr.extend_from_slice(&ec);
    csr.extend_from_slice(&["-keyout", "server.key", "-out", "server.csr"]);
    openssl(dir, &csr);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            "server",
            "-out",
            "server.crt",
        ],
    );
    openssl(dir, &["genrsa", "-out", "sa.key", "2048"]);
    openssl(dir, &["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
}

/// A kubeconfig for `https://127.0.0.1:PORT` that trusts the CA (inline) and
/// authenticates as `user_name` with the bearer `token`.
fn write_kubeconfig(path: &Path, port: u16, ca_pem: &[u8], user_name: &str, token: &str) {
    use base64::Engine as _;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let yaml = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:{port}
    certificate-authority-data: {ca}
users:
- name: {user_name}
  user:
    token: {token}
contexts:
- name: test
  context:
    cluster: test
    user: {user_name}
current-context: test
"
    );
    std::fs::write(path, yaml).expect("write kubeconfig");
}

/// etcd and kube-apiserver inside a network namespace, reachable there on
/// `https://127.0.0.1:{port()}`.
pub struct ApiServer {
    ns: String,
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    apiserver_args: Vec<String>,
    etcd: Option<NsProcess>,
    apiserver: Option<NsProcess>,
    tokens: AtomicUsize,
}

impl ApiServer {
    /// Makes the PKI and token file, starts etcd (fresh data dir) and
    /// kube-apiserver in `ns`, and waits until `/readyz` answers ok.
    /// Panics (with both logs) if they do not come up.
    pub fn start(ns: &NetNs) -> ApiServer {
        let bin = k8s_binaries();
        let t0 = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("kroute-apiserver-")
            .tempdir()
            .expect("create apiserver temp dir");
        let d = dir.path();
        make_pki(d);
        let admin_token = random_hex(16);
        std::fs::write(
            d.join("tokens.csv"),
            format!("{admin_token},admin,admin-uid,system:masters\n"),
        )
        .expect("write token file");
        let ports = free_ports(ns, 3);
        let (port, etcd_client, etcd_peer) = (ports[0], ports[1], ports[2]);
        let ca_pem = std::fs::read(d.join("ca.crt")).expect("read ca.crt");
        write_kubeconfig(
            &d.join("admin.kubeconfig"),
            port,
            &ca_pem,
            "admin",
            &admin_token,
        );

        let path = |name: &str| d.join(name).display().to_string();
        let client_url = format!("http://127.0.0.1:{etcd_client}");
        let peer_url = format!("http://127.0.0.1:{etcd_peer}");
        let etcd_args = [
            bin.join("etcd").display().to_string(),
            "--name=test".into(),
            format!("--data-dir={}", path("etcd")),
            format!("--listen-client-urls={client_url}"),
            format!("--advertise-client-urls={client_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=test={peer_url}"),
            "--unsafe-no-fsync".into(),
            "--log-level=warn".into(),
        ];
        let apiserver_args = vec![
            bin.join("kube-apiserver").display().to_string(),
            format!("--etcd-servers={client_url}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", path("apiserver-certs")),
            format!("--tls-cert-file={}", path("server.crt")),
            format!("--tls-private-key-file={}", path("server.key")),
            format!("--client-ca-file={}", path("ca.crt")),
            format!("--token-auth-file={}", path("tokens.csv")),
            "--authorization-mode=RBAC".into(),
            format!("--service-cluster-ip-range={SERVICE_RANGE}"),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", path("sa.pub")),
            format!("--service-account-signing-key-file={}", path("sa.key")),
            "--disable-admission-plugins=ServiceAccount".into(),
            // A loopback advertise address makes the default reconciler refuse to start.
            "--endpoint-reconciler-type=none".into(),
            "--profiling=false".into(),
        ];
        let etcd_argv: Vec<&str> = etcd_args.iter().map(String::as_str).collect();
        let etcd = NsProcess::spawn(ns, "etcd", &etcd_argv);
        let mut server = ApiServer {
            ns: ns.name.clone(),
            bin,
            dir,
            port,
            apiserver_args,
            etcd: Some(etcd),
            apiserver: None,
            tokens: AtomicUsize::new(0),
        };
        server.start_apiserver();
        eprintln!(
            "etcd + kube-apiserver up in {} after {:.1?} (certificates, keys and both processes)",
            server.ns,
            t0.elapsed()
        );
        server
    }

    /// The API server's port on 127.0.0.1 inside the namespace.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The temp dir holding the PKI and kubeconfigs (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate that signed the serving certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// A kubeconfig for the admin user (group `system:masters`).
    pub fn kubeconfig_admin(&self) -> PathBuf {
        self.dir.path().join("admin.kubeconfig")
    }

    /// The kubectl built with the server (v1.37), not the one on PATH.
    pub fn kubectl_bin(&self) -> PathBuf {
        self.bin.join("kubectl")
    }

    /// `kubectl --kubeconfig KUBECONFIG <args>` inside the namespace, with
    /// `stdin` fed to it when given; returns its output whatever the status.
    pub fn kubectl_with(&self, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns])
            .arg(self.kubectl_bin())
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("kubectl-cache"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn kubectl {args:?}: {e}"));
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("kubectl stdin");
            pipe.write_all(input.as_bytes())
                .expect("write kubectl stdin");
        }
        child.wait_with_output().expect("wait for kubectl")
    }

    /// `kubectl <args>` as admin; returns its output whatever the status.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with(&self.kubeconfig_admin(), args, None)
    }

    /// `kubectl <args>` as admin; panics with its stderr unless it succeeds.
    /// Returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        ok_stdout(&self.kubectl(args), args)
    }

    /// `kubectl apply -f -` of `yaml` as admin; panics on failure. Returns stdout.
    pub fn apply_yaml(&self, yaml: &str) -> String {
        let args = ["apply", "-f", "-"];
        ok_stdout(
            &self.kubectl_with(&self.kubeconfig_admin(), &args, Some(yaml)),
            &args,
        )
    }

    /// `kubectl create token SA -n NS`: a bound token for an existing
    /// ServiceAccount.
    pub fn create_token(&self, namespace: &str, serviceaccount: &str) -> String {
        self.kubectl_ok(&["create", "token", serviceaccount, "-n", namespace])
            .trim()
            .to_string()
    }

    /// Writes a kubeconfig that authenticates with `token` (and trusts the
    /// CA) into the temp dir and returns its path.
    pub fn kubeconfig_for_token(&self, token: &str) -> PathBuf {
        let n = self.tokens.fetch_add(1, Ordering::SeqCst);
        let path = self.dir.path().join(format!("token-{n}.kubeconfig"));
        let ca_pem = std::fs::read(self.ca_cert()).expect("read ca.crt");
        write_kubeconfig(&path, self.port, &ca_pem, &format!("token-{n}"), token);
        path
    }

    /// Stops only kube-apiserver (etcd keeps the data).
    pub fn stop_apiserver(&mut self) {
        if let Some(mut process) = self.apiserver.take() {
            process.stop();
        }
    }

    /// Starts kube-apiserver again (same port, same etcd) and waits until it
    /// is ready. Panics if it is already running or does not come up.
    pub fn start_apiserver(&mut self) {
        assert!(
            self.apiserver.is_none(),
            "kube-apiserver is already running"
        );
        let argv: Vec<&str> = self.apiserver_args.iter().map(String::as_str).collect();
        self.apiserver = Some(NsProcess::spawn_in(&self.ns, "kube-apiserver", &argv));
        self.wait_ready();
    }

    /// Polls `/readyz` until it says ok; panics with both logs if either
    /// process exits or [`READY_BOUND`] passes.
    fn wait_ready(&mut self) {
        let started = Instant::now();
        let ready = wait_for(READY_BOUND, || {
            for process in [&mut self.etcd, &mut self.apiserver].into_iter().flatten() {
                if let Some(status) = process.exited() {
                    return Some(Err(format!("{} exited ({status})", process.label)));
                }
            }
            let out = self.kubectl(&["get", "--raw", "/readyz"]);
            (out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok")
                .then_some(Ok(()))
        });
        let failure = match ready {
            Some(Ok(())) => {
                eprintln!(
                    "kube-apiserver ready on 127.0.0.1:{} in {} after {:.1?}",
                    self.port,
                    self.ns,
                    started.elapsed()
                );
                return;
            }
            Some(Err(e)) => e,
            None => format!("not ready after {READY_BOUND:?}"),
        };
        let logs: String = [&self.etcd, &self.apiserver]
            .into_iter()
            .flatten()
            .map(|p| format!("----- {} -----\n{}", p.label, p.log()))
            .collect();
        panic!("kube-apiserver in {}: {failure}\n{logs}", self.ns);
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        // The apiserver first, so it never sees etcd vanish; then etcd; the
        // temp dir (etcd's data) goes with the struct.
        drop(self.apiserver.take());
        drop(self.etcd.take());
    }
}

fn ok_stdout(out: &Output, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "kubectl {args:?} failed ({}):\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
