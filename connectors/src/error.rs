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
    /// A Kafka client or broker error.
    #[error("kafka: {0}")]
    Kafka(String),
    /// A QuestDB client, DDL or flush error.
    #[error("questdb: {0}")]
    QuestDb(String),
}

impl ConnectorError {
    pub(crate) fn io(path: &str, source: std::io::Error) -> Self {
        ConnectorError::Io { path: path.to_string(), source }
    }
}
