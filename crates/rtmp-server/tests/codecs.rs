//! The codec policy per player, with our client announcing codecs in connect as the Enhanced
//! RTMP v2 text describes: a player never gets a codec it did not list; an Enhanced RTMP codec
//! with a legacy form reaches it in that form; one without is skipped, and it is told.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rtmp_flv::{FlvReader, FlvTag, Frame, VideoCodec, VideoTag};
use rtmp_server::rtmp_client::{ClientConfig, Connection, PlayEvent, Player, RtmpUrl};
use rtmp_server::session::{Capabilities, caps_ex};
use rtmp_server::{Server, ServerConfig};

const LIMIT: Duration = Duration::from_secs(20);

fn tags(file: &str) -> Vec<FlvTag> {
    let mut reader = FlvReader::new();
    reader.push(&std::fs::read(common::sample(file)).unwrap());
    std::iter::from_fn(|| reader.next_tag().unwrap()).collect()
}

/// A client that announces `fourccs` (and multitrack), or nothing.
fn config(fourccs: Option<&[&str]>) -> ClientConfig {
    let mut config = ClientConfig::default();
    config.session.capabilities =
        fourccs.map(|list| Capabilities::client(list, caps_ex::MULTITRACK));
    config
}

async fn connect(server: &Arc<Server>, url: &RtmpUrl, config: ClientConfig) -> Connection {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let server = server.clone();
    let peer = std::net::SocketAddr::from(([10, 0, 0, 1], 1935));
    tokio::spawn(async move { server.serve_connection(theirs, peer).await });
    Connection::connect_over(ours, url, config).await.unwrap()
}

/// What a player received until `video` video messages (or 3 s of quiet): the video payloads,
/// the count of audio messages and the status codes.
async fn receive(player: &mut Player, video: usize) -> (Vec<Bytes>, usize, Vec<String>) {
    let (mut videos, mut audio, mut statuses) = (Vec::new(), 0, Vec::new());
    while videos.len() < video {
        match tokio::time::timeout(Duration::from_secs(3), player.next_event()).await {
            Ok(Ok(Some(PlayEvent::Media(message)))) if message.type_id == 9 => {
                videos.push(message.payload)
            }
            Ok(Ok(Some(PlayEvent::Media(message)))) if message.type_id == 8 => audio += 1,
            Ok(Ok(Some(PlayEvent::Status(status)))) => {
                statuses.push(status.code.as_str().to_owned())
            }
            Ok(Ok(Some(_))) => {}
            Ok(other) => panic!("the player stopped: {other:?}"),
            Err(_) => break,
        }
    }
    (videos, audio, statuses)
}

async fn publish(server: &Arc<Server>, name: &str, tags: &[FlvTag]) {
    let url = RtmpUrl::parse(&format!("rtmp://memory/live/{name}")).unwrap();
    let mut publisher = connect(server, &url, ClientConfig::default())
        .await
        .publish(name)
        .await
        .unwrap();
    for tag in tags {
        publisher
            .send_message(tag.tag_type, tag.timestamp, tag.data.clone())
            .await
            .unwrap();
    }
    // The publisher stays: its stream is what the players play.
    std::mem::forget(publisher);
}

#[tokio::test]
async fn a_player_that_lists_only_avc1_and_mp4a_gets_the_audio_of_an_hevc_stream_and_is_told() {
    let server = Arc::new(Server::new(ServerConfig::default()));
    let url = RtmpUrl::parse("rtmp://memory/live/hevc").unwrap();
    let mut listing = connect(&server, &url, config(Some(&["avc1", "mp4a"])))
        .await
        .play("hevc")
        .await
        .unwrap();
    let mut unannounced = connect(&server, &url, config(None))
        .await
        .play("hevc")
        .await
        .unwrap();
    publish(&server, "hevc", &tags("hevc-aac-enhanced.flv")[..120]).await;

    let (videos, audio, statuses) = tokio::time::timeout(LIMIT, receive(&mut listing, 1))
        .await
        .unwrap();
    assert!(
        videos.is_empty(),
        "H.265 reached a player that did not list hvc1: {:02x?}",
        videos
            .iter()
            .map(|v| v.slice(..8.min(v.len())))
            .collect::<Vec<_>>()
    );
    assert!(audio > 0, "the AAC track still plays");
    assert_eq!(
        statuses
            .iter()
            .filter(|code| *code == "NetStream.Play.CodecSkipped")
            .count(),
        1,
        "told once: {statuses:?}"
    );
    // A player that announced nothing gets the stream as published.
    let (videos, _, _) = tokio::time::timeout(LIMIT, receive(&mut unannounced, 5))
        .await
        .unwrap();
    assert_eq!(videos.len(), 5);
    let first = VideoTag::parse(&videos[0]).unwrap();
    assert_eq!(first.tracks()[0].codec, VideoCodec::Hevc);
}

#[tokio::test]
async fn enhanced_h264_reaches_a_player_that_did_not_list_avc1_in_legacy_form() {
    let server = Arc::new(Server::new(ServerConfig::default()));
    // The sample's H.264 re-sent in Enhanced RTMP form (FourCC avc1), as OBS may publish it.
    let enhanced: Vec<FlvTag> = tags("h264-aac.flv")
        .into_iter()
        .take(120)
        .map(|tag| {
            if tag.tag_type != 9 {
                return tag;
            }
            let parsed = VideoTag::parse(&tag.data).unwrap();
            let frame = Frame::from_video(&parsed, tag.timestamp).remove(0);
            let data = frame.to_video_tag(true).unwrap().to_bytes().unwrap();
            FlvTag::new(9, tag.timestamp, data)
        })
        .collect();
    assert!(
        enhanced
            .iter()
            .any(|tag| tag.tag_type == 9 && tag.data[0] & 0x80 != 0)
    );
    let url = RtmpUrl::parse("rtmp://memory/live/avc").unwrap();
    let mut audio_only_list = connect(&server, &url, config(Some(&["mp4a"])))
        .await
        .play("avc")
        .await
        .unwrap();
    let mut avc1_list = connect(&server, &url, config(Some(&["avc1", "mp4a"])))
        .await
        .play("avc")
        .await
        .unwrap();
    publish(&server, "avc", &enhanced).await;

    let (converted, _, statuses) = tokio::time::timeout(LIMIT, receive(&mut audio_only_list, 10))
        .await
        .unwrap();
    assert_eq!(converted.len(), 10, "{statuses:?}");
    for payload in &converted {
        assert_eq!(payload[0] & 0x80, 0, "legacy form");
        assert_eq!(payload[0] & 0x0F, 7, "CodecID 7, H.264");
    }
    // The sequence start comes first, as the AVCDecoderConfigurationRecord it carried.
    assert_eq!(converted[0][1], 0, "an AVC sequence header");
    let original =
        VideoTag::parse(&enhanced.iter().find(|tag| tag.tag_type == 9).unwrap().data).unwrap();
    let legacy = VideoTag::parse(&converted[0]).unwrap();
    assert_eq!(legacy.tracks()[0].packet, original.tracks()[0].packet);

    let (as_published, _, _) = tokio::time::timeout(LIMIT, receive(&mut avc1_list, 10))
        .await
        .unwrap();
    assert!(
        as_published.iter().all(|payload| payload[0] & 0x80 != 0),
        "listed: as published"
    );
}

/// Our client respects the server's answer: a server that lists only H.264 and AAC gets no
/// H.265 frame from it, and H.264 goes through.
#[tokio::test]
async fn our_publisher_sends_no_codec_the_server_did_not_list() {
    use rtmp_server::session::fourcc_flags;
    let mut config = ServerConfig::default();
    config.session.capabilities = Capabilities {
        video: vec![("avc1".into(), fourcc_flags::CAN_FORWARD)],
        audio: vec![("mp4a".into(), fourcc_flags::CAN_FORWARD)],
        caps_ex: 0,
    };
    let server = Arc::new(Server::new(config));
    let url = RtmpUrl::parse("rtmp://memory/live/answer").unwrap();
    let connection = connect(&server, &url, ClientConfig::default()).await;
    let answer = connection.server_capabilities().unwrap();
    assert!(answer.has_video("avc1") && !answer.has_video("hvc1"));
    let mut publisher = connection.publish("answer").await.unwrap();
    let frame = |file: &str| {
        let tag = tags(file)
            .into_iter()
            .find(|tag| tag.tag_type == 9)
            .unwrap();
        Frame::from_video(&VideoTag::parse(&tag.data).unwrap(), 0).remove(0)
    };
    let refused = publisher
        .send_frame(&frame("hevc-aac-enhanced.flv"), true)
        .await;
    assert!(
        matches!(&refused, Err(rtmp_server::rtmp_client::ClientError::Frame(why)) if why.contains("hvc1")),
        "{refused:?}"
    );
    publisher
        .send_frame(&frame("h264-aac.flv"), true)
        .await
        .unwrap();
    publisher
        .send_frame(&frame("h264-aac.flv"), false)
        .await
        .unwrap();
}
