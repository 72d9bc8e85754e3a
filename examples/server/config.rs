//! The server's optional TOML file: every command-line setting, plus per-application
//! settings (who may publish and play, push and pull targets, recording).
//!
//! ```toml
//! listen = "0.0.0.0:1935"
//! http = "127.0.0.1:8080"
//! watch = "0.0.0.0:8081"
//! max_connections_per_ip = 20
//!
//! [record]
//! dir = "/var/lib/rtmp"
//! segment_secs = 600
//!
//! [apps.live]
//! publish_allow = ["10.0.0.0/8", "127.0.0.1"]
//! play_deny = ["192.0.2.0/24"]
//! push = ["rtmp://backup.example"]
//! record = true
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole file. Every key is optional; a key the server does not know is an error.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address for RTMP.
    pub listen: Option<SocketAddr>,
    /// Chunk size sent to clients.
    pub chunk_size: Option<u32>,
    /// Keep the current GOP for joining players.
    pub gop_cache: Option<bool>,
    /// The write tick in milliseconds.
    pub write_interval_ms: Option<u64>,
    /// The longest a small write waits for more, in milliseconds.
    pub max_write_delay_ms: Option<u64>,
    /// Close a client that accepts no bytes for this long.
    pub write_timeout_secs: Option<u64>,
    /// The most connections at once.
    pub max_connections: Option<usize>,
    /// The most connections at once from one address.
    pub max_connections_per_ip: Option<usize>,
    /// The listen backlog.
    pub listen_backlog: Option<u32>,
    /// How long players wait for a publisher that left to come back.
    pub republish_grace_secs: Option<u64>,
    /// Whether a publish may take a key over from a silent publisher.
    pub takeover: Option<bool>,
    /// How long a publisher must have been silent to be taken over (0: always).
    pub takeover_after_secs: Option<u64>,
    /// Address for the HTTP status page, API and metrics.
    pub http: Option<SocketAddr>,
    /// The most HTTP connections at once.
    pub http_max_connections: Option<usize>,
    /// Address for viewers: HTTP-FLV, WebSocket-FLV and watch pages.
    pub watch: Option<SocketAddr>,
    /// The most viewer connections at once.
    pub watch_max_connections: Option<usize>,
    /// As `--watch-max-connections-per-ip`.
    pub watch_max_connections_per_ip: Option<usize>,
    /// The bearer token the HTTP API and metrics require.
    pub api_token: Option<String>,
    /// RTMPS.
    pub tls: Option<TlsSection>,
    /// Push every stream to these servers.
    pub push: Option<Vec<String>>,
    /// Pull streams nobody publishes here from this origin.
    pub pull: Option<String>,
    /// Recording.
    pub record: Option<RecordSection>,
    /// Redis of the cluster to join (`redis://host:port`).
    pub cluster: Option<String>,
    /// How other nodes reach this one (`rtmp://host:port`).
    pub node_url: Option<String>,
    /// The lease of a publisher's key, in seconds.
    pub cluster_lease_secs: Option<u64>,
    /// How long clients get to move away on SIGTERM, in seconds.
    pub drain_secs: Option<u64>,
    /// Signed stream names.
    pub auth: Option<AuthSection>,
    /// The webhook.
    pub webhook: Option<WebhookSection>,
    /// Settings per application, by name.
    #[serde(default)]
    pub apps: BTreeMap<String, AppSection>,
}

/// `[auth]`: secrets that sign stream names (`NAME?expires=UNIX&token=HEX`).
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// A publish needs a name signed with this secret (or one of these, while one replaces
    /// another).
    #[serde(default)]
    pub publish_secret: Secrets,
    /// A play needs a name signed with this secret (or one of these).
    #[serde(default)]
    pub play_secret: Secrets,
}

/// `[webhook]`: an HTTP endpoint that decides on publishes and plays and hears of their ends.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// Where the calls go.
    pub url: String,
    /// How long a decision waits, in seconds.
    pub timeout_secs: Option<u64>,
    /// Accept publishes and plays when the endpoint gives no answer (default: refuse).
    pub accept_when_unreachable: Option<bool>,
}

/// One secret, or several while one replaces another.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Secrets {
    /// None set.
    #[default]
    None,
    /// One secret.
    One(String),
    /// Several, each valid.
    Many(Vec<String>),
}

impl Secrets {
    /// The secrets, in order.
    pub fn list(&self) -> Vec<String> {
        match self {
            Self::None => Vec::new(),
            Self::One(secret) => vec![secret.clone()],
            Self::Many(secrets) => secrets.clone(),
        }
    }
}

/// `[tls]`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
    /// Address for RTMPS.
    pub listen: Option<SocketAddr>,
}

/// `[record]`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecordSection {
    /// Where recordings go.
    pub dir: PathBuf,
    /// Start a new file after this many seconds.
    pub segment_secs: Option<u64>,
    /// Start a new file after this many mebibytes.
    pub segment_mb: Option<u64>,
    /// Of a multitrack stream, record this video track only (with audio track 0).
    pub track: Option<u8>,
}

/// `[apps.NAME]`.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppSection {
    /// If not empty, only these addresses (or networks, `10.0.0.0/8`) may publish.
    #[serde(default)]
    pub publish_allow: Vec<Network>,
    /// These may not publish (even if allowed above).
    #[serde(default)]
    pub publish_deny: Vec<Network>,
    /// If not empty, only these may play.
    #[serde(default)]
    pub play_allow: Vec<Network>,
    /// These may not play.
    #[serde(default)]
    pub play_deny: Vec<Network>,
    /// Push this application's streams to these servers too.
    #[serde(default)]
    pub push: Vec<String>,
    /// Pull this application's streams from this origin while someone plays them.
    pub pull: Option<String>,
    /// Record this application's streams (when recording is on; default true).
    pub record: Option<bool>,
}

impl AppSection {
    /// Whether `address` may publish.
    pub fn may_publish(&self, address: IpAddr) -> bool {
        allowed(&self.publish_allow, &self.publish_deny, address)
    }

    /// Whether `address` may play.
    pub fn may_play(&self, address: IpAddr) -> bool {
        allowed(&self.play_allow, &self.play_deny, address)
    }
}

fn allowed(allow: &[Network], deny: &[Network], address: IpAddr) -> bool {
    let listed = |list: &[Network]| list.iter().any(|network| network.contains(address));
    (allow.is_empty() || listed(allow)) && !listed(deny)
}

/// An address, or a network in CIDR form (`192.0.2.0/24`, `2001:db8::/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network(ipnet::IpNet);

impl Network {
    /// Whether `address` is in the network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        self.0.contains(&address)
    }
}

impl std::str::FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Ok(address) = text.parse::<IpAddr>() {
            return Ok(Self(address.into()));
        }
        text.parse::<ipnet::IpNet>().map(Self).map_err(|_| {
            format!("`{text}` is not an address or a network (a.b.c.d/n, with n up to 32, or 128 for IPv6)")
        })
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a config file's text. The error names the line and column, and the key.
pub fn parse(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|error| error.to_string())
}

/// Reads and parses the file at `path`.
pub fn load(path: &Path) -> Result<FileConfig, String> {
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    parse(&text).map_err(|error| format!("{}: {error}", path.display()))
}
