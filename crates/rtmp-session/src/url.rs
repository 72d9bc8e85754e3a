//! RTMP URLs: `rtmp://host[:port]/app[/instance]/stream[?query]` and `rtmps://...`.

use std::fmt;
use std::str::FromStr;

/// Plain RTMP or RTMP over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `rtmp://`, port 1935 by default.
    Rtmp,
    /// `rtmps://`, port 443 by default.
    Rtmps,
}

impl Scheme {
    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Rtmp => 1935,
            Self::Rtmps => 443,
        }
    }

    /// `rtmp` or `rtmps`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rtmp => "rtmp",
            Self::Rtmps => "rtmps",
        }
    }
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// Not `rtmp://` or `rtmps://`.
    #[error("{0:?}: the scheme must be rtmp:// or rtmps://")]
    Scheme(String),
    /// No host after the scheme.
    #[error("{0:?}: no host")]
    NoHost(String),
    /// The port is not a number from 1 to 65535.
    #[error("{0:?}: bad port")]
    Port(String),
    /// No application in the path.
    #[error("{0:?}: no application (rtmp://host/app/stream)")]
    NoApp(String),
}

/// A parsed RTMP URL.
///
/// The path is split the way ffmpeg splits it: one component is the application and the rest
/// the stream name (`rtmp://h/live/cam` is app `live`, stream `cam`), except that with three or
/// more components the second is taken as an application instance (`rtmp://h/live/inst/cam`
/// is app `live/inst`, stream `cam`) unless the stream part starts with a `prefix:` such as
/// `mp4:` (`rtmp://h/vod/mp4:dir/file` is app `vod`). Where that guess is wrong, set the split
/// yourself with [`with_app`](Self::with_app).
///
/// ```
/// use rtmp_session::RtmpUrl;
///
/// let url: RtmpUrl = "rtmp://127.0.0.1/live/cam?token=abc".parse()?;
/// assert_eq!((url.host.as_str(), url.port), ("127.0.0.1", 1935));
/// assert_eq!((url.app.as_str(), url.stream.as_str()), ("live", "cam?token=abc"));
/// assert_eq!(url.tc_url(), "rtmp://127.0.0.1:1935/live");
/// # Ok::<(), rtmp_session::UrlError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RtmpUrl {
    /// rtmp or rtmps.
    pub scheme: Scheme,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (the scheme's default when the URL has none).
    pub port: u16,
    /// The application, with its instance if any (`live`, `live/instance`).
    pub app: String,
    /// The stream name with its query string (`cam?token=abc`); empty when the URL names only
    /// a server and application.
    pub stream: String,
}

impl RtmpUrl {
    /// Parses a URL (same as `str::parse`).
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let error = || text.to_owned();
        let (scheme, rest) = if let Some(rest) = strip_prefix_ignore_case(text, "rtmp://") {
            (Scheme::Rtmp, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(text, "rtmps://") {
            (Scheme::Rtmps, rest)
        } else {
            return Err(UrlError::Scheme(error()));
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = split_host_port(authority).ok_or_else(|| UrlError::Port(error()))?;
        if host.is_empty() {
            return Err(UrlError::NoHost(error()));
        }
        let port = match port {
            Some(port) => port,
            None => scheme.default_port(),
        };
        // A query directly after the application belongs to the stream part.
        let (path, query) = match path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path, None),
        };
        let (app, stream) = split_path(path);
        if app.is_empty() {
            return Err(UrlError::NoApp(error()));
        }
        let mut stream = stream.to_owned();
        if let Some(query) = query {
            stream.push('?');
            stream.push_str(query);
        }
        Ok(Self {
            scheme,
            host: host.to_owned(),
            port,
            app: app.to_owned(),
            stream,
        })
    }

    /// Re-splits the path with `app` as the application: the rest is the stream name. For
    /// paths the automatic split gets wrong.
    ///
    /// ```
    /// use rtmp_session::RtmpUrl;
    ///
    /// let url = RtmpUrl::parse("rtmp://h/a/b/c")?.with_app("a");
    /// assert_eq!((url.app.as_str(), url.stream.as_str()), ("a", "b/c"));
    /// # Ok::<(), rtmp_session::UrlError>(())
    /// ```
    pub fn with_app(mut self, app: &str) -> Self {
        let app = app.trim_matches('/');
        let path = self.path();
        let stream = path
            .strip_prefix(app)
            .map(|rest| rest.trim_start_matches('/'))
            .unwrap_or(&path)
            .to_owned();
        self.app = app.to_owned();
        self.stream = stream;
        self
    }

    /// The same server and application with another stream name.
    pub fn with_stream(mut self, stream: &str) -> Self {
        self.stream = stream.to_owned();
        self
    }

    /// `app/stream` as in the URL.
    fn path(&self) -> String {
        if self.stream.is_empty() {
            self.app.clone()
        } else {
            format!("{}/{}", self.app, self.stream)
        }
    }

    /// The `tcUrl` sent in connect: `scheme://host:port/app`.
    pub fn tc_url(&self) -> String {
        format!(
            "{}://{}:{}/{}",
            self.scheme.as_str(),
            self.host_for_url(),
            self.port,
            self.app
        )
    }

    /// `host:port` for connecting.
    pub fn address(&self) -> (String, u16) {
        (self.host.clone(), self.port)
    }

    fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl FromStr for RtmpUrl {
    type Err = UrlError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for RtmpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.tc_url())?;
        if !self.stream.is_empty() {
            write!(f, "/{}", self.stream)?;
        }
        Ok(())
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`; `None` for a bad port.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    match port {
        None => Some((host, None)),
        Some(port) => match port.parse::<u16>() {
            Ok(port) if port > 0 => Some((host, Some(port))),
            _ => None,
        },
    }
}

/// (app, stream) of a path without its leading slash.
fn split_path(path: &str) -> (&str, &str) {
    let path = path.trim_start_matches('/');
    let Some((first, rest)) = path.split_once('/') else {
        return (path, "");
    };
    match rest.split_once('/') {
        // Three or more components: the second is an instance, unless the stream part starts
        // with a `prefix:` before its first slash.
        Some((second, _)) if !second.contains(':') => {
            let app_len = first.len() + 1 + second.len();
            let app = path.get(..app_len).unwrap_or(path);
            let stream = path.get(app_len + 1..).unwrap_or_default();
            (app, stream)
        }
        _ => (first, rest),
    }
}
