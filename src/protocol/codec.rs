//! `DynamicValue` codec: msgpack (what Terraform sends) and JSON, to and from [`Value`].

use crate::value::Value;
use rmpv::Value as Mp;
use std::collections::BTreeMap;
use thiserror::Error;

/// cty's msgpack extension codes for unknown values (plain, and with refinements).
const UNKNOWN_EXT: i8 = 0;
const UNKNOWN_REFINED_EXT: i8 = 12;

/// Deepest nesting accepted, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Error, PartialEq)]
pub enum CodecError {
    #[error("invalid msgpack value: {0}")]
    Msgpack(String),
    #[error("invalid JSON value: {0}")]
    Json(String),
    #[error("value nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("unsupported msgpack element: {0}")]
    Unsupported(String),
}

pub fn from_msgpack(bytes: &[u8]) -> Result<Value, CodecError> {
    check_markers(bytes)?;
    let mut rd = bytes;
    let mp = rmpv::decode::read_value_with_max_depth(&mut rd, MAX_DEPTH)
        .map_err(|e| CodecError::Msgpack(e.to_string()))?;
    if !rd.is_empty() {
        return Err(CodecError::Msgpack(format!(
            "{} trailing bytes after the value",
            rd.len()
        )));
    }
    convert_mp(mp, 0)
}

/// Walks the encoding once and refuses the reserved marker 0xc1, which `rmpv` would
/// quietly read as nil. Lengths are checked by the decoder that runs afterwards.
fn check_markers(bytes: &[u8]) -> Result<(), CodecError> {
    let mut pos = 0usize;
    // Values still to read; a container adds its elements.
    let mut pending: u64 = 1;
    let be = |at: usize, n: usize| -> Result<u64, CodecError> {
        let b = bytes
            .get(at..at + n)
            .ok_or_else(|| CodecError::Msgpack("truncated value".into()))?;
        Ok(b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
    };
    while pending > 0 {
        pending -= 1;
        let Some(&m) = bytes.get(pos) else {
            return Err(CodecError::Msgpack("truncated value".into()));
        };
        pos += 1;
        let skip: u64 = match m {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 0,
            0x80..=0x8f => {
                pending += 2 * u64::from(m & 0x0f);
                0
            }
            0x90..=0x9f => {
                pending += u64::from(m & 0x0f);
                0
            }
            0xa0..=0xbf => u64::from(m & 0x1f),
            0xc1 => {
                return Err(CodecError::Msgpack(format!(
                    "reserved marker 0xc1 at byte {}",
                    pos - 1
                )))
            }
            0xc4 | 0xd9 => {
                let n = be(pos, 1)?;
                pos += 1;
                n
            }
            0xc5 | 0xda => {
                let n = be(pos, 2)?;
                pos += 2;
                n
            }
            0xc6 | 0xdb => {
                let n = be(pos, 4)?;
                pos += 4;
                n
            }
            0xc7 => {
                let n = be(pos, 1)?;
                pos += 1;
                n + 1
            }
            0xc8 => {
                let n = be(pos, 2)?;
                pos += 2;
                n + 1
            }
            0xc9 => {
                let n = be(pos, 4)?;
                pos += 4;
                n + 1
            }
            0xca => 4,
            0xcb => 8,
            0xcc | 0xd0 => 1,
            0xcd | 0xd1 => 2,
            0xce | 0xd2 => 4,
            0xcf | 0xd3 => 8,
            0xd4 => 2,
            0xd5 => 3,
            0xd6 => 5,
            0xd7 => 9,
            0xd8 => 17,
            0xdc => {
                pending += be(pos, 2)?;
                pos += 2;
                0
            }
            0xdd => {
                pending += be(pos, 4)?;
                pos += 4;
                0
            }
            0xde => {
                pending += 2 * be(pos, 2)?;
                pos += 2;
                0
            }
            0xdf => {
                pending += 2 * be(pos, 4)?;
                pos += 4;
                0
            }
        };
        pos = pos
            .checked_add(usize::try_from(skip).unwrap_or(usize::MAX))
            .filter(|p| *p <= bytes.len())
            .ok_or_else(|| CodecError::Msgpack("truncated value".into()))?;
        // More pending values than bytes left cannot be valid.
        if pending > (bytes.len() - pos) as u64 {
            return Err(CodecError::Msgpack(
                "declared length exceeds the input".into(),
            ));
        }
    }
    Ok(())
}

fn convert_mp(mp: Mp, depth: usize) -> Result<Value, CodecError> {
    if depth > MAX_DEPTH {
        return Err(CodecError::TooDeep);
    }
    Ok(match mp {
        Mp::Nil => Value::Null,
        Mp::Boolean(b) => Value::Bool(b),
        Mp::Integer(i) => Value::Number(
            i.as_i64()
                .map(|n| n as f64)
                .or_else(|| i.as_u64().map(|n| n as f64))
                .unwrap_or(0.0),
        ),
        Mp::F32(f) => Value::Number(f as f64),
        Mp::F64(f) => Value::Number(f),
        // cty encodes large or fractional numbers as strings when they do not fit.
        Mp::String(s) => Value::String(
            s.into_str()
                .ok_or_else(|| CodecError::Msgpack("string is not UTF-8".into()))?,
        ),
        Mp::Binary(b) => Value::String(
            String::from_utf8(b).map_err(|_| CodecError::Msgpack("binary is not UTF-8".into()))?,
        ),
        Mp::Array(items) => Value::List(
            items
                .into_iter()
                .map(|v| convert_mp(v, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Mp::Map(pairs) => {
            let mut m = BTreeMap::new();
            for (k, v) in pairs {
                let key = match k {
                    Mp::String(s) => s
                        .into_str()
                        .ok_or_else(|| CodecError::Msgpack("map key is not UTF-8".into()))?,
                    other => {
                        return Err(CodecError::Unsupported(format!("map key {other}")));
                    }
                };
                m.insert(key, convert_mp(v, depth + 1)?);
            }
            Value::Map(m)
        }
        Mp::Ext(code, _) if code == UNKNOWN_EXT || code == UNKNOWN_REFINED_EXT => Value::Unknown,
        Mp::Ext(code, _) => return Err(CodecError::Unsupported(format!("extension type {code}"))),
    })
}

pub fn to_msgpack(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, &to_mp(v));
    out
}

fn to_mp(v: &Value) -> Mp {
    match v {
        Value::Null => Mp::Nil,
        Value::Unknown => Mp::Ext(UNKNOWN_EXT, vec![0]),
        Value::Bool(b) => Mp::Boolean(*b),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Mp::from(*n as i64),
        Value::Number(n) => Mp::F64(*n),
        Value::String(s) => Mp::from(s.as_str()),
        Value::List(items) => Mp::Array(items.iter().map(to_mp).collect()),
        Value::Map(m) => Mp::Map(
            m.iter()
                .map(|(k, v)| (Mp::from(k.as_str()), to_mp(v)))
                .collect(),
        ),
    }
}

pub fn from_json(bytes: &[u8]) -> Result<Value, CodecError> {
    crate::value::parse_json(bytes).map_err(|e| CodecError::Json(e.to_string()))
}

pub use crate::value::{from_json_value, to_json_value};

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        Value::object([
            ("s", Value::from("x")),
            ("n", Value::from(42i64)),
            ("f", Value::Number(1.5)),
            ("neg", Value::from(-7i64)),
            ("b", Value::from(true)),
            ("null", Value::Null),
            ("unknown", Value::Unknown),
            (
                "list",
                Value::List(vec![Value::from("a"), Value::Unknown, Value::Null]),
            ),
            ("map", Value::object([("k", Value::from("v"))])),
            (
                "blocks",
                Value::List(vec![Value::object([("inner", Value::from(1i64))])]),
            ),
        ])
    }

    #[test]
    fn msgpack_round_trip() {
        let v = sample();
        assert_eq!(from_msgpack(&to_msgpack(&v)).unwrap(), v);
    }

    #[test]
    fn refined_unknown_decodes_as_unknown() {
        // fixext1 with type 12, as Terraform sends unknowns with refinements.
        let bytes = [0xd4, 12, 0x00];
        assert_eq!(from_msgpack(&bytes).unwrap(), Value::Unknown);
        let plain = [0xd4, 0, 0x00];
        assert_eq!(from_msgpack(&plain).unwrap(), Value::Unknown);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let cases: [&[u8]; 7] = [
            &[],
            &[0xc1],
            &[0x92, 0x01, 0xc1],
            &[0x92, 0x01],
            &[0xd4, 5, 0],
            &[0x81, 0x01, 0x02],
            &[0xc0, 0xc0],
        ];
        for c in cases {
            assert!(from_msgpack(c).is_err(), "{c:?}");
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut bytes = vec![0x91; 200];
        bytes.push(0xc0);
        assert!(from_msgpack(&bytes).is_err());
    }

    #[test]
    fn json_round_trip_drops_unknowns() {
        let v = Value::object([("a", Value::from("x")), ("n", Value::from(3i64))]);
        let j = serde_json::to_vec(&to_json_value(&v)).unwrap();
        assert_eq!(from_json(&j).unwrap(), v);
        assert_eq!(to_json_value(&Value::Unknown), serde_json::Value::Null);
    }
}
