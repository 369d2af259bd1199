//! Measuring one Avro binary datum without decoding it: where it ends, under a budget.
//!
//! Avro binary has no framing: a datum's length is known only by walking it with its schema.
//! A body of several datums back to back is split by walking each in turn. The walk allocates
//! nothing and counts every value it passes; because some values take no bytes at all (nulls,
//! empty records), a few bytes can claim millions of items — the count is capped, so such a
//! datum is refused before a decoder would allocate for it. Lengths are checked against the
//! bytes that remain, so no string or array may claim more than the body holds.

use apache_avro::Schema;
use apache_avro::schema::{InnerDecimalSchema, UuidSchema};

use crate::error::DecodeError;
use crate::schema::AvroSchema;

/// Deepest nesting walked (bounds the stack on recursive schemas).
const MAX_DEPTH: usize = 256;

struct Scan<'a> {
    root: &'a AvroSchema,
    bytes: &'a [u8],
    at: usize,
    /// Values still allowed.
    budget: usize,
}

/// The length of the datum at the start of `bytes`, walking at most `max_values` values.
pub(crate) fn datum_len(
    root: &AvroSchema,
    bytes: &[u8],
    max_values: usize,
) -> Result<usize, DecodeError> {
    let mut scan = Scan {
        root,
        bytes,
        at: 0,
        budget: max_values,
    };
    scan.value(&root.root, 0)?;
    Ok(scan.at)
}

fn invalid(message: impl Into<String>) -> DecodeError {
    DecodeError::InvalidAvro(message.into())
}

impl Scan<'_> {
    fn value(&mut self, schema: &Schema, depth: usize) -> Result<(), DecodeError> {
        if depth > MAX_DEPTH {
            return Err(invalid("the value nests too deeply"));
        }
        let schema = self.root.deref(schema);
        // A union's branch index is counted with the branch's value.
        if !matches!(schema, Schema::Union(_)) {
            self.budget = self.budget.checked_sub(1).ok_or_else(|| {
                invalid("the value holds too many items for its size (null or empty items?)")
            })?;
        }
        match schema {
            Schema::Null => Ok(()),
            Schema::Boolean => match self.take(1)?[0] {
                0 | 1 => Ok(()),
                other => Err(invalid(format!("{other} is not a boolean"))),
            },
            Schema::Int
            | Schema::Date
            | Schema::TimeMillis
            | Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => self.long().map(drop),
            Schema::Float => self.take(4).map(drop),
            Schema::Double => self.take(8).map(drop),
            Schema::Bytes | Schema::BigDecimal => self.sized().map(drop),
            Schema::String => {
                let text = self.sized()?;
                std::str::from_utf8(text)
                    .map(drop)
                    .map_err(|_| invalid("a string is not valid utf-8"))
            }
            Schema::Uuid(UuidSchema::String) => self.sized().map(drop),
            Schema::Uuid(UuidSchema::Bytes) => self.sized().map(drop),
            Schema::Uuid(UuidSchema::Fixed(fixed)) | Schema::Fixed(fixed) => {
                self.take(fixed.size).map(drop)
            }
            Schema::Duration(_) => self.take(12).map(drop),
            Schema::Decimal(decimal) => match &decimal.inner {
                InnerDecimalSchema::Bytes => self.sized().map(drop),
                InnerDecimalSchema::Fixed(fixed) => self.take(fixed.size).map(drop),
            },
            Schema::Enum(e) => {
                let index = self.long()?;
                if usize::try_from(index).is_ok_and(|i| i < e.symbols.len()) {
                    Ok(())
                } else {
                    Err(invalid(format!("enum index {index} is out of range")))
                }
            }
            Schema::Union(union) => {
                let index = self.long()?;
                let variant = usize::try_from(index)
                    .ok()
                    .and_then(|i| union.variants().get(i))
                    .ok_or_else(|| invalid(format!("union branch {index} is out of range")))?;
                self.value(variant, depth + 1)
            }
            Schema::Record(record) => {
                for field in &record.fields {
                    self.value(&field.schema, depth + 1)?;
                }
                Ok(())
            }
            Schema::Array(array) => self.blocks(|scan| scan.value(&array.items, depth + 1)),
            Schema::Map(map) => self.blocks(|scan| {
                scan.value(&Schema::String, depth + 1)?;
                scan.value(&map.types, depth + 1)
            }),
            Schema::Ref { name } => Err(invalid(format!("unknown named type {name}"))),
        }
    }

    /// Array and map blocks: a count (negative: followed by the block's byte size), items, and
    /// a zero count at the end.
    fn blocks(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        loop {
            let count = self.long()?;
            if count == 0 {
                return Ok(());
            }
            if count < 0 {
                self.long()?;
            }
            let count = count.unsigned_abs();
            // Each item costs at least one unit of the budget: refuse what cannot fit at once.
            if count > self.budget as u64 {
                return Err(invalid(format!(
                    "a block claims {count} items, more than the value may hold"
                )));
            }
            for _ in 0..count {
                item(self)?;
            }
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| invalid("the bytes end inside a value"))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// A length-prefixed byte string.
    fn sized(&mut self) -> Result<&[u8], DecodeError> {
        let len = self.long()?;
        let len = usize::try_from(len).map_err(|_| invalid(format!("negative length {len}")))?;
        self.take(len)
    }

    /// A zig-zag varint of at most 10 bytes.
    fn long(&mut self) -> Result<i64, DecodeError> {
        let mut raw: u64 = 0;
        for shift in (0..70).step_by(7) {
            let byte = self.take(1)?[0];
            raw |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64));
            }
        }
        Err(invalid("a varint is longer than 10 bytes"))
    }
}
