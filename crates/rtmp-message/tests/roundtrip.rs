//! Property test: every typed message encodes and decodes to itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use bytes::Bytes;
use proptest::prelude::*;
use rtmp_amf0::{Object, Value};
use rtmp_message::{
    Command, Connect, Data, Level, LimitType, Message, Play, PublishType, Response, Status,
    StatusCode, UserControl,
};

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![-1e9f64..1e9, Just(0.0), Just(-2.0)]
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_/?=.]{0,20}"
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        number().prop_map(Value::Number),
        any::<bool>().prop_map(Value::Boolean),
        text().prop_map(Value::String),
        Just(Value::Null),
        prop::collection::vec(("x_[a-z]{1,6}", text()), 0..3)
            .prop_map(|pairs| Value::object(pairs.into_iter().map(|(k, v)| (k, Value::from(v))))),
    ]
}

fn extra() -> impl Strategy<Value = Object> {
    prop::collection::vec(("x_[a-z]{1,8}", value()), 0..4)
        .prop_map(|pairs| pairs.into_iter().collect())
}

fn status() -> impl Strategy<Value = Status> {
    (
        prop_oneof![
            Just(StatusCode::PublishStart),
            Just(StatusCode::PlayStreamNotFound),
            Just(StatusCode::ConnectReconnectRequest),
            "[A-Z][a-z]{1,8}\\.[A-Z][a-z]{1,8}".prop_map(|code| StatusCode::parse(&code)),
        ],
        prop_oneof![
            Just(Level::Status),
            Just(Level::Error),
            Just(Level::Warning)
        ],
        text(),
        extra(),
    )
        .prop_map(|(code, level, description, extra)| Status {
            level,
            code,
            description,
            extra,
        })
}

fn connect() -> impl Strategy<Value = Connect> {
    (
        (
            number(),
            text(),
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(number()),
        ),
        prop::option::of(prop::collection::vec("[a-z0-9]{4}", 0..4)),
        prop::option::of(prop::collection::vec(("[a-z0-9]{4}", 0u32..8), 0..3)),
        prop::option::of(0u32..16),
        extra(),
        prop::collection::vec(value(), 0..2),
    )
        .prop_map(
            |(
                (transaction_id, app, tc_url, flash_ver, object_encoding),
                fourcc_list,
                video_map,
                caps_ex,
                extra,
                arguments,
            )| {
                Connect {
                    transaction_id,
                    app,
                    tc_url,
                    flash_ver,
                    object_encoding,
                    fourcc_list,
                    video_fourcc_info_map: video_map,
                    caps_ex,
                    extra,
                    arguments,
                    ..Connect::default()
                }
            },
        )
}

fn command() -> impl Strategy<Value = Command> {
    let response = (number(), value(), prop::collection::vec(value(), 0..3))
        .prop_map(|(transaction_id, command_object, arguments)| Response {
            transaction_id,
            command_object,
            arguments,
        })
        .boxed();
    prop_oneof![
        connect().prop_map(|connect| Command::Connect(Box::new(connect))),
        response.clone().prop_map(Command::Result),
        response.prop_map(Command::Error),
        (number(), status()).prop_map(|(transaction_id, status)| Command::OnStatus {
            transaction_id,
            status
        }),
        number().prop_map(|transaction_id| Command::CreateStream { transaction_id }),
        (number(), number()).prop_map(|(transaction_id, stream_id)| Command::DeleteStream {
            transaction_id,
            stream_id
        }),
        (number(), text()).prop_map(|(transaction_id, name)| Command::FcPublish {
            transaction_id,
            name
        }),
        (
            number(),
            text(),
            prop_oneof![
                Just(PublishType::Live),
                Just(PublishType::Record),
                Just(PublishType::Append)
            ]
        )
            .prop_map(|(transaction_id, name, publish_type)| Command::Publish {
                transaction_id,
                name,
                publish_type
            }),
        (number(), text(), number(), number(), any::<bool>()).prop_map(
            |(transaction_id, name, start, duration, reset)| {
                Command::Play(Play {
                    transaction_id,
                    name,
                    start,
                    duration,
                    reset,
                })
            }
        ),
        (number(), any::<bool>(), number()).prop_map(|(transaction_id, pause, position)| {
            Command::Pause {
                transaction_id,
                pause,
                position,
            }
        }),
        (number(), any::<bool>()).prop_map(|(transaction_id, enabled)| Command::ReceiveVideo {
            transaction_id,
            enabled
        }),
        (
            "app_[a-zA-Z]{1,10}",
            number(),
            value(),
            prop::collection::vec(value(), 0..3)
        )
            .prop_map(
                |(name, transaction_id, command_object, arguments)| Command::Call {
                    name,
                    transaction_id,
                    command_object,
                    arguments
                }
            ),
    ]
}

fn user_control() -> impl Strategy<Value = UserControl> {
    prop_oneof![
        any::<u32>().prop_map(UserControl::StreamBegin),
        any::<u32>().prop_map(UserControl::StreamEof),
        any::<u32>().prop_map(UserControl::StreamDry),
        (any::<u32>(), any::<u32>())
            .prop_map(|(stream_id, millis)| UserControl::SetBufferLength { stream_id, millis }),
        any::<u32>().prop_map(UserControl::StreamIsRecorded),
        any::<u32>().prop_map(UserControl::PingRequest),
        any::<u32>().prop_map(UserControl::PingResponse),
        any::<u32>().prop_map(UserControl::BufferEmpty),
        any::<u32>().prop_map(UserControl::BufferReady),
        (100u16..200, prop::collection::vec(any::<u8>(), 0..8)).prop_map(|(event_type, data)| {
            UserControl::Unknown {
                event_type,
                data: Bytes::from(data),
            }
        }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let data = ("[a-zA-Z@|]{1,12}", prop::collection::vec(value(), 0..4))
        .prop_map(|(name, values)| Data { name, values })
        .boxed();
    let bytes = prop::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from);
    prop_oneof![
        any::<u32>().prop_map(Message::SetChunkSize),
        any::<u32>().prop_map(|chunk_stream_id| Message::Abort { chunk_stream_id }),
        any::<u32>().prop_map(|sequence_number| Message::Acknowledgement { sequence_number }),
        user_control().prop_map(Message::UserControl),
        any::<u32>().prop_map(Message::WindowAckSize),
        (any::<u32>(), any::<u8>()).prop_map(|(window, limit)| Message::SetPeerBandwidth {
            window,
            limit: LimitType::from_u8(limit)
        }),
        bytes.clone().prop_map(Message::Audio),
        bytes.clone().prop_map(Message::Video),
        bytes.prop_map(Message::Aggregate),
        data.clone().prop_map(Message::Data),
        data.prop_map(Message::DataAmf3),
        command().prop_map(Message::Command),
        command().prop_map(Message::CommandAmf3),
    ]
}

proptest! {
    #[test]
    fn every_message_round_trips(message in message()) {
        let raw = message.to_chunk(3, 7, 1).unwrap();
        prop_assert_eq!(raw.type_id, message.type_id());
        prop_assert_eq!(Message::decode(&raw).unwrap(), message);
    }

    #[test]
    fn arbitrary_bodies_never_panic(type_id in any::<u8>(), body in prop::collection::vec(any::<u8>(), 0..128)) {
        let _ = Message::decode_body(type_id, &Bytes::from(body));
    }
}
