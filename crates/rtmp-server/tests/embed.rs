//! Embedding the layers: a server and clients over in-memory pipes (no socket), and a router
//! of the application's own instead of the hub.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rtmp_chunk::RawMessage;
use rtmp_server::rtmp_client::{PlayEvent, RtmpUrl};
use rtmp_server::{
    PlayError, PlayerHandle, Playing, PublishError, Publishing, Router, Server, ServerConfig,
    StreamKey,
};

const LIMIT: Duration = Duration::from_secs(20);

use common::in_memory as connect;

#[tokio::test]
async fn publish_and_play_over_in_memory_pipes() {
    let server = Arc::new(Server::new(ServerConfig::default()));
    let url = RtmpUrl::parse("rtmp://memory/live/pipe").unwrap();
    let mut publisher = connect(&server, &url)
        .await
        .publish(&url.stream)
        .await
        .unwrap();
    let mut player = connect(&server, &url)
        .await
        .play(&url.stream)
        .await
        .unwrap();
    assert_eq!(server.connections(), 2);

    let tags = common::sample_tags();
    let sent: Vec<_> = tags
        .iter()
        .filter(|tag| tag.tag_type == 9)
        .take(50)
        .collect();
    for tag in &sent {
        publisher
            .send_message(tag.tag_type, tag.timestamp, tag.data.clone())
            .await
            .unwrap();
    }
    let mut received = Vec::new();
    tokio::time::timeout(LIMIT, async {
        while received.len() < sent.len() {
            match player.next_event().await.unwrap() {
                Some(PlayEvent::Media(message)) if message.type_id == 9 => received.push(message),
                Some(_) => {}
                None => panic!("the stream ended early"),
            }
        }
    })
    .await
    .expect("the player did not get the video");
    for (tag, message) in sent.iter().zip(&received) {
        assert_eq!(
            (tag.timestamp, &tag.data),
            (message.timestamp, &message.payload)
        );
    }
    publisher.finish().await.unwrap();
}

/// A router of our own: it keeps what each publisher sends and plays nothing.
#[derive(Clone, Default)]
struct Keeping {
    kept: Arc<Mutex<Vec<(StreamKey, u8, u32)>>>,
}

struct Kept {
    key: StreamKey,
    kept: Arc<Mutex<Vec<(StreamKey, u8, u32)>>>,
}

impl Publishing for Kept {
    fn key(&self) -> &StreamKey {
        &self.key
    }

    fn send(&mut self, message: &RawMessage) -> Result<(), PublishError> {
        let entry = (self.key.clone(), message.type_id, message.timestamp);
        self.kept.lock().unwrap().push(entry);
        Ok(())
    }
}

impl Router for Keeping {
    fn publish(&self, key: &StreamKey) -> Result<Box<dyn Publishing>, PublishError> {
        if key.name == "refused" {
            return Err(PublishError::Refused("not this one".into()));
        }
        Ok(Box::new(Kept {
            key: key.clone(),
            kept: self.kept.clone(),
        }))
    }

    fn play(&self, key: &StreamKey, _: PlayerHandle) -> Result<Box<dyn Playing>, PlayError> {
        Err(PlayError::Refused(
            format!("{key} is kept, not played").into(),
        ))
    }

    // Refused before the client is told Play.Start.
    fn check_play(&self, key: &StreamKey, _: bool) -> Result<(), PlayError> {
        Err(PlayError::Refused(
            format!("{key} is kept, not played").into(),
        ))
    }

    fn is_published(&self, _: &StreamKey) -> bool {
        false
    }

    fn is_played(&self, _: &StreamKey) -> bool {
        false
    }
}

#[tokio::test]
async fn a_router_of_our_own_gets_the_media_and_refuses_with_its_reasons() {
    let router = Keeping::default();
    let server = Arc::new(Server::builder().router(router.clone()).build());
    let url = RtmpUrl::parse("rtmp://memory/live/kept").unwrap();
    let mut publisher = connect(&server, &url)
        .await
        .publish(&url.stream)
        .await
        .unwrap();
    for timestamp in [0, 40, 80] {
        publisher
            .send_message(9, timestamp, vec![0x17, 1, 0, 0, 0].into())
            .await
            .unwrap();
    }
    publisher.finish().await.unwrap();
    let key = common::key("kept");
    tokio::time::timeout(LIMIT, async {
        while router.kept.lock().unwrap().len() < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the router never got the media");
    assert_eq!(
        *router.kept.lock().unwrap(),
        vec![(key.clone(), 9, 0), (key.clone(), 9, 40), (key, 9, 80)]
    );

    // Its refusals reach the client with the router's reasons.
    let refused = RtmpUrl::parse("rtmp://memory/live/refused").unwrap();
    let error = connect(&server, &refused)
        .await
        .publish(&refused.stream)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("not this one"), "{error}");
    let error = connect(&server, &url)
        .await
        .play(&url.stream)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("is kept, not played"), "{error}");
}

#[tokio::test]
async fn a_player_of_our_own_takes_media_from_the_hub_like_any_player() {
    use rtmp_server::PlayerHandle;
    use rtmp_server::router::{Feed, Notice};
    let server = Arc::new(Server::new(ServerConfig::default()));
    let key = common::key("own");
    let (handle, mut feed) = PlayerHandle::pair(1 << 20, server.queue_budget(), true);
    let playing = server.router().play(&key, handle).unwrap();
    assert_eq!(playing.key(), &key);

    let url = RtmpUrl::parse("rtmp://memory/live/own").unwrap();
    let mut publisher = connect(&server, &url)
        .await
        .publish(&url.stream)
        .await
        .unwrap();
    for timestamp in [0, 40] {
        publisher
            .send_message(9, timestamp, vec![0x17, 1, 0, 0, 0].into())
            .await
            .unwrap();
    }
    publisher.finish().await.unwrap();
    let mut seen = Vec::new();
    tokio::time::timeout(LIMIT, async {
        while let Some(item) = feed.recv().await {
            match item {
                Feed::Media(media) => seen.push(format!("media {}", media.message().timestamp)),
                Feed::Notice(Notice::Unpublished(_)) => {
                    seen.push("unpublished".into());
                    break;
                }
                Feed::Notice(notice) => seen.push(format!("{notice:?}")),
                _ => {}
            }
        }
    })
    .await
    .expect("the feed stalled");
    assert_eq!(
        seen,
        [
            "Published(StreamKey { app: \"live\", name: \"own\" })",
            "media 0",
            "media 40",
            "unpublished"
        ]
    );
}

/// An FLV tag as an aggregate carries it (header, data, back pointer), from the spec text.
fn aggregate_tag(tag_type: u8, timestamp: u32, data: &[u8]) -> Vec<u8> {
    let len = data.len() as u32;
    let mut bytes = vec![tag_type];
    bytes.extend_from_slice(&len.to_be_bytes()[1..]);
    bytes.extend_from_slice(&timestamp.to_be_bytes()[1..]);
    bytes.push((timestamp >> 24) as u8);
    bytes.extend_from_slice(&[0, 0, 0]);
    bytes.extend_from_slice(data);
    bytes.extend_from_slice(&(11 + len).to_be_bytes());
    bytes
}

#[tokio::test]
async fn a_publishers_aggregates_reach_players_as_plain_messages() {
    let server = Arc::new(Server::new(ServerConfig::default()));
    let url = RtmpUrl::parse("rtmp://memory/live/aggregated").unwrap();
    let mut player = connect(&server, &url)
        .await
        .play(&url.stream)
        .await
        .unwrap();
    let mut publisher = connect(&server, &url)
        .await
        .publish(&url.stream)
        .await
        .unwrap();
    // Two aggregates of a keyframe and an audio frame each, tag times 0/20 and 40/60.
    for (at, base) in [(1000u32, 0u32), (1040, 40)] {
        let mut payload = aggregate_tag(9, base, &[0x17, 1, 0, 0, 0, 0xAA]);
        payload.extend(aggregate_tag(8, base + 20, &[0xAF, 1, 0xBB]));
        publisher
            .send_message(22, at, payload.into())
            .await
            .unwrap();
    }
    let mut received = Vec::new();
    tokio::time::timeout(LIMIT, async {
        while received.len() < 4 {
            if let Some(PlayEvent::Media(message)) = player.next_event().await.unwrap() {
                received.push((message.type_id, message.timestamp));
            }
        }
    })
    .await
    .expect("the player did not get the aggregated media");
    assert_eq!(received, [(9, 1000), (8, 1020), (9, 1040), (8, 1060)]);
    publisher.finish().await.unwrap();
}

/// A player driven by hand (a `ClientSession` and the chunk codec over an in-memory pipe),
/// for what our client does not do: several plays on one connection, pause and resume.
struct RawPlayer {
    pipe: tokio::io::DuplexStream,
    session: rtmp_session::ClientSession,
    encoder: rtmp_chunk::ChunkEncoder,
    decoder: rtmp_chunk::ChunkDecoder,
    input: bytes::BytesMut,
    events: Vec<rtmp_session::ClientEvent>,
}

impl RawPlayer {
    async fn connect(server: &Arc<Server>) -> Self {
        use rtmp_handshake::{ClientHandshake, ClientHandshakeConfig};
        let (mut pipe, theirs) = tokio::io::duplex(1 << 20);
        let serving = server.clone();
        let peer = std::net::SocketAddr::from(([10, 0, 0, 3], 1935));
        tokio::spawn(async move { serving.serve_connection(theirs, peer).await });
        let mut handshake = ClientHandshake::new(ClientHandshakeConfig::default());
        let leftover = rtmp_handshake::drive(&mut pipe, &mut handshake)
            .await
            .unwrap();
        let mut session = rtmp_session::ClientSession::new(Default::default());
        session.connect("live", "rtmp://memory/live").unwrap();
        Self {
            pipe,
            session,
            encoder: rtmp_chunk::ChunkEncoder::new(),
            decoder: rtmp_chunk::ChunkDecoder::new(Default::default()),
            input: bytes::BytesMut::from(&leftover[..]),
            events: Vec::new(),
        }
    }

    /// Sends `extra` and what the session has, then reads until `enough` holds of the events
    /// so far (bounded by LIMIT).
    async fn exchange(
        &mut self,
        extra: &[rtmp_chunk::RawMessage],
        enough: impl Fn(&[rtmp_session::ClientEvent]) -> bool,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut out = bytes::BytesMut::new();
        while let Some(message) = self.session.poll_send() {
            self.encoder.encode(&message, &mut out).unwrap();
        }
        for message in extra {
            self.encoder.encode(message, &mut out).unwrap();
        }
        self.pipe.write_all(&out).await.unwrap();
        tokio::time::timeout(LIMIT, async {
            loop {
                while let Some(message) = self.decoder.decode(&mut self.input).unwrap() {
                    self.session.handle_message(message).unwrap();
                }
                self.events
                    .extend(std::iter::from_fn(|| self.session.poll_event()));
                if enough(&self.events) {
                    return;
                }
                let read = self.pipe.read_buf(&mut self.input).await.unwrap();
                assert!(read > 0, "the server closed");
            }
        })
        .await
        .unwrap_or_else(|_| panic!("never happened; events: {:#?}", self.events));
    }
}

fn created(events: &[rtmp_session::ClientEvent]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|event| match event {
            rtmp_session::ClientEvent::StreamCreated { stream_id } => Some(*stream_id),
            _ => None,
        })
        .collect()
}

fn statuses(events: &[rtmp_session::ClientEvent], code: rtmp_message::StatusCode) -> usize {
    events
        .iter()
        .filter(|event| {
            matches!(event, rtmp_session::ClientEvent::Status { status, .. } if status.code == code)
        })
        .count()
}

/// (message stream, first payload byte, third payload byte) of the media received.
fn media(events: &[rtmp_session::ClientEvent]) -> Vec<(u32, u8, u8)> {
    events
        .iter()
        .filter_map(|event| match event {
            rtmp_session::ClientEvent::Media(message) => {
                Some((message.stream_id, message.payload[0], message.payload[2]))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn one_connection_plays_two_streams_each_on_its_own_message_stream() {
    use rtmp_message::StatusCode;
    let server = Arc::new(Server::new(ServerConfig::default()));
    let mut player = RawPlayer::connect(&server).await;
    player.session.create_stream().unwrap();
    player.session.create_stream().unwrap();
    player
        .exchange(&[], |events| created(events).len() == 2)
        .await;
    let ids = created(&player.events);
    player.session.play(ids[0], "first").unwrap();
    player.session.play(ids[1], "second").unwrap();
    player
        .exchange(&[], |events| statuses(events, StatusCode::PlayStart) == 2)
        .await;
    // Each publisher stays until the end of the test.
    let mut publishers = Vec::new();
    for (name, marker) in [("first", 0xA1u8), ("second", 0xB2)] {
        let url = RtmpUrl::parse(&format!("rtmp://memory/live/{name}")).unwrap();
        let mut publisher = connect(&server, &url)
            .await
            .publish(&url.stream)
            .await
            .unwrap();
        publisher
            .send_message(8, 0, vec![0xAF, 1, marker].into())
            .await
            .unwrap();
        publishers.push(publisher);
    }
    player
        .exchange(&[], |events| media(events).len() == 2)
        .await;
    let mut got = media(&player.events);
    got.sort_unstable();
    assert_eq!(got, [(ids[0], 0xAF, 0xA1), (ids[1], 0xAF, 0xB2)]);
    for publisher in publishers {
        publisher.finish().await.unwrap();
    }
}

#[tokio::test]
async fn a_paused_player_gets_nothing_and_resumes_from_a_keyframe() {
    use rtmp_message::{Command, Message, StatusCode};
    let server = Arc::new(Server::new(ServerConfig::default()));
    let mut player = RawPlayer::connect(&server).await;
    player.session.create_stream().unwrap();
    player
        .exchange(&[], |events| created(events).len() == 1)
        .await;
    let id = created(&player.events)[0];
    player.session.play(id, "paused").unwrap();
    player
        .exchange(&[], |events| statuses(events, StatusCode::PlayStart) == 1)
        .await;
    let url = RtmpUrl::parse("rtmp://memory/live/paused").unwrap();
    let mut publisher = connect(&server, &url)
        .await
        .publish(&url.stream)
        .await
        .unwrap();
    // Video frames: the third byte numbers them; 0x17 keyframes, 0x27 inter frames.
    let frame = |n: u8, key: bool| vec![if key { 0x17 } else { 0x27 }, 1, n, 0, 0];
    publisher
        .send_message(9, 0, frame(1, true).into())
        .await
        .unwrap();
    player
        .exchange(&[], |events| media(events).len() == 1)
        .await;

    let command = |command: Command| Message::Command(command).to_chunk(8, 0, id).unwrap();
    let pause = |pause: bool| {
        command(Command::Pause {
            transaction_id: 0.0,
            pause,
            position: 0.0,
        })
    };
    player
        .exchange(&[pause(true)], |events| {
            statuses(events, StatusCode::PauseNotify) == 1
        })
        .await;
    for (n, key) in [(2, false), (3, true), (4, false)] {
        publisher
            .send_message(9, 40 * u32::from(n), frame(n, key).into())
            .await
            .unwrap();
    }
    // The frames go through another connection: wait until the hub has shared them.
    let hub = server.router().clone();
    let key = common::key("paused");
    common::eventually("the publisher's frames reached the hub", || {
        hub.stats(&key).is_some_and(|stats| stats.video_frames == 4)
    })
    .await;
    player
        .exchange(&[pause(false)], |events| {
            statuses(events, StatusCode::UnpauseNotify) == 1
        })
        .await;
    // After the unpause: inter frames wait for the next keyframe.
    for (n, key) in [(5, false), (6, true), (7, false)] {
        publisher
            .send_message(9, 40 * u32::from(n), frame(n, key).into())
            .await
            .unwrap();
    }
    player
        .exchange(&[], |events| media(events).len() == 3)
        .await;
    let numbers: Vec<u8> = media(&player.events).iter().map(|(_, _, n)| *n).collect();
    assert_eq!(
        numbers,
        [1, 6, 7],
        "nothing while paused, then from a keyframe"
    );
    publisher.finish().await.unwrap();
}
