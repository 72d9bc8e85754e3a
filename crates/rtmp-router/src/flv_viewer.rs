//! [`FlvViewer`]: a player of a router that yields the stream as FLV bytes, for HTTP-FLV and
//! WebSocket-FLV viewers behind any HTTP stack.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtmp_chunk::MemoryBudget;
use rtmp_flv::{FlvHeader, VideoKind};
use rtmp_session::StreamKey;

use crate::codecs::CodecPolicy;
use crate::gate::KeyframeGate;
use crate::media::{Media, MediaKind};
use crate::player::{Feed, Notice, PlayerFeed, PlayerHandle};
use crate::rendition::Rendition;
use crate::router::{PlayError, Playing, Router};

/// How an [`FlvViewer`] plays.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FlvViewerConfig {
    /// Bytes the viewer's own queue holds (default 16 MiB, as an RTMP player's, the largest
    /// GOP the hub keeps): the catch-up, and everything when the viewer converts codecs.
    /// Otherwise the viewer reads its stream's ring, shared with every player of the stream,
    /// after the catch-up. Past either, the router's slow-player policy applies.
    pub queue_bytes: usize,
    /// Start with the router's catch-up GOP, from its last keyframe (default on); off, the
    /// viewer starts at the next keyframe published.
    pub gop: bool,
    /// The live edge: a viewer whose next message was received longer ago than this skips to
    /// the next keyframe rather than drifting behind (default 2 s; `None`: never skips).
    pub max_delay: Option<Duration>,
    /// Which codecs the viewer gets, and in what form (default: as published).
    pub codecs: CodecPolicy,
    /// Which tracks of a multitrack stream the viewer gets (default: video track 0 and audio
    /// track 0, as a single-track stream: browsers' FLV players know nothing of multitrack).
    pub rendition: Rendition,
}

impl Default for FlvViewerConfig {
    fn default() -> Self {
        Self {
            queue_bytes: 16 << 20,
            gop: true,
            max_delay: Some(Duration::from_secs(2)),
            codecs: CodecPolicy::AsPublished,
            rendition: Rendition::first(),
        }
    }
}

/// A viewer of a live stream as FLV: the FLV header, then each message of the stream as an
/// FLV tag (metadata, every track's configuration and the GOP first), shared with every other
/// viewer of the message ([`SharedMedia::flv_tag`](crate::SharedMedia::flv_tag)). It is a
/// player of the router like any other, with a queue bounded in bytes: a viewer that reads
/// too slowly loses video until a keyframe, by the router's slow-player policy, and one that
/// falls behind the live edge skips ahead ([`FlvViewerConfig::max_delay`]). Dropping it
/// leaves the stream.
///
/// ```
/// use rtmp_chunk::{MemoryBudget, RawMessage};
/// use rtmp_router::{FlvViewer, FlvViewerConfig, Hub, HubConfig, Router};
/// use rtmp_session::StreamKey;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let hub = Hub::new(HubConfig::default());
/// let key = StreamKey { app: "live".into(), name: "cam".into() };
/// let mut publisher = hub.publish(&key)?;
/// publisher.send(&RawMessage::new(7, 0, 9, 1, vec![0x17, 1, 0, 0, 0, 0xAA]))?;
///
/// let budget = MemoryBudget::new(64 << 20);
/// let mut viewer = FlvViewer::play(&hub, &key, FlvViewerConfig::default(), budget)?;
/// assert_eq!(&viewer.next().await.expect("the header")[..3], b"FLV");
/// let tag = viewer.next().await.expect("the keyframe");
/// assert_eq!(tag[0], 9); // a video tag
/// # Ok(())
/// # }
/// ```
pub struct FlvViewer {
    key: StreamKey,
    feed: PlayerFeed,
    playing: Option<Box<dyn Playing>>,
    header_sent: bool,
    config: FlvViewerConfig,
    joined: Instant,
    /// Audio and video are dropped until a keyframe (a viewer behind the live edge, or one
    /// that started without the GOP).
    gate: KeyframeGate,
    /// Whether the stream has video (else audio goes on while skipping).
    has_video: bool,
}

impl std::fmt::Debug for FlvViewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlvViewer")
            .field("key", &self.key)
            .field("waiting_for_keyframe", &self.gate.is_closed())
            .finish_non_exhaustive()
    }
}

impl FlvViewer {
    /// Joins `key` on `router` as a player whose queue counts in `budget` (a server's queue
    /// budget). Refused as an RTMP player would be.
    pub fn play<R: Router + ?Sized>(
        router: &R,
        key: &StreamKey,
        config: FlvViewerConfig,
        budget: MemoryBudget,
    ) -> Result<Self, PlayError> {
        router.check_play(key, true)?;
        let (handle, feed) = PlayerHandle::pair(config.queue_bytes, budget, true);
        // The viewer reads its stream's ring, as a server's connections do: its media is
        // held once for every player of the stream, and its own queue holds the catch-up.
        let handle = handle
            .with_codecs(config.codecs.clone())
            .with_rendition(config.rendition)
            .reading_rings();
        let playing = router.play(key, handle)?;
        Ok(Self {
            key: key.clone(),
            feed,
            playing: Some(playing),
            header_sent: false,
            gate: KeyframeGate::new(!config.gop),
            config,
            joined: Instant::now(),
            has_video: false,
        })
    }

    /// The key played.
    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    /// The next bytes to send: the FLV header first, then a tag at a time. `None` once the
    /// stream ended (its publisher left and did not come back within the router's grace, or
    /// the router let the viewer go): the response ends, and the viewer may come back.
    pub async fn next(&mut self) -> Option<Bytes> {
        if !self.header_sent {
            self.header_sent = true;
            let mut header = BytesMut::new();
            FlvHeader::new(true, true).encode(&mut header);
            return Some(header.freeze());
        }
        loop {
            match self.feed.recv().await? {
                Feed::Media(media) => {
                    if self.passes(&media) {
                        return Some(media.flv_tag());
                    }
                }
                Feed::Notice(Notice::Unpublished(_) | Notice::Failed(..)) => {
                    self.playing = None;
                    return None;
                }
                Feed::Notice(_) => {}
            }
        }
    }

    /// What [`next`](Self::next) would give at once, without waiting: `None` when nothing
    /// is ready now (or the stream ended, which `next` then tells). A writer that sends what
    /// is ready together (one vectored write of the shared tags, rather than one write per
    /// message) takes it with this until `None`.
    pub fn ready(&mut self) -> Option<Bytes> {
        let mut context = Context::from_waker(Waker::noop());
        // The feed keeps whatever a poll took, so a poll that finds nothing loses nothing.
        match pin!(self.next()).as_mut().poll(&mut context) {
            Poll::Ready(bytes) => bytes,
            Poll::Pending => None,
        }
    }

    /// Whether `media` goes to the viewer: configuration and metadata always do. A viewer
    /// whose next frame was received longer ago than the live edge allows goes on from the
    /// next keyframe by the [`KeyframeGate`], as every reader does, and while it waits its
    /// audio waits too (it is as far behind).
    fn passes(&mut self, media: &Media) -> bool {
        let kind = media.kind();
        // A stream with a video configuration has video to wait for.
        self.has_video |= matches!(kind, MediaKind::Video { .. });
        let video = match kind {
            MediaKind::Data
            | MediaKind::Audio {
                sequence_start: true,
            }
            | MediaKind::Video {
                kind: VideoKind::SequenceStart,
                ..
            } => return true,
            MediaKind::Video { .. } => true,
            MediaKind::Audio { .. } => false,
        };
        let made = media.made();
        // The catch-up GOP is behind by design: the edge applies from the viewer's join on.
        if let Some(max_delay) = self.config.max_delay
            && made > self.joined
            && made.elapsed() > max_delay
        {
            self.gate.close();
        }
        if !self.gate.is_closed() {
            return true;
        }
        // A viewer that asked for no catch-up goes on from a keyframe published after it
        // joined.
        let live = made >= self.joined || self.config.gop;
        if !video {
            // An audio-only stream has no keyframe to wait for.
            if !self.has_video {
                self.gate.open();
            }
            return !self.has_video;
        }
        let admitted = live && self.gate.admits(kind);
        if admitted {
            self.gate.passed(kind);
        }
        admitted
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code

    use std::time::Duration;

    use rtmp_chunk::{MemoryBudget, RawMessage};
    use rtmp_flv::FlvReader;
    use rtmp_session::StreamKey;

    use super::{FlvViewer, FlvViewerConfig};
    use crate::{Hub, HubConfig, Router};

    fn key() -> StreamKey {
        StreamKey {
            app: "live".into(),
            name: "cam".into(),
        }
    }

    fn video(publisher: &mut Box<dyn crate::Publishing>, timestamp: u32, keyframe: bool) {
        let first = if keyframe { 0x17 } else { 0x27 };
        let message = RawMessage::new(7, timestamp, 9, 1, vec![first, 1, 0, 0, 0, 0xAA]);
        publisher.send(&message).unwrap();
    }

    fn audio(publisher: &mut Box<dyn crate::Publishing>, timestamp: u32) {
        let message = RawMessage::new(6, timestamp, 8, 1, vec![0xAF, 1, 0x21]);
        publisher.send(&message).unwrap();
    }

    /// The timestamps of the tags the viewer has ready now, read back with an FLV reader.
    async fn tags(viewer: &mut FlvViewer, reader: &mut FlvReader) -> Vec<(u8, u32)> {
        let mut tags = Vec::new();
        while let Ok(Some(bytes)) =
            tokio::time::timeout(Duration::from_millis(20), viewer.next()).await
        {
            reader.push(&bytes);
            while let Some(tag) = reader.next_tag().unwrap() {
                tags.push((tag.tag_type, tag.timestamp));
            }
        }
        tags
    }

    fn viewer(hub: &Hub, config: FlvViewerConfig) -> FlvViewer {
        FlvViewer::play(hub, &key(), config, MemoryBudget::new(1 << 30)).unwrap()
    }

    #[tokio::test]
    async fn a_viewer_gets_a_file_that_starts_at_the_gop_and_goes_on_live() {
        let hub = Hub::new(HubConfig::default());
        let mut publisher = hub.publish(&key()).unwrap();
        video(&mut publisher, 0, true);
        video(&mut publisher, 40, false);
        let mut viewer = viewer(&hub, FlvViewerConfig::default());
        video(&mut publisher, 80, false);
        audio(&mut publisher, 90);
        let mut reader = FlvReader::new();
        let tags = tags(&mut viewer, &mut reader).await;
        assert_eq!(tags, [(9, 0), (9, 40), (9, 80), (8, 90)]);
        assert!(reader.header().is_some());
        // The publisher leaves for good: the file ends.
        drop(publisher);
        hub.tick(std::time::Instant::now() + Duration::from_secs(60));
        assert!(viewer.next().await.is_none());
    }

    #[tokio::test]
    async fn what_is_ready_is_taken_without_waiting() {
        let hub = Hub::new(HubConfig::default());
        let mut publisher = hub.publish(&key()).unwrap();
        video(&mut publisher, 0, true);
        audio(&mut publisher, 10);
        let mut viewer = viewer(&hub, FlvViewerConfig::default());
        let mut reader = FlvReader::new();
        // The header and both tags of the catch-up, ready at once.
        while let Some(bytes) = viewer.ready() {
            reader.push(&bytes);
        }
        let mut tags = Vec::new();
        while let Some(tag) = reader.next_tag().unwrap() {
            tags.push(tag.timestamp);
        }
        assert!(reader.header().is_some());
        assert_eq!(tags, [0, 10]);
    }

    #[tokio::test]
    async fn without_the_gop_a_viewer_starts_at_the_next_keyframe() {
        let hub = Hub::new(HubConfig::default());
        let mut publisher = hub.publish(&key()).unwrap();
        video(&mut publisher, 0, true);
        let config = FlvViewerConfig {
            gop: false,
            ..FlvViewerConfig::default()
        };
        let mut viewer = viewer(&hub, config);
        video(&mut publisher, 40, false);
        video(&mut publisher, 80, true);
        video(&mut publisher, 120, false);
        let tags = tags(&mut viewer, &mut FlvReader::new()).await;
        assert_eq!(tags, [(9, 80), (9, 120)]);
    }

    #[tokio::test]
    async fn a_viewer_behind_the_live_edge_skips_to_the_next_keyframe() {
        let hub = Hub::new(HubConfig::default());
        let mut publisher = hub.publish(&key()).unwrap();
        let config = FlvViewerConfig {
            max_delay: Some(Duration::from_millis(30)),
            ..FlvViewerConfig::default()
        };
        let mut viewer = viewer(&hub, config);
        let mut reader = FlvReader::new();
        video(&mut publisher, 0, true);
        assert_eq!(tags(&mut viewer, &mut reader).await, [(9, 0)]);
        // The viewer does not read while three frames come, then reads them late.
        video(&mut publisher, 40, false);
        video(&mut publisher, 80, false);
        tokio::time::sleep(Duration::from_millis(60)).await;
        video(&mut publisher, 120, true);
        video(&mut publisher, 160, false);
        assert_eq!(tags(&mut viewer, &mut reader).await, [(9, 120), (9, 160)]);
    }

    #[tokio::test]
    async fn viewers_of_a_stream_hold_its_media_once_and_each_reads_all_of_it() {
        let hub = Hub::new(HubConfig::default());
        let mut publisher = hub.publish(&key()).unwrap();
        let budget = MemoryBudget::new(1 << 30);
        let mut viewers: Vec<FlvViewer> = (0..50)
            .map(|_| {
                FlvViewer::play(&hub, &key(), FlvViewerConfig::default(), budget.clone()).unwrap()
            })
            .collect();
        for index in 0..20u32 {
            let first = if index == 0 { 0x17 } else { 0x27 };
            let mut payload = vec![first, 1, 0, 0, 0];
            payload.resize(10_000, 0xAA);
            let message = RawMessage::new(7, index * 40, 9, 1, payload);
            publisher.send(&message).unwrap();
        }
        // 200 kB published: held once in the stream's ring, not once per viewer (10 MB).
        assert!(budget.used() < 400_000, "{} bytes held", budget.used());
        for viewer in &mut viewers {
            let mut reader = FlvReader::new();
            let tags = tags(viewer, &mut reader).await;
            assert_eq!(tags.len(), 20);
            assert_eq!(tags.last(), Some(&(9, 19 * 40)));
        }
        drop(viewers);
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test]
    async fn a_viewer_that_took_what_was_ready_is_woken_by_the_next_message() {
        let hub = Hub::new(HubConfig::default());
        let mut publisher = hub.publish(&key()).unwrap();
        video(&mut publisher, 0, true);
        let mut viewer = viewer(&hub, FlvViewerConfig::default());
        // The header and the catch-up, then the ring, all polled without a waker.
        while viewer.ready().is_some() {}
        video(&mut publisher, 40, false);
        assert!(viewer.ready().is_some(), "the ring's message is ready");
        assert!(viewer.ready().is_none());
        let later = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            video(&mut publisher, 80, false);
            publisher
        });
        // Only a wake-up gets the viewer polled again: the deadline is looked at first.
        let woken = tokio::select! {
            biased;
            () = tokio::time::sleep(Duration::from_secs(2)) => false,
            next = viewer.next() => next.is_some(),
        };
        assert!(woken, "the viewer was never woken");
        drop(later.await.unwrap());
    }
}
