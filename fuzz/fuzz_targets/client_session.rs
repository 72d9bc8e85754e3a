//! The client session fed whatever a hostile server might send: raw messages of any type on any
//! stream, between the client's own requests. Everything it sends must decode, and a pending
//! request table stays bounded.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use rtmp_message::Message;
use rtmp_session::{ClientSession, ClientSessionConfig};

#[derive(Debug, Arbitrary)]
enum Step {
    Connect,
    CreateStream,
    Publish {
        stream_id: u8,
        name: String,
    },
    Play {
        stream_id: u8,
        name: String,
    },
    Close {
        stream_id: u8,
    },
    Server {
        type_id: u8,
        stream_id: u8,
        body: Vec<u8>,
    },
}

fuzz_target!(|steps: Vec<Step>| {
    let mut session = ClientSession::new(ClientSessionConfig::default());
    for step in steps {
        let result = match step {
            Step::Connect => session.connect("live", "rtmp://127.0.0.1/live"),
            Step::CreateStream => session.create_stream(),
            Step::Publish { stream_id, name } => session
                .prepare_publish(&name)
                .and_then(|()| session.publish(u32::from(stream_id), &name)),
            Step::Play { stream_id, name } => session.play(u32::from(stream_id), &name),
            Step::Close { stream_id } => session.close_stream(u32::from(stream_id), Some("x")),
            Step::Server {
                type_id,
                stream_id,
                body,
            } => session.handle_message(rtmp_chunk::RawMessage::new(
                3,
                0,
                type_id,
                u32::from(stream_id),
                body,
            )),
        };
        while let Some(raw) = session.poll_send() {
            assert!(
                Message::decode(&raw).is_ok(),
                "the client sent what it cannot read: {raw:?}"
            );
        }
        while session.poll_event().is_some() {}
        if result.is_err() {
            return;
        }
    }
});
