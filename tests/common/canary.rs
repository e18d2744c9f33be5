//! The `ecsx_canary_deployment` fixture: its configuration builder, what a sampled apply saw,
//! and readers of its plans and task sets.

use super::{Infra, CONTAINER_NAME, CONTAINER_PORT};

/// The two actions on `ecsx_canary_deployment.web`, for a file of their own next to main.tf.
pub const ACTIONS_TF: &str = r#"
action "ecsx_canary_continue" "web" {
  config {
    deployment = ecsx_canary_deployment.web
  }
}

action "ecsx_canary_abort" "web" {
  config {
    deployment = ecsx_canary_deployment.web
  }
}
"#;
use aws_sdk_ecs::types::TaskSet;
use serde_json::Value as Json;

/// The address of the one deployment [`CanaryConfig::hcl`] writes.
pub const CANARY_ADDR: &str = "ecsx_canary_deployment.web";

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
    /// `canary.step` blocks: (traffic_percent, pause); with them no `traffic_percent`.
    pub canary_steps: Vec<(u32, String)>,
    pub canary_attempt: Option<u32>,
    /// Lines inside the `canary` block, e.g. `approved_step = 2`.
    pub canary_extra: String,
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
            canary_steps: vec![],
            canary_attempt: None,
            canary_extra: String::new(),
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

    /// A canary of `task_definition` walking `steps` (traffic_percent, pause) at `attempt`.
    pub fn canary_steps(
        mut self,
        task_definition: &str,
        steps: &[(u32, &str)],
        attempt: u32,
    ) -> Self {
        self.canary = Some((task_definition.to_string(), 0, None));
        self.canary_steps = steps.iter().map(|(t, p)| (*t, p.to_string())).collect();
        self.canary_attempt = Some(attempt);
        self
    }

    /// Extra lines inside the `canary` block.
    /// The canary's weight once an apply of this configuration is done: `traffic_percent`, or
    /// the last step before the first gate not approved (`approved_step` in `canary_extra`).
    pub fn end_weight(&self) -> u32 {
        let Some((_, traffic, _)) = &self.canary else {
            return 0;
        };
        if self.canary_steps.is_empty() {
            return *traffic;
        }
        let approved: usize = self
            .canary_extra
            .split("approved_step =")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let mut end = 0;
        for (i, (t, pause)) in self.canary_steps.iter().enumerate() {
            if pause == "approval" && i + 1 > approved {
                break;
            }
            end = *t;
        }
        end
    }

    pub fn canary_extra(mut self, lines: &str) -> Self {
        self.canary_extra = lines.to_string();
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
                let mut body = format!("    task_definition = {td:?}\n{scale}");
                if self.canary_steps.is_empty() {
                    body += &format!("    traffic_percent = {traffic}\n");
                }
                if let Some(a) = self.canary_attempt {
                    body += &format!("    attempt = {a}\n");
                }
                // A pause of "approval" makes the step a manual gate.
                for (t, pause) in &self.canary_steps {
                    let what = if pause == "approval" {
                        "approval = true".to_string()
                    } else {
                        format!("pause = {pause:?}")
                    };
                    body += &format!(
                        "    step {{\n      traffic_percent = {t}\n      {what}\n    }}\n"
                    );
                }
                body += &self.canary_extra;
                format!("  canary {{\n{body}  }}\n")
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

/// What AWS looked like at one instant of a background apply (see [`super::Stack::apply_sampling`]).
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

/// The `rollout_steps` of a planned or applied deployment (`planned_after`, `resource_values`).
pub fn rollout_steps(v: &Json) -> Vec<String> {
    v["rollout_steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no rollout_steps in {v:#}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_default().to_string())
        .collect()
}

pub fn by_id<'a>(sets: &'a [TaskSet], id: &str) -> Option<&'a TaskSet> {
    sets.iter().find(|t| t.id() == Some(id))
}

/// The target group a task set is registered with.
pub fn target_group(t: &TaskSet) -> &str {
    t.load_balancers()
        .first()
        .and_then(|l| l.target_group_arn())
        .unwrap_or_default()
}
