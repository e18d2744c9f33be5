//! What one check asks CloudWatch for: per target group and load balancer, the five ALB
//! series the comparison needs, plus each `metric_query` over the whole window. All of them go
//! in one GetMetricData call.

use super::alb;
use super::config::Judge;
use crate::metric_data::{Query, Source};

/// One side of the comparison: a target group and the load balancers whose listeners and
/// rules forward to it (several rules on one load balancer count once).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub target_group_arn: String,
    pub load_balancer_arns: Vec<String>,
}

/// What a check judges: the canary's group against its baseline's. With swap promotion the
/// two groups trade roles from release to release; the subject always follows the canary.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub canary: Group,
    pub baseline: Group,
}

/// A subject the comparison cannot judge.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SubjectError {
    #[error("{0} is not an Elastic Load Balancing ARN")]
    NotAnArn(String),
    #[error("load balancer {0} is a Network Load Balancer: AWS/NetworkELB reports no HTTP codes and no response times per target group, so the canary cannot be compared with its baseline there. Judge it with a metric_query or with alarms (alarm_names), e.g. on TCP_Target_Reset_Count or UnHealthyHostCount of its target group")]
    NetworkLoadBalancer(String),
    #[error("target group {0} is behind no load balancer the release routes through, so CloudWatch has no per-target-group metrics to read for it")]
    NoLoadBalancer(String),
}

/// The side of the comparison a series belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Canary,
    Baseline,
}

/// The ALB series the comparison reads per target group and load balancer, with the
/// statistic each is meaningful for (metrics reference: Sum for counts, Maximum for hosts).
pub const SERIES: [(&str, &str, &str); 5] = [
    ("req", alb::REQUEST_COUNT, "Sum"),
    ("err", alb::TARGET_5XX, "Sum"),
    ("conn", alb::TARGET_CONNECTION_ERRORS, "Sum"),
    ("p99", alb::TARGET_RESPONSE_TIME, "p99"),
    ("unh", alb::UNHEALTHY_HOSTS, "Maximum"),
];

/// The query id of one series: `c0_req` is the canary's RequestCount on its first load
/// balancer. GetMetricData ids start with a lowercase letter.
pub fn id(role: Role, lb: usize, series: &str) -> String {
    let r = match role {
        Role::Canary => 'c',
        Role::Baseline => 'b',
    };
    format!("{r}{lb}_{series}")
}

/// The query id of the `i`th `metric_query`.
pub fn check_id(i: usize) -> String {
    format!("m{i}")
}

/// `targetgroup/NAME/ID` and `app/NAME/ID`: the dimension values CloudWatch files a target
/// group's ALB metrics under.
pub fn dimensions(
    target_group_arn: &str,
    load_balancer_arn: &str,
) -> Result<Vec<(String, String)>, SubjectError> {
    let tg = crate::arn::parse(target_group_arn)
        .map(|a| a.resource)
        .filter(|r| r.starts_with("targetgroup/"))
        .ok_or_else(|| SubjectError::NotAnArn(target_group_arn.into()))?;
    let lb = crate::arn::parse(load_balancer_arn)
        .and_then(|a| a.resource.strip_prefix("loadbalancer/"))
        .ok_or_else(|| SubjectError::NotAnArn(load_balancer_arn.into()))?;
    if lb.starts_with("net/") {
        return Err(SubjectError::NetworkLoadBalancer(load_balancer_arn.into()));
    }
    if !lb.starts_with("app/") {
        return Err(SubjectError::NotAnArn(load_balancer_arn.into()));
    }
    Ok(vec![
        (alb::DIM_TARGET_GROUP.into(), tg.into()),
        (alb::DIM_LOAD_BALANCER.into(), lb.into()),
    ])
}

/// Every query of one check, in a stable order: the comparison's series (canary, then
/// baseline; per load balancer; per series), then the metric checks.
pub fn queries(judge: &Judge, subject: &Subject) -> Result<Vec<Query>, SubjectError> {
    let mut out = Vec::new();
    if judge.compare.is_some() {
        for (role, group) in [
            (Role::Canary, &subject.canary),
            (Role::Baseline, &subject.baseline),
        ] {
            if group.load_balancer_arns.is_empty() {
                return Err(SubjectError::NoLoadBalancer(group.target_group_arn.clone()));
            }
            for (i, lb) in group.load_balancer_arns.iter().enumerate() {
                let dims = dimensions(&group.target_group_arn, lb)?;
                for (series, metric, stat) in SERIES {
                    out.push(Query {
                        id: id(role, i, series),
                        source: Source::Stat {
                            namespace: alb::NAMESPACE.into(),
                            metric: metric.into(),
                            dimensions: dims.clone(),
                            stat: stat.into(),
                        },
                        period: alb::PERIOD,
                    });
                }
            }
        }
    }
    let window = judge.window().as_secs() as i32;
    for (i, c) in judge.checks.iter().enumerate() {
        out.push(Query {
            id: check_id(i),
            source: c.source.clone(),
            period: window,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::canary::judge::config::{Compare, Comparison, MetricCheck};

    pub const TG_GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-green/73e2d6bc24d8a067";
    pub const TG_BLUE: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-blue/6d0ecf831eec9f09";
    pub const LB: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188";
    const LB2: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/internal/9f3c1a2b3c4d5e6f";
    const NLB: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/tcp/1a2b3c4d5e6f7a8b";

    fn subject(canary_lbs: &[&str], baseline_lbs: &[&str]) -> Subject {
        let g = |tg: &str, lbs: &[&str]| Group {
            target_group_arn: tg.into(),
            load_balancer_arns: lbs.iter().map(|s| s.to_string()).collect(),
        };
        Subject {
            canary: g(TG_GREEN, canary_lbs),
            baseline: g(TG_BLUE, baseline_lbs),
        }
    }

    fn judge() -> Judge {
        Judge {
            compare: Some(Compare::default()),
            ..Judge::default()
        }
    }

    #[test]
    fn each_group_is_read_under_both_dimensions_per_load_balancer() {
        let q = queries(&judge(), &subject(&[LB, LB2], &[LB])).unwrap();
        assert_eq!(q.len(), 15, "5 series x (2 + 1) load balancers");
        let ids: Vec<&str> = q.iter().map(|q| q.id.as_str()).collect();
        assert_eq!(
            &ids[..6],
            ["c0_req", "c0_err", "c0_conn", "c0_p99", "c0_unh", "c1_req"]
        );
        assert_eq!(ids[10], "b0_req");
        let Source::Stat {
            namespace,
            dimensions,
            stat,
            ..
        } = &q[13].source
        else {
            panic!("a metric stat")
        };
        assert_eq!(
            (namespace.as_str(), stat.as_str()),
            ("AWS/ApplicationELB", "p99")
        );
        assert_eq!(
            dimensions,
            &[
                (
                    "TargetGroup".to_string(),
                    "targetgroup/web-blue/6d0ecf831eec9f09".to_string()
                ),
                (
                    "LoadBalancer".to_string(),
                    "app/web/50dc6c495c0c9188".to_string()
                ),
            ]
        );
        assert!(q.iter().all(|q| q.period == 60));
    }

    #[test]
    fn metric_checks_read_the_whole_window_as_one_point() {
        let j = Judge {
            compare: None,
            checks: vec![MetricCheck {
                name: "backlog".into(),
                source: Source::Expression("SUM(METRICS())".into()),
                threshold: 1.0,
                comparison: Comparison::GreaterThan,
            }],
            ..Judge::default()
        };
        let q = queries(&j, &subject(&[NLB], &[NLB])).unwrap();
        assert_eq!(
            q.len(),
            1,
            "no comparison, so no ALB series (and NLB is fine)"
        );
        assert_eq!((q[0].id.as_str(), q[0].period), ("m0", 300));
    }

    #[test]
    fn what_cannot_be_compared_says_why() {
        let e = queries(&judge(), &subject(&[NLB], &[NLB])).unwrap_err();
        assert!(matches!(e, SubjectError::NetworkLoadBalancer(_)));
        assert!(
            e.to_string()
                .contains("no HTTP codes and no response times"),
            "{e}"
        );
        let e = queries(&judge(), &subject(&[], &[LB])).unwrap_err();
        assert!(matches!(e, SubjectError::NoLoadBalancer(_)), "{e}");
        let mut s = subject(&[LB], &[LB]);
        s.canary.target_group_arn = "web-green".into();
        assert!(matches!(
            queries(&judge(), &s),
            Err(SubjectError::NotAnArn(_))
        ));
    }
}
