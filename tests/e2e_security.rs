//! Security end to end: with known credentials planted in the environment and `TF_LOG=trace`,
//! a whole canary release (apply, plan to a file, apply of the plan, a failing plan, destroy)
//! leaves no credential in any output, the `TF_LOG_PATH` log, the state and plan files or
//! anything else in the workspace. Rows go to `$ECSX_RELIABILITY_DIR/security.jsonl`.
//!
//! The other security checks run in-process, in `tests/protocol.rs`, and are not repeated here:
//! a client with the wrong certificate, with none, or in plaintext is refused
//! (`only_the_expected_client_certificate_is_let_in`), and the binary run by hand without the
//! magic cookie explains itself and exits 1
//! (`binary_without_the_magic_cookie_explains_itself_and_exits_1`).

mod common;

use base64::Engine;
use common::{CanaryConfig, Output, ReliabilityRow, Stack};
use serde_json::json;
use std::path::{Path, PathBuf};

const SUITE: &str = "security";

/// Shaped like real credentials, distinctive enough that no other text holds them. moto
/// accepts any key; the SDK signs every request with them (SigV4): the access key id and the
/// session token travel in request headers, the secret never leaves the process.
const ACCESS_KEY_ID: &str = "AKIAECSXPLANTED7Q3ZK";
const SECRET_ACCESS_KEY: &str = "ecsxPlantedSecret/9zQw3+RtYuIoPaSdFgHjKlZxCv";
const SESSION_TOKEN: &str =
    "ecsxPlantedSessionToken//FwoGZXIvYXdzEPLANTEDtoken+value/for/ecsx/security==";

/// The forms a credential could leak in: as is, URL-encoded (a logged query or header
/// dump) and base64 (an encoded header or body).
fn forms(secret: &str) -> Vec<(String, String)> {
    let url: String = secret
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    vec![
        ("raw".into(), secret.to_string()),
        ("url-encoded".into(), url),
        ("base64".into(), b64.trim_end_matches('=').to_string()),
    ]
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => todo.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Text to scan, by where it came from.
struct Corpus(Vec<(String, Vec<u8>)>);

impl Corpus {
    fn add_output(&mut self, out: &Output) {
        let what = format!("terraform {}", out.args.join(" "));
        self.0
            .push((format!("{what}: stdout"), out.stdout.clone().into_bytes()));
        self.0
            .push((format!("{what}: stderr"), out.stderr.clone().into_bytes()));
    }

    fn bytes(&self) -> usize {
        self.0.iter().map(|(_, b)| b.len()).sum()
    }

    /// Where `needle` occurs.
    fn find(&self, needle: &str) -> Vec<String> {
        let n = needle.as_bytes();
        self.0
            .iter()
            .filter(|(_, hay)| hay.windows(n.len()).any(|w| w == n))
            .map(|(place, _)| place.clone())
            .collect()
    }
}

#[tokio::test]
async fn no_credential_appears_in_any_output_log_or_state_file_at_trace_level() {
    let mut s = Stack::new("secrets").await;
    s.emu
        .configure(json!({"stabilize_seconds": 1, "drain_seconds": 1}));
    let log_path = s.ws.dir().join("terraform-trace.log");
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
        ("AWS_SESSION_TOKEN", SESSION_TOKEN),
        ("TF_LOG", "trace"),
    ] {
        s.ws.set_env(k, v);
    }
    let mut corpus = Corpus(Vec::new());
    let cfg = CanaryConfig::new(&s.infra);
    let td1 = s.infra.task_definitions[1].clone();

    // Logs to the TF_LOG_PATH file for the applies and the destroy, to stderr for the plans.
    s.ws.set_env("TF_LOG_PATH", &log_path.display().to_string());
    s.ws.config(&cfg.hcl());
    corpus.add_output(&s.ws.apply(&[]));
    s.ws.config(&cfg.clone().canary(&td1, 20).hcl());
    s.ws.set_env("TF_LOG_PATH", "");
    corpus.add_output(
        &s.ws
            .ok(&["plan", "-input=false", "-no-color", "-out=tfplan"]),
    );
    corpus.add_output(&s.ws.ok(&["show", "-json", "-no-color", "tfplan"]));
    s.ws.set_env("TF_LOG_PATH", &log_path.display().to_string());
    corpus.add_output(&s.ws.ok(&["apply", "-input=false", "-no-color", "tfplan"]));
    corpus.add_output(&s.ws.ok(&["show", "-json", "-no-color"]));
    // An AWS error on the way: the error paths must not leak either.
    let mut missing = cfg.clone().canary(&td1, 20);
    missing.rules = vec![format!(
        "{}0",
        s.infra
            .rule_arn
            .trim_end_matches(|c: char| c.is_ascii_hexdigit())
    )];
    s.ws.config(&missing.hcl());
    s.ws.set_env("TF_LOG_PATH", "");
    corpus.add_output(
        s.ws.fails(&["plan", "-input=false", "-no-color"])
            .assert_contains(&["Listener rule not found"]),
    );
    s.ws.config(&cfg.clone().canary(&td1, 20).hcl());
    s.ws.set_env("TF_LOG_PATH", &log_path.display().to_string());
    corpus.add_output(&s.ws.destroy());
    assert!(
        s.aws
            .live_task_sets(&s.infra.cluster, s.infra.service())
            .await
            .is_empty(),
        "destroy left task sets"
    );

    // The run really was logged at trace level, provider lines included: the scan means something.
    let log = std::fs::read_to_string(&log_path).expect("the TF_LOG_PATH file");
    let provider_calls = log.matches("aws call").count();
    assert!(
        log.contains("[TRACE]") && provider_calls > 10,
        "expected a trace log with the provider's AWS call lines ({provider_calls} found)"
    );
    let stderr_trace: usize = corpus
        .0
        .iter()
        .filter(|(place, _)| place.ends_with("stderr"))
        .map(|(_, b)| b.len())
        .sum();
    assert!(
        stderr_trace > 10_000,
        "the plans should log to stderr at trace level"
    );
    // Every file of the workspace: state, its backup, the plan file, the trace log, the CLI
    // config, .terraform, ... (the plan file is a zip; `show -json tfplan` above is its text).
    for f in files_under(s.ws.dir()) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        let rel = f
            .strip_prefix(s.ws.dir())
            .unwrap_or(&f)
            .display()
            .to_string();
        corpus.0.push((format!("file {rel}"), bytes));
    }
    let places = corpus.0.len();
    let scanned = corpus.bytes();
    assert!(
        corpus.0.iter().any(|(p, _)| p == "file terraform.tfstate"),
        "no state file to scan"
    );

    let mut leaks = Vec::new();
    for (name, secret) in [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
        ("AWS_SESSION_TOKEN", SESSION_TOKEN),
    ] {
        let mut row = ReliabilityRow::new(
            SUITE,
            &format!("{}_not_leaked", name.to_ascii_lowercase()),
            &format!(
                "{name} planted; TF_LOG=trace; apply, plan -out, apply plan, failing plan, destroy of a canary deployment"
            ),
            "appears nowhere: stdout, stderr, TF_LOG_PATH log, state, plan, workspace files (raw, URL-encoded, base64)",
        );
        row.figure("places_scanned", places);
        row.figure("bytes_scanned", scanned);
        row.figure("provider_aws_call_lines", provider_calls);
        let found: Vec<String> = forms(secret)
            .into_iter()
            .flat_map(|(form, needle)| {
                corpus
                    .find(&needle)
                    .into_iter()
                    .map(move |place| format!("{form} in {place}"))
            })
            .collect();
        if found.is_empty() {
            row.pass(&format!(
                "not found in {places} places ({:.1} MB scanned)",
                scanned as f64 / 1e6
            ));
        } else {
            row.fail(&found.join("; "));
            leaks.push(format!("{name}: {}", found.join("; ")));
        }
    }
    assert!(
        leaks.is_empty(),
        "credentials leaked (workspace kept at {}):\n{}",
        s.ws.dir().display(),
        leaks.join("\n")
    );
}

#[test]
fn the_scan_finds_each_form_of_a_credential() {
    for secret in [ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN] {
        for (form, needle) in forms(secret) {
            let text = format!(
                "Authorization: AWS4-HMAC-SHA256 Credential={needle}/20260101/us-east-1/ecs"
            );
            let corpus = Corpus(vec![("header".into(), text.into_bytes())]);
            assert_eq!(corpus.find(&needle), ["header"], "{form} of {secret}");
        }
    }
    let (_, url) = &forms(SECRET_ACCESS_KEY)[1];
    assert!(
        url.contains("%2F") && url.contains("%2B") && !url.contains('/'),
        "{url}"
    );
}
