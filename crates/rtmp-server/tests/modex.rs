//! Enhanced RTMP ModEx TimestampOffsetNano end to end. No installed encoder emits ModEx yet, so
//! the publisher's tags are written by hand from the v2 text: each H.264 frame of the sample
//! file as an enhanced video tag whose packet type is ModEx, carrying a nanosecond offset. The
//! offsets reach our client's player (as frames with nanosecond presentation times) and an
//! FLV recording unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use rtmp_flv::{FlvReader, Frame, VideoTag};
use rtmp_server::rtmp_client::{ClientConfig, Connection, PlayEvent, RtmpUrl};
use rtmp_server::{MemoryBudget, RecordConfig, Recorder, Router, Server, ServerConfig};

const LIMIT: Duration = Duration::from_secs(20);

/// The nanosecond offset given to the `index`th frame (below one millisecond).
fn offset(index: usize) -> u32 {
    (index as u32 * 137_911) % 1_000_000
}

/// The sample's video, rewritten by hand: the sequence start as an enhanced SequenceStart
/// (0x90, "avc1", the record), every coded frame as enhanced ModEx (frame type, packet type
/// 7; data size - 1 = 2; the UI24 offset; ModExType 0 with packet type 1, CodedFrames;
/// "avc1"; the SI24 composition time; the NAL units).
fn modex_video() -> Vec<(u32, Bytes, u32)> {
    let mut out = Vec::new();
    for tag in common::sample_tags().iter().filter(|tag| tag.tag_type == 9) {
        let legacy = &tag.data;
        let keyframe = legacy[0] >> 4 == 1;
        let mut data = BytesMut::new();
        if legacy[1] == 0 {
            data.put_u8(0x90);
            data.put_slice(b"avc1");
            data.put_slice(&legacy[5..]);
            out.push((tag.timestamp, data.freeze(), 0));
            continue;
        }
        let nanos = offset(out.len());
        data.put_u8(0x80 | if keyframe { 1 << 4 } else { 2 << 4 } | 7);
        data.put_u8(2);
        data.put_uint(u64::from(nanos), 3);
        data.put_u8(0x01);
        data.put_slice(b"avc1");
        data.put_slice(&legacy[2..5]);
        data.put_slice(&legacy[5..]);
        out.push((tag.timestamp, data.freeze(), nanos));
    }
    out.truncate(60);
    out
}

async fn connect(server: &Arc<Server>, url: &RtmpUrl) -> Connection {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let server = server.clone();
    let peer = std::net::SocketAddr::from(([10, 0, 0, 1], 1935));
    tokio::spawn(async move { server.serve_connection(theirs, peer).await });
    Connection::connect_over(ours, url, ClientConfig::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn nanosecond_offsets_reach_the_player_and_the_recording() {
    let server = Arc::new(Server::new(ServerConfig::default()));
    let dir = std::env::temp_dir().join(format!("rtmp-modex-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let router: Arc<dyn Router> = server.router().clone();
    let recorder = Recorder::new(router, MemoryBudget::new(1 << 30), RecordConfig::new(&dir));
    recorder.start(&common::key("modex")).unwrap();
    let url = RtmpUrl::parse("rtmp://memory/live/modex").unwrap();
    let mut player = connect(&server, &url).await.play("modex").await.unwrap();
    let mut publisher = connect(&server, &url).await.publish("modex").await.unwrap();
    let sent = modex_video();
    for (timestamp, data, _) in &sent {
        publisher
            .send_video(*timestamp, data.clone())
            .await
            .unwrap();
    }

    // The player's frames carry the offsets: nanosecond presentation times.
    let mut frames: Vec<Frame> = Vec::new();
    tokio::time::timeout(LIMIT, async {
        while frames.len() < sent.len() {
            match player.next_event().await.unwrap() {
                Some(event @ PlayEvent::Media(_)) => frames.extend(event.frames()),
                Some(_) => {}
                None => panic!("the stream ended"),
            }
        }
    })
    .await
    .expect("the player got every frame");
    for ((timestamp, data, nanos), frame) in sent.iter().zip(&frames) {
        assert_eq!(frame.timestamp_offset_nanos, *nanos);
        assert_eq!(
            frame.dts_nanos(),
            i64::from(*timestamp) * 1_000_000 + i64::from(*nanos)
        );
        let ct = VideoTag::parse(data).map(|tag| Frame::from_video(&tag, 0)[0].composition_time);
        assert_eq!(
            frame.pts_nanos(),
            frame.dts_nanos() + i64::from(ct.unwrap()) * 1_000_000
        );
    }
    assert!(
        frames
            .iter()
            .filter(|frame| frame.timestamp_offset_nanos != 0)
            .count()
            > 50
    );

    // The recording keeps the ModEx tags as sent.
    publisher.finish().await.unwrap();
    common::eventually("the recording ends", || recorder.recording().is_empty()).await;
    let file = std::fs::read_dir(dir.join("live"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut reader = FlvReader::new();
    reader.push(&std::fs::read(&file).unwrap());
    let recorded: Vec<Bytes> = std::iter::from_fn(|| reader.next_tag().unwrap())
        .filter(|tag| tag.tag_type == 9)
        .map(|tag| tag.data)
        .collect();
    let sent_data: Vec<&Bytes> = sent.iter().map(|(_, data, _)| data).collect();
    assert_eq!(recorded.iter().collect::<Vec<_>>(), sent_data);
    let _ = std::fs::remove_dir_all(&dir);
}
