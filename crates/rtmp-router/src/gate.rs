//! The keyframe gate: the one rule every reader of a stream (a ring's follower, a player's
//! slot and its catch-up, an FLV viewer) plays by. A player that lost video (it fell behind,
//! paused, seeked, or joined without a keyframe) gets no coded video until the next keyframe,
//! since inter frames without theirs decode to garbage. Configuration (sequence starts),
//! metadata and audio always pass.

use rtmp_flv::VideoKind;

use crate::media::MediaKind;

/// Whether a player waits for a keyframe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct KeyframeGate {
    closed: bool,
}

impl KeyframeGate {
    /// A gate that is closed (`true`: the player waits for a keyframe) or open.
    pub(crate) fn new(closed: bool) -> Self {
        Self { closed }
    }

    /// The player lost video: nothing coded until a keyframe.
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// The player's video goes on as it comes (a new publisher starts with a keyframe).
    pub(crate) fn open(&mut self) {
        self.closed = false;
    }

    /// Whether the player waits for a keyframe.
    pub(crate) fn is_closed(self) -> bool {
        self.closed
    }

    /// Whether a message of `kind` may go to the player now: all but coded video other than
    /// a keyframe while closed.
    pub(crate) fn admits(self, kind: MediaKind) -> bool {
        !(self.closed
            && matches!(
                kind,
                MediaKind::Video {
                    kind: VideoKind::Inter | VideoKind::Other,
                    ..
                }
            ))
    }

    /// A message of `kind` reached the player: a keyframe opens the gate.
    pub(crate) fn passed(&mut self, kind: MediaKind) {
        if is_keyframe(kind) {
            self.closed = false;
        }
    }
}

/// Whether `kind` is a keyframe of coded video.
pub(crate) fn is_keyframe(kind: MediaKind) -> bool {
    matches!(
        kind,
        MediaKind::Video {
            kind: VideoKind::Keyframe,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    //! One table of the gate, run against every kind of reader: the gate alone, a ring's
    //! follower, a player's slot (its offers and its catch-up) and an FLV viewer.

    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code

    use std::sync::Arc;
    use std::time::Duration;

    use rtmp_chunk::{MemoryBudget, RawMessage, type_id};
    use rtmp_session::StreamKey;

    use super::KeyframeGate;
    use crate::codecs::Conversions;
    use crate::controls::PlayControls;
    use crate::ring::Ring;
    use crate::{
        Feed, FlvViewer, FlvViewerConfig, Hub, HubConfig, Media, PlayerHandle, PlayerSlot, Router,
        SharedMedia, SlowPlayerPolicy,
    };

    /// What a row publishes.
    #[derive(Debug, Clone, Copy)]
    enum Frame {
        Config,
        Key,
        Inter,
        Audio,
    }

    struct Row {
        what: &'static str,
        /// Whether the reader starts waiting for a keyframe.
        closed: bool,
        frames: &'static [Frame],
        /// The frames (by index) every reader gets.
        gets: &'static [usize],
        /// What an FLV viewer gets, where it differs: behind the live edge its audio waits
        /// for the keyframe too.
        viewer_gets: Option<&'static [usize]>,
    }

    const TABLE: &[Row] = &[
        Row {
            what: "a closed gate passes audio and opens at a keyframe",
            closed: true,
            frames: &[
                Frame::Config,
                Frame::Inter,
                Frame::Audio,
                Frame::Key,
                Frame::Inter,
                Frame::Audio,
            ],
            gets: &[0, 2, 3, 4, 5],
            viewer_gets: Some(&[0, 3, 4, 5]),
        },
        Row {
            what: "an open gate passes everything",
            closed: false,
            frames: &[Frame::Key, Frame::Inter, Frame::Audio, Frame::Inter],
            gets: &[0, 1, 2, 3],
            viewer_gets: None,
        },
        Row {
            what: "configuration passes a closed gate",
            closed: true,
            frames: &[Frame::Config, Frame::Inter, Frame::Inter, Frame::Key],
            gets: &[0, 3],
            viewer_gets: None,
        },
    ];

    fn media(frame: Frame, index: usize) -> Media {
        let timestamp = u32::try_from(index).unwrap() * 40;
        let (type_id, payload) = match frame {
            Frame::Config => (type_id::VIDEO, vec![0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1F]),
            Frame::Key => (type_id::VIDEO, vec![0x17, 1, 0, 0, 0, 0xAA]),
            Frame::Inter => (type_id::VIDEO, vec![0x27, 1, 0, 0, 0, 0xBB]),
            Frame::Audio => (type_id::AUDIO, vec![0xAF, 1, 0x21]),
        };
        let stream = if type_id == type_id::AUDIO { 4 } else { 6 };
        SharedMedia::new(
            RawMessage::new(stream, timestamp, type_id, 1, payload),
            4096,
        )
        .unwrap()
    }

    /// The index of each message by its timestamp.
    fn indices(timestamps: impl IntoIterator<Item = u32>) -> Vec<usize> {
        timestamps.into_iter().map(|t| t as usize / 40).collect()
    }

    fn gate_alone(row: &Row) -> Vec<usize> {
        let mut gate = KeyframeGate::new(row.closed);
        let mut got = Vec::new();
        for (index, frame) in row.frames.iter().enumerate() {
            let kind = media(*frame, index).kind();
            if gate.admits(kind) {
                gate.passed(kind);
                got.push(index);
            }
        }
        got
    }

    fn ring_follower(row: &Row) -> Vec<usize> {
        let budget = MemoryBudget::new(1 << 30);
        let ring = Ring::new(
            1 << 20,
            SlowPlayerPolicy::SkipToKeyframe,
            budget,
            Arc::default(),
        );
        let mut follower = ring.follow(1, Arc::new(PlayControls::default()), row.closed);
        for (index, frame) in row.frames.iter().enumerate() {
            ring.push(media(*frame, index));
        }
        let mut got = Vec::new();
        follower
            .read(|media, _| {
                got.push(media.message().timestamp);
                true
            })
            .unwrap();
        indices(got)
    }

    /// A slot whose gate starts as the row says (a catch-up without a keyframe closes it).
    fn slot(row: &Row) -> (PlayerSlot, crate::PlayerFeed) {
        let (handle, feed) = PlayerHandle::pair(1 << 20, MemoryBudget::new(1 << 30), true);
        let mut slot = PlayerSlot::new(handle);
        if row.closed {
            slot.catch_up([], &key(), 4096);
        }
        (slot, feed)
    }

    async fn taken(feed: &mut crate::PlayerFeed) -> Vec<usize> {
        let mut got = Vec::new();
        while let Ok(Some(Feed::Media(media))) =
            tokio::time::timeout(Duration::from_millis(20), feed.recv()).await
        {
            got.push(media.message().timestamp);
        }
        indices(got)
    }

    async fn slot_offers(row: &Row) -> Vec<usize> {
        let (mut slot, mut feed) = slot(row);
        for (index, frame) in row.frames.iter().enumerate() {
            let media = media(*frame, index);
            let mut conversions = Conversions::new(&media, 4096);
            slot.offer(&mut conversions, &key(), SlowPlayerPolicy::SkipToKeyframe);
        }
        taken(&mut feed).await
    }

    async fn slot_catch_up(row: &Row) -> Vec<usize> {
        let (mut slot, mut feed) = slot(row);
        let messages: Vec<Media> = row
            .frames
            .iter()
            .enumerate()
            .map(|(index, frame)| media(*frame, index))
            .collect();
        slot.catch_up(&messages, &key(), 4096);
        taken(&mut feed).await
    }

    async fn flv_viewer(row: &Row) -> Vec<usize> {
        let hub = Hub::new(HubConfig::default());
        let mut publisher = hub.publish(&key()).unwrap();
        let config = FlvViewerConfig {
            gop: !row.closed,
            ..FlvViewerConfig::default()
        };
        let mut viewer = FlvViewer::play(&hub, &key(), config, MemoryBudget::new(1 << 30)).unwrap();
        for (index, frame) in row.frames.iter().enumerate() {
            publisher.send(&media(*frame, index).message()).unwrap();
        }
        let mut reader = rtmp_flv::FlvReader::new();
        while let Ok(Some(bytes)) =
            tokio::time::timeout(Duration::from_millis(20), viewer.next()).await
        {
            reader.push(&bytes);
        }
        let mut got = Vec::new();
        while let Some(tag) = reader.next_tag().unwrap() {
            got.push(tag.timestamp);
        }
        indices(got)
    }

    fn key() -> StreamKey {
        StreamKey {
            app: "live".into(),
            name: "gate".into(),
        }
    }

    #[tokio::test]
    async fn every_reader_plays_by_the_one_gate() {
        for row in TABLE {
            let viewer_gets = row.viewer_gets.unwrap_or(row.gets);
            assert_eq!(gate_alone(row), row.gets, "the gate: {}", row.what);
            assert_eq!(
                ring_follower(row),
                row.gets,
                "a ring's follower: {}",
                row.what
            );
            assert_eq!(slot_offers(row).await, row.gets, "a slot: {}", row.what);
            assert_eq!(
                slot_catch_up(row).await,
                row.gets,
                "a catch-up: {}",
                row.what
            );
            assert_eq!(
                flv_viewer(row).await,
                viewer_gets,
                "an FLV viewer: {}",
                row.what
            );
        }
    }
}
