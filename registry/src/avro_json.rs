//! The plain-JSON shape of Avro values: JSON in (validation, encoding) and JSON out (decoding).

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::schema::{DecimalSchema, InnerDecimalSchema, UuidSchema};
use apache_avro::types::Value as Avro;
use serde_json::{Map, Number, Value};

use crate::error::{Violation, pointer_token};
use crate::schema::AvroSchema;

/// Deepest value nesting converted (bounds the stack on recursive schemas).
const MAX_DEPTH: usize = 256;

/// Converts `value` to an Avro value of `schema`, collecting every violation.
pub(crate) fn from_json(schema: &AvroSchema, value: &Value) -> Result<Avro, Vec<Violation>> {
    let mut violations = Vec::new();
    let converted = convert(schema, &schema.root, value, "", 0, &mut violations);
    match converted {
        Some(avro) if violations.is_empty() => Ok(avro),
        _ => {
            if violations.is_empty() {
                violations.push(Violation::new("", "value does not match the schema"));
            }
            Err(violations)
        }
    }
}

fn convert(
    root: &AvroSchema,
    schema: &Schema,
    value: &Value,
    pointer: &str,
    depth: usize,
    out: &mut Vec<Violation>,
) -> Option<Avro> {
    if depth > MAX_DEPTH {
        out.push(Violation::new(pointer, "value is nested too deeply"));
        return None;
    }
    let schema = root.deref(schema);
    let mut fail = |message: String| {
        out.push(Violation::new(pointer, message));
        None
    };
    match schema {
        Schema::Null => match value {
            Value::Null => Some(Avro::Null),
            _ => fail("expected null".to_string()),
        },
        Schema::Boolean => match value {
            Value::Bool(b) => Some(Avro::Boolean(*b)),
            _ => fail("expected a boolean".to_string()),
        },
        Schema::Int | Schema::Date | Schema::TimeMillis => {
            let Some(n) = value.as_i64().and_then(|n| i32::try_from(n).ok()) else {
                return fail("expected an integer between -2^31 and 2^31-1".to_string());
            };
            Some(match schema {
                Schema::Date => Avro::Date(n),
                Schema::TimeMillis => Avro::TimeMillis(n),
                _ => Avro::Int(n),
            })
        }
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => {
            let Some(n) = value.as_i64() else {
                return fail("expected a 64-bit integer".to_string());
            };
            Some(match schema {
                Schema::TimeMicros => Avro::TimeMicros(n),
                Schema::TimestampMillis => Avro::TimestampMillis(n),
                Schema::TimestampMicros => Avro::TimestampMicros(n),
                Schema::TimestampNanos => Avro::TimestampNanos(n),
                Schema::LocalTimestampMillis => Avro::LocalTimestampMillis(n),
                Schema::LocalTimestampMicros => Avro::LocalTimestampMicros(n),
                Schema::LocalTimestampNanos => Avro::LocalTimestampNanos(n),
                _ => Avro::Long(n),
            })
        }
        Schema::Float => match value.as_f64() {
            Some(f) => Some(Avro::Float(f as f32)),
            None => fail("expected a number".to_string()),
        },
        Schema::Double => match value.as_f64() {
            Some(f) => Some(Avro::Double(f)),
            None => fail("expected a number".to_string()),
        },
        Schema::String => match value {
            Value::String(s) => Some(Avro::String(s.clone())),
            _ => fail("expected a string".to_string()),
        },
        Schema::Bytes => match latin1(value) {
            Ok(bytes) => Some(Avro::Bytes(bytes)),
            Err(message) => fail(message),
        },
        Schema::Fixed(f) => match latin1(value) {
            Ok(bytes) if bytes.len() == f.size => Some(Avro::Fixed(f.size, bytes)),
            Ok(bytes) => fail(format!("expected {} bytes, got {}", f.size, bytes.len())),
            Err(message) => fail(message),
        },
        Schema::Uuid(inner) => {
            let Value::String(s) = value else {
                return fail("expected a uuid string".to_string());
            };
            match apache_avro::Uuid::parse_str(s) {
                Ok(uuid) => match inner {
                    UuidSchema::String => Some(Avro::Uuid(uuid)),
                    UuidSchema::Bytes => Some(Avro::Bytes(uuid.as_bytes().to_vec())),
                    UuidSchema::Fixed(_) => Some(Avro::Fixed(16, uuid.as_bytes().to_vec())),
                },
                Err(_) => fail(format!("{s:?} is not a uuid")),
            }
        }
        Schema::Decimal(d) => match decimal_bytes(d, value) {
            Ok(bytes) => Some(Avro::Decimal(apache_avro::Decimal::from(bytes))),
            Err(message) => fail(message),
        },
        Schema::BigDecimal => fail("big-decimal values are not accepted as json".to_string()),
        Schema::Duration(_) => duration(value).or_else(|| {
            fail("expected {\"months\", \"days\", \"millis\"} of unsigned 32-bit integers".into())
        }),
        Schema::Enum(e) => match value {
            Value::String(s) => match e.symbols.iter().position(|x| x == s) {
                Some(i) => Some(Avro::Enum(i as u32, s.clone())),
                None => fail(format!(
                    "{s:?} is not a symbol of enum {} ({})",
                    e.name.fullname(None),
                    e.symbols.join(", ")
                )),
            },
            _ => fail("expected an enum symbol string".to_string()),
        },
        Schema::Array(a) => {
            let Value::Array(items) = value else {
                return fail("expected an array".to_string());
            };
            let mut converted = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let at = format!("{pointer}/{i}");
                converted.push(convert(root, &a.items, item, &at, depth + 1, out)?);
            }
            Some(Avro::Array(converted))
        }
        Schema::Map(m) => {
            let Value::Object(entries) = value else {
                return fail("expected an object".to_string());
            };
            let mut converted = HashMap::with_capacity(entries.len());
            for (key, item) in entries {
                let at = format!("{pointer}/{}", pointer_token(key));
                let v = convert(root, &m.types, item, &at, depth + 1, out)?;
                converted.insert(key.clone(), v);
            }
            Some(Avro::Map(converted))
        }
        Schema::Union(u) => {
            for (i, branch) in u.variants().iter().enumerate() {
                let mut scratch = Vec::new();
                if let Some(v) = convert(root, branch, value, pointer, depth + 1, &mut scratch)
                    && scratch.is_empty()
                {
                    return Some(Avro::Union(i as u32, Box::new(v)));
                }
            }
            let names: Vec<String> = u.variants().iter().map(branch_name).collect();
            fail(format!(
                "value matches no union branch ({})",
                names.join(", ")
            ))
        }
        Schema::Record(r) => {
            let Value::Object(object) = value else {
                return fail(format!(
                    "expected an object (record {})",
                    r.name.fullname(None)
                ));
            };
            let mut fields = Vec::with_capacity(r.fields.len());
            let mut ok = true;
            for field in &r.fields {
                let at = format!("{pointer}/{}", pointer_token(&field.name));
                let source = match (object.get(&field.name), &field.default) {
                    (Some(v), _) => v,
                    (None, Some(default)) => default,
                    (None, None) => {
                        out.push(Violation::new(&at, "required field is missing"));
                        ok = false;
                        continue;
                    }
                };
                match convert(root, &field.schema, source, &at, depth + 1, out) {
                    Some(v) => fields.push((field.name.clone(), v)),
                    None => ok = false,
                }
            }
            for key in object.keys() {
                if !r.fields.iter().any(|f| &f.name == key) {
                    let at = format!("{pointer}/{}", pointer_token(key));
                    out.push(Violation::new(&at, "field is not in the schema"));
                    ok = false;
                }
            }
            if ok { Some(Avro::Record(fields)) } else { None }
        }
        other => fail(format!("unsupported schema {other:?}")),
    }
}

fn branch_name(schema: &Schema) -> String {
    match schema {
        Schema::Ref { name } => name.fullname(None),
        Schema::Record(r) => r.name.fullname(None),
        Schema::Enum(e) => e.name.fullname(None),
        Schema::Fixed(f) => f.name.fullname(None),
        other => {
            let text = serde_json::to_string(other).unwrap_or_default();
            text.trim_matches('"').to_string()
        }
    }
}

fn latin1(value: &Value) -> Result<Vec<u8>, String> {
    let Value::String(s) = value else {
        return Err("expected a string of code points 0-255".to_string());
    };
    let mut bytes = Vec::with_capacity(s.len());
    for c in s.chars() {
        let code = c as u32;
        if code > 255 {
            return Err(format!("code point {code} is above 255 in a bytes string"));
        }
        bytes.push(code as u8);
    }
    Ok(bytes)
}

fn duration(value: &Value) -> Option<Avro> {
    let get = |key: &str| -> Option<u32> { u32::try_from(value.get(key)?.as_u64()?).ok() };
    let months = get("months")?;
    let days = get("days")?;
    let millis = get("millis")?;
    Some(Avro::Duration(apache_avro::Duration::new(
        apache_avro::Months::new(months),
        apache_avro::Days::new(days),
        apache_avro::Millis::new(millis),
    )))
}

/// `"12.30"` (or `12.3`) as the two's-complement big-endian unscaled value of `schema`.
fn decimal_bytes(schema: &DecimalSchema, value: &Value) -> Result<Vec<u8>, String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err("expected a decimal string such as \"12.30\"".to_string()),
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let valid = !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit());
    if !valid {
        return Err(format!("{text:?} is not a decimal number"));
    }
    if fraction.len() > schema.scale {
        return Err(format!(
            "{text:?} has more than {} fraction digits",
            schema.scale
        ));
    }
    let mut unscaled = String::from(whole.trim_start_matches('0'));
    unscaled.push_str(fraction);
    for _ in fraction.len()..schema.scale {
        unscaled.push('0');
    }
    let significant = unscaled.trim_start_matches('0');
    if significant.len() > schema.precision {
        return Err(format!(
            "{text:?} has more than {} digits",
            schema.precision
        ));
    }
    if significant.len() > 38 {
        return Err("decimals above 38 digits are not accepted as json".to_string());
    }
    let mut n: i128 = if significant.is_empty() {
        0
    } else {
        significant
            .parse()
            .map_err(|_| format!("{text:?} is not a decimal number"))?
    };
    if negative {
        n = -n;
    }
    let full = n.to_be_bytes();
    let size = match &schema.inner {
        InnerDecimalSchema::Fixed(f) => f.size,
        InnerDecimalSchema::Bytes => {
            // Shortest two's-complement form.
            let mut start = 0;
            while start < 15 {
                let sign_ok = (full[start] == 0 && full[start + 1] & 0x80 == 0)
                    || (full[start] == 0xff && full[start + 1] & 0x80 != 0);
                if !sign_ok {
                    break;
                }
                start += 1;
            }
            16 - start
        }
    };
    if size >= 16 {
        let fill = if n < 0 { 0xff } else { 0 };
        let mut bytes = vec![fill; size - 16];
        bytes.extend_from_slice(&full);
        return Ok(bytes);
    }
    let cut = &full[16 - size..];
    let back = i128::from_be_bytes({
        let fill = if cut[0] & 0x80 != 0 { 0xff } else { 0 };
        let mut b = [fill; 16];
        b[16 - size..].copy_from_slice(cut);
        b
    });
    if back != n {
        return Err(format!("{text:?} does not fit in {size} bytes"));
    }
    Ok(cut.to_vec())
}

/// Renders a decoded Avro value in the plain-JSON shape (the inverse of [`from_json`] up to
/// number formatting). Decimals become strings with the schema's scale.
pub(crate) fn to_json(root: &AvroSchema, schema: &Schema, value: &Avro) -> Value {
    let schema = root.deref(schema);
    match (value, schema) {
        (Avro::Null, _) => Value::Null,
        (Avro::Boolean(b), _) => Value::Bool(*b),
        (Avro::Int(n) | Avro::Date(n) | Avro::TimeMillis(n), _) => Value::from(*n),
        (
            Avro::Long(n)
            | Avro::TimeMicros(n)
            | Avro::TimestampMillis(n)
            | Avro::TimestampMicros(n)
            | Avro::TimestampNanos(n)
            | Avro::LocalTimestampMillis(n)
            | Avro::LocalTimestampMicros(n)
            | Avro::LocalTimestampNanos(n),
            _,
        ) => Value::from(*n),
        (Avro::Float(f), _) => number(f64::from(*f)),
        (Avro::Double(f), _) => number(*f),
        (Avro::String(s), _) | (Avro::Enum(_, s), _) => Value::String(s.clone()),
        (Avro::Bytes(b) | Avro::Fixed(_, b), _) => {
            Value::String(b.iter().map(|&c| c as char).collect())
        }
        (Avro::Uuid(u), _) => Value::String(u.to_string()),
        (Avro::Decimal(d), Schema::Decimal(ds)) => {
            let bytes: Vec<u8> = Vec::try_from(d).unwrap_or_default();
            Value::String(decimal_text(&bytes, ds.scale))
        }
        (Avro::Duration(d), _) => {
            let mut m = Map::new();
            m.insert("months".into(), Value::from(u32::from(d.months())));
            m.insert("days".into(), Value::from(u32::from(d.days())));
            m.insert("millis".into(), Value::from(u32::from(d.millis())));
            Value::Object(m)
        }
        (Avro::Union(i, inner), Schema::Union(u)) => match u.variants().get(*i as usize) {
            Some(branch) => to_json(root, branch, inner),
            None => Value::Null,
        },
        (Avro::Array(items), Schema::Array(a)) => {
            Value::Array(items.iter().map(|v| to_json(root, &a.items, v)).collect())
        }
        (Avro::Map(entries), Schema::Map(m)) => {
            let mut keys: Vec<&String> = entries.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                out.insert(key.clone(), to_json(root, &m.types, &entries[key]));
            }
            Value::Object(out)
        }
        (Avro::Record(fields), Schema::Record(r)) => {
            let mut out = Map::new();
            for (name, v) in fields {
                match r.lookup.get(name) {
                    Some(&i) => out.insert(name.clone(), to_json(root, &r.fields[i].schema, v)),
                    None => out.insert(name.clone(), Value::Null),
                };
            }
            Value::Object(out)
        }
        _ => Value::Null,
    }
}

fn number(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn decimal_text(bytes: &[u8], scale: usize) -> String {
    if bytes.is_empty() || bytes.len() > 16 {
        return "0".to_string();
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut b = [fill; 16];
    b[16 - bytes.len()..].copy_from_slice(bytes);
    let n = i128::from_be_bytes(b);
    let digits = n.unsigned_abs().to_string();
    let sign = if n < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}
