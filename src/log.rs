//! hclog-style JSON log lines on stderr, which Terraform re-logs under `TF_LOG` / `TF_LOG_PROVIDER`.

use serde_json::{Map, Value as Json};
use std::io::Write;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// Parses a `TF_LOG` value; `json` and unrecognised non-empty values mean trace, as in Terraform.
    pub fn from_env_value(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "off" => None,
            "debug" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "warn" => Some(Level::Warn),
            "error" => Some(Level::Error),
            _ => Some(Level::Trace),
        }
    }
}

fn threshold() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        ["TF_LOG_PROVIDER", "TF_LOG"]
            .iter()
            .find_map(|k| std::env::var(k).ok())
            .and_then(|v| Level::from_env_value(&v))
            // Warnings and errors always reach Terraform's own log.
            .unwrap_or(Level::Warn)
    })
}

pub fn enabled(level: Level) -> bool {
    level >= threshold()
}

/// Writes one log line with extra key/value fields.
pub fn log(level: Level, message: &str, fields: &[(&str, Json)]) {
    if !enabled(level) {
        return;
    }
    let line = format_line(level, message, fields, SystemTime::now());
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(line.as_bytes());
}

pub fn format_line(level: Level, message: &str, fields: &[(&str, Json)], at: SystemTime) -> String {
    let mut m = Map::new();
    m.insert("@level".into(), Json::from(level.as_str()));
    m.insert("@message".into(), Json::from(message));
    m.insert("@module".into(), Json::from("ecsx"));
    m.insert("@timestamp".into(), Json::from(rfc3339(at)));
    for (k, v) in fields {
        m.insert((*k).to_string(), v.clone());
    }
    let mut s = Json::Object(m).to_string();
    s.push('\n');
    s
}

pub fn debug(message: &str, fields: &[(&str, Json)]) {
    log(Level::Debug, message, fields)
}

pub fn info(message: &str, fields: &[(&str, Json)]) {
    log(Level::Info, message, fields)
}

pub fn warn(message: &str, fields: &[(&str, Json)]) {
    log(Level::Warn, message, fields)
}

pub fn error(message: &str, fields: &[(&str, Json)]) {
    log(Level::Error, message, fields)
}

pub fn trace(message: &str, fields: &[(&str, Json)]) {
    log(Level::Trace, message, fields)
}

/// `2026-11-23T09:19:35.123456Z` from a system time.
fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, da) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{da:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Gregorian date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lines_are_hclog_json() {
        let at = UNIX_EPOCH + Duration::from_secs(1_795_425_575) + Duration::from_micros(42);
        let line = format_line(
            Level::Debug,
            "aws call",
            &[("operation", Json::from("DescribeServices"))],
            at,
        );
        assert!(line.ends_with('\n'));
        let v: Json = serde_json::from_str(&line).unwrap();
        assert_eq!(v["@level"], "debug");
        assert_eq!(v["@message"], "aws call");
        assert_eq!(v["operation"], "DescribeServices");
        assert_eq!(v["@timestamp"], "2026-11-23T09:19:35.000042Z");
    }

    #[test]
    fn levels_from_env() {
        assert_eq!(Level::from_env_value("DEBUG"), Some(Level::Debug));
        assert_eq!(Level::from_env_value("json"), Some(Level::Trace));
        assert_eq!(Level::from_env_value(""), None);
    }

    #[test]
    fn dates_cross_leap_years() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
