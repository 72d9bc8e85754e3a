//! One recording's files, and what it does when the disk fails it.
//!
//! Tags are written whole: a segment's file always ends at a tag's end, and what it says of its
//! length (`duration`, `filesize`) is of what is in it. When a write fails (a full disk, a
//! quota, a directory gone), the segment is cut back to its last whole tag and finished, or
//! removed if it holds no media yet, and the recording pauses: it goes on following the stream
//! and tries a new segment at a keyframe after a backoff (1 s, doubling to 30 s), so that it
//! resumes once there is room again.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use rtmp_amf0::{Object, Value};
use rtmp_chunk::RawMessage;
use rtmp_flv::{FlvHeader, FlvTag, VideoKind, configured_tracks};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::RecordConfig;
use rtmp_flv::TrackConfigs;
use rtmp_router::{Media, MediaKind};

/// Sequence starts and multichannel configurations, each with the tracks it configures.
type Headers = TrackConfigs<Media>;

/// Tag bytes gathered before they are written.
const WRITE_BYTES: usize = 64 << 10;

/// The first wait before a paused recording tries again.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// The longest wait between two tries of a paused recording.
const LAST_RETRY: Duration = Duration::from_secs(30);

/// Told of each file finished.
pub(super) type Told = Box<dyn Fn(&Path) + Send + Sync>;

/// One recording's files: the one being written and what the next one starts with.
pub(super) struct Segments {
    told: Option<Told>,
    dir: PathBuf,
    name: String,
    max_duration: Option<u32>,
    max_bytes: Option<u64>,
    file: Option<Segment>,
    metadata: Option<Media>,
    headers: Headers,
    has_video: bool,
    paused: Option<Paused>,
}

/// A recording the disk failed: since when, and when it tries again.
struct Paused {
    since: Instant,
    retry_at: Instant,
    backoff: Duration,
}

struct Segment {
    file: tokio::fs::File,
    path: PathBuf,
    /// The publisher's timestamp at the segment's time zero.
    start: u32,
    /// Tags encoded and not yet written.
    pending: BytesMut,
    /// Bytes in the file: always at a tag's end.
    written: u64,
    /// The latest timestamp written (from the segment's time zero), and with what is pending.
    last_written: u32,
    last: u32,
    /// Bytes of the header, metadata and sequence headers: a file no longer holds no media.
    media_at: u64,
    /// Where in the file the onMetaData's `duration` number is (`filesize`'s follows).
    totals_at: Option<u64>,
}

impl Segment {
    /// The segment's bytes, written and pending.
    fn bytes(&self) -> u64 {
        self.written + self.pending.len() as u64
    }

    /// Writes the pending tags. On an error the file is cut back to its last whole tag.
    async fn write_pending(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        // tokio's file writes on a blocking thread and tells of an error at the next call:
        // the flush waits for this write, so that an error is this write's.
        let wrote = async {
            self.file.write_all(&self.pending).await?;
            self.file.flush().await
        };
        if let Err(error) = wrote.await {
            let _ = self.file.set_len(self.written).await;
            let _ = self.file.seek(SeekFrom::Start(self.written)).await;
            self.pending.clear();
            self.last = self.last_written;
            return Err(error);
        }
        self.written += self.pending.len() as u64;
        self.last_written = self.last;
        self.pending.clear();
        Ok(())
    }

    /// Fills in the metadata's totals and syncs the file.
    async fn finish(&mut self) -> std::io::Result<()> {
        if let Some(at) = self.totals_at {
            let duration = f64::from(self.last_written) / 1000.0;
            self.file.seek(SeekFrom::Start(at)).await?;
            self.file.write_all(&duration.to_be_bytes()).await?;
            self.file
                .seek(SeekFrom::Start(at + FILESIZE_AFTER_DURATION))
                .await?;
            self.file
                .write_all(&(self.written as f64).to_be_bytes())
                .await?;
        }
        self.file.sync_data().await
    }
}

impl Segments {
    pub(super) fn new(
        config: &RecordConfig,
        dir: PathBuf,
        name: String,
        told: Option<Told>,
    ) -> Self {
        Self {
            told,
            dir,
            name,
            max_duration: config
                .segment_duration
                .map(|duration| u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)),
            max_bytes: config.segment_bytes,
            file: None,
            metadata: None,
            headers: Headers::default(),
            has_video: false,
            paused: None,
        }
    }

    /// Records `media`. A failed write pauses the recording rather than ending it.
    pub(super) async fn write(&mut self, media: &Media) {
        if let Err(error) = self.record(media).await {
            self.fail(error).await;
        }
    }

    async fn record(&mut self, media: &Media) -> std::io::Result<()> {
        let message = media.message();
        let keys = configured_tracks(message.type_id, &message.payload);
        let (is_header, is_metadata) = (
            !keys.is_empty(),
            media.kind() == MediaKind::Data
                && rtmp_message::data_name_is(&message.payload, rtmp_message::ON_METADATA),
        );
        if is_header {
            self.headers.set(keys, media.clone());
        }
        if is_metadata {
            self.metadata = Some(media.clone());
        }
        let video_kind = match media.kind() {
            MediaKind::Video { kind, .. } => {
                self.has_video = true;
                Some(kind)
            }
            _ => None,
        };
        // A segment starts where a player could: at a keyframe, or any audio if no video.
        let cut_here = match video_kind {
            Some(kind) => kind == VideoKind::Keyframe,
            None => {
                !self.has_video && matches!(media.kind(), MediaKind::Audio { .. }) && !is_header
            }
        };
        if cut_here && self.segment_full(message.timestamp) {
            self.close().await?;
        }
        if self.file.is_none() {
            let waiting = self
                .paused
                .as_ref()
                .is_some_and(|paused| Instant::now() < paused.retry_at);
            if !cut_here || waiting {
                // Headers and metadata are kept for the segment's start; other media waits
                // for a place to start.
                return Ok(());
            }
            self.open(message.timestamp).await?;
            if let Some(paused) = self.paused.take() {
                tracing::info!(
                    path = %self.file.as_ref().map(|file| file.path.display().to_string()).unwrap_or_default(),
                    paused_for = ?paused.since.elapsed(),
                    "recording resumed"
                );
            }
        }
        self.append(&message).await
    }

    fn segment_full(&self, timestamp: u32) -> bool {
        let Some(file) = &self.file else {
            return false;
        };
        self.max_duration
            .is_some_and(|most| timestamp.wrapping_sub(file.start) >= most)
            || self.max_bytes.is_some_and(|most| file.bytes() >= most)
    }

    /// Starts a file at `start`, with the metadata and headers first.
    async fn open(&mut self, start: u32) -> std::io::Result<()> {
        tokio::fs::create_dir_all(&self.dir).await?;
        let millis = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let path = unique(&self.dir, &self.name, millis).await;
        let file = tokio::fs::File::create(&path).await?;
        tracing::debug!(path = %path.display(), "recording");
        let mut pending = BytesMut::with_capacity(WRITE_BYTES);
        FlvHeader::new(true, true).encode(&mut pending);
        self.file = Some(Segment {
            file,
            path,
            start,
            pending,
            written: 0,
            last_written: 0,
            last: 0,
            media_at: 0,
            totals_at: None,
        });
        let published = self.metadata.as_ref().map(|media| media.message());
        let (payload, totals_at) = match segment_metadata(published.as_ref()) {
            Some((payload, at)) => (payload, Some(at)),
            // Metadata this recorder cannot read goes in as it came, without totals.
            None => match published {
                Some(message) => (message.payload, None),
                None => (Bytes::new(), None),
            },
        };
        if !payload.is_empty() {
            if let Some(file) = &mut self.file {
                // Past the tag's header.
                file.totals_at = totals_at.map(|at| file.bytes() + TAG_HEADER + at as u64);
            }
            let message = RawMessage::new(4, start, rtmp_chunk::type_id::DATA_AMF0, 1, payload);
            self.append(&message).await?;
        }
        let headers: Vec<Media> = self.headers.iter().cloned().collect();
        for media in headers {
            let mut message = media.message();
            message.timestamp = start;
            self.append(&message).await?;
        }
        if let Some(file) = &mut self.file {
            file.media_at = file.bytes();
        }
        Ok(())
    }

    /// Adds `message` to the open file, its time counted from the segment's start.
    async fn append(&mut self, message: &RawMessage) -> std::io::Result<()> {
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        let timestamp = message.timestamp.wrapping_sub(file.start);
        // Messages a little before the cut (audio interleaved with the keyframe) start at 0.
        let timestamp = if timestamp > u32::MAX / 2 {
            0
        } else {
            timestamp
        };
        let tag = FlvTag::new(message.type_id, timestamp, message.payload.clone());
        tag.encode(&mut file.pending)
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
        file.last = file.last.max(timestamp);
        if file.pending.len() >= WRITE_BYTES {
            file.write_pending().await?;
        }
        Ok(())
    }

    /// Finishes the open file, if any.
    pub(super) async fn close(&mut self) -> std::io::Result<()> {
        match self.file.take() {
            Some(file) => self.end(file).await,
            None => Ok(()),
        }
    }

    /// Ends `file`: what is pending written and its totals filled in, or the file removed if
    /// it holds no media. A write that fails cuts the file back to its last whole tag, which
    /// is then finished as far as it can be.
    async fn end(&self, mut file: Segment) -> std::io::Result<()> {
        let wrote = file.write_pending().await;
        if file.written <= file.media_at {
            // Nothing but headers: not worth a file.
            let removed = tokio::fs::remove_file(&file.path).await;
            return wrote.and(removed);
        }
        // Finishing needs no more room than the file has.
        let finished = file.finish().await;
        if finished.is_ok() {
            tracing::debug!(path = %file.path.display(), bytes = file.written, "recorded");
            if let Some(told) = &self.told {
                told(&file.path);
            }
        }
        wrote.and(finished)
    }

    /// After a failed write: the open file ends at its last whole tag (or goes if it holds no
    /// media), and the recording pauses until a keyframe after its backoff.
    async fn fail(&mut self, error: std::io::Error) {
        if let Some(file) = self.file.take() {
            // What failed is logged below.
            let _ = self.end(file).await;
        }
        let now = Instant::now();
        match &mut self.paused {
            Some(paused) => {
                paused.backoff = (paused.backoff * 2).min(LAST_RETRY);
                paused.retry_at = now + paused.backoff;
                tracing::debug!(%error, retry_in = ?paused.backoff, "recording still paused");
            }
            None => {
                tracing::warn!(dir = %self.dir.display(), %error, "recording paused; it resumes at a keyframe once it can write");
                self.paused = Some(Paused {
                    since: now,
                    retry_at: now + FIRST_RETRY,
                    backoff: FIRST_RETRY,
                });
            }
        }
    }
}

/// An FLV tag's header: type, size, timestamp and stream id.
const TAG_HEADER: u64 = 11;

/// From the start of the `duration` number to that of `filesize`'s: the number, then the
/// name `filesize` (length and bytes) and its type marker.
const FILESIZE_AFTER_DURATION: u64 = 8 + 2 + 8 + 1;

/// The onMetaData a segment starts with: the publisher's properties (if any) after
/// `duration` and `filesize`, both zero until the segment is finished; and where in the
/// payload the `duration` number is. `None` when the publisher's metadata is not an
/// onMetaData with one object or associative array.
fn segment_metadata(published: Option<&RawMessage>) -> Option<(Bytes, usize)> {
    let name = Value::from(rtmp_message::ON_METADATA);
    let mut properties = Object::new();
    properties.push("duration", 0.0);
    properties.push("filesize", 0.0);
    if let Some(message) = published {
        let values = rtmp_amf0::decode_all(&message.payload).ok()?;
        let [first, Value::EcmaArray(theirs) | Value::Object(theirs)] = values.as_slice() else {
            return None;
        };
        if first != &name {
            return None;
        }
        for (key, value) in theirs.iter() {
            if key != "duration" && key != "filesize" {
                properties.push(key, value.clone());
            }
        }
    }
    let mut payload = BytesMut::new();
    rtmp_amf0::encode_all([&name, &Value::EcmaArray(properties)], &mut payload).ok()?;
    // The name, the array's marker and count, then `duration`'s name and type marker.
    let at = name.encoded_len() + 1 + 4 + 2 + "duration".len() + 1;
    Some((payload.freeze(), at))
}

/// `DIR/NAME-MILLIS.flv`, or with a counter if that exists already.
async fn unique(dir: &Path, name: &str, millis: u128) -> PathBuf {
    let mut path = dir.join(format!("{name}-{millis}.flv"));
    let mut counter = 1;
    while tokio::fs::try_exists(&path).await.unwrap_or(false) {
        path = dir.join(format!("{name}-{millis}-{counter}.flv"));
        counter += 1;
    }
    path
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code

    use rtmp_amf0::{Object, Value};
    use rtmp_chunk::RawMessage;

    use super::{FILESIZE_AFTER_DURATION, segment_metadata};

    #[test]
    fn a_segments_metadata_has_totals_in_place_and_keeps_the_publishers_properties() {
        let mut theirs = Object::new();
        theirs.push("duration", 0.0);
        theirs.push("width", 1280.0);
        let mut payload = bytes::BytesMut::new();
        let values = [Value::from("onMetaData"), Value::EcmaArray(theirs)];
        rtmp_amf0::encode_all(&values, &mut payload).unwrap();
        let published = RawMessage::new(4, 0, 18, 1, payload.freeze());
        let (payload, at) = segment_metadata(Some(&published)).unwrap();
        // Filled in as the recorder does once the segment is finished.
        let mut patched = payload.to_vec();
        patched[at..at + 8].copy_from_slice(&12.5f64.to_be_bytes());
        let filesize = at + FILESIZE_AFTER_DURATION as usize;
        patched[filesize..filesize + 8].copy_from_slice(&4096.0f64.to_be_bytes());
        let values = rtmp_amf0::decode_all(&patched).unwrap();
        let Value::EcmaArray(properties) = &values[1] else {
            panic!("{values:?}");
        };
        let found: Vec<(&str, &Value)> = properties.iter().collect();
        assert_eq!(
            found,
            [
                ("duration", &Value::Number(12.5)),
                ("filesize", &Value::Number(4096.0)),
                ("width", &Value::Number(1280.0)),
            ]
        );
        // Without the publisher's metadata, the totals alone; metadata it cannot read, none.
        assert!(segment_metadata(None).is_some());
        let odd = RawMessage::new(4, 0, 18, 1, vec![0x02, 0, 1, b'x']);
        assert!(segment_metadata(Some(&odd)).is_none());
    }
}
