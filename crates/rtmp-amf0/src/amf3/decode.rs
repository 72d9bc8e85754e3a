//! Decoding AMF3: the U29 integers, the reference tables, and the bounds on hostile input.

use super::{Object, Value, marker};
use crate::DEFAULT_MAX_DEPTH;

/// The most entries any one reference table (strings, objects, traits) holds.
pub const MAX_TABLE_ENTRIES: usize = 1 << 16;

/// The most nodes (values, members and items) one decoded value holds, references copied in
/// included.
pub const MAX_NODES: usize = 1 << 20;

/// What went wrong while decoding AMF3, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AMF3 decoding failed at byte {position}: {kind}")]
pub struct DecodeError {
    /// Offset in the input where the value that failed starts.
    pub position: usize,
    /// The reason.
    pub kind: DecodeErrorKind,
}

/// The reason an AMF3 value could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended inside a value.
    #[error("input ends {needed} bytes too early")]
    UnexpectedEof {
        /// How many more bytes the value claimed (at least).
        needed: usize,
    },
    /// The marker byte is not an AMF3 marker.
    #[error("unknown marker 0x{0:02x}")]
    UnknownMarker(u8),
    /// Text is not valid UTF-8.
    #[error("text is not valid UTF-8")]
    InvalidUtf8,
    /// A reference points past the end of its table.
    #[error("a reference to entry {0}, past the end of its table")]
    BadReference(usize),
    /// A reference points to a value still being decoded (a cycle).
    #[error("a reference to a value that contains it")]
    Cycle,
    /// An externalizable object: only its class knows its format.
    #[error("an externalizable object")]
    Externalizable,
    /// Nesting deeper than the decoder allows.
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    /// A reference table is full ([`MAX_TABLE_ENTRIES`]).
    #[error("more than {MAX_TABLE_ENTRIES} entries in a reference table")]
    TableFull,
    /// The value holds more than [`MAX_NODES`] nodes.
    #[error("more than {MAX_NODES} values in one value")]
    TooLarge,
}

/// Decodes one AMF3 value from the start of `input`, with fresh reference tables; the bytes
/// used and the value.
///
/// ```
/// // An integer (marker 0x04) of -1: U29 0x1FFFFFFF.
/// let (value, used) = rtmp_amf0::amf3::decode(&[0x04, 0xFF, 0xFF, 0xFF, 0xFF]).unwrap();
/// assert_eq!((value, used), (rtmp_amf0::amf3::Value::Integer(-1), 5));
/// ```
pub fn decode(input: &[u8]) -> Result<(Value, usize), DecodeError> {
    let mut decoder = Decoder {
        input,
        position: 0,
        strings: Vec::new(),
        objects: Vec::new(),
        traits: Vec::new(),
        nodes: 0,
    };
    let value = decoder.value(0)?;
    Ok((value, decoder.position))
}

/// An object's traits, as the traits table keeps them.
#[derive(Clone)]
struct Traits {
    class_name: String,
    dynamic: bool,
    sealed: Vec<String>,
}

struct Decoder<'a> {
    input: &'a [u8],
    position: usize,
    strings: Vec<String>,
    /// Complex values by reference index; `None` while one is being decoded.
    objects: Vec<Option<Value>>,
    traits: Vec<Traits>,
    nodes: usize,
}

/// A U29 with its low bit: an inline value's length or count, or a reference's index.
enum Inline {
    Reference(usize),
    Value(usize),
}

impl Decoder<'_> {
    fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            position: self.position,
            kind,
        }
    }

    fn eof(&self, needed: usize) -> DecodeError {
        self.error(DecodeErrorKind::UnexpectedEof { needed })
    }

    fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.position)
    }

    fn bytes(&mut self, len: usize) -> Result<&[u8], DecodeError> {
        let end = self
            .position
            .checked_add(len)
            .filter(|end| *end <= self.input.len());
        let Some(end) = end else {
            return Err(self.eof(len - self.remaining()));
        };
        let bytes = self.input.get(self.position..end).unwrap_or_default();
        self.position = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.bytes(1)?.first().copied().unwrap_or_default())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_be_bytes(self.array()?))
    }

    /// A U29: 7 bits in each of up to three bytes with a continuation bit, then 8 bits.
    fn u29(&mut self) -> Result<u32, DecodeError> {
        let mut value = 0u32;
        for _ in 0..3 {
            let byte = self.u8()?;
            value = value << 7 | u32::from(byte & 0x7F);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Ok(value << 8 | u32::from(self.u8()?))
    }

    fn inline(&mut self) -> Result<Inline, DecodeError> {
        let value = self.u29()? as usize;
        Ok(if value & 1 == 0 {
            Inline::Reference(value >> 1)
        } else {
            Inline::Value(value >> 1)
        })
    }

    /// Charges `count` nodes to the value's budget.
    fn charge(&mut self, count: usize) -> Result<(), DecodeError> {
        self.nodes = self.nodes.saturating_add(count);
        if self.nodes > MAX_NODES {
            return Err(self.error(DecodeErrorKind::TooLarge));
        }
        Ok(())
    }

    /// Checks a count read from the input: each item takes at least `each` bytes.
    fn count(&self, count: usize, each: usize) -> Result<usize, DecodeError> {
        let needed = count.saturating_mul(each);
        if needed > self.remaining() {
            return Err(self.eof(needed - self.remaining()));
        }
        Ok(count)
    }

    fn text(&mut self, len: usize) -> Result<String, DecodeError> {
        let start = self.position;
        let bytes = self.bytes(len)?.to_vec();
        String::from_utf8(bytes).map_err(|_| DecodeError {
            position: start,
            kind: DecodeErrorKind::InvalidUtf8,
        })
    }

    /// A UTF-8-vr: a string-table reference, or an inline string (kept in the table unless
    /// empty).
    fn string(&mut self) -> Result<String, DecodeError> {
        match self.inline()? {
            Inline::Reference(index) => self
                .strings
                .get(index)
                .cloned()
                .ok_or_else(|| self.error(DecodeErrorKind::BadReference(index))),
            Inline::Value(0) => Ok(String::new()),
            Inline::Value(len) => {
                let text = self.text(len)?;
                if self.strings.len() >= MAX_TABLE_ENTRIES {
                    return Err(self.error(DecodeErrorKind::TableFull));
                }
                self.strings.push(text.clone());
                Ok(text)
            }
        }
    }

    /// A copy of object-table entry `index`.
    fn object_reference(&mut self, index: usize) -> Result<Value, DecodeError> {
        // Charged before it is copied: a refused copy allocates nothing.
        let size = match self.objects.get(index) {
            None => return Err(self.error(DecodeErrorKind::BadReference(index))),
            Some(None) => return Err(self.error(DecodeErrorKind::Cycle)),
            Some(Some(value)) => nodes(value),
        };
        self.charge(size)?;
        let value = self.objects.get(index).cloned().flatten();
        value.ok_or_else(|| self.error(DecodeErrorKind::BadReference(index)))
    }

    /// Reserves the object-table entry of a complex value about to be decoded.
    fn reserve(&mut self) -> Result<usize, DecodeError> {
        if self.objects.len() >= MAX_TABLE_ENTRIES {
            return Err(self.error(DecodeErrorKind::TableFull));
        }
        self.objects.push(None);
        Ok(self.objects.len() - 1)
    }

    /// Fills a reserved entry; the value.
    fn fill(&mut self, index: usize, value: Value) -> Value {
        if let Some(slot) = self.objects.get_mut(index) {
            *slot = Some(value.clone());
        }
        value
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth >= DEFAULT_MAX_DEPTH {
            return Err(self.error(DecodeErrorKind::TooDeep(DEFAULT_MAX_DEPTH)));
        }
        self.charge(1)?;
        let start = self.position;
        let result = self.value_at(depth);
        result.map_err(|mut error| {
            if error.position < start {
                error.position = start;
            }
            error
        })
    }

    fn value_at(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let marker = self.u8()?;
        Ok(match marker {
            marker::UNDEFINED => Value::Undefined,
            marker::NULL => Value::Null,
            marker::FALSE => Value::Boolean(false),
            marker::TRUE => Value::Boolean(true),
            marker::INTEGER => {
                // Sign-extend 29 bits.
                let raw = self.u29()?;
                Value::Integer(((raw << 3) as i32) >> 3)
            }
            marker::DOUBLE => Value::Double(self.f64()?),
            marker::STRING => Value::String(self.string()?),
            marker::XML_DOCUMENT => {
                self.complex(|this, len| Ok(Value::XmlDocument(this.text(len)?)))?
            }
            marker::XML => self.complex(|this, len| Ok(Value::Xml(this.text(len)?)))?,
            marker::DATE => self.complex(|this, _| Ok(Value::Date(this.f64()?)))?,
            marker::ARRAY => self.complex(|this, count| this.array_body(count, depth))?,
            marker::OBJECT => self.object(depth)?,
            marker::BYTE_ARRAY => {
                self.complex(|this, len| Ok(Value::ByteArray(this.bytes(len)?.to_vec())))?
            }
            marker::VECTOR_INT => self.complex(|this, count| {
                let fixed = this.u8()? != 0;
                let count = this.count(count, 4)?;
                this.charge(count)?;
                let items = (0..count)
                    .map(|_| Ok(i32::from_be_bytes(this.array()?)))
                    .collect::<Result<_, DecodeError>>()?;
                Ok(Value::VectorInt { fixed, items })
            })?,
            marker::VECTOR_UINT => self.complex(|this, count| {
                let fixed = this.u8()? != 0;
                let count = this.count(count, 4)?;
                this.charge(count)?;
                let items = (0..count)
                    .map(|_| Ok(u32::from_be_bytes(this.array()?)))
                    .collect::<Result<_, DecodeError>>()?;
                Ok(Value::VectorUint { fixed, items })
            })?,
            marker::VECTOR_DOUBLE => self.complex(|this, count| {
                let fixed = this.u8()? != 0;
                let count = this.count(count, 8)?;
                this.charge(count)?;
                let items = (0..count)
                    .map(|_| this.f64())
                    .collect::<Result<_, DecodeError>>()?;
                Ok(Value::VectorDouble { fixed, items })
            })?,
            marker::VECTOR_OBJECT => self.complex(|this, count| {
                let fixed = this.u8()? != 0;
                let type_name = this.string()?;
                let count = this.count(count, 1)?;
                let items = (0..count)
                    .map(|_| this.value(depth + 1))
                    .collect::<Result<_, DecodeError>>()?;
                Ok(Value::VectorObject {
                    fixed,
                    type_name,
                    items,
                })
            })?,
            marker::DICTIONARY => self.complex(|this, count| {
                let weak_keys = this.u8()? != 0;
                let count = this.count(count, 2)?;
                let entries = (0..count)
                    .map(|_| Ok((this.value(depth + 1)?, this.value(depth + 1)?)))
                    .collect::<Result<_, DecodeError>>()?;
                Ok(Value::Dictionary { weak_keys, entries })
            })?,
            other => return Err(self.error(DecodeErrorKind::UnknownMarker(other))),
        })
    }

    /// A complex value other than an object: a reference, or an inline value read by
    /// `body` from its length or count, entered in the object table before its members.
    fn complex(
        &mut self,
        body: impl FnOnce(&mut Self, usize) -> Result<Value, DecodeError>,
    ) -> Result<Value, DecodeError> {
        match self.inline()? {
            Inline::Reference(index) => self.object_reference(index),
            Inline::Value(len) => {
                let index = self.reserve()?;
                let value = body(self, len)?;
                Ok(self.fill(index, value))
            }
        }
    }

    fn array_body(&mut self, dense_count: usize, depth: usize) -> Result<Value, DecodeError> {
        let mut associative = Vec::new();
        loop {
            let name = self.string()?;
            if name.is_empty() {
                break;
            }
            associative.push((name, self.value(depth + 1)?));
        }
        let count = self.count(dense_count, 1)?;
        let dense = (0..count)
            .map(|_| self.value(depth + 1))
            .collect::<Result<_, DecodeError>>()?;
        Ok(Value::Array { associative, dense })
    }

    fn object(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let header = self.u29()? as usize;
        if header & 1 == 0 {
            return self.object_reference(header >> 1);
        }
        let traits = if header & 2 == 0 {
            let index = header >> 2;
            self.traits
                .get(index)
                .cloned()
                .ok_or_else(|| self.error(DecodeErrorKind::BadReference(index)))?
        } else if header & 4 != 0 {
            return Err(self.error(DecodeErrorKind::Externalizable));
        } else {
            let dynamic = header & 8 != 0;
            let class_name = self.string()?;
            let count = self.count(header >> 4, 1)?;
            let sealed = (0..count)
                .map(|_| self.string())
                .collect::<Result<Vec<_>, _>>()?;
            let traits = Traits {
                class_name,
                dynamic,
                sealed,
            };
            if self.traits.len() >= MAX_TABLE_ENTRIES {
                return Err(self.error(DecodeErrorKind::TableFull));
            }
            self.traits.push(traits.clone());
            traits
        };
        let index = self.reserve()?;
        let mut object = Object {
            class_name: traits.class_name,
            dynamic: traits.dynamic,
            sealed: Vec::with_capacity(self.count(traits.sealed.len(), 1)?),
            dynamic_members: Vec::new(),
        };
        for name in traits.sealed {
            let value = self.value(depth + 1)?;
            object.sealed.push((name, value));
        }
        if object.dynamic {
            loop {
                let name = self.string()?;
                if name.is_empty() {
                    break;
                }
                let value = self.value(depth + 1)?;
                object.dynamic_members.push((name, value));
            }
        }
        Ok(self.fill(index, Value::Object(object)))
    }
}

/// The nodes of a value (itself, and everything in it).
fn nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array { associative, dense } => {
            associative
                .iter()
                .map(|(_, value)| nodes(value))
                .sum::<usize>()
                + dense.iter().map(nodes).sum::<usize>()
        }
        Value::Object(object) => object.members().map(|(_, value)| nodes(value)).sum(),
        Value::VectorInt { items, .. } => items.len(),
        Value::VectorUint { items, .. } => items.len(),
        Value::VectorDouble { items, .. } => items.len(),
        Value::VectorObject { items, .. } => items.iter().map(nodes).sum(),
        Value::Dictionary { entries, .. } => entries
            .iter()
            .map(|(key, value)| nodes(key) + nodes(value))
            .sum(),
        _ => 0,
    }
}
