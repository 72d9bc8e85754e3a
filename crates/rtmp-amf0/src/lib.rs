//! AMF0 (Action Message Format 0), the serialization of RTMP commands and metadata.
//!
//! Every marker of the format is decoded and encoded: number, boolean, string and long string,
//! object, null, undefined, reference, ECMA array, strict array, date, unsupported, XML document
//! and typed object; and the AVM+ switch to AMF3 ([`amf3`], every AMF3 marker, with its
//! reference tables). The reserved markers (movie clip, record set) are typed errors.
//!
//! Choices worth knowing:
//! - Strings are UTF-8 [`String`]s; invalid UTF-8 is an error
//!   ([`DecodeErrorKind::InvalidUtf8`]). Short and long strings are one [`Value::String`].
//! - Objects and ECMA arrays keep property order ([`Object`] is an ordered list).
//! - References are kept as indexes, not resolved.
//! - Hostile input is bounded: lengths are checked against the remaining input before
//!   allocating, and nesting is limited ([`Decoder::with_max_depth`]).
//!
//! ```
//! use rtmp_amf0::{decode_all, encode_all, Value};
//!
//! let command = [
//!     Value::from("connect"),
//!     Value::from(1.0),
//!     Value::object([("app", Value::from("live")), ("tcUrl", "rtmp://127.0.0.1/live".into())]),
//! ];
//! let mut body = Vec::new();
//! encode_all(&command, &mut body).unwrap();
//!
//! let decoded = decode_all(&body).unwrap();
//! assert_eq!(decoded[2].get("app").and_then(Value::as_str), Some("live"));
//! assert_eq!(decoded, command);
//! ```

#![forbid(unsafe_code)]

pub mod amf3;
mod decode;
mod encode;
pub mod marker;
mod value;

pub use decode::{
    DEFAULT_MAX_DEPTH, DecodeError, DecodeErrorKind, Decoder, MAX_EXPANSION, decode, decode_all,
};
pub use encode::{EncodeError, encode_all};
pub use value::{Object, Value};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
