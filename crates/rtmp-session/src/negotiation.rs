//! Enhanced RTMP v2 connect negotiation: what each side announces in connect and its
//! `_result` (`fourCcList`, `videoFourCcInfoMap`, `audioFourCcInfoMap`, `capsEx`), and what
//! both can do.

use rtmp_amf0::{Object, Value};
use rtmp_message::Connect;

/// FourCC capability flags of the info maps.
pub mod fourcc_flags {
    /// The peer can decode (play) the codec.
    pub const CAN_DECODE: u32 = 0x01;
    /// The peer can encode (publish) the codec.
    pub const CAN_ENCODE: u32 = 0x02;
    /// The peer can forward the codec without decoding it (a server or relay).
    pub const CAN_FORWARD: u32 = 0x04;
    /// Every flag.
    pub const ALL: u32 = CAN_DECODE | CAN_ENCODE | CAN_FORWARD;
}

/// Extended capability flags (`capsEx`).
pub mod caps_ex {
    /// NetConnection.Connect.ReconnectRequest is understood.
    pub const RECONNECT: u32 = 0x01;
    /// Multitrack audio and video.
    pub const MULTITRACK: u32 = 0x02;
    /// ModEx packets (parsed, or at least skipped).
    pub const MODEX: u32 = 0x04;
    /// ModEx TimestampOffsetNano is applied.
    pub const TIMESTAMP_NANO_OFFSET: u32 = 0x08;
}

/// The FourCCs of video codecs in Enhanced RTMP (anything else in a `fourCcList` is taken as
/// audio).
const VIDEO_FOURCCS: &[&str] = &["avc1", "hvc1", "av01", "vp09", "vp08", "vvc1"];

/// The wildcard FourCC: every codec.
pub const ANY_FOURCC: &str = "*";

/// What one side of a connection announced it can do with Enhanced RTMP: codecs with their
/// flags, per media kind, and extended capabilities.
///
/// ```
/// use rtmp_session::{Capabilities, caps_ex, fourcc_flags::*};
///
/// let server = Capabilities::forwarding_everything();
/// let player = Capabilities {
///     video: vec![("avc1".into(), CAN_DECODE)],
///     audio: vec![("mp4a".into(), CAN_DECODE)],
///     caps_ex: caps_ex::RECONNECT,
/// };
/// let agreed = server.answer(&player);
/// assert!(agreed.has_video("avc1") && !agreed.has_video("hvc1"));
/// assert_eq!(agreed.caps_ex, caps_ex::RECONNECT);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Video FourCCs (or `*`) with their flags.
    pub video: Vec<(String, u32)>,
    /// Audio FourCCs (or `*`) with their flags.
    pub audio: Vec<(String, u32)>,
    /// `capsEx` flags.
    pub caps_ex: u32,
}

impl Capabilities {
    /// A server that forwards every codec and supports every extended capability this
    /// workspace implements (reconnect, multitrack, ModEx with nanosecond offsets).
    pub fn forwarding_everything() -> Self {
        Self {
            video: vec![(ANY_FOURCC.into(), fourcc_flags::CAN_FORWARD)],
            audio: vec![(ANY_FOURCC.into(), fourcc_flags::CAN_FORWARD)],
            caps_ex: caps_ex::RECONNECT
                | caps_ex::MULTITRACK
                | caps_ex::MODEX
                | caps_ex::TIMESTAMP_NANO_OFFSET,
        }
    }

    /// What a connect command announced, if it announced anything: the v2 info maps, or a
    /// v1 `fourCcList` (each listed codec with every flag, split into video and audio by
    /// FourCC; `*` in both).
    pub fn from_connect(connect: &Connect) -> Option<Self> {
        if !connect.is_enhanced() && connect.caps_ex.is_none() {
            return None;
        }
        let mut announced = Self {
            caps_ex: connect.caps_ex.unwrap_or(0),
            ..Self::default()
        };
        if let Some(list) = &connect.fourcc_list {
            for fourcc in list {
                let entry = (fourcc.clone(), fourcc_flags::ALL);
                if fourcc == ANY_FOURCC || VIDEO_FOURCCS.contains(&fourcc.as_str()) {
                    announced.video.push(entry.clone());
                }
                if fourcc == ANY_FOURCC || !VIDEO_FOURCCS.contains(&fourcc.as_str()) {
                    announced.audio.push(entry);
                }
            }
        }
        // The v2 maps, when present, say more than the list.
        if let Some(map) = &connect.video_fourcc_info_map {
            announced.video = map.clone();
        }
        if let Some(map) = &connect.audio_fourcc_info_map {
            announced.audio = map.clone();
        }
        Some(announced)
    }

    /// The flags given to `fourcc` in `list`: its own entry, else the wildcard's.
    fn flags(list: &[(String, u32)], fourcc: &str) -> Option<u32> {
        list.iter()
            .find(|(name, _)| name == fourcc)
            .or_else(|| list.iter().find(|(name, _)| name == ANY_FOURCC))
            .map(|(_, flags)| *flags)
    }

    /// Whether video `fourcc` is listed (with any flag).
    pub fn has_video(&self, fourcc: &str) -> bool {
        Self::flags(&self.video, fourcc).is_some_and(|flags| flags != 0)
    }

    /// Whether audio `fourcc` is listed (with any flag).
    pub fn has_audio(&self, fourcc: &str) -> bool {
        Self::flags(&self.audio, fourcc).is_some_and(|flags| flags != 0)
    }

    /// The answer of a server with these capabilities to a client that announced `client`:
    /// the codecs both list (a wildcard on one side takes the other's list), each with this
    /// side's flags for it, and the `capsEx` flags both set.
    pub fn answer(&self, client: &Self) -> Self {
        fn both(ours: &[(String, u32)], theirs: &[(String, u32)]) -> Vec<(String, u32)> {
            let ours_any = Capabilities::flags(ours, ANY_FOURCC);
            let mut answer: Vec<(String, u32)> = theirs
                .iter()
                .filter(|(fourcc, _)| fourcc != ANY_FOURCC)
                .filter_map(|(fourcc, _)| {
                    let flags = Capabilities::flags(ours, fourcc)?;
                    (flags != 0).then(|| (fourcc.clone(), flags))
                })
                .collect();
            if Capabilities::flags(theirs, ANY_FOURCC).is_some() {
                // The client takes anything: everything we list, wildcard included.
                for (fourcc, flags) in ours {
                    if !answer.iter().any(|(name, _)| name == fourcc) {
                        answer.push((fourcc.clone(), *flags));
                    }
                }
            } else if ours_any.is_none() {
                answer.retain(|(fourcc, _)| ours.iter().any(|(name, _)| name == fourcc));
            }
            answer
        }
        Self {
            video: both(&self.video, &client.video),
            audio: both(&self.audio, &client.audio),
            caps_ex: self.caps_ex & client.caps_ex,
        }
    }

    /// Writes the v2 properties (and a v1 `fourCcList` of every FourCC, for v1 peers) into a
    /// connect command object or a `_result`'s.
    pub fn write_into(&self, object: &mut Object) {
        let mut list: Vec<Value> = Vec::new();
        for (fourcc, _) in self.video.iter().chain(&self.audio) {
            if !list.iter().any(|listed| listed.as_str() == Some(fourcc)) {
                list.push(fourcc.as_str().into());
            }
        }
        object.insert("fourCcList", list);
        for (key, map) in [
            ("videoFourCcInfoMap", &self.video),
            ("audioFourCcInfoMap", &self.audio),
        ] {
            let map: Object = map
                .iter()
                .map(|(fourcc, flags)| (fourcc.as_str(), f64::from(*flags)))
                .collect();
            object.insert(key, map);
        }
        object.insert("capsEx", f64::from(self.caps_ex));
    }

    /// Reads what a peer's `_result` (or connect) command object announced, if anything.
    pub fn from_object(object: &Object) -> Option<Self> {
        let connect = Connect::from_command_object(object);
        Self::from_connect(&connect)
    }

    /// The announcement of a client that plays and publishes `fourccs`, with `caps_ex`.
    pub fn client(fourccs: &[&str], caps_ex: u32) -> Self {
        let mut capabilities = Self {
            caps_ex,
            ..Self::default()
        };
        for fourcc in fourccs {
            let entry = (
                (*fourcc).to_owned(),
                fourcc_flags::CAN_DECODE | fourcc_flags::CAN_ENCODE,
            );
            if VIDEO_FOURCCS.contains(fourcc) {
                capabilities.video.push(entry);
            } else {
                capabilities.audio.push(entry);
            }
        }
        capabilities
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(build: impl FnOnce(&mut Connect)) -> Connect {
        let mut connect = Connect::default();
        build(&mut connect);
        connect
    }

    #[test]
    fn a_legacy_connect_announces_nothing() {
        assert_eq!(Capabilities::from_connect(&Connect::default()), None);
    }

    #[test]
    fn a_v1_list_is_split_into_video_and_audio() {
        let announced = Capabilities::from_connect(&connect(|c| {
            c.fourcc_list = Some(vec!["hvc1".into(), "Opus".into()]);
        }))
        .unwrap();
        assert!(announced.has_video("hvc1") && !announced.has_video("Opus"));
        assert!(announced.has_audio("Opus") && !announced.has_audio("hvc1"));
        assert!(!announced.has_video("av01"));
    }

    #[test]
    fn v2_maps_win_over_the_list_and_wildcards_match_everything() {
        let announced = Capabilities::from_connect(&connect(|c| {
            c.fourcc_list = Some(vec!["*".into()]);
            c.video_fourcc_info_map = Some(vec![("avc1".into(), fourcc_flags::CAN_DECODE)]);
            c.caps_ex = Some(caps_ex::MULTITRACK);
        }))
        .unwrap();
        assert!(announced.has_video("avc1") && !announced.has_video("hvc1"));
        assert!(announced.has_audio("anything"), "the list's wildcard");
        assert_eq!(announced.caps_ex, caps_ex::MULTITRACK);
    }

    #[test]
    fn the_answer_is_what_both_list_with_the_servers_flags() {
        let server = Capabilities {
            video: vec![
                ("avc1".into(), fourcc_flags::CAN_FORWARD),
                ("hvc1".into(), fourcc_flags::CAN_FORWARD),
            ],
            audio: vec![("*".into(), fourcc_flags::CAN_FORWARD)],
            caps_ex: caps_ex::RECONNECT | caps_ex::MODEX,
        };
        let client = Capabilities::client(
            &["hvc1", "av01", "Opus"],
            caps_ex::MODEX | caps_ex::MULTITRACK,
        );
        let answer = server.answer(&client);
        assert_eq!(
            answer.video,
            [("hvc1".to_owned(), fourcc_flags::CAN_FORWARD)]
        );
        assert_eq!(
            answer.audio,
            [("Opus".to_owned(), fourcc_flags::CAN_FORWARD)]
        );
        assert_eq!(answer.caps_ex, caps_ex::MODEX);
        let wildcard_client = Capabilities {
            video: vec![("*".into(), fourcc_flags::CAN_DECODE)],
            ..Capabilities::default()
        };
        assert_eq!(server.answer(&wildcard_client).video, server.video);
    }

    #[test]
    fn what_is_written_reads_back() {
        let announced = Capabilities::client(&["avc1", "mp4a"], caps_ex::RECONNECT);
        let mut object = Object::new();
        announced.write_into(&mut object);
        assert_eq!(Capabilities::from_object(&object), Some(announced));
    }
}
