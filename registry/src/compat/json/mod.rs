//! JSON Schema compatibility (placeholder until the subset checker lands).

use super::Finding;
use crate::schema::JsonSchemaDoc;

pub(super) fn check(_reader: &JsonSchemaDoc, _writer: &JsonSchemaDoc) -> Vec<Finding> {
    Vec::new()
}
