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

use base64::Engine;
use ecsx::protocol::tfplugin6 as pb;
use ecsx::protocol::tfplugin6::provider_client::ProviderClient;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Endpoint, Uri};

struct Target {
    binary: String,
    runner: Vec<String>,
    step: Duration,
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
    let runner = std::env::var("ECSX_SMOKE_RUNNER")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
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

/// A client certificate like go-plugin's: ECDSA P-521, self-signed, CA:true.
struct ClientIdentity {
    cert: CertificateDer<'static>,
    key_pkcs8: Vec<u8>,
    pem: String,
}

impl ClientIdentity {
    fn terraform_like() -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).expect("P-521 key");
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("cert params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        ];
        let cert = params.self_signed(&key).expect("self-signed client cert");
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.der());
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        ClientIdentity {
            cert: cert.der().clone(),
            key_pkcs8: key.serialize_der(),
            pem,
        }
    }
}

/// Trusts exactly the server certificate announced in the handshake line.
#[derive(Debug)]
struct PinnedServerCert {
    expected: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedServerCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.expected.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The running plugin; killed when dropped.
struct Plugin {
    child: Child,
    first_line: mpsc::Receiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Plugin {
    fn start(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().expect("start the provider");
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let (tx, first_line) = mpsc::channel();
        std::thread::spawn(move || {
            let mut rd = BufReader::new(out);
            let mut line = String::new();
            if rd.read_line(&mut line).is_ok() && !line.is_empty() {
                let _ = tx.send(line);
            }
            let _ = std::io::copy(&mut rd, &mut std::io::sink());
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(err).read_to_string(&mut s);
            s
        });
        Plugin {
            child,
            first_line,
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

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(PinnedServerCert {
        expected: server_cert,
        algorithms: provider.signature_verification_algorithms,
    });
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(
            vec![client.cert.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(client.key_pkcs8.clone())),
        )
        .expect("client auth cert");
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let connector = TlsConnector::from(Arc::new(cfg));
    let connect = tower::service_fn(move |_: Uri| {
        let connector = connector.clone();
        async move {
            let tcp = TcpStream::connect(addr).await?;
            let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
            let tls = connector.connect(name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    let call = async {
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect_timeout(t.step)
            .connect_with_connector(connect)
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
