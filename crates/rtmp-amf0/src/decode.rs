//! Decoding AMF0 from bytes, with a depth limit and lengths checked before any allocation.

use crate::marker;
use crate::value::{Object, Value};

/// The default limit on nested objects and arrays; RTMP commands nest two or three deep.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// The most bytes the values decoded from one input hold ([`Value::footprint`]) per input
/// byte, on top of [`amf3::EXPANSION_SLACK`](crate::amf3::EXPANSION_SLACK), which the AMF3
/// values in one input share. A one-byte value (null) is a whole [`Value`]; AMF3 values may
/// expand through their references, within the same bound.
pub const MAX_EXPANSION: usize = 64;

/// What went wrong while decoding, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AMF0 decoding failed at byte {position}: {kind}")]
pub struct DecodeError {
    /// Offset in the input of the marker, length or byte that could not be decoded.
    pub position: usize,
    /// The reason.
    pub kind: DecodeErrorKind,
}

/// The reason a value could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended inside a value.
    #[error("input ends {needed} bytes too early")]
    UnexpectedEof {
        /// How many more bytes the value claimed (at least).
        needed: usize,
    },
    /// The marker byte is not an AMF0 marker.
    #[error("unknown marker 0x{0:02x}")]
    UnknownMarker(u8),
    /// The marker is reserved by the specification (movie clip 0x04, record set 0x0E) and has no
    /// defined body.
    #[error("reserved marker 0x{0:02x}")]
    ReservedMarker(u8),
    /// An object-end marker (0x09) where a value was expected.
    #[error("object end marker outside an object")]
    UnexpectedObjectEnd,
    /// The value after an AVM+ marker (0x11) is not valid AMF3.
    #[error("AMF3 value after the AVM+ marker: {0}")]
    Amf3(crate::amf3::DecodeErrorKind),
    /// A string, property name, class name or XML document is not valid UTF-8.
    #[error("text is not valid UTF-8")]
    InvalidUtf8,
    /// Objects and arrays nest deeper than the decoder allows.
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
}

/// Decodes one value from the start of `input`; bytes after it are ignored.
///
/// ```
/// let value = rtmp_amf0::decode(&[0x02, 0x00, 0x02, b'h', b'i']).unwrap();
/// assert_eq!(value.as_str(), Some("hi"));
/// ```
pub fn decode(input: &[u8]) -> Result<Value, DecodeError> {
    Decoder::new(input).decode()
}

/// Decodes values until `input` is exhausted, e.g. the body of a command message.
pub fn decode_all(input: &[u8]) -> Result<Vec<Value>, DecodeError> {
    let mut decoder = Decoder::new(input);
    let mut values = Vec::new();
    while !decoder.is_empty() {
        values.push(decoder.decode()?);
    }
    Ok(values)
}

/// A cursor that decodes values one after another from a byte slice.
///
/// Every length read from the input is compared with the bytes that remain before anything is
/// allocated, and nesting is limited (default [`DEFAULT_MAX_DEPTH`]), so hostile input costs at
/// most its own size in memory and a bounded stack.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    input: &'a [u8],
    position: usize,
    max_depth: usize,
    /// What is left of the AMF3 slack ([`amf3::EXPANSION_SLACK`](crate::amf3::EXPANSION_SLACK)).
    amf3_slack: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder at the start of `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            position: 0,
            max_depth: DEFAULT_MAX_DEPTH,
            amf3_slack: crate::amf3::EXPANSION_SLACK,
        }
    }

    /// Sets the nesting limit for objects and arrays.
    pub fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// The offset of the next byte to decode.
    pub fn position(&self) -> usize {
        self.position
    }

    /// The bytes not decoded yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.input.get(self.position..).unwrap_or_default()
    }

    /// Whether every byte has been decoded.
    pub fn is_empty(&self) -> bool {
        self.remaining().is_empty()
    }

    /// Decodes the next value. On error the position is left where it was.
    pub fn decode(&mut self) -> Result<Value, DecodeError> {
        let start = self.position;
        let result = self.value(0);
        if result.is_err() {
            self.position = start;
        }
        result
    }

    fn error(&self, position: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError { position, kind }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let remaining = self.remaining();
        match remaining.get(..len) {
            Some(bytes) => {
                self.position += len;
                Ok(bytes)
            }
            None => Err(self.error(
                self.position,
                DecodeErrorKind::UnexpectedEof {
                    needed: len - remaining.len(),
                },
            )),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N)?;
        let mut array = [0; N];
        array.copy_from_slice(bytes);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_be_bytes(self.array()?))
    }

    fn text(&mut self, len: usize) -> Result<String, DecodeError> {
        let start = self.position;
        let bytes = self.take(len)?;
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(text.to_owned()),
            Err(_) => Err(self.error(start, DecodeErrorKind::InvalidUtf8)),
        }
    }

    fn short_text(&mut self) -> Result<String, DecodeError> {
        let len = self.u16()?;
        self.text(usize::from(len))
    }

    fn long_text(&mut self) -> Result<String, DecodeError> {
        let len = self.u32()?;
        // A u32 always fits a usize on the targets we build for; saturate to be safe.
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.text(len)
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let start = self.position;
        let marker = self.u8()?;
        let value = match marker {
            marker::NUMBER => Value::Number(self.f64()?),
            marker::BOOLEAN => Value::Boolean(self.u8()? != 0),
            marker::STRING => Value::String(self.short_text()?),
            marker::OBJECT => Value::Object(self.properties(depth, start, 0)?),
            marker::NULL => Value::Null,
            marker::UNDEFINED => Value::Undefined,
            marker::REFERENCE => Value::Reference(self.u16()?),
            marker::ECMA_ARRAY => {
                let count_hint = self.u32()?;
                Value::EcmaArray(self.properties(depth, start, count_hint)?)
            }
            marker::STRICT_ARRAY => Value::StrictArray(self.strict_array(depth, start)?),
            marker::DATE => Value::Date {
                millis: self.f64()?,
                time_zone: i16::from_be_bytes(self.array()?),
            },
            marker::LONG_STRING => Value::String(self.long_text()?),
            marker::UNSUPPORTED => Value::Unsupported,
            marker::XML_DOCUMENT => Value::XmlDocument(self.long_text()?),
            marker::TYPED_OBJECT => {
                let class_name = self.short_text()?;
                let properties = self.properties(depth, start, 0)?;
                Value::TypedObject {
                    class_name,
                    properties,
                }
            }
            marker::OBJECT_END => {
                return Err(self.error(start, DecodeErrorKind::UnexpectedObjectEnd));
            }
            marker::MOVIECLIP | marker::RECORDSET => {
                return Err(self.error(start, DecodeErrorKind::ReservedMarker(marker)));
            }
            marker::AVMPLUS => {
                // The AMF3 value's own reference tables start here.
                // Every AMF3 value in one input shares one slack past the AMF3 budget.
                let body = self.position;
                let (value, used, footprint) =
                    crate::amf3::decode_with_slack(self.remaining(), self.amf3_slack).map_err(
                        |error| DecodeError {
                            position: body + error.position,
                            kind: DecodeErrorKind::Amf3(error.kind),
                        },
                    )?;
                self.position += used;
                let over =
                    footprint.saturating_sub(used.saturating_mul(crate::amf3::MAX_EXPANSION));
                self.amf3_slack = self.amf3_slack.saturating_sub(over);
                value
                    .into_amf0()
                    .unwrap_or_else(|value| Value::Amf3(Box::new(value)))
            }
            other => return Err(self.error(start, DecodeErrorKind::UnknownMarker(other))),
        };
        Ok(value)
    }

    fn enter(&self, depth: usize, start: usize) -> Result<usize, DecodeError> {
        if depth >= self.max_depth {
            return Err(self.error(start, DecodeErrorKind::TooDeep(self.max_depth)));
        }
        Ok(depth + 1)
    }

    /// Properties up to the end marker. `count_hint` is an ECMA array's count: such an array is
    /// also accepted when the input ends, without an end marker, after that many properties (some
    /// encoders write it so).
    fn properties(
        &mut self,
        depth: usize,
        start: usize,
        count_hint: u32,
    ) -> Result<Object, DecodeError> {
        let depth = self.enter(depth, start)?;
        let mut object = Object::new();
        loop {
            if self.is_empty() && count_hint > 0 && object.len() >= count_hint as usize {
                return Ok(object);
            }
            let name = self.short_text()?;
            if name.is_empty() && self.remaining().first() == Some(&marker::OBJECT_END) {
                self.position += 1;
                return Ok(object);
            }
            let value = self.value(depth)?;
            object.push(name, value);
        }
    }

    fn strict_array(&mut self, depth: usize, start: usize) -> Result<Vec<Value>, DecodeError> {
        let depth = self.enter(depth, start)?;
        let count = usize::try_from(self.u32()?).unwrap_or(usize::MAX);
        // Every element takes at least its marker byte, so a count beyond the remaining bytes is
        // a lie that must not size an allocation.
        let remaining = self.remaining().len();
        if count > remaining {
            return Err(self.error(
                self.position,
                DecodeErrorKind::UnexpectedEof {
                    needed: count - remaining,
                },
            ));
        }
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            values.push(self.value(depth)?);
        }
        Ok(values)
    }
}
