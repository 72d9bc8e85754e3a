//! The hub's tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use crate::channel;
use crate::player::{Notice, PlayerHandle, Stamped};
use crate::queue::{MediaReceiver, MediaSender};
use crate::{Hub, HubConfig, Router, SlowPlayerPolicy};
use rtmp_chunk::{MemoryBudget, RawMessage, type_id};
use rtmp_session::StreamKey;

fn key() -> StreamKey {
    StreamKey {
        app: "live".into(),
        name: "unit".into(),
    }
}

/// A player with a queue of `bytes`: its handle, its media and its notices.
fn player(bytes: usize) -> (PlayerHandle, MediaReceiver, channel::Receiver<Stamped>) {
    let (media, received) = MediaSender::channel(bytes, MemoryBudget::new(1 << 30));
    let (notices, heard) = channel::unbounded();
    (
        PlayerHandle::new(media, notices, false, 1, Default::default()),
        received,
        heard,
    )
}

fn video(timestamp: u32, keyframe: bool, len: usize) -> RawMessage {
    let mut payload = vec![if keyframe { 0x17 } else { 0x27 }, 1, 0, 0, 0];
    payload.resize(len, 0x55);
    RawMessage::new(6, timestamp, type_id::VIDEO, 1, payload)
}

fn sequence_start() -> RawMessage {
    RawMessage::new(
        6,
        0,
        type_id::VIDEO,
        1,
        vec![0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1F],
    )
}

/// The timestamps (and whether each is a sequence start) a player received.
fn received(media: &mut MediaReceiver) -> Vec<(u32, bool)> {
    std::iter::from_fn(|| media.try_recv())
        .map(|item| {
            let message = item.message();
            (message.timestamp, message.payload.get(1) == Some(&0))
        })
        .collect()
}

#[test]
fn a_player_whose_writer_reads_rings_gets_the_catch_up_then_follows_the_ring() {
    use crate::queue::Item;
    let hub = Hub::new(HubConfig::default());
    let mut publisher = hub.publish(&key()).unwrap();
    publisher.send(&sequence_start()).unwrap();
    publisher.send(&video(0, true, 100)).unwrap();
    let (handle, mut media, _) = player(1 << 20);
    let playing = hub.play(&key(), handle.reading_rings()).unwrap();
    // The catch-up in its queue, then the start of reading the ring.
    let mut items = std::iter::from_fn(|| media.try_recv_on());
    assert!(matches!(items.next(), Some(Item::Media(..))));
    assert!(matches!(items.next(), Some(Item::Media(..))));
    let Some(Item::Follow(mut follower)) = items.next() else {
        panic!("no ring to follow");
    };
    // From then on the hub queues nothing for it: the ring has the stream.
    publisher.send(&video(40, false, 100)).unwrap();
    assert!(media.try_recv_on().is_none());
    let mut timestamps = Vec::new();
    let mut read = |follower: &mut crate::ring::Follower| {
        follower
            .read(|media, _| {
                timestamps.push(media.message().timestamp);
                true
            })
            .unwrap()
    };
    assert_eq!(read(&mut follower), crate::ring::Read::Open);
    // Leaving ends the reading where the stream was then.
    drop(playing);
    publisher.send(&video(80, false, 100)).unwrap();
    assert_eq!(read(&mut follower), crate::ring::Read::Ended);
    assert_eq!(timestamps, [40]);
    assert_eq!(hub.stats(&key()).unwrap().players, 0);
}

#[test]
fn a_ring_reader_counts_as_sent_to_for_what_its_writer_takes() {
    use crate::queue::Item;
    let hub = Hub::new(HubConfig::default());
    let mut publisher = hub.publish(&key()).unwrap();
    let controls = std::sync::Arc::<crate::controls::PlayControls>::default();
    let (media, mut queue) = MediaSender::channel(1 << 20, MemoryBudget::new(1 << 30));
    let (notices, _heard) = channel::unbounded();
    let handle = PlayerHandle::new(media, notices, false, 1, controls.clone());
    let _playing = hub.play(&key(), handle.reading_rings()).unwrap();
    let Some(Item::Follow(mut follower)) = queue.try_recv_on() else {
        panic!("no ring to follow");
    };
    let mut read = || follower.read(|_, _| true).unwrap();
    let bytes_out = || hub.stats(&key()).unwrap().bytes_out;
    publisher.send(&video(0, true, 1000)).unwrap();
    assert_eq!(bytes_out(), 0, "not taken yet");
    read();
    publisher.send(&video(40, false, 1000)).unwrap();
    assert_eq!(bytes_out(), 1000, "counted at the next message");
    // A paused player's writer takes nothing.
    controls.apply(rtmp_session::PlayControl::Pause(true));
    read();
    publisher.send(&video(80, false, 1000)).unwrap();
    assert_eq!(bytes_out(), 1000);
}

#[test]
fn a_late_player_gets_the_sequence_start_and_the_gop_from_its_keyframe() {
    let hub = Hub::new(HubConfig::default());
    let mut publisher = hub.publish(&key()).unwrap();
    publisher.send(&sequence_start()).unwrap();
    for (timestamp, keyframe) in [(0, true), (40, false), (80, true), (120, false)] {
        publisher.send(&video(timestamp, keyframe, 100)).unwrap();
    }
    let (handle, mut media, _) = player(1 << 20);
    let _playing = hub.play(&key(), handle).unwrap();
    assert_eq!(
        received(&mut media),
        [(0, true), (80, false), (120, false)],
        "the sequence start, then the GOP that starts at the last keyframe"
    );
    publisher.send(&video(160, false, 100)).unwrap();
    assert_eq!(received(&mut media), [(160, false)]);
}

#[test]
fn a_player_behind_skips_to_the_next_keyframe_or_is_dropped_by_policy() {
    for policy in [
        SlowPlayerPolicy::SkipToKeyframe,
        SlowPlayerPolicy::Disconnect,
    ] {
        let config = HubConfig {
            slow_player: policy,
            ..HubConfig::default()
        };
        let hub = Hub::new(config);
        let mut publisher = hub.publish(&key()).unwrap();
        // Room for about two 1000-byte frames.
        let (handle, mut media, _) = player(2500);
        let _playing = hub.play(&key(), handle).unwrap();
        publisher.send(&video(0, true, 1000)).unwrap();
        publisher.send(&video(40, false, 1000)).unwrap();
        publisher.send(&video(80, false, 1000)).unwrap(); // does not fit: the player is behind
        assert_eq!(received(&mut media), [(0, false), (40, false)]);
        publisher.send(&video(120, false, 1000)).unwrap(); // fits, but is not a keyframe
        publisher.send(&video(160, true, 1000)).unwrap();
        let stats = hub.stats(&key()).unwrap();
        match policy {
            SlowPlayerPolicy::SkipToKeyframe => {
                assert_eq!(received(&mut media), [(160, false)]);
                assert_eq!((stats.players, stats.dropped), (1, 2));
            }
            SlowPlayerPolicy::Disconnect => {
                assert!(received(&mut media).is_empty());
                assert_eq!(stats.players, 0, "the slow player was dropped");
            }
        }
    }
}

/// An Enhanced RTMP multitrack audio message of one track (from the spec text): ExHeader
/// with packet type Multitrack, then OneTrack with the real packet type, the FourCC, the
/// track id and the body.
fn audio_track(packet_type: u8, track_id: u8, body: &[u8]) -> RawMessage {
    let mut payload = vec![0x90 | 5, packet_type, b'm', b'p', b'4', b'a', track_id];
    payload.extend_from_slice(body);
    RawMessage::new(4, 0, type_id::AUDIO, 1, payload)
}

#[test]
fn a_late_player_gets_every_tracks_configuration() {
    let hub = Hub::new(HubConfig::default());
    let mut publisher = hub.publish(&key()).unwrap();
    publisher.send(&sequence_start()).unwrap();
    // AAC AudioSpecificConfigs for tracks 0 and 1, a multichannel config for track 1
    // (native order, 2 channels, front left and right), then coded frames.
    publisher.send(&audio_track(0, 0, &[0x12, 0x10])).unwrap();
    publisher.send(&audio_track(0, 1, &[0x11, 0x90])).unwrap();
    publisher
        .send(&audio_track(4, 1, &[1, 2, 0, 0, 0, 3]))
        .unwrap();
    publisher.send(&video(0, true, 100)).unwrap();
    publisher.send(&audio_track(1, 0, &[0x21, 0x10])).unwrap();
    publisher.send(&audio_track(1, 1, &[0x21, 0x10])).unwrap();
    // A new configuration for track 1 replaces the old one only.
    publisher.send(&audio_track(0, 1, &[0x11, 0x88])).unwrap();
    let (handle, mut media, _) = player(1 << 20);
    let _playing = hub.play(&key(), handle).unwrap();
    let payloads: Vec<Vec<u8>> = std::iter::from_fn(|| media.try_recv())
        .map(|item| item.message().payload.to_vec())
        .collect();
    let headers: Vec<&[u8]> = payloads.iter().take(4).map(|p| &p[..]).collect();
    assert_eq!(
        headers,
        [
            &sequence_start().payload[..],
            &audio_track(0, 0, &[0x12, 0x10]).payload[..],
            &audio_track(4, 1, &[1, 2, 0, 0, 0, 3]).payload[..],
            &audio_track(0, 1, &[0x11, 0x88]).payload[..],
        ],
        "every track's configuration, the latest of each, before the GOP"
    );
    assert_eq!(
        payloads.len(),
        4 + 3,
        "then the keyframe and two audio frames"
    );
}

#[test]
fn players_wait_through_a_republish_and_start_from_the_new_stream() {
    let hub = Hub::new(HubConfig {
        republish_grace: std::time::Duration::ZERO,
        ..HubConfig::default()
    });
    let (handle, mut media, mut notices) = player(1 << 20);
    let _playing = hub.play(&key(), handle).unwrap();
    let mut first = hub.publish(&key()).unwrap();
    assert_eq!(
        notices.try_recv().map(|(notice, _)| *notice),
        Some(Notice::Published(key()))
    );
    first.send(&sequence_start()).unwrap();
    first.send(&video(0, true, 100)).unwrap();
    assert!(hub.publish(&key()).is_err(), "one publisher at a time");
    drop(first);
    assert_eq!(
        notices.try_recv().map(|(notice, _)| *notice),
        Some(Notice::Unpublished(key()))
    );
    assert_eq!(received(&mut media), [(0, true), (0, false)]);

    // The next publisher's stream starts clean: nothing of the old one is cached.
    let mut second = hub.publish(&key()).unwrap();
    assert_eq!(
        notices.try_recv().map(|(notice, _)| *notice),
        Some(Notice::Published(key()))
    );
    second.send(&video(5000, true, 100)).unwrap();
    assert_eq!(received(&mut media), [(5000, false)]);
    let (late, mut late_media, _) = player(1 << 20);
    let _late = hub.play(&key(), late).unwrap();
    assert_eq!(received(&mut late_media), [(5000, false)]);
    drop(second);
    drop(_playing);
    drop(_late);
    assert!(hub.keys().is_empty(), "an unused stream is forgotten");
}

#[test]
fn a_publisher_back_within_the_grace_continues_the_stream_for_its_players() {
    let hub = Hub::new(HubConfig::default());
    let (handle, mut media, mut notices) = player(1 << 20);
    let _playing = hub.play(&key(), handle).unwrap();
    let mut first = hub.publish(&key()).unwrap();
    assert!(notices.try_recv().is_some(), "told of the first publisher");
    first.send(&sequence_start()).unwrap();
    first.send(&video(4000, true, 100)).unwrap();
    first.send(&video(4800, false, 100)).unwrap();
    drop(first);
    assert_eq!(
        received(&mut media),
        [(0, true), (4000, false), (4800, false)]
    );
    // Within the grace: the player is told nothing, and the stream goes on from where it
    // was, the new publisher's sequence start first.
    hub.tick(std::time::Instant::now());
    assert!(notices.try_recv().is_none(), "told within the grace");
    let mut second = hub.publish(&key()).unwrap();
    second.send(&sequence_start()).unwrap();
    second.send(&video(0, true, 100)).unwrap();
    second.send(&video(40, false, 100)).unwrap();
    assert!(notices.try_recv().is_none(), "told of the return");
    let got = received(&mut media);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got[0].1, "the sequence start first: {got:?}");
    assert!(got[1].0 >= 4800 && got[2].0 == got[1].0 + 40, "{got:?}");
    // Gone past the grace: told, once.
    drop(second);
    let later = std::time::Instant::now() + HubConfig::default().republish_grace * 2;
    hub.tick(later);
    assert_eq!(
        notices.try_recv().map(|(notice, _)| *notice),
        Some(Notice::Unpublished(key()))
    );
    hub.tick(later);
    assert!(notices.try_recv().is_none());
    // A publisher after that starts afresh, and players are told.
    let mut third = hub.publish(&key()).unwrap();
    assert_eq!(
        notices.try_recv().map(|(notice, _)| *notice),
        Some(Notice::Published(key()))
    );
    third.send(&video(0, true, 100)).unwrap();
    assert_eq!(received(&mut media), [(0, false)]);
}

#[test]
fn a_publisher_past_the_streams_budgets_is_refused() {
    let config = HubConfig {
        max_tracks: 4,
        max_header_bytes: 4096,
        max_metadata_bytes: 1024,
        ..HubConfig::default()
    };
    let hub = Hub::new(config);
    let mut publisher = hub.publish(&key()).unwrap();
    for track in 0..4 {
        publisher
            .send(&audio_track(0, track, &[0x12, 0x10]))
            .unwrap();
    }
    // The same tracks again replace what they configured.
    publisher.send(&audio_track(0, 3, &[0x11, 0x90])).unwrap();
    let fifth = publisher.send(&audio_track(0, 4, &[0x12, 0x10]));
    assert!(matches!(
        fifth,
        Err(crate::PublishError::OverLimit {
            what: "configured tracks",
            limit: 4,
            ..
        })
    ));
    drop(publisher);
    let mut publisher = hub.publish(&key()).unwrap();
    let large = audio_track(0, 0, &[0x12; 5000]);
    assert!(matches!(
        publisher.send(&large),
        Err(crate::PublishError::OverLimit {
            what: "configuration bytes",
            ..
        })
    ));
    let mut metadata = vec![0x02, 0x00, 0x0A];
    metadata.extend_from_slice(b"onMetaData");
    metadata.resize(2000, 0x05);
    let metadata = RawMessage::new(4, 0, type_id::DATA_AMF0, 1, metadata);
    assert!(matches!(
        publisher.send(&metadata),
        Err(crate::PublishError::OverLimit {
            what: "metadata bytes",
            limit: 1024,
            ..
        })
    ));
}
