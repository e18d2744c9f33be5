//! `Stack`, the fixture of the Terraform suites: an emulator with infrastructure, SDK clients
//! and a workspace (optionally behind the fault proxy), with the helpers the suites share.

use super::{
    by_id, primary_task_set, resource_values, target_group, Aws, CanaryConfig, Emulator, Infra,
    Output, Proxy, Running, Sample, TaskSetRef, Workspace, CANARY_ADDR, PRIMARY_ADDR,
};
use aws_sdk_ecs::types::TaskSet;
use serde_json::{json, Value as Json};
use std::time::{Duration, Instant};

/// An emulator with infrastructure for one test, SDK clients and a workspace against it.
/// Fields drop in order: Terraform's workspace first, the emulator last.
pub struct Stack {
    pub ws: Workspace,
    proxy: Option<Proxy>,
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
            proxy: None,
            aws,
            infra,
            emu,
        }
    }

    /// A stack with short STABILIZING and DRAINING periods, so a release takes seconds.
    pub async fn short_periods(name: &str) -> Self {
        let s = Self::new(name).await;
        s.emu
            .configure(json!({"stabilize_seconds": 1, "drain_seconds": 1}));
        s
    }

    /// `count` services on an emulator started with `emulator_args`, and the fault proxy in
    /// front of it: the workspace's provider talks to the proxy, `aws` to the emulator.
    pub async fn with_proxy(name: &str, count: u32, emulator_args: &[&str]) -> Self {
        let emu = Emulator::start_with(emulator_args);
        let infra = Infra::create_n(&emu, name, count);
        let aws = Aws::connect(&emu).await;
        let proxy = Proxy::start(&emu);
        let mut ws = Workspace::with_emulator(name, &emu);
        ws.set_env("AWS_ENDPOINT_URL", &proxy.endpoint());
        Stack {
            ws,
            proxy: Some(proxy),
            aws,
            infra,
            emu,
        }
    }

    /// The fault proxy of a stack made [`Stack::with_proxy`].
    pub fn proxy(&self) -> &Proxy {
        self.proxy
            .as_ref()
            .expect("a stack made with Stack::with_proxy")
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

    pub fn td(&self, revision: usize) -> String {
        self.infra.task_definitions[revision].clone()
    }

    pub fn blue(&self) -> &str {
        &self.infra.blue_target_group_arn
    }

    pub fn green(&self) -> &str {
        &self.infra.green_target_group_arn
    }

    /// Task sets on the service, DRAINING ones included.
    pub async fn all(&self) -> Vec<TaskSet> {
        self.aws
            .task_sets(&self.infra.cluster, self.infra.service())
            .await
    }

    pub async fn live(&self) -> Vec<TaskSet> {
        self.aws
            .live_task_sets(&self.infra.cluster, self.infra.service())
            .await
    }

    pub async fn tags(&self, id: &str) -> Vec<(String, String)> {
        self.aws
            .task_set_tags(&self.infra.cluster, self.infra.service(), id)
            .await
    }

    /// Asserts the deleted task set is gone or DRAINING, i.e. ECS is removing it.
    pub async fn assert_deleted(&self, id: &str) {
        if let Some(t) = by_id(&self.all().await, id) {
            assert_eq!(
                t.status(),
                Some("DRAINING"),
                "{id} should be deleted: {t:?}"
            );
        }
    }

    /// A task set created out of band on green, without ecsx's tags.
    pub async fn foreign(&self, revision: usize) -> TaskSetRef {
        self.aws
            .create_task_set_on(&self.infra, &self.td(revision), self.green(), &[])
            .await
    }

    // --- ecsx_canary_deployment.web -----------------------------------------------------------

    /// Writes `cfg` as the workspace's `main.tf`.
    pub fn deploy(&self, cfg: &CanaryConfig) {
        self.ws.config(&cfg.hcl());
    }

    /// The deployment's values in the state.
    pub fn state(&self) -> Json {
        resource_values(&self.ws.show_json(), CANARY_ADDR)
    }

    /// The `<role>_task_set_id` (`stable`, `canary`) in the state.
    pub fn id_of(&self, role: &str) -> Option<String> {
        self.state()[format!("{role}_task_set_id")]
            .as_str()
            .map(String::from)
    }

    /// The deployment's id: `cluster/service`.
    pub fn deployment_id(&self) -> String {
        format!("{}/{}", self.infra.cluster, self.infra.service())
    }

    /// (blue, green) weights on the managed rule, the managed listener and the test listener.
    pub async fn splits(&self) -> [(i32, i32); 3] {
        let mut out = [(0, 0); 3];
        for (i, arn) in [
            &self.infra.rule_arn,
            &self.infra.listener_arn,
            &self.infra.test_listener_arn,
        ]
        .into_iter()
        .enumerate()
        {
            out[i] = self.aws.split(arn, self.blue(), self.green()).await;
        }
        out
    }

    /// A canary of revision 1 walking 10% (baking `pause`) then 50% (1 s), watching `alarm`
    /// every second.
    pub fn scheduled(&self, pause: &str, alarm: &str, attempt: u32) -> CanaryConfig {
        CanaryConfig::new(&self.infra)
            .extra(&format!(
                "  analysis {{\n    alarm_names    = [{alarm:?}]\n    check_interval = \"1s\"\n  }}\n"
            ))
            .canary_steps(&self.td(1), &[(10, pause), (50, "1s")], attempt)
    }

    /// `terraform apply` in the background, returned once it has set step 1's 10% on the
    /// managed rule.
    pub async fn apply_to_step_1(&self) -> Running {
        let mut run = self
            .ws
            .spawn(&["apply", "-auto-approve", "-input=false", "-no-color"]);
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.splits().await[0] != (90, 10) {
            assert!(run.is_running(), "apply ended before step 1");
            assert!(Instant::now() < deadline, "step 1 never came");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        run
    }

    /// From nothing to a release baking at step 1: the stable version deployed, then
    /// [`Self::scheduled`] watching `alarm` (created here), applied in the background until
    /// step 1's 10% is set.
    pub async fn baking_at_step_1(&self, alarm: &str, pause: &str) -> Running {
        self.aws.put_alarm(alarm).await;
        self.deploy(&CanaryConfig::new(&self.infra));
        self.ws.apply(&[]);
        self.deploy(&self.scheduled(pause, alarm, 1));
        self.apply_to_step_1().await
    }

    /// `plan -out`, `show -json` of it, then `apply` of exactly that plan.
    pub fn plan_then_apply(&self) -> Json {
        let plan = self.ws.plan_json();
        self.ws
            .ok(&["apply", "-input=false", "-no-color", "tfplan"]);
        plan
    }

    /// Bootstrap, then a canary on revision 1 at `traffic` percent; returns the configuration.
    pub async fn with_canary_config(&self, traffic: u32, extra: &str) -> CanaryConfig {
        let cfg = CanaryConfig::new(&self.infra).extra(extra);
        self.deploy(&cfg);
        self.ws.apply(&[]);
        let cfg = cfg.canary(&self.td(1), traffic);
        self.deploy(&cfg);
        self.ws.apply(&[]);
        cfg
    }

    /// Bootstrap plus a canary on revision 1 at `traffic` percent; returns (stable id, canary id).
    pub async fn with_canary(&self, traffic: u32) -> (String, String) {
        self.with_canary_config(traffic, "").await;
        let st = self.state();
        (
            st["stable_task_set_id"]
                .as_str()
                .expect("stable id")
                .to_string(),
            st["canary_task_set_id"]
                .as_str()
                .expect("canary id")
                .to_string(),
        )
    }

    /// Runs `terraform apply` in the background and samples AWS every 100 ms until a second
    /// after it exits; panics unless it succeeds. Weights are read before task sets, so traffic
    /// that moved before a task set turned steady shows as a sample with both.
    pub async fn apply_sampling(&self) -> (Output, Vec<Sample>) {
        let mut run = self
            .ws
            .spawn(&["apply", "-auto-approve", "-input=false", "-no-color"]);
        let mut samples = Vec::new();
        let mut exited: Option<Instant> = None;
        while exited.is_none_or(|t| t.elapsed() < Duration::from_secs(1)) {
            if exited.is_none() && !run.is_running() {
                exited = Some(Instant::now());
            }
            let weights = self.splits().await.map(|(_, green)| green);
            let sets = self
                .all()
                .await
                .iter()
                .map(|t| {
                    (
                        t.id().unwrap_or_default().to_string(),
                        target_group(t).to_string(),
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

    // --- ecsx_primary_task_set.this ----------------------------------------------------------

    /// `main.tf` with one `ecsx_primary_task_set.this` on the stack's first service.
    pub fn primary_config(&self, task_set: &str, extra: &str) {
        self.ws.config(&primary_task_set(
            &self.infra.cluster,
            self.infra.service(),
            task_set,
            extra,
        ));
    }

    /// The primary task set resource's values in the state.
    pub fn primary_state(&self) -> Json {
        resource_values(&self.ws.show_json(), PRIMARY_ADDR)
    }
}
