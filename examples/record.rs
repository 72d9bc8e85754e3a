//! `record`: a server whose router records every published stream to an FLV file instead of
//! serving players, to show the router seam of `rtmp-server`. The publisher's reader only
//! queues each message (bounded); a thread per stream writes the file, so a slow disk never
//! stalls a publisher (messages that do not fit are dropped and counted).
//!
//! ```text
//! cargo run --example record -- [--listen 127.0.0.1:1935] [--dir .]
//! ffmpeg -re -f lavfi -i testsrc2 -c:v libx264 -f flv rtmp://127.0.0.1/live/test   # -> live-test.flv
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use bytes::BytesMut;
use rtmp_chunk::RawMessage;
use rtmp_flv::{FlvHeader, FlvTag};
use rtmp_server::{
    PlayError, PlayerHandle, Playing, PublishError, Publishing, Router, Server, StreamKey,
};

/// Messages queued between a publisher and its file.
const QUEUE: usize = 1024;

/// Records each published stream to `DIR/APP-NAME.flv`; plays nothing.
#[derive(Debug, Clone)]
pub struct Recorder {
    dir: PathBuf,
}

impl Recorder {
    /// A recorder writing into `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The file `key` is recorded to.
    pub fn file(&self, key: &StreamKey) -> PathBuf {
        self.dir.join(format!("{}-{}.flv", key.app, key.name))
    }
}

/// One stream being recorded: the queue to its writer thread.
struct Recording {
    key: StreamKey,
    queue: SyncSender<RawMessage>,
    dropped: u64,
}

impl Publishing for Recording {
    fn key(&self) -> &StreamKey {
        &self.key
    }

    fn send(&mut self, message: &RawMessage) {
        match self.queue.try_send(message.clone()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.dropped += 1,
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if self.dropped > 0 {
            eprintln!("{}: {} messages dropped", self.key, self.dropped);
        }
    }
}

/// Writes the FLV file until the publisher's queue closes.
fn write_file(path: PathBuf, queue: Receiver<RawMessage>) -> std::io::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut buf = BytesMut::new();
    FlvHeader::new(true, true).encode(&mut buf);
    file.write_all(&buf)?;
    for message in queue {
        buf.clear();
        FlvTag::new(message.type_id, message.timestamp, message.payload)
            .encode(&mut buf)
            .map_err(std::io::Error::other)?;
        file.write_all(&buf)?;
    }
    file.flush()
}

impl Router for Recorder {
    fn publish(&self, key: &StreamKey) -> Result<Box<dyn Publishing>, PublishError> {
        let (queue, messages) = sync_channel(QUEUE);
        let path = self.file(key);
        std::thread::spawn(move || {
            if let Err(error) = write_file(path.clone(), messages) {
                eprintln!("{}: {error}", path.display());
            }
        });
        Ok(Box::new(Recording {
            key: key.clone(),
            queue,
            dropped: 0,
        }))
    }

    fn play(&self, key: &StreamKey, _: PlayerHandle) -> Result<Box<dyn Playing>, PlayError> {
        Err(PlayError::Refused(format!("{key} is recorded, not played")))
    }

    fn check_play(&self, key: &StreamKey, _: bool) -> Result<(), PlayError> {
        Err(PlayError::Refused(format!("{key} is recorded, not played")))
    }

    fn is_published(&self, _: &StreamKey) -> bool {
        false
    }

    fn is_played(&self, _: &StreamKey) -> bool {
        false
    }
}

#[allow(dead_code)] // the test builds its own server
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut listen, mut dir) = ("127.0.0.1:1935".to_owned(), ".".to_owned());
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--listen", Some(value)) => listen = value,
            ("--dir", Some(value)) => dir = value,
            _ => {
                return Err(std::io::Error::other(
                    "usage: record [--listen ADDR] [--dir DIR]",
                ));
            }
        }
    }
    let server = Server::builder()
        .listen(listen.parse().map_err(std::io::Error::other)?)
        .router(Recorder::new(dir))
        .bind()
        .await?;
    println!("recording what is published to {:?}", server.local_addrs());
    server
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
