//! AMF3, the format Flash Player 9 and later use, and RTMP peers switch to inside AMF0 with
//! the AVM+ marker (0x11), or in type 17 and 15 messages.
//!
//! Every marker is decoded and encoded ([`Value`]). The decoder keeps the three reference
//! tables (strings, objects, traits) and resolves references into a tree; it is bounded like
//! the AMF0 decoder, and more:
//! - lengths and counts are checked against the remaining input before allocating;
//! - nesting is limited ([`DEFAULT_MAX_DEPTH`](crate::DEFAULT_MAX_DEPTH));
//! - each table holds at most [`MAX_TABLE_ENTRIES`] entries;
//! - the tables hold ranges of the input and indices of values already read, never copies,
//!   and a decoded value holds at most [`MAX_EXPANSION`] bytes per input byte (plus
//!   [`EXPANSION_SLACK`]), references followed, so a few bytes of references cannot expand
//!   into gigabytes; decoding takes time linear in the input and the value's size;
//! - a reference to a value still being decoded (a cycle) is an error, as are externalizable
//!   objects, whose format only their class knows.
//!
//! The encoder writes every string and traits inline (references are optional for writers).
//!
//! ```
//! use rtmp_amf0::amf3::{self, Object, Value};
//!
//! let value = Value::Object(Object {
//!     class_name: String::new(),
//!     dynamic: true,
//!     sealed: vec![],
//!     dynamic_members: vec![("app".into(), Value::String("live".into()))],
//! });
//! let mut bytes = Vec::new();
//! amf3::encode(&value, &mut bytes).unwrap();
//! assert_eq!(amf3::decode(&bytes).unwrap(), (value, bytes.len()));
//! ```

mod decode;
mod encode;

pub(crate) use decode::decode_with_slack;
pub use decode::{
    DecodeError, DecodeErrorKind, EXPANSION_SLACK, MAX_EXPANSION, MAX_TABLE_ENTRIES, decode,
};
pub use encode::{EncodeError, encode};

/// AMF3 markers.
pub mod marker {
    /// 0x00: undefined.
    pub const UNDEFINED: u8 = 0x00;
    /// 0x01: null.
    pub const NULL: u8 = 0x01;
    /// 0x02: false.
    pub const FALSE: u8 = 0x02;
    /// 0x03: true.
    pub const TRUE: u8 = 0x03;
    /// 0x04: a signed 29-bit integer.
    pub const INTEGER: u8 = 0x04;
    /// 0x05: a double.
    pub const DOUBLE: u8 = 0x05;
    /// 0x06: a string.
    pub const STRING: u8 = 0x06;
    /// 0x07: an XMLDocument.
    pub const XML_DOCUMENT: u8 = 0x07;
    /// 0x08: a date.
    pub const DATE: u8 = 0x08;
    /// 0x09: an array.
    pub const ARRAY: u8 = 0x09;
    /// 0x0A: an object.
    pub const OBJECT: u8 = 0x0A;
    /// 0x0B: XML (E4X).
    pub const XML: u8 = 0x0B;
    /// 0x0C: a ByteArray.
    pub const BYTE_ARRAY: u8 = 0x0C;
    /// 0x0D: a Vector of int.
    pub const VECTOR_INT: u8 = 0x0D;
    /// 0x0E: a Vector of uint.
    pub const VECTOR_UINT: u8 = 0x0E;
    /// 0x0F: a Vector of double.
    pub const VECTOR_DOUBLE: u8 = 0x0F;
    /// 0x10: a Vector of objects.
    pub const VECTOR_OBJECT: u8 = 0x10;
    /// 0x11: a Dictionary.
    pub const DICTIONARY: u8 = 0x11;
}

/// One AMF3 value, with references resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// undefined.
    Undefined,
    /// null.
    Null,
    /// false or true.
    Boolean(bool),
    /// A signed 29-bit integer (-2^28 to 2^28 - 1); larger integers travel as doubles.
    Integer(i32),
    /// A double.
    Double(f64),
    /// A UTF-8 string.
    String(String),
    /// A legacy XMLDocument, as text.
    XmlDocument(String),
    /// A date: milliseconds since the epoch, UTC.
    Date(f64),
    /// An array: its associative part (in order) and its dense part.
    Array {
        /// Named members.
        associative: Vec<(String, Value)>,
        /// Members by index.
        dense: Vec<Value>,
    },
    /// An object.
    Object(Object),
    /// E4X XML, as text.
    Xml(String),
    /// A ByteArray.
    ByteArray(Vec<u8>),
    /// A Vector of int.
    VectorInt {
        /// Whether the vector has a fixed length.
        fixed: bool,
        /// The items.
        items: Vec<i32>,
    },
    /// A Vector of uint.
    VectorUint {
        /// Whether the vector has a fixed length.
        fixed: bool,
        /// The items.
        items: Vec<u32>,
    },
    /// A Vector of double.
    VectorDouble {
        /// Whether the vector has a fixed length.
        fixed: bool,
        /// The items.
        items: Vec<f64>,
    },
    /// A Vector of objects of one type.
    VectorObject {
        /// Whether the vector has a fixed length.
        fixed: bool,
        /// The items' type name (`*` for any).
        type_name: String,
        /// The items.
        items: Vec<Value>,
    },
    /// A Dictionary: keys of any type.
    Dictionary {
        /// Whether the keys are weakly referenced.
        weak_keys: bool,
        /// The entries, in order.
        entries: Vec<(Value, Value)>,
    },
}

/// An AMF3 object: its traits' sealed members, then its dynamic ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Object {
    /// The class name (empty for an anonymous object).
    pub class_name: String,
    /// Whether the object takes dynamic members.
    pub dynamic: bool,
    /// The sealed members, in trait order.
    pub sealed: Vec<(String, Value)>,
    /// The dynamic members, in order.
    pub dynamic_members: Vec<(String, Value)>,
}

impl Object {
    /// Every member, sealed ones first.
    pub fn members(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.sealed
            .iter()
            .chain(&self.dynamic_members)
            .map(|(name, value)| (name.as_str(), value))
    }
}

impl Value {
    /// The value as AMF0, where AMF0 has an equivalent: numbers, strings, booleans, null and
    /// undefined, dates, XMLDocuments, objects (anonymous or typed), arrays (dense-only ones as
    /// strict arrays, others as ECMA arrays with the dense members named by index). `None`
    /// for ByteArrays, vectors, dictionaries and E4X XML.
    pub fn to_amf0(&self) -> Option<crate::Value> {
        self.has_amf0().then(|| self.clone().convert())
    }

    /// [`to_amf0`](Self::to_amf0) without copying: the value back when AMF0 has no
    /// equivalent.
    ///
    /// ```
    /// use rtmp_amf0::amf3::Value;
    ///
    /// assert_eq!(Value::Integer(3).into_amf0(), Ok(rtmp_amf0::Value::Number(3.0)));
    /// let bytes = Value::ByteArray(vec![1, 2]);
    /// assert_eq!(bytes.clone().into_amf0(), Err(bytes));
    /// ```
    pub fn into_amf0(self) -> Result<crate::Value, Self> {
        if self.has_amf0() {
            Ok(self.convert())
        } else {
            Err(self)
        }
    }

    /// Whether the value and everything in it has an AMF0 equivalent.
    fn has_amf0(&self) -> bool {
        match self {
            Value::Array { associative, dense } => {
                associative.iter().all(|(_, value)| value.has_amf0())
                    && dense.iter().all(Value::has_amf0)
            }
            Value::Object(object) => object.members().all(|(_, value)| value.has_amf0()),
            Value::Undefined
            | Value::Null
            | Value::Boolean(_)
            | Value::Integer(_)
            | Value::Double(_)
            | Value::String(_)
            | Value::XmlDocument(_)
            | Value::Date(_) => true,
            _ => false,
        }
    }

    /// The AMF0 form of a value that has one (see [`has_amf0`](Self::has_amf0)); anything
    /// else becomes undefined.
    fn convert(self) -> crate::Value {
        use crate::Value as Amf0;
        let members = |members: Vec<(String, Value)>| {
            members
                .into_iter()
                .map(|(name, value)| (name, value.convert()))
                .collect::<crate::Object>()
        };
        match self {
            Value::Null => Amf0::Null,
            Value::Boolean(value) => Amf0::Boolean(value),
            Value::Integer(value) => Amf0::Number(f64::from(value)),
            Value::Double(value) => Amf0::Number(value),
            Value::String(value) => Amf0::String(value),
            Value::XmlDocument(value) => Amf0::XmlDocument(value),
            Value::Date(millis) => Amf0::Date {
                millis,
                time_zone: 0,
            },
            Value::Array { associative, dense } if associative.is_empty() => {
                Amf0::StrictArray(dense.into_iter().map(Value::convert).collect())
            }
            Value::Array { associative, dense } => {
                let indexed = dense
                    .into_iter()
                    .enumerate()
                    .map(|(index, value)| (index.to_string(), value));
                Amf0::EcmaArray(members(indexed.chain(associative).collect()))
            }
            Value::Object(object) => {
                let properties = members(
                    object
                        .sealed
                        .into_iter()
                        .chain(object.dynamic_members)
                        .collect(),
                );
                if object.class_name.is_empty() {
                    Amf0::Object(properties)
                } else {
                    Amf0::TypedObject {
                        class_name: object.class_name,
                        properties,
                    }
                }
            }
            _ => Amf0::Undefined,
        }
    }
}
