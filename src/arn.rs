//! ARN and ECS name parsing: what the user may write for clusters, services and task sets.

/// The parts of an ARN: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

pub fn parse(s: &str) -> Option<Arn<'_>> {
    let mut parts = s.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let a = Arn {
        partition: parts.next()?,
        service: parts.next()?,
        region: parts.next()?,
        account: parts.next()?,
        resource: parts.next()?,
    };
    if a.partition.is_empty() || a.service.is_empty() || a.resource.is_empty() {
        return None;
    }
    Some(a)
}

/// Checks that `s` is an ARN of `service` whose resource starts with `resource_prefix`.
pub fn expect<'a>(s: &'a str, service: &str, resource_prefix: &str) -> Result<Arn<'a>, String> {
    let a = parse(s).ok_or_else(|| {
        format!(
            "{s:?} is not an ARN; expected arn:PARTITION:{service}:REGION:ACCOUNT:{resource_prefix}..."
        )
    })?;
    if a.service != service || !a.resource.starts_with(resource_prefix) {
        return Err(format!(
            "{s:?} is not an ARN of {service} `{}`",
            resource_prefix.trim_end_matches('/')
        ));
    }
    if a.resource.len() == resource_prefix.len() {
        return Err(format!(
            "{s:?} has no resource name after {resource_prefix:?}"
        ));
    }
    if service == "elasticloadbalancing" && a.resource.starts_with("listener-rule/net/") {
        return Err(format!(
            "{s:?} names a rule of a Network Load Balancer listener; NLB listeners have no rules, so give the listener's ARN (listener/net/...) among the listener ARNs instead"
        ));
    }
    Ok(a)
}

/// Whether a listener (or rule) ARN belongs to a Network Load Balancer (`listener/net/...`).
pub fn is_network_listener(s: &str) -> bool {
    parse(s).is_some_and(|a| {
        a.service == "elasticloadbalancing"
            && (a.resource.starts_with("listener/net/")
                || a.resource.starts_with("listener-rule/net/"))
    })
}

/// ECS names: 1 to 255 letters, digits, hyphens and underscores.
pub fn is_ecs_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Accepts a plain ECS name or an ARN of `service` with `resource_prefix`.
pub fn name_or_arn(s: &str, service: &str, resource_prefix: &str) -> Result<(), String> {
    if s.starts_with("arn:") {
        return expect(s, service, resource_prefix).map(|_| ());
    }
    if is_ecs_name(s) {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is neither a name (letters, digits, '-' and '_', up to 255) nor an ARN of {service} {}",
            resource_prefix.trim_end_matches('/')
        ))
    }
}

/// The cluster name from a cluster name or ARN.
pub fn cluster_name(s: &str) -> &str {
    match parse(s) {
        Some(a) => a.resource.strip_prefix("cluster/").unwrap_or(a.resource),
        None => s,
    }
}

/// The service name from a service name or ARN (`service/NAME` or `service/CLUSTER/NAME`).
pub fn service_name(s: &str) -> &str {
    match parse(s) {
        Some(a) => a.resource.rsplit('/').next().unwrap_or(a.resource),
        None => s,
    }
}

/// The task set id (`ecs-svc/123...`) from a task set id or ARN
/// (`arn:...:task-set/CLUSTER/SERVICE/ID`).
pub fn task_set_id(s: &str) -> &str {
    match parse(s) {
        Some(a) => {
            let rest = a.resource.strip_prefix("task-set/").unwrap_or(a.resource);
            // skip CLUSTER/ and SERVICE/
            let mut it = rest.splitn(3, '/');
            let (_, _, id) = (it.next(), it.next(), it.next());
            id.unwrap_or(rest)
        }
        None => s,
    }
}

/// The (cluster, service) names a task set ARN (`...:task-set/CLUSTER/SERVICE/ID`) belongs to;
/// None for task set ids and anything else.
pub fn task_set_owner(s: &str) -> Option<(&str, &str)> {
    let a = parse(s).filter(|a| a.service == "ecs")?;
    let mut it = a.resource.strip_prefix("task-set/")?.splitn(3, '/');
    match (it.next(), it.next(), it.next()) {
        (Some(c), Some(svc), Some(id)) if !c.is_empty() && !svc.is_empty() && !id.is_empty() => {
            Some((c, svc))
        }
        _ => None,
    }
}

/// Checks a task set reference: an ECS task set ARN, or an id such as `ecs-svc/1234567890`.
pub fn check_task_set_ref(s: &str) -> Result<(), String> {
    if s.starts_with("arn:") {
        let a = expect(s, "ecs", "task-set/")?;
        if a.resource.split('/').count() < 4 {
            return Err(format!(
                "{s:?} is not a task set ARN; expected ...:task-set/CLUSTER/SERVICE/ID"
            ));
        }
        return Ok(());
    }
    let valid = !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '/')
        && !s.starts_with('/')
        && !s.ends_with('/');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is neither a task set id (such as \"ecs-svc/1234567890123456789\") nor a task set ARN"
        ))
    }
}

/// The last path segment of a task definition ARN, e.g. `web:13`; the input itself otherwise.
pub fn task_definition_label(s: &str) -> &str {
    match parse(s) {
        Some(a) => a
            .resource
            .strip_prefix("task-definition/")
            .unwrap_or(a.resource),
        None => s,
    }
}

/// The load balancer a listener or listener rule belongs to:
/// `listener/app/NAME/LB/ID` and `listener-rule/app/NAME/LB/ID/RULE` both name
/// `loadbalancer/app/NAME/LB`.
pub fn load_balancer_of(router: &str) -> Option<String> {
    let a = parse(router)?;
    let rest = a
        .resource
        .strip_prefix("listener-rule/")
        .or_else(|| a.resource.strip_prefix("listener/"))?;
    let parts: Vec<&str> = rest.splitn(4, '/').collect();
    let [kind, name, id, _] = parts[..] else {
        return None;
    };
    Some(format!(
        "arn:{}:{}:{}:{}:loadbalancer/{kind}/{name}/{id}",
        a.partition, a.service, a.region, a.account
    ))
}

/// The name of a target group from its ARN (`targetgroup/NAME/ID`).
pub fn target_group_label(s: &str) -> &str {
    match parse(s) {
        Some(a) => a.resource.split('/').nth(1).unwrap_or(a.resource),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_arns() {
        assert_eq!(
            cluster_name("arn:aws:ecs:us-east-1:123456789012:cluster/prod"),
            "prod"
        );
        assert_eq!(cluster_name("prod"), "prod");
        assert_eq!(
            service_name("arn:aws:ecs:us-east-1:123456789012:service/prod/web"),
            "web"
        );
        assert_eq!(
            service_name("arn:aws:ecs:us-east-1:123456789012:service/web"),
            "web"
        );
        assert_eq!(
            task_set_id("arn:aws:ecs:us-east-1:123456789012:task-set/prod/web/ecs-svc/123"),
            "ecs-svc/123"
        );
        assert_eq!(task_set_id("ecs-svc/123"), "ecs-svc/123");
        assert_eq!(
            task_definition_label("arn:aws:ecs:us-east-1:1:task-definition/web:13"),
            "web:13"
        );
        assert_eq!(
            target_group_label("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/abc"),
            "blue"
        );
    }

    #[test]
    fn name_or_arn_table() {
        let cases = [
            ("prod", true),
            ("prod-1_a", true),
            ("", false),
            ("has space", false),
            ("arn:aws:ecs:us-east-1:1:cluster/prod", true),
            ("arn:aws:ecs:us-east-1:1:service/prod/web", false),
            ("arn:aws:ecs:us-east-1:1:cluster/", false),
            ("arn:aws", false),
        ];
        for (s, ok) in cases {
            assert_eq!(name_or_arn(s, "ecs", "cluster/").is_ok(), ok, "{s}");
        }
    }

    #[test]
    fn task_set_owner_reads_cluster_and_service() {
        assert_eq!(
            task_set_owner("arn:aws:ecs:us-east-1:1:task-set/prod/web/ecs-svc/123"),
            Some(("prod", "web"))
        );
        assert_eq!(task_set_owner("ecs-svc/123"), None);
        assert_eq!(
            task_set_owner("arn:aws:ecs:us-east-1:1:task-set/prod/web"),
            None
        );
        assert_eq!(
            task_set_owner("arn:aws:ecs:us-east-1:1:service/prod/web/x"),
            None
        );
    }

    #[test]
    fn task_set_refs() {
        assert!(check_task_set_ref("ecs-svc/1234567890123456789").is_ok());
        assert!(check_task_set_ref("arn:aws:ecs:us-east-1:1:task-set/c/s/ecs-svc/1").is_ok());
        assert!(check_task_set_ref("arn:aws:ecs:us-east-1:1:task-set/c").is_err());
        assert!(check_task_set_ref("").is_err());
        assert!(check_task_set_ref("bad id").is_err());
        assert!(check_task_set_ref("arn:aws:ecs:us-east-1:1:service/c/s").is_err());
    }

    #[test]
    fn expect_checks_service_and_prefix() {
        assert!(expect(
            "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/1",
            "elasticloadbalancing",
            "targetgroup/"
        )
        .is_ok());
        assert!(expect(
            "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/x/1/2",
            "elasticloadbalancing",
            "targetgroup/"
        )
        .is_err());
        assert!(expect("not-an-arn", "ecs", "cluster/").is_err());
    }

    #[test]
    fn network_load_balancer_listeners_but_no_rules() {
        let elb = "elasticloadbalancing";
        let nlb = "arn:aws:elasticloadbalancing:us-east-1:1:listener/net/lb/1/2";
        assert!(expect(nlb, elb, "listener/").is_ok());
        assert!(is_network_listener(nlb));
        assert!(!is_network_listener(
            "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/lb/1/2"
        ));
        let rule = "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/net/lb/1/2/3";
        let why = expect(rule, elb, "listener-rule/").unwrap_err();
        assert!(why.contains("Network Load Balancer"), "{why}");
        assert!(expect(
            "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/lb/1/2/3",
            elb,
            "listener-rule/"
        )
        .is_ok());
    }

    #[test]
    fn a_router_names_its_load_balancer() {
        let lb = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/abc";
        for router in [
            "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/web/abc/l1",
            "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/web/abc/l1/r9",
        ] {
            assert_eq!(load_balancer_of(router).as_deref(), Some(lb), "{router}");
        }
        assert_eq!(
            load_balancer_of("arn:aws:elasticloadbalancing:us-east-1:1:listener/net/n/x/l")
                .as_deref(),
            Some("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/n/x")
        );
        assert_eq!(
            load_balancer_of("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/b/1"),
            None
        );
    }
}
