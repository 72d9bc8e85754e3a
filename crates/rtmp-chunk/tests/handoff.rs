//! The hand-off from the handshake to the chunk codec over a real socket: a client that sends
//! C2 and `connect` in one write, then waits for an answer, must have its `connect` decoded
//! from the handshake's leftover bytes without sending anything more.

#![cfg(feature = "tokio-util")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

use std::time::Duration;

use bytes::BytesMut;
use futures::StreamExt;
use rtmp_chunk::{ChunkCodec, ChunkEncoder, RawMessage};
use rtmp_handshake::{
    ClientHandshake, ClientHandshakeConfig, Progress as HandshakeStatus, ServerHandshake,
    ServerHandshakeConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(10);

/// The server's side: the handshake, then the first message through `ChunkCodec::framed`.
async fn serve(listener: TcpListener) -> (RawMessage, usize) {
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut handshake = ServerHandshake::new(ServerHandshakeConfig::default());
    let mut buf = [0u8; 8192];
    let leftover = loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the client left during the handshake");
        let status = handshake.read(&buf[..n]).unwrap();
        stream.write_all(&handshake.take_output()).await.unwrap();
        if let HandshakeStatus::Done(done) = status {
            break done.leftover;
        }
    };
    let mut framed = ChunkCodec::new().framed(stream, &leftover);
    let first = tokio::time::timeout(LIMIT, framed.next())
        .await
        .expect("the connect that came with C2 was never decoded")
        .unwrap()
        .unwrap();
    (first, leftover.len())
}

#[tokio::test]
async fn connect_sent_with_c2_is_decoded_from_the_leftover() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(serve(listener));

    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut handshake = ClientHandshake::new(ClientHandshakeConfig::default());
    stream.write_all(&handshake.take_output()).await.unwrap();
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the server left during the handshake");
        if let HandshakeStatus::Done(_) = handshake.read(&buf[..n]).unwrap() {
            break;
        }
    }
    // C2 and a connect-sized command message in one write, as rtmpdump and librtmp send them.
    let connect = RawMessage::new(
        3,
        0,
        20,
        0,
        vec![0x02, 0x00, 0x07, b'c', b'o', b'n', b'n', b'e', b'c', b't'],
    );
    let mut out = BytesMut::from(&handshake.take_output()[..]);
    assert_eq!(out.len(), 1536, "C2");
    ChunkEncoder::new().encode(&connect, &mut out).unwrap();
    stream.write_all(&out).await.unwrap();

    // The client now waits; the server must answer from what it already has.
    let (first, leftover) = tokio::time::timeout(LIMIT, server)
        .await
        .expect("the server is still waiting for bytes that will not come")
        .unwrap();
    assert!(
        leftover > 0,
        "C2 and connect arrived apart: the case was not exercised"
    );
    assert_eq!(first, connect);
    drop(stream);
}
