//! The tantivy schema of the catalog index and how a [`CatalogDocument`] maps onto it.

use tantivy::schema::{
    FAST, FacetOptions, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions,
};
use tantivy::tokenizer::{LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{Index, TantivyDocument};

use super::model::CatalogDocument;
use super::query::MAX_TERM_CHARS;

/// The tokenizer every text field uses: split on anything not alphanumeric (so `.`, `_`, `-`
/// and `/` separate words), lowercase. The query side does the same in `query::terms`.
pub(crate) const TOKENIZER: &str = "catalog";

/// Bumped whenever the schema or the tokenizer changes; an index with another stamp is wiped.
pub(crate) const SCHEMA_VERSION: &str = "tributary-catalog-index v1";

/// Handles to the fields of the schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    /// The whole name, untokenized: identity (delete by term), sort key, exact-name boost.
    pub(crate) name_key: Field,
    pub(crate) name: Field,
    pub(crate) owner: Field,
    pub(crate) tags: Field,
    pub(crate) producers: Field,
    pub(crate) description: Field,
    pub(crate) field_path: Field,
    pub(crate) field_doc: Field,
    pub(crate) owner_facet: Field,
    pub(crate) tag_facet: Field,
    pub(crate) quality_facet: Field,
    /// The whole document as JSON, stored only: hits and `matched` are read from it.
    pub(crate) source: Field,
}

pub(crate) fn build() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        name_key: builder.add_text_field("name_key", STRING | FAST),
        name: builder.add_text_field("name", text.clone()),
        owner: builder.add_text_field("owner", text.clone()),
        tags: builder.add_text_field("tags", text.clone()),
        producers: builder.add_text_field("producers", text.clone()),
        description: builder.add_text_field("description", text.clone()),
        field_path: builder.add_text_field("field_path", text.clone()),
        field_doc: builder.add_text_field("field_doc", text),
        owner_facet: builder.add_facet_field("owner_facet", FacetOptions::default()),
        tag_facet: builder.add_facet_field("tag_facet", FacetOptions::default()),
        quality_facet: builder.add_facet_field("quality_facet", FacetOptions::default()),
        source: builder.add_text_field("source", STORED),
    };
    (builder.build(), fields)
}

pub(crate) fn register_tokenizer(index: &Index) {
    let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
        // Tokens longer than any query term can never match; keep the dictionary lean.
        .filter(RemoveLongFilter::limit(MAX_TERM_CHARS * 4 + 1))
        .filter(LowerCaser)
        .build();
    index.tokenizers().register(TOKENIZER, analyzer);
}

/// A facet value as one path segment. Facets use NUL as their separator, so it is dropped.
pub(crate) fn facet(value: &str) -> Option<tantivy::schema::Facet> {
    let clean: String = value.chars().filter(|c| *c != '\0').collect();
    if clean.is_empty() {
        return None;
    }
    Some(tantivy::schema::Facet::from_path([clean]))
}

pub(crate) fn to_tantivy(
    fields: &Fields,
    doc: &CatalogDocument,
) -> Result<TantivyDocument, serde_json::Error> {
    let mut out = TantivyDocument::default();
    out.add_text(fields.name_key, &doc.name);
    out.add_text(fields.name, &doc.name);
    out.add_text(fields.owner, &doc.owner);
    out.add_text(fields.description, &doc.description);
    for tag in &doc.tags {
        out.add_text(fields.tags, tag);
    }
    for producer in &doc.producers {
        out.add_text(fields.producers, producer);
    }
    for field in &doc.fields {
        out.add_text(fields.field_path, &field.path);
        if let Some(text) = &field.doc {
            out.add_text(fields.field_doc, text);
        }
    }
    if let Some(owner) = facet(&doc.owner) {
        out.add_facet(fields.owner_facet, owner);
    }
    let mut seen_tags: Vec<&str> = Vec::new();
    for tag in &doc.tags {
        // A tag listed twice counts once.
        if seen_tags.contains(&tag.as_str()) {
            continue;
        }
        seen_tags.push(tag);
        if let Some(tag) = facet(tag) {
            out.add_facet(fields.tag_facet, tag);
        }
    }
    if let Some(band) = doc.quality_band.and_then(|band| facet(band.as_str())) {
        out.add_facet(fields.quality_facet, band);
    }
    out.add_text(fields.source, serde_json::to_string(doc)?);
    Ok(out)
}
