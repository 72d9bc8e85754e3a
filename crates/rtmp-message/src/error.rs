//! Errors of decoding and encoding typed messages.

/// A message body that does not decode as its type says it should.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("message type {type_id}, {field}: {kind}")]
pub struct DecodeError {
    /// The message type id.
    pub type_id: u8,
    /// The field (or argument) that could not be read, e.g. "publish name".
    pub field: &'static str,
    /// What was wrong with it.
    pub kind: DecodeErrorKind,
}

/// What was wrong with a field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The body ends before the field.
    #[error("body of {length} bytes is too short, {needed} needed")]
    TooShort {
        /// Bytes needed up to the end of the field.
        needed: usize,
        /// Bytes in the body.
        length: usize,
    },
    /// The field is absent.
    #[error("missing")]
    Missing,
    /// The field has an AMF0 type that cannot stand for what it should be.
    #[error("expected {0}")]
    WrongType(&'static str),
    /// The AMF0 body does not decode.
    #[error("{0}")]
    Amf0(#[from] rtmp_amf0::DecodeError),
    /// AMF3 command and data messages (17, 15) must start with a zero format byte.
    #[error("AMF3 format byte {0} is not 0")]
    Amf3Format(u8),
}

/// A typed message that cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// An AMF0 value that cannot be represented.
    #[error("{0}")]
    Amf0(#[from] rtmp_amf0::EncodeError),
}

impl DecodeError {
    pub(crate) fn new(type_id: u8, field: &'static str, kind: DecodeErrorKind) -> Self {
        Self {
            type_id,
            field,
            kind,
        }
    }
}
