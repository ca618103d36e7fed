//! UTC times as the harness writes them, whole seconds: `20261122T101516Z` in run names
//! (sorts by time, safe in a file name) and RFC 3339 in documents; both read back. The
//! calendar is jiff's.

use std::time::SystemTime;

use jiff::civil::DateTime;
use jiff::tz::Offset;
use jiff::Timestamp;

const COMPACT: &str = "%Y%m%dT%H%M%SZ";
const RFC3339: &str = "%Y-%m-%dT%H:%M:%SZ";

/// `t` to the whole second, or the epoch for a time jiff cannot hold.
fn second_of(t: SystemTime) -> Timestamp {
    Timestamp::try_from(t)
        .and_then(|ts| Timestamp::from_second(ts.as_second()))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `20261122T101516Z`.
pub fn compact(t: SystemTime) -> String {
    second_of(t).strftime(COMPACT).to_string()
}

/// `2026-11-22T10:15:16Z`.
pub fn rfc3339(t: SystemTime) -> String {
    rfc3339_of(second_of(t))
}

/// `2026-11-22T10:15:16Z`, fractions of a second dropped.
pub fn rfc3339_of(t: Timestamp) -> String {
    t.strftime(RFC3339).to_string()
}

/// Reads either form (RFC 3339 with any offset or fraction, or the compact one).
pub fn parse(s: &str) -> Option<Timestamp> {
    s.parse::<Timestamp>().ok().or_else(|| {
        let civil = DateTime::strptime(COMPACT, s).ok()?;
        Offset::UTC.to_timestamp(civil).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_and_reads_back_both_forms() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_342_516_900); // 2026-11-22T10:15:16.9Z
        assert_eq!(compact(t), "20261122T101516Z");
        assert_eq!(rfc3339(t), "2026-11-22T10:15:16Z");
        let leap_day = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap_day), "2000-02-29T00:00:00Z");
        assert_eq!(compact(UNIX_EPOCH), "19700101T000000Z");
        for text in [
            "20261122T101516Z",
            "2026-11-22T10:15:16Z",
            "2026-11-22T11:15:16+01:00",
        ] {
            let ts = parse(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(ts.as_second(), 1_795_342_516, "{text}");
        }
        assert_eq!(
            parse("2026-11-22T10:15:16.5Z").map(rfc3339_of).as_deref(),
            Some("2026-11-22T10:15:16Z")
        );
        for bad in ["", "20261322T101516Z", "run-1", "2026-11-22"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
