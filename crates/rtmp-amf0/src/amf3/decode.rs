//! Decoding AMF3: the U29 integers, the reference tables, and the bounds on hostile input.
//!
//! Decoding runs in two passes. The first reads the input into a graph of nodes in which a
//! reference is only the index of the node it names, and strings are ranges of the input, so
//! the first pass costs time and memory linear in the input. Each node knows the size of the
//! tree it stands for, references followed; the decoder refuses the input as soon as the tree
//! would hold more than [`MAX_EXPANSION`] bytes per input byte read (plus [`EXPANSION_SLACK`]).
//! The second pass builds the tree, whose size is then known to be within the budget.

use std::ops::Range;
use std::rc::Rc;

use super::{Object, Value, marker};
use crate::DEFAULT_MAX_DEPTH;

/// The most entries any one reference table (strings, objects, traits) holds.
pub const MAX_TABLE_ENTRIES: usize = 1 << 16;

/// The most bytes a decoded value may hold (see [`Value::footprint`]) per input byte it was
/// decoded from, on top of [`EXPANSION_SLACK`].
pub const MAX_EXPANSION: usize = 64;

/// Bytes a decoded value may hold whatever its size on the wire, so that small values made of
/// one-byte items (an array of booleans) decode.
pub const EXPANSION_SLACK: usize = 64 * 1024;

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
    /// Nesting deeper than the decoder allows, references followed.
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    /// A reference table is full ([`MAX_TABLE_ENTRIES`]).
    #[error("more than {MAX_TABLE_ENTRIES} entries in a reference table")]
    TableFull,
    /// The value would hold more than [`MAX_EXPANSION`] bytes per input byte (plus
    /// [`EXPANSION_SLACK`]), references followed.
    #[error("the value would hold more than {MAX_EXPANSION} bytes per input byte")]
    TooLarge,
}

/// Decodes one AMF3 value from the start of `input`, with fresh reference tables; the bytes
/// used and the value.
///
/// The value holds at most [`MAX_EXPANSION`] bytes per byte used, plus [`EXPANSION_SLACK`]
/// (measured by [`Value::footprint`]), and decoding takes time linear in the bytes used and
/// the value's size.
///
/// ```
/// // An integer (marker 0x04) of -1: U29 0x1FFFFFFF.
/// let (value, used) = rtmp_amf0::amf3::decode(&[0x04, 0xFF, 0xFF, 0xFF, 0xFF]).unwrap();
/// assert_eq!((value, used), (rtmp_amf0::amf3::Value::Integer(-1), 5));
/// ```
pub fn decode(input: &[u8]) -> Result<(Value, usize), DecodeError> {
    decode_with_slack(input, EXPANSION_SLACK).map(|(value, used, _)| (value, used))
}

/// [`decode`] with `slack` bytes allowed on top of [`MAX_EXPANSION`] per input byte; the value,
/// the bytes used and the footprint of the value. Values decoded one after another from one
/// message share one slack this way.
pub(crate) fn decode_with_slack(
    input: &[u8],
    slack: usize,
) -> Result<(Value, usize, usize), DecodeError> {
    let mut reader = Reader {
        slack,
        input,
        position: 0,
        strings: Vec::new(),
        objects: Vec::new(),
        traits: Vec::new(),
        nodes: Vec::new(),
        charged: 0,
    };
    let root = reader.value(0)?;
    let graph = Graph {
        input,
        nodes: &reader.nodes,
    };
    Ok((graph.build(root), reader.position, reader.charged))
}

/// The bytes a value of each kind holds outside its heap parts.
const VALUE: usize = std::mem::size_of::<Value>();
/// The bytes a member (name and value) holds besides its value's heap parts.
const MEMBER: usize = std::mem::size_of::<(String, Value)>();

impl Value {
    /// The bytes this value holds in memory: itself, and every string, member and item in it.
    /// The decoder's budget ([`MAX_EXPANSION`]) is counted in this measure.
    ///
    /// ```
    /// use rtmp_amf0::amf3::Value;
    ///
    /// let text = Value::String("twelve bytes".into());
    /// assert_eq!(text.footprint(), std::mem::size_of::<Value>() + 12);
    /// ```
    pub fn footprint(&self) -> usize {
        VALUE + self.heap()
    }

    /// The bytes held outside the value itself.
    fn heap(&self) -> usize {
        let members = |members: &[(String, Value)]| {
            members
                .iter()
                .map(|(name, value)| MEMBER + name.len() + value.heap())
                .sum::<usize>()
        };
        match self {
            Value::String(text) | Value::XmlDocument(text) | Value::Xml(text) => text.len(),
            Value::ByteArray(bytes) => bytes.len(),
            Value::Array { associative, dense } => {
                members(associative) + dense.iter().map(Value::footprint).sum::<usize>()
            }
            Value::Object(object) => {
                object.class_name.len() + members(&object.sealed) + members(&object.dynamic_members)
            }
            Value::VectorInt { items, .. } => items.len() * 4,
            Value::VectorUint { items, .. } => items.len() * 4,
            Value::VectorDouble { items, .. } => items.len() * 8,
            Value::VectorObject {
                type_name, items, ..
            } => type_name.len() + items.iter().map(Value::footprint).sum::<usize>(),
            Value::Dictionary { entries, .. } => entries
                .iter()
                .map(|(key, value)| key.footprint() + value.footprint())
                .sum(),
            Value::Undefined
            | Value::Null
            | Value::Boolean(_)
            | Value::Integer(_)
            | Value::Double(_)
            | Value::Date(_) => 0,
        }
    }
}

/// A node's index in the graph.
type Id = u32;

/// A string: its bytes in the input (checked to be UTF-8).
type Text = Range<usize>;

/// An object's traits, as the traits table keeps them (shared by the objects that use them).
struct Traits {
    class_name: Text,
    dynamic: bool,
    sealed: Vec<Text>,
}

/// One value read, with its members as node ids.
enum Node {
    Scalar(Value),
    String(Text),
    XmlDocument(Text),
    Xml(Text),
    ByteArray(Range<usize>),
    VectorInt(bool, Range<usize>),
    VectorUint(bool, Range<usize>),
    VectorDouble(bool, Range<usize>),
    Array(Vec<(Text, Id)>, Vec<Id>),
    Object(Rc<Traits>, Vec<Id>, Vec<(Text, Id)>),
    VectorObject(bool, Text, Vec<Id>),
    Dictionary(bool, Vec<(Id, Id)>),
}

/// A node and what it stands for, references followed.
struct Entry {
    node: Node,
    /// The footprint of the tree it stands for.
    size: usize,
    /// The nesting of that tree (1 for a value with no members).
    depth: usize,
}

/// The first pass: input to nodes.
struct Reader<'a> {
    input: &'a [u8],
    position: usize,
    strings: Vec<Text>,
    /// Complex values by reference index; `None` while one is being read.
    objects: Vec<Option<Id>>,
    traits: Vec<Rc<Traits>>,
    nodes: Vec<Entry>,
    /// The footprint of everything read so far, references followed.
    charged: usize,
    /// Bytes allowed on top of [`MAX_EXPANSION`] per input byte.
    slack: usize,
}

/// A U29 with its low bit: an inline value's length or count, or a reference's index.
enum Inline {
    Reference(usize),
    Value(usize),
}

impl Reader<'_> {
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

    /// The next `len` bytes' range, consumed.
    fn skip(&mut self, len: usize) -> Result<Range<usize>, DecodeError> {
        let end = self
            .position
            .checked_add(len)
            .filter(|end| *end <= self.input.len());
        let Some(end) = end else {
            return Err(self.eof(len - self.remaining()));
        };
        let range = self.position..end;
        self.position = end;
        Ok(range)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let range = self.skip(N)?;
        let mut out = [0; N];
        if let Some(bytes) = self.input.get(range) {
            out.copy_from_slice(bytes);
        }
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
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

    /// Charges `bytes` of the decoded tree to the budget, which grows with the input read.
    fn charge(&mut self, bytes: usize) -> Result<(), DecodeError> {
        self.charged = self.charged.saturating_add(bytes);
        let budget = self
            .position
            .saturating_mul(MAX_EXPANSION)
            .saturating_add(self.slack);
        if self.charged > budget {
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

    /// `len` bytes of UTF-8 text.
    fn text(&mut self, len: usize) -> Result<Text, DecodeError> {
        let start = self.position;
        let range = self.skip(len)?;
        let bytes = self.input.get(range.clone()).unwrap_or_default();
        if std::str::from_utf8(bytes).is_err() {
            return Err(DecodeError {
                position: start,
                kind: DecodeErrorKind::InvalidUtf8,
            });
        }
        Ok(range)
    }

    /// A UTF-8-vr: a string-table reference, or an inline string (kept in the table unless
    /// empty). Not charged: the caller charges it where it lands in the tree.
    fn string(&mut self) -> Result<Text, DecodeError> {
        match self.inline()? {
            Inline::Reference(index) => self
                .strings
                .get(index)
                .cloned()
                .ok_or_else(|| self.error(DecodeErrorKind::BadReference(index))),
            Inline::Value(0) => Ok(0..0),
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

    /// Adds a finished node whose tree has the given size (itself included, charged already)
    /// and nesting.
    fn push(&mut self, node: Node, size: usize, depth: usize) -> Result<Id, DecodeError> {
        if depth > DEFAULT_MAX_DEPTH {
            return Err(self.error(DecodeErrorKind::TooDeep(DEFAULT_MAX_DEPTH)));
        }
        let id =
            Id::try_from(self.nodes.len()).map_err(|_| self.error(DecodeErrorKind::TooLarge))?;
        self.nodes.push(Entry { node, size, depth });
        Ok(id)
    }

    /// The size and nesting of node `id`'s tree.
    fn measure(&self, id: Id) -> (usize, usize) {
        self.nodes
            .get(id as usize)
            .map_or((0, 0), |entry| (entry.size, entry.depth))
    }

    /// A reference to object-table entry `index`: the node itself, its tree charged again.
    fn object_reference(&mut self, index: usize) -> Result<Id, DecodeError> {
        let id = match self.objects.get(index) {
            None => return Err(self.error(DecodeErrorKind::BadReference(index))),
            Some(None) => return Err(self.error(DecodeErrorKind::Cycle)),
            Some(Some(id)) => *id,
        };
        let (size, _) = self.measure(id);
        self.charge(size)?;
        Ok(id)
    }

    /// Reserves the object-table entry of a complex value about to be read.
    fn reserve(&mut self) -> Result<usize, DecodeError> {
        if self.objects.len() >= MAX_TABLE_ENTRIES {
            return Err(self.error(DecodeErrorKind::TableFull));
        }
        self.objects.push(None);
        Ok(self.objects.len() - 1)
    }

    /// Reads one value; its node. Its tree is charged by the time it returns.
    fn value(&mut self, depth: usize) -> Result<Id, DecodeError> {
        if depth >= DEFAULT_MAX_DEPTH {
            return Err(self.error(DecodeErrorKind::TooDeep(DEFAULT_MAX_DEPTH)));
        }
        let start = self.position;
        let result = self.value_at(depth);
        result.map_err(|mut error| {
            if error.position < start {
                error.position = start;
            }
            error
        })
    }

    fn value_at(&mut self, depth: usize) -> Result<Id, DecodeError> {
        let marker = self.u8()?;
        let scalar = match marker {
            marker::UNDEFINED => Some(Value::Undefined),
            marker::NULL => Some(Value::Null),
            marker::FALSE => Some(Value::Boolean(false)),
            marker::TRUE => Some(Value::Boolean(true)),
            marker::INTEGER => {
                // Sign-extend 29 bits.
                let raw = self.u29()?;
                Some(Value::Integer(((raw << 3) as i32) >> 3))
            }
            marker::DOUBLE => Some(Value::Double(self.f64()?)),
            _ => None,
        };
        if let Some(value) = scalar {
            self.charge(VALUE)?;
            return self.push(Node::Scalar(value), VALUE, 1);
        }
        match marker {
            marker::STRING => {
                let text = self.string()?;
                let size = VALUE + text.len();
                self.charge(size)?;
                self.push(Node::String(text), size, 1)
            }
            marker::XML_DOCUMENT => self.leaf(|this, len| {
                let text = this.text(len)?;
                Ok((VALUE + text.len(), Node::XmlDocument(text)))
            }),
            marker::XML => self.leaf(|this, len| {
                let text = this.text(len)?;
                Ok((VALUE + text.len(), Node::Xml(text)))
            }),
            marker::DATE => {
                self.leaf(|this, _| Ok((VALUE, Node::Scalar(Value::Date(this.f64()?)))))
            }
            marker::BYTE_ARRAY => self.leaf(|this, len| {
                let bytes = this.skip(len)?;
                Ok((VALUE + bytes.len(), Node::ByteArray(bytes)))
            }),
            marker::VECTOR_INT => self.leaf(|this, count| {
                let fixed = this.u8()? != 0;
                let items = this.skip(count.saturating_mul(4))?;
                Ok((VALUE + items.len(), Node::VectorInt(fixed, items)))
            }),
            marker::VECTOR_UINT => self.leaf(|this, count| {
                let fixed = this.u8()? != 0;
                let items = this.skip(count.saturating_mul(4))?;
                Ok((VALUE + items.len(), Node::VectorUint(fixed, items)))
            }),
            marker::VECTOR_DOUBLE => self.leaf(|this, count| {
                let fixed = this.u8()? != 0;
                let items = this.skip(count.saturating_mul(8))?;
                Ok((VALUE + items.len(), Node::VectorDouble(fixed, items)))
            }),
            marker::ARRAY => self.container(|this, count| this.array_body(count, depth)),
            marker::OBJECT => self.object(depth),
            marker::VECTOR_OBJECT => self.container(|this, count| {
                let fixed = this.u8()? != 0;
                let type_name = this.string()?;
                this.charge(type_name.len())?;
                let count = this.count(count, 1)?;
                let mut measure = Measure::new(type_name.len());
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    let item = this.value(depth + 1)?;
                    measure.add(this.measure(item));
                    items.push(item);
                }
                Ok((measure, Node::VectorObject(fixed, type_name, items)))
            }),
            marker::DICTIONARY => self.container(|this, count| {
                let weak_keys = this.u8()? != 0;
                let count = this.count(count, 2)?;
                let mut measure = Measure::new(0);
                let mut entries = Vec::with_capacity(count);
                for _ in 0..count {
                    let key = this.value(depth + 1)?;
                    let value = this.value(depth + 1)?;
                    measure.add(this.measure(key));
                    measure.add(this.measure(value));
                    entries.push((key, value));
                }
                Ok((measure, Node::Dictionary(weak_keys, entries)))
            }),
            other => Err(self.error(DecodeErrorKind::UnknownMarker(other))),
        }
    }

    /// A complex value with no members (text, bytes, a date, a vector of numbers): a
    /// reference, or an inline value read by `body` from its length or count, returning its
    /// footprint and node.
    fn leaf(
        &mut self,
        body: impl FnOnce(&mut Self, usize) -> Result<(usize, Node), DecodeError>,
    ) -> Result<Id, DecodeError> {
        match self.inline()? {
            Inline::Reference(index) => self.object_reference(index),
            Inline::Value(len) => {
                let index = self.reserve()?;
                let (size, node) = body(self, len)?;
                self.charge(size)?;
                self.finish(index, node, size, 1)
            }
        }
    }

    /// A complex value with members, other than an object: a reference, or an inline value
    /// read by `body`, entered in the object table before its members.
    fn container(
        &mut self,
        body: impl FnOnce(&mut Self, usize) -> Result<(Measure, Node), DecodeError>,
    ) -> Result<Id, DecodeError> {
        match self.inline()? {
            Inline::Reference(index) => self.object_reference(index),
            Inline::Value(count) => {
                let index = self.reserve()?;
                self.charge(VALUE)?;
                let (measure, node) = body(self, count)?;
                self.finish(index, node, measure.size, measure.depth)
            }
        }
    }

    /// Adds a finished complex value and fills its object-table entry.
    fn finish(
        &mut self,
        index: usize,
        node: Node,
        size: usize,
        depth: usize,
    ) -> Result<Id, DecodeError> {
        let id = self.push(node, size, depth)?;
        if let Some(slot) = self.objects.get_mut(index) {
            *slot = Some(id);
        }
        Ok(id)
    }

    fn array_body(
        &mut self,
        dense_count: usize,
        depth: usize,
    ) -> Result<(Measure, Node), DecodeError> {
        let mut measure = Measure::new(0);
        let mut associative = Vec::new();
        loop {
            let name = self.string()?;
            if name.is_empty() {
                break;
            }
            self.charge(MEMBER - VALUE + name.len())?;
            let value = self.value(depth + 1)?;
            measure.add_member(&name, self.measure(value));
            associative.push((name, value));
        }
        let count = self.count(dense_count, 1)?;
        let mut dense = Vec::with_capacity(count);
        for _ in 0..count {
            let value = self.value(depth + 1)?;
            measure.add(self.measure(value));
            dense.push(value);
        }
        Ok((measure, Node::Array(associative, dense)))
    }

    fn object(&mut self, depth: usize) -> Result<Id, DecodeError> {
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
            if self.traits.len() >= MAX_TABLE_ENTRIES {
                return Err(self.error(DecodeErrorKind::TableFull));
            }
            let traits = Rc::new(Traits {
                class_name,
                dynamic,
                sealed,
            });
            self.traits.push(Rc::clone(&traits));
            traits
        };
        let index = self.reserve()?;
        self.charge(VALUE + traits.class_name.len())?;
        let mut measure = Measure::new(traits.class_name.len());
        // Every sealed member's value takes at least a byte.
        let mut sealed = Vec::with_capacity(self.count(traits.sealed.len(), 1)?);
        for name in &traits.sealed {
            self.charge(MEMBER - VALUE + name.len())?;
            let value = self.value(depth + 1)?;
            measure.add_member(name, self.measure(value));
            sealed.push(value);
        }
        let mut dynamic_members = Vec::new();
        if traits.dynamic {
            loop {
                let name = self.string()?;
                if name.is_empty() {
                    break;
                }
                self.charge(MEMBER - VALUE + name.len())?;
                let value = self.value(depth + 1)?;
                measure.add_member(&name, self.measure(value));
                dynamic_members.push((name, value));
            }
        }
        let node = Node::Object(traits, sealed, dynamic_members);
        self.finish(index, node, measure.size, measure.depth)
    }
}

/// The size and nesting of a container's tree, as its members come.
struct Measure {
    size: usize,
    depth: usize,
}

impl Measure {
    /// A container with `own` heap bytes besides its members.
    fn new(own: usize) -> Self {
        Self {
            size: VALUE + own,
            depth: 1,
        }
    }

    /// Adds an item (a tree of the given size and nesting).
    fn add(&mut self, (size, depth): (usize, usize)) {
        self.size = self.size.saturating_add(size);
        self.depth = self.depth.max(depth + 1);
    }

    /// Adds a named member.
    fn add_member(&mut self, name: &Text, item: (usize, usize)) {
        self.add(item);
        self.size = self.size.saturating_add(MEMBER - VALUE + name.len());
    }
}

/// The second pass: nodes to the tree.
struct Graph<'a> {
    input: &'a [u8],
    nodes: &'a [Entry],
}

impl Graph<'_> {
    fn text(&self, text: &Text) -> String {
        // Checked to be UTF-8 when it was read.
        String::from_utf8_lossy(self.input.get(text.clone()).unwrap_or_default()).into_owned()
    }

    fn bytes(&self, range: &Range<usize>) -> &[u8] {
        self.input.get(range.clone()).unwrap_or_default()
    }

    fn members(&self, members: &[(Text, Id)]) -> Vec<(String, Value)> {
        members
            .iter()
            .map(|(name, id)| (self.text(name), self.build(*id)))
            .collect()
    }

    /// The tree of node `id`; its nesting was checked, so the recursion is bounded.
    fn build(&self, id: Id) -> Value {
        let Some(entry) = self.nodes.get(id as usize) else {
            return Value::Undefined;
        };
        match &entry.node {
            Node::Scalar(value) => value.clone(),
            Node::String(text) => Value::String(self.text(text)),
            Node::XmlDocument(text) => Value::XmlDocument(self.text(text)),
            Node::Xml(text) => Value::Xml(self.text(text)),
            Node::ByteArray(range) => Value::ByteArray(self.bytes(range).to_vec()),
            Node::VectorInt(fixed, range) => Value::VectorInt {
                fixed: *fixed,
                items: self
                    .bytes(range)
                    .chunks_exact(4)
                    .map(|item| i32::from_be_bytes(item.try_into().unwrap_or_default()))
                    .collect(),
            },
            Node::VectorUint(fixed, range) => Value::VectorUint {
                fixed: *fixed,
                items: self
                    .bytes(range)
                    .chunks_exact(4)
                    .map(|item| u32::from_be_bytes(item.try_into().unwrap_or_default()))
                    .collect(),
            },
            Node::VectorDouble(fixed, range) => Value::VectorDouble {
                fixed: *fixed,
                items: self
                    .bytes(range)
                    .chunks_exact(8)
                    .map(|item| f64::from_be_bytes(item.try_into().unwrap_or_default()))
                    .collect(),
            },
            Node::Array(associative, dense) => Value::Array {
                associative: self.members(associative),
                dense: dense.iter().map(|id| self.build(*id)).collect(),
            },
            Node::Object(traits, sealed, dynamic_members) => Value::Object(Object {
                class_name: self.text(&traits.class_name),
                dynamic: traits.dynamic,
                sealed: traits
                    .sealed
                    .iter()
                    .zip(sealed)
                    .map(|(name, id)| (self.text(name), self.build(*id)))
                    .collect(),
                dynamic_members: self.members(dynamic_members),
            }),
            Node::VectorObject(fixed, type_name, items) => Value::VectorObject {
                fixed: *fixed,
                type_name: self.text(type_name),
                items: items.iter().map(|id| self.build(*id)).collect(),
            },
            Node::Dictionary(weak_keys, entries) => Value::Dictionary {
                weak_keys: *weak_keys,
                entries: entries
                    .iter()
                    .map(|(key, value)| (self.build(*key), self.build(*value)))
                    .collect(),
            },
        }
    }
}
