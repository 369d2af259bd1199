//! What the catalog search index takes in and gives back.

use serde::{Deserialize, Serialize};

/// One event type as the catalog knows it: everything search looks at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogDocument {
    /// The event type name, e.g. `orders.order_placed`; the document's identity in the index.
    pub name: String,
    /// The owning team.
    pub owner: String,
    /// Markdown description.
    pub description: String,
    pub tags: Vec<String>,
    /// Field paths (JSON pointers, `*` for array items) of the latest schema, with their docs.
    pub fields: Vec<SearchField>,
    /// Producers seen sending this event type.
    pub producers: Vec<String>,
    pub quality_band: Option<QualityBand>,
}

/// A field of an event type's schema, as search sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchField {
    /// JSON pointer, e.g. `/items/*/sku`.
    pub path: String,
    pub doc: Option<String>,
}

/// The quality score (0–100) bucketed for faceting: good ≥ 90, fair 70–89, poor < 70.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QualityBand {
    Good,
    Fair,
    Poor,
}

impl QualityBand {
    /// The band a quality score (0–100) falls in.
    pub fn from_score(score: f64) -> QualityBand {
        if score >= 90.0 {
            QualityBand::Good
        } else if score >= 70.0 {
            QualityBand::Fair
        } else {
            QualityBand::Poor
        }
    }

    /// The lowercase name used on the wire and in facet counts.
    pub fn as_str(self) -> &'static str {
        match self {
            QualityBand::Good => "good",
            QualityBand::Fair => "fair",
            QualityBand::Poor => "poor",
        }
    }
}

/// Hits per page when a request does not say.
pub const DEFAULT_SEARCH_LIMIT: usize = 20;

/// A search: free text plus exact facet filters. Every field may be left out when
/// deserializing (e.g. from a query string): no text, no filters, the first
/// [`DEFAULT_SEARCH_LIMIT`] hits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct SearchRequest {
    /// Free text; never parsed as query syntax. Empty lists everything, sorted by name.
    pub q: String,
    /// Only event types of this owner (exact).
    pub owner: Option<String>,
    /// Only event types with this tag (exact).
    pub tag: Option<String>,
    /// Only event types in this quality band.
    pub quality: Option<QualityBand>,
    /// Hits per page; clamped to [`MAX_SEARCH_LIMIT`](crate::MAX_SEARCH_LIMIT). Zero gives
    /// only the total and the facets.
    pub limit: usize,
    pub offset: usize,
}

impl Default for SearchRequest {
    fn default() -> Self {
        SearchRequest {
            q: String::new(),
            owner: None,
            tag: None,
            quality: None,
            limit: DEFAULT_SEARCH_LIMIT,
            offset: 0,
        }
    }
}

/// The answer to a [`SearchRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SearchResults {
    /// How many event types match (all pages).
    pub total: usize,
    pub hits: Vec<SearchHit>,
    pub facets: Facets,
}

/// One matching event type.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SearchHit {
    pub name: String,
    pub owner: String,
    pub description: String,
    /// Relevance; 0 when the query is empty (hits sorted by name).
    pub score: f32,
    /// Which parts matched: `name`, `owner`, `tag`, `producer`, `description`, `field:{path}`.
    pub matched: Vec<String>,
}

/// Counts per facet value over every match (not only the page), highest first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
pub struct Facets {
    pub owners: Vec<(String, usize)>,
    pub tags: Vec<(String, usize)>,
    pub quality: Vec<(String, usize)>,
}
