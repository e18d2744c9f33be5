//! Bad input end to end, table-driven: invalid configurations of `ecsx_canary_deployment`,
//! `ecsx_primary_task_set`, `ecsx_task_sets` and the provider block, each expecting its own
//! diagnostic, at validate time with the line it points at where the configuration alone
//! shows the mistake, at plan time where only AWS knows; and values unknown until apply, which
//! must validate and plan. Each case is a file of its own in a shared workspace, so one
//! Terraform run judges a whole table. Rows go to `$ECSX_RELIABILITY_DIR/bad_input.jsonl`.

mod common;

use common::{Aws, Emulator, Infra, ReliabilityRow, Workspace};
use serde_json::{json, Value as Json};
use std::fmt::Write as _;

const SUITE: &str = "bad_input";
/// Ends the line a case's diagnostic must point at.
const MARK: &str = "# <-";

/// Names and ARNs a configuration refers to: made-up ones for validate, the emulator's for plan.
#[derive(Clone)]
struct Refs {
    cluster: String,
    service: String,
    stable_td: String,
    canary_td: String,
    blue: String,
    green: String,
    listener: String,
    rule: String,
    subnets: Vec<String>,
    security_group: String,
}

const ACCOUNT_ARN: &str = "arn:aws:ecs:us-east-1:123456789012";
const ELB_ARN: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012";

impl Refs {
    fn made_up() -> Self {
        Refs {
            cluster: "prod".into(),
            service: "web".into(),
            stable_td: format!("{ACCOUNT_ARN}:task-definition/web:12"),
            canary_td: format!("{ACCOUNT_ARN}:task-definition/web:13"),
            blue: format!("{ELB_ARN}:targetgroup/blue/6d0ecf831eec9f09"),
            green: format!("{ELB_ARN}:targetgroup/green/1a2b3c4d5e6f7a8b"),
            listener: format!("{ELB_ARN}:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"),
            rule: format!(
                "{ELB_ARN}:listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
            ),
            subnets: vec!["subnet-0a1".into(), "subnet-0b2".into()],
            security_group: "sg-0c3".into(),
        }
    }

    fn of(infra: &Infra, service: &str) -> Self {
        Refs {
            cluster: infra.cluster.clone(),
            service: service.to_string(),
            stable_td: infra.task_definitions[0].clone(),
            canary_td: infra.task_definitions[1].clone(),
            blue: infra.blue_target_group_arn.clone(),
            green: infra.green_target_group_arn.clone(),
            listener: infra.listener_arn.clone(),
            rule: infra.rule_arn.clone(),
            subnets: infra.subnets.clone(),
            security_group: infra.security_group.clone(),
        }
    }

    fn service(&self, service: &str) -> Self {
        Refs {
            service: service.to_string(),
            ..self.clone()
        }
    }
}

fn hcl_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// A valid `ecsx_canary_deployment` with a canary at 10 % on one listener and one rule.
fn canary_hcl(name: &str, r: &Refs) -> String {
    format!(
        r#"resource "ecsx_canary_deployment" "{name}" {{
  cluster = "{cluster}"
  service = "{service}"
  task_set {{
    launch_type    = "FARGATE"
    container_name = "web"
    container_port = 8080
    network_configuration {{
      subnets         = {subnets}
      security_groups = ["{sg}"]
    }}
  }}
  stable {{
    task_definition = "{stable}"
  }}
  canary {{
    task_definition = "{canary}"
    traffic_percent = 10
  }}
  traffic {{
    primary_target_group_arn = "{blue}"
    canary_target_group_arn  = "{green}"
    listener_arns            = ["{listener}"]
    listener_rule_arns       = ["{rule}"]
  }}
}}
"#,
        cluster = r.cluster,
        service = r.service,
        subnets = hcl_list(&r.subnets),
        sg = r.security_group,
        stable = r.stable_td,
        canary = r.canary_td,
        blue = r.blue,
        green = r.green,
        listener = r.listener,
        rule = r.rule,
    )
}

/// A valid `ecsx_primary_task_set`.
fn primary_hcl(name: &str, r: &Refs, task_set: &str) -> String {
    format!(
        "resource \"ecsx_primary_task_set\" \"{name}\" {{\n  cluster  = \"{}\"\n  service  = \"{}\"\n  task_set = \"{task_set}\"\n}}\n",
        r.cluster, r.service
    )
}

/// A valid `ecsx_task_sets` data source.
fn data_hcl(name: &str, r: &Refs) -> String {
    format!(
        "data \"ecsx_task_sets\" \"{name}\" {{\n  cluster = \"{}\"\n  service = \"{}\"\n}}\n",
        r.cluster, r.service
    )
}

/// An aliased provider block with `body`, and a data source that uses it (Terraform validates
/// the configuration of providers that something uses).
fn provider_hcl(name: &str, body: &str) -> String {
    format!(
        "provider \"ecsx\" {{\n  alias = \"{name}\"\n{body}}}\n\ndata \"ecsx_task_sets\" \"{name}\" {{\n  provider = ecsx.{name}\n  cluster  = \"prod\"\n  service  = \"web\"\n}}\n"
    )
}

/// Replaces each `from` (which must occur exactly once) with `to`.
fn edit(base: &str, edits: &[(&str, &str)]) -> String {
    let mut s = base.to_string();
    for (from, to) in edits {
        assert_eq!(
            s.matches(from).count(),
            1,
            "edit {from:?} must match exactly once in:\n{s}"
        );
        s = s.replacen(from, to, 1);
    }
    s
}

/// One bad input: a file `<name>.tf` and the diagnostic it must produce.
struct Case {
    name: String,
    /// What is wrong, in words, for the record.
    input: String,
    hcl: String,
    summary: String,
    /// Each must occur in the diagnostic's detail.
    detail: Vec<String>,
}

impl Case {
    fn new(name: &str, input: &str, hcl: String, summary: &str, detail: &[&str]) -> Self {
        Case {
            name: name.to_string(),
            input: input.to_string(),
            hcl,
            summary: summary.to_string(),
            detail: detail.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn file(&self) -> String {
        format!("{}.tf", self.name)
    }

    /// The 1-based line marked with [`MARK`].
    fn line(&self) -> usize {
        let marked: Vec<usize> = self
            .hcl
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim_end().ends_with(MARK))
            .map(|(i, _)| i + 1)
            .collect();
        assert_eq!(
            marked.len(),
            1,
            "case {} must mark exactly one line with {MARK:?}:\n{}",
            self.name,
            self.hcl
        );
        marked[0]
    }

    fn expected(&self, stage: &str) -> String {
        format!(
            "{stage} error \"{}\" ({}) at line {}",
            self.summary,
            self.detail.join(" … "),
            self.line()
        )
    }
}

/// Diagnostics of a `validate -json` answer, or of the `diagnostic` lines of `plan -json`.
fn diagnostics_of(out: &common::Output) -> Vec<Json> {
    if let Ok(v) = serde_json::from_str::<Json>(out.stdout.trim()) {
        if let Some(d) = v["diagnostics"].as_array() {
            return d.clone();
        }
    }
    out.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter(|v| v["type"] == "diagnostic")
        .map(|v| v["diagnostic"].clone())
        .collect()
}

fn is_error(d: &Json) -> bool {
    d["severity"] == "error"
}

fn describe(d: &Json) -> String {
    format!(
        "{} \"{}\": {} [{}:{}]",
        d["severity"].as_str().unwrap_or("?"),
        d["summary"].as_str().unwrap_or_default(),
        d["detail"].as_str().unwrap_or_default(),
        d["range"]["filename"].as_str().unwrap_or("-"),
        d["range"]["start"]["line"]
    )
}

/// Judges one case against all diagnostics: exactly one error in its file, with its summary,
/// its detail and its line. Ok(outcome) or Err(why).
fn judge(case: &Case, diags: &[Json]) -> Result<String, String> {
    let file = case.file();
    let line = case.line();
    let mine: Vec<&Json> = diags
        .iter()
        .filter(|d| is_error(d) && d["range"]["filename"] == file.as_str())
        .collect();
    let matches = |d: &&&Json| {
        let detail = d["detail"].as_str().unwrap_or_default();
        d["summary"]
            .as_str()
            .unwrap_or_default()
            .contains(&case.summary)
            && case
                .detail
                .iter()
                .all(|want| detail.contains(want.as_str()))
    };
    let got: Vec<String> = mine.iter().map(|d| describe(d)).collect();
    let Some(hit) = mine.iter().find(matches) else {
        return Err(format!("no such diagnostic; got {got:#?}"));
    };
    let at = hit["range"]["start"]["line"].as_u64().unwrap_or(0) as usize;
    if at != line {
        return Err(format!(
            "the diagnostic points at line {at}, not {line}: {}",
            describe(hit)
        ));
    }
    if mine.len() > 1 {
        return Err(format!("more errors than the one expected: {got:#?}"));
    }
    Ok(format!(
        "\"{}\": {} (at {file}:{at}, `{}`)",
        hit["summary"].as_str().unwrap_or_default(),
        hit["detail"].as_str().unwrap_or_default(),
        hit["snippet"]["code"].as_str().unwrap_or_default().trim()
    ))
}

/// Judges every case, records a row for each, and panics listing every case that failed.
fn judge_all(stage: &str, cases: &[Case], out: &common::Output) {
    let diags = diagnostics_of(out);
    let mut failures = String::new();
    for case in cases {
        let row = ReliabilityRow::new(SUITE, &case.name, &case.input, &case.expected(stage));
        match judge(case, &diags) {
            Ok(outcome) => row.pass(&outcome),
            Err(why) => {
                let _ = writeln!(failures, "- {} ({}): {why}", case.name, case.input);
                row.fail(&why);
            }
        }
    }
    // Nothing outside the cases' files may fail: that would be a broken base configuration.
    let stray: Vec<String> = diags
        .iter()
        .filter(|d| is_error(d))
        .filter(|d| {
            let f = d["range"]["filename"].as_str().unwrap_or_default();
            !cases.iter().any(|c| c.file() == f)
        })
        .map(describe)
        .collect();
    assert!(
        failures.is_empty() && stray.is_empty(),
        "{} of {} {stage} cases failed:\n{failures}\nerrors outside the cases: {stray:#?}\n\n{out}",
        failures.lines().count(),
        cases.len()
    );
}

fn write_cases(ws: &Workspace, cases: &[Case]) {
    let mut names = std::collections::BTreeSet::new();
    for c in cases {
        assert!(names.insert(c.name.clone()), "two cases named {}", c.name);
        ws.write(&c.file(), &c.hcl);
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Validate time: the configuration alone shows the mistake (no emulator needed)
// ---------------------------------------------------------------------------------------------

fn canary_cases(r: &Refs) -> Vec<Case> {
    let c = |name: &str| canary_hcl(name, r);
    let traffic = "    traffic_percent = 10\n";
    let stable_td = format!("    task_definition = \"{}\"\n", r.stable_td);
    let canary_td = format!("    task_definition = \"{}\"\n", r.canary_td);
    let listeners = format!("    listener_arns            = [\"{}\"]\n", r.listener);
    let rules = format!("    listener_rule_arns       = [\"{}\"]\n", r.rule);
    let primary_tg = format!("    primary_target_group_arn = \"{}\"\n", r.blue);
    let canary_tg = format!("    canary_target_group_arn  = \"{}\"\n", r.green);
    let subnets = format!("      subnets         = {}\n", hcl_list(&r.subnets));
    let launch = "    launch_type    = \"FARGATE\"\n";
    let port = "    container_port = 8080\n";
    let service = format!("  service = \"{}\"\n", r.service);
    let cluster = format!("  cluster = \"{}\"\n", r.cluster);
    let close_traffic = "  }\n}\n";
    let pct = |name: &str, input: &str, value: &str, got: &str| {
        Case::new(
            name,
            input,
            edit(
                &c(name),
                &[(traffic, &format!("    traffic_percent = {value} {MARK}\n"))],
            ),
            "Value out of range",
            &[&format!(
                "canary[0].traffic_percent must be a whole number between 0 and 100, got {got}."
            )],
        )
    };
    let arn_case = |name: &str, input: &str, from: &str, to: &str, detail: &[&str]| {
        Case::new(
            name,
            input,
            edit(&c(name), &[(from, &format!("{} {MARK}\n", to.trim_end()))]),
            "Invalid ARN",
            detail,
        )
    };
    let cps = "    capacity_provider_strategy {\n      capacity_provider = \"FARGATE_SPOT\"\n      weight            = 1\n    }\n";
    let timeouts = |name: &str, op: &str, value: &str| {
        edit(
            &c(name),
            &[(
                close_traffic,
                &format!("  }}\n  timeouts {{\n    {op} = \"{value}\" {MARK}\n  }}\n}}\n"),
            )],
        )
    };
    vec![
        pct("cd_traffic_negative", "canary.traffic_percent = -1", "-1", "-1"),
        pct("cd_traffic_101", "canary.traffic_percent = 101", "101", "101"),
        pct("cd_traffic_fraction", "canary.traffic_percent = 10.5", "10.5", "10.5"),
        Case::new(
            "cd_traffic_string",
            "canary.traffic_percent = \"ten\" (wrong type)",
            edit(&c("cd_traffic_string"), &[(traffic, &format!("    traffic_percent = \"ten\" {MARK}\n"))]),
            "Incorrect attribute value type",
            &["\"traffic_percent\"", "a number is required"],
        ),
        Case::new(
            "cd_stable_scale_101",
            "stable.scale_percent = 101",
            edit(&c("cd_stable_scale_101"), &[(&stable_td, &format!("{stable_td}    scale_percent = 101 {MARK}\n"))]),
            "Value out of range",
            &["stable[0].scale_percent must be a whole number between 0 and 100, got 101."],
        ),
        Case::new(
            "cd_canary_scale_negative",
            "canary.scale_percent = -5",
            edit(&c("cd_canary_scale_negative"), &[(traffic, &format!("{traffic}    scale_percent = -5 {MARK}\n"))]),
            "Value out of range",
            &["canary[0].scale_percent must be a whole number between 0 and 100, got -5."],
        ),
        Case::new(
            "cd_wait_not_bool",
            "wait_for_steady_state = \"sometimes\" (wrong type)",
            edit(&c("cd_wait_not_bool"), &[(&service, &format!("{service}  wait_for_steady_state = \"sometimes\" {MARK}\n"))]),
            "Incorrect attribute value type",
            &["\"wait_for_steady_state\"", "a bool is required"],
        ),
        Case::new(
            "cd_keep_primary_list",
            "keep_primary_on_destroy = [true] (wrong type)",
            edit(&c("cd_keep_primary_list"), &[(&service, &format!("{service}  keep_primary_on_destroy = [true] {MARK}\n"))]),
            "Incorrect attribute value type",
            &["\"keep_primary_on_destroy\"", "bool required"],
        ),
        Case::new(
            "cd_port_zero",
            "task_set.container_port = 0",
            edit(&c("cd_port_zero"), &[(port, &format!("    container_port = 0 {MARK}\n"))]),
            "Value out of range",
            &["task_set[0].container_port must be a whole number between 1 and 65535, got 0."],
        ),
        Case::new(
            "cd_port_70000",
            "task_set.container_port = 70000",
            edit(&c("cd_port_70000"), &[(port, &format!("    container_port = 70000 {MARK}\n"))]),
            "Value out of range",
            &["task_set[0].container_port must be a whole number between 1 and 65535, got 70000."],
        ),
        Case::new(
            "cd_container_name_blank",
            "task_set.container_name = \"  \"",
            edit(&c("cd_container_name_blank"), &[("    container_name = \"web\"\n", &format!("    container_name = \"  \" {MARK}\n"))]),
            "Empty value",
            &["task_set[0].container_name must not be empty."],
        ),
        Case::new(
            "cd_cluster_empty",
            "cluster = \"\"",
            edit(&c("cd_cluster_empty"), &[(&cluster, &format!("  cluster = \"\" {MARK}\n"))]),
            "Invalid name or ARN",
            &["cluster: \"\" is empty; give a name or an ARN."],
        ),
        Case::new(
            "cd_cluster_is_service_arn",
            "a service ARN as cluster",
            edit(&c("cd_cluster_is_service_arn"), &[(&cluster, &format!("  cluster = \"{ACCOUNT_ARN}:service/prod/web\" {MARK}\n"))]),
            "Invalid name or ARN",
            &["cluster: \"arn:aws:ecs:us-east-1:123456789012:service/prod/web\" is not an ARN of ecs `cluster`"],
        ),
        Case::new(
            "cd_service_is_cluster_arn",
            "a cluster ARN as service",
            edit(&c("cd_service_is_cluster_arn"), &[(&service, &format!("  service = \"{ACCOUNT_ARN}:cluster/prod\" {MARK}\n"))]),
            "Invalid name or ARN",
            &["is not an ARN of ecs `service`"],
        ),
        Case::new(
            "cd_service_bad_name",
            "service = \"web app!\"",
            edit(&c("cd_service_bad_name"), &[(&service, &format!("  service = \"web app!\" {MARK}\n"))]),
            "Invalid name or ARN",
            &["service: \"web app!\" is neither a name"],
        ),
        arn_case(
            "cd_stable_td_family_revision",
            "stable.task_definition = \"web:12\" (not an ARN)",
            &stable_td,
            "    task_definition = \"web:12\"",
            &["stable[0].task_definition: \"web:12\" is not an ARN; expected arn:PARTITION:ecs:REGION:ACCOUNT:task-definition/..."],
        ),
        arn_case(
            "cd_canary_td_is_task_arn",
            "a task ARN as canary.task_definition",
            &canary_td,
            &format!("    task_definition = \"{ACCOUNT_ARN}:task/prod/0123456789abcdef\""),
            &["canary[0].task_definition:", "is not an ARN of ecs `task-definition`"],
        ),
        Case::new(
            "cd_canary_equals_stable",
            "canary.task_definition == stable.task_definition",
            edit(&c("cd_canary_equals_stable"), &[(&canary_td, &format!("    task_definition = \"{}\" {MARK}\n", r.stable_td))]),
            "Canary runs the stable version",
            &["canary.task_definition equals stable.task_definition"],
        ),
        arn_case(
            "cd_listener_is_target_group",
            "a target group ARN in listener_arns",
            &listeners,
            &format!("    listener_arns            = [\"{}\"]", r.blue),
            &["traffic[0].listener_arns[0]:", "is not an ARN of elasticloadbalancing `listener`"],
        ),
        arn_case(
            "cd_primary_tg_is_listener",
            "a listener ARN as primary_target_group_arn",
            &primary_tg,
            &format!("    primary_target_group_arn = \"{}\"", r.listener),
            &["traffic[0].primary_target_group_arn:", "is not an ARN of elasticloadbalancing `targetgroup`"],
        ),
        arn_case(
            "cd_rule_is_listener",
            "a listener ARN in listener_rule_arns",
            &rules,
            &format!("    listener_rule_arns       = [\"{}\"]", r.listener),
            &["traffic[0].listener_rule_arns[0]:", "is not an ARN of elasticloadbalancing `listener-rule`"],
        ),
        arn_case(
            "cd_listener_is_rule",
            "a listener rule ARN in listener_arns",
            &listeners,
            &format!("    listener_arns            = [\"{}\"]", r.rule),
            &["traffic[0].listener_arns[0]:", "is not an ARN of elasticloadbalancing `listener`"],
        ),
        arn_case(
            "cd_tg_truncated_arn",
            "canary_target_group_arn = \"arn:aws:elasticloadbalancing\" (truncated)",
            &canary_tg,
            "    canary_target_group_arn  = \"arn:aws:elasticloadbalancing\"",
            &["traffic[0].canary_target_group_arn: \"arn:aws:elasticloadbalancing\" is not an ARN; expected arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:targetgroup/..."],
        ),
        arn_case(
            "cd_tg_without_name",
            "a target group ARN without a name",
            &canary_tg,
            &format!("    canary_target_group_arn  = \"{ELB_ARN}:targetgroup/\""),
            &["has no resource name after \"targetgroup/\""],
        ),
        arn_case(
            "cd_tg_is_ecs_service_arn",
            "an ECS service ARN as canary_target_group_arn",
            &canary_tg,
            &format!("    canary_target_group_arn  = \"{ACCOUNT_ARN}:service/prod/web\""),
            &["is not an ARN of elasticloadbalancing `targetgroup`"],
        ),
        Case::new(
            "cd_same_target_group_twice",
            "canary_target_group_arn == primary_target_group_arn",
            edit(&c("cd_same_target_group_twice"), &[(&canary_tg, &format!("    canary_target_group_arn  = \"{}\" {MARK}\n", r.blue))]),
            "Same target group twice",
            &["must be two different target groups"],
        ),
        Case::new(
            "cd_duplicate_rule",
            "the same rule twice in listener_rule_arns",
            edit(&c("cd_duplicate_rule"), &[(&rules, &format!("    listener_rule_arns       = [\"{0}\", \"{0}\"] {MARK}\n", r.rule))]),
            "Duplicate value",
            &[&format!("traffic[0].listener_rule_arns lists \"{}\" more than once.", r.rule)],
        ),
        Case::new(
            "cd_duplicate_subnets",
            "the same subnet twice",
            edit(&c("cd_duplicate_subnets"), &[(&subnets, &format!("      subnets         = [\"subnet-0a1\", \"subnet-0a1\"] {MARK}\n"))]),
            "Duplicate value",
            &["task_set[0].network_configuration[0].subnets lists \"subnet-0a1\" more than once."],
        ),
        Case::new(
            "cd_duplicate_security_groups",
            "the same security group twice",
            edit(&c("cd_duplicate_security_groups"), &[(&format!("      security_groups = [\"{}\"]\n", r.security_group), &format!("      security_groups = [\"sg-1\", \"sg-2\", \"sg-1\"] {MARK}\n"))]),
            "Duplicate value",
            &["task_set[0].network_configuration[0].security_groups lists \"sg-1\" more than once."],
        ),
        Case::new(
            "cd_no_listener_or_rule",
            "neither listener_arns nor listener_rule_arns",
            edit(&c("cd_no_listener_or_rule"), &[(&listeners, ""), (&rules, ""), ("  traffic {\n", &format!("  traffic {{ {MARK}\n"))]),
            "Nothing to route",
            &["Set traffic.listener_arns, traffic.listener_rule_arns, or both"],
        ),
        Case::new(
            "cd_empty_router_lists",
            "listener_arns = [] and listener_rule_arns = []",
            edit(&c("cd_empty_router_lists"), &[(&listeners, "    listener_arns      = []\n"), (&rules, &format!("    listener_rule_arns = [] {MARK}\n"))]),
            "Nothing to route",
            &["ecsx needs at least one listener or rule"],
        ),
        Case::new(
            "cd_missing_stable",
            "no stable block",
            edit(&c("cd_missing_stable"), &[(&format!("  stable {{\n{stable_td}  }}\n"), ""), ("resource \"ecsx_canary_deployment\" \"cd_missing_stable\" {\n", &format!("resource \"ecsx_canary_deployment\" \"cd_missing_stable\" {{ {MARK}\n"))]),
            "Insufficient stable blocks",
            &["\"stable\""],
        ),
        Case::new(
            "cd_missing_traffic",
            "no traffic block",
            edit(&c("cd_missing_traffic"), &[(&format!("  traffic {{\n{primary_tg}{canary_tg}{listeners}{rules}  }}\n"), ""), ("resource \"ecsx_canary_deployment\" \"cd_missing_traffic\" {\n", &format!("resource \"ecsx_canary_deployment\" \"cd_missing_traffic\" {{ {MARK}\n"))]),
            "Insufficient traffic blocks",
            &["\"traffic\""],
        ),
        Case::new(
            "cd_missing_task_set",
            "no task_set block",
            {
                let h = c("cd_missing_task_set");
                let start = h.find("  task_set {\n").expect("task_set block");
                let end = h.find("  stable {\n").expect("stable block");
                let h = format!("{}{}", &h[..start], &h[end..]);
                edit(&h, &[("resource \"ecsx_canary_deployment\" \"cd_missing_task_set\" {\n", &format!("resource \"ecsx_canary_deployment\" \"cd_missing_task_set\" {{ {MARK}\n"))])
            },
            "Insufficient task_set blocks",
            &["\"task_set\""],
        ),
        Case::new(
            "cd_two_canary_blocks",
            "two canary blocks",
            edit(&c("cd_two_canary_blocks"), &[("  traffic {\n", &format!("  canary {{ {MARK}\n    task_definition = \"{ACCOUNT_ARN}:task-definition/web:14\"\n  }}\n  traffic {{\n"))]),
            "Too many canary blocks",
            &["No more than 1 \"canary\" blocks are allowed"],
        ),
        Case::new(
            "cd_two_network_configurations",
            "two network_configuration blocks",
            edit(&c("cd_two_network_configurations"), &[("    }\n  }\n  stable {\n", &format!("    }}\n    network_configuration {{ {MARK}\n      subnets = [\"subnet-9\"]\n    }}\n  }}\n  stable {{\n"))]),
            "Too many network_configuration blocks",
            &["No more than 1 \"network_configuration\" blocks are allowed"],
        ),
        Case::new(
            "cd_launch_type_and_capacity_provider",
            "launch_type and capacity_provider_strategy together",
            edit(&c("cd_launch_type_and_capacity_provider"), &[(launch, &format!("    launch_type    = \"FARGATE\" {MARK}\n")), (port, &format!("{port}{cps}"))]),
            "Conflicting arguments",
            &["Set either task_set.launch_type or task_set.capacity_provider_strategy blocks, not both"],
        ),
        Case::new(
            "cd_launch_type_unknown_value",
            "launch_type = \"LAMBDA\"",
            edit(&c("cd_launch_type_unknown_value"), &[(launch, &format!("    launch_type    = \"LAMBDA\" {MARK}\n"))]),
            "Invalid value",
            &["task_set[0].launch_type must be one of FARGATE, EC2, EXTERNAL, got \"LAMBDA\"."],
        ),
        Case::new(
            "cd_capacity_weight_1001",
            "capacity_provider_strategy.weight = 1001",
            edit(&c("cd_capacity_weight_1001"), &[(launch, ""), (port, &format!("{port}{}", cps.replace("      weight            = 1\n", &format!("      weight            = 1001 {MARK}\n"))))]),
            "Value out of range",
            &["task_set[0].capacity_provider_strategy[0].weight must be a whole number between 0 and 1000, got 1001."],
        ),
        Case::new(
            "cd_capacity_base_negative",
            "capacity_provider_strategy.base = -1",
            edit(&c("cd_capacity_base_negative"), &[(launch, ""), (port, &format!("{port}{}", cps.replace("      weight            = 1\n", &format!("      base              = -1 {MARK}\n"))))]),
            "Value out of range",
            &["task_set[0].capacity_provider_strategy[0].base must be a whole number between 0 and 100000, got -1."],
        ),
        Case::new(
            "cd_capacity_provider_blank",
            "capacity_provider = \"\"",
            edit(&c("cd_capacity_provider_blank"), &[(launch, ""), (port, &format!("{port}{}", cps.replace("      capacity_provider = \"FARGATE_SPOT\"\n", &format!("      capacity_provider = \"\" {MARK}\n"))))]),
            "Empty value",
            &["task_set[0].capacity_provider_strategy[0].capacity_provider must not be empty."],
        ),
        Case::new(
            "cd_timeout_create_word",
            "timeouts.create = \"soon\"",
            timeouts("cd_timeout_create_word", "create", "soon"),
            "Invalid duration",
            &["timeouts[0].create must be a duration such as \"30s\", \"20m\" or \"1h30m\", got \"soon\"."],
        ),
        Case::new(
            "cd_timeout_delete_negative",
            "timeouts.delete = \"-5m\"",
            timeouts("cd_timeout_delete_negative", "delete", "-5m"),
            "Invalid duration",
            &["timeouts[0].delete must be a duration", "got \"-5m\"."],
        ),
        Case::new(
            "cd_timeout_zero",
            "timeouts.create = \"0s\" (no time at all)",
            timeouts("cd_timeout_zero", "create", "0s"),
            "Value out of range",
            &["timeouts[0].create must be from 1s to 168h, got \"0s\"."],
        ),
        Case::new(
            "cd_step_pause_overflow",
            "step.pause = \"99999999999999999999s\" (beyond any duration)",
            edit(
                &c("cd_step_pause_overflow"),
                &[(
                    traffic,
                    &format!("    step {{\n      traffic_percent = 10\n      pause           = \"99999999999999999999s\" {MARK}\n    }}\n"),
                )],
            ),
            "Invalid duration",
            &["canary[0].step[0].pause must be a duration", "got \"99999999999999999999s\"."],
        ),
        Case::new(
            "cd_step_pause_too_long",
            "step.pause = \"200h\" (longer than any apply may run)",
            edit(
                &c("cd_step_pause_too_long"),
                &[(
                    traffic,
                    &format!("    step {{\n      traffic_percent = 10\n      pause           = \"200h\" {MARK}\n    }}\n"),
                )],
            ),
            "Value out of range",
            &["canary[0].step[0].pause must be from 0s to 168h, got \"200h\"."],
        ),
        Case::new(
            "cd_check_interval_zero",
            "analysis.check_interval = \"0s\" (a busy loop)",
            edit(
                &c("cd_check_interval_zero"),
                &[(
                    close_traffic,
                    &format!("  }}\n  analysis {{\n    alarm_names    = [\"x\"]\n    check_interval = \"0s\" {MARK}\n  }}\n}}\n"),
                )],
            ),
            "Value out of range",
            &["analysis[0].check_interval must be from 1s to 1h, got \"0s\"."],
        ),
        Case::new(
            "cd_alarm_names_empty",
            "analysis.alarm_names = [] (watches nothing)",
            edit(
                &c("cd_alarm_names_empty"),
                &[(
                    close_traffic,
                    &format!("  }}\n  analysis {{\n    alarm_names = [] {MARK}\n  }}\n}}\n"),
                )],
            ),
            "No alarms to watch",
            &["analysis.alarm_names is empty"],
        ),
        Case::new(
            "cd_timeout_days",
            "timeouts.update = \"2d\" (no day unit)",
            timeouts("cd_timeout_days", "update", "2d"),
            "Invalid duration",
            &["timeouts[0].update must be a duration", "got \"2d\"."],
        ),
        Case::new(
            "cd_unsupported_argument",
            "replicas = 3 (no such argument)",
            edit(&c("cd_unsupported_argument"), &[(&service, &format!("{service}  replicas = 3 {MARK}\n"))]),
            "Unsupported argument",
            &["An argument named \"replicas\" is not expected here."],
        ),
        Case::new(
            "cd_unsupported_block",
            "an autoscaling block (no such block)",
            edit(&c("cd_unsupported_block"), &[(&service, &format!("{service}  autoscaling {{ {MARK}\n  }}\n"))]),
            "Unsupported block type",
            &["Blocks of type \"autoscaling\" are not expected here."],
        ),
        Case::new(
            "cd_missing_cluster",
            "no cluster",
            edit(&c("cd_missing_cluster"), &[(&cluster, ""), ("resource \"ecsx_canary_deployment\" \"cd_missing_cluster\" {\n", &format!("resource \"ecsx_canary_deployment\" \"cd_missing_cluster\" {{ {MARK}\n"))]),
            "Missing required argument",
            &["The argument \"cluster\" is required"],
        ),
        Case::new(
            "cd_missing_container_port",
            "no task_set.container_port",
            edit(&c("cd_missing_container_port"), &[(port, ""), ("  task_set {\n", &format!("  task_set {{ {MARK}\n"))]),
            "Missing required argument",
            &["The argument \"container_port\" is required"],
        ),
        Case::new(
            "cd_sets_computed_attribute",
            "stable_task_set_id set in the configuration (computed)",
            edit(&c("cd_sets_computed_attribute"), &[(&service, &format!("{service}  stable_task_set_id = \"ecs-svc/1\" {MARK}\n"))]),
            "Invalid Configuration for Read-Only Attribute",
            &["stable_task_set_id"],
        ),
        Case::new(
            "cd_tags_not_a_map",
            "task_set.tags = [\"team\"] (wrong type)",
            edit(&c("cd_tags_not_a_map"), &[(port, &format!("{port}    tags = [\"team\"] {MARK}\n"))]),
            "Incorrect attribute value type",
            &["\"tags\"", "map of string required"],
        ),
        Case::new(
            "cd_subnets_not_a_list",
            "subnets = \"subnet-0a1\" (wrong type)",
            edit(&c("cd_subnets_not_a_list"), &[(&subnets, &format!("      subnets         = \"subnet-0a1\" {MARK}\n"))]),
            "Incorrect attribute value type",
            &["\"subnets\"", "list of string required"],
        ),
    ]
}

fn primary_cases(r: &Refs) -> Vec<Case> {
    let good = "ecs-svc/1234567890123456789";
    let p = |name: &str, task_set: &str| primary_hcl(name, r, task_set);
    let cluster = format!("  cluster  = \"{}\"\n", r.cluster);
    let service = format!("  service  = \"{}\"\n", r.service);
    let task_set = |name: &str, value: &str| {
        edit(
            &p(name, good),
            &[(
                &format!("  task_set = \"{good}\"\n"),
                &format!("  task_set = \"{value}\" {MARK}\n"),
            )],
        )
    };
    let with_timeouts = |name: &str, op: &str, value: &str| {
        format!(
            "{}  timeouts {{\n    {op} = \"{value}\" {MARK}\n  }}\n}}\n",
            p(name, good).trim_end().trim_end_matches('}')
        )
    };
    vec![
        Case::new(
            "pts_cluster_empty",
            "cluster = \"\"",
            edit(&p("pts_cluster_empty", good), &[(&cluster, &format!("  cluster  = \"\" {MARK}\n"))]),
            "Invalid name or ARN",
            &["cluster: \"\" is empty; give a name or an ARN."],
        ),
        Case::new(
            "pts_service_is_task_set_arn",
            "a task set ARN as service",
            edit(&p("pts_service_is_task_set_arn", good), &[(&service, &format!("  service  = \"{ACCOUNT_ARN}:task-set/prod/web/{good}\" {MARK}\n"))]),
            "Invalid name or ARN",
            &["is not an ARN of ecs `service`"],
        ),
        Case::new(
            "pts_task_set_malformed",
            "task_set = \"not a task set!\"",
            task_set("pts_task_set_malformed", "not a task set!"),
            "Invalid task set",
            &["task_set: \"not a task set!\" is neither a task set id"],
        ),
        Case::new(
            "pts_task_set_is_service_arn",
            "a service ARN as task_set",
            task_set("pts_task_set_is_service_arn", &format!("{ACCOUNT_ARN}:service/prod/web")),
            "Invalid task set",
            &["is not an ARN of ecs `task-set`"],
        ),
        Case::new(
            "pts_task_set_arn_without_id",
            "a task set ARN cut after the cluster",
            task_set("pts_task_set_arn_without_id", &format!("{ACCOUNT_ARN}:task-set/prod")),
            "Invalid task set",
            &["is not a task set ARN; expected ...:task-set/CLUSTER/SERVICE/ID"],
        ),
        Case::new(
            "pts_task_set_of_another_service_arn",
            "the ARN of a task set of service api, for service web",
            task_set("pts_task_set_of_another_service_arn", &format!("{ACCOUNT_ARN}:task-set/prod/api/{good}")),
            "Task set not in this service",
            &[&format!("is not a task set of service \"{}\" in cluster \"{}\": its ARN names service \"api\" in cluster \"prod\"", r.service, r.cluster)],
        ),
        Case::new(
            "pts_task_set_of_another_cluster_arn",
            "the ARN of a task set in cluster staging, for cluster prod",
            task_set("pts_task_set_of_another_cluster_arn", &format!("{ACCOUNT_ARN}:task-set/staging/web/{good}")),
            "Task set not in this service",
            &["its ARN names service \"web\" in cluster \"staging\""],
        ),
        Case::new(
            "pts_wait_not_bool",
            "wait_for_steady_state = \"eventually\" (wrong type)",
            edit(&p("pts_wait_not_bool", good), &[(&service, &format!("{service}  wait_for_steady_state = \"eventually\" {MARK}\n"))]),
            "Incorrect attribute value type",
            &["\"wait_for_steady_state\"", "a bool is required"],
        ),
        Case::new(
            "pts_timeout_update_words",
            "timeouts.update = \"1 hour\"",
            with_timeouts("pts_timeout_update_words", "update", "1 hour"),
            "Invalid duration",
            &["timeouts[0].update must be a duration", "got \"1 hour\"."],
        ),
        Case::new(
            "pts_timeout_delete_unsupported",
            "timeouts.delete (the resource has no delete timeout)",
            with_timeouts("pts_timeout_delete_unsupported", "delete", "5m"),
            "Unsupported argument",
            &["An argument named \"delete\" is not expected here."],
        ),
        Case::new(
            "pts_missing_task_set",
            "no task_set",
            edit(&p("pts_missing_task_set", good), &[(&format!("  task_set = \"{good}\"\n"), ""), ("resource \"ecsx_primary_task_set\" \"pts_missing_task_set\" {\n", &format!("resource \"ecsx_primary_task_set\" \"pts_missing_task_set\" {{ {MARK}\n"))]),
            "Missing required argument",
            &["The argument \"task_set\" is required"],
        ),
    ]
}

fn data_source_cases(r: &Refs) -> Vec<Case> {
    let d = |name: &str| data_hcl(name, r);
    let cluster = format!("  cluster = \"{}\"\n", r.cluster);
    let service = format!("  service = \"{}\"\n", r.service);
    vec![
        Case::new(
            "ds_service_empty",
            "ecsx_task_sets with service = \"\"",
            edit(
                &d("ds_service_empty"),
                &[(&service, &format!("  service = \"\" {MARK}\n"))],
            ),
            "Invalid name or ARN",
            &["service: \"\" is empty; give a name or an ARN."],
        ),
        Case::new(
            "ds_cluster_is_service_arn",
            "ecsx_task_sets with a service ARN as cluster",
            edit(
                &d("ds_cluster_is_service_arn"),
                &[(
                    &cluster,
                    &format!("  cluster = \"{ACCOUNT_ARN}:service/prod/web\" {MARK}\n"),
                )],
            ),
            "Invalid name or ARN",
            &["is not an ARN of ecs `cluster`"],
        ),
        Case::new(
            "ds_missing_service",
            "ecsx_task_sets without service",
            edit(
                &d("ds_missing_service"),
                &[
                    (&service, ""),
                    (
                        "data \"ecsx_task_sets\" \"ds_missing_service\" {\n",
                        &format!("data \"ecsx_task_sets\" \"ds_missing_service\" {{ {MARK}\n"),
                    ),
                ],
            ),
            "Missing required argument",
            &["The argument \"service\" is required"],
        ),
        Case::new(
            "ds_sets_computed_attribute",
            "ecsx_task_sets with primary_task_set_id set (computed)",
            edit(
                &d("ds_sets_computed_attribute"),
                &[(
                    &service,
                    &format!("{service}  primary_task_set_id = \"ecs-svc/1\" {MARK}\n"),
                )],
            ),
            "Invalid Configuration for Read-Only Attribute",
            &["primary_task_set_id"],
        ),
    ]
}

fn provider_cases() -> Vec<Case> {
    let role = |extra: &str| {
        format!("  assume_role {{\n    role_arn = \"arn:aws:iam::123456789012:role/deploy\"\n{extra}  }}\n")
    };
    let case = |name: &str, input: &str, body: String, summary: &str, detail: &[&str]| {
        Case::new(name, input, provider_hcl(name, &body), summary, detail)
    };
    vec![
        case("prov_max_retries_101", "max_retries = 101", format!("  max_retries = 101 {MARK}\n"), "Value out of range", &["max_retries must be a whole number between 0 and 100, got 101."]),
        case("prov_max_retries_negative", "max_retries = -1", format!("  max_retries = -1 {MARK}\n"), "Value out of range", &["max_retries must be a whole number between 0 and 100, got -1."]),
        case("prov_max_retries_fraction", "max_retries = 2.5", format!("  max_retries = 2.5 {MARK}\n"), "Value out of range", &["got 2.5."]),
        case("prov_max_retries_string", "max_retries = \"many\" (wrong type)", format!("  max_retries = \"many\" {MARK}\n"), "Incorrect attribute value type", &["\"max_retries\"", "a number is required"]),
        case(
            "prov_role_arn_is_user",
            "assume_role.role_arn is an IAM user ARN",
            format!("  assume_role {{\n    role_arn = \"arn:aws:iam::123456789012:user/bob\" {MARK}\n  }}\n"),
            "Invalid ARN",
            &["assume_role[0].role_arn: \"arn:aws:iam::123456789012:user/bob\" is not an ARN of iam `role`"],
        ),
        case(
            "prov_role_arn_not_arn",
            "assume_role.role_arn = \"deploy\"",
            format!("  assume_role {{\n    role_arn = \"deploy\" {MARK}\n  }}\n"),
            "Invalid ARN",
            &["assume_role[0].role_arn: \"deploy\" is not an ARN"],
        ),
        case(
            "prov_role_duration_word",
            "assume_role.duration = \"forever\"",
            role(&format!("    duration = \"forever\" {MARK}\n")),
            "Invalid duration",
            &["assume_role[0].duration must be a duration", "got \"forever\"."],
        ),
        case(
            "prov_role_duration_too_short",
            "assume_role.duration = \"5m\" (STS needs 15m to 12h)",
            role(&format!("    duration = \"5m\" {MARK}\n")),
            "Value out of range",
            &["assume_role[0].duration must be from 15m to 12h", "got \"5m\"."],
        ),
        case(
            "prov_role_duration_too_long",
            "assume_role.duration = \"24h\"",
            role(&format!("    duration = \"24h\" {MARK}\n")),
            "Value out of range",
            &["assume_role[0].duration must be from 15m to 12h", "got \"24h\"."],
        ),
        case(
            "prov_two_assume_role_blocks",
            "two assume_role blocks",
            format!("{}  assume_role {{ {MARK}\n    role_arn = \"arn:aws:iam::123456789012:role/other\"\n  }}\n", role("")),
            "Too many assume_role blocks",
            &["No more than 1 \"assume_role\" blocks are allowed"],
        ),
        case(
            "prov_assume_role_without_role_arn",
            "assume_role without role_arn",
            format!("  assume_role {{ {MARK}\n    session_name = \"ci\"\n  }}\n"),
            "Missing required argument",
            &["The argument \"role_arn\" is required"],
        ),
        case(
            "prov_endpoint_not_url",
            "endpoints.ecs = \"localhost:4566\" (no scheme)",
            format!("  endpoints {{\n    ecs = \"localhost:4566\" {MARK}\n  }}\n"),
            "Invalid endpoint URL",
            &["endpoints[0].ecs must be an http:// or https:// URL", "got \"localhost:4566\"."],
        ),
        case(
            "prov_unsupported_argument",
            "access_key = \"...\" (credentials come from the AWS chain)",
            format!("  access_key = \"AKIAEXAMPLE\" {MARK}\n"),
            "Unsupported argument",
            &["An argument named \"access_key\" is not expected here."],
        ),
    ]
}

/// Valid configurations next to the cases: they must draw no error, or the cases prove little.
fn controls(r: &Refs) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        canary_hcl("control_canary", r),
        primary_hcl("control_primary", r, "ecs-svc/1234567890123456789"),
        data_hcl("control_data", r),
        provider_hcl(
            "control",
            "  max_retries = 3\n  assume_role {\n    role_arn = \"arn:aws:iam::123456789012:role/deploy\"\n    duration = \"1h\"\n  }\n  endpoints {\n    ecs = \"http://127.0.0.1:4566\"\n  }\n"
        )
    )
}

const DUMMY_PROVIDER: &str = "provider \"ecsx\" {\n  region      = \"us-east-1\"\n  max_retries = 0\n  endpoints {\n    ecs   = \"http://127.0.0.1:9\"\n    elbv2 = \"http://127.0.0.1:9\"\n    sts   = \"http://127.0.0.1:9\"\n  }\n}\n";

#[test]
fn invalid_configurations_fail_validation_with_their_own_diagnostics() {
    let r = Refs::made_up();
    let mut cases = canary_cases(&r);
    cases.extend(primary_cases(&r));
    cases.extend(data_source_cases(&r));
    cases.extend(provider_cases());
    assert!(cases.len() >= 40, "only {} cases", cases.len());

    let ws = Workspace::new("bad-input-validate");
    ws.config(DUMMY_PROVIDER);
    ws.write("controls.tf", &controls(&r));
    write_cases(&ws, &cases);
    let out = ws.run(&["validate", "-json", "-no-color"]);
    assert_eq!(out.code, 1, "validate must fail:\n{out}");
    let diags = diagnostics_of(&out);
    let controls: Vec<String> = diags
        .iter()
        .filter(|d| d["range"]["filename"] == "controls.tf" || d["range"]["filename"] == "main.tf")
        .map(describe)
        .collect();
    assert!(
        controls.is_empty(),
        "valid configurations drew diagnostics: {controls:#?}"
    );
    judge_all("validate", &cases, &out);
}

// ---------------------------------------------------------------------------------------------
// 2. Values unknown until apply: not judged early, and the plan goes through
// ---------------------------------------------------------------------------------------------

/// A configuration that must validate and plan although parts of it are unknown at plan time.
struct Deferred {
    name: &'static str,
    input: &'static str,
    hcl: String,
    /// Resource addresses the plan must create.
    creates: Vec<String>,
}

fn deferred_cases(r: &Refs) -> Vec<Deferred> {
    let c = |name: &str| canary_hcl(name, r);
    let traffic = "    traffic_percent = 10\n";
    let canary_td = format!("    task_definition = \"{}\"\n", r.canary_td);
    let listeners = format!("    listener_arns            = [\"{}\"]\n", r.listener);
    let rules = format!("    listener_rule_arns       = [\"{}\"]\n", r.rule);
    let subnets = format!("      subnets         = {}\n", hcl_list(&r.subnets));
    let launch = "    launch_type    = \"FARGATE\"\n";
    let port = "    container_port = 8080\n";
    let cluster = format!("  cluster = \"{}\"\n", r.cluster);
    let traffic_block = format!(
        "  traffic {{\n    primary_target_group_arn = \"{}\"\n    canary_target_group_arn  = \"{}\"\n{listeners}{rules}  }}\n",
        r.blue, r.green
    );
    let canary_block = format!("  canary {{\n{canary_td}{traffic}  }}\n");
    let canary = |name: &'static str, input: &'static str, hcl: String| Deferred {
        name,
        input,
        hcl,
        creates: vec![format!("ecsx_canary_deployment.{name}")],
    };
    vec![
        canary(
            "u_traffic_percent",
            "canary.traffic_percent from a resource output",
            edit(&c("u_traffic_percent"), &[(traffic, "    traffic_percent = terraform_data.number.output\n")]),
        ),
        canary(
            "u_canary_td_maybe_stable",
            "canary.task_definition from a resource output (equal to stable's once known)",
            edit(&c("u_canary_td_maybe_stable"), &[(&canary_td, "    task_definition = terraform_data.stable_td.output\n")]),
        ),
        canary(
            "u_rules_only_unknown",
            "listener_rule_arns unknown and no listener_arns",
            edit(&c("u_rules_only_unknown"), &[(&listeners, ""), (&rules, "    listener_rule_arns = terraform_data.rules.output\n")]),
        ),
        canary(
            "u_rule_element_unknown",
            "one listener_rule_arns element unknown",
            edit(&c("u_rule_element_unknown"), &[(&rules, &format!("    listener_rule_arns = [\"{}\", terraform_data.rule.output]\n", r.rule))]),
        ),
        canary(
            "u_launch_type_maybe_null",
            "launch_type unknown (may be null) next to capacity_provider_strategy",
            edit(&c("u_launch_type_maybe_null"), &[(launch, "    launch_type    = terraform_data.text.output == \"\" ? \"FARGATE\" : null\n"), (port, &format!("{port}    capacity_provider_strategy {{\n      capacity_provider = \"FARGATE_SPOT\"\n    }}\n"))]),
        ),
        canary(
            "u_dynamic_traffic_block",
            "the traffic block from a dynamic block over an unknown collection",
            edit(&c("u_dynamic_traffic_block"), &[(&traffic_block, &format!("  dynamic \"traffic\" {{\n    for_each = terraform_data.list.output\n    content {{\n{}    }}\n  }}\n", traffic_block.lines().skip(1).take(4).map(|l| format!("  {l}\n")).collect::<String>()))]),
        ),
        canary(
            "u_dynamic_canary_block",
            "the canary block from a dynamic block over an unknown collection",
            edit(&c("u_dynamic_canary_block"), &[(&canary_block, &format!("  dynamic \"canary\" {{\n    for_each = terraform_data.list.output\n    content {{\n  {canary_td}  {traffic}    }}\n  }}\n"))]),
        ),
        canary(
            "u_subnets_unknown",
            "network_configuration.subnets from a resource output",
            edit(&c("u_subnets_unknown"), &[(&subnets, "      subnets         = terraform_data.list.output\n")]),
        ),
        canary(
            "u_cluster_and_timeouts_unknown",
            "cluster and timeouts.create from resource outputs",
            edit(&c("u_cluster_and_timeouts_unknown"), &[(&cluster, "  cluster = terraform_data.text.output\n"), ("  }\n}\n", "  }\n  timeouts {\n    create = terraform_data.text.output\n  }\n}\n")]),
        ),
        Deferred {
            name: "u_primary_task_set",
            input: "ecsx_primary_task_set.task_set from a resource output",
            hcl: primary_hcl("u_primary_task_set", r, "x").replace("\"x\"", "terraform_data.text.output"),
            creates: vec!["ecsx_primary_task_set.u_primary_task_set".into()],
        },
        Deferred {
            name: "u_provider_region",
            input: "the provider's region from a resource output",
            hcl: format!(
                "provider \"ecsx\" {{\n  alias  = \"later\"\n  region = terraform_data.text.output\n}}\n\n{}",
                canary_hcl("u_provider_region", r).replace(
                    "resource \"ecsx_canary_deployment\" \"u_provider_region\" {\n",
                    "resource \"ecsx_canary_deployment\" \"u_provider_region\" {\n  provider = ecsx.later\n"
                )
            ),
            creates: vec!["ecsx_canary_deployment.u_provider_region".into()],
        },
        Deferred {
            name: "u_data_source",
            input: "ecsx_task_sets.service from a resource output",
            hcl: format!(
                "{}\noutput \"u_data_source\" {{\n  value = data.ecsx_task_sets.u_data_source.primary_task_set_id\n}}\n",
                data_hcl("u_data_source", r).replace(
                    &format!("  service = \"{}\"\n", r.service),
                    "  service = terraform_data.text.output\n"
                )
            ),
            creates: vec![],
        },
    ]
}

const UNKNOWN_SOURCES: &str = r#"resource "terraform_data" "number" { input = 10 }
resource "terraform_data" "text" { input = "web" }
resource "terraform_data" "list" { input = ["subnet-0a1"] }
resource "terraform_data" "rule" { input = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/1" }
resource "terraform_data" "rules" { input = ["arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/1"] }
resource "terraform_data" "stable_td" { input = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:12" }
"#;

#[test]
fn values_unknown_until_apply_validate_and_plan() {
    let r = Refs::made_up();
    let cases = deferred_cases(&r);
    let ws = Workspace::new("bad-input-unknown");
    ws.config(DUMMY_PROVIDER);
    ws.write("sources.tf", UNKNOWN_SOURCES);
    for c in &cases {
        ws.write(&format!("{}.tf", c.name), &c.hcl);
    }
    // No emulator: nothing here may reach AWS at plan time (the endpoints refuse connections).
    let out = ws.run(&["plan", "-json", "-input=false", "-no-color"]);
    let lines: Vec<Json> = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let errors: Vec<String> = lines
        .iter()
        .filter(|v| v["type"] == "diagnostic" && is_error(&v["diagnostic"]))
        .map(|v| describe(&v["diagnostic"]))
        .collect();
    let planned: Vec<(String, String)> = lines
        .iter()
        .filter(|v| v["type"] == "planned_change")
        .map(|v| {
            (
                v["change"]["resource"]["addr"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                v["change"]["action"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    let mut failures = String::new();
    for c in &cases {
        let file = format!("{}.tf", c.name);
        let row = ReliabilityRow::new(
            SUITE,
            c.name,
            c.input,
            "no diagnostic at validate or plan; the plan creates the resource",
        );
        let mine: Vec<&String> = errors.iter().filter(|e| e.contains(&file)).collect();
        let missing: Vec<&String> = c
            .creates
            .iter()
            .filter(|a| !planned.contains(&((*a).clone(), "create".to_string())))
            .collect();
        if mine.is_empty() && missing.is_empty() && out.success() {
            row.pass(&format!(
                "planned: {}",
                if c.creates.is_empty() {
                    "read at apply".to_string()
                } else {
                    c.creates.join(", ") + " (create)"
                }
            ));
        } else {
            let why = format!(
                "errors {mine:?}; not planned {missing:?}; exit {}",
                out.code
            );
            let _ = writeln!(failures, "- {}: {why}", c.name);
            row.fail(&why);
        }
    }
    assert!(
        failures.is_empty() && errors.is_empty() && out.success(),
        "unknown values were judged too early:\n{failures}\nall errors: {errors:#?}\n{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Plan time: what only AWS knows (one emulator, one plan for the whole table)
// ---------------------------------------------------------------------------------------------

/// A listener rule action that answers 503 itself instead of forwarding.
fn fixed_response() -> aws_sdk_elasticloadbalancingv2::types::Action {
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, FixedResponseActionConfig,
    };
    Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            FixedResponseActionConfig::builder()
                .status_code("503")
                .content_type("text/plain")
                .build(),
        )
        .build()
}

#[tokio::test]
async fn what_only_aws_knows_fails_at_plan_time() {
    let emu = Emulator::start();
    emu.configure(json!({"drain_seconds": 600}));
    let infra = Infra::create_n(&emu, "badplan", 5);
    let aws = Aws::connect(&emu).await;
    let s = &infra.services;
    let base = Refs::of(&infra, &s[0]);
    let on = |i: usize| base.service(&s[i]);
    let td = &infra.task_definitions;

    // An ECS-controller service, five and four foreign task sets, another service's task set,
    // a DRAINING task set, a rule that also forwards to a third target group, a rule that
    // answers by itself.
    let rolling = "rolling";
    aws.create_ecs_controller_service(&infra, rolling).await;
    let mut five = Vec::new();
    for i in 0..5 {
        five.push(aws.create_task_set(&infra, &s[1], &td[i % 3]).await.id);
    }
    let mut four = Vec::new();
    for i in 0..4 {
        four.push(aws.create_task_set(&infra, &s[2], &td[i % 3]).await.id);
    }
    let elsewhere = aws.create_task_set(&infra, &s[3], &td[0]).await;
    let draining = aws.create_task_set(&infra, &s[4], &td[0]).await;
    aws.delete_task_set(&infra.cluster, &s[4], &draining.arn)
        .await;
    let orange = aws.create_target_group(&infra, "badplan-orange").await;
    let foreign_rule = aws
        .create_rule(
            &infra.listener_arn,
            20,
            "/shared/*",
            common::forward_action(&[(&infra.blue_target_group_arn, 50), (&orange, 50)], None),
        )
        .await;
    let fixed_rule = aws
        .create_rule(&infra.listener_arn, 21, "/maintenance/*", fixed_response())
        .await;
    let missing_rule = format!(
        "{}0",
        infra
            .rule_arn
            .trim_end_matches(|c: char| c.is_ascii_hexdigit())
    );

    let mark = |hcl: String, line_start: &str| -> String {
        let lines: Vec<String> = hcl
            .lines()
            .map(|l| {
                if l.trim_start().starts_with(line_start) {
                    format!("{l} {MARK}")
                } else {
                    l.to_string()
                }
            })
            .collect();
        lines.join("\n") + "\n"
    };
    let cluster = &infra.cluster;
    let no_canary = |hcl: String| {
        let start = hcl.find("  canary {\n").expect("canary block");
        let end = hcl[start..].find("  }\n").expect("end of canary block") + start + 4;
        format!("{}{}", &hcl[..start], &hcl[end..])
    };
    let mut limit_detail = vec![format!(
        "This plan creates 1 task set(s) while service \"{}\" already has 5:",
        s[1]
    )];
    limit_detail.extend(five.iter().map(|id| format!("{id} (ACTIVE")));
    let mut limit4_detail = vec![format!(
        "This plan creates 2 task set(s) while service \"{}\" already has 4:",
        s[2]
    )];
    limit4_detail.extend(four.iter().map(|id| format!("{id} (ACTIVE")));
    let strs = |v: &[String]| v.to_vec();

    let mut cases = vec![
        Case::new(
            "p_ecs_controller_canary",
            "ecsx_canary_deployment on a service with the ECS deployment controller",
            mark(canary_hcl("p_ecs_controller_canary", &base.service(rolling)), "service ="),
            "Service does not use the EXTERNAL deployment controller",
            &[&format!("Service \"{rolling}\" in cluster \"{cluster}\" uses the ECS deployment controller")],
        ),
        Case::new(
            "p_ecs_controller_primary",
            "ecsx_primary_task_set on a service with the ECS deployment controller",
            mark(primary_hcl("p_ecs_controller_primary", &base.service(rolling), "ecs-svc/1234567890123456789"), "service "),
            "Service does not use the EXTERNAL deployment controller",
            &[&format!("Service \"{rolling}\" in cluster \"{cluster}\" uses the ECS deployment controller")],
        ),
        Case {
            detail: strs(&limit_detail),
            ..Case::new(
                "p_task_set_limit_stable",
                "a new deployment on a service whose 5 task sets (not ecsx's) fill the ECS limit",
                mark(no_canary(canary_hcl("p_task_set_limit_stable", &on(1))), "service ="),
                "Too many task sets on the service",
                &[],
            )
        },
        Case {
            detail: strs(&limit4_detail),
            ..Case::new(
                "p_task_set_limit_canary",
                "a deployment with a canary (2 task sets) on a service with 4 foreign task sets",
                mark(canary_hcl("p_task_set_limit_canary", &on(2)), "service ="),
                "Too many task sets on the service",
                &[],
            )
        },
        Case::new(
            "p_rule_does_not_forward",
            "a managed rule whose action is a fixed response, not a forward",
            mark(
                canary_hcl(
                    "p_rule_does_not_forward",
                    &Refs {
                        rule: fixed_rule.clone(),
                        ..on(3)
                    },
                ),
                "listener_rule_arns",
            ),
            "Managed listener or rule does not forward",
            &[&format!(
                "The listener rule {fixed_rule} has no forward action; ecsx only rewrites forward actions."
            )],
        ),
        Case::new(
            "p_rule_forwards_elsewhere",
            "a managed rule that also forwards to a target group outside the deployment",
            mark(canary_hcl("p_rule_forwards_elsewhere", &Refs { rule: foreign_rule.clone(), ..on(3) }), "listener_rule_arns"),
            "Managed listener or rule forwards to another target group",
            &[&format!("The listener rule {foreign_rule} forwards to target group {orange}")],
        ),
        Case::new(
            "p_rule_missing",
            "a listener rule ARN that does not exist",
            mark(canary_hcl("p_rule_missing", &Refs { rule: missing_rule.clone(), ..on(3) }), "listener_rule_arns"),
            "Listener rule not found",
            &[&format!("The listener rule {missing_rule} does not exist in the provider's region (us-east-1) (RuleNotFound)")],
        ),
        Case::new(
            "p_primary_task_set_of_another_service",
            "ecsx_primary_task_set given the id of another service's task set",
            mark(primary_hcl("p_primary_task_set_of_another_service", &base, &elsewhere.id), "task_set "),
            "Task set not in this service",
            &[&format!("Task set \"{}\" is not a task set of service \"{}\" in cluster \"{cluster}\" (DescribeTaskSets failure MISSING)", elsewhere.id, s[0])],
        ),
        Case::new(
            "p_primary_task_set_missing",
            "ecsx_primary_task_set given a task set id that does not exist",
            mark(primary_hcl("p_primary_task_set_missing", &base, "ecs-svc/1111111111111111111"), "task_set "),
            "Task set not in this service",
            &["Task set \"ecs-svc/1111111111111111111\" is not a task set of service"],
        ),
        Case::new(
            "p_primary_task_set_draining",
            "ecsx_primary_task_set given a DRAINING task set",
            mark(primary_hcl("p_primary_task_set_draining", &on(4), &draining.id), "task_set "),
            "Task set is draining",
            &[&format!("Task set {} of service \"{}\" in cluster \"{cluster}\" is DRAINING", draining.id, s[4])],
        ),
        Case::new(
            "p_primary_cluster_missing",
            "ecsx_primary_task_set in a cluster that does not exist",
            mark(primary_hcl("p_primary_cluster_missing", &Refs { cluster: "nocluster".into(), ..base.clone() }, "ecs-svc/1234567890123456789"), "cluster "),
            "ECS cluster not found",
            &["(ClusterNotFoundException)"],
        ),
        Case::new(
            "p_data_service_missing",
            "ecsx_task_sets for a service that does not exist",
            mark(data_hcl("p_data_service_missing", &base.service("nope")), "service ="),
            "ECS service not found",
            &["Service \"nope\" was not found in cluster", "(ServiceNotFoundException)"],
        ),
        Case::new(
            "p_data_cluster_missing",
            "ecsx_task_sets in a cluster that does not exist",
            mark(
                data_hcl(
                    "p_data_cluster_missing",
                    &Refs {
                        cluster: "nocluster".into(),
                        ..base.clone()
                    },
                ),
                "cluster =",
            ),
            "ECS cluster not found",
            &["(ClusterNotFoundException)"],
        ),
    ];
    // The same base configuration on a healthy service must plan, or the cases prove little.
    let control = canary_hcl("control_canary", &on(0));
    cases.sort_by(|a, b| a.name.cmp(&b.name));

    let ws = Workspace::with_emulator("bad-input-plan", &emu);
    ws.config("");
    ws.write("controls.tf", &control);
    write_cases(&ws, &cases);
    let (blue, green) = (&infra.blue_target_group_arn, &infra.green_target_group_arn);
    let before = aws.split(&infra.rule_arn, blue, green).await;
    let out = ws.run(&["plan", "-json", "-input=false", "-no-color"]);
    assert_eq!(out.code, 1, "plan must fail:\n{out}");
    judge_all("plan", &cases, &out);
    // Only plans: nothing was created or changed.
    assert!(aws.task_sets(cluster, &s[0]).await.is_empty());
    assert_eq!(aws.task_sets(cluster, &s[1]).await.len(), 5);
    assert_eq!(aws.split(&infra.rule_arn, blue, green).await, before);
}
