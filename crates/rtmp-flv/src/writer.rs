//! Writing an FLV file: the header, then each tag with its back-pointer.

use std::io::Write;

use bytes::BytesMut;

use crate::file::{FlvHeader, FlvTag};

/// Writes an FLV file to any [`Write`]: the header and PreviousTagSize0 at once, then one tag
/// (with the PreviousTagSize after it) per [`write_tag`](Self::write_tag). Tags are encoded
/// into a buffer that is reused, and each is written with one `write_all`.
///
/// For async I/O, encode with [`FlvHeader::encode`] and [`FlvTag::encode`] and write the bytes
/// yourself, or run this writer over a `Vec<u8>` and hand its contents on.
///
/// ```
/// use rtmp_flv::{FlvHeader, FlvReader, FlvTag, FlvWriter};
///
/// let mut writer = FlvWriter::new(Vec::new(), FlvHeader::new(true, true)).unwrap();
/// writer.write_tag(&FlvTag::new(9, 0, vec![0x17, 0, 0, 0, 0].into())).unwrap();
/// writer.write_tag(&FlvTag::new(8, 23, vec![0xAF, 1, 7].into())).unwrap();
/// assert_eq!(writer.bytes_written(), 13 + (11 + 5 + 4) + (11 + 3 + 4));
///
/// let file = writer.into_inner();
/// let mut reader = FlvReader::new();
/// reader.push(&file);
/// assert_eq!(reader.next_tag().unwrap().unwrap().tag_type, 9);
/// assert_eq!(reader.next_tag().unwrap().unwrap().timestamp, 23);
/// ```
#[derive(Debug)]
pub struct FlvWriter<W> {
    inner: W,
    buf: BytesMut,
    written: u64,
}

impl<W: Write> FlvWriter<W> {
    /// Writes `header` (and PreviousTagSize0) to `inner`.
    pub fn new(mut inner: W, header: FlvHeader) -> std::io::Result<Self> {
        let mut buf = BytesMut::with_capacity(64);
        header.encode(&mut buf);
        inner.write_all(&buf)?;
        let written = buf.len() as u64;
        buf.clear();
        Ok(Self {
            inner,
            buf,
            written,
        })
    }

    /// Writes `tag` and its PreviousTagSize. A tag whose data is over the format's 16 MiB - 1
    /// is refused with [`std::io::ErrorKind::InvalidInput`] and nothing is written.
    pub fn write_tag(&mut self, tag: &FlvTag) -> std::io::Result<()> {
        self.buf.clear();
        tag.encode(&mut self.buf)
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
        self.inner.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        Ok(())
    }

    /// Bytes written so far, header included.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Flushes the inner writer.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }

    /// The inner writer (not flushed).
    pub fn into_inner(self) -> W {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_oversized_tag_is_refused_and_nothing_is_written() {
        let mut writer = FlvWriter::new(Vec::new(), FlvHeader::new(false, true)).unwrap();
        let huge = FlvTag::new(9, 0, vec![0; 1 << 24].into());
        let error = writer.write_tag(&huge).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(writer.bytes_written(), 13);
        assert_eq!(writer.into_inner().len(), 13);
    }
}
