//! The hub's renditions of a multitrack stream: each player gets the tracks it can play.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use rtmp_chunk::{MemoryBudget, RawMessage, type_id};
use rtmp_session::StreamKey;

use crate::channel;
use crate::player::PlayerHandle;
use crate::queue::{Item, MediaReceiver, MediaSender};
use crate::ring::Follower;
use crate::{Hub, HubConfig, Rendition, Router};

fn key() -> StreamKey {
    StreamKey {
        app: "live".into(),
        name: "renditions".into(),
    }
}

fn player(rendition: Rendition) -> (PlayerHandle, MediaReceiver) {
    let (media, received) = MediaSender::channel(1 << 20, MemoryBudget::new(1 << 30));
    let (notices, _) = channel::unbounded();
    let handle = PlayerHandle::new(media, notices, false, 1, Default::default());
    (handle.with_rendition(rendition), received)
}

/// An AVC configuration record with no parameter sets.
const AVC_CONFIG: [u8; 7] = [1, 0x64, 0, 0x1F, 0xFF, 0xE0, 0];

/// Video of `track`: track 0 in the legacy form, others in Enhanced RTMP multitrack form
/// (OneTrack), as ffmpeg publishes two renditions. `frame` is `None` for the sequence start,
/// else whether it is a keyframe.
fn video(track: u8, timestamp: u32, frame: Option<bool>) -> RawMessage {
    let key = frame.unwrap_or(true);
    let mut payload = if track == 0 {
        vec![
            if key { 0x17 } else { 0x27 },
            u8::from(frame.is_some()),
            0,
            0,
            0,
        ]
    } else {
        let first = 0x80 | if key { 0x10 } else { 0x20 } | 6;
        let packet = u8::from(frame.is_some());
        let mut payload = vec![first, packet, b'a', b'v', b'c', b'1', track];
        if frame.is_some() {
            payload.extend_from_slice(&[0, 0, 0]);
        }
        payload
    };
    match frame {
        None => payload.extend_from_slice(&AVC_CONFIG),
        // A NAL unit whose first byte marks the track and the time.
        Some(_) => payload.extend_from_slice(&[0, 0, 0, 2, track, timestamp as u8]),
    }
    RawMessage::new(6, timestamp, type_id::VIDEO, 1, payload)
}

fn audio(timestamp: u32) -> RawMessage {
    RawMessage::new(4, timestamp, type_id::AUDIO, 1, vec![0xAF, 1, 0x21, 0x10])
}

/// What a player received: (timestamp, legacy header byte, the NAL unit's track mark) of each
/// video message, in order; audio as (timestamp, 0xAF, 0).
fn video_of(media: &mut MediaReceiver) -> Vec<(u32, u8, u8)> {
    std::iter::from_fn(|| media.try_recv())
        .map(|media| described(&media.message()))
        .collect()
}

fn described(message: &RawMessage) -> (u32, u8, u8) {
    let payload = &message.payload;
    let mark = match payload.len() {
        len if payload[0] & 0x80 == 0 && payload[1] == 1 && len >= 11 => payload[9],
        _ => 0,
    };
    (message.timestamp, payload[0], mark)
}

/// Publishes two renditions, sequence starts first, then `frames` (track, time, keyframe).
fn publish(hub: &Hub, frames: &[(u8, u32, bool)]) -> Box<dyn crate::Publishing> {
    let mut publisher = hub.publish(&key()).unwrap();
    publisher.send(&video(0, 0, None)).unwrap();
    publisher.send(&video(1, 0, None)).unwrap();
    send(&mut publisher, frames);
    publisher
}

fn send(publisher: &mut Box<dyn crate::Publishing>, frames: &[(u8, u32, bool)]) {
    for (track, timestamp, key) in frames {
        publisher
            .send(&video(*track, *timestamp, Some(*key)))
            .unwrap();
    }
}

#[test]
fn each_player_gets_its_rendition_as_a_single_track_legacy_stream() {
    let hub = Hub::new(HubConfig::default());
    let (first, mut first_media) = player(Rendition::first());
    let (second, mut second_media) = player(Rendition::One { video: 1, audio: 0 });
    let (all, mut all_media) = player(Rendition::All);
    let _playing = [first, second, all].map(|handle| hub.play(&key(), handle).unwrap());
    let _publisher = publish(
        &hub,
        &[(0, 0, true), (1, 0, true), (0, 40, false), (1, 40, false)],
    );
    assert_eq!(
        video_of(&mut first_media),
        [(0, 0x17, 0), (0, 0x17, 0), (40, 0x27, 0)],
        "track 0 as published, track 1 left out"
    );
    assert_eq!(
        video_of(&mut second_media),
        [(0, 0x17, 0), (0, 0x17, 1), (40, 0x27, 1)],
        "track 1 turned into legacy AVC, track 0 left out"
    );
    assert_eq!(video_of(&mut all_media).len(), 6, "everything as published");
}

#[test]
fn a_late_player_starts_at_its_own_tracks_keyframe() {
    let hub = Hub::new(HubConfig::default());
    let mut publisher = publish(
        &hub,
        &[
            (1, 0, true),
            (0, 0, false),
            (1, 40, false),
            (0, 80, true),
            (1, 120, false),
            (0, 120, false),
        ],
    );
    publisher.send(&audio(130)).unwrap();
    let (second, mut second_media) = player(Rendition::One { video: 1, audio: 0 });
    let (first, mut first_media) = player(Rendition::first());
    let (all, mut all_media) = player(Rendition::All);
    let _playing = [first, second, all].map(|handle| hub.play(&key(), handle).unwrap());
    assert_eq!(
        video_of(&mut second_media),
        [
            (0, 0x17, 0),
            (0, 0x17, 1),
            (40, 0x27, 1),
            (120, 0x27, 1),
            (130, 0xAF, 0)
        ],
        "its configuration, then its track's GOP from its keyframe, with the audio"
    );
    assert_eq!(
        video_of(&mut first_media),
        [(0, 0x17, 0), (80, 0x17, 0), (120, 0x27, 0), (130, 0xAF, 0)]
    );
    let all: Vec<u32> = video_of(&mut all_media)
        .iter()
        .map(|(timestamp, _, _)| *timestamp)
        .collect();
    // Both configurations; then track 1 from its keyframe at 0, and track 0 from its keyframe
    // at 80 (its inter frame at 0 is left out).
    assert_eq!(all, [0, 0, 0, 40, 80, 120, 120, 130]);
}

/// Reads what a ring follower gets.
fn follow(media: &mut MediaReceiver) -> Follower {
    loop {
        match media.try_recv_on() {
            Some(Item::Follow(follower)) => return *follower,
            Some(Item::Media(..)) => {}
            None => panic!("the player follows no ring"),
        }
    }
}

fn read(follower: &mut Follower) -> Vec<(u32, u8, u8)> {
    let mut got = Vec::new();
    follower
        .read(|media, _| {
            got.push(described(&media.message()));
            true
        })
        .unwrap();
    got
}

#[test]
fn ring_readers_of_each_rendition_read_a_ring_of_their_own() {
    let hub = Hub::new(HubConfig::default());
    let (first, mut first_queue) = player(Rendition::first());
    let (second, mut second_queue) = player(Rendition::One { video: 1, audio: 0 });
    let (other, mut other_queue) = player(Rendition::first());
    let _playing =
        [first, second, other].map(|handle| hub.play(&key(), handle.reading_rings()).unwrap());
    let mut first = follow(&mut first_queue);
    let mut second = follow(&mut second_queue);
    let mut other = follow(&mut other_queue);
    // A publisher that starts with one track, then adds a second.
    let mut publisher = hub.publish(&key()).unwrap();
    publisher.send(&video(0, 0, None)).unwrap();
    send(&mut publisher, &[(0, 0, true), (0, 40, false)]);
    publisher.send(&video(1, 80, None)).unwrap();
    send(
        &mut publisher,
        &[(1, 80, true), (0, 80, false), (1, 120, false)],
    );
    let track_0 = [(0, 0x17, 0), (0, 0x17, 0), (40, 0x27, 0), (80, 0x27, 0)];
    assert_eq!(read(&mut first), track_0);
    assert_eq!(read(&mut other), track_0, "from the same ring");
    assert!(first_queue.try_recv().is_none() && other_queue.try_recv().is_none());
    assert_eq!(
        read(&mut second),
        [(80, 0x17, 0), (80, 0x17, 1), (120, 0x27, 1)],
        "nothing until its track came, then that track"
    );
    let stats = hub.stats(&key()).unwrap();
    assert_eq!(stats.tracks.len(), 2, "{:?}", stats.tracks);
    let players: Vec<(u8, usize, u64)> = stats
        .tracks
        .iter()
        .map(|track| (track.id, track.players, track.frames))
        .collect();
    assert_eq!(players, [(0, 2, 3), (1, 1, 2)]);
    assert!(stats.tracks.iter().all(|track| track.codec.is_some()));
}

#[test]
fn past_the_gop_budget_the_track_whose_gop_is_oldest_is_no_longer_kept() {
    let config = HubConfig {
        max_gop_bytes: 60,
        ..HubConfig::default()
    };
    let hub = Hub::new(config);
    // Track 0's keyframe comes once; track 1 goes on with keyframes: each video message is
    // 11 to 15 bytes, so track 0's GOP outgrows the budget.
    let mut publisher = publish(&hub, &[(0, 0, true), (1, 0, true)]);
    for timestamp in (40..400).step_by(40) {
        send(
            &mut publisher,
            &[(1, timestamp, timestamp % 120 == 0), (0, timestamp, false)],
        );
    }
    let (first, mut first_media) = player(Rendition::first());
    let (second, mut second_media) = player(Rendition::One { video: 1, audio: 0 });
    let _playing = [first, second].map(|handle| hub.play(&key(), handle).unwrap());
    assert_eq!(
        video_of(&mut first_media),
        [(0, 0x17, 0)],
        "track 0's configuration only: it waits for its next keyframe"
    );
    let second: Vec<(u32, u8, u8)> = video_of(&mut second_media);
    assert_eq!(second[..2], [(0, 0x17, 0), (360, 0x17, 1)], "{second:?}");
    // Track 0's inter frames go on, and its players wait for its keyframe.
    send(&mut publisher, &[(0, 400, false), (0, 440, true)]);
    assert_eq!(video_of(&mut first_media), [(440, 0x17, 0)]);
}
