//! Dead letters re-ingested by replay jobs go through the gateway: the seam the replay crate
//! declares ([`tributary_replay::Reingest`]) implemented over [`Gateway::republish`].

use std::sync::Arc;

use tributary_core::ErrorCode;
use tributary_gateway::{Gateway, Republish, Verdict, ViolationBody};
use tributary_replay::{BoxError, BoxFuture, Reingest, ReingestVerdict, Resubmission};

/// The server's gateway, as replay jobs see it.
#[derive(Debug, Clone)]
pub(crate) struct GatewayReingest {
    pub(crate) gateway: Arc<Gateway>,
}

impl Reingest for GatewayReingest {
    fn resubmit<'a>(
        &'a self,
        event: Resubmission,
    ) -> BoxFuture<'a, Result<ReingestVerdict, BoxError>> {
        Box::pin(async move {
            let republish = Republish {
                event_type: event.event_type,
                producer: event.producer,
                authenticated: event.authenticated,
                event_id: event.event_id,
                event_time_ms: event.event_time_ms,
                body: event.body,
                replay_job: event.replay_job,
                validate_only: event.validate_only,
            };
            let answer = match self.gateway.republish(republish).await {
                Ok(answer) => answer,
                // The log or the server failed: the batch fails and resumes from its
                // checkpoint.
                Err(error)
                    if matches!(error.code(), ErrorCode::Unavailable | ErrorCode::Internal) =>
                {
                    return Err(error.into());
                }
                // Anything else is about this event (its type is gone, it is too large…): it
                // is refused, and the job goes on.
                Err(error) => {
                    return Ok(ReingestVerdict::Rejected {
                        reason: error.code().as_str().to_owned(),
                        violations: vec![error.to_string()],
                    });
                }
            };
            Ok(match answer.results.into_iter().next() {
                Some(Verdict::Accepted {
                    partition, offset, ..
                }) => ReingestVerdict::Accepted { partition, offset },
                Some(Verdict::Duplicate { .. }) => ReingestVerdict::Duplicate,
                Some(Verdict::Valid { .. }) => ReingestVerdict::Valid,
                Some(
                    Verdict::Rejected {
                        reason, violations, ..
                    }
                    | Verdict::Invalid {
                        reason, violations, ..
                    },
                ) => ReingestVerdict::Rejected {
                    reason: reason.as_str().to_owned(),
                    violations: violations.iter().map(described).collect(),
                },
                None => return Err("the gateway answered no verdict for the event".into()),
            })
        })
    }
}

fn described(violation: &ViolationBody) -> String {
    if violation.pointer.is_empty() {
        violation.message.clone()
    } else {
        format!("{}: {}", violation.pointer, violation.message)
    }
}
