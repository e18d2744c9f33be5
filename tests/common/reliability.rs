//! Rows of `docs/reliability.md`, written by the fault, crash, load, bad-input and security
//! suites.

use serde_json::Value as Json;
use std::io::Write;
use std::path::Path;

/// One row of `docs/reliability.md`: appended as a JSON line to
/// `$ECSX_RELIABILITY_DIR/<suite>.jsonl` when that variable is set (by `make reliability`).
/// A row dropped without [`ReliabilityRow::pass`] (the test panicked) is written as failed.
pub struct ReliabilityRow {
    suite: String,
    case: String,
    input: String,
    expected: String,
    figures: serde_json::Map<String, Json>,
    done: bool,
}

impl ReliabilityRow {
    pub fn new(suite: &str, case: &str, input: &str, expected: &str) -> Self {
        ReliabilityRow {
            suite: suite.to_string(),
            case: case.to_string(),
            input: input.to_string(),
            expected: expected.to_string(),
            figures: serde_json::Map::new(),
            done: false,
        }
    }

    /// A measured figure (API calls, retries, seconds, samples...) shown with the row.
    pub fn figure(&mut self, key: &str, value: impl Into<Json>) {
        self.figures.insert(key.to_string(), value.into());
    }

    pub fn pass(mut self, outcome: &str) {
        self.write(outcome, true);
        self.done = true;
    }

    /// Records the row as failed with what happened instead (the test goes on to fail).
    pub fn fail(mut self, outcome: &str) {
        self.write(&format!("FAILED: {outcome}"), false);
        self.done = true;
    }

    fn write(&self, outcome: &str, pass: bool) {
        let Ok(dir) = std::env::var("ECSX_RELIABILITY_DIR") else {
            return;
        };
        if dir.trim().is_empty() {
            return;
        }
        let _ = std::fs::create_dir_all(&dir);
        let mut line = serde_json::json!({
            "suite": self.suite,
            "case": self.case,
            "input": self.input,
            "expected": self.expected,
            "outcome": outcome,
            "pass": pass,
        });
        if !self.figures.is_empty() {
            line["figures"] = Json::Object(self.figures.clone());
        }
        let path = Path::new(&dir).join(format!("{}.jsonl", self.suite));
        // One write per line on an O_APPEND file: concurrent tests do not interleave rows.
        let text = format!("{line}\n");
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            let _ = f.write_all(text.as_bytes());
        }
    }
}

impl Drop for ReliabilityRow {
    fn drop(&mut self) {
        if !self.done {
            self.write("FAILED: the test panicked; see its output", false);
        }
    }
}
