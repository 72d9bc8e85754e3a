//! Aggregate messages (type 22): a run of FLV-style tags in one message.

use bytes::Bytes;

use crate::error::{DecodeError, DecodeErrorKind};

const AGGREGATE: u8 = rtmp_chunk::type_id::AGGREGATE;
const TAG_HEADER: usize = 11;
const BACK_POINTER: usize = 4;

/// Splits the aggregate message `aggregate` into its sub-messages, as zero-copy slices.
///
/// Each sub-message keeps its type and takes the aggregate's chunk stream and message stream.
/// Timestamps are shifted so that the first sub-message has the aggregate's timestamp and the
/// others keep their distance from it (modulo 2^32).
///
/// ```
/// use rtmp_chunk::RawMessage;
/// // One audio tag of two bytes at tag time 1000, followed by its back pointer (11 + 2).
/// let tag = [8, 0, 0, 2, 0, 0x03, 0xE8, 0, 0, 0, 0, 0xAF, 0x01, 0, 0, 0, 13];
/// let aggregate = RawMessage::new(4, 5000, 22, 1, tag.to_vec());
/// let parts: Vec<RawMessage> = rtmp_message::split_aggregate(&aggregate).collect::<Result<_, _>>().unwrap();
/// assert_eq!(parts, [RawMessage::new(4, 5000, 8, 1, vec![0xAF, 0x01])]);
/// ```
pub fn split_aggregate(
    aggregate: &rtmp_chunk::RawMessage,
) -> impl Iterator<Item = Result<rtmp_chunk::RawMessage, DecodeError>> + '_ {
    let mut rest = aggregate.payload.clone();
    let mut offset = None::<u32>;
    let mut failed = false;
    std::iter::from_fn(move || {
        if rest.is_empty() || failed {
            return None;
        }
        let result = next_tag(&mut rest).map(|(type_id, tag_time, body)| {
            let shift = *offset.get_or_insert(aggregate.timestamp.wrapping_sub(tag_time));
            rtmp_chunk::RawMessage {
                chunk_stream_id: aggregate.chunk_stream_id,
                timestamp: tag_time.wrapping_add(shift),
                type_id,
                stream_id: aggregate.stream_id,
                payload: body,
            }
        });
        failed = result.is_err();
        Some(result)
    })
}

/// Takes one tag (and its back pointer, when present) off the front of `rest`.
fn next_tag(rest: &mut Bytes) -> Result<(u8, u32, Bytes), DecodeError> {
    let too_short = |needed| {
        DecodeError::new(
            AGGREGATE,
            "sub-message",
            DecodeErrorKind::TooShort {
                needed,
                length: rest.len(),
            },
        )
    };
    let header: [u8; TAG_HEADER] = rest
        .get(..TAG_HEADER)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| too_short(TAG_HEADER))?;
    let [tag_type, s0, s1, s2, t0, t1, t2, t3, ..] = header;
    let size = u32::from_be_bytes([0, s0, s1, s2]) as usize;
    let tag_time = u32::from_be_bytes([t3, t0, t1, t2]);
    let end = TAG_HEADER + size;
    if rest.len() < end {
        return Err(too_short(end));
    }
    let body = rest.slice(TAG_HEADER..end);
    // The back pointer after each tag; tolerate its absence after the last one.
    let next = (end + BACK_POINTER).min(rest.len());
    let _ = rest.split_to(next);
    Ok((tag_type & 0x1F, tag_time, body))
}
