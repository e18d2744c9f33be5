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
    #[cfg(unix)]
    tokio::spawn(async {
        while tokio::signal::ctrl_c().await.is_ok() {
            ecsx::log::debug("ignoring SIGINT; Terraform will call StopProvider", &[]);
        }
    });
    #[cfg(windows)]
    ignore_console_interrupts();

    protocol::serve(listener, config, Arc::new(Provider::new()))
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
    #[cfg(windows)]
    match windows_parent::find() {
        windows_parent::Parent::Alive(parent) => {
            std::thread::spawn(move || {
                parent.wait();
                ecsx::log::warn(
                    "Terraform is gone (the parent process exited); stopping",
                    &[],
                );
                std::process::exit(1);
            });
        }
        windows_parent::Parent::Gone => {
            ecsx::log::warn(
                "Terraform is gone (the parent process exited before the plugin started serving); stopping",
                &[],
            );
            std::process::exit(1);
        }
        windows_parent::Parent::Unknown(why) => ecsx::log::debug(
            "no parent-process watchdog",
            &[("reason", serde_json::Value::from(why))],
        ),
    }
}

/// Windows delivers Ctrl-C and Ctrl-Break to every process attached to the console, and the
/// default handler ends the process. Terraform handles both and calls StopProvider, so the
/// plugin keeps one listener of each for its whole life: with a listener registered, the
/// handler reports the event as handled and the default one never runs.
#[cfg(windows)]
fn ignore_console_interrupts() {
    use tokio::signal::windows::{ctrl_break, ctrl_c};
    let (mut c, mut b) = match (ctrl_c(), ctrl_break()) {
        (Ok(c), Ok(b)) => (c, b),
        (Err(e), _) | (_, Err(e)) => {
            ecsx::log::warn(
                "cannot install the console control handler; Ctrl-C may stop the plugin",
                &[("error", serde_json::Value::from(e.to_string()))],
            );
            return;
        }
    };
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                Some(()) = c.recv() => "Ctrl-C",
                Some(()) = b.recv() => "Ctrl-Break",
                else => return,
            };
            ecsx::log::debug(
                "ignoring a console interrupt; Terraform will call StopProvider",
                &[("event", serde_json::Value::from(event))],
            );
        }
    });
}

/// The process that started this one, found in a process snapshot and opened for waiting.
#[cfg(windows)]
mod windows_parent {
    use std::io;
    use windows_sys::Win32::Foundation::{
        CloseHandle, ERROR_INVALID_PARAMETER, FILETIME, HANDLE, INVALID_HANDLE_VALUE,
    };
    use windows_sys::Win32::System::Diagnostics::ToolHelp::{
        CreateToolhelp32Snapshot, Process32FirstW, Process32NextW, PROCESSENTRY32W,
        TH32CS_SNAPPROCESS,
    };
    use windows_sys::Win32::System::Threading::{
        GetCurrentProcess, GetCurrentProcessId, GetProcessTimes, OpenProcess, WaitForSingleObject,
        INFINITE, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SYNCHRONIZE,
    };

    pub enum Parent {
        /// Running; `wait` returns when it exits.
        Alive(Handle),
        /// Exited already (its id is free, or taken by a younger process).
        Gone,
        /// No parent to watch (none recorded, or not ours to open).
        Unknown(String),
    }

    /// An open process handle, closed on drop.
    pub struct Handle(HANDLE);

    // SAFETY: a process handle is a kernel object reference, usable from any thread.
    unsafe impl Send for Handle {}

    impl Drop for Handle {
        fn drop(&mut self) {
            // SAFETY: the handle came from a successful OpenProcess and is closed only here.
            unsafe { CloseHandle(self.0) };
        }
    }

    impl Handle {
        /// Blocks until the process has exited.
        pub fn wait(self) {
            // SAFETY: a valid process handle opened with SYNCHRONIZE.
            unsafe { WaitForSingleObject(self.0, INFINITE) };
        }
    }

    pub fn find() -> Parent {
        let pid = match parent_pid() {
            Ok(0) => return Parent::Unknown("no parent process id recorded".into()),
            Ok(pid) => pid,
            Err(e) => return Parent::Unknown(e),
        };
        // SAFETY: plain call; a null result is checked below.
        let h = unsafe {
            OpenProcess(
                PROCESS_SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION,
                0,
                pid,
            )
        };
        if h.is_null() {
            let err = io::Error::last_os_error();
            // OpenProcess answers ERROR_INVALID_PARAMETER for an id no process has.
            if err.raw_os_error() == Some(ERROR_INVALID_PARAMETER as i32) {
                return Parent::Gone;
            }
            return Parent::Unknown(format!("cannot open the parent process {pid}: {err}"));
        }
        let parent = Handle(h);
        // Windows reuses process ids: a process created after this one cannot be its parent,
        // so the parent exited and another process got its id.
        // SAFETY: GetCurrentProcess returns a pseudo-handle that needs no closing.
        let me = unsafe { GetCurrentProcess() };
        match (created(parent.0), created(me)) {
            (Some(p), Some(me)) if p > me => Parent::Gone,
            _ => Parent::Alive(parent),
        }
    }

    fn parent_pid() -> Result<u32, String> {
        // SAFETY: the snapshot handle is checked, read with a correctly sized entry, and closed.
        unsafe {
            let snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
            if snap == INVALID_HANDLE_VALUE {
                return Err(format!(
                    "no process snapshot: {}",
                    io::Error::last_os_error()
                ));
            }
            let me = GetCurrentProcessId();
            let mut entry = PROCESSENTRY32W {
                dwSize: std::mem::size_of::<PROCESSENTRY32W>() as u32,
                ..Default::default()
            };
            let mut found = None;
            let mut more = Process32FirstW(snap, &mut entry) != 0;
            while more {
                if entry.th32ProcessID == me {
                    found = Some(entry.th32ParentProcessID);
                    break;
                }
                more = Process32NextW(snap, &mut entry) != 0;
            }
            CloseHandle(snap);
            found.ok_or_else(|| "this process is not in the process snapshot".to_string())
        }
    }

    /// Creation time in 100 ns ticks since 1601.
    fn created(process: HANDLE) -> Option<u64> {
        let [mut c, mut e, mut k, mut u] = [FILETIME::default(); 4];
        // SAFETY: a handle with query rights (or the current-process pseudo-handle) and four
        // writable FILETIMEs.
        let ok = unsafe { GetProcessTimes(process, &mut c, &mut e, &mut k, &mut u) };
        (ok != 0).then(|| (u64::from(c.dwHighDateTime) << 32) | u64::from(c.dwLowDateTime))
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
