//! Reading command arguments leniently: real encoders leave optional arguments out, send
//! numbers as strings and booleans as numbers. Required arguments still fail with a typed error.

use rtmp_amf0::Value;

use crate::error::{DecodeError, DecodeErrorKind};

/// The values of a command or data message, read by position.
pub(crate) struct Args<'a> {
    pub(crate) type_id: u8,
    pub(crate) values: &'a [Value],
}

/// A number from a number, a numeric string, or a boolean.
pub(crate) fn lenient_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => Some(*number),
        Value::String(text) => text.trim().parse().ok(),
        Value::Boolean(flag) => Some(f64::from(u8::from(*flag))),
        _ => None,
    }
}

/// A boolean from a boolean, a number (non-zero is true), or "true"/"false".
pub(crate) fn lenient_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Boolean(flag) => Some(*flag),
        Value::Number(number) => Some(*number != 0.0),
        Value::String(text) => match text.trim() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

impl<'a> Args<'a> {
    fn error(&self, field: &'static str, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(self.type_id, field, kind)
    }

    /// The value at `index`, unless absent, null or undefined.
    pub(crate) fn get(&self, index: usize) -> Option<&'a Value> {
        self.values
            .get(index)
            .filter(|value| !value.is_null_or_undefined())
    }

    /// The values from `index` on.
    pub(crate) fn rest(&self, index: usize) -> Vec<Value> {
        self.values.get(index..).unwrap_or_default().to_vec()
    }

    /// A required string.
    pub(crate) fn string(&self, index: usize, field: &'static str) -> Result<String, DecodeError> {
        match self.get(index) {
            Some(Value::String(text)) => Ok(text.clone()),
            Some(Value::Number(number)) => Ok(number.to_string()),
            Some(_) => Err(self.error(field, DecodeErrorKind::WrongType("a string"))),
            None => Err(self.error(field, DecodeErrorKind::Missing)),
        }
    }

    /// An optional string.
    pub(crate) fn optional_string(&self, index: usize) -> Option<String> {
        self.get(index).and_then(Value::as_str).map(str::to_owned)
    }

    /// A required number.
    pub(crate) fn number(&self, index: usize, field: &'static str) -> Result<f64, DecodeError> {
        match self.get(index) {
            Some(value) => lenient_number(value)
                .ok_or_else(|| self.error(field, DecodeErrorKind::WrongType("a number"))),
            None => Err(self.error(field, DecodeErrorKind::Missing)),
        }
    }

    /// An optional number, `default` when absent or unreadable.
    pub(crate) fn number_or(&self, index: usize, default: f64) -> f64 {
        self.get(index).and_then(lenient_number).unwrap_or(default)
    }

    /// A required boolean.
    pub(crate) fn boolean(&self, index: usize, field: &'static str) -> Result<bool, DecodeError> {
        match self.get(index) {
            Some(value) => lenient_bool(value)
                .ok_or_else(|| self.error(field, DecodeErrorKind::WrongType("a boolean"))),
            None => Err(self.error(field, DecodeErrorKind::Missing)),
        }
    }

    /// An optional boolean, `default` when absent or unreadable.
    pub(crate) fn boolean_or(&self, index: usize, default: bool) -> bool {
        self.get(index).and_then(lenient_bool).unwrap_or(default)
    }

    /// The value at `index` as it is (null when absent).
    pub(crate) fn value(&self, index: usize) -> Value {
        self.values.get(index).cloned().unwrap_or(Value::Null)
    }
}
