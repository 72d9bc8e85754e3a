//! Where decoding is lenient, where it is strict, and the typed errors of bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use bytes::Bytes;
use rtmp_amf0::Value;
use rtmp_message::{
    Command, DecodeErrorKind, Message, Play, PublishType, Status, StatusCode, split_aggregate,
};

fn command(values: Vec<Value>) -> Result<Command, rtmp_message::DecodeError> {
    Command::from_values(&values, 20)
}

fn body(values: &[Value]) -> Bytes {
    let mut out = Vec::new();
    rtmp_amf0::encode_all(values, &mut out).unwrap();
    Bytes::from(out)
}

#[test]
fn missing_optional_arguments_take_defaults() {
    let play = command(vec![
        "play".into(),
        0.0.into(),
        Value::Null,
        "cam?token=x".into(),
    ])
    .unwrap();
    assert_eq!(
        play,
        Command::Play(Play {
            transaction_id: 0.0,
            name: "cam?token=x".into(),
            start: -2.0,
            duration: -1.0,
            reset: true,
        })
    );
    let publish = command(vec![
        "publish".into(),
        5.0.into(),
        Value::Null,
        "cam".into(),
    ])
    .unwrap();
    assert!(matches!(
        publish,
        Command::Publish {
            publish_type: PublishType::Live,
            ..
        }
    ));
    // No transaction id at all.
    let create = command(vec!["createStream".into()]).unwrap();
    assert_eq!(
        create,
        Command::CreateStream {
            transaction_id: 0.0
        }
    );
}

#[test]
fn numbers_and_booleans_sent_as_strings_are_read() {
    let play = command(vec![
        "play".into(),
        "3".into(),
        Value::Null,
        "cam".into(),
        "-1000".into(),
        "5".into(),
        0.0.into(),
    ])
    .unwrap();
    let Command::Play(play) = play else { panic!() };
    assert_eq!(
        (play.transaction_id, play.start, play.duration, play.reset),
        (3.0, -1000.0, 5.0, false)
    );
    let pause = command(vec![
        "pause".into(),
        0.0.into(),
        Value::Null,
        "true".into(),
        "1500".into(),
    ])
    .unwrap();
    assert_eq!(
        pause,
        Command::Pause {
            transaction_id: 0.0,
            pause: true,
            position: 1500.0
        }
    );
}

#[test]
fn required_arguments_are_strict() {
    for (values, field) in [
        (
            vec!["publish".into(), 1.0.into(), Value::Null],
            "publish name",
        ),
        (
            vec!["play".into(), 1.0.into(), Value::Null, Value::Null],
            "play name",
        ),
        (
            vec!["deleteStream".into(), 1.0.into(), Value::Null],
            "deleteStream stream id",
        ),
        (
            vec!["seek".into(), 1.0.into(), Value::Null],
            "seek position",
        ),
    ] {
        let error = command(values).unwrap_err();
        assert_eq!(
            (error.type_id, error.field, error.kind),
            (20, field, DecodeErrorKind::Missing)
        );
    }
    let error = command(vec![
        "deleteStream".into(),
        1.0.into(),
        Value::Null,
        "one".into(),
    ])
    .unwrap_err();
    assert_eq!(error.kind, DecodeErrorKind::WrongType("a number"));
    let error = command(vec![
        "onStatus".into(),
        0.0.into(),
        Value::Null,
        "text".into(),
    ])
    .unwrap_err();
    assert_eq!(error.field, "onStatus information object");
    let error = command(vec![Value::Null]).unwrap_err();
    assert_eq!(error.field, "command name");
    let error = command(vec!["connect".into(), 1.0.into(), "live".into()]).unwrap_err();
    assert_eq!(error.field, "connect command object");
}

#[test]
fn connect_without_command_object_has_an_empty_app() {
    let Command::Connect(connect) = command(vec!["connect".into(), 1.0.into()]).unwrap() else {
        panic!()
    };
    assert_eq!(connect.app, "");
}

#[test]
fn enhanced_connect_properties_are_typed() {
    let object = Value::object([
        ("app", Value::from("live")),
        (
            "fourCcList",
            Value::StrictArray(vec!["av01".into(), "hvc1".into()]),
        ),
        ("videoFourCcInfoMap", Value::object([("hvc1", 3.0)])),
        ("capsEx", Value::Number(2.0)),
        ("custom", Value::Boolean(true)),
    ]);
    let Command::Connect(connect) = command(vec!["connect".into(), 1.0.into(), object]).unwrap()
    else {
        panic!()
    };
    assert!(connect.is_enhanced());
    assert_eq!(
        connect.fourcc_list.as_deref(),
        Some(&["av01".to_owned(), "hvc1".to_owned()][..])
    );
    assert_eq!(
        connect.video_fourcc_info_map,
        Some(vec![("hvc1".to_owned(), 3)])
    );
    assert_eq!(connect.caps_ex, Some(2));
    assert_eq!(connect.extra.get("custom"), Some(&Value::Boolean(true)));
}

#[test]
fn standard_responses() {
    let Command::Result(result) = Command::connect_success(1.0, 0.0) else {
        panic!()
    };
    let status = result.status().unwrap();
    assert_eq!(status.code, StatusCode::ConnectSuccess);
    assert_eq!(
        status.extra.get("objectEncoding"),
        Some(&Value::Number(0.0))
    );
    let Command::Error(error) = Command::connect_rejected(1.0, "bad token") else {
        panic!()
    };
    assert_eq!(error.status().unwrap().description, "bad token");
    assert_eq!(error.status().unwrap().level.as_str(), "error");
    assert_eq!(
        Command::create_stream_result(4.0, 1),
        Command::Result(rtmp_message::Response {
            transaction_id: 4.0,
            command_object: Value::Null,
            arguments: vec![Value::Number(1.0)],
        })
    );
    for (status, code, level) in [
        (
            Status::publish_bad_name("cam"),
            "NetStream.Publish.BadName",
            "error",
        ),
        (Status::play_reset("cam"), "NetStream.Play.Reset", "status"),
        (Status::play_start("cam"), "NetStream.Play.Start", "status"),
        (
            Status::play_stream_not_found("cam"),
            "NetStream.Play.StreamNotFound",
            "error",
        ),
        (
            Status::unpublish_notify("cam"),
            "NetStream.Play.UnpublishNotify",
            "status",
        ),
        (
            Status::play_failed("cannot decode hvc1"),
            "NetStream.Play.Failed",
            "error",
        ),
    ] {
        assert_eq!((status.code.as_str(), status.level.as_str()), (code, level));
        assert_eq!(Status::from_value(&status.to_value()), Some(status));
    }
}

#[test]
fn bad_bodies_give_typed_errors() {
    let error = Message::decode_body(1, &Bytes::from_static(&[0, 0])).unwrap_err();
    assert_eq!((error.type_id, error.field), (1, "chunk size"));
    assert_eq!(
        error.kind,
        DecodeErrorKind::TooShort {
            needed: 4,
            length: 2
        }
    );
    let error = Message::decode_body(6, &Bytes::from_static(&[0, 0, 0, 1])).unwrap_err();
    assert_eq!(error.field, "limit type");
    let error = Message::decode_body(4, &Bytes::from_static(&[0, 3, 0, 0, 0, 1])).unwrap_err();
    assert_eq!(error.field, "SetBufferLength length");
    let error = Message::decode_body(17, &Bytes::from_static(&[3, 2, 0, 0])).unwrap_err();
    assert_eq!(error.kind, DecodeErrorKind::Amf3Format(3));
    let error = Message::decode_body(20, &Bytes::from_static(&[0x02, 0, 9, b'x'])).unwrap_err();
    assert!(matches!(error.kind, DecodeErrorKind::Amf0(_)));
    let error = Message::decode_body(18, &body(&[1.0.into()])).unwrap_err();
    assert_eq!(error.field, "data name");
}

#[test]
fn amf3_command_has_a_format_byte() {
    let mut payload = vec![0u8];
    payload.extend_from_slice(&body(&["createStream".into(), 2.0.into(), Value::Null]));
    let message = Message::decode_body(17, &Bytes::from(payload.clone())).unwrap();
    assert_eq!(
        message,
        Message::CommandAmf3(Command::CreateStream {
            transaction_id: 2.0
        })
    );
    assert_eq!(message.encode().unwrap(), payload);
}

#[test]
fn aggregates_split_with_shifted_timestamps() {
    let mut payload = Vec::new();
    for (tag_type, time, body) in [
        (9u8, 0x0100_0010u32, &[0x17, 1][..]),
        (8, 0x0100_0030, &[0xAF, 1, 2][..]),
    ] {
        let size = body.len() as u32;
        payload.push(tag_type);
        payload.extend_from_slice(&size.to_be_bytes()[1..]);
        payload.extend_from_slice(&time.to_be_bytes()[1..]);
        payload.push((time >> 24) as u8);
        payload.extend_from_slice(&[0, 0, 0]);
        payload.extend_from_slice(body);
        payload.extend_from_slice(&(11 + size).to_be_bytes());
    }
    let aggregate = rtmp_chunk::RawMessage::new(6, 1000, 22, 1, payload.clone());
    let parts: Vec<_> = split_aggregate(&aggregate)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        parts[0],
        rtmp_chunk::RawMessage::new(6, 1000, 9, 1, vec![0x17, 1])
    );
    assert_eq!(
        parts[1],
        rtmp_chunk::RawMessage::new(6, 1032, 8, 1, vec![0xAF, 1, 2])
    );
    // A truncated second tag is an error after the first tag, and then the iterator stops.
    let truncated =
        rtmp_chunk::RawMessage::new(6, 1000, 22, 1, payload[..payload.len() - 6].to_vec());
    let results: Vec<_> = split_aggregate(&truncated).collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok() && results[1].is_err());
}
