//! [`Rendition`]: which tracks of a multitrack stream (Enhanced RTMP v2) a player gets.

/// Which tracks of a stream a player gets.
///
/// A publisher may send several renditions of one stream in one connection, as Enhanced RTMP
/// multitrack video and audio (OBS's Enhanced Broadcasting, ffmpeg 8 and later). A player that
/// can take them all gets [`All`](Self::All); any other player gets one video track and one
/// audio track as an ordinary single-track stream ([`One`](Self::One)): legacy tags where the
/// codec has a legacy form (H.264, AAC), single-track Enhanced RTMP packets otherwise, from
/// that track's keyframe on. Media of a stream without multitrack is track 0.
///
/// ```
/// use rtmp_router::Rendition;
///
/// // A player that did not announce multitrack gets track 0 unless it asks for another.
/// assert_eq!(Rendition::from_query(None, false)?, Rendition::first());
/// assert_eq!(
///     Rendition::from_query(Some("track=1&token=abc"), false)?,
///     Rendition::One { video: 1, audio: 0 }
/// );
/// // One that announced multitrack gets the stream as published, or the track it asks for.
/// assert_eq!(Rendition::from_query(None, true)?, Rendition::All);
/// assert_eq!(
///     Rendition::from_query(Some("audio_track=2"), true)?,
///     Rendition::One { video: 0, audio: 2 }
/// );
/// // Any player may ask for every track as published.
/// assert_eq!(Rendition::from_query(Some("track=all"), false)?, Rendition::All);
/// assert!(Rendition::from_query(Some("track=256"), false).is_err());
/// # Ok::<(), rtmp_router::BadTrack>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Rendition {
    /// Every track, as published (players that announced multitrack, recorders, relays).
    #[default]
    All,
    /// One video track and one audio track, each as a single-track stream.
    One {
        /// The video track's id.
        video: u8,
        /// The audio track's id.
        audio: u8,
    },
}

/// A stream name's query asked for a track that cannot be: an id is a number from 0 to 255
/// (or `all`, for `track`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}={value} is not a track id (0 to 255, or track=all)")]
pub struct BadTrack {
    /// The query's parameter (`track` or `audio_track`).
    pub name: &'static str,
    /// What it was given.
    pub value: String,
}

impl Rendition {
    /// The default rendition of a player that cannot take multitrack: video track 0 and audio
    /// track 0.
    pub const fn first() -> Self {
        Self::One { video: 0, audio: 0 }
    }

    /// The rendition a player asks for in its stream name's query: `track=ID` for the video
    /// track, `audio_track=ID` for the audio track, other parameters ignored. A player that
    /// announced multitrack (`multitrack`) and names no track gets [`All`](Self::All); any
    /// other gets [`One`](Self::One), with track 0 where it names none. `track=all` asks for
    /// [`All`](Self::All), whatever the player announced (an `audio_track` beside it is then
    /// ignored): ffmpeg 9 plays every track of a multitrack stream, yet announces nothing.
    pub fn from_query(query: Option<&str>, multitrack: bool) -> Result<Self, BadTrack> {
        let (mut video, mut audio) = (None, None);
        for pair in query.unwrap_or_default().split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if (name, value) == ("track", "all") {
                return Ok(Self::All);
            }
            let (slot, name) = match name {
                "track" => (&mut video, "track"),
                "audio_track" => (&mut audio, "audio_track"),
                _ => continue,
            };
            let id = value.parse::<u8>().map_err(|_| BadTrack {
                name,
                value: value.chars().take(32).collect(),
            })?;
            *slot = Some(id);
        }
        if multitrack && video.is_none() && audio.is_none() {
            return Ok(Self::All);
        }
        Ok(Self::One {
            video: video.unwrap_or(0),
            audio: audio.unwrap_or(0),
        })
    }

    /// The video track of a single rendition.
    pub fn video_track(self) -> Option<u8> {
        match self {
            Self::All => None,
            Self::One { video, .. } => Some(video),
        }
    }
}

impl std::fmt::Display for Rendition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::All => f.write_str("all tracks"),
            Self::One { video, audio } => write!(f, "video track {video}, audio track {audio}"),
        }
    }
}
