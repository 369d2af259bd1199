//! Webhook delivery of one transition, retried with exponential back-off.

use reqwest::StatusCode;

use super::{AlertOptions, Transition};

/// POSTs `transition` to `url`. Connection errors, timeouts, 5xx and 429 are retried up to
/// `max_attempts`, waiting `first_backoff` and doubling; any other answer is final. A
/// delivery that never succeeds is logged and counted.
pub(crate) async fn post(
    client: reqwest::Client,
    url: String,
    transition: Transition,
    options: AlertOptions,
) {
    let mut backoff = options.first_backoff;
    let attempts = options.max_attempts.max(1);
    let mut last_error = String::new();
    for attempt in 1..=attempts {
        let sent = client
            .post(&url)
            .timeout(options.webhook_timeout)
            .json(&transition)
            .send()
            .await;
        let retry = match sent {
            Ok(answer) if answer.status().is_success() => return,
            Ok(answer) => {
                let status = answer.status();
                last_error = format!("answered {status}");
                status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
            }
            Err(error) => {
                last_error = error.to_string();
                error.is_connect() || error.is_timeout() || error.is_request()
            }
        };
        if !retry || attempt == attempts {
            break;
        }
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2);
    }
    tracing::error!(
        event_type = %transition.event_type, alert = transition.alert.as_str(),
        state = transition.state, %url, error = %last_error,
        "quality alert webhook delivery failed"
    );
    crate::metrics::webhook_failed(&transition.event_type, transition.alert.as_str());
}
