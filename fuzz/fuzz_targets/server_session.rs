//! The server session fed an arbitrary sequence of messages (typed commands the fuzzer fills
//! in, and raw bodies of any type) and application answers. Everything the session sends must
//! decode, and its message streams stay within the configured limit.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use rtmp_message::{Command, Connect, Message, Play, PublishType, Status, UserControl};
use rtmp_session::{ServerSession, SessionConfig, SessionEvent, StreamRequest};

#[derive(Debug, Arbitrary)]
enum Step {
    Connect {
        app: String,
        enhanced: bool,
    },
    CreateStream,
    Publish {
        stream_id: u8,
        name: String,
    },
    Play {
        stream_id: u8,
        name: String,
    },
    DeleteStream {
        stream_id: u8,
    },
    CloseStream {
        stream_id: u8,
    },
    FcUnpublish {
        name: String,
    },
    Ping(u32),
    Raw {
        type_id: u8,
        stream_id: u8,
        body: Vec<u8>,
    },
    Accept,
    Reject,
    UnpublishNotify,
    PublishNotify,
    Tick {
        millis: u16,
    },
}

const MAX_STREAMS: u32 = 4;

fn command(stream_id: u8, command: Command) -> Option<rtmp_chunk::RawMessage> {
    Message::Command(command)
        .to_chunk(3, 0, u32::from(stream_id))
        .ok()
}

fn message(step: Step) -> Option<rtmp_chunk::RawMessage> {
    match step {
        Step::Connect { app, enhanced } => {
            let connect = Connect {
                transaction_id: 1.0,
                app,
                fourcc_list: enhanced.then(|| vec!["hvc1".to_owned()]),
                ..Connect::default()
            };
            command(0, Command::Connect(Box::new(connect)))
        }
        Step::CreateStream => command(
            0,
            Command::CreateStream {
                transaction_id: 2.0,
            },
        ),
        Step::Publish { stream_id, name } => command(
            stream_id,
            Command::Publish {
                transaction_id: 0.0,
                name,
                publish_type: PublishType::Live,
            },
        ),
        Step::Play { stream_id, name } => command(stream_id, Command::Play(Play::new(name))),
        Step::DeleteStream { stream_id } => command(
            0,
            Command::DeleteStream {
                transaction_id: 0.0,
                stream_id: f64::from(stream_id),
            },
        ),
        Step::CloseStream { stream_id } => command(
            stream_id,
            Command::CloseStream {
                transaction_id: 0.0,
            },
        ),
        Step::FcUnpublish { name } => command(
            0,
            Command::FcUnpublish {
                transaction_id: 0.0,
                name,
            },
        ),
        Step::Ping(time) => Message::UserControl(UserControl::PingRequest(time))
            .to_chunk(2, 0, 0)
            .ok(),
        Step::Raw {
            type_id,
            stream_id,
            body,
        } => Some(rtmp_chunk::RawMessage::new(
            4,
            0,
            type_id,
            u32::from(stream_id),
            body,
        )),
        _ => None,
    }
}

fuzz_target!(|steps: Vec<Step>| {
    let mut config = SessionConfig::default();
    config.max_streams = MAX_STREAMS;
    let mut now = Instant::now();
    let mut session = ServerSession::new(config, now);
    let mut pending: Option<SessionEvent> = None;
    let mut stream: Option<StreamRequest> = None;
    for step in steps {
        let result = match step {
            Step::Accept => match pending.take() {
                Some(SessionEvent::Connect(_)) => session.accept_connect(),
                Some(SessionEvent::Publish(request)) => session.accept_publish(&request),
                Some(SessionEvent::Play(request)) => session.accept_play(&request),
                _ => Ok(()),
            },
            Step::Reject => match pending.take() {
                Some(SessionEvent::Connect(_)) => {
                    session.reject_connect(rtmp_message::Status::connect_rejected("refused"))
                }
                Some(SessionEvent::Publish(request)) => {
                    let status = Status::publish_bad_name(&request.key.name);
                    session.reject_publish(&request, status)
                }
                Some(SessionEvent::Play(request)) => {
                    let status = Status::play_stream_not_found(&request.key.name);
                    session.reject_play(request.stream_id, status)
                }
                _ => Ok(()),
            },
            Step::UnpublishNotify => match &stream {
                Some(request) => session.unpublish_notify(request.stream_id, &request.key.name),
                None => Ok(()),
            },
            Step::PublishNotify => match &stream {
                Some(request) => session.publish_notify(request.stream_id, &request.key.name),
                None => Ok(()),
            },
            Step::Tick { millis } => {
                now += Duration::from_millis(u64::from(millis) * 16);
                session.handle_timeout(now)
            }
            step => match message(step) {
                Some(raw) => session.handle_message(raw),
                None => Ok(()),
            },
        };
        while let Some(raw) = session.poll_send() {
            assert!(
                Message::decode(&raw).is_ok(),
                "the session sent what it cannot read: {raw:?}"
            );
        }
        while let Some(event) = session.poll_event() {
            if let SessionEvent::Publish(request) | SessionEvent::Play(request) = &event {
                stream = Some(request.clone());
            }
            if !matches!(
                event,
                SessionEvent::Media { .. } | SessionEvent::StreamClosed { .. }
            ) {
                pending = Some(event);
            }
        }
        assert!(session.stream_count() <= MAX_STREAMS as usize);
        if result.is_err() {
            // The connection would be closed here.
            return;
        }
    }
});
