//! CloudWatch metric series for judging a canary: GetMetricData, one call per check for all
//! queries (500 per call at most), following NextToken, each result's StatusCode kept.
//!
//! GetMetricData (CloudWatch API reference): up to 500 `MetricDataQuery` per call and 100,800
//! points per answer, more behind `NextToken`; each `MetricDataResult` has a `StatusCode`:
//! `Complete`, `PartialData` (an incomplete set of points; NextToken may bring more),
//! `InternalError` (retry with NextToken, if present) or `Forbidden`. Calls are paced by
//! src/aws/pace.rs like every other SDK call (the `cloudwatch.GetMetricData` bucket).

use super::AwsError;
pub use crate::metric_data::{Answers, Query, Series, Source, Status};
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricDataResult, MetricStat, ScanBy, StatusCode,
};
use aws_sdk_cloudwatch::Client;
use std::collections::BTreeMap;

/// GetMetricData takes at most this many queries per call.
pub const QUERIES_PER_CALL: usize = 500;

/// The queries, read over `[start, end)` (seconds since the epoch, on minute boundaries):
/// one GetMetricData call per 500 queries, each followed through its NextToken pages.
pub async fn read(
    cw: &Client,
    queries: &[Query],
    start: i64,
    end: i64,
) -> Result<Answers, AwsError> {
    let mut answers = Answers::new();
    for chunk in queries.chunks(QUERIES_PER_CALL) {
        let built: Vec<MetricDataQuery> = chunk.iter().map(to_sdk).collect();
        let mut token: Option<String> = None;
        loop {
            let resp = cw
                .get_metric_data()
                .set_metric_data_queries(Some(built.clone()))
                .start_time(aws_smithy_types::DateTime::from_secs(start))
                .end_time(aws_smithy_types::DateTime::from_secs(end))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("GetMetricData", e, &[], "metric", &ids(chunk)))?;
            merge_page(&mut answers, resp.metric_data_results());
            match resp.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
    }
    Ok(answers)
}

/// The status of one result as CloudWatch reported it.
fn status_of(code: Option<&StatusCode>) -> Status {
    match code {
        Some(StatusCode::Complete) => Status::Complete,
        Some(StatusCode::PartialData) => Status::PartialData,
        Some(StatusCode::InternalError) => Status::InternalError,
        Some(StatusCode::Forbidden) => Status::Forbidden,
        Some(other) => Status::Other(other.as_str().to_string()),
        // No status at all says nothing about completeness.
        None => Status::Other("none".into()),
    }
}

fn ids(queries: &[Query]) -> String {
    queries
        .iter()
        .map(|q| q.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn to_sdk(q: &Query) -> MetricDataQuery {
    let b = MetricDataQuery::builder().id(&q.id).return_data(true);
    match &q.source {
        Source::Stat {
            namespace,
            metric,
            dimensions,
            stat,
        } => {
            let mut m = Metric::builder().namespace(namespace).metric_name(metric);
            for (name, value) in dimensions {
                m = m.dimensions(Dimension::builder().name(name).value(value).build());
            }
            b.metric_stat(
                MetricStat::builder()
                    .metric(m.build())
                    .period(q.period)
                    .stat(stat)
                    .build(),
            )
            .build()
        }
        Source::Expression(e) => b.expression(e).period(q.period).build(),
    }
}

/// Adds one page of results: points accumulate per id across pages, and the status is the
/// one of the id's latest page (a PartialData page that NextToken continues is completed
/// by the pages after it).
pub fn merge_page(answers: &mut Answers, page: &[MetricDataResult]) {
    for r in page {
        let Some(id) = r.id() else { continue };
        let series = answers.entry(id.to_string()).or_insert_with(|| Series {
            status: Status::Complete,
            points: BTreeMap::new(),
            messages: Vec::new(),
        });
        series.status = status_of(r.status_code());
        for (t, v) in r.timestamps().iter().zip(r.values()) {
            series.points.insert(t.secs(), *v);
        }
        series.messages.extend(
            r.messages()
                .iter()
                .filter_map(|m| m.value().map(str::to_string)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::DateTime;

    fn result(id: &str, status: StatusCode, points: &[(i64, f64)]) -> MetricDataResult {
        let mut b = MetricDataResult::builder().id(id).status_code(status);
        for (t, v) in points {
            b = b.timestamps(DateTime::from_secs(*t)).values(*v);
        }
        b.build()
    }

    #[test]
    fn pages_merge_per_id_and_the_last_status_counts() {
        let mut answers = Answers::new();
        merge_page(
            &mut answers,
            &[result(
                "r",
                StatusCode::PartialData,
                &[(60, 1.0), (120, 2.0)],
            )],
        );
        assert_eq!(answers["r"].status, Status::PartialData);
        merge_page(
            &mut answers,
            &[
                result("r", StatusCode::Complete, &[(180, 3.0)]),
                result("e", StatusCode::InternalError, &[]),
            ],
        );
        assert_eq!(answers["r"].status, Status::Complete);
        assert_eq!(
            answers["r"]
                .points
                .iter()
                .map(|(t, v)| (*t, *v))
                .collect::<Vec<_>>(),
            [(60, 1.0), (120, 2.0), (180, 3.0)]
        );
        assert_eq!(answers["e"].status, Status::InternalError);
        // a result without a status is not taken as complete
        merge_page(&mut answers, &[MetricDataResult::builder().id("x").build()]);
        assert_ne!(answers["x"].status, Status::Complete);
    }

    #[test]
    fn queries_carry_their_stat_dimensions_and_period() {
        let q = Query {
            id: "c0_req".into(),
            source: Source::Stat {
                namespace: "AWS/ApplicationELB".into(),
                metric: "RequestCount".into(),
                dimensions: vec![
                    ("TargetGroup".into(), "targetgroup/web/1".into()),
                    ("LoadBalancer".into(), "app/web/2".into()),
                ],
                stat: "Sum".into(),
            },
            period: 60,
        };
        let sdk = to_sdk(&q);
        let stat = sdk.metric_stat().expect("a metric stat");
        assert_eq!((stat.stat(), stat.period()), (Some("Sum"), Some(60)));
        let m = stat.metric().expect("a metric");
        assert_eq!(m.metric_name(), Some("RequestCount"));
        assert_eq!(m.dimensions().len(), 2);
        let e = to_sdk(&Query {
            id: "x".into(),
            source: Source::Expression("m1/m2".into()),
            period: 300,
        });
        assert_eq!((e.expression(), e.period()), (Some("m1/m2"), Some(300)));
    }
}
