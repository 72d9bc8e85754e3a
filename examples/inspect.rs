//! `inspect`: an RTMP endpoint that shows what a client sends.
//!
//! It completes the handshake, answers `connect`, `createStream` and `publish` (with the typed
//! responses of `rtmp-message`) so that an
//! encoder starts streaming, and prints every command and data message it decodes, each video
//! keyframe, and a summary when the client leaves.
//!
//! ```text
//! cargo run --release --example inspect [LISTEN_ADDRESS]      (default 127.0.0.1:1935)
//! ffmpeg -re -f lavfi -i testsrc2 -f lavfi -i sine -c:v libx264 -c:a aac -f flv rtmp://127.0.0.1/live/test
//! ```

use std::collections::BTreeMap;
use std::error::Error;
use std::net::SocketAddr;

use futures::{SinkExt, StreamExt};
use rtmp_chunk::{ChunkCodec, RawMessage, type_id};
use rtmp_handshake::{Progress as Handshake, ServerHandshake, ServerHandshakeConfig};
use rtmp_message::{Command, LimitType, Message as TypedMessage, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

const CHUNK_SIZE: u32 = 4096;
const WINDOW: u32 = 2_500_000;

#[tokio::main]
async fn main() -> Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:1935".to_owned());
    let listener = TcpListener::bind(&address).await?;
    println!("inspect: listening on rtmp://{address}");
    println!(
        "try: ffmpeg -re -f lavfi -i testsrc2 -f lavfi -i sine -c:v libx264 -c:a aac -f flv rtmp://{address}/live/test"
    );
    loop {
        let (stream, peer) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(error) = inspect(stream, peer).await {
                println!("[{peer}] closed: {error}");
            }
        });
    }
}

async fn inspect(mut stream: TcpStream, peer: SocketAddr) -> Result<()> {
    let mut handshake = ServerHandshake::new(ServerHandshakeConfig::default());
    let mut buf = vec![0u8; 4096];
    let completed = loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err("client left during the handshake".into());
        }
        let status = handshake.read(buf.get(..n).unwrap_or_default())?;
        stream.write_all(&handshake.take_output()).await?;
        if let Handshake::Done(completed) = status {
            break completed;
        }
    };
    println!("[{peer}] handshake: {:?}", completed.kind);

    // The bytes that came with C2 (often connect) are decoded before anything more is read.
    let mut framed = ChunkCodec::new().framed(stream, &completed.leftover);
    let mut media: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    while let Some(message) = framed.next().await {
        let message = message?;
        match message.type_id {
            type_id::AUDIO | type_id::VIDEO => {
                let kind = if message.type_id == type_id::AUDIO {
                    "audio"
                } else {
                    "video"
                };
                let entry = media.entry(kind).or_default();
                entry.0 += 1;
                entry.1 += message.payload.len();
                let keyframe = message.payload.first().is_some_and(|b| b >> 4 == 1);
                if kind == "video" && keyframe {
                    println!(
                        "[{peer}] t={} video keyframe, {} bytes",
                        message.timestamp,
                        message.payload.len()
                    );
                }
            }
            type_id::COMMAND_AMF0 | type_id::DATA_AMF0 => {
                let typed = TypedMessage::decode(&message)?;
                println!("[{peer}] t={} {typed:?}", message.timestamp);
                if let TypedMessage::Command(command) = typed {
                    for reply in answer(&command, message.stream_id)? {
                        framed.send(reply).await?;
                    }
                }
            }
            other => println!(
                "[{peer}] t={} {} {:02x?}",
                message.timestamp,
                kind_name(other),
                &message.payload[..]
            ),
        }
        if let Some(sequence) = framed.codec_mut().decoder.take_acknowledgement() {
            framed.send(RawMessage::acknowledgement(sequence)).await?;
        }
    }
    for (kind, (count, bytes)) in media {
        println!("[{peer}] {kind}: {count} messages, {bytes} bytes");
    }
    println!("[{peer}] left");
    Ok(())
}

fn kind_name(type_id: u8) -> &'static str {
    match type_id {
        type_id::SET_CHUNK_SIZE => "Set Chunk Size",
        type_id::ABORT => "Abort",
        type_id::ACKNOWLEDGEMENT => "Acknowledgement",
        type_id::USER_CONTROL => "User Control",
        type_id::WINDOW_ACK_SIZE => "Window Ack Size",
        type_id::SET_PEER_BANDWIDTH => "Set Peer Bandwidth",
        _ => "message",
    }
}

/// The replies that keep a publisher going: a successful connect, stream id 1, publish started.
fn answer(command: &Command, stream_id: u32) -> Result<Vec<RawMessage>> {
    let command_message = |stream_id: u32, command: Command| -> Result<RawMessage> {
        Ok(TypedMessage::Command(command).to_chunk(3, 0, stream_id)?)
    };
    Ok(match command {
        Command::Connect(connect) => vec![
            RawMessage::window_ack_size(WINDOW),
            TypedMessage::SetPeerBandwidth {
                window: WINDOW,
                limit: LimitType::Dynamic,
            }
            .to_chunk(2, 0, 0)?,
            RawMessage::set_chunk_size(CHUNK_SIZE),
            command_message(
                0,
                Command::connect_success(
                    connect.transaction_id,
                    connect.object_encoding.unwrap_or(0.0),
                ),
            )?,
        ],
        Command::CreateStream { transaction_id } => {
            vec![command_message(
                0,
                Command::create_stream_result(*transaction_id, 1),
            )?]
        }
        Command::Publish { name, .. } => vec![command_message(
            stream_id,
            Command::on_status(Status::publish_start(name)),
        )?],
        _ => Vec::new(),
    })
}
