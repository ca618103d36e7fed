//! The offset as the control file says it, and a time moved by it. Pure functions on
//! plain values: no allocation, no panics, so they are safe to run inside any program.

/// Nanoseconds in a second.
pub const NS_PER_S: i64 = 1_000_000_000;
/// Most fraction digits a control file may give: nanoseconds.
const FRACTION_DIGITS_MAX: usize = 9;

/// The offset in nanoseconds that a control file's text says: its first line, a sign and
/// a decimal number of seconds (`+30.000`, `-1.5`), as splitbrain's runtime writes it and
/// libfaketime reads it. `None` for anything else.
///
/// Only the first line counts because the runtime rewrites the file in place (a
/// container sees it through a bind mount, so it cannot be replaced) and cuts it to the
/// new length afterwards: a reader in between sees the new line followed by the end of
/// the old one. The sign is required: a bare number is an absolute date to libfaketime,
/// and reading one as an offset would move the clock somewhere nobody asked for.
pub fn parse_offset_ns(text: &[u8]) -> Option<i64> {
    let line = match text.iter().position(|&b| b == b'\n') {
        Some(end) => text.get(..end)?,
        None => text,
    };
    let line = line.trim_ascii();
    let (negative, number) = match line.split_first()? {
        (b'+', rest) => (false, rest),
        (b'-', rest) => (true, rest),
        _ => return None,
    };
    let (whole, fraction) = match number.iter().position(|&b| b == b'.') {
        Some(dot) => (number.get(..dot)?, Some(number.get(dot + 1..)?)),
        None => (number, None),
    };
    let seconds = parse_digits(whole)?;
    let fraction_ns = match fraction {
        Some(digits) if digits.is_empty() || digits.len() > FRACTION_DIGITS_MAX => return None,
        Some(digits) => {
            let scale = 10i64.pow((FRACTION_DIGITS_MAX - digits.len()) as u32);
            parse_digits(digits)?.checked_mul(scale)?
        }
        None => 0,
    };
    let magnitude = seconds.checked_mul(NS_PER_S)?.checked_add(fraction_ns)?;
    Some(if negative { -magnitude } else { magnitude })
}

/// A non-empty run of decimal digits as a number; `None` on anything else or overflow.
fn parse_digits(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0i64, |n, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(i64::from(b - b'0'))
    })
}

/// `(seconds, nanoseconds)` moved by `offset_ns`, the nanoseconds kept in `0..NS_PER_S`.
/// Wraps rather than panics at the ends of the range: a program's clock call must never
/// abort it.
pub fn shifted(seconds: i64, nanoseconds: i64, offset_ns: i64) -> (i64, i64) {
    let mut seconds = seconds.wrapping_add(offset_ns.div_euclid(NS_PER_S));
    // Both terms are below NS_PER_S (a kernel's nanoseconds always are), so the sum fits.
    let mut nanoseconds = nanoseconds.rem_euclid(NS_PER_S) + offset_ns.rem_euclid(NS_PER_S);
    if nanoseconds >= NS_PER_S {
        seconds = seconds.wrapping_add(1);
        nanoseconds -= NS_PER_S;
    }
    (seconds, nanoseconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtimes_text_is_read() {
        assert_eq!(parse_offset_ns(b"+30.000\n"), Some(30 * NS_PER_S));
        assert_eq!(parse_offset_ns(b"-1.500\n"), Some(-1_500_000_000));
        assert_eq!(parse_offset_ns(b"+0.000\n"), Some(0));
        assert_eq!(parse_offset_ns(b"+3600.000"), Some(3600 * NS_PER_S));
        assert_eq!(parse_offset_ns(b"-7200.000\n"), Some(-7200 * NS_PER_S));
    }

    #[test]
    fn fractions_and_whitespace_are_honoured() {
        assert_eq!(parse_offset_ns(b"+2"), Some(2 * NS_PER_S));
        assert_eq!(parse_offset_ns(b"+0.5"), Some(500_000_000));
        assert_eq!(parse_offset_ns(b"-0.000000001"), Some(-1));
        assert_eq!(parse_offset_ns(b"  +1.25 \r\n"), Some(1_250_000_000));
    }

    #[test]
    fn only_the_first_line_counts() {
        // The new text written over a longer old one, before the file is cut.
        assert_eq!(parse_offset_ns(b"+30.000\n00.000\n"), Some(30 * NS_PER_S));
        assert_eq!(parse_offset_ns(b"\n+30.000\n"), None);
    }

    #[test]
    fn anything_else_is_refused() {
        for text in [
            &b""[..],
            b"\n",
            b"30.000",
            b"+",
            b"-",
            b"+.5",
            b"+1.",
            b"+1.0000000001",
            b"+1.2.3",
            b"+ 1",
            b"+1x",
            b"++1",
            b"+1e3",
            b"@2024-01-01 00:00:00",
            b"+99999999999999999999",
            b"+9223372037.000",
        ] {
            assert_eq!(
                parse_offset_ns(text),
                None,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn shifting_carries_and_borrows_nanoseconds() {
        assert_eq!(shifted(100, 0, 3600 * NS_PER_S), (3700, 0));
        assert_eq!(shifted(100, 900_000_000, 200_000_000), (101, 100_000_000));
        assert_eq!(shifted(100, 100_000_000, -200_000_000), (99, 900_000_000));
        assert_eq!(shifted(100, 5, -7200 * NS_PER_S), (-7100, 5));
        assert_eq!(shifted(100, 5, 0), (100, 5));
    }

    #[test]
    fn shifting_never_panics_at_the_ends() {
        assert_eq!(shifted(i64::MAX, NS_PER_S - 1, 1).1, 0);
        let (_, ns) = shifted(i64::MIN, 0, i64::MIN);
        assert!((0..NS_PER_S).contains(&ns));
    }
}
