//! Encoding AMF0 values into any [`BufMut`].

use bytes::{BufMut, Bytes, BytesMut};

use crate::marker;
use crate::value::{Object, Value};

/// A value that AMF0 cannot represent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A property name or class name is longer than the u16 length field allows.
    #[error("name of {0} bytes is longer than 65535")]
    NameTooLong(usize),
    /// A string or XML document is longer than the u32 length field allows.
    #[error("text of {0} bytes is longer than u32::MAX")]
    TextTooLong(usize),
    /// A strict array has more elements than the u32 count field allows.
    #[error("array of {0} elements is longer than u32::MAX")]
    ArrayTooLong(usize),
    /// An AMF3 value that AMF3 cannot represent.
    #[error("AMF3: {0}")]
    Amf3(#[from] crate::amf3::EncodeError),
}

impl Value {
    /// Appends the encoding of this value to `buf`.
    ///
    /// On error, `buf` may hold the part of the value written before the failing field.
    ///
    /// ```
    /// use rtmp_amf0::Value;
    /// let mut buf = Vec::new();
    /// Value::from("hi").encode(&mut buf).unwrap();
    /// assert_eq!(buf, [0x02, 0x00, 0x02, b'h', b'i']);
    /// ```
    pub fn encode<B: BufMut>(&self, buf: &mut B) -> Result<(), EncodeError> {
        match self {
            Value::Number(number) => {
                buf.put_u8(marker::NUMBER);
                buf.put_f64(*number);
            }
            Value::Boolean(flag) => {
                buf.put_u8(marker::BOOLEAN);
                buf.put_u8(u8::from(*flag));
            }
            Value::String(text) => match u16::try_from(text.len()) {
                Ok(len) => {
                    buf.put_u8(marker::STRING);
                    buf.put_u16(len);
                    buf.put_slice(text.as_bytes());
                }
                Err(_) => {
                    buf.put_u8(marker::LONG_STRING);
                    put_long_text(buf, text)?;
                }
            },
            Value::Object(object) => {
                buf.put_u8(marker::OBJECT);
                put_properties(buf, object)?;
            }
            Value::Null => buf.put_u8(marker::NULL),
            Value::Undefined => buf.put_u8(marker::UNDEFINED),
            Value::Reference(index) => {
                buf.put_u8(marker::REFERENCE);
                buf.put_u16(*index);
            }
            Value::EcmaArray(object) => {
                buf.put_u8(marker::ECMA_ARRAY);
                let count = u32::try_from(object.len())
                    .map_err(|_| EncodeError::ArrayTooLong(object.len()))?;
                buf.put_u32(count);
                put_properties(buf, object)?;
            }
            Value::StrictArray(values) => {
                buf.put_u8(marker::STRICT_ARRAY);
                let count = u32::try_from(values.len())
                    .map_err(|_| EncodeError::ArrayTooLong(values.len()))?;
                buf.put_u32(count);
                for value in values {
                    value.encode(buf)?;
                }
            }
            Value::Date { millis, time_zone } => {
                buf.put_u8(marker::DATE);
                buf.put_f64(*millis);
                buf.put_i16(*time_zone);
            }
            Value::Unsupported => buf.put_u8(marker::UNSUPPORTED),
            Value::XmlDocument(text) => {
                buf.put_u8(marker::XML_DOCUMENT);
                put_long_text(buf, text)?;
            }
            Value::TypedObject {
                class_name,
                properties,
            } => {
                buf.put_u8(marker::TYPED_OBJECT);
                put_name(buf, class_name)?;
                put_properties(buf, properties)?;
            }
            Value::Amf3(value) => {
                let mut amf3 = vec![marker::AVMPLUS];
                crate::amf3::encode(value, &mut amf3)?;
                buf.put_slice(&amf3);
            }
        }
        Ok(())
    }

    /// The number of bytes [`Value::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        match self {
            Value::Number(_) => 9,
            Value::Boolean(_) => 2,
            Value::String(text) if text.len() <= usize::from(u16::MAX) => 3 + text.len(),
            Value::String(text) | Value::XmlDocument(text) => 5 + text.len(),
            Value::Object(object) => 1 + properties_len(object),
            Value::Null | Value::Undefined | Value::Unsupported => 1,
            Value::Reference(_) => 3,
            Value::EcmaArray(object) => 5 + properties_len(object),
            Value::StrictArray(values) => 5 + values.iter().map(Value::encoded_len).sum::<usize>(),
            Value::Date { .. } => 11,
            Value::TypedObject {
                class_name,
                properties,
            } => 3 + class_name.len() + properties_len(properties),
            Value::Amf3(value) => {
                let mut amf3 = Vec::new();
                // A value AMF3 cannot hold encodes to nothing.
                crate::amf3::encode(value, &mut amf3).map_or(0, |()| 1 + amf3.len())
            }
        }
    }

    /// Encodes this value into a new buffer of exactly the right size.
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut buf)?;
        Ok(buf.freeze())
    }
}

/// Encodes `values` one after another, e.g. the body of a command message.
pub fn encode_all<'a, B: BufMut>(
    values: impl IntoIterator<Item = &'a Value>,
    buf: &mut B,
) -> Result<(), EncodeError> {
    values.into_iter().try_for_each(|value| value.encode(buf))
}

fn put_name<B: BufMut>(buf: &mut B, name: &str) -> Result<(), EncodeError> {
    let len = u16::try_from(name.len()).map_err(|_| EncodeError::NameTooLong(name.len()))?;
    buf.put_u16(len);
    buf.put_slice(name.as_bytes());
    Ok(())
}

fn put_long_text<B: BufMut>(buf: &mut B, text: &str) -> Result<(), EncodeError> {
    let len = u32::try_from(text.len()).map_err(|_| EncodeError::TextTooLong(text.len()))?;
    buf.put_u32(len);
    buf.put_slice(text.as_bytes());
    Ok(())
}

fn put_properties<B: BufMut>(buf: &mut B, object: &Object) -> Result<(), EncodeError> {
    for (name, value) in object.iter() {
        put_name(buf, name)?;
        value.encode(buf)?;
    }
    buf.put_u16(0);
    buf.put_u8(marker::OBJECT_END);
    Ok(())
}

fn properties_len(object: &Object) -> usize {
    let pairs: usize = object
        .iter()
        .map(|(name, value)| 2 + name.len() + value.encoded_len())
        .sum();
    pairs + 3
}
