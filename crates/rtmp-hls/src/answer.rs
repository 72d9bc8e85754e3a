//! What a GET gets: [`Answer`] and [`Response`], and the parsing of request names and of the
//! LL-HLS query parameters.

use bytes::Bytes;

/// `Content-Type` of playlists.
pub const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
/// `Content-Type` of a video rendition's init sections, segments and parts.
pub const VIDEO_TYPE: &str = "video/mp4";
/// `Content-Type` of an audio rendition's init sections, segments and parts.
pub const AUDIO_TYPE: &str = "audio/mp4";

/// The answer to one GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200 with this body.
    Ready(Response),
    /// A blocking playlist request for a part not yet made, or a request for the hinted
    /// (preload) part or a part or segment in progress: wait for [`crate::Hls::version`] to
    /// change and ask again (503 after about three target durations).
    Wait,
    /// `_HLS_msn` more than one segment ahead of the one in progress, `_HLS_part` without
    /// `_HLS_msn`, a bad query value or a name outside the naming scheme: 400.
    BadRequest,
    /// Gone (out of the window) or never existed: 404.
    NotFound,
}

impl Answer {
    /// Whether it is [`Answer::Ready`].
    pub fn is_ready(&self) -> bool {
        matches!(self, Answer::Ready(_))
    }
}

/// A body to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The body: a clone of the held bytes for media, a fresh string for playlists.
    pub body: Bytes,
    /// `application/vnd.apple.mpegurl`, `video/mp4` or `audio/mp4`.
    pub content_type: &'static str,
    /// True for init sections, segments and parts (they never change: cache for long); false
    /// for playlists.
    pub immutable: bool,
}

/// A name inside the stream's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resource<'a> {
    /// `index.m3u8`.
    Multivariant,
    /// `<rendition>.m3u8`.
    Playlist(&'a str),
    /// `<rendition>/init<generation>.mp4`.
    Init(&'a str, u32),
    /// `<rendition>/<msn>.m4s`.
    Segment(&'a str, u64),
    /// `<rendition>/<msn>.<part>.m4s`.
    Part(&'a str, u64, usize),
}

/// Whether `name` is a rendition name: `v` or `a` and a track id.
fn rendition_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('v' | 'a')) && number::<u8>(chars.as_str()).is_some()
}

/// A decimal number without sign or leading zeros.
fn number<T: std::str::FromStr>(text: &str) -> Option<T> {
    let digits = !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
    (digits && (text == "0" || !text.starts_with('0')))
        .then(|| text.parse().ok())
        .flatten()
}

/// Parses a request name; `None` for a name outside the scheme.
pub(crate) fn resource(path: &str) -> Option<Resource<'_>> {
    let path = path.strip_prefix('/').unwrap_or(path);
    if path == "index.m3u8" {
        return Some(Resource::Multivariant);
    }
    if let Some(name) = path.strip_suffix(".m3u8") {
        return rendition_name(name).then_some(Resource::Playlist(name));
    }
    let (name, file) = path.split_once('/')?;
    if !rendition_name(name) {
        return None;
    }
    if let Some(generation) = file
        .strip_prefix("init")
        .and_then(|f| f.strip_suffix(".mp4"))
    {
        return Some(Resource::Init(name, number(generation)?));
    }
    let stem = file.strip_suffix(".m4s")?;
    match stem.split_once('.') {
        None => Some(Resource::Segment(name, number(stem)?)),
        Some((msn, part)) => Some(Resource::Part(name, number(msn)?, number(part)?)),
    }
}

/// The LL-HLS parameters of a playlist request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Blocking {
    /// `_HLS_msn`.
    pub msn: Option<u64>,
    /// `_HLS_part`.
    pub part: Option<usize>,
    /// `_HLS_skip=YES` or `v2`.
    pub skip: bool,
}

/// Parses `_HLS_msn`, `_HLS_part` and `_HLS_skip` (other parameters are ignored); `None` when
/// one of them has a bad value or `_HLS_part` comes without `_HLS_msn`.
pub(crate) fn blocking(query: Option<&str>) -> Option<Blocking> {
    let mut blocking = Blocking::default();
    for pair in query.unwrap_or_default().split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "_HLS_msn" => blocking.msn = Some(number(value)?),
            "_HLS_part" => blocking.part = Some(number(value)?),
            "_HLS_skip" => match value {
                "YES" | "v2" => blocking.skip = true,
                _ => return None,
            },
            _ => {}
        }
    }
    if blocking.part.is_some() && blocking.msn.is_none() {
        return None;
    }
    Some(blocking)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(resource("index.m3u8"), Some(Resource::Multivariant));
        assert_eq!(resource("v0.m3u8"), Some(Resource::Playlist("v0")));
        assert_eq!(resource("a12/init3.mp4"), Some(Resource::Init("a12", 3)));
        assert_eq!(resource("v0/12.m4s"), Some(Resource::Segment("v0", 12)));
        assert_eq!(resource("v0/12.3.m4s"), Some(Resource::Part("v0", 12, 3)));
        for bad in [
            "",
            "x.m3u8",
            "v.m3u8",
            "v256.m3u8",
            "v01.m3u8",
            "v0/12",
            "v0/-1.m4s",
            "v0/1.2.3.m4s",
            "../v0.m3u8",
            "v0/init.mp4",
            "v0/+1.m4s",
            "v0/1.m4s/x",
        ] {
            assert_eq!(resource(bad), None, "{bad}");
        }
    }

    #[test]
    fn queries() {
        assert_eq!(blocking(None), Some(Blocking::default()));
        let parsed = blocking(Some("token=x&_HLS_msn=5&_HLS_part=2&_HLS_skip=YES")).unwrap();
        assert_eq!(
            (parsed.msn, parsed.part, parsed.skip),
            (Some(5), Some(2), true)
        );
        assert_eq!(blocking(Some("_HLS_part=1")), None);
        assert_eq!(blocking(Some("_HLS_msn=x")), None);
        assert_eq!(blocking(Some("_HLS_skip=NO")), None);
        assert!(blocking(Some("_HLS_skip=v2")).unwrap().skip);
    }
}
