//! Processes: the rig's Python servers (started, awaited, logged), provider pids under
//! Terraform, `kill -9`, and the one HTTP exchange the rig's admin endpoints need.

use super::{crate_root, scratch_dir, venv_python};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `tests/rig/<name>.py` that printed `READY <port>`, killed when dropped. Its
/// stderr goes to `<name>.log` in a scratch directory, kept when the test fails.
pub(super) struct RigProcess {
    name: &'static str,
    child: Child,
    port: u16,
    dir: PathBuf,
    log: PathBuf,
}

impl RigProcess {
    pub(super) fn start(name: &'static str, args: &[&str]) -> Self {
        let dir = scratch_dir(name);
        let log = dir.join(format!("{name}.log"));
        let stderr =
            std::fs::File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let mut child = Command::new(venv_python())
            .arg(crate_root().join(format!("tests/rig/{name}.py")))
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn tests/rig/{name}.py: {e}"));
        let stdout = child.stdout.take().expect("rig process stdout");
        let (tx, rx) = mpsc::channel();
        // Keeps draining stdout after READY (nobody listens then) so the process never
        // blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut process = RigProcess {
            name,
            child,
            port: 0,
            dir,
            log,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = line.strip_prefix("READY ") {
                        process.port = port
                            .trim()
                            .parse()
                            .unwrap_or_else(|e| panic!("{name} printed {line:?}: {e}"));
                        return process;
                    }
                }
                Err(e) => {
                    let status = process.child.try_wait().ok().flatten();
                    panic!(
                        "{name} not READY within {READY_TIMEOUT:?} ({e}; exit status {status:?}).\n--- {name} log ---\n{}",
                        process.log_text()
                    );
                }
            }
        }
    }

    pub(super) fn port(&self) -> u16 {
        self.port
    }

    pub(super) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(super) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for RigProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{} log kept at {}", self.name, self.log.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// One HTTP/1.1 exchange with a rig process on localhost: (status, body). The rig needs no
/// HTTP client crate for its admin calls.
pub fn rig_http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write to rig process");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read rig reply");
    let (head, reply) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, reply.to_string())
}

/// Direct children of `pid`, from /proc.
pub fn child_pids(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|stat| {
                    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
                    let rest = &stat[stat.rfind(')')? + 1..];
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

/// The provider processes Terraform (`root`, or a descendant of it) started.
pub fn provider_pids(root: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(p) = queue.pop() {
        for c in child_pids(p) {
            let exe = std::fs::read_link(format!("/proc/{c}/exe")).unwrap_or_default();
            if exe
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("terraform-provider-ecsx"))
            {
                found.push(c);
            }
            queue.push(c);
        }
    }
    found
}

/// Whether `pid` exists and is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let rest = stat[stat.rfind(')')? + 1..].to_string();
            rest.split_whitespace().next().map(|s| s != "Z")
        })
        .unwrap_or(false)
}

/// `kill -9 pid`.
pub fn kill9(pid: u32) {
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -9 {pid} failed: {status}");
}
