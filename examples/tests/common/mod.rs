//! Shared by the examples' tests: what ffprobe decodes of a saved file.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // test code, each test binary uses a part

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// The longest any step of a test waits.
pub const LIMIT: Duration = Duration::from_secs(60);

/// ffmpeg arguments publishing `seconds` of a 320x240 test picture at 25 fps (a keyframe
/// every second) and a sine tone, as H.264/AAC in real time, to `url`.
pub fn publish_args(url: &str, seconds: u32) -> Vec<String> {
    let seconds = seconds.to_string();
    [
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
        "sine",
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
        "-c:a",
        "aac",
        "-f",
        "flv",
        url,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Frames of `stream` ("v" or "a") that ffprobe decodes in `file` (0 when it cannot).
pub fn frames(file: &Path, stream: &str) -> usize {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", stream])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .unwrap_or_else(|error| panic!("cannot run ffprobe ({error}): run .ci/install-peers"));
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Kills the process when dropped, so that a failing test leaves nothing running.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The example server, built beside this test by `cargo test`.
pub fn server_binary() -> PathBuf {
    example_binary("server")
}

/// The example `name`, built beside this test by `cargo test`.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(path.exists(), "{} is built by cargo test", path.display());
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the server with `args` and waits (bounded) until `port` and every other listener
/// `args` names (`--listen`, `--http`, `--watch` on 127.0.0.1) accept connections, so that no
/// test asks a listener that is not there yet.
pub fn start_server(args: &[String], port: u16) -> Process {
    let child = Command::new(server_binary())
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let process = Process(child);
    let mut ports = vec![port];
    for pair in args.windows(2) {
        if ["--listen", "--http", "--watch"].contains(&pair[0].as_str())
            && let Some(port) = pair[1]
                .strip_prefix("127.0.0.1:")
                .and_then(|port| port.parse().ok())
        {
            ports.push(port);
        }
    }
    let start = Instant::now();
    for port in ports {
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < LIMIT,
                "the server never listened on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    process
}

/// Runs `program` to its end (bounded), reading its output as it comes (a peer that writes
/// more than a pipe holds is not held up by it).
pub fn run(program: impl AsRef<std::ffi::OsStr>, args: &[String]) -> Output {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run a peer ({error}): run .ci/install-peers"));
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(LIMIT) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{args:?} did not finish");
        }
    }
}

pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|arg| (*arg).to_owned()).collect()
}

/// An HTTP request with curl: the status code and the body.
pub fn curl(method: &str, url: &str) -> (u16, String) {
    let mut args = strings(&["-s", "-X", method, "-w", "\n%{http_code}", url]);
    if method == "POST" {
        // The API takes state-changing POSTs only as JSON, which no other site can send.
        args.extend(strings(&[
            "-H",
            "Content-Type: application/json",
            "-d",
            "{}",
        ]));
    }
    let output = run("curl", &args);
    let text = String::from_utf8(output.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap_or(0), body.to_owned())
}

/// Waits (bounded) until `done`.
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < LIMIT, "{what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A mebibyte.
pub const MIB: usize = 1 << 20;

/// `bytes` in MiB, for printing.
pub fn mib(bytes: usize) -> f64 {
    bytes as f64 / MIB as f64
}

/// The memory of a process (the server under attack), from `/proc`.
pub struct Memory(pub u32);

impl Memory {
    /// A field of `/proc/PID/status` given in KiB, in bytes.
    pub fn status(&self, field: &str) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0)).unwrap();
        let line = status.lines().find(|line| line.starts_with(field)).unwrap();
        let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }

    /// Resident memory now.
    pub fn resident(&self) -> usize {
        self.status("VmRSS:")
    }

    /// Clears the kernel's peak mark and returns resident memory now: what
    /// [`peak_above`](Self::peak_above) compares with.
    pub fn start(&self) -> usize {
        std::fs::write(format!("/proc/{}/clear_refs", self.0), "5").unwrap();
        self.resident()
    }

    /// The peak resident memory since [`start`](Self::start), above `before`.
    pub fn peak_above(&self, before: usize) -> usize {
        self.status("VmHWM:").saturating_sub(before)
    }

    /// Runs `attack`: the peak resident memory meanwhile, above what was resident before
    /// (work the process does after the attack's last byte counts too), and its result.
    pub fn growth<T>(&self, attack: impl FnOnce() -> T) -> (usize, T) {
        let before = self.start();
        let result = attack();
        std::thread::sleep(Duration::from_millis(300));
        (self.peak_above(before), result)
    }

    /// Whether the process still runs.
    pub fn alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/status", self.0))
            .is_ok_and(|status| !status.contains("State:\tZ"))
    }
}

/// Headless Chromium with its DevTools protocol on a free port, showing `url`.
pub struct Browser {
    devtools: u16,
    _process: Process,
    profile: PathBuf,
}

impl Browser {
    /// Chromium showing `url`.
    pub fn open(url: &str) -> Self {
        let devtools = free_port();
        let profile =
            std::env::temp_dir().join(format!("rtmp-chromium-{}-{devtools}", std::process::id()));
        let process = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--autoplay-policy=no-user-gesture-required",
                &format!("--remote-debugging-port={devtools}"),
                &format!("--user-data-dir={}", profile.display()),
                url,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run chromium ({error}): run .ci/install-peers"));
        Self {
            devtools,
            _process: Process(process),
            profile,
        }
    }

    /// What `expression` gives in the page, through the DevTools protocol.
    pub fn evaluate(
        &self,
        runtime: &tokio::runtime::Runtime,
        expression: &str,
    ) -> serde_json::Value {
        let list = format!("http://127.0.0.1:{}/json/list", self.devtools);
        let (_, body) = curl("GET", &list);
        let targets: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let Some(page) = targets
            .as_array()
            .into_iter()
            .flatten()
            .find(|target| target["type"] == "page")
            .and_then(|page| page["webSocketDebuggerUrl"].as_str())
        else {
            return serde_json::Value::Null;
        };
        runtime.block_on(async {
            let (mut socket, _) = tokio_tungstenite::connect_async(page).await.unwrap();
            let call = serde_json::json!({
                "id": 1,
                "method": "Runtime.evaluate",
                "params": { "expression": expression, "returnByValue": true },
            });
            socket.send(Message::text(call.to_string())).await.unwrap();
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
                if answer["id"] == 1 {
                    return answer["result"]["result"]["value"].clone();
                }
            }
            serde_json::Value::Null
        })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A field of stream `cam` in the JSON API at `http` (0 when it is not there).
pub fn stream_field(http: &str, field: &str) -> u64 {
    let (_, body) = curl("GET", &format!("{http}/api/streams"));
    let streams: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    streams
        .as_array()
        .into_iter()
        .flatten()
        .find(|stream| stream["name"] == "cam")
        .and_then(|stream| stream[field].as_u64())
        .unwrap_or(0)
}
