//! A JSON event read into one flat vector ("tape") that borrows its strings from the text,
//! and the JSON Schema validator's view of it.
//!
//! Building a `serde_json::Value` costs an allocation per string, per object member and per
//! B-tree node, and as much again to free them; on the ingest hot path that was a quarter of
//! the gateway's CPU. A tape is one allocation per event. Objects, arrays and member names
//! are slots in document order; a container knows where its last descendant ends, so any
//! subtree can be skipped in one step. Strings without escapes stay slices of the text.
//!
//! Objects and arrays of plain JSON are read by a byte-level reader (`fast`); whatever it
//! does not read exactly as serde_json would (errors, deep nesting, rare escapes and
//! numbers) is read again through serde_json's own parser, so syntax, numbers, escapes, error
//! messages and the nesting limit (128 levels) are exactly as for `Value`. An object that
//! repeats a member name is refused, as the gateway refuses it everywhere else: consumers
//! could read either value.

use std::borrow::Cow;
use std::fmt;

use jsonschema::json::{Array, Json, Node, NodeIdentity, Object, cmp};
use jsonschema::types::JsonType;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

mod fast;

/// One slot of a tape.
#[derive(Debug, Clone, PartialEq)]
enum Slot<'t> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'t, str>),
    /// Followed by its members, each a [`Slot::Key`] and then the member's value; `end` is
    /// the index one past the last slot of the last member.
    Object {
        len: u32,
        end: u32,
    },
    /// Followed by its elements; `end` as for objects.
    Array {
        len: u32,
        end: u32,
    },
    /// A member name; the member's value is the next slot.
    Key(Cow<'t, str>),
}

/// A JSON document read into a tape (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonTape<'t> {
    slots: Vec<Slot<'t>>,
    /// The most members any object has (see [`JsonTape::widest_object`]).
    widest: usize,
}

/// Why a text could not be read into a tape.
#[derive(Debug)]
pub enum TapeError {
    /// Not JSON (or nested deeper than 128 levels).
    Syntax(serde_json::Error),
    /// JSON, but an object names the same member twice.
    DuplicateMember,
}

impl fmt::Display for TapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TapeError::Syntax(e) => write!(f, "{e}"),
            TapeError::DuplicateMember => f.write_str("an object names the same member twice"),
        }
    }
}

impl<'t> JsonTape<'t> {
    /// Reads `text`, which must hold exactly one JSON value.
    pub fn parse(text: &'t str) -> Result<JsonTape<'t>, TapeError> {
        if let Some(read) = fast::read_whole(text) {
            return JsonTape::from_fast(read).map(|(tape, _)| tape);
        }
        JsonTape::parse_with_serde(text)
    }

    /// [`JsonTape::parse`] through serde_json alone: what the fast path falls back to, and
    /// what the benchmarks compare it with.
    pub fn parse_with_serde(text: &'t str) -> Result<JsonTape<'t>, TapeError> {
        let mut slots = Vec::with_capacity(slots_for_whole(text));
        let mut duplicate = false;
        let mut de = serde_json::Deserializer::from_str(text);
        Writer {
            slots: &mut slots,
            duplicate: &mut duplicate,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(TapeError::Syntax)?;
        if duplicate {
            return Err(TapeError::DuplicateMember);
        }
        Ok(JsonTape::counted(slots))
    }

    /// Reads the first JSON value in `text` (after any whitespace): the tape, and the offset
    /// just past the value, where whatever follows it starts. `None` when `text` holds only
    /// whitespace. A number must be followed by whitespace, a bracket, a brace, a comma, a
    /// colon, a quote or the end.
    pub fn parse_leading(text: &'t str) -> Option<Result<(JsonTape<'t>, usize), TapeError>> {
        if let Some(read) = fast::read_leading(text) {
            return Some(JsonTape::from_fast(read));
        }
        JsonTape::parse_leading_with_serde(text)
    }

    /// [`JsonTape::parse_leading`] through serde_json alone.
    fn parse_leading_with_serde(text: &'t str) -> Option<Result<(JsonTape<'t>, usize), TapeError>> {
        let mut values = serde_json::Deserializer::from_str(text).into_iter::<Leading<'t>>();
        let read = values.next()?;
        Some(match read {
            Err(e) => Err(TapeError::Syntax(e)),
            Ok(Leading {
                duplicate: true, ..
            }) => Err(TapeError::DuplicateMember),
            Ok(Leading { slots, .. }) => Ok((JsonTape::counted(slots), values.byte_offset())),
        })
    }

    fn from_fast(read: fast::Read<'t>) -> Result<(JsonTape<'t>, usize), TapeError> {
        if read.duplicate {
            return Err(TapeError::DuplicateMember);
        }
        let tape = JsonTape {
            slots: read.slots,
            widest: read.widest,
        };
        Ok((tape, read.end))
    }

    /// A tape of `slots` read through serde_json, its widest object counted.
    fn counted(slots: Vec<Slot<'t>>) -> JsonTape<'t> {
        let widest = slots
            .iter()
            .map(|slot| match slot {
                Slot::Object { len, .. } => *len as usize,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        JsonTape { slots, widest }
    }

    /// The document's root, for validation.
    pub fn root(&self) -> TapeNode<'_> {
        TapeNode {
            slots: &self.slots,
            at: 0,
        }
    }

    pub fn is_object(&self) -> bool {
        matches!(self.slots.first(), Some(Slot::Object { .. }))
    }

    /// Whether any object in the document has a member called `name`.
    pub fn has_member_named(&self, name: &str) -> bool {
        self.slots
            .iter()
            .any(|slot| matches!(slot, Slot::Key(key) if key == name))
    }

    /// The most members any object in the document has. Looking a member up in a tape is a
    /// scan, so a schema with P properties costs P × members per object: callers hand very
    /// wide objects to the `Value` validator (whose lookups are logarithmic) instead.
    pub fn widest_object(&self) -> usize {
        self.widest
    }

    /// The document as a `serde_json::Value`.
    pub fn to_value(&self) -> Value {
        self.root().value()
    }
}

/// A tape read as a `Deserialize` type, for serde_json's stream reader (which knows where
/// a value ends).
struct Leading<'t> {
    slots: Vec<Slot<'t>>,
    duplicate: bool,
}

impl<'t> de::Deserialize<'t> for Leading<'t> {
    fn deserialize<D: de::Deserializer<'t>>(deserializer: D) -> Result<Self, D::Error> {
        let mut read = Leading {
            slots: Vec::with_capacity(SLOTS_FOR_LEADING),
            duplicate: false,
        };
        Writer {
            slots: &mut read.slots,
            duplicate: &mut read.duplicate,
        }
        .deserialize(deserializer)?;
        Ok(read)
    }
}

/// Writes one value (and everything in it) to the end of the tape.
struct Writer<'a, 't> {
    slots: &'a mut Vec<Slot<'t>>,
    duplicate: &'a mut bool,
}

impl<'t> Writer<'_, 't> {
    /// Continues with the same tape for a value inside the one being written.
    fn inner(&mut self) -> Writer<'_, 't> {
        Writer {
            slots: self.slots,
            duplicate: self.duplicate,
        }
    }
}

/// The slots reserved for a text holding one value: one per ~8 bytes is about what compact
/// events need (the benchmark's 512-byte events have 47 on average), and a tape that must
/// grow copies itself.
fn slots_for_whole(text: &str) -> usize {
    text.len() / 8 + 4
}

/// The slots reserved for the first value of a text that may run on past it (the events of
/// an array or NDJSON body): the text's length says nothing of the value's.
const SLOTS_FOR_LEADING: usize = 64;

/// The index as stored in a container slot. Bodies are capped far below 4 GiB, so a tape
/// never has that many slots; saturate rather than wrap if one ever did.
fn index(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl<'t> DeserializeSeed<'t> for Writer<'_, 't> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'t>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'t> Visitor<'t> for Writer<'_, 't> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a json value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.slots.push(Slot::Bool(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.slots.push(Slot::Number(v.into()));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.slots.push(Slot::Number(v.into()));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        // As `serde_json::Value` reads it.
        self.slots
            .push(Number::from_f64(v).map_or(Slot::Null, Slot::Number));
        Ok(())
    }

    fn visit_borrowed_str<E>(self, v: &'t str) -> Result<(), E> {
        self.slots.push(Slot::String(Cow::Borrowed(v)));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.slots.push(Slot::String(Cow::Owned(v.to_owned())));
        Ok(())
    }

    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.slots.push(Slot::String(Cow::Owned(v)));
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.slots.push(Slot::Null);
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.slots.push(Slot::Null);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'t>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let at = self.slots.len();
        self.slots.push(Slot::Array { len: 0, end: 0 });
        let mut len = 0usize;
        while seq.next_element_seed(self.inner())?.is_some() {
            len += 1;
        }
        let end = index(self.slots.len());
        self.slots[at] = Slot::Array {
            len: index(len),
            end,
        };
        Ok(())
    }

    fn visit_map<A: MapAccess<'t>>(mut self, mut map: A) -> Result<(), A::Error> {
        let at = self.slots.len();
        self.slots.push(Slot::Object { len: 0, end: 0 });
        let mut len = 0usize;
        while let Some(name) = map.next_key_seed(KeyReader)? {
            self.slots.push(Slot::Key(name));
            map.next_value_seed(self.inner())?;
            len += 1;
        }
        let end = index(self.slots.len());
        self.slots[at] = Slot::Object {
            len: index(len),
            end,
        };
        if !*self.duplicate && repeats_a_name(self.slots, at) {
            *self.duplicate = true;
        }
        Ok(())
    }
}

/// Reads a member name, borrowed from the text unless it has escapes.
struct KeyReader;

impl<'de> DeserializeSeed<'de> for KeyReader {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyReader {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Whether the object at `at` names a member twice. Small objects compare names pairwise
/// (no allocation); larger ones sort their names.
fn repeats_a_name(slots: &[Slot<'_>], at: usize) -> bool {
    let names = Members {
        slots,
        next: at + 1,
        end: end_of(slots, at),
    }
    .map(|(name, _)| name);
    let Slot::Object { len, .. } = slots[at] else {
        return false;
    };
    if len <= 16 {
        let mut seen: [&str; 16] = [""; 16];
        for (i, name) in names.enumerate() {
            if seen[..i].contains(&name) {
                return true;
            }
            seen[i] = name;
        }
        return false;
    }
    let mut sorted: Vec<&str> = names.collect();
    sorted.sort_unstable();
    sorted.windows(2).any(|pair| pair[0] == pair[1])
}

/// One past the last slot of the value at `at`.
fn end_of(slots: &[Slot<'_>], at: usize) -> usize {
    match slots[at] {
        Slot::Object { end, .. } | Slot::Array { end, .. } => end as usize,
        _ => at + 1,
    }
}

/// Where [`TapeNode::member_from`] resumes its search in an object.
#[derive(Debug, Clone, Copy)]
pub struct MemberCursor {
    /// The object's slot.
    object: usize,
    /// The slot of the name of the member last found.
    last: usize,
}

impl Default for MemberCursor {
    /// A cursor that has not been used: its first search starts at the first member.
    fn default() -> MemberCursor {
        MemberCursor {
            object: usize::MAX,
            last: 0,
        }
    }
}

/// A value in a tape: what the JSON Schema validator walks.
#[derive(Debug, Clone, Copy)]
pub struct TapeNode<'a> {
    slots: &'a [Slot<'a>],
    at: usize,
}

impl<'a> TapeNode<'a> {
    fn slot(&self) -> &'a Slot<'a> {
        &self.slots[self.at]
    }

    /// The value as a `serde_json::Value` (cold paths: errors, `uniqueItems`).
    fn value(&self) -> Value {
        match self.slot() {
            Slot::Null | Slot::Key(_) => Value::Null,
            Slot::Bool(b) => Value::Bool(*b),
            Slot::Number(n) => Value::Number(n.clone()),
            Slot::String(s) => Value::String(s.clone().into_owned()),
            Slot::Array { .. } => Value::Array(self.elements().map(|e| e.value()).collect()),
            Slot::Object { .. } => Value::Object(
                self.members()
                    .map(|(name, node)| (name.to_owned(), node.value()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }

    fn members(&self) -> Members<'a> {
        Members {
            slots: self.slots,
            next: self.at + 1,
            end: end_of(self.slots, self.at),
        }
    }

    fn elements(&self) -> Elements<'a> {
        Elements {
            slots: self.slots,
            next: self.at + 1,
            end: end_of(self.slots, self.at),
        }
    }

    /// The value at an RFC 6901 pointer (`""` is the whole document).
    pub fn pointer(&self, pointer: &str) -> Option<TapeNode<'a>> {
        if pointer.is_empty() {
            return Some(*self);
        }
        let mut current = *self;
        for token in pointer.strip_prefix('/')?.split('/') {
            let token: Cow<'_, str> = if token.contains('~') {
                Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
            } else {
                Cow::Borrowed(token)
            };
            current = match current.slot() {
                Slot::Object { .. } => current.member(&token)?,
                Slot::Array { .. } => {
                    // As serde_json reads array indexes: digits only, no leading zero.
                    if token.starts_with('+') || (token.len() > 1 && token.starts_with('0')) {
                        return None;
                    }
                    current.elements().nth(token.parse().ok()?)?
                }
                _ => return None,
            };
        }
        Some(current)
    }

    /// The value of member `name` of an object.
    pub fn member(&self, name: &str) -> Option<TapeNode<'a>> {
        self.members()
            .find_map(|(key, value)| (key == name).then_some(value))
    }

    /// [`TapeNode::member`], for callers that ask for an object's members in about the
    /// order it holds them: the member `cursor` last found in this object is tried first,
    /// then the search runs from the member after it to the end, then from the first member
    /// up to it. The cursor moves to the member found. A cursor last used on another object
    /// of this tape starts from the first member; it must not come from another tape.
    pub fn member_from(&self, name: &str, cursor: &mut MemberCursor) -> Option<TapeNode<'a>> {
        let first = self.at + 1;
        let end = end_of(self.slots, self.at);
        let mut start = first;
        if cursor.object == self.at && (first..end).contains(&cursor.last) {
            if matches!(&self.slots[cursor.last], Slot::Key(key) if key == name) {
                return Some(TapeNode {
                    slots: self.slots,
                    at: cursor.last + 1,
                });
            }
            start = end_of(self.slots, cursor.last + 1);
        }
        let find = |next, end| {
            let mut members = Members {
                slots: self.slots,
                next,
                end,
            };
            loop {
                let at = members.next;
                let (key, value) = members.next()?;
                if key == name {
                    return Some((at, value));
                }
            }
        };
        let (last, value) = find(start, end).or_else(|| find(first, start))?;
        *cursor = MemberCursor {
            object: self.at,
            last,
        };
        Some(value)
    }

    /// What kind of JSON value this is.
    pub fn kind(&self) -> JsonType {
        match self.slot() {
            Slot::Null | Slot::Key(_) => JsonType::Null,
            Slot::Bool(_) => JsonType::Boolean,
            Slot::Number(_) => JsonType::Number,
            Slot::String(_) => JsonType::String,
            Slot::Array { .. } => JsonType::Array,
            Slot::Object { .. } => JsonType::Object,
        }
    }

    /// A scalar's value (`None` for arrays and objects).
    pub fn scalar(&self) -> Option<Value> {
        match self.slot() {
            Slot::Array { .. } | Slot::Object { .. } => None,
            _ => Some(self.value()),
        }
    }
}

/// An object's members in document order.
#[derive(Debug, Clone)]
pub struct Members<'a> {
    slots: &'a [Slot<'a>],
    next: usize,
    end: usize,
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, TapeNode<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let Slot::Key(name) = &self.slots[self.next] else {
            return None;
        };
        let value = self.next + 1;
        self.next = end_of(self.slots, value);
        Some((
            name.as_ref(),
            TapeNode {
                slots: self.slots,
                at: value,
            },
        ))
    }
}

/// An array's elements in order.
#[derive(Debug, Clone)]
pub struct Elements<'a> {
    slots: &'a [Slot<'a>],
    next: usize,
    end: usize,
}

impl<'a> Iterator for Elements<'a> {
    type Item = TapeNode<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let at = self.next;
        self.next = end_of(self.slots, at);
        Some(TapeNode {
            slots: self.slots,
            at,
        })
    }
}

/// The JSON Schema validator's name for tapes.
#[derive(Debug)]
pub struct TapeJson;

impl Json for TapeJson {
    type Node<'a> = TapeNode<'a>;
    type PreparedKey = Box<str>;
    type StringBuffer = ();

    const ACYCLIC: bool = true;

    fn prepare_key(key: &str) -> Box<str> {
        Box::from(key)
    }

    fn with_string_node<T>((): &mut (), string: &str, f: impl FnOnce(TapeNode<'_>) -> T) -> T {
        let slots = [Slot::String(Cow::Borrowed(string))];
        f(TapeNode {
            slots: &slots,
            at: 0,
        })
    }
}

impl<'a> Node<'a, TapeJson> for TapeNode<'a> {
    type Object = TapeObject<'a>;
    type Array = TapeArray<'a>;
    type Number = &'a Number;

    fn as_object(&self) -> Option<TapeObject<'a>> {
        match self.slot() {
            Slot::Object { len, .. } => Some(TapeObject {
                node: *self,
                len: *len as usize,
            }),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<TapeArray<'a>> {
        match self.slot() {
            Slot::Array { len, .. } => Some(TapeArray {
                node: *self,
                len: *len as usize,
            }),
            _ => None,
        }
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        match self.slot() {
            Slot::String(s) => Some(Cow::Borrowed(s.as_ref())),
            _ => None,
        }
    }

    fn as_number(&self) -> Option<&'a Number> {
        match self.slot() {
            Slot::Number(n) => Some(n),
            _ => None,
        }
    }

    fn as_boolean(&self) -> Option<bool> {
        match self.slot() {
            Slot::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self.slot(), Slot::Null)
    }

    fn json_type(&self) -> JsonType {
        self.kind()
    }

    fn equals_value(&self, expected: &Value) -> bool {
        match (self.slot(), expected) {
            (Slot::Null, Value::Null) => true,
            (Slot::Bool(a), Value::Bool(b)) => a == b,
            (Slot::Number(a), Value::Number(b)) => cmp::equal_numbers(&a, b),
            (Slot::String(a), Value::String(b)) => a == b,
            (Slot::Array { len, .. }, Value::Array(items)) => {
                *len as usize == items.len()
                    && self.elements().zip(items).all(|(e, v)| e.equals_value(v))
            }
            // Names are unique in a tape (repeats are refused) and in a map.
            (Slot::Object { len, .. }, Value::Object(map)) => {
                *len as usize == map.len()
                    && self
                        .members()
                        .all(|(name, node)| map.get(name).is_some_and(|v| node.equals_value(v)))
            }
            _ => false,
        }
    }

    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(self.value())
    }

    fn identity(&self) -> Option<NodeIdentity> {
        Some(NodeIdentity::tagged(
            self.slots.as_ptr() as usize,
            index(self.at),
        ))
    }
}

/// An object in a tape; members are found by a scan (events' objects are small).
#[derive(Debug, Clone, Copy)]
pub struct TapeObject<'a> {
    node: TapeNode<'a>,
    len: usize,
}

impl<'a> Object<'a, TapeJson> for TapeObject<'a> {
    type Node = TapeNode<'a>;
    type MemberName = &'a str;
    type MembersIter = Members<'a>;

    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, key: &Box<str>) -> Option<TapeNode<'a>> {
        self.node.member(key)
    }

    fn members(&self) -> Members<'a> {
        self.node.members()
    }
}

/// An array in a tape.
#[derive(Debug, Clone, Copy)]
pub struct TapeArray<'a> {
    node: TapeNode<'a>,
    len: usize,
}

impl<'a> Array<'a, TapeJson> for TapeArray<'a> {
    type Node = TapeNode<'a>;
    type ElementsIter = Elements<'a>;

    fn len(&self) -> usize {
        self.len
    }

    fn elements(&self) -> Elements<'a> {
        self.node.elements()
    }
}

#[cfg(test)]
mod tests;
