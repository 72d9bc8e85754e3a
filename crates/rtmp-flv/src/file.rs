//! FLV files: the header, tags, an incremental reader and the writing of both.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{Error, invalid};
use crate::read::Reader;

/// FLV tag type 8: audio.
pub const TAG_AUDIO: u8 = 8;
/// FLV tag type 9: video.
pub const TAG_VIDEO: u8 = 9;
/// FLV tag type 18: script data (e.g. onMetaData).
pub const TAG_SCRIPT: u8 = 18;

const HEADER_LEN: usize = 9;
const TAG_HEADER_LEN: usize = 11;
const MAX_TAG_DATA: usize = 0xFF_FFFF;
/// The largest header (with extension) accepted; real files use 9.
const MAX_HEADER_LEN: usize = 1 << 16;

/// The 9-byte FLV file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlvHeader {
    /// The version (1).
    pub version: u8,
    /// Whether the file says it has audio tags.
    pub has_audio: bool,
    /// Whether the file says it has video tags.
    pub has_video: bool,
}

impl FlvHeader {
    /// A version 1 header.
    pub fn new(has_audio: bool, has_video: bool) -> Self {
        Self {
            version: 1,
            has_audio,
            has_video,
        }
    }

    /// Writes the header and PreviousTagSize0 (13 bytes).
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_slice(b"FLV");
        dst.put_u8(self.version);
        dst.put_u8(u8::from(self.has_audio) << 2 | u8::from(self.has_video));
        dst.put_u32(HEADER_LEN as u32);
        dst.put_u32(0);
    }
}

/// One FLV tag: its type, timestamp and data. The data of an audio or video tag is exactly the
/// payload of the RTMP message of the same type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    /// 8 audio, 9 video, 18 script data (others are kept).
    pub tag_type: u8,
    /// The Filter bit: the data is encrypted.
    pub filter: bool,
    /// Milliseconds, 32 bits (the 24-bit field and its extension byte together).
    pub timestamp: u32,
    /// The stream id field (0 in files).
    pub stream_id: u32,
    /// The tag data.
    pub data: Bytes,
}

impl FlvTag {
    /// A tag with stream id 0 and no filter, e.g. from an RTMP message's type, timestamp and
    /// payload.
    pub fn new(tag_type: u8, timestamp: u32, data: Bytes) -> Self {
        Self {
            tag_type,
            filter: false,
            timestamp,
            stream_id: 0,
            data,
        }
    }

    /// Writes the tag and the PreviousTagSize after it.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), Error> {
        if self.data.len() > MAX_TAG_DATA {
            return Err(Error::TooLarge {
                what: "FLV tag data size",
                value: self.data.len(),
            });
        }
        dst.reserve(TAG_HEADER_LEN + self.data.len() + 4);
        dst.put_u8(u8::from(self.filter) << 5 | (self.tag_type & 0x1F));
        dst.put_uint(self.data.len() as u64, 3);
        dst.put_uint(u64::from(self.timestamp & 0xFF_FFFF), 3);
        dst.put_u8((self.timestamp >> 24) as u8);
        dst.put_uint(u64::from(self.stream_id & 0xFF_FFFF), 3);
        dst.put_slice(&self.data);
        dst.put_u32((TAG_HEADER_LEN + self.data.len()) as u32);
        Ok(())
    }
}

/// What the reader expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Header,
    /// A PreviousTagSize equal to the value, then a tag.
    Tag {
        previous_size: u32,
    },
}

/// An incremental FLV reader: push bytes as they arrive (from a socket or a growing file) and
/// take tags as they complete.
///
/// A PreviousTagSize that does not match the tag before it is an error
/// ([`Error::PreviousTagSize`]) rather than a silent resync: a damaged file is reported, and the
/// caller decides whether to stop. Tags larger than the configured limit are refused before
/// their data is buffered.
///
/// ```
/// use bytes::BytesMut;
/// use rtmp_flv::{FlvHeader, FlvReader, FlvTag};
///
/// let mut file = BytesMut::new();
/// FlvHeader::new(true, false).encode(&mut file);
/// FlvTag::new(8, 40, vec![0xAF, 1, 2].into()).encode(&mut file).unwrap();
///
/// let mut reader = FlvReader::new();
/// reader.push(&file);
/// let tag = reader.next_tag().unwrap().unwrap();
/// assert_eq!((tag.tag_type, tag.timestamp, &tag.data[..]), (8, 40, &[0xAF, 1, 2][..]));
/// assert_eq!(reader.header().map(|h| h.has_audio), Some(true));
/// ```
#[derive(Debug)]
pub struct FlvReader {
    buf: BytesMut,
    expect: Expect,
    header: Option<FlvHeader>,
    max_tag_size: usize,
}

impl Default for FlvReader {
    fn default() -> Self {
        Self::new()
    }
}

impl FlvReader {
    /// A reader that accepts tags up to the format's limit of 16 MiB - 1.
    pub fn new() -> Self {
        Self {
            buf: BytesMut::new(),
            expect: Expect::Header,
            header: None,
            max_tag_size: MAX_TAG_DATA,
        }
    }

    /// Sets the largest tag data size accepted.
    pub fn with_max_tag_size(mut self, max_tag_size: usize) -> Self {
        self.max_tag_size = max_tag_size;
        self
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The file header, once read.
    pub fn header(&self) -> Option<&FlvHeader> {
        self.header.as_ref()
    }

    /// Bytes pushed but not consumed yet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete tag, `Ok(None)` if more bytes are needed.
    pub fn next_tag(&mut self) -> Result<Option<FlvTag>, Error> {
        if self.expect == Expect::Header && !self.read_header()? {
            return Ok(None);
        }
        let Expect::Tag { previous_size } = self.expect else {
            return Ok(None);
        };
        let Some(head) = self.buf.get(..4 + TAG_HEADER_LEN) else {
            return Ok(None);
        };
        let mut head = head;
        let found = head.get_u32();
        if found != previous_size {
            return Err(Error::PreviousTagSize {
                expected: previous_size,
                found,
            });
        }
        let flags = head.get_u8();
        let size = head.get_uint(3) as usize;
        let low = head.get_uint(3) as u32;
        let high = u32::from(head.get_u8());
        let stream_id = head.get_uint(3) as u32;
        if size > self.max_tag_size {
            return Err(Error::TooLarge {
                what: "FLV tag data size",
                value: size,
            });
        }
        if flags & 0xC0 != 0 {
            return Err(invalid("FLV tag", "reserved bits are set"));
        }
        let total = 4 + TAG_HEADER_LEN + size;
        if self.buf.len() < total {
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(4 + TAG_HEADER_LEN);
        let data = self.buf.split_to(size).freeze();
        self.expect = Expect::Tag {
            previous_size: (TAG_HEADER_LEN + size) as u32,
        };
        Ok(Some(FlvTag {
            tag_type: flags & 0x1F,
            filter: flags & 0x20 != 0,
            timestamp: high << 24 | low,
            stream_id,
            data,
        }))
    }

    /// Whether the input ends cleanly after the last tag (its PreviousTagSize included).
    pub fn is_at_end(&self) -> bool {
        match self.expect {
            Expect::Header => self.buf.is_empty(),
            Expect::Tag { previous_size } => {
                self.buf.len() == 4 && self.buf.get(..4) == Some(&previous_size.to_be_bytes()[..])
            }
        }
    }

    fn read_header(&mut self) -> Result<bool, Error> {
        let Some(bytes) = self.buf.get(..HEADER_LEN) else {
            return Ok(false);
        };
        let bytes = Bytes::copy_from_slice(bytes);
        let mut reader = Reader::new(&bytes, "FLV header");
        if reader.take(3)?.as_ref() != b"FLV" {
            return Err(invalid("FLV header", "signature is not FLV"));
        }
        let version = reader.u8()?;
        let flags = reader.u8()?;
        let data_offset = reader.u32()? as usize;
        if !(HEADER_LEN..=MAX_HEADER_LEN).contains(&data_offset) {
            return Err(invalid("FLV header", "data offset is outside 9..=65536"));
        }
        // Skip any header extension the offset announces.
        if self.buf.len() < data_offset {
            return Ok(false);
        }
        self.buf.advance(data_offset);
        self.header = Some(FlvHeader {
            version,
            has_audio: flags & 0x04 != 0,
            has_video: flags & 0x01 != 0,
        });
        self.expect = Expect::Tag { previous_size: 0 };
        Ok(true)
    }
}
