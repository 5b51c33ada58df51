//! The browser's decoders for the wire types.
//!
//! The server reads and writes JSON with serde. The browser only reads the
//! server's answers, and does so from a value `JSON.parse` already made, one
//! field at a time: [`Decode`], derived (`wire_derive::Decode`) from the same
//! `#[serde(...)]` attributes as `Deserialize`, so both read the same JSON. A
//! derived decoder is a call per field into the shared helpers below; moving
//! the browser from serde to these took 4 % off its gzipped WASM
//! (BENCHMARKS.md).
//!
//! [`Json`] is the parsed value: a `JsValue` in the browser, a
//! `serde_json::Value` in tests, which is how the tests hold `Decode` to what
//! `Deserialize` reads.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

pub use wire_derive::Decode;

/// A parsed JSON value, read without copying it into Rust first.
pub trait Json: Sized {
    /// The member `key` of an object; `None` when it is absent.
    fn get(&self, key: &str) -> Option<Self>;
    fn is_object(&self) -> bool;
    fn is_null(&self) -> bool;
    fn string(&self) -> Option<String>;
    fn number(&self) -> Option<f64>;
    fn boolean(&self) -> Option<bool>;
    fn items(&self) -> Option<Vec<Self>>;
    /// An object's members in order; `None` for anything else.
    fn entries(&self) -> Option<Vec<(String, Self)>>;
}

/// A type read from a parsed JSON value.
pub trait Decode: Sized {
    fn decode<J: Json>(json: &J) -> Result<Self, DecodeError>;

    /// What an absent field reads as: nothing for most types, so the field is
    /// required; `None` for an `Option`, as serde reads it.
    fn absent() -> Option<Self> {
        None
    }
}

/// Where in the value decoding failed, and why: `steps[2].status: expected a
/// string`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    path: String,
    problem: String,
}

impl DecodeError {
    pub fn expected(what: &str, for_type: &str) -> Self {
        Self::new(format!("expected {what} ({for_type})"))
    }

    pub fn unknown_variant(tag: &str, for_type: &str) -> Self {
        Self::new(format!("unknown {for_type} `{tag}`"))
    }

    fn new(problem: String) -> Self {
        Self {
            path: String::new(),
            problem,
        }
    }

    /// The same error, one level further out: inside member `key`.
    pub fn at(self, key: &str) -> Self {
        self.within(key)
    }

    fn at_index(self, index: usize) -> Self {
        self.within(&format!("[{index}]"))
    }

    fn within(mut self, segment: &str) -> Self {
        let dot = if self.path.is_empty() || self.path.starts_with('[') {
            ""
        } else {
            "."
        };
        self.path = format!("{segment}{dot}{}", self.path);
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "{}: {}", self.path, self.problem)
        }
    }
}

impl std::error::Error for DecodeError {}

/// Reads member `key`, which must be present unless its type has an
/// [`Decode::absent`] value.
pub fn field<J: Json, T: Decode>(json: &J, key: &str) -> Result<T, DecodeError> {
    match json.get(key) {
        Some(value) => T::decode(&value).map_err(|e| e.at(key)),
        None => T::absent().ok_or_else(|| DecodeError::new("missing".into()).at(key)),
    }
}

/// Reads member `key`, or `default()` when it is absent (`#[serde(default)]`).
pub fn field_or<J: Json, T: Decode>(
    json: &J,
    key: &str,
    default: impl FnOnce() -> T,
) -> Result<T, DecodeError> {
    match json.get(key) {
        Some(value) => T::decode(&value).map_err(|e| e.at(key)),
        None => Ok(default()),
    }
}

pub fn expect_object<J: Json>(json: &J, for_type: &str) -> Result<(), DecodeError> {
    if json.is_object() {
        Ok(())
    } else {
        Err(DecodeError::expected("an object", for_type))
    }
}

/// The one member of an externally tagged enum's object: `{"count": 3}`.
pub fn single_entry<J: Json>(json: &J, for_type: &str) -> Result<(String, J), DecodeError> {
    match json.entries() {
        Some(entries) if entries.len() == 1 => Ok(entries.into_iter().next().expect("one entry")),
        _ => Err(DecodeError::expected(
            "a string or an object with one member",
            for_type,
        )),
    }
}

impl Decode for String {
    fn decode<J: Json>(json: &J) -> Result<Self, DecodeError> {
        json.string()
            .ok_or_else(|| DecodeError::expected("a string", "String"))
    }
}

impl Decode for bool {
    fn decode<J: Json>(json: &J) -> Result<Self, DecodeError> {
        json.boolean()
            .ok_or_else(|| DecodeError::expected("true or false", "bool"))
    }
}

impl Decode for f64 {
    fn decode<J: Json>(json: &J) -> Result<Self, DecodeError> {
        json.number()
            .ok_or_else(|| DecodeError::expected("a number", "f64"))
    }
}

/// A whole number within `min..=max`; every integer type reads through this one function.
fn integer<J: Json>(json: &J, min: f64, max: f64, for_type: &str) -> Result<f64, DecodeError> {
    match json.number() {
        Some(n) if n.fract() == 0.0 && (min..=max).contains(&n) => Ok(n),
        _ => Err(DecodeError::expected("a whole number in range", for_type)),
    }
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl Decode for $t {
            fn decode<J: Json>(json: &J) -> Result<Self, DecodeError> {
                integer(json, <$t>::MIN as f64, <$t>::MAX as f64, stringify!($t)).map(|n| n as $t)
            }
        }
    )*};
}
integers!(u8, u16, u32, u64, usize, i32, i64);

impl<T: Decode> Decode for Option<T> {
    fn decode<J: Json>(json: &J) -> Result<Self, DecodeError> {
        if json.is_null() {
            Ok(None)
        } else {
            T::decode(json).map(Some)
        }
    }

    fn absent() -> Option<Self> {
        Some(None)
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode<J: Json>(json: &J) -> Result<Self, DecodeError> {
        let mut out = Vec::new();
        each_item(json, &mut |item| {
            out.push(T::decode(item)?);
            Ok(())
        })?;
        Ok(out)
    }
}

/// The part of reading an array that does not depend on its element type,
/// shared by every `Vec<T>` instead of copied into each.
fn each_item<J: Json>(
    json: &J,
    read: &mut dyn FnMut(&J) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let items = json
        .items()
        .ok_or_else(|| DecodeError::expected("an array", "Vec"))?;
    for (i, item) in items.iter().enumerate() {
        read(item).map_err(|e| e.at_index(i))?;
    }
    Ok(())
}

impl<T: Decode, const N: usize> Decode for [T; N] {
    fn decode<J: Json>(json: &J) -> Result<Self, DecodeError> {
        Vec::<T>::decode(json)?
            .try_into()
            .map_err(|_| DecodeError::new(format!("expected {N} items")))
    }
}

/// serde's form of a tuple: an array with one item per element.
macro_rules! tuples {
    ($($n:literal: ($($t:ident $i:tt),+)),*) => {$(
        impl<$($t: Decode),+> Decode for ($($t,)+) {
            fn decode<J: Json>(json: &J) -> Result<Self, DecodeError> {
                let items = json
                    .items()
                    .filter(|items| items.len() == $n)
                    .ok_or_else(|| DecodeError::new(format!("expected {} items", $n)))?;
                Ok(($($t::decode(&items[$i]).map_err(|e| e.at_index($i))?,)+))
            }
        }
    )*};
}
tuples!(2: (A 0, B 1), 3: (A 0, B 1, C 2));

fn members<J: Json, V: Decode>(json: &J) -> Result<Vec<(String, V)>, DecodeError> {
    let entries = json
        .entries()
        .ok_or_else(|| DecodeError::expected("an object", "map"))?;
    let mut out = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        match V::decode(&value) {
            Ok(v) => out.push((key, v)),
            Err(e) => return Err(e.at(&key)),
        }
    }
    Ok(out)
}

impl<V: Decode> Decode for BTreeMap<String, V> {
    fn decode<J: Json>(json: &J) -> Result<Self, DecodeError> {
        members(json).map(|m| m.into_iter().collect())
    }
}

impl<V: Decode> Decode for HashMap<String, V> {
    fn decode<J: Json>(json: &J) -> Result<Self, DecodeError> {
        members(json).map(|m| m.into_iter().collect())
    }
}

impl Decode for DateTime<Utc> {
    fn decode<J: Json>(json: &J) -> Result<Self, DecodeError> {
        json.string()
            .and_then(|s| parse_rfc3339(&s))
            .ok_or_else(|| DecodeError::expected("an RFC 3339 time", "DateTime"))
    }
}

/// An RFC 3339 time, as the server writes them (`2026-11-29T06:35:04.123456Z`;
/// any offset is read). chrono's `FromStr` reads this and much more, through a
/// general parser that was 13 KB of the client.
fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let number = |from: usize, to: usize| -> Option<u32> {
        b.get(from..to)?.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if b.len() < 20
        || separators.iter().any(|&(i, c)| b[i] != c)
        || !matches!(b[10], b'T' | b't' | b' ')
    {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(number(0, 4)? as i32, number(5, 7)?, number(8, 10)?)?;
    let (mut end, mut nanos) = (19, 0);
    if b[19] == b'.' {
        let digits = b[20..].iter().take_while(|d| d.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        // Nanoseconds: the first nine digits, as chrono reads them.
        let kept = digits.min(9);
        nanos = number(20, 20 + kept)? * 10u32.pow(9 - kept as u32);
        end = 20 + digits;
    }
    let time =
        NaiveTime::from_hms_nano_opt(number(11, 13)?, number(14, 16)?, number(17, 19)?, nanos)?;
    let offset_secs = match &b[end..] {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), rest @ ..] if matches!(rest.len(), 4 | 5) => {
            let minutes = match rest {
                [_, _, b':', _, _] => end + 4,
                [_, _, _, _] => end + 3,
                _ => return None,
            };
            let secs =
                i64::from(number(end + 1, end + 3)? * 3600 + number(minutes, minutes + 2)? * 60);
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    Some(date.and_time(time).and_utc() - chrono::TimeDelta::seconds(offset_secs))
}

/// serde's form of a `Result`: `{"Ok": …}` or `{"Err": …}` (resources carry these).
impl<T: Decode, E: Decode> Decode for Result<T, E> {
    fn decode<J: Json>(json: &J) -> Result<Self, DecodeError> {
        match result_side(json)? {
            (true, value) => T::decode(&value).map(Ok).map_err(|e| e.at("Ok")),
            (false, value) => E::decode(&value).map(Err).map_err(|e| e.at("Err")),
        }
    }
}

/// Which side a serde `Result` holds (`true` for `{"Ok": …}`) and its value;
/// apart from the per-type decoding, so every `Result<T, E>` shares it.
fn result_side<J: Json>(json: &J) -> Result<(bool, J), DecodeError> {
    let (tag, value) = single_entry(json, "Result")?;
    match tag.as_str() {
        "Ok" => Ok((true, value)),
        "Err" => Ok((false, value)),
        other => Err(DecodeError::unknown_variant(other, "Result")),
    }
}

impl Json for serde_json::Value {
    fn get(&self, key: &str) -> Option<Self> {
        self.as_object()?.get(key).cloned()
    }
    fn is_object(&self) -> bool {
        self.is_object()
    }
    fn is_null(&self) -> bool {
        self.is_null()
    }
    fn string(&self) -> Option<String> {
        self.as_str().map(str::to_string)
    }
    fn number(&self) -> Option<f64> {
        self.as_f64()
    }
    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }
    fn items(&self) -> Option<Vec<Self>> {
        self.as_array().cloned()
    }
    fn entries(&self) -> Option<Vec<(String, Self)>> {
        let object = self.as_object()?;
        Some(object.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

#[cfg(feature = "browser")]
impl Json for wasm_bindgen::JsValue {
    fn get(&self, key: &str) -> Option<Self> {
        let value = js_sys::Reflect::get(self, &key.into()).ok()?;
        (!value.is_undefined()).then_some(value)
    }
    fn is_object(&self) -> bool {
        self.is_object() && !js_sys::Array::is_array(self)
    }
    fn is_null(&self) -> bool {
        self.is_null()
    }
    fn string(&self) -> Option<String> {
        self.as_string()
    }
    fn number(&self) -> Option<f64> {
        self.as_f64()
    }
    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }
    fn items(&self) -> Option<Vec<Self>> {
        use wasm_bindgen::JsCast;
        let array = self.dyn_ref::<js_sys::Array>()?;
        Some((0..array.length()).map(|i| array.get(i)).collect())
    }
    fn entries(&self) -> Option<Vec<(String, Self)>> {
        if !Json::is_object(self) {
            return None;
        }
        let object: &js_sys::Object = wasm_bindgen::JsCast::unchecked_ref(self);
        let keys = js_sys::Object::keys(object);
        let mut out = Vec::with_capacity(keys.length() as usize);
        for key in keys.iter() {
            let value = js_sys::Reflect::get(self, &key).ok()?;
            out.push((key.as_string()?, value));
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::{ApiError, Quorum, RetryPolicy, RunStatus, StepAction, StepSpec};

    /// Decodes with both and requires the same outcome.
    fn both<T: Decode + for<'de> Deserialize<'de> + PartialEq + fmt::Debug>(
        value: serde_json::Value,
    ) -> T {
        let by_serde = serde_json::from_value::<T>(value.clone()).expect("serde reads it");
        let decoded = T::decode(&value).expect("Decode reads it");
        assert_eq!(decoded, by_serde, "{value}");
        decoded
    }

    fn error<T: Decode + fmt::Debug>(value: serde_json::Value) -> String {
        T::decode(&value).unwrap_err().to_string()
    }

    #[test]
    fn absent_options_and_defaults_read_as_serde_reads_them() {
        let bare = both::<ApiError>(json!({"error": "not_found", "message": "no such run"}));
        assert_eq!(bare.field, None);
        let null = both::<ApiError>(json!({"error": "e", "message": "m", "field": null}));
        assert_eq!(null.field, None);
        let policy = both::<RetryPolicy>(json!({"max_attempts": 3}));
        assert_eq!(policy.backoff_secs, 0.0);
    }

    #[test]
    fn enums_read_in_every_form_the_wire_uses() {
        assert_eq!(both::<RunStatus>(json!("Running")), RunStatus::Running);
        assert_eq!(both::<Quorum>(json!("majority")), Quorum::Majority);
        assert_eq!(both::<Quorum>(json!({"count": 2})), Quorum::Count(2));
        assert_eq!(
            both::<StepAction>(json!({"agent_task": {"prompt": "hi"}})),
            StepAction::AgentTask {
                prompt: "hi".into()
            }
        );
        assert_eq!(error::<Quorum>(json!("most")), "unknown Quorum `most`");
        assert_eq!(
            error::<Quorum>(json!({"count": 1, "extra": 2})),
            "expected a string or an object with one member (Quorum)"
        );
    }

    #[test]
    fn errors_say_where_and_what() {
        let step = json!({"id": "a", "action": {"agent_task": {"prompt": 7}}});
        assert_eq!(
            error::<StepSpec>(step),
            "action.agent_task.prompt: expected a string (String)"
        );
        assert_eq!(
            error::<Vec<ApiError>>(json!([{"error": "e", "message": "m"}, {"error": "e"}])),
            "[1].message: missing"
        );
        assert_eq!(
            error::<ApiError>(json!(["e", "m"])),
            "expected an object (ApiError)"
        );
    }

    #[test]
    fn numbers_must_fit_their_type() {
        assert_eq!(u32::decode(&json!(7)), Ok(7));
        assert_eq!(f64::decode(&json!(7)), Ok(7.0));
        for bad in [json!(-1), json!(1.5), json!(4_294_967_296u64), json!("7")] {
            assert!(u32::decode(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn results_tuples_maps_and_times_read_in_serdes_forms() {
        let ok: Result<u32, ApiError> = Ok(3);
        assert_eq!(
            Result::<u32, ApiError>::decode(&serde_json::to_value(&ok).unwrap()),
            Ok(ok)
        );
        let err: Result<u32, ApiError> = Err(ApiError::new("e", "m"));
        assert_eq!(
            Result::<u32, ApiError>::decode(&serde_json::to_value(&err).unwrap()),
            Ok(err)
        );
        assert_eq!(both::<(u8, String)>(json!([1, "a"])), (1, "a".into()));
        assert!(<(u8, String)>::decode(&json!([1])).is_err());
        let labels = both::<BTreeMap<String, String>>(json!({"job": "daily", "env": "prod"}));
        assert_eq!(labels.len(), 2);
        let at = both::<DateTime<Utc>>(json!("2026-11-29T06:35:04.123456Z"));
        assert_eq!(at.timestamp_micros() % 1_000_000, 123_456);
        assert!(DateTime::<Utc>::decode(&json!("yesterday")).is_err());
    }

    #[test]
    fn times_read_as_chrono_reads_them() {
        let valid = [
            "2026-11-29T06:35:04Z",
            "2026-11-29T06:35:04.5Z",
            "2026-11-29T06:35:04.123456789Z",
            "2026-11-29T06:35:04.1234567891Z",
            "2026-11-29t06:35:04z",
            "2026-11-29 06:35:04+01:30",
            "2026-11-29T06:35:04+0100",
            "2026-02-28T23:59:59.000001-08:00",
            "1970-01-01T00:00:00Z",
        ];
        for s in valid {
            let chrono: DateTime<Utc> = s.parse().unwrap();
            assert_eq!(parse_rfc3339(s), Some(chrono), "{s}");
        }
        let invalid = [
            "",
            "2026-11-29",
            "2026-11-29T06:35:04",
            "2026-11-29T06:35:04.Z",
            "2026-02-30T06:35:04Z",
            "2026-11-29T24:35:04Z",
            "2026-11-29T06:35:04+01",
            "2026-11-29T06:35:04Zjunk",
            "2026/11/29T06:35:04Z",
            "２026-11-29T06:35:04Z",
        ];
        for s in invalid {
            assert_eq!(parse_rfc3339(s), None, "{s}");
            assert!(s.parse::<DateTime<Utc>>().is_err(), "chrono reads {s}");
        }
    }
}
