//! Every message of the recorded ffmpeg and nginx-rtmp sessions (crates/rtmp-chunk/tests/
//! fixtures/README.md says how they were made) decodes to the expected typed message, and
//! re-encodes to the peer's exact bytes, except connect (whose properties we write in our own
//! order) and play (whose optional arguments we always write).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use bytes::BytesMut;
use rtmp_amf0::Value;
use rtmp_chunk::{ChunkDecoder, DecoderConfig};
use rtmp_message::{Command, Data, LimitType, Message, Play, PublishType, StatusCode, UserControl};

const HANDSHAKE: usize = 1 + 2 * 1536;

/// The typed messages of a recording, after checking that each re-encodes to its bytes.
fn typed(recording: &[u8]) -> Vec<Message> {
    let mut decoder = ChunkDecoder::new(DecoderConfig::default());
    let mut src = BytesMut::from(&recording[HANDSHAKE..]);
    let mut messages = Vec::new();
    while let Some(raw) = decoder.decode(&mut src).unwrap() {
        let message = Message::decode(&raw).unwrap();
        if !matches!(
            message,
            Message::Command(Command::Connect(_) | Command::Play(_))
        ) {
            assert_eq!(message.encode().unwrap(), raw.payload, "{message:?}");
        }
        assert_eq!(message.type_id(), raw.type_id);
        messages.push(message);
    }
    messages
}

fn commands(messages: &[Message]) -> Vec<&Command> {
    messages
        .iter()
        .filter_map(|message| match message {
            Message::Command(command) => Some(command),
            _ => None,
        })
        .collect()
}

#[test]
fn ffmpeg_publisher() {
    let messages = typed(include_bytes!("fixtures/ffmpeg-publish.c2s.bin"));
    let commands = commands(&messages);
    let Command::Connect(connect) = commands[0] else {
        panic!("first command is {:?}", commands[0])
    };
    assert_eq!(connect.app, "live");
    assert_eq!(
        connect.flash_ver.as_deref(),
        Some("FMLE/3.0 (compatible; Lavf59.27.100)")
    );
    assert_eq!(
        connect.tc_url.as_deref(),
        Some("rtmp://127.0.0.1:19401/live")
    );
    assert_eq!(connect.extra.get("type"), Some(&Value::from("nonprivate")));
    assert!(!connect.is_enhanced());
    let name = || "test".to_owned();
    assert_eq!(
        &commands[1..],
        [
            &Command::ReleaseStream {
                transaction_id: 2.0,
                name: name()
            },
            &Command::FcPublish {
                transaction_id: 3.0,
                name: name()
            },
            &Command::CreateStream {
                transaction_id: 4.0
            },
            &Command::Publish {
                transaction_id: 5.0,
                name: name(),
                publish_type: PublishType::Live
            },
            &Command::FcUnpublish {
                transaction_id: 6.0,
                name: name()
            },
            &Command::DeleteStream {
                transaction_id: 7.0,
                stream_id: 1.0
            },
        ]
    );
    assert_eq!(messages[1], Message::SetChunkSize(4096));
    let data: Vec<&Data> = messages
        .iter()
        .filter_map(|m| {
            if let Message::Data(data) = m {
                Some(data)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(data.len(), 1);
    let metadata = data[0].metadata().unwrap();
    assert_eq!(metadata.get("width").and_then(Value::as_f64), Some(320.0));
    let for_players = data[0].clone().without_set_data_frame();
    assert_eq!(for_players.name, "onMetaData");
    assert_eq!(for_players.metadata(), Some(metadata));
    assert_eq!(
        messages
            .iter()
            .filter(|m| matches!(m, Message::Video(_)))
            .count(),
        77
    );
    assert_eq!(
        messages
            .iter()
            .filter(|m| matches!(m, Message::Audio(_)))
            .count(),
        132
    );
}

#[test]
fn nginx_answers_a_publisher() {
    let messages = typed(include_bytes!("fixtures/ffmpeg-publish.s2c.bin"));
    assert_eq!(messages[0], Message::WindowAckSize(5_000_000));
    assert_eq!(
        messages[1],
        Message::SetPeerBandwidth {
            window: 5_000_000,
            limit: LimitType::Dynamic
        }
    );
    let commands = commands(&messages);
    let Command::Result(connected) = commands[0] else {
        panic!()
    };
    assert_eq!(connected.status().unwrap().code, StatusCode::ConnectSuccess);
    let Command::Result(created) = commands[1] else {
        panic!()
    };
    assert_eq!(created.number(), Some(1.0));
    let codes: Vec<StatusCode> = commands[2..]
        .iter()
        .map(|command| match command {
            Command::OnStatus { status, .. } => status.code.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        codes,
        [StatusCode::PublishStart, StatusCode::UnpublishSuccess]
    );
}

#[test]
fn ffmpeg_player_and_nginx_serving_it() {
    let messages = typed(include_bytes!("fixtures/ffmpeg-play.c2s.bin"));
    let sent = commands(&messages);
    let Command::Connect(connect) = sent[0] else {
        panic!()
    };
    assert_eq!(connect.flash_ver.as_deref(), Some("LNX 9,0,124,2"));
    assert_eq!(connect.audio_codecs, Some(4071.0));
    assert_eq!(connect.extra.get("fpad"), Some(&Value::Boolean(false)));
    assert!(sent.contains(&&Command::GetStreamLength {
        transaction_id: 3.0,
        name: "test".into()
    }));
    assert!(sent.contains(&&Command::Play(Play {
        transaction_id: 4.0,
        name: "test".into(),
        start: -2000.0,
        duration: -1.0,
        reset: true,
    })));
    assert!(
        messages.contains(&Message::UserControl(UserControl::SetBufferLength {
            stream_id: 1,
            millis: 3000,
        }))
    );

    let served = typed(include_bytes!("fixtures/ffmpeg-play.s2c.bin"));
    assert!(served.contains(&Message::UserControl(UserControl::StreamBegin(1))));
    let served_commands = commands(&served);
    assert!(served_commands.iter().any(|command| matches!(command,
        Command::OnStatus { status, .. } if status.code == StatusCode::PlayStart)));
    let names: Vec<&str> = served
        .iter()
        .filter_map(|m| {
            if let Message::Data(data) = m {
                Some(data.name.as_str())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(names, ["|RtmpSampleAccess", "onMetaData"]);
}
