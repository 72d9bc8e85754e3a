//! ffmpeg accepts the typed responses: it publishes to a minimal server that answers connect,
//! createStream and publish with this crate's constructors, and it plays a recorded stream
//! served with StreamBegin, Play.Reset, Play.Start, |RtmpSampleAccess and onMetaData built here.
//! ffprobe counts the frames the player saved.
//!
//! ffmpeg and ffprobe come from Debian (`apt-get install -y ffmpeg`); a missing one fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use std::process::Stdio;
use std::time::Duration;

use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use rtmp_chunk::{ChunkCodec, ChunkDecoder, DecoderConfig};
use rtmp_handshake::{Progress as Handshake, ServerHandshake, ServerHandshakeConfig};
use rtmp_message::{Command, Data, Message, Status, UserControl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command as Process;
use tokio_util::codec::Framed;

const LIMIT: Duration = Duration::from_secs(60);
const RECORDING: &[u8] = include_bytes!("fixtures/ffmpeg-publish.c2s.bin");

fn ffmpeg(args: &[&str]) -> tokio::process::Child {
    Process::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg is needed: apt-get install -y ffmpeg")
}

async fn accept(listener: &TcpListener) -> Framed<TcpStream, ChunkCodec> {
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut handshake = ServerHandshake::new(ServerHandshakeConfig::default());
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "client left during the handshake");
        let status = handshake.read(&buf[..n]).unwrap();
        stream.write_all(&handshake.take_output()).await.unwrap();
        if let Handshake::Done(done) = status {
            return ChunkCodec::new().framed(stream, &done.leftover);
        }
    }
}

async fn send(
    framed: &mut Framed<TcpStream, ChunkCodec>,
    chunk_stream: u32,
    stream: u32,
    message: Message,
) {
    framed
        .send(message.to_chunk(chunk_stream, 0, stream).unwrap())
        .await
        .unwrap();
}

/// Answers connect and createStream; returns the next command that is neither.
async fn serve_until_stream_command(framed: &mut Framed<TcpStream, ChunkCodec>) -> Command {
    while let Some(raw) = framed.next().await {
        let raw = raw.unwrap();
        let Ok(Message::Command(command)) = Message::decode(&raw) else {
            continue;
        };
        match command {
            Command::Connect(connect) => {
                send(framed, 2, 0, Message::WindowAckSize(2_500_000)).await;
                send(
                    framed,
                    3,
                    0,
                    Command::connect_success(connect.transaction_id, 0.0).into(),
                )
                .await;
            }
            Command::CreateStream { transaction_id } => {
                send(
                    framed,
                    3,
                    0,
                    Command::create_stream_result(transaction_id, 1).into(),
                )
                .await;
            }
            Command::Publish { .. } | Command::Play(_) => return command,
            _ => {}
        }
    }
    panic!("client left before publish or play");
}

#[tokio::test]
async fn ffmpeg_publishes_to_typed_responses() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "rtmp://127.0.0.1:{}/live/cam?token=abc",
        listener.local_addr().unwrap().port()
    );
    let mut child = ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine",
        "-t",
        "1",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-c:a",
        "aac",
        "-f",
        "flv",
        &url,
    ]);
    let (name, video, audio) = tokio::time::timeout(LIMIT, async {
        let mut framed = accept(&listener).await;
        let Command::Publish { name, .. } = serve_until_stream_command(&mut framed).await else {
            panic!("expected publish");
        };
        send(
            &mut framed,
            5,
            1,
            Command::on_status(Status::publish_start(&name)).into(),
        )
        .await;
        let (mut video, mut audio) = (0, 0);
        while let Some(Ok(raw)) = framed.next().await {
            match Message::decode(&raw) {
                Ok(Message::Video(_)) => video += 1,
                Ok(Message::Audio(_)) => audio += 1,
                Ok(Message::Command(Command::DeleteStream { .. })) => break,
                _ => {}
            }
        }
        (name, video, audio)
    })
    .await
    .expect("ffmpeg did not publish in time");
    let exit = tokio::time::timeout(LIMIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "ffmpeg failed: {exit}");
    assert_eq!(
        name, "cam?token=abc",
        "the query string stays in the stream name"
    );
    // One second at 25 fps, plus the sequence header (and possibly an end of sequence).
    assert!((26..=27).contains(&video), "{video} video messages");
    assert!(audio > 40, "{audio} audio messages");
}

#[tokio::test]
async fn ffmpeg_plays_a_stream_served_with_typed_messages() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "rtmp://127.0.0.1:{}/live/cam",
        listener.local_addr().unwrap().port()
    );
    let output = std::env::temp_dir().join(format!("rtmp-message-play-{}.flv", std::process::id()));
    let output_arg = output.to_str().unwrap().to_owned();
    let mut child = ffmpeg(&["-y", "-i", &url, "-c", "copy", "-f", "flv", &output_arg]);

    // The recorded publish: its metadata, then audio and video as they were sent.
    let mut decoder = ChunkDecoder::new(DecoderConfig::default());
    let mut src = BytesMut::from(&RECORDING[1 + 2 * 1536..]);
    let mut recorded = Vec::new();
    while let Some(raw) = decoder.decode(&mut src).unwrap() {
        recorded.push(raw);
    }
    let coded_frames = recorded
        .iter()
        .filter(|raw| raw.type_id == 9 && raw.payload[1] == 1)
        .count();

    tokio::time::timeout(LIMIT, async {
        let mut framed = accept(&listener).await;
        let Command::Play(play) = serve_until_stream_command(&mut framed).await else {
            panic!("expected play");
        };
        send(&mut framed, 2, 0, UserControl::StreamBegin(1).into()).await;
        send(
            &mut framed,
            5,
            1,
            Command::on_status(Status::play_reset(&play.name)).into(),
        )
        .await;
        send(
            &mut framed,
            5,
            1,
            Command::on_status(Status::play_start(&play.name)).into(),
        )
        .await;
        send(&mut framed, 5, 1, Data::sample_access(true, true).into()).await;
        for raw in recorded {
            let outgoing = match Message::decode(&raw).unwrap() {
                Message::Data(data) => Message::Data(data.without_set_data_frame())
                    .to_chunk(5, 0, 1)
                    .unwrap(),
                Message::Audio(_) | Message::Video(_) => rtmp_chunk::RawMessage {
                    stream_id: 1,
                    ..raw
                },
                _ => continue,
            };
            framed.send(outgoing).await.unwrap();
        }
        send(&mut framed, 2, 0, UserControl::StreamEof(1).into()).await;
    })
    .await
    .expect("ffmpeg did not play in time");
    let exit = tokio::time::timeout(LIMIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "ffmpeg failed: {exit}");

    let probe = Process::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
        ])
        .args([
            "stream=codec_name,nb_read_frames",
            "-of",
            "csv=p=0",
            &output_arg,
        ])
        .output()
        .await
        .expect("ffprobe is needed: apt-get install -y ffmpeg");
    let _ = std::fs::remove_file(&output);
    let report = String::from_utf8_lossy(&probe.stdout).trim().to_owned();
    assert_eq!(report, format!("h264,{coded_frames}"), "ffprobe: {report}");
}
