//! The error of every parser in this crate.

/// Input that does not parse, or a value that cannot be written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ends inside `what`.
    #[error("{what}: needs {needed} bytes, {available} available")]
    TooShort {
        /// The structure being read.
        what: &'static str,
        /// Bytes needed from the start of that structure's field.
        needed: usize,
        /// Bytes that were there.
        available: usize,
    },
    /// A field has a value the format does not allow.
    #[error("{what}: {reason}")]
    Invalid {
        /// The structure being read.
        what: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// An FLV PreviousTagSize that does not match the tag before it.
    #[error("FLV previous tag size is {found}, the tag before it has {expected}")]
    PreviousTagSize {
        /// 11 + the size of the tag before.
        expected: u32,
        /// The value in the file.
        found: u32,
    },
    /// A value too large for its field when writing.
    #[error("{what}: {value} does not fit its field")]
    TooLarge {
        /// The field.
        what: &'static str,
        /// The value.
        value: usize,
    },
}

pub(crate) fn invalid(what: &'static str, reason: &'static str) -> Error {
    Error::Invalid { what, reason }
}
