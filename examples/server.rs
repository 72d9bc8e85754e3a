//! `server`: a live RTMP server that runs with no configuration.
//!
//! ```text
//! cargo run --release --example server -- [--listen 0.0.0.0:1935] [--chunk-size 1024] [--no-gop-cache]
//!     [--tls-cert cert.pem --tls-key key.pem [--tls-listen 0.0.0.0:1936]]
//!     [--push rtmp://other-server]... [--pull rtmp://origin]
//!     [--max-connections N] [--max-connections-per-ip N] [--write-timeout-secs 20]
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use rtmp_server::{Server, StaticRelay};

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
    /// Write tick in milliseconds: each player's media is written once per tick (fewer system
    /// calls and wake-ups; adds up to that much latency; 0 writes at once).
    #[arg(long, default_value_t = 50)]
    write_interval_ms: u64,
    /// Certificate chain (PEM) for RTMPS; with --tls-key, RTMPS is served on --tls-listen.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) for RTMPS.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Address for RTMPS.
    #[arg(long, default_value = "0.0.0.0:1936")]
    tls_listen: SocketAddr,
    /// Push every published stream to this server too (rtmp[s]://host[:port]; app/name is
    /// added). Repeatable.
    #[arg(long)]
    push: Vec<String>,
    /// Pull streams nobody publishes here from this origin (rtmp[s]://host[:port]) while
    /// someone plays them.
    #[arg(long)]
    pull: Option<String>,
    /// The most connections at once (default: the open-file limit, raised to its maximum at
    /// start, less 64).
    #[arg(long)]
    max_connections: Option<usize>,
    /// The most connections at once from one IP address (default: no limit of its own).
    #[arg(long)]
    max_connections_per_ip: Option<usize>,
    /// Close a client that accepts no bytes for this many seconds while data waits for it.
    #[arg(long, default_value_t = 20)]
    write_timeout_secs: u64,
    /// The listen backlog.
    #[arg(long, default_value_t = 1024)]
    listen_backlog: u32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let args = Args::parse();
    // As nginx's worker_rlimit_nofile: the connection limit follows the raised file limit.
    match rtmp_server::raise_open_file_limit() {
        Ok(files) => tracing::debug!(files, "open-file limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
    }
    let relay = StaticRelay {
        push: args.push,
        pull: args.pull,
    };
    let mut builder = Server::builder()
        .listen(args.listen)
        .chunk_size(args.chunk_size)
        .gop_cache(!args.no_gop_cache)
        .write_interval(std::time::Duration::from_millis(args.write_interval_ms))
        .write_timeout(std::time::Duration::from_secs(args.write_timeout_secs))
        .listen_backlog(args.listen_backlog)
        .hooks(relay);
    if let Some(most) = args.max_connections {
        builder = builder.max_connections(most);
    }
    if let Some(most) = args.max_connections_per_ip {
        builder = builder.max_connections_per_ip(most);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let tls = rtmp_server::tls::server_config(cert, key)?;
        builder = builder.listen_tls(args.tls_listen, tls);
    }
    let server = builder.bind().await?;
    let addresses = server.local_addrs();
    let port = addresses.first().map_or(1935, |address| address.port());
    for (index, address) in addresses.iter().enumerate() {
        let scheme = if index == 0 { "rtmp" } else { "rtmps" };
        tracing::info!("listening on {scheme}://{address}");
    }
    println!(
        "Publish: ffmpeg -re -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine -c:v libx264 -g 60 -c:a aac -f flv rtmp://127.0.0.1:{port}/live/test"
    );
    println!("Play:    ffplay rtmp://127.0.0.1:{port}/live/test");
    server
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        })
        .await?;
    Ok(())
}
