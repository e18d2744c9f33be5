//! The built-in judge: the canary's target group against its baseline's, read from the load
//! balancers' own CloudWatch metrics, one window at a time: PASS, FAIL or INCONCLUSIVE, with
//! both groups' figures. Pure: the bake reads CloudWatch (src/aws/metrics.rs) and acts.
//!
//! `config` (the `analysis` settings, typed), `schema` (their schema and validation), `queries` (what one check asks CloudWatch for,
//! per target group and load balancer), `verdict` (windows, figures, the verdict and what a
//! bake does with it).
//!
//! What the load balancers tell (Elastic Load Balancing's CloudWatch metrics reference):
//! `AWS/ApplicationELB` reports per target group only under both dimensions `TargetGroup`
//! (`targetgroup/NAME/ID`) and `LoadBalancer` (`app/NAME/ID`), every 60 s, and only while
//! requests flow: a missing point is a minute without traffic, never a minute without
//! errors. `HTTPCode_ELB_5XX_Count` exists per load balancer only, so a canary that fails to
//! answer shows in its own group's `TargetConnectionErrorCount` and `UnHealthyHostCount`.
//! `AWS/NetworkELB` has no HTTP codes and no response times per target group; the comparison
//! refuses NLB routers (a `metric_query` or an alarm can still judge them).

mod config;
mod queries;
pub mod schema;
mod verdict;

pub use config::{Compare, Comparison, ConfigError, Judge, MetricCheck, OnInconclusive};
pub use queries::{queries, Group, Subject, SubjectError};
pub use verdict::{
    after_check, judge, window, BakeMove, Figures, Finding, Outcome, Verdict, Window,
};

/// CloudWatch vocabulary of Application Load Balancers.
pub mod alb {
    pub const NAMESPACE: &str = "AWS/ApplicationELB";
    pub const REQUEST_COUNT: &str = "RequestCount";
    pub const TARGET_5XX: &str = "HTTPCode_Target_5XX_Count";
    pub const TARGET_RESPONSE_TIME: &str = "TargetResponseTime";
    pub const TARGET_CONNECTION_ERRORS: &str = "TargetConnectionErrorCount";
    pub const UNHEALTHY_HOSTS: &str = "UnHealthyHostCount";
    pub const DIM_TARGET_GROUP: &str = "TargetGroup";
    pub const DIM_LOAD_BALANCER: &str = "LoadBalancer";
    /// ELB reports every 60 s.
    pub const PERIOD: i32 = 60;
}
