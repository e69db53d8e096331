//! The one error type of the operators crate.

use thiserror::Error;

/// Errors raised by operator configuration and feeds.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OperatorError {
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A feed failed; the message names the source and position.
    #[error("{0}")]
    Feed(String),
}
