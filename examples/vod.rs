//! Plays FLV files to RTMP players: whoever plays `APP/NAME` gets `DIR/NAME.flv`, paced in real
//! time from its first tag (nginx-rtmp's `play /dir`). A router of its own behind the server:
//! the server's players, their pause, seek and codec policy, and every budget work as for live
//! streams, because they live in the router crate's building blocks, not in each router.
//!
//! ```sh
//! cargo run --release --example vod -- --listen 127.0.0.1:1935 --dir media
//! ffplay rtmp://127.0.0.1/vod/film      # plays media/film.flv
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use rtmp_flv::FlvReader;
use rtmp_server::message::StatusCode;
use rtmp_server::router::{Conversions, MediaError, Notice, Offered, PlayerSlot, SharedMedia};
use rtmp_server::{
    PlayError, PlayerHandle, Playing, PublishError, Publishing, RawMessage, Refusal, Router,
    Server, SlowPlayerPolicy, StreamKey,
};
use tokio::io::AsyncReadExt;

/// Serve FLV files to RTMP players.
#[derive(Debug, Parser)]
struct Args {
    /// Where to listen for RTMP.
    #[arg(long, default_value = "127.0.0.1:1935")]
    listen: SocketAddr,
    /// The directory of the FLV files: `APP/NAME` plays `DIR/NAME.flv`.
    #[arg(long)]
    dir: PathBuf,
}

/// The chunk size of the server's sessions (each player's handle says it: the router chunks
/// each tag at that size).
const CHUNK_SIZE: u32 = 4096;
/// Bytes of the file read at a time.
const READ_SIZE: usize = 64 << 10;

/// Plays the files of a directory.
struct Vod {
    dir: PathBuf,
}

impl Vod {
    /// The file `key` names: `DIR/NAME.flv`, for a name that stays in the directory.
    fn file(&self, key: &StreamKey) -> Option<PathBuf> {
        let name = &key.name;
        let plain = !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        let path = self.dir.join(format!("{name}.flv"));
        (plain && path.is_file()).then_some(path)
    }
}

/// One player's playback: the task that reads and paces its file, stopped when the player
/// goes.
struct Playback {
    key: StreamKey,
    task: tokio::task::JoinHandle<()>,
}

impl Playing for Playback {
    fn key(&self) -> &StreamKey {
        &self.key
    }
}

impl Drop for Playback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Router for Vod {
    fn publish(&self, key: &StreamKey) -> Result<Box<dyn Publishing>, PublishError> {
        Err(PublishError::Refused(
            format!("{key} is played from files here, not published").into(),
        ))
    }

    fn play(&self, key: &StreamKey, player: PlayerHandle) -> Result<Box<dyn Playing>, PlayError> {
        let Some(path) = self.file(key) else {
            let refusal =
                Refusal::with_code(StatusCode::PlayStreamNotFound, format!("no file for {key}"));
            return Err(PlayError::Refused(refusal));
        };
        let task = tokio::spawn(play_file(path, key.clone(), PlayerSlot::new(player)));
        Ok(Box::new(Playback {
            key: key.clone(),
            task,
        }))
    }

    fn is_published(&self, key: &StreamKey) -> bool {
        self.file(key).is_some()
    }

    fn is_played(&self, _: &StreamKey) -> bool {
        false
    }
}

/// Gives the player the file's audio, video and data tags, each when its timestamp is due,
/// then tells it the stream ended.
async fn play_file(path: PathBuf, key: StreamKey, mut slot: PlayerSlot) {
    if let Err(error) = pace(&path, &key, &mut slot).await {
        tracing::warn!(file = %path.display(), %error, "playback stopped");
        let reason = format!("{key} cannot be played: {error}");
        slot.handle().notify(Notice::Failed(key, reason));
        return;
    }
    slot.handle().notify(Notice::Unpublished(key));
}

async fn pace(
    path: &Path,
    key: &StreamKey,
    slot: &mut PlayerSlot,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut reader = FlvReader::new();
    let mut buf = vec![0; READ_SIZE];
    let start = tokio::time::Instant::now();
    let mut first = None;
    let chunk_size = slot.handle().chunk_size();
    loop {
        let Some(tag) = reader.next_tag()? else {
            let read = file.read(&mut buf).await?;
            if read == 0 {
                return Ok(());
            }
            reader.push(buf.get(..read).unwrap_or_default());
            continue;
        };
        let first = *first.get_or_insert(tag.timestamp);
        let offset = u64::from(tag.timestamp.wrapping_sub(first));
        tokio::time::sleep_until(start + Duration::from_millis(offset)).await;
        // The shared form puts it on message stream 1 and its kind's chunk stream.
        let message = RawMessage::new(0, tag.timestamp, tag.tag_type, 1, tag.data);
        let media = match SharedMedia::new(message, chunk_size) {
            Ok(media) => media,
            // Tags other than audio, video and script data are not played.
            Err(MediaError::NotMedia(_)) => continue,
            Err(error) => return Err(error.into()),
        };
        let policy = SlowPlayerPolicy::SkipToKeyframe;
        let offered = slot.offer(&mut Conversions::new(&media, chunk_size), key, policy);
        if matches!(offered, Offered::Gone | Offered::Dropped { remove: true }) {
            return Ok(());
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let server = Server::builder()
        .listen(args.listen)
        .chunk_size(CHUNK_SIZE)
        .router(Vod { dir: args.dir })
        .bind()
        .await?;
    tracing::info!(addresses = ?server.local_addrs(), "playing files");
    server
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
