//! The times a replay is asked for: RFC 3339, relative to now, or `now`.

use chrono::DateTime;

/// Milliseconds since the Unix epoch for `text`, which is one of:
///
/// * an RFC 3339 time with an offset: `2026-11-26T10:00:00Z`, `2026-11-26T11:00:00.250+01:00`;
/// * a time relative to `now_ms`: a minus sign, a whole number and a unit — `-90s`, `-30m`,
///   `-6h`, `-2d`, `-1w`;
/// * `now`.
pub fn parse_time(text: &str, now_ms: i64) -> Result<i64, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("now") {
        return Ok(now_ms);
    }
    if let Some(relative) = text.strip_prefix('-') {
        return parse_relative(text, relative, now_ms);
    }
    match DateTime::parse_from_rfc3339(text) {
        Ok(time) => Ok(time.timestamp_millis()),
        Err(err) => Err(format!(
            "invalid time {text:?} ({err}): expected an RFC 3339 time with an offset \
             (2026-11-26T10:00:00Z), a time relative to now (-90s, -30m, -6h, -2d, -1w) or \"now\""
        )),
    }
}

/// `-<digits><unit>`, `relative` being what follows the minus sign.
fn parse_relative(text: &str, relative: &str, now_ms: i64) -> Result<i64, String> {
    let split = relative
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(relative.len());
    let (digits, unit) = relative.split_at(split);
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "" => {
            return Err(format!(
                "invalid relative time {text:?}: a unit is missing (s, m, h, d or w, as in -6h)"
            ));
        }
        other => {
            return Err(format!(
                "invalid relative time {text:?}: unknown unit {other:?} (use s, m, h, d or w, as in -6h)"
            ));
        }
    };
    if digits.is_empty() {
        return Err(format!(
            "invalid relative time {text:?}: a whole number must follow the minus sign (as in -30m)"
        ));
    }
    let amount: i64 = digits
        .parse()
        .map_err(|_| format!("invalid relative time {text:?}: {digits} is too large"))?;
    amount
        .checked_mul(unit_ms)
        .and_then(|ms| now_ms.checked_sub(ms))
        .ok_or_else(|| format!("invalid relative time {text:?}: too far in the past"))
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    const NOW: i64 = 1_795_000_000_000;

    #[test]
    fn rfc3339_with_offsets() {
        assert_eq!(
            parse_time("2026-11-26T10:00:00Z", NOW),
            Ok(1_795_687_200_000)
        );
        assert_eq!(
            parse_time("2026-11-26T11:00:00.250+01:00", NOW),
            Ok(1_795_687_200_250)
        );
        assert_eq!(parse_time(" 1970-01-01T00:00:00Z ", NOW), Ok(0));
    }

    #[test]
    fn relative_and_now() {
        assert_eq!(parse_time("now", NOW), Ok(NOW));
        assert_eq!(parse_time("NOW", NOW), Ok(NOW));
        assert_eq!(parse_time("-90s", NOW), Ok(NOW - 90_000));
        assert_eq!(parse_time("-30m", NOW), Ok(NOW - 1_800_000));
        assert_eq!(parse_time("-6h", NOW), Ok(NOW - 21_600_000));
        assert_eq!(parse_time("-2d", NOW), Ok(NOW - 172_800_000));
        assert_eq!(parse_time("-1w", NOW), Ok(NOW - 604_800_000));
        assert_eq!(parse_time("-0s", NOW), Ok(NOW));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let err = |t| parse_time(t, NOW).unwrap_err();
        assert!(err("-6").contains("unit is missing"), "{}", err("-6"));
        assert!(err("-6y").contains("unknown unit \"y\""), "{}", err("-6y"));
        assert!(err("-h").contains("whole number"), "{}", err("-h"));
        assert!(err("-99999999999999999999d").contains("too large"));
        assert!(err("-9999999999999d").contains("too far"));
        assert!(err("2026-11-26 10:00").contains("RFC 3339"));
        assert!(err("2026-11-26T10:00:00").contains("RFC 3339"), "no offset");
        assert!(err("yesterday").contains("-6h"));
        assert!(err("+6h").contains("RFC 3339"));
    }
}
