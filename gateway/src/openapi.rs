//! The OpenAPI description of the ingest routes that the `#[utoipa::path]` attributes cannot
//! say in one place: the media types a publish body may have, the headers every publish
//! reads, and the answers the three ingest routes share.
//!
//! Adding a media type to the ingest routes is one line of [`EVENT_MEDIA_TYPES`].

use std::collections::BTreeMap;

use serde_json::{Value, json};
use utoipa::openapi::Ref;
use utoipa::openapi::RefOr;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::Schema;
use utoipa::{IntoParams, IntoResponses, PartialSchema, ToSchema};
use utoipa_axum::router::UtoipaMethodRouter;

use crate::http::{
    EVENT_ID_HEADER, EVENT_TIME_HEADER, IDEMPOTENCY_KEY_HEADER, PRODUCER_HEADER,
    SCHEMA_VERSION_HEADER,
};
use crate::verdict::Answer;

/// Tag of the publishing routes.
pub(crate) const EVENTS_TAG: &str = "events";
/// Tag of the producer and key routes.
pub(crate) const PRODUCERS_TAG: &str = "producers";

/// The event type of a publish or validate request.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only
pub(crate) struct EventTypePath {
    /// The event type.
    #[param(
        example = "orders.order_placed",
        max_length = 200,
        pattern = "^[a-z0-9_-]+\\.[a-z0-9_.-]+$"
    )]
    event_type: String,
}

/// The producer a route is about.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only
pub(crate) struct ProducerPath {
    /// The producer.
    #[param(example = "checkout")]
    name: String,
}

/// One key of a producer.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documentation only
pub(crate) struct KeyPath {
    /// The producer.
    #[param(example = "checkout")]
    name: String,
    /// The key.
    #[param(example = 1)]
    id: i64,
}

/// The component name of one CloudEvent (structured mode).
const CLOUD_EVENT: &str = "CloudEvent";

/// What a body of one media type holds.
#[derive(Debug, Clone, Copy)]
enum Body {
    /// One JSON object, or an array of them.
    JsonEvents,
    /// Lines of text, one JSON object each (documented as the array of the lines).
    Lines,
    /// One CloudEvent.
    CloudEvent,
    /// An array of CloudEvents.
    CloudEvents,
    /// Binary bytes (Avro datums back to back).
    Binary,
}

/// Every media type the ingest routes accept: (media type, what it holds, how it is read).
/// The decoder (`decode::format_of`) is the authority; this table documents it.
const EVENT_MEDIA_TYPES: &[(&str, Body, &str)] = &[
    (
        "application/json",
        Body::JsonEvents,
        "One event object or an array of them. With a `ce-specversion` header: CloudEvents binary mode, the body is the event's data.",
    ),
    (
        "application/x-ndjson",
        Body::Lines,
        "One event object per line; blank lines are ignored.",
    ),
    (
        "application/avro",
        Body::Binary,
        "Avro binary datums back to back, of the pinned schema version (else the one in force). With `; framing=confluent` each datum carries Confluent's prefix (magic byte 0, 4-byte schema id) naming its version; one id per request. `avro/binary` is accepted as an alias.",
    ),
    (
        "application/cloudevents+json",
        Body::CloudEvent,
        "CloudEvents structured mode: one event.",
    ),
    (
        "application/cloudevents-batch+json",
        Body::CloudEvents,
        "CloudEvents batch mode: an array of events, types may be mixed.",
    ),
];

const BODY_DESCRIPTION: &str = "The events. `Content-Encoding: gzip` or `zstd` compresses the body (the decompressed size is capped). Only `charset=utf-8` is accepted.";

fn schema(value: Value) -> RefOr<Schema> {
    // The JSON literals below are valid schemas; a typo fails every test that builds the spec.
    serde_json::from_value(value).expect("a valid schema literal")
}

fn cloud_event_ref() -> Value {
    json!({ "$ref": format!("#/components/schemas/{CLOUD_EVENT}") })
}

fn body_schema(body: Body) -> Value {
    match body {
        Body::JsonEvents => json!({
            "oneOf": [
                { "type": "object" },
                { "type": "array", "items": { "type": "object" } }
            ]
        }),
        // OpenAPI 3.1 has no schema for a stream of items: the array stands for the lines.
        Body::Lines => json!({ "type": "array", "items": { "type": "object" } }),
        Body::CloudEvent => cloud_event_ref(),
        Body::CloudEvents => json!({ "type": "array", "items": cloud_event_ref() }),
        Body::Binary => json!({ "type": "string", "contentMediaType": "application/avro" }),
    }
}

/// One CloudEvent 1.0 in structured mode, as the gateway reads it.
fn cloud_event_schema() -> RefOr<Schema> {
    schema(json!({
        "type": "object",
        "description": "A CloudEvent 1.0. `type` names the event type; `data` is the event and is validated against its schema; `dataschema` ending in `/versions/N` (or an integer) pins the schema version.",
        "required": ["specversion", "id", "source", "type", "data"],
        "properties": {
            "specversion": { "type": "string", "enum": ["1.0"] },
            "id": { "type": "string", "minLength": 1 },
            "source": { "type": "string", "minLength": 1 },
            "type": { "type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[a-z0-9_-]+\\.[a-z0-9_.-]+$" },
            "time": { "type": "string", "format": "date-time" },
            "subject": { "type": "string" },
            "dataschema": { "type": "string" },
            "datacontenttype": { "type": "string" },
            "data": { "type": "object" }
        }
    }))
}

fn events_body() -> RequestBody {
    let mut content = serde_json::Map::new();
    for (media_type, body, _) in EVENT_MEDIA_TYPES {
        content.insert(
            (*media_type).to_owned(),
            json!({ "schema": body_schema(*body) }),
        );
    }
    let mut descriptions = String::from(BODY_DESCRIPTION);
    for (media_type, _, description) in EVENT_MEDIA_TYPES {
        descriptions.push_str(&format!("\n\n- `{media_type}`: {description}"));
    }
    serde_json::from_value(json!({
        "description": descriptions,
        "required": true,
        "content": content,
    }))
    .expect("a valid request body literal")
}

/// Gives every operation of `routes` the publish body of [`EVENT_MEDIA_TYPES`], and adds the
/// schemas it refers to.
pub(crate) fn with_event_bodies<S>(routes: UtoipaMethodRouter<S>) -> UtoipaMethodRouter<S> {
    let (mut schemas, mut paths, router) = routes;
    for item in paths.paths.values_mut() {
        if let Some(operation) = item.post.as_mut() {
            operation.request_body = Some(RefOr::T(events_body()));
        }
    }
    schemas.push((CLOUD_EVENT.to_owned(), cloud_event_schema()));
    schemas.push((Answer::name().into_owned(), Answer::schema()));
    <Answer as ToSchema>::schemas(&mut schemas);
    (schemas, paths, router)
}

/// The query and headers every ingest route reads.
pub(crate) struct PublishParams;

impl IntoParams for PublishParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let params = [
            (
                ParameterIn::Query,
                "schema_version",
                json!({ "type": "integer", "minimum": 1 }),
                "Validate against this version of the event type's schema (default: the latest).",
            ),
            (
                ParameterIn::Header,
                SCHEMA_VERSION_HEADER,
                json!({ "type": "integer", "minimum": 1 }),
                "As `?schema_version`; the query wins when both are given.",
            ),
            (
                ParameterIn::Header,
                PRODUCER_HEADER,
                json!({ "type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[A-Za-z0-9._@:-]+$" }),
                "The producer (default `anonymous`). Ignored when the request is authenticated with a producer's API key: the key names the producer.",
            ),
            (
                ParameterIn::Header,
                EVENT_ID_HEADER,
                json!({ "type": "string", "format": "uuid" }),
                "The event's id, only when the request holds exactly one event (otherwise each event gets a UUIDv7). Repeats inside the idempotency window answer `duplicate`.",
            ),
            (
                ParameterIn::Header,
                EVENT_TIME_HEADER,
                json!({
                    "oneOf": [
                        { "type": "string", "format": "date-time" },
                        { "type": "string", "pattern": "^[0-9]{1,15}$" }
                    ]
                }),
                "The event time of every event of the request: RFC 3339, or milliseconds since 1970 (default: the receive time).",
            ),
            (
                ParameterIn::Header,
                IDEMPOTENCY_KEY_HEADER,
                json!({ "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$" }),
                "Deduplicates the request's events on (key, index): a retry with the same key answers the original positions as `duplicate`.",
            ),
            (
                ParameterIn::Header,
                "traceparent",
                json!({ "type": "string", "maxLength": 128 }),
                "W3C trace context, copied to every record.",
            ),
        ];
        params
            .into_iter()
            .map(|(location, name, value, description)| {
                serde_json::from_value(json!({
                    "name": name,
                    "in": location,
                    "required": false,
                    "description": description,
                    "schema": value,
                }))
                .expect("a valid parameter literal")
            })
            .collect()
    }
}

/// The answers of the ingest routes. Error bodies are problem+json (added with the rest of
/// the error contract when the binary assembles the document).
pub(crate) struct PublishResponses;

impl IntoResponses for PublishResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let answer = RefOr::Ref(Ref::from_schema_name(Answer::name()));
        let ok = |description: &str| {
            let mut response = Response::new(description);
            response.content.insert(
                String::from("application/json"),
                RefOr::T(utoipa::openapi::Content::new(Some(answer.clone()))),
            );
            RefOr::T(response)
        };
        let retry = |description: &str| {
            serde_json::from_value(json!({
                "description": description,
                "headers": { "Retry-After": { "schema": { "type": "integer" }, "description": "seconds to wait" } }
            }))
            .expect("a valid response literal")
        };
        let plain = |description: &str| RefOr::T(Response::new(description));
        BTreeMap::from([
            (
                String::from("200"),
                ok("Every event accepted (or, for a dry run, valid)."),
            ),
            (
                String::from("207"),
                ok(
                    "A verdict per event in input order: some or all were not accepted. Rejected events are dead-lettered.",
                ),
            ),
            (
                String::from("400"),
                plain(
                    "The request cannot be read: malformed JSON, invalid UTF-8, broken gzip/zstd, a bad header or query, or a bad CloudEvents envelope as the only event.",
                ),
            ),
            (
                String::from("403"),
                plain("A producer key publishing an event type none of its grants match."),
            ),
            (String::from("404"), plain("The event type does not exist.")),
            (
                String::from("413"),
                plain(
                    "The body, its decompressed size, or the number of events is over the limit.",
                ),
            ),
            (
                String::from("415"),
                plain("The content type, charset or content encoding is not supported."),
            ),
            (
                String::from("422"),
                plain("The event type has no schema, or the pinned schema version does not exist."),
            ),
            (
                String::from("429"),
                retry("The producer is over its rate limit; nothing was written."),
            ),
            (
                String::from("503"),
                retry(
                    "The event log cannot take writes, the gateway is at capacity, or the request timed out. A 503 from the log lists in `written` the events durably stored; nothing else was acknowledged.",
                ),
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_media_type_the_decoder_accepts_is_documented() {
        for (media_type, _, _) in EVENT_MEDIA_TYPES {
            assert!(
                crate::decode::format_of(Some(media_type)).is_ok(),
                "{media_type} is documented but refused"
            );
        }
        let documented: Vec<&str> = EVENT_MEDIA_TYPES.iter().map(|m| m.0).collect();
        // The decoder names what it accepts in its refusal; each must be in the table.
        let refusal = crate::decode::format_of(Some("text/plain"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        for word in refusal.split([' ', ',']) {
            if word.starts_with("application/") {
                assert!(
                    documented.contains(&word),
                    "{word} is accepted but not documented"
                );
            }
        }
        assert!(events_body().content.len() == EVENT_MEDIA_TYPES.len());
        assert_eq!(PublishParams::into_params(|| None).len(), 7);
    }
}
