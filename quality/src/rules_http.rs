//! `/v1/event-types/{name}/quality/rules`: read, replace and list the versions of an event
//! type's quality rules. Replacing is for the type's owners (or admins) and compiles the
//! rules against the fields of the type's latest schema first (422 naming the rule key when
//! they do not compile). While a type has no schema, only rules that name no field
//! (`freshness` and `unique` without `field`, `expression` over `event`) are accepted.

use std::collections::{HashSet, VecDeque};

use axum::extract::{DefaultBodyLimit, State};
use serde::Serialize;
use serde_json::Value;
use tributary_core::{Database, Principal};
use tributary_registry::{
    Caller, EventTypeError, EventTypes, Field, InMemoryReferences, JsonBody, RegisteredSchema,
    RegistryError, SchemaReference, VersionSpec, schema_fields,
};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::QualityError;
use crate::http::{Answer, QUALITY_TAG, TypeName, ok};
use crate::rule_store::{RuleStore, RuleVersion};
use crate::rules::{QualityRules, Scorer};

/// Largest rule-set body.
const MAX_RULES_BODY_BYTES: usize = 1024 * 1024;
/// Most referenced schemas loaded to list a schema's fields.
const MAX_REFERENCE_LOADS: usize = 400;

/// Quality rules of event types: storage, ownership and compilation against the schema.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct RuleService {
    pub store: RuleStore,
    pub event_types: EventTypes,
}

/// An event type's current rules: version 0 and the defaults when it has none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleSetView {
    pub version: i64,
    #[serde(flatten)]
    pub rules: QualityRules,
}

impl RuleService {
    pub fn new(db: Database, event_types: EventTypes) -> RuleService {
        RuleService {
            store: RuleStore::new(db),
            event_types,
        }
    }

    /// The current rules of a live event type.
    pub async fn get(&self, event_type: &str) -> Result<RuleSetView, QualityError> {
        let found = self.event_types.get(event_type).await?;
        let current = self.store.current(found.name.as_str()).await?;
        let (version, rules) = current.unwrap_or_default();
        Ok(RuleSetView { version, rules })
    }

    /// Every version of a live event type's rules, oldest first.
    pub async fn versions(&self, event_type: &str) -> Result<Vec<RuleVersion>, QualityError> {
        let found = self.event_types.get(event_type).await?;
        self.store.versions(found.name.as_str()).await
    }

    /// The fields of the event type's latest live schema (none while it has no schema).
    pub async fn fields(&self, event_type: &str) -> Result<Vec<Field>, QualityError> {
        let found = self.event_types.get(event_type).await?;
        let registry = self.event_types.registry();
        let subject = self.event_types.subject(&found.name);
        let latest = match registry.latest(&subject).await {
            Ok(latest) => latest,
            Err(RegistryError::SubjectNotFound(_)) => return Ok(Vec::new()),
            Err(other) => return Err(registry_error(other)),
        };
        let resolver = self.load_references(&latest.schema.references).await?;
        let schema = latest.schema;
        let listed = tokio::task::spawn_blocking(move || schema_fields(&schema, &resolver))
            .await
            .map_err(|e| QualityError::Store(format!("listing schema fields failed: {e}")))?;
        listed.map_err(|e| {
            QualityError::Store(format!("the latest schema of {subject} does not read: {e}"))
        })
    }

    /// The compiled current rules of an event type against its latest schema, with their
    /// version (0: none stored, the default scorer). Rules are checked against the schema
    /// that was latest when they were stored: if a later schema dropped a field they name,
    /// this is the `Invalid` refusal naming the rule, and the caller should score with
    /// [`Scorer::default_for`] until the owners fix the rules.
    pub async fn scorer(&self, event_type: &str) -> Result<(i64, Scorer), QualityError> {
        let fields = self.fields(event_type).await?;
        let (version, rules) = self.store.current(event_type).await?.unwrap_or_default();
        let scorer = compile_blocking(rules, fields).await?;
        Ok((version, scorer))
    }

    /// Replaces the rules of an event type (its owners or an admin) after compiling them
    /// against its latest schema. Rules equal to the current ones write nothing.
    pub async fn put(
        &self,
        who: &Principal,
        event_type: &str,
        rules: QualityRules,
    ) -> Result<RuleSetView, QualityError> {
        let found = self.event_types.get(event_type).await?;
        if !who.acts_for(&found.owner) {
            return Err(QualityError::Forbidden(format!(
                "{who} may not change the quality rules of event type {}: only team {} or an admin may",
                found.name, found.owner
            )));
        }
        let fields = self.fields(event_type).await?;
        let rules = {
            let checked = rules.clone();
            compile_blocking(checked, fields).await?;
            rules
        };
        if let Some((version, current)) = self.store.current(found.name.as_str()).await?
            && current == rules
        {
            return Ok(RuleSetView { version, rules });
        }
        let version = self.store.put(who, found.name.as_str(), &rules).await?;
        Ok(RuleSetView { version, rules })
    }

    /// Loads the schemas `references` point to, transitively, each once, at most
    /// [`MAX_REFERENCE_LOADS`]; one that is not found is left out (parsing then names it).
    async fn load_references(
        &self,
        references: &[SchemaReference],
    ) -> Result<InMemoryReferences, QualityError> {
        let registry = self.event_types.registry();
        let mut resolver = InMemoryReferences::new();
        let mut queue: VecDeque<SchemaReference> = references.iter().cloned().collect();
        let mut seen = HashSet::new();
        while let Some(reference) = queue.pop_front() {
            if !seen.insert((reference.subject.clone(), reference.version)) {
                continue;
            }
            if seen.len() > MAX_REFERENCE_LOADS {
                break;
            }
            let found = match registry
                .version(
                    &reference.subject,
                    VersionSpec::Number(reference.version),
                    true,
                )
                .await
            {
                Ok(found) => found,
                Err(RegistryError::SubjectNotFound(_) | RegistryError::VersionNotFound(_)) => {
                    continue;
                }
                Err(other) => return Err(registry_error(other)),
            };
            queue.extend(found.schema.references.iter().cloned());
            resolver.insert(
                &reference.subject,
                reference.version,
                RegisteredSchema {
                    schema_type: found.schema.schema_type,
                    schema: found.schema.schema,
                    references: found.schema.references,
                },
            );
        }
        Ok(resolver)
    }
}

fn registry_error(error: RegistryError) -> QualityError {
    QualityError::EventType(EventTypeError::from(error))
}

/// Compiles on the blocking pool (regex and CEL compilation are CPU work).
async fn compile_blocking(rules: QualityRules, fields: Vec<Field>) -> Result<Scorer, QualityError> {
    tokio::task::spawn_blocking(move || Scorer::compile(&rules, &fields))
        .await
        .map_err(|e| QualityError::Store(format!("compiling the rules failed: {e}")))?
}

/// The `/v1/event-types/{name}/quality/rules` routes and their OpenAPI description.
pub fn rule_routes(service: RuleService) -> OpenApiRouter {
    OpenApiRouter::default()
        .routes(routes!(get_rules, put_rules))
        .routes(routes!(rule_versions))
        .layer(DefaultBodyLimit::max(MAX_RULES_BODY_BYTES))
        .with_state(service)
}

/// The event type a route is about.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct TypePath {
    /// The event type.
    #[param(rename = "name", example = "orders.order_placed")]
    event_type: String,
}

/// An event type's quality rules with their version (OpenAPI only).
#[derive(ToSchema)]
#[schema(as = QualityRuleSet)]
#[allow(dead_code)]
struct RuleSetDoc {
    /// 0 while the event type has no rules (the answer then shows the defaults).
    version: i64,
    rules: Vec<crate::rules::RuleDoc>,
    weights: crate::rules::Weights,
}

/// One stored version of a rule set (OpenAPI only).
#[derive(ToSchema)]
#[schema(as = QualityRuleVersion)]
#[allow(dead_code)]
struct RuleVersionDoc {
    version: i64,
    /// When it was stored, in ms since the epoch.
    created_at_ms: i64,
    /// Who stored it, e.g. `team:payments`.
    created_by: String,
    rules: Vec<crate::rules::RuleDoc>,
    weights: crate::rules::Weights,
}

/// The versions of a rule set (OpenAPI only).
#[derive(ToSchema)]
#[schema(as = QualityRuleVersions)]
#[allow(dead_code)]
struct RuleVersionsDoc {
    /// Oldest first.
    versions: Vec<RuleVersionDoc>,
}

/// The current quality rules of an event type.
#[utoipa::path(get, path = "/v1/event-types/{name}/quality/rules", tag = QUALITY_TAG,
    operation_id = "get_quality_rules",
    params(TypePath),
    responses(
        (status = 200, description = "The rules; version 0 and the defaults when none are set.", body = RuleSetDoc),
        (status = 404, description = "No such event type."),
    ),
)]
async fn get_rules(State(service): State<RuleService>, TypeName(name): TypeName) -> Answer {
    ok(&service.get(&name).await?)
}

/// Replace the quality rules of an event type (its owners or an admin). The rules are
/// compiled against the fields of its latest schema first.
#[utoipa::path(put, path = "/v1/event-types/{name}/quality/rules", tag = QUALITY_TAG,
    operation_id = "put_quality_rules",
    params(TypePath),
    request_body = crate::rules::QualityRules,
    responses(
        (status = 200, description = "The rules as stored, with their version.", body = RuleSetDoc),
        (status = 400, description = "The body is not JSON."),
        (status = 403, description = "The caller does not own the event type."),
        (status = 404, description = "No such event type."),
        (status = 409, description = "Other writers kept changing the rules meanwhile; retry."),
        (status = 413, description = "The body is over 1 MiB."),
        (status = 415, description = "The body is not `application/json`."),
        (status = 422, description = "A rule is invalid or names a field the schema does not have; `field` names it (e.g. `rules[2].regex`)."),
    ),
)]
async fn put_rules(
    State(service): State<RuleService>,
    Caller(who): Caller,
    TypeName(name): TypeName,
    JsonBody(rules): JsonBody<QualityRules>,
) -> Answer {
    ok(&service.put(&who, &name, rules).await?)
}

/// Every version of an event type's quality rules, oldest first.
#[utoipa::path(get, path = "/v1/event-types/{name}/quality/rules/versions", tag = QUALITY_TAG,
    operation_id = "list_quality_rule_versions",
    params(TypePath),
    responses(
        (status = 200, description = "The versions.", body = RuleVersionsDoc),
        (status = 404, description = "No such event type."),
    ),
)]
async fn rule_versions(State(service): State<RuleService>, TypeName(name): TypeName) -> Answer {
    let versions = service.versions(&name).await?;
    let versions: Vec<Value> = versions
        .into_iter()
        .map(|v| serde_json::to_value(v).unwrap_or(Value::Null))
        .collect();
    ok(&serde_json::json!({ "versions": versions }))
}
