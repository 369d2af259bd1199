//! How librdkafka's error codes map onto the log's three error classes.
//!
//! The table is deliberately explicit: every code a producer, consumer or admin call can
//! plausibly return is listed with its class. Codes the table does not know are treated as
//! retryable — the caller backs off and tries again, which is safe (nothing is acknowledged
//! that is not durable) and an operator sees the code in the message.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::{ErrorKind, LogError};

/// The class of one librdkafka error code.
pub(super) fn kind_of(code: RDKafkaErrorCode) -> ErrorKind {
    use RDKafkaErrorCode as C;
    match code {
        // The request or the record itself is wrong: retrying the same thing cannot help.
        C::MessageSizeTooLarge
        | C::MessageBatchTooLarge
        | C::InvalidMessage
        | C::InvalidMessageSize
        | C::InvalidRecord
        | C::InvalidTimestamp
        | C::BadMessage
        | C::UnknownPartition
        | C::UnknownTopic
        | C::UnknownTopicOrPartition
        | C::UnknownTopicId
        | C::InvalidTopic
        | C::TopicAlreadyExists
        | C::InvalidPartitions
        | C::InvalidReplicationFactor
        | C::InvalidReplicaAssignment
        | C::InvalidConfig
        | C::InvalidRequest
        | C::PolicyViolation
        | C::OffsetOutOfRange
        | C::InvalidArgument
        | C::TopicAuthorizationFailed
        | C::GroupAuthorizationFailed
        | C::InvalidGroupId
        | C::InvalidCommitOffsetSize
        | C::OffsetMetadataTooLarge
        | C::UnsupportedForMessageFormat
        | C::TopicDeletionDisabled => ErrorKind::Rejected,

        // The client is broken or misconfigured: an operator must act (credentials, TLS,
        // cluster permissions, a broker too old for idempotence, a fenced producer).
        C::Fatal
        | C::GaplessGuarantee
        | C::InvalidProducerEpoch
        | C::ProducerFenced
        | C::Fenced
        | C::OutOfOrderSequenceNumber
        | C::InvalidProducerIdMapping
        | C::TransactionalIdAuthorizationFailed
        | C::ClusterAuthorizationFailed
        | C::Authentication
        | C::SaslAuthenticationFailed
        | C::UnsupportedSASLMechanism
        | C::IllegalSASLState
        | C::SSL
        | C::UnsupportedVersion
        | C::UnsupportedFeature
        | C::UnsupportedCompressionType
        | C::InvalidRequiredAcks
        | C::NotImplemented
        | C::SecurityDisabled
        | C::CriticalSystemResource => ErrorKind::Fatal,

        // Everything else is transient: timeouts, transport, leadership moving, replicas
        // catching up, queues full, coordinators loading, requests purged on shutdown.
        _ => ErrorKind::Retryable,
    }
}

/// True for the codes that mean "took too long" rather than "could not reach".
fn is_timeout(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::MessageTimedOut
            | RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::TimedOutQueue
    )
}

/// Turns a code into the log's error; `what` names the operation for the message.
pub(super) fn from_code(code: RDKafkaErrorCode, what: &str) -> LogError {
    let message = format!("{what}: {}", describe(code));
    match kind_of(code) {
        ErrorKind::Rejected => LogError::Rejected(message),
        ErrorKind::Fatal => LogError::Fatal(message),
        ErrorKind::Retryable if is_timeout(code) => LogError::Timeout(message),
        ErrorKind::Retryable => LogError::Unavailable(message),
    }
}

/// Turns an rdkafka error into the log's error; `what` names the operation.
pub(super) fn from_kafka(err: &KafkaError, what: &str) -> LogError {
    match err.rdkafka_error_code() {
        Some(code) => from_code(code, what),
        // Errors without a code come from the client itself: bad configuration (fatal),
        // or a canceled/absent answer (retryable).
        None => match err {
            KafkaError::ClientConfig(..) | KafkaError::ClientCreation(_) => {
                LogError::Fatal(format!("{what}: {}", err.to_string().to_lowercase()))
            }
            _ => LogError::Unavailable(format!("{what}: {}", err.to_string().to_lowercase())),
        },
    }
}

/// librdkafka's own wording for a code, lowercased.
fn describe(code: RDKafkaErrorCode) -> String {
    code.to_string().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use RDKafkaErrorCode as C;

    #[test]
    fn classification_table() {
        let table = [
            // broker or network trouble: try again later
            (C::MessageTimedOut, ErrorKind::Retryable),
            (C::RequestTimedOut, ErrorKind::Retryable),
            (C::OperationTimedOut, ErrorKind::Retryable),
            (C::BrokerTransportFailure, ErrorKind::Retryable),
            (C::AllBrokersDown, ErrorKind::Retryable),
            (C::QueueFull, ErrorKind::Retryable),
            (C::NotLeaderForPartition, ErrorKind::Retryable),
            (C::LeaderNotAvailable, ErrorKind::Retryable),
            (C::NotEnoughReplicas, ErrorKind::Retryable),
            (C::NotEnoughReplicasAfterAppend, ErrorKind::Retryable),
            (C::NetworkException, ErrorKind::Retryable),
            (C::CoordinatorNotAvailable, ErrorKind::Retryable),
            (C::RebalanceInProgress, ErrorKind::Retryable),
            (C::KafkaStorageError, ErrorKind::Retryable),
            (C::PurgeQueue, ErrorKind::Retryable),
            (C::PurgeInflight, ErrorKind::Retryable),
            (C::ThrottlingQuotaExceeded, ErrorKind::Retryable),
            // the record or request is wrong
            (C::MessageSizeTooLarge, ErrorKind::Rejected),
            (C::InvalidRecord, ErrorKind::Rejected),
            (C::InvalidMessage, ErrorKind::Rejected),
            (C::UnknownPartition, ErrorKind::Rejected),
            (C::UnknownTopicOrPartition, ErrorKind::Rejected),
            (C::TopicAuthorizationFailed, ErrorKind::Rejected),
            (C::InvalidTimestamp, ErrorKind::Rejected),
            (C::TopicAlreadyExists, ErrorKind::Rejected),
            // the client is broken until someone acts
            (C::Fatal, ErrorKind::Fatal),
            (C::ProducerFenced, ErrorKind::Fatal),
            (C::InvalidProducerEpoch, ErrorKind::Fatal),
            (C::OutOfOrderSequenceNumber, ErrorKind::Fatal),
            (C::ClusterAuthorizationFailed, ErrorKind::Fatal),
            (C::SaslAuthenticationFailed, ErrorKind::Fatal),
            (C::Authentication, ErrorKind::Fatal),
            (C::SSL, ErrorKind::Fatal),
            (C::UnsupportedVersion, ErrorKind::Fatal),
        ];
        for (code, kind) in table {
            assert_eq!(kind_of(code), kind, "{code:?}");
            assert_eq!(from_code(code, "append").kind(), kind, "{code:?}");
        }
    }

    #[test]
    fn timeouts_become_timeout_errors() {
        assert!(matches!(
            from_code(C::MessageTimedOut, "append"),
            LogError::Timeout(_)
        ));
        assert!(matches!(
            from_code(C::AllBrokersDown, "append"),
            LogError::Unavailable(_)
        ));
    }

    #[test]
    fn messages_are_lowercase_and_name_the_operation() {
        let err = from_code(C::MessageSizeTooLarge, "append to orders");
        let text = err.to_string();
        assert!(
            text.starts_with("record rejected: append to orders: "),
            "{text}"
        );
        assert_eq!(text, text.to_lowercase(), "{text}");
    }

    #[test]
    fn client_errors_without_codes() {
        let err = from_kafka(&KafkaError::Canceled, "poll");
        assert!(err.is_retryable(), "{err:?}");
    }
}
