//! Shared by the server's real-peer tests: a server on 127.0.0.1, peers as child processes
//! (killed when dropped), and ffprobe checks of what players saved.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rtmp_server::{Hub, HubConfig, Router, Server, ServerConfig};

#[path = "../../../rtmp-flv/tests/common/peers.rs"]
pub mod peers;
use tokio::process::{Child, Command};

/// Every wait in these tests is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(60);

pub struct TestServer {
    pub port: u16,
    pub tls_port: u16,
    /// The server's router (a hub).
    pub router: Arc<dyn Router>,
    /// The server's running relay tasks.
    pub relays: Box<dyn Fn() -> usize + Send + Sync>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(config: ServerConfig) -> Self {
        Self::start_with(config, rtmp_server::AcceptAll, None).await
    }

    /// A server with `hooks`, and an RTMPS listener too when `tls` (certificate and key PEM
    /// files) is given; its port is `tls_port`.
    pub async fn start_with<H: rtmp_server::Hooks>(
        config: ServerConfig,
        hooks: H,
        tls: Option<(&Path, &Path)>,
    ) -> Self {
        Self::serving(Server::with_hooks(config, hooks), tls).await
    }

    /// A server whose hub has `settings`.
    pub async fn start_hub(config: ServerConfig, settings: HubConfig) -> Self {
        let server = Server::with_router(config, rtmp_server::AcceptAll, Hub::new(settings));
        Self::serving(server, None).await
    }

    async fn serving<H: rtmp_server::Hooks>(
        server: Server<H>,
        tls: Option<(&Path, &Path)>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tls_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tls_port = tls_listener.local_addr().unwrap().port();
        let tls_config = tls.map(|(cert, key)| rtmp_server::tls::server_config(cert, key).unwrap());
        let server = Arc::new(server);
        let router = server.router().clone();
        let relays = {
            let server = server.clone();
            Box::new(move || server.relays())
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let until = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            let plain = server.serve(listener, until(stopped.clone()));
            let secure = async {
                match tls_config {
                    Some(tls) => {
                        server
                            .serve_tls(tls_listener, tls, until(stopped.clone()))
                            .await
                    }
                    None => Ok(()),
                }
            };
            let (plain, secure) = tokio::join!(plain, secure);
            plain.unwrap();
            secure.unwrap();
        });
        Self {
            port,
            tls_port,
            router,
            relays,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{key}", self.port)
    }

    /// Waits (bounded) until `live/name` is published and its video is flowing.
    pub async fn published(&self, name: &str) {
        let key = key(name);
        tokio::time::timeout(LIMIT, async {
            while !self
                .router
                .stats(&key)
                .is_some_and(|stats| stats.publishing && stats.video_frames > 0)
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the publisher never started");
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(LIMIT, task).await.unwrap().unwrap();
        }
    }
}

/// A client connection to `server` over an in-memory pipe; the server's side runs as a task.
pub async fn in_memory(
    server: &Arc<Server>,
    url: &rtmp_server::rtmp_client::RtmpUrl,
) -> rtmp_server::rtmp_client::Connection {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let server = server.clone();
    let peer = std::net::SocketAddr::from(([10, 0, 0, 1], 1935));
    tokio::spawn(async move { server.serve_connection(theirs, peer).await });
    rtmp_server::rtmp_client::Connection::connect_over(ours, url, Default::default())
        .await
        .unwrap()
}

/// `live/name`.
pub fn key(name: &str) -> rtmp_server::StreamKey {
    rtmp_server::StreamKey {
        app: "live".into(),
        name: name.into(),
    }
}

/// Waits (bounded) until `done` holds, checking every 50 ms.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(LIMIT, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never happened: {what}"));
}

pub fn spawn(program: impl AsRef<std::ffi::OsStr>, args: &[String]) -> Child {
    let program = program.as_ref().to_owned();
    Command::new(&program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {program:?} ({error}): run .ci/install-peers"))
}

pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|arg| arg.to_string()).collect()
}

/// ffmpeg arguments publishing `seconds` of testsrc2 + sine as H.264/AAC in real time.
pub fn publish_args(url: &str, seconds: u32, bitrate: &str) -> Vec<String> {
    let seconds = seconds.to_string();
    strings(&[
        "-nostdin",
        "-loglevel",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100",
        "-t",
        &seconds,
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "25",
        "-b:v",
        bitrate,
        "-c:a",
        "aac",
        "-f",
        "flv",
        url,
    ])
}

/// ffmpeg arguments playing `url` into `file`.
pub fn play_args(url: &str, file: &Path) -> Vec<String> {
    strings(&[
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-i",
        url,
        "-c",
        "copy",
        "-f",
        "flv",
        file.to_str().unwrap(),
    ])
}

pub async fn wait(child: &mut Child) -> ExitStatus {
    tokio::time::timeout(LIMIT, child.wait())
        .await
        .expect("a peer did not finish in time")
        .unwrap()
}

/// A file name in the temp folder unique to this test run.
pub fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("rtmp-server-{}-{name}", std::process::id()))
}

/// What a saved file holds, by ffprobe: (video frames, audio frames, first video packet is a
/// keyframe), after checking that ffmpeg decodes all of it without an error.
pub async fn probe(file: &Path) -> (usize, usize, bool) {
    peers::decode(Path::new("ffmpeg"), &[], file);
    let count = |stream: &'static str| {
        let file = file.to_owned();
        async move {
            let output = Command::new("ffprobe")
                .args([
                    "-v",
                    "error",
                    "-count_frames",
                    "-select_streams",
                    stream,
                    "-show_entries",
                    "stream=nb_read_frames",
                    "-of",
                    "csv=p=0",
                ])
                .arg(&file)
                .output()
                .await
                .unwrap();
            String::from_utf8_lossy(&output.stdout)
                .trim()
                .parse::<usize>()
                .unwrap_or(0)
        }
    };
    let packets = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "packet=flags",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .await
        .unwrap();
    let first_key = String::from_utf8_lossy(&packets.stdout)
        .lines()
        .next()
        .is_some_and(|flags| flags.starts_with('K'));
    (count("v").await, count("a").await, first_key)
}

/// A hand-driven RTMP client for behaviour no real peer shows (never reading, sending
/// garbage).
pub struct RawClient {
    pub stream: tokio::net::TcpStream,
    pub encoder: rtmp_chunk::ChunkEncoder,
}

impl RawClient {
    /// Connects to 127.0.0.1:`port` and completes a handshake. `receive_buffer` shrinks the
    /// socket's receive buffer (for a client that stops reading).
    pub async fn connect(port: u16, receive_buffer: Option<u32>) -> Self {
        use rtmp_handshake::{ClientHandshake, ClientHandshakeConfig, Progress};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(size) = receive_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let mut stream = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
        let mut handshake = ClientHandshake::new(ClientHandshakeConfig::default());
        stream.write_all(&handshake.take_output()).await.unwrap();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "server closed during the handshake");
            let status = handshake.read(&buf[..n]).unwrap();
            stream.write_all(&handshake.take_output()).await.unwrap();
            if matches!(status, Progress::Done(_)) {
                break;
            }
        }
        Self {
            stream,
            encoder: rtmp_chunk::ChunkEncoder::new(),
        }
    }

    pub async fn send(&mut self, messages: &[rtmp_chunk::RawMessage]) {
        use tokio::io::AsyncWriteExt;
        let mut out = bytes::BytesMut::new();
        for message in messages {
            self.encoder.encode(message, &mut out).unwrap();
        }
        self.stream.write_all(&out).await.unwrap();
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        // The server may already have closed: that is what the caller checks next.
        let _ = self.stream.write_all(bytes).await;
    }

    /// connect, createStream and play `app/name`, without reading the answers.
    pub async fn play(&mut self, app: &str, name: &str) {
        use rtmp_amf0::Value;
        use rtmp_message::{Command, Connect, Message, Play};
        let connect = Connect {
            transaction_id: 1.0,
            app: app.into(),
            ..Connect::default()
        };
        let play = Play::new(name);
        let commands = [
            (0, Command::Connect(Box::new(connect))),
            (
                0,
                Command::CreateStream {
                    transaction_id: 2.0,
                },
            ),
            (1, Command::Play(play)),
        ];
        let messages: Vec<_> = commands
            .into_iter()
            .map(|(stream, command)| Message::Command(command).to_chunk(3, 0, stream).unwrap())
            .collect();
        let _ = Value::Null;
        self.send(&messages).await;
    }

    /// Reads and discards until the server closes the connection (bounded by LIMIT).
    pub async fn closed_by_server(&mut self) -> bool {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 65536];
        tokio::time::timeout(LIMIT, async {
            loop {
                match self.stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => {}
                }
            }
        })
        .await
        .unwrap_or(false)
    }
}

/// nginx with libnginx-mod-rtmp on a free loopback port, `application live { live on; }`,
/// in a folder of its own; killed and removed when dropped.
pub struct Nginx {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    pub async fn start() -> Self {
        let port = free_port();
        let dir = temp(&format!("nginx-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = format!(
            "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\n\
             daemon off;\nmaster_process off;\nworker_processes 1;\n\
             error_log {dir}/error.log info;\npid {dir}/nginx.pid;\n\
             events {{ worker_connections 256; }}\n\
             rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n\
             application live {{ live on; }} }} }}\n",
            dir = dir.display()
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = spawn(
            "nginx",
            &strings(&[
                "-p",
                dir.to_str().unwrap(),
                "-e",
                dir.join("error.log").to_str().unwrap(),
                "-c",
                dir.join("nginx.conf").to_str().unwrap(),
            ]),
        );
        wait_listening(port).await;
        Self { port, child, dir }
    }

    pub fn url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{key}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Waits (bounded) until something accepts connections on 127.0.0.1:`port`.
pub async fn wait_listening(port: u16) {
    tokio::time::timeout(LIMIT, async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the server never listened");
}

/// The H.264/AAC sample (5 s, 320x240) as FLV tags.
pub fn sample_tags() -> Vec<rtmp_flv::FlvTag> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rtmp-flv/tests/media/h264-aac.flv");
    let mut reader = rtmp_flv::FlvReader::new();
    reader.push(&std::fs::read(file).unwrap());
    std::iter::from_fn(|| reader.next_tag().unwrap()).collect()
}

/// Publishes `tags` `loops` times with our client in real time (timestamps rising across
/// loops), then ends the stream politely. With `as_frames`, each tag is parsed into frames
/// that go through the publisher as a `Sink` of frames in Enhanced RTMP form; otherwise the
/// tag data goes out untouched.
pub async fn publish_tags(url: &str, tags: &[rtmp_flv::FlvTag], loops: u32, as_frames: bool) {
    use futures::SinkExt;
    use rtmp_server::rtmp_client::{self as client, ClientConfig, Pacer, PlayEvent};
    let mut publisher = client::publish(url, ClientConfig::default()).await.unwrap();
    publisher.set_enhanced(true);
    let mut pacer = Pacer::new();
    let length = tags.iter().map(|tag| tag.timestamp).max().unwrap_or(0) + 40;
    for round in 0..loops {
        for tag in tags {
            // Sequence headers once, at the start.
            if round > 0 && tag.data.get(1) == Some(&0) {
                continue;
            }
            let timestamp = round * length + tag.timestamp;
            pacer.wait(timestamp).await;
            if !as_frames || tag.tag_type == 18 {
                publisher
                    .send_message(tag.tag_type, timestamp, tag.data.clone())
                    .await
                    .unwrap();
                continue;
            }
            let message =
                rtmp_chunk::RawMessage::new(0, timestamp, tag.tag_type, 1, tag.data.clone());
            for frame in PlayEvent::Media(message).frames() {
                publisher.send(frame).await.unwrap();
            }
        }
    }
    if as_frames {
        SinkExt::<rtmp_flv::Frame>::close(&mut publisher)
            .await
            .unwrap();
    } else {
        publisher.finish().await.unwrap();
    }
}

/// Plays `url` with our client into the FLV `file` until the server ends the stream (or the
/// publisher leaves); returns the (video, audio) messages received.
pub async fn record(url: &str, file: &Path) -> (usize, usize) {
    record_with(url, file, rtmp_server::rtmp_client::ClientConfig::default()).await
}

/// [`record`] with a client configuration (e.g. TLS roots).
pub async fn record_with(
    url: &str,
    file: &Path,
    config: rtmp_server::rtmp_client::ClientConfig,
) -> (usize, usize) {
    use rtmp_server::rtmp_client::{self as client, PlayEvent};
    let mut player = client::play(url, config).await.unwrap();
    let mut out = bytes::BytesMut::new();
    rtmp_flv::FlvHeader::new(true, true).encode(&mut out);
    let (mut video, mut audio, mut keyframes) = (0, 0, 0);
    tokio::time::timeout(LIMIT, async {
        while let Some(event) = player.next_event().await.unwrap() {
            for frame in event.frames() {
                if frame.kind == rtmp_flv::FrameKind::Key {
                    keyframes += 1;
                }
            }
            match event {
                PlayEvent::Media(message) => {
                    match message.type_id {
                        8 => audio += 1,
                        9 => video += 1,
                        _ => {}
                    }
                    rtmp_flv::FlvTag::new(message.type_id, message.timestamp, message.payload)
                        .encode(&mut out)
                        .unwrap();
                }
                PlayEvent::Status(status)
                    if status.code == rtmp_message::StatusCode::PlayUnpublishNotify =>
                {
                    break;
                }
                PlayEvent::Status(_) => {}
            }
        }
    })
    .await
    .expect("the played stream never ended");
    std::fs::write(file, &out).unwrap();
    // ffmpeg publishes with a keyframe every second (-g 25 at 25 fps).
    assert!(
        keyframes * 25 + 25 >= video,
        "{keyframes} keyframes in {video} video messages"
    );
    (video, audio)
}

/// A sample file of rtmp-flv's tests.
pub fn sample(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../rtmp-flv/tests/media")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

/// ffmpeg (9) publishing a sample file in real time, looped `loops` extra times.
pub fn publish_sample(url: &str, name: &str, loops: u32) -> Vec<String> {
    let loops = loops.to_string();
    strings(&[
        "-nostdin",
        "-loglevel",
        "error",
        "-re",
        "-stream_loop",
        &loops,
        "-i",
        &sample(name),
        "-c",
        "copy",
        "-f",
        "flv",
        url,
    ])
}

/// ffmpeg 9 publishing `seconds` of two H.264 renditions, 640x360 as track 0 and 320x180 as
/// track 1 (sent in Enhanced RTMP multitrack form), and AAC: OBS's Enhanced Broadcasting as
/// ffmpeg writes it. [`publish_args`] with a larger picture, split and scaled.
pub fn renditions_args(url: &str, seconds: u32) -> Vec<String> {
    let mut args = publish_args(url, seconds, "300k");
    for arg in &mut args {
        if arg.starts_with("testsrc2=") {
            *arg = "testsrc2=size=640x360:rate=25".into();
        }
    }
    let pix_fmt = args.iter().position(|arg| arg == "-pix_fmt").unwrap();
    let maps = strings(&[
        "-filter_complex",
        "[0:v]split=2[big][small];[small]scale=320:180[low]",
        "-map",
        "[big]",
        "-map",
        "[low]",
        "-map",
        "1:a",
    ]);
    args.splice(pix_fmt..pix_fmt, maps);
    args
}

/// ffmpeg 9 publishing `seconds` of two H.264 renditions (320x240 and 160x120) and two AAC
/// tracks at different rates: it sends the second of each kind in Enhanced RTMP multitrack
/// form. [`publish_args`] with a third input, a scaled copy of the video, and every stream
/// mapped.
pub fn multitrack_args(url: &str, seconds: u32) -> Vec<String> {
    let mut args = publish_args(url, seconds, "300k");
    let duration = args.iter().position(|arg| arg == "-t").unwrap();
    let extra = strings(&["-f", "lavfi", "-i", "sine=frequency=880:sample_rate=48000"]);
    args.splice(duration..duration, extra);
    let pix_fmt = args.iter().position(|arg| arg == "-pix_fmt").unwrap();
    let maps = strings(&[
        "-filter_complex",
        "[0:v]scale=160:120[low]",
        "-map",
        "0",
        "-map",
        "1",
        "-map",
        "2",
        "-map",
        "[low]",
    ]);
    args.splice(pix_fmt..pix_fmt, maps);
    args
}
