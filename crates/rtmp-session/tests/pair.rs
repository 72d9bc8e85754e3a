//! A client session and a server session connected in memory through the chunk codec, on a
//! simulated clock (quinn-proto's `Pair` idea): every byte goes through a real encoder and
//! decoder, delivered in small pieces, and time moves only when the test says so.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtmp_chunk::{ChunkDecoder, ChunkEncoder, DecoderConfig, RawMessage, type_id};
use rtmp_message::{Message, StatusCode, UserControl};
use rtmp_session::{
    ClientEvent, ClientSession, ClientSessionConfig, ServerSession, SessionConfig, SessionEvent,
    chunk_stream,
};

/// One direction of the connection: messages chunked on one side, bytes in flight, and the
/// other side's decoder taking them a few bytes at a time.
struct Wire {
    encoder: ChunkEncoder,
    decoder: ChunkDecoder,
    in_flight: BytesMut,
    received: BytesMut,
    /// Bytes delivered per step, to exercise partial chunks.
    piece: usize,
}

impl Wire {
    fn new(piece: usize) -> Self {
        Self {
            encoder: ChunkEncoder::new(),
            decoder: ChunkDecoder::new(DecoderConfig::default()),
            in_flight: BytesMut::new(),
            received: BytesMut::new(),
            piece,
        }
    }

    fn send(&mut self, message: &RawMessage) {
        self.encoder.encode(message, &mut self.in_flight).unwrap();
    }

    /// Everything in flight, decoded on the other side.
    fn deliver(&mut self) -> Vec<RawMessage> {
        let mut messages = Vec::new();
        while !self.in_flight.is_empty() {
            let n = self.piece.min(self.in_flight.len());
            self.received.extend_from_slice(&self.in_flight.split_to(n));
            while let Some(message) = self.decoder.decode(&mut self.received).unwrap() {
                messages.push(message);
            }
        }
        messages
    }
}

struct Pair {
    now: Instant,
    server: ServerSession,
    client: ClientSession,
    to_server: Wire,
    to_client: Wire,
    server_events: Vec<SessionEvent>,
    client_events: Vec<ClientEvent>,
    /// Everything the client received, decoded.
    client_saw: Vec<Message>,
}

impl Pair {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            now,
            server: ServerSession::new(SessionConfig::default(), now),
            client: ClientSession::new(ClientSessionConfig::default()),
            to_server: Wire::new(7),
            to_client: Wire::new(13),
            server_events: Vec::new(),
            client_events: Vec::new(),
            client_saw: Vec::new(),
        }
    }

    /// Moves messages both ways until both sides are quiet; the server's application accepts
    /// every request.
    fn drive(&mut self) {
        loop {
            let mut moved = false;
            while let Some(message) = self.client.poll_send() {
                self.to_server.send(&message);
            }
            for message in self.to_server.deliver() {
                moved = true;
                self.server.handle_message(message).unwrap();
            }
            while let Some(event) = self.server.poll_event() {
                match &event {
                    SessionEvent::Connect(_) => self.server.accept_connect().unwrap(),
                    SessionEvent::Publish(request) => self.server.accept_publish(request).unwrap(),
                    SessionEvent::Play(request) => self.server.accept_play(request).unwrap(),
                    _ => {}
                }
                self.server_events.push(event);
            }
            while let Some(message) = self.server.poll_send() {
                self.to_client.send(&message);
            }
            for message in self.to_client.deliver() {
                moved = true;
                if let Ok(decoded) = Message::decode(&message) {
                    self.client_saw.push(decoded);
                }
                self.client.handle_message(message).unwrap();
            }
            self.client_events
                .extend(std::iter::from_fn(|| self.client.poll_event()));
            if !moved {
                return;
            }
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.server.handle_timeout(self.now).unwrap();
    }

    fn created_stream(&self) -> u32 {
        self.client_events
            .iter()
            .find_map(|event| match event {
                ClientEvent::StreamCreated { stream_id } => Some(*stream_id),
                _ => None,
            })
            .expect("no stream was created")
    }

    fn statuses(&self) -> Vec<StatusCode> {
        self.client_events
            .iter()
            .filter_map(|event| match event {
                ClientEvent::Status { status, .. } => Some(status.code.clone()),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn publish_through_the_chunk_codec_with_large_chunks_and_pings() {
    let mut pair = Pair::new();
    pair.client.connect("live", "rtmp://memory/live").unwrap();
    pair.drive();
    assert!(matches!(
        pair.client_events[0],
        ClientEvent::Connected { .. }
    ));
    assert!(pair.server.poll_timeout().is_some(), "keep-alive scheduled");

    pair.client.prepare_publish("cam").unwrap();
    pair.client.create_stream().unwrap();
    pair.drive();
    let stream_id = pair.created_stream();
    pair.client.publish(stream_id, "cam").unwrap();
    pair.drive();
    assert!(pair.statuses().contains(&StatusCode::PublishStart));

    // Video larger than either side's chunk size, over several chunks and pieces.
    let frames: Vec<Bytes> = (0..5u8)
        .map(|i| Bytes::from(vec![0x17 + i; 9000]))
        .collect();
    for (i, frame) in frames.iter().enumerate() {
        let message = pair
            .client
            .media(stream_id, type_id::VIDEO, 40 * i as u32, frame.clone());
        pair.to_server.send(&message);
    }
    pair.drive();
    let media: Vec<&RawMessage> = pair
        .server_events
        .iter()
        .filter_map(|event| match event {
            SessionEvent::Media { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(media.len(), frames.len());
    for (i, (message, frame)) in media.iter().zip(&frames).enumerate() {
        assert_eq!(
            (message.timestamp, &message.payload),
            (40 * i as u32, frame)
        );
    }

    // Nothing is timed before its due; at the keep-alive interval the server pings and the
    // client answers.
    let due = pair.server.poll_timeout().unwrap();
    pair.advance(Duration::from_secs(1));
    assert!(
        pair.server.poll_send().is_none(),
        "no ping before it is due"
    );
    pair.advance(due - pair.now);
    pair.drive();
    assert!(
        pair.client_saw
            .iter()
            .any(|message| matches!(message, Message::UserControl(UserControl::PingRequest(_))))
    );
}

#[test]
fn play_gets_its_statuses_then_media_on_its_stream() {
    let mut pair = Pair::new();
    pair.client.connect("live", "rtmp://memory/live").unwrap();
    pair.client.create_stream().unwrap();
    pair.drive();
    let stream_id = pair.created_stream();
    pair.client.play(stream_id, "cam").unwrap();
    pair.drive();
    assert_eq!(
        pair.statuses(),
        [StatusCode::PlayReset, StatusCode::PlayStart],
        "{:?}",
        pair.client_events
    );
    // What a server driver sends a player: media on the session's chunk streams.
    let frame = Bytes::from(vec![0xAF; 3000]);
    let audio = RawMessage::new(
        chunk_stream::AUDIO,
        1234,
        type_id::AUDIO,
        stream_id,
        frame.clone(),
    );
    pair.to_client.send(&audio);
    pair.drive();
    let media: Vec<_> = pair
        .client_events
        .iter()
        .filter_map(|event| match event {
            ClientEvent::Media(message) => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(media.len(), 1);
    assert_eq!((media[0].timestamp, &media[0].payload), (1234, &frame));
}

#[test]
fn both_sides_agree_on_capabilities_and_a_reconnect_request_reaches_a_client_that_follows() {
    let mut pair = Pair::new();
    pair.client.connect("live", "rtmp://memory/live").unwrap();
    pair.drive();
    // The default client announces every codec and capsEx; the default server forwards all.
    let announced = pair.server.client_capabilities().unwrap();
    assert_ne!(announced.caps_ex & rtmp_session::caps_ex::RECONNECT, 0);
    let agreed = pair.client.server_capabilities().unwrap();
    assert!(agreed.has_video("hvc1") && agreed.has_audio("Opus"));
    assert_eq!(Some(agreed), pair.server.negotiated());

    assert!(
        pair.server
            .request_reconnect(Some("rtmp://other:1935/live"), "moving")
            .unwrap()
    );
    pair.drive();
    assert!(pair.client_events.contains(&ClientEvent::ReconnectRequest {
        tc_url: Some("rtmp://other:1935/live".into()),
        description: "moving".into(),
    }));
}

#[test]
fn a_legacy_client_announces_nothing_and_is_not_asked_to_reconnect() {
    let mut pair = Pair::new();
    let mut config = ClientSessionConfig::default();
    config.capabilities = None;
    pair.client = ClientSession::new(config);
    pair.client.connect("live", "rtmp://memory/live").unwrap();
    pair.drive();
    assert_eq!(pair.server.client_capabilities(), None);
    assert_eq!(pair.client.server_capabilities(), None, "a legacy answer");
    assert!(!pair.server.request_reconnect(None, "moving").unwrap());
    assert!(pair.server.poll_send().is_none());
}
