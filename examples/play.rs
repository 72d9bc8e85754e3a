//! Plays an RTMP URL into an FLV file, until the stream ends or Ctrl-C.
//!
//! ```sh
//! cargo run --release --example play -- rtmp://127.0.0.1/live/test out.flv
//! ```

use std::path::PathBuf;

use bytes::BytesMut;
use clap::Parser;
use rtmp_flv::{FlvHeader, FlvTag};
use rtmp_server::rtmp_client::{self as client, ClientConfig, PlayEvent};
use tokio::io::AsyncWriteExt;

/// Play an RTMP (or RTMPS) URL into an FLV file.
#[derive(Debug, Parser)]
struct Args {
    /// rtmp://host[:port]/app/stream (or rtmps://).
    url: String,
    /// The FLV file to write.
    file: PathBuf,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let mut player = client::play(&args.url, ClientConfig::default()).await?;
    tracing::info!(url = %args.url, "playing");
    let mut file = tokio::fs::File::create(&args.file).await?;
    let mut out = BytesMut::new();
    FlvHeader::new(true, true).encode(&mut out);
    let mut messages = 0u64;
    loop {
        let event = tokio::select! {
            event = player.next_event() => event?,
            _ = tokio::signal::ctrl_c() => None,
        };
        match event {
            Some(PlayEvent::Media(message)) => {
                FlvTag::new(message.type_id, message.timestamp, message.payload)
                    .encode(&mut out)?;
                messages += 1;
            }
            Some(PlayEvent::Status(status)) => {
                tracing::info!(code = %status.code.as_str(), "{}", status.description)
            }
            None => break,
        }
        if out.len() >= 64 << 10 {
            file.write_all(&out).await?;
            out.clear();
        }
    }
    file.write_all(&out).await?;
    file.flush().await?;
    tracing::info!(messages, file = %args.file.display(), "stream ended");
    Ok(())
}
