//! Publishes an FLV file to an RTMP server, in real time as an encoder would; or, with `-` as
//! the file, a live FLV stream read from standard input as it comes (e.g. from an encoder's
//! pipe), so that the stream gets this client's behaviour (it follows reconnect requests).
//!
//! ```sh
//! cargo run --release --example publish -- crates/rtmp-flv/tests/media/h264-aac.flv rtmp://127.0.0.1/live/test --loop
//! ffmpeg -re -f lavfi -i testsrc2 -c:v libx264 -f flv - | cargo run --example publish -- - rtmp://127.0.0.1/live/test
//! ```

use std::path::PathBuf;

use clap::Parser;
use rtmp_flv::FlvReader;
use rtmp_server::rtmp_client::{self as client, ClientConfig, Pacer};

/// Publish an FLV file to an RTMP (or RTMPS) URL.
#[derive(Debug, Parser)]
struct Args {
    /// The FLV file, or `-` for a live FLV stream on standard input.
    file: PathBuf,
    /// rtmp://host[:port]/app/stream (or rtmps://).
    url: String,
    /// Start again at the end of the file, until stopped.
    #[arg(long = "loop")]
    repeat: bool,
    /// Send as fast as the server takes it instead of in real time.
    #[arg(long)]
    fast: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    if args.file.as_os_str() == "-" {
        return publish_stdin(&args.url).await;
    }
    let mut reader = FlvReader::new();
    reader.push(&std::fs::read(&args.file)?);
    let mut tags = Vec::new();
    while let Some(tag) = reader.next_tag()? {
        tags.push(tag);
    }
    let mut publisher = client::publish(&args.url, ClientConfig::default()).await?;
    tracing::info!(url = %args.url, tags = tags.len(), "publishing");
    let mut pacer = Pacer::new();
    // Timestamps keep rising across loops.
    let mut offset = 0;
    loop {
        let mut last = 0;
        for tag in &tags {
            let timestamp = offset + tag.timestamp;
            if !args.fast {
                pacer.wait(timestamp).await;
            }
            publisher
                .send_message(tag.tag_type, timestamp, tag.data.clone())
                .await?;
            last = last.max(tag.timestamp);
        }
        if !args.repeat {
            break;
        }
        offset += last + 40;
    }
    publisher.finish().await?;
    tracing::info!("done");
    Ok(())
}

/// Sends the tags of the FLV stream on standard input as they arrive, until it ends.
async fn publish_stdin(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    use tokio::io::AsyncReadExt;
    let mut publisher = client::publish(url, ClientConfig::default()).await?;
    tracing::info!(%url, "publishing standard input");
    let mut stdin = tokio::io::stdin();
    let mut reader = FlvReader::new();
    let mut buf = vec![0; 64 << 10];
    loop {
        let read = stdin.read(&mut buf).await?;
        if read == 0 {
            break;
        }
        reader.push(buf.get(..read).unwrap_or_default());
        while let Some(tag) = reader.next_tag()? {
            publisher
                .send_message(tag.tag_type, tag.timestamp, tag.data)
                .await?;
        }
    }
    publisher.finish().await?;
    tracing::info!("done");
    Ok(())
}
