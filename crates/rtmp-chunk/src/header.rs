//! Chunk headers: the basic header (fmt and chunk stream id in 1, 2 or 3 bytes) and the message
//! header of fmt 0 (11 bytes), 1 (7), 2 (3) or 3 (none), with the extended timestamp marker.

use bytes::BufMut;

/// The value of a 24-bit timestamp field that announces a 4-byte extended timestamp.
pub(crate) const EXTENDED_TIMESTAMP: u32 = 0xFF_FFFF;

/// The chunk header format (the two top bits of the first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Fmt {
    /// Absolute timestamp, length, type id and message stream id.
    Full = 0,
    /// Timestamp delta, length and type id; same message stream.
    SameStream = 1,
    /// Timestamp delta only.
    DeltaOnly = 2,
    /// No message header: a continuation, or a new message shaped like the previous one.
    Continuation = 3,
}

impl Fmt {
    fn from_bits(bits: u8) -> Fmt {
        match bits & 0b11 {
            0 => Fmt::Full,
            1 => Fmt::SameStream,
            2 => Fmt::DeltaOnly,
            _ => Fmt::Continuation,
        }
    }

    /// The size of the message header this format carries (without extended timestamp).
    pub(crate) fn message_header_len(self) -> usize {
        match self {
            Fmt::Full => 11,
            Fmt::SameStream => 7,
            Fmt::DeltaOnly => 3,
            Fmt::Continuation => 0,
        }
    }
}

/// A parsed basic header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BasicHeader {
    pub(crate) fmt: Fmt,
    pub(crate) chunk_stream_id: u32,
    /// 1, 2 or 3 bytes.
    pub(crate) len: usize,
}

/// Parses the basic header at the start of `src`, or `None` if more bytes are needed.
pub(crate) fn basic_header(src: &[u8]) -> Option<BasicHeader> {
    let first = *src.first()?;
    let fmt = Fmt::from_bits(first >> 6);
    let (chunk_stream_id, len) = match first & 0x3F {
        0 => (u32::from(*src.get(1)?) + 64, 2),
        1 => {
            let low = u32::from(*src.get(1)?);
            let high = u32::from(*src.get(2)?);
            (high * 256 + low + 64, 3)
        }
        id => (u32::from(id), 1),
    };
    Some(BasicHeader {
        fmt,
        chunk_stream_id,
        len,
    })
}

/// The size of the basic header for `chunk_stream_id` (which must be 2..=65599).
pub(crate) fn basic_header_len(chunk_stream_id: u32) -> usize {
    match chunk_stream_id {
        0..=63 => 1,
        64..=319 => 2,
        _ => 3,
    }
}

/// Writes the basic header for `fmt` and `chunk_stream_id` (which must be 2..=65599).
pub(crate) fn put_basic_header(dst: &mut impl BufMut, fmt: Fmt, chunk_stream_id: u32) {
    let fmt_bits = (fmt as u8) << 6;
    match chunk_stream_id {
        0..=63 => dst.put_u8(fmt_bits | chunk_stream_id as u8),
        64..=319 => {
            dst.put_u8(fmt_bits);
            dst.put_u8((chunk_stream_id - 64) as u8);
        }
        _ => {
            let id = chunk_stream_id - 64;
            dst.put_u8(fmt_bits | 1);
            dst.put_u8((id & 0xFF) as u8);
            dst.put_u8((id >> 8) as u8);
        }
    }
}

/// The fields of a message header as they are on the wire. Fields a format omits are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct MessageHeader {
    /// The 24-bit timestamp or delta field (0xFFFFFF announces an extended timestamp).
    pub(crate) timestamp: u32,
    pub(crate) length: u32,
    pub(crate) type_id: u8,
    pub(crate) stream_id: u32,
}

fn u24(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 3)?;
    Some(u32::from_be_bytes([0, *b.first()?, *b.get(1)?, *b.get(2)?]))
}

/// Parses the message header of `fmt` from the start of `src`, or `None` if more bytes are
/// needed.
pub(crate) fn message_header(fmt: Fmt, src: &[u8]) -> Option<MessageHeader> {
    let mut header = MessageHeader::default();
    if fmt == Fmt::Continuation {
        return Some(header);
    }
    header.timestamp = u24(src, 0)?;
    if fmt <= Fmt::SameStream {
        header.length = u24(src, 3)?;
        header.type_id = *src.get(6)?;
    }
    if fmt == Fmt::Full {
        let id: [u8; 4] = src.get(7..11)?.try_into().ok()?;
        header.stream_id = u32::from_le_bytes(id);
    }
    Some(header)
}

/// Reads a 4-byte extended timestamp at `at`, or `None` if more bytes are needed.
pub(crate) fn extended_timestamp(src: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = src.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// Writes the message header of `fmt`; `timestamp` is the full value, written as 0xFFFFFF when
/// it needs the extended field (which the caller writes after this).
pub(crate) fn put_message_header(
    dst: &mut impl BufMut,
    fmt: Fmt,
    timestamp: u32,
    header: &MessageHeader,
) {
    if fmt == Fmt::Continuation {
        return;
    }
    let field = timestamp.min(EXTENDED_TIMESTAMP);
    dst.put_uint(u64::from(field), 3);
    if fmt <= Fmt::SameStream {
        dst.put_uint(u64::from(header.length), 3);
        dst.put_u8(header.type_id);
    }
    if fmt == Fmt::Full {
        dst.put_u32_le(header.stream_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_edges() {
        for (id, bytes) in [
            (2u32, vec![0x02]),
            (63, vec![0x3F]),
            (64, vec![0x00, 0x00]),
            (319, vec![0x00, 0xFF]),
            (320, vec![0x01, 0x00, 0x01]),
            (65_599, vec![0x01, 0xFF, 0xFF]),
        ] {
            let mut out = Vec::new();
            put_basic_header(&mut out, Fmt::Continuation, id);
            let mut expected = bytes.clone();
            expected[0] |= 0xC0;
            assert_eq!(out, expected, "id {id}");
            assert_eq!(basic_header_len(id), bytes.len());
            let parsed = basic_header(&out).unwrap();
            assert_eq!(
                (parsed.fmt, parsed.chunk_stream_id, parsed.len),
                (Fmt::Continuation, id, bytes.len())
            );
            assert_eq!(basic_header(&out[..out.len() - 1]), None);
        }
    }

    #[test]
    fn message_header_layouts() {
        let header = MessageHeader {
            timestamp: 0x01_0203,
            length: 0x04_0506,
            type_id: 9,
            stream_id: 0x0A0B_0C0D,
        };
        let mut out = Vec::new();
        put_message_header(&mut out, Fmt::Full, header.timestamp, &header);
        assert_eq!(out, [1, 2, 3, 4, 5, 6, 9, 0x0D, 0x0C, 0x0B, 0x0A]);
        assert_eq!(message_header(Fmt::Full, &out), Some(header));
        assert_eq!(message_header(Fmt::Full, &out[..10]), None);
        let parsed = message_header(Fmt::SameStream, &out).unwrap();
        assert_eq!(
            (parsed.length, parsed.type_id, parsed.stream_id),
            (0x04_0506, 9, 0)
        );
        assert_eq!(
            message_header(Fmt::DeltaOnly, &out).unwrap().timestamp,
            0x01_0203
        );
        let mut extended = Vec::new();
        put_message_header(&mut extended, Fmt::DeltaOnly, 0x0100_0000, &header);
        assert_eq!(extended, [0xFF, 0xFF, 0xFF]);
    }
}
