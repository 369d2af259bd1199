//! The tape reader's fast path: a byte-level reader for the JSON that events are made of.
//!
//! Reading through serde's visitor interface costs a call per token and per container
//! through generic `MapAccess` and `SeqAccess` plumbing; it was a fifth of the gateway's CPU
//! under batch load. This reader writes the same slots straight from the bytes, and gives up
//! (`None`) on anything it does not read exactly as serde_json does: syntax errors, nesting
//! deeper than [`MAX_DEPTH`], escapes it cannot decode, numbers outside the simple integer
//! forms that are not plain floats, a top-level scalar. The caller then reads the text
//! again through serde_json, which words the error or reads the rare form; so this path
//! decides nothing on its own, and a test reads every text both ways.

use std::borrow::Cow;

use serde_json::Number;

use super::{Members, SLOTS_FOR_LEADING, Slot, index, repeats_a_name, slots_for_whole};

/// Containers nested deeper than this go to serde_json (whose limit is 128).
const MAX_DEPTH: usize = 100;

/// What the fast path read: the slots, where the value ends in the text, and whether an
/// object repeats a member name.
pub(super) struct Read<'t> {
    pub(super) slots: Vec<Slot<'t>>,
    pub(super) end: usize,
    pub(super) duplicate: bool,
    /// The most members any object has.
    pub(super) widest: usize,
}

/// Reads the object or array that starts after any whitespace at the start of `text`.
pub(super) fn read_leading(text: &str) -> Option<Read<'_>> {
    read(text, SLOTS_FOR_LEADING)
}

/// Reads `text`, which must hold exactly one object or array (and whitespace).
pub(super) fn read_whole(text: &str) -> Option<Read<'_>> {
    let read = read(text, slots_for_whole(text))?;
    let rest = &text.as_bytes()[read.end..];
    rest.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .then_some(read)
}

fn read(text: &str, slots: usize) -> Option<Read<'_>> {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        at: 0,
        slots: Vec::with_capacity(slots),
        duplicate: false,
        widest: 0,
    };
    reader.skip_whitespace();
    if !matches!(reader.peek(), Some(b'{' | b'[')) {
        return None;
    }
    reader.value(0)?;
    Some(Read {
        end: reader.at,
        slots: reader.slots,
        duplicate: reader.duplicate,
        widest: reader.widest,
    })
}

/// Six bits of a member name, equal for equal names.
fn name_hash(name: &str) -> u32 {
    let last = name.as_bytes().last().copied().unwrap_or(0);
    (name.len() as u32 ^ u32::from(last).wrapping_mul(7)) & 63
}

/// Powers of ten a double holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The value of `digits`, a run of decimal digits with a point after the first `integer`
/// of them and no exponent, when it can be had exactly as the correctly rounded quotient
/// of two doubles: all digits together below 2^53, at most 22 after the point. Both
/// factors are then exact and IEEE division rounds correctly, so the result is the one
/// serde_json's correctly rounding parser gives; anything else returns `None` and goes to
/// that parser.
fn plain_decimal(digits: &[u8], integer: usize) -> Option<f64> {
    let (whole, point, fraction) = (
        &digits[..integer],
        digits.get(integer)?,
        &digits[integer + 1..],
    );
    // Nineteen digits cannot overflow 64 bits.
    if *point != b'.'
        || whole.len() + fraction.len() > 19
        || !fraction.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let significand = whole
        .iter()
        .chain(fraction)
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    if significand >= 1 << 53 {
        return None;
    }
    let power = EXACT_POWERS_OF_TEN.get(fraction.len())?;
    // Exact: the significand is below 2^53.
    Some(significand as f64 / power)
}

/// The high bit of each byte of `word` (read little-endian) that is a quote, a backslash or a
/// control character. Only the lowest flag is exact (a borrow can flag bytes above a real
/// one), which is the one wanted: where the plain run of a string ends.
fn special_bytes(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    // A byte below 0x20 borrows when 0x20 is taken from it; a byte of 0x80 or above may set
    // its high bit too, and `!word` clears that.
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x;
    (zero_in(quote) | zero_in(backslash) | control) & HIGH
}

struct Reader<'t> {
    text: &'t str,
    bytes: &'t [u8],
    at: usize,
    slots: Vec<Slot<'t>>,
    duplicate: bool,
    widest: usize,
}

impl<'t> Reader<'t> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Appends the slot `slot` makes. Made after the capacity check, the slot is written
    /// straight into the tape. A slot built first and then pushed was written to the stack
    /// piece by piece and read back whole, and that read waited on the stores just made.
    #[inline(always)]
    fn put(&mut self, slot: impl FnOnce() -> Slot<'t>) {
        self.slots.extend(std::iter::once_with(slot));
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// Takes `byte` (after whitespace), or gives up.
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Just inside a container: whether `close` follows at once (and takes it).
    fn closes_at_once(&mut self, close: u8) -> Option<bool> {
        self.skip_whitespace();
        let closes = self.peek()? == close;
        self.at += usize::from(closes);
        Some(closes)
    }

    /// After an element: takes a comma (`false`: another element follows) or `close`
    /// (`true`); anything else gives up.
    fn closes_after_element(&mut self, close: u8) -> Option<bool> {
        self.skip_whitespace();
        let next = self.peek()?;
        self.at += 1;
        match next {
            b',' => Some(false),
            b if b == close => Some(true),
            _ => None,
        }
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        self.skip_whitespace();
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => {
                let s = self.string()?;
                self.put(|| Slot::String(s));
                Some(())
            }
            b't' => self.literal(b"true", Slot::Bool(true)),
            b'f' => self.literal(b"false", Slot::Bool(false)),
            b'n' => self.literal(b"null", Slot::Null),
            b'-' | b'0'..=b'9' => {
                let n = self.number()?;
                self.put(|| Slot::Number(n));
                Some(())
            }
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8], slot: Slot<'t>) -> Option<()> {
        if !self.bytes[self.at..].starts_with(word) {
            return None;
        }
        self.at += word.len();
        self.put(|| slot);
        Some(())
    }

    /// Enters the container whose bracket is at `self.at`: checks the depth, takes the
    /// bracket and holds the container's slot, which is filled in when it closes.
    fn open(&mut self, depth: usize, held: Slot<'t>) -> Option<usize> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.put(|| held);
        Some(self.slots.len() - 1)
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        let at = self.open(depth, Slot::Object { len: 0, end: 0 })?;
        let mut len = 0usize;
        // A repeated name is looked for as the names are read: a bit per name's length and
        // last byte, and only a name whose bit is already set is compared with the names
        // before it on the tape. Objects wider than this, or with escaped names, are checked
        // on the tape at the end.
        const CHECKED_AS_READ: usize = 16;
        let mut seen = 0u64;
        let mut check_at_end = false;
        if !self.closes_at_once(b'}')? {
            loop {
                self.skip_whitespace();
                if self.peek()? != b'"' {
                    return None;
                }
                let name = self.string()?;
                match &name {
                    Cow::Borrowed(plain) if !check_at_end && len < CHECKED_AS_READ => {
                        let bit = 1u64 << name_hash(plain);
                        if seen & bit != 0 && self.names_so_far(at).any(|read| read == *plain) {
                            self.duplicate = true;
                        }
                        seen |= bit;
                    }
                    _ => check_at_end = true,
                }
                self.put(|| Slot::Key(name));
                self.expect(b':')?;
                self.value(depth)?;
                len += 1;
                if self.closes_after_element(b'}')? {
                    break;
                }
            }
        }
        self.slots[at] = Slot::Object {
            len: index(len),
            end: index(self.slots.len()),
        };
        self.widest = self.widest.max(len);
        if check_at_end && !self.duplicate && repeats_a_name(&self.slots, at) {
            self.duplicate = true;
        }
        Some(())
    }

    /// The names of the members read so far of the object whose slot is at `at`.
    fn names_so_far(&self, at: usize) -> impl Iterator<Item = &str> {
        Members {
            slots: &self.slots,
            next: at + 1,
            end: self.slots.len(),
        }
        .map(|(name, _)| name)
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        let at = self.open(depth, Slot::Array { len: 0, end: 0 })?;
        let mut len = 0usize;
        if !self.closes_at_once(b']')? {
            loop {
                self.value(depth)?;
                len += 1;
                if self.closes_after_element(b']')? {
                    break;
                }
            }
        }
        self.slots[at] = Slot::Array {
            len: index(len),
            end: index(self.slots.len()),
        };
        Some(())
    }

    /// The string whose opening quote is at `self.at`: borrowed when it has no escapes,
    /// else decoded by serde_json.
    #[inline(always)]
    fn string(&mut self) -> Option<Cow<'t, str>> {
        let bytes = self.bytes;
        let start = self.at + 1;
        let mut at = start;
        let mut escaped = false;
        loop {
            // Eight bytes at a time up to the next quote, backslash or control character.
            while let Some(word) = bytes
                .get(at..at + 8)
                .and_then(|w| <[u8; 8]>::try_from(w).ok())
            {
                let found = special_bytes(u64::from_le_bytes(word));
                if found != 0 {
                    at += (found.trailing_zeros() / 8) as usize;
                    break;
                }
                at += 8;
            }
            match *bytes.get(at)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    // The escaped byte cannot end the string; serde_json checks the escape.
                    at += 2;
                }
                0..=0x1f => return None,
                _ => at += 1,
            }
        }
        self.at = at + 1;
        if escaped {
            // The quotes are ASCII, so these are character boundaries.
            let quoted = &self.text[start - 1..=at];
            serde_json::from_str::<String>(quoted).ok().map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(&self.text[start..at]))
        }
    }

    /// A number, as serde_json reads it: integers that fit as themselves, the rest (floats,
    /// `-0`, integers too big for 64 bits) through serde_json's own number parser.
    fn number(&mut self) -> Option<Number> {
        let start = self.at;
        let negative = self.bytes[start] == b'-';
        let mut at = start + usize::from(negative);
        let digits = at;
        match *self.bytes.get(at)? {
            b'0' => at += 1,
            b'1'..=b'9' => {
                while let Some(b'0'..=b'9') = self.bytes.get(at) {
                    at += 1;
                }
            }
            _ => return None,
        }
        let integer_end = at;
        if self.bytes.get(at) == Some(&b'.') {
            at += 1;
            if !matches!(self.bytes.get(at), Some(b'0'..=b'9')) {
                return None;
            }
            while let Some(b'0'..=b'9') = self.bytes.get(at) {
                at += 1;
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(at) {
            at += 1;
            if let Some(b'+' | b'-') = self.bytes.get(at) {
                at += 1;
            }
            if !matches!(self.bytes.get(at), Some(b'0'..=b'9')) {
                return None;
            }
            while let Some(b'0'..=b'9') = self.bytes.get(at) {
                at += 1;
            }
        }
        // "01": serde_json refuses a digit after a leading zero.
        if self.bytes[digits] == b'0' && matches!(self.bytes.get(digits + 1), Some(b'0'..=b'9')) {
            return None;
        }
        self.at = at;
        if at == integer_end {
            let magnitude = self.text[digits..at].parse::<u64>().ok();
            match (negative, magnitude) {
                (false, Some(m)) => return Some(Number::from(m)),
                (true, Some(m)) if (1..=i64::MAX as u64).contains(&m) => {
                    return Some(Number::from(-(m as i64)));
                }
                _ => {}
            }
        } else if let Some(value) = plain_decimal(&self.bytes[digits..at], integer_end - digits) {
            return Number::from_f64(if negative { -value } else { value });
        }
        self.text[start..at].parse::<Number>().ok()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{JsonTape, TapeError};
    use super::*;

    /// A JSON-ish text: mostly valid, with the forms the fast path must either read exactly
    /// as serde_json does or hand over (escapes, odd numbers, repeated names, junk).
    fn text() -> impl Strategy<Value = String> {
        let ws = prop::sample::select(vec!["", "", "", " ", "\n", "\t", "\r\n", "  "]);
        let string = prop::sample::select(vec![
            "\"\"",
            "\"plain\"",
            "\"ord-00aa11bb22cc33dd\"",
            "\"caf\u{e9} \u{1f600}\"",
            "\"a\\\"b\"",
            "\"tab\\tnew\\nline\\\\\"",
            "\"\\u00e9\\u0041\"",
            "\"\\ud83d\\ude00\"",
            "\"\\ud800\"",
            "\"\\x\"",
            "\"\\\u{e9}\"",
            "\"raw\u{1}control\"",
            "\"unit\u{1f}separator\"",
            "\"unterminated",
        ]);
        let key = prop::sample::select(vec![
            "\"a\"",
            "\"b\"",
            "\"c\"",
            "\"\\u0061\"",
            "\"k\\n\"",
            "\"\"",
            "a",
            "\"a\"",
        ]);
        let number = prop_oneof![
            "-?(0|[1-9][0-9]{0,21})(\\.[0-9]{1,19})?([eE][+-]?[0-9]{1,3})?",
            prop::sample::select(vec![
                "-0",
                "0",
                "01",
                "-",
                "1.",
                "1e",
                ".5",
                "+1",
                "18446744073709551615",
                "18446744073709551616",
                "-9223372036854775808",
                "-9223372036854775809",
                "1e400",
                "-1e-400",
                "2.2250738585072011e-308",
                "0.1e1",
                "1E+2",
            ])
            .prop_map(str::to_owned),
        ];
        let scalar = prop_oneof![
            string.prop_map(str::to_owned),
            number,
            prop::sample::select(vec!["true", "false", "null", "nul", "tru"])
                .prop_map(str::to_owned),
        ];
        let value = scalar.prop_recursive(6, 64, 6, move |inner| {
            let ws = ws.clone();
            prop_oneof![
                (
                    prop::collection::vec((ws.clone(), inner.clone(), ws.clone()), 0..6),
                    ws.clone(),
                    any::<bool>()
                )
                    .prop_map(|(items, pad, trailing_comma)| {
                        let items: Vec<String> = items
                            .into_iter()
                            .map(|(a, v, b)| format!("{a}{v}{b}"))
                            .collect();
                        let comma = if trailing_comma && !items.is_empty() {
                            ","
                        } else {
                            ""
                        };
                        format!("[{pad}{}{comma}]", items.join(","))
                    }),
                (
                    prop::collection::vec((key.clone(), ws.clone(), inner, ws.clone()), 0..6),
                    ws
                )
                    .prop_map(|(members, pad)| {
                        let members: Vec<String> = members
                            .into_iter()
                            .map(|(k, a, v, b)| format!("{k}{a}:{b}{v}"))
                            .collect();
                        format!("{{{pad}{}}}", members.join(","))
                    }),
            ]
        });
        // Around the value: whitespace, maybe something after it, maybe one byte broken.
        (
            value,
            prop::sample::select(vec!["", " ", "\n", " , 17]", "x", "}", "  {\"b\":1}"]),
            prop::option::of((any::<prop::sample::Index>(), any::<char>())),
        )
            .prop_map(|(value, after, edit)| {
                let mut text = format!(" {value}{after}");
                if let Some((at, c)) = edit {
                    let mut at = at.index(text.len() + 1);
                    while !text.is_char_boundary(at) {
                        at -= 1;
                    }
                    text.insert(at, c);
                }
                text
            })
    }

    /// What a read came to, errors by kind only (serde_json's messages are its own).
    fn outcome<T>(read: &Result<T, TapeError>) -> Result<&T, &'static str> {
        read.as_ref().map_err(|e| match e {
            TapeError::Syntax(_) => "syntax",
            TapeError::DuplicateMember => "duplicate member",
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn reads_every_text_as_serde_json_does(text in text()) {
            let fast = JsonTape::parse(&text);
            let serde = JsonTape::parse_with_serde(&text);
            prop_assert_eq!(outcome(&fast), outcome(&serde), "{:?}", text);

            let fast = JsonTape::parse_leading(&text);
            let serde = JsonTape::parse_leading_with_serde(&text);
            prop_assert_eq!(
                fast.as_ref().map(outcome),
                serde.as_ref().map(outcome),
                "leading {:?}",
                text
            );
        }
    }

    proptest! {
        #[test]
        fn plain_decimals_are_read_as_serde_json_reads_them(
            whole in "0|[1-9][0-9]{0,19}",
            fraction in "[0-9]{1,24}",
        ) {
            let text = format!("{whole}.{fraction}");
            let serde = serde_json::from_str::<Number>(&text).unwrap().as_f64().unwrap();
            if let Some(fast) = plain_decimal(text.as_bytes(), whole.len()) {
                prop_assert_eq!(fast.to_bits(), serde.to_bits(), "{}", text);
            }
        }
    }

    #[test]
    fn repeated_names_are_found_past_nested_values() {
        // "ab" and "cb" share a length and a last byte, so each is compared on the tape.
        assert_eq!(name_hash("ab"), name_hash("cb"));
        let read = |text: &str| read_whole(text).expect("the fast path reads it").duplicate;
        assert!(read(r#"{"ab":1,"cb":{"x":[1,{"y":2}]},"ab":2}"#));
        assert!(read(r#"{"cb":[],"ab":{"ab":1},"ab":null}"#));
        assert!(!read(r#"{"ab":1,"cb":{"ab":1,"cb":[{"ab":0}]}}"#));
        assert!(!read(r#"{"ab":{"cb":1},"cb":{"ab":1}}"#));
    }

    #[test]
    fn prices_take_the_plain_decimal_path() {
        for (text, integer, value) in [
            ("129.95", 3, 129.95),
            ("0.5", 1, 0.5),
            ("64.975", 2, 64.975),
        ] {
            assert_eq!(
                plain_decimal(text.as_bytes(), integer),
                Some(value),
                "{text}"
            );
        }
        // An exponent, too many digits, a fraction past 22 digits: serde_json's.
        assert_eq!(plain_decimal(b"1e5", 1), None);
        assert_eq!(plain_decimal(b"1.5e5", 1), None);
        assert_eq!(plain_decimal(b"9007199254740993.0", 16), None);
        assert_eq!(plain_decimal(b"0.00000000000000000000001", 1), None);
    }

    #[test]
    fn finds_the_first_special_byte_of_a_word() {
        let special = |b: u8| b == b'"' || b == b'\\' || b < 0x20;
        // Every byte value at every position, between plain bytes and after others.
        for fill in [b'a', 0x20, 0x21, 0x7f, 0x80, 0xa0, 0xff, 0x1f, b'"'] {
            for at in 0..8 {
                for b in 0..=255u8 {
                    let mut word = [b'a'; 8];
                    word[..at].fill(if special(fill) { b'a' } else { fill });
                    word[at] = b;
                    word[at + 1..].fill(fill);
                    let first = word.iter().position(|&b| special(b));
                    let found = special_bytes(u64::from_le_bytes(word));
                    let got = (found != 0).then(|| (found.trailing_zeros() / 8) as usize);
                    assert_eq!(got, first, "{word:?}");
                }
            }
        }
    }

    #[test]
    fn events_take_the_fast_path() {
        // The benchmark's event shape, compact and pretty-printed: no fallback to serde_json.
        let event = r#"{"order_id":"ord-00aa11bb22cc33dd","customer_id":"cus-00000042","placed_at":"2026-11-26T10:00:00Z","status":"paid","currency":"EUR","total":129.95,"items":[{"sku":"SKU-AB12CD","quantity":2,"unit_price":64.975}],"shipping":{"country":"DE","postal_code":"10115","city":"Berlin","method":"express"},"channel":"web","coupon":null,"gift":false,"note":"caf\u00e9 \"quoted\""}"#;
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(event).unwrap(),
        )
        .unwrap();
        for text in [event, pretty.as_str()] {
            let read = read_whole(text).expect("the fast path reads the event");
            assert!(!read.duplicate);
            assert_eq!(read.end, text.len());
            assert_eq!(read.widest, 12);
            assert_eq!(
                JsonTape::from_fast(read).unwrap().0,
                JsonTape::parse_with_serde(text).unwrap()
            );
        }
        // And hands over what it does not read.
        for text in ["17", "\"s\"", "[01]", "{\"a\":1,}", "[1e400]"] {
            assert!(read_whole(text).is_none(), "{text}");
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(read_whole(&deep).is_none());
        assert!(JsonTape::parse(&deep).is_ok());
    }
}
