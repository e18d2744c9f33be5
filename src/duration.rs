//! Go-style durations (`30s`, `20m`, `1h30m`), shared by schema validation and the AWS layer.

/// Parses durations like `30s`, `20m`, `1h30m`, `90` (seconds).
pub fn parse(s: &str) -> Option<std::time::Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(n) = s.parse::<u64>() {
        return Some(std::time::Duration::from_secs(n));
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut saw_unit = false;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            i += 1;
            continue;
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        let (mult, step) = match (c, chars.get(i + 1)) {
            ('m', Some('s')) => (0.001, 2),
            ('h', _) => (3600.0, 1),
            ('m', _) => (60.0, 1),
            ('s', _) => (1.0, 1),
            _ => return None,
        };
        total += n * mult;
        saw_unit = true;
        i += step;
    }
    if !num.is_empty() || !saw_unit {
        return None;
    }
    // Out of range (e.g. `99999999999999999999s`) is not a duration, never a panic.
    std::time::Duration::try_from_secs_f64(total).ok()
}

/// Writes a duration the way [`parse`] reads it: `1h30m`, `5m`, `45s`, `500ms`.
pub fn format(d: std::time::Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    if d.as_secs() == 0 || d.subsec_millis() != 0 && d.as_secs() < 60 {
        return format!("{}ms", d.as_millis());
    }
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out += &format!("{h}h");
    }
    if m > 0 {
        out += &format!("{m}m");
    }
    if sec > 0 {
        out += &format!("{sec}s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        let cases = [
            ("30s", Some(30.0)),
            ("20m", Some(1200.0)),
            ("1h30m", Some(5400.0)),
            ("500ms", Some(0.5)),
            ("90", Some(90.0)),
            ("", None),
            ("10x", None),
            ("m", None),
            ("99999999999999999999s", None),
            ("1e400h", None),
            ("5m3", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input).map(|d| d.as_secs_f64()), want, "{input}");
        }
    }

    #[test]
    fn durations_format_back() {
        for text in ["1h30m", "5m", "45s", "500ms", "2h", "1m5s", "0s"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
