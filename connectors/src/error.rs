//! The one error type of the connectors crate.

use thiserror::Error;

/// Connector errors. Parse errors always name the source and line.
#[derive(Debug, Error)]
pub enum ConnectorError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// File or stream name.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A header is missing a required column or is malformed.
    #[error("{path}: bad header: {message}")]
    Header {
        /// File name.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// An HTTP request failed for good.
    #[error("{url}: HTTP {status}: {body}")]
    Http {
        /// Request URL.
        url: String,
        /// Status code (0 when no response).
        status: u16,
        /// Start of the response body, or why it gave up.
        body: String,
    },
    /// A venue payload could not be understood.
    #[error("{venue}: {message}")]
    Payload {
        /// Venue id.
        venue: String,
        /// What is wrong.
        message: String,
    },
    /// A row could not be parsed.
    #[error("{path}:{line}: {message}")]
    Row {
        /// File name.
        path: String,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The venue does not offer the operation.
    #[error("{what} is not supported by {venue}: {why}")]
    Unsupported {
        /// Venue id.
        venue: String,
        /// The operation (`fetch trades`, …).
        what: String,
        /// Why, and what to use instead.
        why: String,
    },
    /// A Kafka client error (creating a client, producing, consuming, metadata, offsets).
    #[error("kafka: {context}: {source}")]
    Kafka {
        /// What was being done, e.g. `flushing`.
        context: String,
        /// The client's error (it carries the librdkafka error code, when there is one).
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// An error code the broker reported for one item (a topic, a delivery) without a client
    /// error: topic creation results, topic metadata, failed deliveries.
    #[error("kafka: {context}: {code}")]
    KafkaBroker {
        /// What failed, e.g. `creating topic tickflow.bars`.
        context: String,
        /// The broker's (or librdkafka's) error code.
        code: rdkafka::types::RDKafkaErrorCode,
    },
    /// A record could not be encoded.
    #[error("encoding {what}: {source}")]
    Encode {
        /// What, e.g. `a tickflow.trade.v1 record`.
        what: String,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// A QuestDB client (ILP over HTTP) error.
    #[error("questdb: {source}")]
    QuestDb {
        /// The client's error (its code tells a flush the server rejected from a lost
        /// connection).
        #[source]
        source: questdb::Error,
    },
    /// A QuestDB setting is invalid (client configuration, table prefix).
    #[error("questdb: {message}")]
    QuestDbConfig {
        /// What is wrong.
        message: String,
    },
    /// A worker thread panicked.
    #[error("{what} panicked")]
    Panicked {
        /// Which thread.
        what: String,
    },
}

impl ConnectorError {
    pub(crate) fn io(path: &str, source: std::io::Error) -> Self {
        ConnectorError::Io { path: path.to_string(), source }
    }

    /// True when trying again later may succeed: HTTP 429/418, 5xx and transport failures,
    /// transient I/O (connection reset/refused/aborted, timeouts, broken pipes), Kafka errors
    /// whose code is transient (broker or leader unavailable, timeouts, a full queue, throttling,
    /// coordinator moves), QuestDB connection and server flush failures. Not: other 4xx, bad
    /// payloads, rows, headers, configuration, unsupported operations.
    pub fn is_retryable(&self) -> bool {
        use std::io::ErrorKind as K;
        match self {
            ConnectorError::Http { status, .. } => matches!(status, 0 | 418 | 429 | 500..=599),
            ConnectorError::Io { source, .. } => matches!(
                source.kind(),
                K::ConnectionReset
                    | K::ConnectionRefused
                    | K::ConnectionAborted
                    | K::TimedOut
                    | K::Interrupted
                    | K::WouldBlock
                    | K::BrokenPipe
                    | K::UnexpectedEof
            ),
            ConnectorError::Kafka { source, .. } => source.rdkafka_error_code().is_some_and(kafka_code_is_retryable),
            ConnectorError::KafkaBroker { code, .. } => kafka_code_is_retryable(*code),
            ConnectorError::QuestDb { source } => crate::questdb::is_retryable(source.code()),
            ConnectorError::Header { .. }
            | ConnectorError::Payload { .. }
            | ConnectorError::Row { .. }
            | ConnectorError::Unsupported { .. }
            | ConnectorError::Encode { .. }
            | ConnectorError::QuestDbConfig { .. }
            | ConnectorError::Panicked { .. } => false,
        }
    }
}

/// The transient Kafka error codes: the broker, leader or coordinator is unreachable or moving,
/// a request timed out, a queue is full, or the client is throttled.
fn kafka_code_is_retryable(code: rdkafka::types::RDKafkaErrorCode) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        code,
        C::BrokerTransportFailure
            | C::AllBrokersDown
            | C::Resolve
            | C::MessageTimedOut
            | C::OperationTimedOut
            | C::TimedOutQueue
            | C::QueueFull
            | C::Retry
            | C::WaitCache
            | C::Interrupted
            | C::WaitingForCoordinator
            | C::InProgress
            | C::PreviousInProgress
            | C::LeaderNotAvailable
            | C::NotLeaderForPartition
            | C::RequestTimedOut
            | C::BrokerNotAvailable
            | C::ReplicaNotAvailable
            | C::NetworkException
            | C::CoordinatorLoadInProgress
            | C::CoordinatorNotAvailable
            | C::NotCoordinator
            | C::NotEnoughReplicas
            | C::NotEnoughReplicasAfterAppend
            | C::RebalanceInProgress
            | C::NotController
            | C::KafkaStorageError
            | C::FencedLeaderEpoch
            | C::UnknownLeaderEpoch
            | C::OffsetNotAvailable
            | C::PreferredLeaderNotAvailable
            | C::EligibleLeadersNotAvailable
            | C::UnstableOffsetCommit
            | C::ThrottlingQuotaExceeded
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaErrorCode as C;

    fn http(status: u16) -> ConnectorError {
        ConnectorError::Http { url: "http://x".into(), status, body: String::new() }
    }

    fn io(kind: std::io::ErrorKind) -> ConnectorError {
        ConnectorError::io("x", std::io::Error::from(kind))
    }

    #[test]
    fn retry_classes() {
        use std::io::ErrorKind as K;
        let qdb = |code| ConnectorError::QuestDb { source: questdb::Error::new(code, "x") };
        let cases: Vec<(ConnectorError, bool)> = vec![
            (http(429), true),
            (http(418), true),
            (http(500), true),
            (http(503), true),
            (http(0), true), // transport failure / gave up
            (http(400), false),
            (http(401), false),
            (http(404), false),
            (io(K::ConnectionReset), true),
            (io(K::TimedOut), true),
            (io(K::NotFound), false),
            (io(K::PermissionDenied), false),
            (ConnectorError::Payload { venue: "binance".into(), message: "x".into() }, false),
            (ConnectorError::Row { path: "a.csv".into(), line: 3, message: "x".into() }, false),
            (ConnectorError::Header { path: "a.csv".into(), message: "x".into() }, false),
            (ConnectorError::Unsupported { venue: "bybit".into(), what: "fetch trades".into(), why: "x".into() }, false),
            (ConnectorError::Kafka { context: "producing".into(), source: KafkaError::MessageProduction(C::QueueFull) }, true),
            (ConnectorError::Kafka { context: "flushing".into(), source: KafkaError::Flush(C::OperationTimedOut) }, true),
            (ConnectorError::Kafka { context: "metadata".into(), source: KafkaError::MetadataFetch(C::AllBrokersDown) }, true),
            (ConnectorError::Kafka { context: "consuming".into(), source: KafkaError::MessageConsumption(C::TopicAuthorizationFailed) }, false),
            (ConnectorError::Kafka { context: "creating consumer".into(), source: KafkaError::ClientCreation("bad".into()) }, false),
            (ConnectorError::KafkaBroker { context: "creating topic t".into(), code: C::PolicyViolation }, false),
            (ConnectorError::KafkaBroker { context: "creating topic t".into(), code: C::NotController }, true),
            (ConnectorError::KafkaBroker { context: "delivery".into(), code: C::MessageTimedOut }, true),
            (ConnectorError::KafkaBroker { context: "delivery".into(), code: C::MessageSizeTooLarge }, false),
            (ConnectorError::KafkaBroker { context: "topic t".into(), code: C::UnknownTopicOrPartition }, false),
            (qdb(questdb::ErrorCode::SocketError), true),
            (qdb(questdb::ErrorCode::ServerFlushError), true),
            (qdb(questdb::ErrorCode::InvalidApiCall), false),
            (ConnectorError::QuestDbConfig { message: "bad".into() }, false),
            (ConnectorError::Panicked { what: "consumer thread".into() }, false),
        ];
        for (e, want) in cases {
            assert_eq!(e.is_retryable(), want, "{e}");
        }
    }

    #[test]
    fn typed_errors_keep_their_source() {
        use std::error::Error;
        let e = ConnectorError::Kafka { context: "flushing".into(), source: KafkaError::Flush(C::OperationTimedOut) };
        assert!(e.to_string().starts_with("kafka: flushing: "), "{e}");
        let src = e.source().and_then(|s| s.downcast_ref::<KafkaError>()).expect("the KafkaError");
        assert_eq!(src.rdkafka_error_code(), Some(C::OperationTimedOut));
        let q = ConnectorError::QuestDb { source: questdb::Error::new(questdb::ErrorCode::SocketError, "connection refused") };
        assert_eq!(q.to_string(), "questdb: connection refused");
        assert!(q.source().and_then(|s| s.downcast_ref::<questdb::Error>()).is_some());
    }
}
