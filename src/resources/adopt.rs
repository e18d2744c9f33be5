//! Adopting what already runs: the identity of a service-scoped resource and the read-only walk
//! over a cluster's services that list resources share.

use super::support::aws_error;
use crate::arn;
use crate::aws::ecs::{self, Service, ServiceSetup, TaskSet};
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::Ctx;
use crate::schema::{Attribute, Block, IdentityAttribute, IdentitySchema, Schema, Type, Validator};
use crate::value::Value;
use std::collections::{BTreeMap, VecDeque};

/// The identity of a resource that exists once per ECS service, the way terraform-provider-aws
/// names regional resources (`account_id` and `region` optional for import, then the names).
pub fn service_identity_schema() -> IdentitySchema {
    IdentitySchema {
        version: 0,
        attributes: vec![
            IdentityAttribute::optional(
                "account_id",
                "AWS account that owns the service; defaults to the account the provider's credentials belong to.",
            ),
            IdentityAttribute::optional(
                "region",
                "AWS region of the service; defaults to the provider's region.",
            ),
            IdentityAttribute::required("cluster", "Name of the ECS cluster."),
            IdentityAttribute::required("service", "Name of the ECS service."),
        ],
    }
}

/// The identity of the service `state` names. `arn_attr` is a computed attribute holding an ARN
/// of something in that service (a task set), which carries the account and region.
pub fn service_identity(state: &Value, arn_attr: &str, region: &str) -> Value {
    service_identity_from(state, state.get(arn_attr).as_str(), region)
}

/// [`service_identity`] with the ARN that carries the account and region given.
pub fn service_identity_from(state: &Value, arn: Option<&str>, region: &str) -> Value {
    if state.is_null() {
        return Value::Null;
    }
    let name = |k: &str, f: fn(&str) -> &str| match state.get(k) {
        Value::String(s) => Value::from(f(s)),
        _ => Value::Unknown,
    };
    let fallback_region = if region.is_empty() {
        Value::Unknown
    } else {
        Value::from(region)
    };
    let (account, arn_region) = match arn.and_then(arn::parse) {
        Some(a) => (Value::from(a.account), Value::from(a.region)),
        None => (Value::Unknown, fallback_region),
    };
    Value::object([
        ("account_id", account),
        ("region", arn_region),
        ("cluster", name("cluster", arn::cluster_name)),
        ("service", name("service", arn::service_name)),
    ])
}

/// The identity of a listed service, from its ARN.
pub fn identity_of(svc: &Service) -> Value {
    let (account, region) = arn::parse(&svc.arn)
        .map(|a| (a.account, a.region))
        .unwrap_or_default();
    Value::object([
        ("account_id", Value::from(account)),
        ("region", Value::from(region)),
        ("cluster", Value::from(arn::cluster_name(&svc.cluster_arn))),
        ("service", Value::from(svc.name.as_str())),
    ])
}

/// `CLUSTER/SERVICE` from an identity; the region, when given, must be the provider's, since
/// ecsx talks to one region per provider configuration.
pub fn import_id(identity: &Value, region: &str, diags: &mut Diagnostics) -> Option<String> {
    let given = |k: &str| identity.get(k).as_str().filter(|s| !s.is_empty());
    if let Some(r) = given("region") {
        if r != region {
            diags.error_at(
                AttrPath::attr("region"),
                "Identity in another region",
                format!(
                    "The identity names region {r:?}, but this provider configuration works in {region:?}. Import through a provider configuration for {r:?} (provider = ecsx.ALIAS)."
                ),
            );
            return None;
        }
    }
    let (Some(cluster), Some(service)) = (given("cluster"), given("service")) else {
        diags.error(
            "Incomplete identity",
            "Importing by identity needs both cluster and service, e.g. identity = { cluster = \"prod\", service = \"web\" }.",
        );
        return None;
    };
    Some(format!(
        "{}/{}",
        arn::cluster_name(cluster),
        arn::service_name(service)
    ))
}

/// After an import by identity: an `account_id` the user gave must be the one the imported
/// service lives in.
pub fn check_account(wanted: &Value, got: &Value, diags: &mut Diagnostics) {
    let (Some(w), Some(g)) = (
        wanted.get("account_id").as_str().filter(|s| !s.is_empty()),
        got.get("account_id").as_str(),
    ) else {
        return;
    };
    if w != g {
        diags.error_at(
            AttrPath::attr("account_id"),
            "Identity in another account",
            format!(
                "The identity names account {w}, but the provider's credentials reach service {} in account {g}. Import through a provider configuration for account {w}.",
                got.get("service").as_str().unwrap_or_default()
            ),
        );
    }
}

/// The `config { ... }` of a list block over a cluster's services.
pub fn list_schema(what: &'static str) -> Schema {
    Schema {
        version: 0,
        block: Block::new(what)
            .attr(
                Attribute::required(
                    "cluster",
                    Type::String,
                    "The ECS cluster to look in (name or ARN).",
                )
                .check(Validator::NameOrArn("ecs", "cluster/")),
            )
            .attr(
                Attribute::optional(
                    "service_name_prefix",
                    Type::String,
                    "Only services whose name starts with this.",
                )
                .check(Validator::NotBlank),
            )
            .attr(Attribute::optional(
                "tags",
                Type::map_of(Type::String),
                "Only services that carry all of these tags with these values.",
            )),
    }
}

/// What a list block selects.
#[derive(Debug, Clone)]
pub struct ServiceFilter {
    pub cluster: String,
    pub prefix: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl ServiceFilter {
    pub fn from(config: &Value) -> ServiceFilter {
        ServiceFilter {
            cluster: config
                .get("cluster")
                .as_str()
                .unwrap_or_default()
                .to_string(),
            prefix: config
                .get("service_name_prefix")
                .as_str()
                .map(str::to_string),
            tags: config.get("tags").string_map(),
        }
    }

    fn wants_name(&self, service_arn: &str) -> bool {
        self.prefix
            .as_deref()
            .is_none_or(|p| arn::service_name(service_arn).starts_with(p))
    }

    fn wants_tags(&self, tags: &BTreeMap<String, String>) -> bool {
        self.tags.iter().all(|(k, v)| tags.get(k) == Some(v))
    }
}

/// The services of a cluster a filter selects, read a page at a time: ListServices (paged),
/// then DescribeServices for ten at a time. Never writes.
pub struct Services<'a> {
    ctx: &'a Ctx,
    filter: ServiceFilter,
    pending: VecDeque<String>,
    next_token: Option<String>,
    listed_all: bool,
}

impl<'a> Services<'a> {
    pub fn new(ctx: &'a Ctx, filter: ServiceFilter) -> Self {
        Services {
            ctx,
            filter,
            pending: VecDeque::new(),
            next_token: None,
            listed_all: false,
        }
    }

    /// The next few services, sorted by name within a batch; None when done or after an AWS
    /// failure (reported in `diags`).
    pub async fn next_batch(&mut self, diags: &mut Diagnostics) -> Option<Vec<Service>> {
        let setups = self.next_setups(diags).await?;
        Some(setups.into_iter().map(|s| s.service).collect())
    }

    /// [`Services::next_batch`], each service with what a change of its deployment controller
    /// needs to know (read by the same DescribeServices call; its service deployments unread).
    pub async fn next_setups(&mut self, diags: &mut Diagnostics) -> Option<Vec<ServiceSetup>> {
        loop {
            while self.pending.len() < ecs::DESCRIBE_SERVICES_BATCH && !self.listed_all {
                let page = ecs::list_services_page(
                    &self.ctx.aws.ecs,
                    &self.filter.cluster,
                    self.next_token.take(),
                )
                .await;
                match page {
                    Ok((arns, next)) => {
                        self.pending
                            .extend(arns.into_iter().filter(|a| self.filter.wants_name(a)));
                        self.listed_all = next.is_none();
                        self.next_token = next;
                    }
                    Err(e) => {
                        self.report(diags, &e);
                        return None;
                    }
                }
            }
            if self.pending.is_empty() {
                return None;
            }
            let n = self.pending.len().min(ecs::DESCRIBE_SERVICES_BATCH);
            let batch: Vec<String> = self.pending.drain(..n).collect();
            let found =
                ecs::find_service_setups_tagged(&self.ctx.aws.ecs, &self.filter.cluster, &batch)
                    .await;
            match found {
                Ok(services) => {
                    let mut picked: Vec<ServiceSetup> = services
                        .into_iter()
                        .filter(|(_, tags)| self.filter.wants_tags(tags))
                        .map(|(s, _)| s)
                        .collect();
                    picked.sort_by(|a, b| a.service.name.cmp(&b.service.name));
                    if !picked.is_empty() {
                        return Some(picked);
                    }
                }
                Err(e) => {
                    self.report(diags, &e);
                    return None;
                }
            }
        }
    }

    fn report(&self, diags: &mut Diagnostics, e: &crate::aws::AwsError) {
        aws_error(
            diags,
            Some(AttrPath::attr("cluster")),
            "Could not list the ECS services",
            &format!("cluster {:?}", self.filter.cluster),
            e,
        );
    }
}

/// Why a service cannot be adopted by a resource that manages its task sets, if it cannot:
/// checks that need only DescribeServices.
pub fn unadoptable(svc: &Service) -> Option<String> {
    if !svc.is_active() {
        return Some(format!("it is {}", svc.status));
    }
    if !svc.is_external() {
        return Some(format!(
            "it uses the {} deployment controller; task sets, and so ecsx, need the EXTERNAL one (an ecsx_canary_deployment with an arrival block switches it in place)",
            svc.controller
        ));
    }
    if svc.primary().is_none() {
        return Some("it has no PRIMARY task set yet".to_string());
    }
    None
}

/// A live task set that someone other than `deployment` manages: another ecsx deployment
/// (`ecsx:deployment` tag) or a known release controller (PipeCD); with who it is.
pub fn claimed_elsewhere(sets: &[TaskSet], deployment: &str) -> Option<(TaskSet, String)> {
    sets.iter()
        .filter(|t| !t.is_draining())
        .find_map(|t| super::ownership::foreign_owner(t, deployment).map(|who| (t.clone(), who)))
}

/// The warning for a service a listing leaves out.
pub fn skipped_warning(type_name: &str, svc: &Service, reason: &str) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.warning_at(
        AttrPath::attr("cluster"),
        format!("Service {} cannot be adopted", svc.name),
        format!(
            "{type_name} does not list service {:?} in cluster {:?}: {reason}.",
            svc.name,
            arn::cluster_name(&svc.cluster_arn)
        ),
    );
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    const TASK_SET: &str = "arn:aws:ecs:eu-west-1:111122223333:task-set/prod/web/ecs-svc/1";

    #[test]
    fn identity_comes_from_names_and_an_arn() {
        let state = Value::object([
            (
                "cluster",
                Value::from("arn:aws:ecs:eu-west-1:111122223333:cluster/prod"),
            ),
            ("service", Value::from("web")),
            ("stable_task_set_arn", Value::from(TASK_SET)),
        ]);
        let id = service_identity(&state, "stable_task_set_arn", "us-east-1");
        assert_eq!(
            id,
            Value::object([
                ("account_id", Value::from("111122223333")),
                ("region", Value::from("eu-west-1")),
                ("cluster", Value::from("prod")),
                ("service", Value::from("web")),
            ])
        );
        // Before apply the ARN is unknown: the account is too; the region is the provider's.
        let mut planned = state.clone();
        planned.set("stable_task_set_arn", Value::Unknown);
        let id = service_identity(&planned, "stable_task_set_arn", "us-east-1");
        assert!(id.get("account_id").is_unknown());
        assert_eq!(id.get("region").as_str(), Some("us-east-1"));
        assert!(service_identity(&planned, "stable_task_set_arn", "")
            .get("region")
            .is_unknown());
        assert!(service_identity(&Value::Null, "x", "us-east-1").is_null());
    }

    #[test]
    fn identity_of_a_deployment_that_owns_nothing_yet_comes_from_its_service() {
        // Imported for an arrival: no task set ARN, the service's carries account and region.
        let state = Value::object([
            ("cluster", Value::from("prod")),
            ("service", Value::from("web")),
            ("stable_task_set_arn", Value::Null),
        ]);
        let id = service_identity_from(
            &state,
            Some("arn:aws:ecs:eu-west-1:111122223333:service/prod/web"),
            "us-east-1",
        );
        assert_eq!(id.get("account_id").as_str(), Some("111122223333"));
        assert_eq!(id.get("region").as_str(), Some("eu-west-1"));
        assert!(service_identity(&state, "stable_task_set_arn", "us-east-1")
            .get("account_id")
            .is_unknown());
    }

    #[test]
    fn import_id_takes_names_and_refuses_another_region() {
        let id = |pairs: &[(&str, &str)]| {
            Value::object(pairs.iter().map(|(k, v)| (*k, Value::from(*v))))
        };
        let mut d = Diagnostics::new();
        assert_eq!(
            import_id(
                &id(&[
                    ("cluster", "arn:aws:ecs:us-east-1:1:cluster/prod"),
                    ("service", "web")
                ]),
                "us-east-1",
                &mut d
            )
            .as_deref(),
            Some("prod/web")
        );
        assert_eq!(
            import_id(
                &id(&[
                    ("cluster", "prod"),
                    ("service", "web"),
                    ("region", "us-east-1")
                ]),
                "us-east-1",
                &mut d
            )
            .as_deref(),
            Some("prod/web")
        );
        assert!(d.is_empty(), "{d:?}");
        for (identity, path) in [
            (
                id(&[
                    ("cluster", "prod"),
                    ("service", "web"),
                    ("region", "eu-west-1"),
                ]),
                "region",
            ),
            (id(&[("cluster", "prod")]), ""),
        ] {
            let mut d = Diagnostics::new();
            assert_eq!(import_id(&identity, "us-east-1", &mut d), None);
            let got = d
                .iter()
                .next()
                .map(|x| x.path.clone().unwrap_or_default().to_string());
            assert_eq!(got.as_deref(), Some(path), "{identity:?}");
        }
    }

    #[test]
    fn another_account_is_refused_after_import() {
        let found = Value::object([
            ("account_id", Value::from("111122223333")),
            ("service", Value::from("web")),
        ]);
        let mut d = Diagnostics::new();
        check_account(
            &Value::object([("account_id", Value::Null)]),
            &found,
            &mut d,
        );
        check_account(
            &Value::object([("account_id", Value::from("111122223333"))]),
            &found,
            &mut d,
        );
        assert!(d.is_empty());
        check_account(
            &Value::object([("account_id", Value::from("999"))]),
            &found,
            &mut d,
        );
        assert!(d.has_errors());
    }
}
