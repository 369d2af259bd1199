//! How numbers and times read on the pages.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

/// `2026-11-26 14:05 UTC`.
pub(crate) fn utc(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| String::from("—"))
}

/// `3 min ago`, `2 h ago`, `5 d ago` (and `in 2 min` for clocks ahead of ours).
pub(crate) fn ago(ms: i64, now_ms: i64) -> String {
    let delta = now_ms.saturating_sub(ms);
    let (future, delta) = if delta < 0 {
        (true, -delta)
    } else {
        (false, delta)
    };
    let seconds = delta / 1000;
    let text = match seconds {
        0..60 => return String::from("just now"),
        60..3_600 => format!("{} min", seconds / 60),
        3_600..86_400 => format!("{} h", seconds / 3_600),
        _ => format!("{} d", seconds / 86_400),
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// A time element: relative text, the exact UTC time as its tooltip and machine value.
pub(crate) fn when(ms: i64, now_ms: i64) -> Markup {
    let exact = utc(ms);
    let machine = DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    html! { time datetime=(machine) title=(exact) { (ago(ms, now_ms)) } }
}

/// `1,234,567`.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `12.5 %`.
pub(crate) fn percent(rate: f64) -> String {
    format!("{:.1} %", rate * 100.0)
}

/// `850 ms`, `4.2 s`, `3.0 min`, `2.0 h`.
pub(crate) fn duration_ms(ms: i64) -> String {
    let ms = ms.max(0) as f64;
    if ms < 1_000.0 {
        format!("{ms:.0} ms")
    } else if ms < 60_000.0 {
        format!("{:.1} s", ms / 1_000.0)
    } else if ms < 3_600_000.0 {
        format!("{:.1} min", ms / 60_000.0)
    } else {
        format!("{:.1} h", ms / 3_600_000.0)
    }
}

/// The quality band of a mean score, as a CSS class and a word (good ≥ 90, fair ≥ 70).
pub(crate) fn band(score: Option<f64>) -> (&'static str, &'static str) {
    match score {
        None => ("band-none", "no traffic"),
        Some(s) if s >= 90.0 => ("band-good", "good"),
        Some(s) if s >= 70.0 => ("band-fair", "fair"),
        Some(_) => ("band-poor", "poor"),
    }
}

/// A score badge: the number and its band in words (never colour alone).
pub(crate) fn score_badge(score: Option<f64>) -> Markup {
    let (class, word) = band(score);
    html! {
        span class={ "badge " (class) } {
            @match score {
                Some(s) => { (format!("{s:.0}")) " · " (word) },
                None => { (word) },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_group_thousands() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn relative_times() {
        let now = 1_000_000_000;
        assert_eq!(ago(now - 5_000, now), "just now");
        assert_eq!(ago(now - 120_000, now), "2 min ago");
        assert_eq!(ago(now - 7_200_000, now), "2 h ago");
        assert_eq!(ago(now - 3 * 86_400_000, now), "3 d ago");
        assert_eq!(ago(now + 120_000, now), "in 2 min");
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
    }

    #[test]
    fn bands_match_the_search_facets() {
        assert_eq!(band(Some(90.0)).1, "good");
        assert_eq!(band(Some(89.9)).1, "fair");
        assert_eq!(band(Some(69.0)).1, "poor");
        assert_eq!(band(None).1, "no traffic");
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(duration_ms(4_200), "4.2 s");
    }
}

/// `?k=v&…` with every value percent-encoded (all but RFC 3986's unreserved characters);
/// pairs with an empty value are left out.
pub(crate) fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (key, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(key);
        out.push('=');
        for byte in value.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(byte));
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

/// A path segment: the same encoding as [`query_string`]'s values.
pub(crate) fn segment(value: &str) -> String {
    query_string(&[("", value)])
        .trim_start_matches("?=")
        .to_owned()
}

/// The first `max` characters of `text`, with `…` when cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod encoding_tests {
    use super::*;

    #[test]
    fn query_strings_are_encoded() {
        assert_eq!(
            query_string(&[("q", "a b&c=<d>"), ("owner", ""), ("tag", "pii")]),
            "?q=a%20b%26c%3D%3Cd%3E&tag=pii"
        );
        assert_eq!(segment("orders.placed"), "orders.placed");
        assert_eq!(segment("a/b"), "a%2Fb");
        assert_eq!(query_string(&[]), "");
    }

    #[test]
    fn clipping_respects_characters() {
        assert_eq!(clip("héllo wörld", 5), "héllo…");
        assert_eq!(clip("short", 10), "short");
    }
}
