//! The built binary: magic-cookie message, protocol 6 only, go-plugin handshake, clean Shutdown.

use crate::client::{client_tls, tls_channel, ClientIdentity, Presents};
use crate::{within, PRIMARY_TASK_SET, STEP};
use base64::Engine;
use ecsx::protocol::handshake_line;
use ecsx::protocol::plugin::grpc_controller_client::GrpcControllerClient;
use ecsx::protocol::plugin::Empty;
use ecsx::protocol::tfplugin6 as pb;
use ecsx::protocol::tfplugin6::provider_client::ProviderClient;
use rustls::pki_types::CertificateDer;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The provider binary with none of the plugin variables inherited from the test's environment.
fn provider_binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_terraform-provider-ecsx"));
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

/// A started provider process, killed if the test ends before it exits.
struct Plugin {
    child: Child,
    stdout: Option<std::thread::JoinHandle<(Option<String>, String)>>,
    first_line: Option<std::sync::mpsc::Receiver<String>>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Plugin {
    fn start(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().expect("start the provider binary");
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let (tx, first_line) = std::sync::mpsc::channel();
        // Stdout: hand over the first line at once, keep the rest to check nothing else came.
        let stdout = std::thread::spawn(move || {
            let mut rd = BufReader::new(out);
            let mut line = String::new();
            let first = match rd.read_line(&mut line) {
                Ok(n) if n > 0 => {
                    let _ = tx.send(line.clone());
                    Some(line)
                }
                _ => None,
            };
            let mut rest = String::new();
            let _ = rd.read_to_string(&mut rest);
            (first, rest)
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(err).read_to_string(&mut s);
            s
        });
        Plugin {
            child,
            stdout: Some(stdout),
            first_line: Some(first_line),
            stderr: Some(stderr),
        }
    }

    /// The first line on stdout (the handshake), failing after [`STEP`].
    async fn first_line(&mut self) -> String {
        let rx = self.first_line.take().expect("first line read once");
        let line = tokio::task::spawn_blocking(move || rx.recv_timeout(STEP))
            .await
            .expect("join the stdout reader");
        match line {
            Ok(l) => l,
            Err(e) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("no handshake line ({e}); stderr:\n{}", self.stderr());
            }
        }
    }

    /// Waits for the process to exit, killing it and failing after `limit`.
    async fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the provider did not exit within {limit:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything the process wrote to stderr (after it exited).
    fn stderr(&mut self) -> String {
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }

    /// The first line and the rest of stdout (after it exited).
    fn stdout(&mut self) -> (Option<String>, String) {
        self.stdout
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[tokio::test]
async fn binary_without_the_magic_cookie_explains_itself_and_exits_1() {
    let mut plugin = Plugin::start(provider_binary());
    let code = plugin.exit_code(STEP).await;
    let stderr = plugin.stderr();
    assert_eq!(code, Some(1), "stderr:\n{stderr}");
    assert!(stderr.contains("plugin for Terraform"), "stderr:\n{stderr}");
    let (first, rest) = plugin.stdout();
    assert_eq!((first, rest.as_str()), (None, ""), "nothing goes to stdout");
}

#[tokio::test]
async fn binary_refuses_terraform_without_protocol_6() {
    let client_id = ClientIdentity::terraform_like();
    let mut cmd = provider_binary();
    cmd.env(
        ecsx::protocol::MAGIC_COOKIE_KEY,
        ecsx::protocol::MAGIC_COOKIE_VALUE,
    )
    .env("PLUGIN_PROTOCOL_VERSIONS", "4,5")
    .env("PLUGIN_CLIENT_CERT", &client_id.pem);
    let mut plugin = Plugin::start(cmd);
    let code = plugin.exit_code(STEP).await;
    let stderr = plugin.stderr();
    assert_eq!(code, Some(1), "stderr:\n{stderr}");
    assert!(stderr.contains("protocol 6"), "stderr:\n{stderr}");
    assert_eq!(
        plugin.stdout().0,
        None,
        "no handshake line without protocol 6"
    );
}

/// The parts of a go-plugin handshake line, checked field by field.
fn parse_handshake(line: &str) -> (SocketAddr, CertificateDer<'static>) {
    let line = line
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("handshake line must end with a newline: {line:?}"));
    let parts: Vec<&str> = line.split('|').collect();
    let [core, app, network, addr, proto, cert] = parts.as_slice() else {
        panic!("handshake line has {} fields: {line:?}", parts.len());
    };
    assert_eq!(
        (*core, *app, *network, *proto),
        ("1", "6", "tcp", "grpc"),
        "{line:?}"
    );
    let addr: SocketAddr = addr
        .parse()
        .unwrap_or_else(|e| panic!("address {addr:?}: {e}"));
    assert_eq!(addr.ip(), std::net::IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_ne!(addr.port(), 0);
    assert!(
        !cert.is_empty()
            && cert
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'),
        "certificate must be standard base64 without padding: {cert:?}"
    );
    let der = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(cert)
        .unwrap_or_else(|e| panic!("certificate is not base64: {e}"));
    // A DER certificate is one SEQUENCE spanning the whole buffer.
    assert_eq!(der.first(), Some(&0x30), "not a DER SEQUENCE");
    assert_eq!(handshake_line(addr, cert), line);
    (addr, CertificateDer::from(der))
}

#[tokio::test]
async fn binary_handshakes_serves_and_exits_0_on_shutdown() {
    let client_id = ClientIdentity::terraform_like();
    let mut cmd = provider_binary();
    cmd.env(
        ecsx::protocol::MAGIC_COOKIE_KEY,
        ecsx::protocol::MAGIC_COOKIE_VALUE,
    )
    .env("PLUGIN_PROTOCOL_VERSIONS", "6")
    .env("PLUGIN_CLIENT_CERT", &client_id.pem);
    let mut plugin = Plugin::start(cmd);

    let line = plugin.first_line().await;
    let (addr, server_cert) = parse_handshake(&line);

    // The pinned verifier only lets the handshake through if the server presents exactly
    // the announced certificate, which proves the DER is that certificate.
    let cfg = client_tls(
        &server_cert,
        Presents::Cert(&client_id),
        rustls::DEFAULT_VERSIONS,
    );
    let channel = within("connect to the plugin", tls_channel(addr, cfg))
        .await
        .expect("connect to the plugin");
    let schema = within(
        "GetProviderSchema",
        ProviderClient::new(channel.clone())
            .get_provider_schema(pb::get_provider_schema::Request {}),
    )
    .await
    .expect("GetProviderSchema")
    .into_inner();
    assert!(schema.resource_schemas.contains_key(PRIMARY_TASK_SET));

    within(
        "Shutdown",
        GrpcControllerClient::new(channel.clone()).shutdown(Empty {}),
    )
    .await
    .expect("Shutdown");
    let code = plugin.exit_code(Duration::from_secs(10)).await;
    let stderr = plugin.stderr();
    assert_eq!(code, Some(0), "stderr:\n{stderr}");
    let (_, rest) = plugin.stdout();
    assert_eq!(rest, "", "stdout must hold only the handshake line");
}
