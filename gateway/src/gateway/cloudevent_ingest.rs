//! The CloudEvents path of the pipeline: events carry their own types, so a request is split
//! by type (and pinned version), each group resolved and validated like a plain request, and
//! the verdicts put back in request order.

use super::*;

impl Gateway {
    /// CloudEvents: parse, group by (type, pinned version), resolve every group's metadata,
    /// then write group by group. Verdicts come back in input order.
    pub(super) async fn ingest_cloudevents(
        &self,
        submission: Submission,
        mode: cloudevents::Mode,
        path_type: Option<EventTypeName>,
        body: Body,
        resolved: &mut Option<EventTypeName>,
    ) -> Result<Answer, GatewayError> {
        let single = !matches!(mode, cloudevents::Mode::Batch);
        let dry_run = submission.dry_run;
        let reading = metrics::Stage::start(StageName::Read);
        let (decompressed, _decompressed_permit) =
            self.read_decompressed(body, submission.encoding).await?;
        reading.done();
        // Checking and resolving alternate, group by group: each is timed once for the
        // request, its parts together.
        let mut checking = metrics::Stage::start(StageName::Check);
        let max_events = self.limits.max_events_per_request;
        // Per-event sizes are checked per type, once the type is known.
        let max_split = self.limits.max_decompressed_bytes;
        let events = blocking(move || {
            cloudevents::parse(
                &decompressed,
                &mode,
                path_type.as_ref(),
                max_events,
                max_split,
            )
        })
        .await?;
        checking.pause();
        let mut resolving = metrics::Stage::paused(StageName::Resolve);
        if !dry_run && submission.charge_rate {
            self.take_rate(&submission.meta.producer, events.len())?;
        }

        let mut verdicts = Vec::new();
        let mut groups: BTreeMap<(String, Option<i32>), Vec<cloudevents::CloudEvent>> =
            BTreeMap::new();
        for event in events {
            match &event.event_type {
                Some(name) => groups
                    .entry((name.as_str().to_owned(), event.pinned_version))
                    .or_default()
                    .push(event),
                None => verdicts.push(unrouted(event, None, dry_run)),
            }
        }

        let received_at_ms = now_ms();
        let mut prepared = Vec::new();
        for ((type_name, pinned), events) in groups {
            resolving.resume();
            if let Some(grants) = &submission.grants
                && !grants.permits(&type_name)
            {
                let why = format!(
                    "producer {:?} is not granted event type {type_name:?}",
                    submission.meta.producer
                );
                if single {
                    return Err(GatewayError::Forbidden(why));
                }
                let why = (Reason::Forbidden, why);
                verdicts.extend(
                    events
                        .into_iter()
                        .map(|e| unrouted(e, Some(why.clone()), dry_run)),
                );
                continue;
            }
            let name = EventTypeName::parse(&type_name)
                .map_err(|_| GatewayError::UnknownEventType(type_name.clone()))?;
            let Some(info) = self.event_types.resolve(&name).await? else {
                if single {
                    return Err(GatewayError::UnknownEventType(type_name));
                }
                let why = (
                    Reason::UnknownEventType,
                    format!("event type {type_name:?} does not exist"),
                );
                verdicts.extend(
                    events
                        .into_iter()
                        .map(|e| unrouted(e, Some(why.clone()), dry_run)),
                );
                continue;
            };
            resolved.get_or_insert_with(|| info.name.clone());
            let schema = match self
                .schema_in_force(&info, pinned.or(submission.meta.pinned_version))
                .await
            {
                Ok(schema) => schema,
                Err(
                    error @ (GatewayError::NoSchema(_)
                    | GatewayError::UnknownSchemaVersion { .. }
                    | GatewayError::UnknownSchemaId { .. }),
                ) if !single => {
                    let why = (Reason::UnknownSchema, error.to_string());
                    verdicts.extend(
                        events
                            .into_iter()
                            .map(|e| unrouted(e, Some(why.clone()), dry_run)),
                    );
                    continue;
                }
                Err(error) => return Err(error),
            };
            let candidate = self.candidate(&info).await;
            let scorer = self.scorer(&info.name, schema.id).await;
            resolving.pause();
            checking.resume();
            let items: Vec<Item<'static>> = events
                .into_iter()
                .map(|e| Item {
                    index: e.index,
                    raw: e.raw,
                    event_id: e.id,
                    event_time_ms: e.time_ms,
                    source: e.source,
                })
                .collect();
            let sampling = self.sampling(dry_run, &info.name, schema.version, received_at_ms);
            let input = prepare::Input {
                body: Bytes::new(),
                format: Format::Json,
                max_events,
                max_event_bytes: info.max_event_bytes.unwrap_or(self.limits.max_event_bytes),
                info: Arc::clone(&info),
                schema,
                candidate,
                meta: submission.meta.clone(),
                received_at_ms,
                dry_run,
                scorer,
                sampling,
            };
            let pending = blocking(move || Ok(prepare::prepare_items(&input, items))).await?;
            checking.pause();
            prepared.push((info, pending));
        }
        resolving.done();
        checking.done();

        let mut written = Vec::new();
        let mut scores = Vec::new();
        for (info, pending) in prepared {
            if dry_run {
                let (pending, scored) = take_scores(pending);
                scores.extend(scored);
                verdicts.extend(prepare::dry_run_verdicts(pending));
                continue;
            }
            match self.write(&info, &submission.meta.producer, pending).await {
                Ok((group, scored)) => {
                    scores.extend(scored);
                    written.extend(group.iter().filter_map(written_of));
                    verdicts.extend(group);
                }
                Err(GatewayError::LogUnavailable {
                    error,
                    written: mut more,
                }) => {
                    more.extend(written);
                    more.sort_by_key(|w| w.index);
                    return Err(GatewayError::LogUnavailable {
                        error,
                        written: more,
                    });
                }
                Err(error) => return Err(error),
            }
        }
        verdicts.sort_by_key(Verdict::index);
        scores.sort_by_key(|(index, _)| *index);
        Ok(show_quality(
            Answer::new(verdicts),
            submission.include_quality,
            &scores,
        ))
    }
}

/// An event rejected before it reached an event type's pipeline (bad envelope, unknown type
/// or schema). Not dead-lettered: it cannot be attributed to an event type.
fn unrouted(
    event: cloudevents::CloudEvent,
    why: Option<(Reason, String)>,
    dry_run: bool,
) -> Verdict {
    let (reason, message) = match (why, event.raw.parsed) {
        (Some(why), _) => why,
        (None, Err(why)) => why,
        (None, Ok(_)) => (Reason::Malformed, String::from("not a cloudevent")),
    };
    let violations = vec![crate::verdict::ViolationBody {
        pointer: String::new(),
        message,
    }];
    if dry_run {
        return Verdict::Invalid {
            index: event.index,
            reason,
            violations,
        };
    }
    Verdict::Rejected {
        index: event.index,
        event_id: event.id.unwrap_or_else(|| Uuid::now_v7().to_string()),
        reason,
        violations,
        dead_lettered: false,
    }
}
