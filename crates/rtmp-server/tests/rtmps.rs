//! RTMPS: ffmpeg publishes over TLS to our server (certificate made by `openssl` for the
//! test), and our client plays it back over TLS trusting only that certificate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code

mod common;

use std::path::PathBuf;

use common::{TestServer, probe, publish_args, record_with, spawn, strings, temp, wait};
use rtmp_server::rtmp_client::{self as client, ClientConfig, ClientError};
use rtmp_server::{AcceptAll, ServerConfig};

/// A self-signed certificate for 127.0.0.1 and localhost: (certificate, key) PEM files.
async fn self_signed() -> (PathBuf, PathBuf) {
    let (cert, key) = (temp("tls-cert.pem"), temp("tls-key.pem"));
    let args = strings(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        // An end-entity certificate: webpki refuses a CA certificate as a server's.
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]);
    let mut openssl = spawn("openssl", &args);
    assert!(wait(&mut openssl).await.success(), "openssl req failed");
    (cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_publishes_over_tls_and_our_client_plays_over_tls() {
    let (cert, key) = self_signed().await;
    let server =
        TestServer::start_with(ServerConfig::default(), AcceptAll, Some((&cert, &key))).await;
    let url = format!("rtmps://127.0.0.1:{}/live/secure", server.tls_port);
    let mut config = ClientConfig::default();
    config.tls = Some(rtmp_server::tls::client_config_with_ca(&cert).unwrap());
    let file = temp("tls-played.flv");
    let recorder = {
        let (url, file, config) = (url.clone(), file.clone(), config.clone());
        tokio::spawn(async move { record_with(&url, &file, config).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let mut publisher = spawn("ffmpeg", &publish_args(&url, 3, "300k"));
    assert!(wait(&mut publisher).await.success(), "ffmpeg over rtmps");
    let (video, audio) = tokio::time::timeout(common::LIMIT, recorder)
        .await
        .unwrap()
        .unwrap();
    assert!(video >= 70 && audio >= 100, "{video} video, {audio} audio");
    let (decoded, _, keyframe_first) = probe(&file).await;
    assert!(keyframe_first && decoded + 2 >= video);

    // Without the certificate among its roots, the client refuses the server.
    let refused = client::play(&url, ClientConfig::default()).await;
    assert!(
        matches!(refused, Err(ClientError::Io(_) | ClientError::Tls(_))),
        "{refused:?}"
    );
    // Plain RTMP on the TLS port is not mistaken for a handshake.
    let plain = format!("rtmp://127.0.0.1:{}/live/secure", server.tls_port);
    let mut config = ClientConfig::default();
    config.connect_timeout = std::time::Duration::from_secs(2);
    assert!(client::play(&plain, config).await.is_err());
    server.stop().await;
    for path in [file, cert, key] {
        let _ = std::fs::remove_file(path);
    }
}
