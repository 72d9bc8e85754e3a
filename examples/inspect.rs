//! `inspect`: an RTMP endpoint that shows what a client sends.
//!
//! It completes the handshake, answers `connect`, `createStream` and `publish` so that an
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
use rtmp_amf0::Value;
use rtmp_chunk::{ChunkCodec, Message, type_id};
use rtmp_handshake::{ServerConfig, ServerHandshake, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

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
    let mut handshake = ServerHandshake::new(ServerConfig::default());
    let mut buf = vec![0u8; 4096];
    let completed = loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err("client left during the handshake".into());
        }
        let status = handshake.read(buf.get(..n).unwrap_or_default())?;
        stream.write_all(&handshake.take_output()).await?;
        if let Status::Done(completed) = status {
            break completed;
        }
    };
    println!("[{peer}] handshake: {:?}", completed.kind);

    let mut framed = Framed::new(stream, ChunkCodec::new());
    framed
        .read_buffer_mut()
        .extend_from_slice(&completed.leftover);
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
                let values = rtmp_amf0::decode_all(&message.payload)?;
                println!(
                    "[{peer}] t={} {} {values:?}",
                    message.timestamp,
                    kind_name(message.type_id)
                );
                for reply in answer(&values, message.stream_id)? {
                    framed.send(reply).await?;
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
            framed.send(Message::acknowledgement(sequence)).await?;
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
        type_id::COMMAND_AMF0 => "command",
        type_id::DATA_AMF0 => "data",
        _ => "message",
    }
}

/// The replies that keep a publisher going: a successful connect, stream id 1, publish started.
fn answer(values: &[Value], stream_id: u32) -> Result<Vec<Message>> {
    let name = values.first().and_then(Value::as_str).unwrap_or_default();
    let transaction = values.get(1).cloned().unwrap_or(Value::Number(0.0));
    let status = |code: &str, description: &str| {
        Value::object([
            ("level", Value::from("status")),
            ("code", code.into()),
            ("description", description.into()),
        ])
    };
    let command = |stream_id: u32, values: Vec<Value>| -> Result<Message> {
        let mut payload = Vec::new();
        rtmp_amf0::encode_all(&values, &mut payload)?;
        Ok(Message::new(
            3,
            0,
            type_id::COMMAND_AMF0,
            stream_id,
            payload,
        ))
    };
    Ok(match name {
        "connect" => {
            let mut peer_bandwidth = WINDOW.to_be_bytes().to_vec();
            peer_bandwidth.push(2); // dynamic
            let mut result = status("NetConnection.Connect.Success", "Connection succeeded.");
            if let Some(object) = result.as_object_mut() {
                object.insert("objectEncoding", 0.0);
            }
            vec![
                Message::window_ack_size(WINDOW),
                Message::new(2, 0, type_id::SET_PEER_BANDWIDTH, 0, peer_bandwidth),
                Message::set_chunk_size(CHUNK_SIZE),
                command(
                    0,
                    vec![
                        "_result".into(),
                        transaction,
                        Value::object([
                            ("fmsVer", Value::from("FMS/3,0,1,123")),
                            ("capabilities", 31.0.into()),
                        ]),
                        result,
                    ],
                )?,
            ]
        }
        "createStream" => vec![command(
            0,
            vec!["_result".into(), transaction, Value::Null, 1.0.into()],
        )?],
        "publish" => vec![command(
            stream_id,
            vec![
                "onStatus".into(),
                0.0.into(),
                Value::Null,
                status("NetStream.Publish.Start", "Publishing."),
            ],
        )?],
        _ => Vec::new(),
    })
}
