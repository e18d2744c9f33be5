//! What a CloudWatch metrics read asks for and gets back, as plain data: the queries, each
//! series of points and its status. The client (`aws::metrics`) fills it; the judge, which
//! never calls AWS, reads it.

use std::collections::BTreeMap;

/// What one query asks CloudWatch for.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// One metric's statistic (`Sum`, `Average`, `Maximum`, `p99`, ...) per period.
    Stat {
        namespace: String,
        metric: String,
        /// (name, value) pairs, all of which the metric must carry.
        dimensions: Vec<(String, String)>,
        stat: String,
    },
    /// A metric math or Metrics Insights expression, evaluated by CloudWatch.
    Expression(String),
}

/// One query of a GetMetricData call.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The result's id: starts with a lowercase letter, then letters, digits and `_`.
    pub id: String,
    pub source: Source,
    /// Seconds per point; a multiple of 60 for metrics older than three hours.
    pub period: i32,
}

/// The status of one query's points, as CloudWatch reported it on its last page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Complete,
    /// Some points are missing from the answer.
    PartialData,
    InternalError,
    /// The caller may not read this metric (cross-account or a missing permission).
    Forbidden,
    /// A status code this build does not know; treated as incomplete.
    Other(String),
}

impl Status {
    pub fn as_str(&self) -> &str {
        match self {
            Status::Complete => "Complete",
            Status::PartialData => "PartialData",
            Status::InternalError => "InternalError",
            Status::Forbidden => "Forbidden",
            Status::Other(s) => s,
        }
    }
}

/// One query's answer: its points by start of period (seconds since the epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub status: Status,
    pub points: BTreeMap<i64, f64>,
    /// CloudWatch's messages about this result, if any.
    pub messages: Vec<String>,
}

/// The answers of one read, by query id. A query CloudWatch did not answer at all is absent.
pub type Answers = BTreeMap<String, Series>;
