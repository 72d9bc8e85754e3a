//! Recording streams to FLV files, as a player of the router: a recorder never runs on the
//! publisher's reader, so a slow disk costs the recording (the router's slow-player policy
//! drops what its queue cannot hold) and never the publisher or other players.
//!
//! Each recording writes `DIR/APP/NAME-UNIXMILLIS.flv`, starting a new file (a segment) at the
//! first keyframe past the configured duration or size. Every segment starts with the
//! stream's metadata and every track's sequence header, and its timestamps start at zero, so
//! each file plays on its own. A segment's onMetaData starts with `duration` (seconds) and
//! `filesize` (bytes), filled in when the segment is finished, so that players show its
//! length and can seek in it.

use std::collections::HashMap;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use rtmp_amf0::{Object, Value};
use rtmp_chunk::{MemoryBudget, RawMessage};
use rtmp_flv::{FlvHeader, FlvTag, VideoKind, configured_tracks};
use rtmp_session::StreamKey;
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};
use tokio::sync::Notify;

use crate::hub::{Headers, Media, MediaKind};
use crate::router::{Feed, Notice, PlayError, PlayerHandle, Router};

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where and how streams are recorded.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordConfig {
    /// The directory the files go in (a directory per application beneath it).
    pub dir: PathBuf,
    /// Start a new file at the first keyframe after this much media time (none: one file
    /// per publish).
    pub segment_duration: Option<Duration>,
    /// Start a new file at the first keyframe after this many bytes (none: no size limit).
    pub segment_bytes: Option<u64>,
    /// Bytes the recording's queue holds (default 16 MiB); past it, media is dropped as for
    /// a slow player.
    pub queue_bytes: usize,
}

impl RecordConfig {
    /// One file per publish in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            segment_duration: None,
            segment_bytes: None,
            queue_bytes: 16 << 20,
        }
    }
}

/// Why a recording did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The stream is being recorded already.
    #[error("{0} is already being recorded")]
    AlreadyRecording(StreamKey),
    /// The router refused the recorder as a player.
    #[error("the router refused the recorder: {0}")]
    Refused(#[from] PlayError),
}

/// Records streams on request: [`start`](Self::start) when a publish starts (from
/// [`Hooks::on_publish_started`](crate::Hooks::on_publish_started), or an operator's call),
/// [`stop`](Self::stop) at any time; a recording also ends when its publisher stops.
///
/// ```no_run
/// use std::sync::Arc;
/// use rtmp_server::{RecordConfig, Recorder, Server, StreamKey};
///
/// # async fn run() {
/// let server = Server::builder().build();
/// let recorder = Recorder::new(server.router().clone(), server.queue_budget(), RecordConfig::new("recordings"));
/// let key = StreamKey { app: "live".into(), name: "show".into() };
/// recorder.start(&key).expect("the hub takes every player");
/// # }
/// ```
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    router: Arc<dyn Router>,
    budget: MemoryBudget,
    config: RecordConfig,
    /// The recordings running, with what stops each.
    active: Mutex<HashMap<StreamKey, Arc<Notify>>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("config", &self.inner.config)
            .field("recording", &self.recording())
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder of `router`'s streams (a server's [`Server::router`](crate::Server::router)),
    /// whose queues count in `budget` ([`Server::queue_budget`](crate::Server::queue_budget)).
    pub fn new(router: Arc<dyn Router>, budget: MemoryBudget, config: RecordConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                router,
                budget,
                config,
                active: Mutex::default(),
            }),
        }
    }

    /// Starts recording `key` (on the current tokio runtime): from the router's catch-up (the
    /// current GOP) if it is published now, or from when it is. I/O errors end the recording
    /// and are logged.
    pub fn start(&self, key: &StreamKey) -> Result<(), RecordError> {
        let inner = &self.inner;
        let stop = Arc::new(Notify::new());
        {
            let mut active = lock(&inner.active);
            if active.contains_key(key) {
                return Err(RecordError::AlreadyRecording(key.clone()));
            }
            active.insert(key.clone(), stop.clone());
        }
        let (handle, mut feed) =
            PlayerHandle::pair(inner.config.queue_bytes, inner.budget.clone(), true);
        let playing = match inner.router.play(key, handle) {
            Ok(playing) => playing,
            Err(error) => {
                lock(&inner.active).remove(key);
                return Err(error.into());
            }
        };
        let inner = inner.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let mut file = Segments::new(&inner.config, &key);
            let result = async {
                loop {
                    let item = tokio::select! {
                        item = feed.recv() => item,
                        () = stop.notified() => break,
                    };
                    match item {
                        Some(Feed::Media(media)) => file.write(&media).await?,
                        Some(Feed::Notice(Notice::Unpublished(_) | Notice::Failed(..))) | None => {
                            break;
                        }
                        Some(_) => {}
                    }
                }
                file.close().await
            }
            .await;
            drop(playing);
            if let Err(error) = result {
                tracing::warn!(%key, %error, "recording failed");
            }
            let mut active = lock(&inner.active);
            if active
                .get(&key)
                .is_some_and(|running| Arc::ptr_eq(running, &stop))
            {
                active.remove(&key);
            }
        });
        Ok(())
    }

    /// Stops recording `key` (the file is finished); false if it was not being recorded.
    pub fn stop(&self, key: &StreamKey) -> bool {
        match lock(&self.inner.active).remove(key) {
            Some(stop) => {
                stop.notify_one();
                true
            }
            None => false,
        }
    }

    /// The streams being recorded now.
    pub fn recording(&self) -> Vec<StreamKey> {
        lock(&self.inner.active).keys().cloned().collect()
    }
}

/// A path component from a name a client chose: no separators, no `..`, nothing hidden.
fn file_name(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect();
    if name.is_empty() { "_".into() } else { name }
}

/// One recording's files: the one being written and what the next one starts with.
struct Segments {
    dir: PathBuf,
    name: String,
    max_duration: Option<u32>,
    max_bytes: Option<u64>,
    file: Option<Segment>,
    metadata: Option<Media>,
    headers: Headers,
    has_video: bool,
    buf: BytesMut,
}

struct Segment {
    out: BufWriter<tokio::fs::File>,
    path: PathBuf,
    /// The publisher's timestamp at the segment's time zero.
    start: u32,
    bytes: u64,
    /// The latest timestamp written, from the segment's time zero.
    last: u32,
    /// Where in the file the onMetaData's `duration` number is (`filesize`'s follows).
    totals_at: Option<u64>,
}

impl Segments {
    fn new(config: &RecordConfig, key: &StreamKey) -> Self {
        Self {
            dir: config.dir.join(file_name(&key.app)),
            name: file_name(&key.name),
            max_duration: config
                .segment_duration
                .map(|duration| u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)),
            max_bytes: config.segment_bytes,
            file: None,
            metadata: None,
            headers: Headers::default(),
            has_video: false,
            buf: BytesMut::new(),
        }
    }

    async fn write(&mut self, media: &Media) -> std::io::Result<()> {
        let message = media.message();
        let keys = configured_tracks(message.type_id, &message.payload);
        let (is_header, is_metadata) = (
            !keys.is_empty(),
            media.kind == MediaKind::Data
                && rtmp_message::data_name_is(&message.payload, rtmp_message::ON_METADATA),
        );
        if is_header {
            self.headers.set(keys, media.clone());
        }
        if is_metadata {
            self.metadata = Some(media.clone());
        }
        let video_kind = match media.kind {
            MediaKind::Video { kind, .. } => {
                self.has_video = true;
                Some(kind)
            }
            _ => None,
        };
        // A segment starts where a player could: at a keyframe, or any audio if no video.
        let cut_here = match video_kind {
            Some(kind) => kind == VideoKind::Keyframe,
            None => !self.has_video && matches!(media.kind, MediaKind::Audio { .. }) && !is_header,
        };
        if cut_here && self.segment_full(message.timestamp) {
            self.close().await?;
        }
        if self.file.is_none() {
            if !cut_here {
                // Headers and metadata are kept for the segment's start; other media waits
                // for a place to start.
                return Ok(());
            }
            self.open(message.timestamp).await?;
        }
        self.append(&message).await
    }

    fn segment_full(&self, timestamp: u32) -> bool {
        let Some(file) = &self.file else {
            return false;
        };
        self.max_duration
            .is_some_and(|most| timestamp.wrapping_sub(file.start) >= most)
            || self.max_bytes.is_some_and(|most| file.bytes >= most)
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
        self.buf.clear();
        FlvHeader::new(true, true).encode(&mut self.buf);
        let mut out = BufWriter::with_capacity(64 << 10, file);
        out.write_all(&self.buf).await?;
        self.file = Some(Segment {
            out,
            path,
            start,
            bytes: self.buf.len() as u64,
            last: 0,
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
                file.totals_at = totals_at.map(|at| file.bytes + TAG_HEADER + at as u64);
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
        Ok(())
    }

    /// Writes `message` to the open file, its time counted from the segment's start.
    async fn append(&mut self, message: &RawMessage) -> std::io::Result<()> {
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        self.buf.clear();
        let timestamp = message.timestamp.wrapping_sub(file.start);
        // Messages a little before the cut (audio interleaved with the keyframe) start at 0.
        let timestamp = if timestamp > u32::MAX / 2 {
            0
        } else {
            timestamp
        };
        let tag = FlvTag::new(message.type_id, timestamp, message.payload.clone());
        tag.encode(&mut self.buf)
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
        file.out.write_all(&self.buf).await?;
        file.bytes += self.buf.len() as u64;
        file.last = file.last.max(timestamp);
        Ok(())
    }

    /// Finishes the open file, if any.
    async fn close(&mut self) -> std::io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.out.flush().await?;
            let mut out = file.out.into_inner();
            if let Some(at) = file.totals_at {
                let duration = f64::from(file.last) / 1000.0;
                out.seek(SeekFrom::Start(at)).await?;
                out.write_all(&duration.to_be_bytes()).await?;
                out.seek(SeekFrom::Start(at + FILESIZE_AFTER_DURATION))
                    .await?;
                out.write_all(&(file.bytes as f64).to_be_bytes()).await?;
            }
            out.sync_data().await?;
            tracing::debug!(path = %file.path.display(), bytes = file.bytes, "recorded");
        }
        Ok(())
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

    use super::{FILESIZE_AFTER_DURATION, file_name, segment_metadata};

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

    #[test]
    fn names_from_clients_cannot_leave_the_directory() {
        assert_eq!(file_name("../../etc/passwd"), "______etc_passwd");
        assert_eq!(file_name(""), "_");
        assert_eq!(file_name("show-1_a"), "show-1_a");
        assert_eq!(file_name(&"x".repeat(500)).len(), 128);
    }
}
