//! `server`: a live RTMP server that runs with no configuration.
//!
//! ```text
//! cargo run --release --example server -- [--listen 0.0.0.0:1935] [--chunk-size 1024] [--no-gop-cache]
//! ```

use std::net::SocketAddr;

use clap::Parser;
use rtmp_server::{Server, ServerConfig};

/// A live RTMP server: publish to rtmp://HOST/APP/NAME, play the same URL.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:1935")]
    listen: SocketAddr,
    /// Chunk size sent to clients.
    #[arg(long, default_value_t = 1024)]
    chunk_size: u32,
    /// Do not keep the current GOP for players that join (they wait for the next keyframe).
    #[arg(long)]
    no_gop_cache: bool,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let mut config = ServerConfig::default();
    config.session.chunk_size = args.chunk_size;
    config.hub.gop_cache = !args.no_gop_cache;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let port = listener.local_addr()?.port();
    tracing::info!("listening on rtmp://{}", listener.local_addr()?);
    println!(
        "Publish: ffmpeg -re -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine -c:v libx264 -g 60 -c:a aac -f flv rtmp://127.0.0.1:{port}/live/test"
    );
    println!("Play:    ffplay rtmp://127.0.0.1:{port}/live/test");
    let server = Server::new(config);
    server
        .serve(listener, async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        })
        .await
}
