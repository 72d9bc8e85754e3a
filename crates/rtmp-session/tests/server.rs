//! The sans-IO session driven message by message: what it sends and which events it raises,
//! with no socket and no clock but the one passed in.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use std::time::{Duration, Instant};

use rtmp_amf0::Value;
use rtmp_message::{Command, Connect, Data, Message, Play, PublishType, StatusCode, UserControl};
use rtmp_session::{ServerSession, SessionConfig, SessionError, SessionEvent};

fn command(stream_id: u32, command: Command) -> rtmp_chunk::RawMessage {
    Message::Command(command).to_chunk(3, 0, stream_id).unwrap()
}

fn sent(session: &mut ServerSession) -> Vec<Message> {
    std::iter::from_fn(|| session.poll_send())
        .map(|raw| Message::decode(&raw).unwrap())
        .collect()
}

fn connected(fourcc_list: Option<Vec<String>>) -> (ServerSession, Vec<Message>) {
    let mut session = ServerSession::new(SessionConfig::default(), Instant::now());
    let connect = Connect {
        transaction_id: 1.0,
        app: "live?token=t".into(),
        fourcc_list,
        ..Connect::default()
    };
    session
        .handle_message(command(0, Command::Connect(Box::new(connect))))
        .unwrap();
    let Some(SessionEvent::Connect(request)) = session.poll_event() else {
        panic!("no connect event")
    };
    assert_eq!(
        (request.app.as_str(), request.query.as_deref()),
        ("live", Some("token=t"))
    );
    session.accept_connect().unwrap();
    let replies = sent(&mut session);
    (session, replies)
}

#[test]
fn connect_gets_window_bandwidth_chunk_size_and_success() {
    let (_, replies) = connected(None);
    assert_eq!(replies[0], Message::WindowAckSize(2_500_000));
    assert!(matches!(
        replies[1],
        Message::SetPeerBandwidth {
            window: 2_500_000,
            ..
        }
    ));
    assert_eq!(replies[2], Message::SetChunkSize(1024));
    let Message::Command(Command::Result(result)) = &replies[3] else {
        panic!()
    };
    assert_eq!(result.status().unwrap().code, StatusCode::ConnectSuccess);
    assert_eq!(
        result.command_object.get("fourCcList"),
        None,
        "a legacy client gets no FourCC list"
    );
}

#[test]
fn enhanced_connect_gets_what_both_sides_list() {
    let (session, replies) = connected(Some(vec!["hvc1".into(), "xyz9".into()]));
    assert!(session.is_enhanced());
    let Message::Command(Command::Result(result)) = &replies[3] else {
        panic!()
    };
    let list = result
        .command_object
        .get("fourCcList")
        .and_then(Value::as_array)
        .unwrap();
    // The server forwards any codec: the answer is the client's list.
    assert!(list.contains(&Value::from("hvc1")) && list.contains(&Value::from("xyz9")));
    assert!(
        !list.contains(&Value::from("av01")),
        "not announced by the client"
    );
    let negotiated = session.negotiated().unwrap();
    assert!(negotiated.has_video("hvc1") && !negotiated.has_video("av01"));
}

/// A v2 connect, its properties written from the specification's text: info maps with
/// capability flags, and capsEx.
#[test]
fn v2_info_maps_and_caps_ex_are_answered_with_the_intersection() {
    use rtmp_session::{Capabilities, caps_ex, fourcc_flags};
    let mut object = rtmp_amf0::Object::new();
    object.insert("app", "live");
    let mut video = rtmp_amf0::Object::new();
    video.insert("avc1", f64::from(fourcc_flags::CAN_DECODE));
    video.insert(
        "hvc1",
        f64::from(fourcc_flags::CAN_DECODE | fourcc_flags::CAN_ENCODE),
    );
    object.insert("videoFourCcInfoMap", video);
    let mut audio = rtmp_amf0::Object::new();
    audio.insert("mp4a", f64::from(fourcc_flags::CAN_DECODE));
    object.insert("audioFourCcInfoMap", audio);
    object.insert(
        "capsEx",
        f64::from(caps_ex::RECONNECT | caps_ex::MULTITRACK | 0x80),
    );
    let connect = Connect {
        transaction_id: 1.0,
        ..Connect::from_command_object(&object)
    };
    let mut config = SessionConfig::default();
    config.capabilities = Capabilities {
        video: vec![("avc1".into(), fourcc_flags::CAN_FORWARD)],
        audio: vec![("*".into(), fourcc_flags::CAN_FORWARD)],
        caps_ex: caps_ex::RECONNECT | caps_ex::MODEX,
    };
    let mut session = ServerSession::new(config, Instant::now());
    session
        .handle_message(command(0, Command::Connect(Box::new(connect))))
        .unwrap();
    let announced = session.client_capabilities().unwrap().clone();
    assert_eq!(announced.video.len(), 2);
    session.accept_connect().unwrap();
    let replies = sent(&mut session);
    let Message::Command(Command::Result(result)) = &replies[3] else {
        panic!()
    };
    let object = result.command_object.as_object().unwrap();
    let answer = Capabilities::from_object(object).unwrap();
    assert_eq!(
        answer.video,
        [("avc1".to_owned(), fourcc_flags::CAN_FORWARD)]
    );
    assert_eq!(
        answer.audio,
        [("mp4a".to_owned(), fourcc_flags::CAN_FORWARD)]
    );
    assert_eq!(answer.caps_ex, caps_ex::RECONNECT, "only what both set");
    assert_eq!(session.negotiated(), Some(&answer));
}

#[test]
fn publish_then_media_then_delete() {
    let (mut session, _) = connected(None);
    session
        .handle_message(command(
            0,
            Command::CreateStream {
                transaction_id: 2.0,
            },
        ))
        .unwrap();
    assert_eq!(
        sent(&mut session),
        [Message::Command(Command::create_stream_result(2.0, 1))]
    );
    let publish = Command::Publish {
        transaction_id: 3.0,
        name: "cam?key=k".into(),
        publish_type: PublishType::Live,
    };
    session.handle_message(command(1, publish)).unwrap();
    let Some(SessionEvent::Publish(request)) = session.poll_event() else {
        panic!()
    };
    assert_eq!(
        (request.key.to_string(), request.query.as_deref()),
        ("live/cam".to_owned(), Some("key=k"))
    );
    // Media before the publish is accepted is not forwarded.
    let video = rtmp_chunk::RawMessage::new(7, 40, 9, 1, vec![0x17, 1, 0, 0, 0]);
    session.handle_message(video.clone()).unwrap();
    assert_eq!(session.poll_event(), None);
    session.accept_publish(&request).unwrap();
    let replies = sent(&mut session);
    assert!(replies.iter().any(|m| matches!(m, Message::Command(Command::OnStatus { status, .. }) if status.code == StatusCode::PublishStart)));
    session.handle_message(video.clone()).unwrap();
    assert_eq!(
        session.poll_event(),
        Some(SessionEvent::Media {
            stream_id: 1,
            message: video
        })
    );
    // @setDataFrame reaches players as onMetaData.
    let metadata = Message::Data(Data::set_data_frame(Value::object([("width", 320.0)])))
        .to_chunk(4, 0, 1)
        .unwrap();
    session.handle_message(metadata).unwrap();
    let Some(SessionEvent::Media { message, .. }) = session.poll_event() else {
        panic!()
    };
    let Message::Data(data) = Message::decode(&message).unwrap() else {
        panic!()
    };
    assert_eq!(data.name, "onMetaData");
    session
        .handle_message(command(
            0,
            Command::DeleteStream {
                transaction_id: 4.0,
                stream_id: 1.0,
            },
        ))
        .unwrap();
    assert_eq!(
        session.poll_event(),
        Some(SessionEvent::StreamClosed { stream_id: 1 })
    );
}

#[test]
fn play_is_answered_in_order() {
    let (mut session, _) = connected(None);
    let play = Play::new("cam");
    session
        .handle_message(command(1, Command::Play(play)))
        .unwrap();
    let Some(SessionEvent::Play(request)) = session.poll_event() else {
        panic!()
    };
    session.accept_play(&request).unwrap();
    let replies = sent(&mut session);
    assert_eq!(
        replies[0],
        Message::UserControl(UserControl::StreamBegin(1))
    );
    let codes: Vec<_> = replies[1..3]
        .iter()
        .map(|m| match m {
            Message::Command(Command::OnStatus { status, .. }) => status.code.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(codes, [StatusCode::PlayReset, StatusCode::PlayStart]);
    assert!(matches!(&replies[3], Message::Data(data) if data.name == "|RtmpSampleAccess"));
}

#[test]
fn pings_and_commands_before_connect() {
    let start = Instant::now();
    let mut session = ServerSession::new(SessionConfig::default(), start);
    let error = session
        .handle_message(command(
            0,
            Command::CreateStream {
                transaction_id: 1.0,
            },
        ))
        .unwrap_err();
    assert!(matches!(error, SessionError::NotConnected(name) if name == "createStream"));
    let (mut session, _) = connected(None);
    session
        .handle_timeout(Instant::now() + Duration::from_secs(31))
        .unwrap();
    assert!(matches!(
        sent(&mut session)[..],
        [Message::UserControl(UserControl::PingRequest(_))]
    ));
    let ping = Message::UserControl(UserControl::PingRequest(7))
        .to_chunk(2, 0, 0)
        .unwrap();
    session.handle_message(ping).unwrap();
    assert_eq!(
        sent(&mut session),
        [Message::UserControl(UserControl::PingResponse(7))]
    );
}

#[test]
fn message_streams_are_bounded_however_they_are_opened() {
    let (mut session, _) = connected(None);
    for transaction in 0..8 {
        let create = Command::CreateStream {
            transaction_id: f64::from(transaction),
        };
        session.handle_message(command(0, create)).unwrap();
    }
    assert_eq!(session.stream_count(), 8);
    // A ninth createStream is answered with _error; the connection stays.
    let create = Command::CreateStream {
        transaction_id: 9.0,
    };
    session.handle_message(command(0, create)).unwrap();
    let replies = sent(&mut session);
    assert!(matches!(
        replies.last(),
        Some(Message::Command(Command::Error(_)))
    ));
    // Publishing on a stream id that was never created counts against the same limit.
    let publish = Command::Publish {
        transaction_id: 0.0,
        name: "cam".into(),
        publish_type: PublishType::Live,
    };
    let error = session.handle_message(command(1000, publish)).unwrap_err();
    assert!(matches!(error, SessionError::TooManyStreams(8)), "{error}");
    assert_eq!(session.stream_count(), 8);
    // A deleted stream makes room for a new one.
    let delete = Command::DeleteStream {
        transaction_id: 0.0,
        stream_id: 3.0,
    };
    session.handle_message(command(0, delete)).unwrap();
    let create = Command::CreateStream {
        transaction_id: 10.0,
    };
    session.handle_message(command(0, create)).unwrap();
    assert_eq!(
        sent(&mut session).last(),
        Some(&Message::Command(Command::create_stream_result(10.0, 9)))
    );
}

/// Found by the server_session fuzz target: accepting a publish after the client deleted its
/// stream re-created the stream past the limit.
#[test]
fn accepting_a_request_for_a_deleted_stream_creates_nothing() {
    let (mut session, _) = connected(None);
    let publish = Command::Publish {
        transaction_id: 0.0,
        name: "cam".into(),
        publish_type: PublishType::Live,
    };
    session.handle_message(command(1, publish)).unwrap();
    let Some(SessionEvent::Publish(request)) = session.poll_event() else {
        panic!("no publish event")
    };
    let delete = Command::DeleteStream {
        transaction_id: 0.0,
        stream_id: 1.0,
    };
    session.handle_message(command(0, delete)).unwrap();
    for transaction in 0..8 {
        let create = Command::CreateStream {
            transaction_id: f64::from(transaction),
        };
        session.handle_message(command(0, create)).unwrap();
    }
    session.accept_publish(&request).unwrap();
    session
        .reject_play(request.stream_id, rtmp_message::Status::play_failed("x"))
        .unwrap();
    assert_eq!(session.stream_count(), 8);
}

#[test]
fn release_stream_and_fc_publish_get_their_answers() {
    let (mut session, _) = connected(None);
    let release = Command::ReleaseStream {
        transaction_id: 2.0,
        name: "cam?key=k".into(),
    };
    let fc_publish = Command::FcPublish {
        transaction_id: 3.0,
        name: "cam?key=k".into(),
    };
    session.handle_message(command(0, release)).unwrap();
    session.handle_message(command(0, fc_publish)).unwrap();
    let replies = sent(&mut session);
    let results: Vec<f64> = replies
        .iter()
        .filter_map(|reply| match reply {
            Message::Command(Command::Result(result)) => Some(result.transaction_id),
            _ => None,
        })
        .collect();
    assert_eq!(results, [2.0, 3.0]);
    let on_fc_publish = replies.iter().find_map(|reply| match reply {
        Message::Command(Command::Call {
            name, arguments, ..
        }) if name == "onFCPublish" => Some(arguments),
        _ => None,
    });
    let status = rtmp_message::Status::from_value(&on_fc_publish.expect("no onFCPublish")[0]);
    assert_eq!(status.unwrap().code, StatusCode::PublishStart);
}

/// An FLV tag as an aggregate message carries it: header, data, back pointer (11 + length).
fn tag(tag_type: u8, timestamp: u32, data: &[u8]) -> Vec<u8> {
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

#[test]
fn a_publishers_aggregates_become_its_messages_with_their_timestamps() {
    let (mut session, _) = connected(None);
    session
        .handle_message(command(
            0,
            Command::CreateStream {
                transaction_id: 2.0,
            },
        ))
        .unwrap();
    let publish = Command::Publish {
        transaction_id: 3.0,
        name: "cam".into(),
        publish_type: PublishType::Live,
    };
    session.handle_message(command(1, publish)).unwrap();
    let Some(SessionEvent::Publish(request)) = session.poll_event() else {
        panic!("no publish event")
    };
    session.accept_publish(&request).unwrap();
    // Built from the spec text: the tags' own times are 1000 and 1040; the aggregate's 5000.
    let mut payload = tag(9, 1000, &[0x17, 1, 0, 0, 0, 0xAA]);
    payload.extend(tag(8, 1040, &[0xAF, 1, 0xBB]));
    let aggregate = rtmp_chunk::RawMessage::new(4, 5000, 22, 1, payload);
    session.handle_message(aggregate).unwrap();
    let media: Vec<(u8, u32, Vec<u8>)> = std::iter::from_fn(|| session.poll_event())
        .filter_map(|event| match event {
            SessionEvent::Media { message, .. } => {
                Some((message.type_id, message.timestamp, message.payload.to_vec()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        media,
        [
            (9, 5000, vec![0x17, 1, 0, 0, 0, 0xAA]),
            (8, 5040, vec![0xAF, 1, 0xBB])
        ]
    );
    // A broken aggregate is an error, not a panic.
    let broken = rtmp_chunk::RawMessage::new(4, 0, 22, 1, vec![9, 0, 0, 200, 0, 0]);
    assert!(session.handle_message(broken).is_err());
    // So is one of empty tags by the thousand: at most MAX_AGGREGATE_PARTS events come of it.
    let flood: Vec<u8> = (0..5000).flat_map(|_| tag(8, 0, &[])).collect();
    let flood = rtmp_chunk::RawMessage::new(4, 0, 22, 1, flood);
    assert!(matches!(
        session.handle_message(flood),
        Err(SessionError::AggregateTooLarge)
    ));
    let events = std::iter::from_fn(|| session.poll_event()).count();
    assert!(
        events <= rtmp_session::MAX_AGGREGATE_PARTS,
        "{events} events"
    );
}

#[test]
fn command_and_data_messages_past_the_amf_limit_close_the_connection() {
    let mut config = SessionConfig::default();
    config.max_amf_message_size = 4096;
    let mut session = ServerSession::new(config, Instant::now());
    // A data message and a command of 4097 bytes: refused before any decoding.
    for type_id in [18, 20, 15, 17] {
        let message = rtmp_chunk::RawMessage::new(3, 0, type_id, 0, vec![0x05; 4097]);
        assert!(matches!(
            session.handle_message(message),
            Err(SessionError::AmfTooLarge {
                size: 4097,
                limit: 4096
            })
        ));
    }
    // Media of that size is not its concern.
    let video = rtmp_chunk::RawMessage::new(6, 0, 9, 1, vec![0x17; 4097]);
    assert!(session.handle_message(video).is_ok());
}

#[test]
fn a_players_pause_seek_and_receive_calls_are_answered_and_raised() {
    use rtmp_session::PlayControl;
    let (mut session, _) = connected(None);
    let create = Command::CreateStream {
        transaction_id: 2.0,
    };
    session.handle_message(command(0, create)).unwrap();
    session
        .handle_message(command(1, Command::Play(Play::new("cam"))))
        .unwrap();
    let Some(SessionEvent::Play(request)) = session.poll_event() else {
        panic!("no play event")
    };
    session.accept_play(&request).unwrap();
    sent(&mut session);
    let calls = [
        (
            Command::Pause {
                transaction_id: 0.0,
                pause: true,
                position: 1000.0,
            },
            PlayControl::Pause(true),
            vec![StatusCode::PauseNotify],
        ),
        (
            Command::Pause {
                transaction_id: 0.0,
                pause: false,
                position: 1000.0,
            },
            PlayControl::Pause(false),
            vec![StatusCode::UnpauseNotify],
        ),
        (
            Command::Seek {
                transaction_id: 0.0,
                position: 0.0,
            },
            PlayControl::Seek(0.0),
            vec![StatusCode::SeekNotify, StatusCode::PlayStart],
        ),
        (
            Command::ReceiveVideo {
                transaction_id: 0.0,
                enabled: false,
            },
            PlayControl::ReceiveVideo(false),
            vec![],
        ),
    ];
    for (call, control, answers) in calls {
        session.handle_message(command(1, call)).unwrap();
        let codes: Vec<StatusCode> = sent(&mut session)
            .into_iter()
            .filter_map(|message| match message {
                Message::Command(Command::OnStatus { status, .. }) => Some(status.code),
                _ => None,
            })
            .collect();
        assert_eq!(codes, answers);
        assert_eq!(
            session.poll_event(),
            Some(SessionEvent::PlayControl {
                stream_id: 1,
                control
            })
        );
    }
    // On a stream that does not play, nothing happens.
    let pause = Command::Pause {
        transaction_id: 0.0,
        pause: true,
        position: 0.0,
    };
    session.handle_message(command(5, pause)).unwrap();
    assert!(sent(&mut session).is_empty());
    assert_eq!(session.poll_event(), None);
}

/// A Flash-era client: connect as an AMF3 command message (type 17) whose command object is
/// switched to AMF3 (the AVM+ marker), asking objectEncoding 3. Bytes written from the AMF3
/// text. The server reads it and answers as AMF3 command messages, with objectEncoding 3.
#[test]
fn an_amf3_client_is_read_and_answered_in_kind() {
    let mut payload = vec![0x00]; // type 17's format byte
    payload.extend_from_slice(&[0x02, 0x00, 0x07]);
    payload.extend_from_slice(b"connect");
    payload.push(0x00);
    payload.extend_from_slice(&1.0f64.to_be_bytes());
    // 0x11: AMF3 follows. An anonymous dynamic object (0x0B, class "" 0x01) with
    // app = "live" and objectEncoding = 3 (integer), then the empty name that ends it.
    payload.extend_from_slice(&[0x11, 0x0A, 0x0B, 0x01]);
    payload.extend_from_slice(&[0x07]);
    payload.extend_from_slice(b"app");
    payload.extend_from_slice(&[0x06, 0x09]);
    payload.extend_from_slice(b"live");
    payload.push(0x1D);
    payload.extend_from_slice(b"objectEncoding");
    payload.extend_from_slice(&[0x04, 0x03, 0x01]);
    let raw = rtmp_chunk::RawMessage::new(3, 0, 17, 0, bytes::Bytes::from(payload));
    let mut session = ServerSession::new(SessionConfig::default(), Instant::now());
    session.handle_message(raw).unwrap();
    let Some(SessionEvent::Connect(request)) = session.poll_event() else {
        panic!("no connect event")
    };
    assert_eq!(request.app, "live");
    assert_eq!(request.command.object_encoding, Some(3.0));
    session.accept_connect().unwrap();
    let replies: Vec<rtmp_chunk::RawMessage> = std::iter::from_fn(|| session.poll_send()).collect();
    let result = replies
        .iter()
        .find(|raw| raw.type_id == 17)
        .expect("a type 17 answer");
    let Message::CommandAmf3(Command::Result(result)) = Message::decode(result).unwrap() else {
        panic!("not a _result")
    };
    let status = result.status().unwrap();
    assert_eq!(
        status.extra.get("objectEncoding"),
        Some(&Value::Number(3.0))
    );
    assert!(
        replies.iter().all(|raw| raw.type_id != 20),
        "nothing in AMF0 commands"
    );
}

/// The onStatus codes and descriptions among `replies`.
fn statuses(replies: &[Message]) -> Vec<(StatusCode, String)> {
    replies
        .iter()
        .filter_map(|message| match message {
            Message::Command(Command::OnStatus { status, .. }) => {
                Some((status.code.clone(), status.description.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn names_past_their_limits_are_refused_without_being_repeated() {
    let (mut session, _) = connected(None);
    let long = "n".repeat(257);
    let play = Play::new(&long);
    session
        .handle_message(command(1, Command::Play(play)))
        .unwrap();
    assert_eq!(session.poll_event(), None, "the application is not asked");
    let refused = statuses(&sent(&mut session));
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, StatusCode::PlayFailed);
    assert!(!refused[0].1.contains(&long[..64]), "{}", refused[0].1);
    // A name at the limit with a long query: refused too.
    let query = format!("{}?token={}", "n".repeat(256), "t".repeat(1025));
    let publish = Command::Publish {
        transaction_id: 3.0,
        name: query,
        publish_type: PublishType::Live,
    };
    session.handle_message(command(1, publish)).unwrap();
    assert_eq!(session.poll_event(), None);
    let refused = statuses(&sent(&mut session));
    assert_eq!(refused[0].0, StatusCode::PublishBadName);
    assert!(refused[0].1.len() < 100);
    // FCPublish of a long name gets its empty result and no echo of the name.
    let fc = Command::FcPublish {
        transaction_id: 4.0,
        name: long.clone(),
    };
    session.handle_message(command(0, fc)).unwrap();
    let replies = sent(&mut session);
    assert!(
        replies
            .iter()
            .all(|reply| !format!("{reply:?}").contains(&long)),
        "{replies:?}"
    );
    // At the limits, a name is taken.
    let play = Play::new(format!("{}?{}", "n".repeat(256), "q".repeat(1024)));
    session
        .handle_message(command(1, Command::Play(play)))
        .unwrap();
    assert!(matches!(session.poll_event(), Some(SessionEvent::Play(_))));
}

#[test]
fn a_long_application_name_or_a_large_connect_is_refused() {
    for connect in [
        Connect {
            transaction_id: 1.0,
            app: "a".repeat(129),
            ..Connect::default()
        },
        Connect {
            transaction_id: 1.0,
            app: format!("live?{}", "q".repeat(1025)),
            ..Connect::default()
        },
        Connect {
            transaction_id: 1.0,
            app: "live".into(),
            page_url: Some("p".repeat(20 << 10)),
            ..Connect::default()
        },
    ] {
        let mut session = ServerSession::new(SessionConfig::default(), Instant::now());
        session
            .handle_message(command(0, Command::Connect(Box::new(connect))))
            .unwrap();
        let Some(SessionEvent::ConnectRefused(reason)) = session.poll_event() else {
            panic!("not refused")
        };
        assert!(reason.len() < 100);
        let replies = sent(&mut session);
        let Some(Message::Command(Command::Error(error))) = replies.last() else {
            panic!("{replies:?}")
        };
        assert_eq!(error.status().unwrap().code, StatusCode::ConnectRejected);
    }
}

#[test]
fn names_with_control_characters_are_refused() {
    let (mut session, _) = connected(None);
    let forged = "x\n2026-12-08T02:00:00Z  WARN server: forged";
    session
        .handle_message(command(1, Command::Play(Play::new(forged))))
        .unwrap();
    assert_eq!(session.poll_event(), None, "the application is not asked");
    let refused = statuses(&sent(&mut session));
    assert_eq!(refused[0].0, StatusCode::PlayFailed);
    assert!(!refused[0].1.contains('\n'));
    let publish = Command::Publish {
        transaction_id: 3.0,
        name: "cam?token=\u{1b}[31m".into(),
        publish_type: PublishType::Live,
    };
    session.handle_message(command(1, publish)).unwrap();
    assert_eq!(session.poll_event(), None);
    let mut session = ServerSession::new(SessionConfig::default(), Instant::now());
    let connect = Connect {
        transaction_id: 1.0,
        app: "li\rve".into(),
        ..Connect::default()
    };
    session
        .handle_message(command(0, Command::Connect(Box::new(connect))))
        .unwrap();
    assert!(matches!(
        session.poll_event(),
        Some(SessionEvent::ConnectRefused(_))
    ));
}
