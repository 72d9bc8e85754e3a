//! The AMF0 value model: [`Value`] and the ordered property list [`Object`].

/// One AMF0 value.
///
/// Strings are UTF-8 [`String`]s: the decoder rejects invalid UTF-8 with
/// [`DecodeErrorKind::InvalidUtf8`](crate::DecodeErrorKind::InvalidUtf8). The string (0x02) and
/// long string (0x0C) markers both decode to [`Value::String`]; the encoder picks the short form
/// when the text fits in 65 535 bytes and the long form otherwise, so a value always encodes to
/// something a peer can read, and decoding what was encoded gives the same value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// 0x00: an IEEE 754 double.
    Number(f64),
    /// 0x01: a boolean.
    Boolean(bool),
    /// 0x02 or 0x0C: a UTF-8 string.
    String(String),
    /// 0x03: an anonymous object.
    Object(Object),
    /// 0x05: null.
    Null,
    /// 0x06: undefined.
    Undefined,
    /// 0x07: a reference to an earlier complex value, by index. Kept as the index; this crate
    /// does not resolve references.
    Reference(u16),
    /// 0x08: an associative (ECMA) array. The count on the wire is only a hint and is not kept;
    /// the encoder writes the number of properties.
    EcmaArray(Object),
    /// 0x0A: a strict (dense) array.
    StrictArray(Vec<Value>),
    /// 0x0B: a date.
    Date {
        /// Milliseconds since 1970-01-01T00:00:00Z.
        millis: f64,
        /// Time zone offset in minutes (the specification says to send 0).
        time_zone: i16,
    },
    /// 0x0D: the "unsupported" marker.
    Unsupported,
    /// 0x0F: an XML document, as text.
    XmlDocument(String),
    /// 0x10: an object with a registered class name.
    TypedObject {
        /// The class name (alias) of the object.
        class_name: String,
        /// The properties, in wire order.
        properties: Object,
    },
    /// 0x11 (AVM+): an AMF3 value with no AMF0 equivalent (a ByteArray, a vector, a
    /// dictionary, E4X XML). AMF3 values that have one decode as it (see
    /// [`amf3::Value::to_amf0`](crate::amf3::Value::to_amf0)).
    Amf3(Box<crate::amf3::Value>),
}

/// The properties of an AMF0 object or ECMA array, in the order they were built or decoded.
///
/// Order matters to real peers (servers and encoders read the first properties positionally),
/// so this is a list, not a map. Lookups are linear, which is fastest for the handful of
/// properties RTMP objects carry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Object {
    properties: Vec<(String, Value)>,
}

impl Object {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty object with room for `capacity` properties.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            properties: Vec::with_capacity(capacity),
        }
    }

    /// The value of the first property named `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.properties
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    /// The value of the first property named `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.properties
            .iter_mut()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    /// Sets `key` to `value`: replaces the first property of that name in place, or appends a
    /// new one at the end. Returns the value that was replaced.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        let key = key.into();
        let value = value.into();
        match self.get_mut(&key) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.properties.push((key, value));
                None
            }
        }
    }

    /// Appends a property without looking for an existing one of the same name (AMF0 allows
    /// duplicates on the wire; the decoder keeps them).
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.properties.push((key.into(), value.into()));
    }

    /// Removes the first property named `key` and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let index = self.properties.iter().position(|(name, _)| name == key)?;
        Some(self.properties.remove(index).1)
    }

    /// The number of properties.
    pub fn len(&self) -> usize {
        self.properties.len()
    }

    /// Whether there are no properties.
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty()
    }

    /// The properties in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.properties
            .iter()
            .map(|(name, value)| (name.as_str(), value))
    }

    /// The properties in order, as a slice of pairs.
    pub fn as_slice(&self) -> &[(String, Value)] {
        &self.properties
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Object {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            properties: iter
                .into_iter()
                .map(|(key, value)| (key.into(), value.into()))
                .collect(),
        }
    }
}

impl IntoIterator for Object {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.properties.into_iter()
    }
}

impl Value {
    /// The bytes this value holds in memory: itself, and every string, property and item in
    /// it. A decoded value holds at most [`MAX_EXPANSION`](crate::MAX_EXPANSION) bytes per
    /// input byte in this measure.
    ///
    /// ```
    /// use rtmp_amf0::Value;
    ///
    /// let text = Value::String("twelve bytes".into());
    /// assert_eq!(text.footprint(), std::mem::size_of::<Value>() + 12);
    /// ```
    pub fn footprint(&self) -> usize {
        let properties = |object: &Object| {
            object
                .iter()
                .map(|(name, value)| std::mem::size_of::<String>() + name.len() + value.footprint())
                .sum::<usize>()
        };
        std::mem::size_of::<Value>()
            + match self {
                Value::String(text) | Value::XmlDocument(text) => text.len(),
                Value::Object(object) | Value::EcmaArray(object) => properties(object),
                Value::TypedObject {
                    class_name,
                    properties: object,
                } => class_name.len() + properties(object),
                Value::StrictArray(items) => items.iter().map(Value::footprint).sum(),
                Value::Amf3(value) => value.footprint(),
                Value::Number(_)
                | Value::Boolean(_)
                | Value::Null
                | Value::Undefined
                | Value::Reference(_)
                | Value::Date { .. }
                | Value::Unsupported => 0,
            }
    }

    /// Builds an anonymous object from `(name, value)` pairs, keeping their order.
    ///
    /// ```
    /// use rtmp_amf0::Value;
    /// let command_object = Value::object([("app", Value::from("live")), ("objectEncoding", 0.0.into())]);
    /// assert_eq!(command_object.get("app").and_then(Value::as_str), Some("live"));
    /// ```
    pub fn object<K: Into<String>, V: Into<Value>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Value::Object(pairs.into_iter().collect())
    }

    /// Builds an ECMA array from `(name, value)` pairs, keeping their order.
    pub fn ecma_array<K: Into<String>, V: Into<Value>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Value::EcmaArray(pairs.into_iter().collect())
    }

    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// The number of a number value.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(number) => Some(*number),
            _ => None,
        }
    }

    /// The boolean of a boolean value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(flag) => Some(*flag),
            _ => None,
        }
    }

    /// The properties of an object, ECMA array or typed object.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(object) | Value::EcmaArray(object) => Some(object),
            Value::TypedObject { properties, .. } => Some(properties),
            _ => None,
        }
    }

    /// The properties of an object, ECMA array or typed object, mutably.
    pub fn as_object_mut(&mut self) -> Option<&mut Object> {
        match self {
            Value::Object(object) | Value::EcmaArray(object) => Some(object),
            Value::TypedObject { properties, .. } => Some(properties),
            _ => None,
        }
    }

    /// The elements of a strict array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::StrictArray(values) => Some(values),
            _ => None,
        }
    }

    /// The value of property `key` when this is an object-like value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?.get(key)
    }

    /// Whether this is null or undefined.
    pub fn is_null_or_undefined(&self) -> bool {
        matches!(self, Value::Null | Value::Undefined)
    }
}

impl From<f64> for Value {
    fn from(number: f64) -> Self {
        Value::Number(number)
    }
}

impl From<u32> for Value {
    fn from(number: u32) -> Self {
        Value::Number(f64::from(number))
    }
}

impl From<i32> for Value {
    fn from(number: i32) -> Self {
        Value::Number(f64::from(number))
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Self {
        Value::Boolean(flag)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::String(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::String(text)
    }
}

impl From<Object> for Value {
    fn from(object: Object) -> Self {
        Value::Object(object)
    }
}

impl From<Vec<Value>> for Value {
    fn from(values: Vec<Value>) -> Self {
        Value::StrictArray(values)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keeps_order_and_replaces_in_place() {
        let mut object: Object = [("b", 1.0), ("a", 2.0)].into_iter().collect();
        assert_eq!(object.insert("b", 3.0), Some(Value::Number(1.0)));
        object.insert("c", true);
        let names: Vec<&str> = object.iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["b", "a", "c"]);
        assert_eq!(object.remove("a"), Some(Value::Number(2.0)));
        assert_eq!(object.len(), 2);
    }

    #[test]
    fn getters_see_through_object_kinds() {
        let typed = Value::TypedObject {
            class_name: "Point".into(),
            properties: [("x", 1.0)].into_iter().collect(),
        };
        assert_eq!(typed.get("x").and_then(Value::as_f64), Some(1.0));
        assert_eq!(Value::from(None::<f64>), Value::Null);
        assert!(Value::Undefined.is_null_or_undefined());
        assert_eq!(Value::from("x").as_f64(), None);
    }
}
