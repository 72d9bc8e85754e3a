//! The playlists, written by hand (RFC 8216bis): the multivariant playlist and each
//! rendition's media playlist with parts, preload hint, delta updates and rendition reports.

use std::fmt::Write;

use crate::rendition::{Kind, Rendition, Segment};
use crate::time::write_iso8601;
use crate::timeline::Timeline;

/// `EXT-X-VERSION`: preload hints and delta updates.
const VERSION: u32 = 9;
/// Bits per second assumed for a rendition before any of its media is made.
const DEFAULT_VIDEO_BANDWIDTH: u64 = 2_000_000;
const DEFAULT_AUDIO_BANDWIDTH: u64 = 128_000;

/// What every playlist of a stream is written from.
pub(crate) struct Context<'a> {
    pub timeline: &'a Timeline,
    pub renditions: &'a [Rendition],
    pub ended: bool,
    /// `EXT-X-TARGETDURATION`, whole seconds.
    pub target_duration: u64,
    /// `PART-TARGET`, seconds.
    pub part_target: f64,
    /// The query string appended to every URI.
    pub carry: Option<&'a str>,
}

impl Context<'_> {
    fn uri(&self, out: &mut String, path: std::fmt::Arguments<'_>) {
        let _ = out.write_fmt(path);
        if let Some(carry) = self.carry.filter(|carry| !carry.is_empty()) {
            out.push('?');
            out.push_str(carry);
        }
    }
}

/// The multivariant playlist: each video rendition a variant (with the audio group), each
/// audio rendition an alternative; an audio-only stream is one variant of its first audio
/// rendition.
pub(crate) fn multivariant(context: &Context<'_>) -> String {
    let mut out = format!("#EXTM3U\n#EXT-X-VERSION:{VERSION}\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let audio: Vec<&Rendition> = context
        .renditions
        .iter()
        .filter(|r| r.kind == Kind::Audio)
        .collect();
    let video: Vec<&Rendition> = context
        .renditions
        .iter()
        .filter(|r| r.kind == Kind::Video)
        .collect();
    if video.is_empty() {
        if let Some(first) = audio.first() {
            let (peak, average) = bandwidth(first);
            let _ = writeln!(
                out,
                "#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},CODECS=\"{}\"",
                first.setup.codec_string
            );
            context.uri(&mut out, format_args!("{}.m3u8", first.name()));
            out.push('\n');
        }
        return out;
    }
    let mut audio_codecs: Vec<&str> = Vec::new();
    for (index, rendition) in audio.iter().enumerate() {
        let default = if index == 0 { "YES" } else { "NO" };
        let _ = write!(
            out,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"audio {}\",DEFAULT={default},AUTOSELECT=YES,URI=\"",
            rendition.track_id
        );
        context.uri(&mut out, format_args!("{}.m3u8", rendition.name()));
        out.push_str("\"\n");
        if !audio_codecs.contains(&rendition.setup.codec_string.as_str()) {
            audio_codecs.push(&rendition.setup.codec_string);
        }
    }
    let audio_peak = audio.iter().map(|r| bandwidth(r).0).max().unwrap_or(0);
    let audio_average = audio.iter().map(|r| bandwidth(r).1).max().unwrap_or(0);
    for rendition in video {
        let (peak, average) = bandwidth(rendition);
        let mut codecs = vec![rendition.setup.codec_string.as_str()];
        codecs.extend(&audio_codecs);
        let _ = write!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\"",
            peak + audio_peak,
            average + audio_average,
            codecs.join(",")
        );
        if let Some((width, height)) = rendition.setup.size {
            let _ = write!(out, ",RESOLUTION={width}x{height}");
        }
        if !audio.is_empty() {
            out.push_str(",AUDIO=\"a\"");
        }
        out.push('\n');
        context.uri(&mut out, format_args!("{}.m3u8", rendition.name()));
        out.push('\n');
    }
    out
}

/// Peak and average bits per second of a rendition's finished segments (or of its parts so
/// far, or a default before it has media).
fn bandwidth(rendition: &Rendition) -> (u64, u64) {
    let rate = |bytes: usize, seconds: f64| (bytes as f64 * 8.0 / seconds) as u64;
    let mut peak = 0;
    let (mut bytes, mut seconds) = (0, 0.0);
    for segment in &rendition.segments {
        let duration = segment.duration();
        let size: usize = segment.parts.iter().map(|part| part.body.len()).sum();
        if segment.body.is_some() && duration > 0.0 {
            peak = peak.max(rate(size, duration));
        }
        bytes += size;
        seconds += duration;
    }
    let average = if seconds > 0.0 {
        rate(bytes, seconds)
    } else {
        0
    };
    if average == 0 {
        let fallback = match rendition.kind {
            Kind::Video => DEFAULT_VIDEO_BANDWIDTH,
            Kind::Audio => DEFAULT_AUDIO_BANDWIDTH,
        };
        return (fallback, fallback);
    }
    (peak.max(average), average)
}

/// The media playlist of `renditions[index]`; `skip` asks for a delta update.
pub(crate) fn media(context: &Context<'_>, index: usize, skip: bool) -> String {
    let mut out = String::with_capacity(4096);
    let Some(rendition) = context.renditions.get(index) else {
        return out;
    };
    let name = rendition.name();
    let target = context.target_duration;
    let part_target = context.part_target;
    let first_msn = rendition.segments.front().map_or(0, |segment| segment.msn);
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:{VERSION}\n#EXT-X-TARGETDURATION:{target}\n\
         #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={:.1},HOLD-BACK={:.1},PART-HOLD-BACK={:.3}\n\
         #EXT-X-PART-INF:PART-TARGET={part_target:.3}\n#EXT-X-MEDIA-SEQUENCE:{first_msn}\n\
         #EXT-X-DISCONTINUITY-SEQUENCE:{}\n",
        skip_until(target),
        3.0 * target as f64,
        3.0 * part_target,
        context.timeline.discontinuity_sequence(first_msn),
    );
    // Seconds from each segment's end to the live edge.
    let total: f64 = rendition.segments.iter().map(Segment::duration).sum();
    let mut elapsed = 0.0;
    let mut from_end = Vec::with_capacity(rendition.segments.len());
    for segment in &rendition.segments {
        elapsed += segment.duration();
        from_end.push(total - elapsed);
    }
    let skipped = if skip {
        rendition
            .segments
            .iter()
            .zip(&from_end)
            .take_while(|(segment, from_end)| {
                segment.body.is_some() && **from_end >= skip_until(target)
            })
            .count()
    } else {
        0
    };
    if skipped > 0 {
        let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
    }
    let mut previous_generation = None;
    for (position, (segment, from_end)) in rendition.segments.iter().zip(&from_end).enumerate() {
        if position < skipped {
            previous_generation = Some(segment.generation);
            continue;
        }
        let times = context.timeline.get(segment.msn);
        if times.is_some_and(|times| times.discontinuity) {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if position == skipped || previous_generation != Some(segment.generation) {
            out.push_str("#EXT-X-MAP:URI=\"");
            context.uri(
                &mut out,
                format_args!("{name}/init{}.mp4", segment.generation),
            );
            out.push_str("\"\n");
        }
        previous_generation = Some(segment.generation);
        if let Some(times) = times {
            out.push_str("#EXT-X-PROGRAM-DATE-TIME:");
            write_iso8601(&mut out, times.program_date_time);
            out.push('\n');
        }
        if segment.body.is_none() || *from_end < 3.0 * target as f64 {
            for (part_index, part) in segment.parts.iter().enumerate() {
                let _ = write!(out, "#EXT-X-PART:DURATION={:.3},URI=\"", part.duration);
                context.uri(
                    &mut out,
                    format_args!("{name}/{}.{part_index}.m4s", segment.msn),
                );
                out.push('"');
                if part.independent {
                    out.push_str(",INDEPENDENT=YES");
                }
                out.push('\n');
            }
        }
        if segment.body.is_some() {
            let _ = writeln!(out, "#EXTINF:{:.3},", segment.duration());
            context.uri(&mut out, format_args!("{name}/{}.m4s", segment.msn));
            out.push('\n');
        }
    }
    if !context.ended {
        let (msn, part) = rendition.next_part();
        out.push_str("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"");
        context.uri(&mut out, format_args!("{name}/{msn}.{part}.m4s"));
        out.push_str("\"\n");
    }
    for other in context.renditions {
        if std::ptr::eq(other, rendition) {
            continue;
        }
        if let Some((msn, part)) = other.last_part() {
            out.push_str("#EXT-X-RENDITION-REPORT:URI=\"");
            context.uri(&mut out, format_args!("{}.m3u8", other.name()));
            let _ = writeln!(out, "\",LAST-MSN={msn},LAST-PART={part}");
        }
    }
    if context.ended {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

/// `CAN-SKIP-UNTIL`: six target durations.
fn skip_until(target: u64) -> f64 {
    6.0 * target as f64
}
