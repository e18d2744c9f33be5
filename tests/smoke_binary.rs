//! Smoke test of a release binary, native or emulated: the magic-cookie message, the go-plugin
//! handshake line, and GetProviderSchema answered over AutoMTLS.
//!
//! `make smoke-arm64` runs it on the linux_arm64 build under qemu-aarch64. It is `#[ignore]`d
//! so `make test` never waits for an emulator; the binary and the command that runs it come
//! from the environment:
//!
//!   ECSX_SMOKE_BINARY=target/cross/aarch64-unknown-linux-gnu/release/terraform-provider-ecsx
//!   ECSX_SMOKE_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib"
//!                     (empty: run it directly; why LD_LIBRARY_PATH: GNUmakefile, QEMU_AARCH64)
//!   ECSX_SMOKE_TIMEOUT=300   (seconds for each step; emulation is slow)
//!   ECSX_SMOKE_PARENT_RUNNER="wine64 target/smoke-windows/wine_parent.exe"
//!                     (a command that starts the binary as its child and waits for it: the
//!                     parent-death test kills it and expects the plugin to exit; unset: that
//!                     test is skipped. `make smoke-windows` sets it.)

#[path = "support/mtls.rs"]
mod mtls;

use base64::Engine;
use ecsx::protocol::tfplugin6 as pb;
use ecsx::protocol::tfplugin6::provider_client::ProviderClient;
use mtls::ClientIdentity;
use rustls::pki_types::CertificateDer;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Target {
    binary: String,
    runner: Vec<String>,
    step: Duration,
}

fn words(var: &str) -> Vec<String> {
    std::env::var(var)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// What to run, from the environment; None (and a message saying how) when not set.
fn target() -> Option<Target> {
    let binary = match std::env::var("ECSX_SMOKE_BINARY") {
        Ok(b) if !b.is_empty() => b,
        _ => {
            eprintln!(
                "SKIP: ECSX_SMOKE_BINARY is not set; `make smoke-arm64` sets it to the linux_arm64 build"
            );
            return None;
        }
    };
    assert!(
        std::path::Path::new(&binary).is_file(),
        "ECSX_SMOKE_BINARY={binary} does not exist: build it first (make release-arm64)"
    );
    let runner = words("ECSX_SMOKE_RUNNER");
    let step = std::env::var("ECSX_SMOKE_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(300));
    Some(Target {
        binary,
        runner,
        step,
    })
}

impl Target {
    /// The binary (behind the runner, if any) with none of the plugin variables inherited.
    fn command(&self) -> Command {
        let mut cmd = match self.runner.split_first() {
            Some((prog, args)) => {
                let mut c = Command::new(prog);
                c.args(args).arg(&self.binary);
                c
            }
            None => Command::new(&self.binary),
        };
        for k in [
            ecsx::protocol::MAGIC_COOKIE_KEY,
            "PLUGIN_PROTOCOL_VERSIONS",
            "PLUGIN_CLIENT_CERT",
            "PLUGIN_MIN_PORT",
            "PLUGIN_MAX_PORT",
        ] {
            cmd.env_remove(k);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn describe(&self) -> String {
        if self.runner.is_empty() {
            self.binary.clone()
        } else {
            format!("{} {}", self.runner.join(" "), self.binary)
        }
    }
}

/// The running plugin; killed when dropped.
struct Plugin {
    child: Child,
    first_line: mpsc::Receiver<String>,
    /// Receives once stdout is closed: the plugin (and whatever else held its stdout) exited.
    stdout_closed: mpsc::Receiver<()>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Plugin {
    fn start(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().expect("start the provider");
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let (tx, first_line) = mpsc::channel();
        let (closed_tx, stdout_closed) = mpsc::channel();
        std::thread::spawn(move || {
            let mut rd = BufReader::new(out);
            let mut line = String::new();
            if rd.read_line(&mut line).is_ok() && !line.is_empty() {
                let _ = tx.send(line);
            }
            let _ = std::io::copy(&mut rd, &mut std::io::sink());
            let _ = closed_tx.send(());
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(err).read_to_string(&mut s);
            s
        });
        Plugin {
            child,
            first_line,
            stdout_closed,
            stderr: Some(stderr),
        }
    }

    fn kill_and_stderr(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs ECSX_SMOKE_BINARY; `make smoke-arm64` runs it"]
fn without_the_cookie_the_binary_says_it_is_a_plugin() {
    let Some(t) = target() else { return };
    let started = Instant::now();
    let out = t
        .command()
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", t.describe()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "{}: exit {:?} after {:?}",
        t.describe(),
        out.status.code(),
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains("This binary is a plugin for Terraform"),
        "no plugin message on stderr:\n{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing belongs on stdout");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs ECSX_SMOKE_BINARY; `make smoke-arm64` runs it"]
async fn handshake_then_get_provider_schema_over_automtls() {
    let Some(t) = target() else { return };
    let client = ClientIdentity::terraform_like();
    let mut cmd = t.command();
    cmd.env(
        ecsx::protocol::MAGIC_COOKIE_KEY,
        ecsx::protocol::MAGIC_COOKIE_VALUE,
    )
    .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
    .env("PLUGIN_CLIENT_CERT", &client.pem);
    let started = Instant::now();
    let mut plugin = Plugin::start(cmd);

    let line = match plugin.first_line.recv_timeout(t.step) {
        Ok(l) => l,
        Err(e) => panic!(
            "{}: no handshake line within {:?} ({e}); stderr:\n{}",
            t.describe(),
            t.step,
            plugin.kill_and_stderr()
        ),
    };
    let to_handshake = started.elapsed();
    eprintln!("handshake after {to_handshake:?}: {}", line.trim_end());
    let fields: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(fields.len(), 6, "handshake line: {line:?}");
    assert_eq!(&fields[..3], ["1", "6", "tcp"], "handshake line: {line:?}");
    assert_eq!(fields[4], "grpc", "handshake line: {line:?}");
    let addr: SocketAddr = fields[3].parse().expect("host:port in the handshake");
    assert!(addr.ip().is_loopback(), "listens on loopback only: {addr}");
    let server_cert = CertificateDer::from(
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(fields[5])
            .expect("the certificate is base64 without padding"),
    );

    let cfg = mtls::client_tls(
        &server_cert,
        mtls::Presents::Cert(&client),
        rustls::DEFAULT_VERSIONS,
    );
    let call = async {
        let channel = mtls::tls_channel(addr, cfg, t.step)
            .await
            .map_err(|e| format!("TLS connect: {e:?}"))?;
        ProviderClient::new(channel)
            .get_provider_schema(pb::get_provider_schema::Request {})
            .await
            .map_err(|s| format!("GetProviderSchema: {s}"))
    };
    let schema = match tokio::time::timeout(t.step, call).await {
        Ok(Ok(r)) => r.into_inner(),
        Ok(Err(e)) => panic!("{e}; stderr:\n{}", plugin.kill_and_stderr()),
        Err(_) => panic!(
            "GetProviderSchema: no answer within {:?}; stderr:\n{}",
            t.step,
            plugin.kill_and_stderr()
        ),
    };
    eprintln!(
        "GetProviderSchema answered {:?} after the handshake",
        started.elapsed() - to_handshake
    );
    let mut resources: Vec<&str> = schema.resource_schemas.keys().map(String::as_str).collect();
    resources.sort_unstable();
    assert_eq!(
        resources,
        ["ecsx_canary_deployment", "ecsx_primary_task_set"],
        "resource schemas"
    );
    assert!(
        schema.data_source_schemas.contains_key("ecsx_task_sets"),
        "data source schemas: {:?}",
        schema.data_source_schemas.keys()
    );
    assert!(
        !schema
            .diagnostics
            .iter()
            .any(|d| d.severity == pb::diagnostic::Severity::Error as i32),
        "{:?}",
        schema.diagnostics
    );
}

/// Terraform killed outright (no Shutdown call) must not leave the plugin running: it watches
/// its parent process and exits when that is gone. The binary runs as the child of
/// ECSX_SMOKE_PARENT_RUNNER, whose process is then killed.
#[test]
#[ignore = "needs ECSX_SMOKE_BINARY and ECSX_SMOKE_PARENT_RUNNER; `make smoke-windows` runs it"]
fn the_plugin_exits_when_its_parent_is_killed() {
    let Some(t) = target() else { return };
    let parent = words("ECSX_SMOKE_PARENT_RUNNER");
    if parent.is_empty() {
        eprintln!("SKIP: ECSX_SMOKE_PARENT_RUNNER is not set");
        return;
    }
    let client = ClientIdentity::terraform_like();
    let mut cmd = Command::new(&parent[0]);
    cmd.args(&parent[1..])
        .arg(&t.binary)
        .env(
            ecsx::protocol::MAGIC_COOKIE_KEY,
            ecsx::protocol::MAGIC_COOKIE_VALUE,
        )
        .env("PLUGIN_PROTOCOL_VERSIONS", "6")
        .env("PLUGIN_CLIENT_CERT", &client.pem)
        .env("TF_LOG_PROVIDER", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut plugin = Plugin::start(cmd);
    let line = match plugin.first_line.recv_timeout(t.step) {
        Ok(l) => l,
        Err(e) => panic!(
            "{}: no handshake line within {:?} ({e}); stderr:\n{}",
            parent.join(" "),
            t.step,
            plugin.kill_and_stderr()
        ),
    };
    assert!(line.starts_with("1|6|tcp|"), "handshake line: {line:?}");
    // The watchdog starts right after the handshake line; give it a moment, then kill the
    // parent as the OOM killer or a SIGKILL would.
    std::thread::sleep(Duration::from_secs(2));
    plugin.child.kill().expect("kill the parent");
    let _ = plugin.child.wait();
    let killed = Instant::now();
    // A plugin that outlives this check is left running: it cannot be found from here.
    assert!(
        plugin
            .stdout_closed
            .recv_timeout(Duration::from_secs(30))
            .is_ok(),
        "the plugin still runs 30 s after its parent was killed"
    );
    let stderr = plugin
        .stderr
        .take()
        .and_then(|h| h.join().ok())
        .unwrap_or_default();
    eprintln!("the plugin exited {:?} after its parent", killed.elapsed());
    assert!(
        stderr.contains("Terraform is gone"),
        "no parent-gone message on stderr:\n{stderr}"
    );
}
