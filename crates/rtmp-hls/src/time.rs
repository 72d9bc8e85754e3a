//! ISO 8601 date-times for `#EXT-X-PROGRAM-DATE-TIME`, written without a date library.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Writes `time` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, milliseconds); times before 1970 are
/// written as the epoch.
pub(crate) fn write_iso8601(out: &mut String, time: SystemTime) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        since.subsec_millis()
    );
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (the era arithmetic of
/// "chrono-compatible low-level date algorithms", computed on 400-year eras).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn iso(secs: u64, millis: u64) -> String {
        let mut out = String::new();
        let time = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis);
        write_iso8601(&mut out, time);
        out
    }

    #[test]
    fn known_dates() {
        assert_eq!(iso(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(iso(1_700_000_000, 123), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso(4_107_542_399, 999), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn before_the_epoch_is_the_epoch() {
        let mut out = String::new();
        write_iso8601(&mut out, UNIX_EPOCH - Duration::from_secs(5));
        assert_eq!(out, "1970-01-01T00:00:00.000Z");
    }
}
