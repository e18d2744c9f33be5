//! Start-up: magic-cookie check, TLS identity, the handshake line, then serve until Shutdown.

use ecsx::protocol::{self, tls};
use ecsx::provider::Provider;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use tokio::net::TcpListener;

const NOT_BY_HAND: &str = "This binary is a plugin for Terraform (the ecsx provider).\n\
These are not meant to be executed directly: Terraform starts it.\n\
Install it as described in the README and run `terraform plan` or `terraform apply`.";

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--version") {
        println!("terraform-provider-ecsx {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if std::env::var(protocol::MAGIC_COOKIE_KEY).as_deref() != Ok(protocol::MAGIC_COOKIE_VALUE) {
        eprintln!("{NOT_BY_HAND}");
        return ExitCode::FAILURE;
    }
    let trace = Startup::new();
    // Everything the handshake line needs, without the async runtime: the line is what
    // Terraform waits for. The listener queues Terraform's connection until serving starts.
    let ready = match prepare(&trace) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("terraform-provider-ecsx: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("terraform-provider-ecsx: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    trace.mark("runtime");
    match rt.block_on(run(ready, &trace)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("terraform-provider-ecsx: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `ECSX_STARTUP_TRACE=1`: microseconds since process start per start-up phase, on stderr.
struct Startup(Option<std::time::Instant>);

impl Startup {
    fn new() -> Startup {
        Startup(
            std::env::var_os("ECSX_STARTUP_TRACE")
                .is_some()
                .then(std::time::Instant::now),
        )
    }

    fn mark(&self, phase: &str) {
        if let Some(t) = self.0 {
            eprintln!("startup {phase} {}us", t.elapsed().as_micros());
        }
    }
}

/// Bound, with its certificate announced: what is left is serving.
struct Ready {
    listener: std::net::TcpListener,
    identity: tls::ServerIdentity,
    client_cert: rustls::pki_types::CertificateDer<'static>,
}

fn prepare(trace: &Startup) -> Result<Ready, String> {
    let versions = std::env::var("PLUGIN_PROTOCOL_VERSIONS").unwrap_or_else(|_| "6".into());
    if !versions.split(',').any(|v| v.trim() == "6") {
        return Err(format!(
            "this provider speaks plugin protocol 6, but Terraform offers {versions:?}; use Terraform 1.0 or newer"
        ));
    }
    let client_pem = std::env::var("PLUGIN_CLIENT_CERT").map_err(|_| {
        "PLUGIN_CLIENT_CERT is not set: Terraform must start this plugin with AutoMTLS".to_string()
    })?;
    let client_cert = tls::client_cert_from_pem(&client_pem).map_err(|e| e.to_string())?;
    trace.mark("client-cert");
    let identity = tls::ServerIdentity::generate().map_err(|e| e.to_string())?;
    trace.mark("server-cert");
    let listener = bind()?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    trace.mark("bind");

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}",
        protocol::handshake_line(addr, &identity.handshake_cert())
    )
    .and_then(|_| out.flush())
    .map_err(|e| format!("cannot write the handshake line: {e}"))?;
    trace.mark("handshake-line");
    Ok(Ready {
        listener,
        identity,
        client_cert,
    })
}

async fn run(ready: Ready, trace: &Startup) -> Result<(), String> {
    let config =
        tls::server_config(&ready.identity, ready.client_cert).map_err(|e| e.to_string())?;
    ready
        .listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
    let listener = TcpListener::from_std(ready.listener)
        .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
    trace.mark("tls-config");

    exit_with_parent();

    // Terraform handles Ctrl-C itself and calls StopProvider; the plugin must not die on it.
    tokio::spawn(async {
        while tokio::signal::ctrl_c().await.is_ok() {
            ecsx::log::debug("ignoring SIGINT; Terraform will call StopProvider", &[]);
        }
    });

    protocol::server::serve(listener, config, Arc::new(Provider::new()))
        .await
        .map_err(|e| format!("gRPC server failed: {e}"))
}

/// Exits once Terraform, the parent process, is gone (killed with SIGKILL, or by the OOM
/// killer): nobody will call Shutdown then, and an orphaned plugin would carry on a rollout
/// that no one records while the next `terraform apply` starts its own.
fn exit_with_parent() {
    #[cfg(unix)]
    {
        let parent = std::os::unix::process::parent_id();
        std::thread::spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_millis(250));
            if std::os::unix::process::parent_id() != parent {
                ecsx::log::warn(
                    "Terraform is gone (the parent process exited); stopping",
                    &[],
                );
                std::process::exit(1);
            }
        });
    }
}

/// Binds on loopback within PLUGIN_MIN_PORT..=PLUGIN_MAX_PORT when given, else any free port.
fn bind() -> Result<std::net::TcpListener, String> {
    use std::net::TcpListener;
    let port = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u16>().ok());
    if let (Some(lo), Some(hi)) = (port("PLUGIN_MIN_PORT"), port("PLUGIN_MAX_PORT")) {
        for p in lo..=hi {
            if let Ok(l) = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, p))) {
                return Ok(l);
            }
        }
        return Err(format!("no free port between {lo} and {hi}"));
    }
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))
}
