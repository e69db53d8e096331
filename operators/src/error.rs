//! The one error type of the operators crate.
//!
//! Every variant is structured (the fields say what failed, for programs) and displays the same
//! one-line message as before the variants were split (for people and logs).

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;

use thiserror::Error;

/// Errors raised by operator configuration, indicator construction, broker requests and feeds.
///
/// Only [`Feed`](OperatorError::Feed) errors can be transient; see
/// [`is_retryable`](OperatorError::is_retryable).
#[derive(Debug, Clone, Error)]
pub enum OperatorError {
    /// A configuration value is invalid.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// The setting at fault (e.g. `timeframes`, `fill`).
        field: &'static str,
        /// What is wrong with it (the whole message after the prefix).
        reason: String,
    },
    /// An order request was refused by the broker.
    #[error("invalid configuration: {reason}")]
    InvalidOrder {
        /// The request field at fault (e.g. `size`, `price`).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No indicator of that name is registered.
    #[error("invalid configuration: unknown indicator {name:?}; known: {}", .known.join(", "))]
    UnknownIndicator {
        /// The name asked for.
        name: String,
        /// Every registered name, in registry order.
        known: Vec<&'static str>,
    },
    /// An indicator parameter is malformed, out of range or not taken by the indicator.
    #[error("invalid configuration: {}", ParamMessage::new(.indicator, .param, .problem))]
    BadParam {
        /// The indicator, when the parameter was checked against one.
        indicator: Option<String>,
        /// The parameter as given (the whole `k=v` text when it is not `k=v`).
        param: String,
        /// What is wrong with it.
        problem: ParamProblem,
    },
    /// A feed failed. The message is the cause's, prefixed with the source name (and position)
    /// unless the cause already starts with the source name (connector errors name their file).
    #[error("{}", FeedMessage::new(.source_name, .position, .cause))]
    Feed {
        /// The feed's [`name`](crate::TradeFeed::name).
        source_name: String,
        /// Record number within the feed, when known.
        position: Option<u64>,
        /// What went wrong.
        #[source]
        cause: Arc<dyn StdError + Send + Sync + 'static>,
    },
}

/// What is wrong with an indicator parameter ([`OperatorError::BadParam`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ParamProblem {
    /// Not of the form `k=v`.
    NotKeyValue,
    /// The value is not a number.
    NotANumber {
        /// The value as given.
        value: String,
    },
    /// The value is infinite or NaN.
    NotFinite,
    /// The value is not an integer in `[min, max]`.
    NotAnInteger {
        /// Smallest allowed value.
        min: usize,
        /// Largest allowed value.
        max: usize,
        /// The value given.
        got: f64,
    },
    /// The value is not positive.
    NotPositive {
        /// The value given.
        got: f64,
    },
    /// A `source` that is neither a price line nor `NAME(k=v;…)[.line]`.
    BadSource {
        /// The value as given.
        value: String,
    },
    /// The indicator reads several price lines (high, low, close): it takes no `source`.
    NoSource,
    /// The indicator takes no parameter of that name (a typo).
    Unknown {
        /// The parameters it takes.
        takes: Vec<String>,
    },
}

/// Problems a feed reports about itself ([`OperatorError::Feed`]'s cause when no lower-level
/// error is at hand).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FeedFault {
    /// A record the pipeline cannot accept (e.g. an event time before 1970); retrying reads the
    /// same record again.
    #[error("{0}")]
    BadRecord(String),
    /// A temporary condition (no progress yet, back-pressure); retrying may succeed.
    #[error("{0}")]
    Transient(String),
}

impl OperatorError {
    /// A [`Feed`](OperatorError::Feed) error.
    pub fn feed(source_name: impl Into<String>, position: Option<u64>, cause: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        OperatorError::Feed { source_name: source_name.into(), position, cause: Arc::from(cause.into()) }
    }

    /// An [`InvalidConfig`](OperatorError::InvalidConfig) error.
    pub fn invalid_config(field: &'static str, reason: impl Into<String>) -> Self {
        OperatorError::InvalidConfig { field, reason: reason.into() }
    }

    /// True when the same operation may succeed if tried again: a feed whose cause (anywhere in
    /// its source chain) is a [`FeedFault::Transient`] or a transient I/O error (interrupted,
    /// timed out, would block, connection refused/reset/aborted, not connected, broken pipe).
    /// Configuration, indicator, parameter and order errors never are.
    pub fn is_retryable(&self) -> bool {
        match self {
            OperatorError::InvalidConfig { .. }
            | OperatorError::InvalidOrder { .. }
            | OperatorError::UnknownIndicator { .. }
            | OperatorError::BadParam { .. } => false,
            OperatorError::Feed { cause, .. } => {
                let mut e: Option<&(dyn StdError + 'static)> = Some(cause.as_ref());
                while let Some(c) = e {
                    if let Some(f) = c.downcast_ref::<FeedFault>() {
                        return matches!(f, FeedFault::Transient(_));
                    }
                    if let Some(io) = c.downcast_ref::<io::Error>() {
                        return transient_io(io.kind());
                    }
                    e = c.source();
                }
                false
            }
        }
    }
}

fn transient_io(kind: io::ErrorKind) -> bool {
    use io::ErrorKind::*;
    matches!(kind, Interrupted | TimedOut | WouldBlock | ConnectionRefused | ConnectionReset | ConnectionAborted | NotConnected | BrokenPipe)
}

struct ParamMessage<'a> {
    indicator: Option<&'a str>,
    param: &'a str,
    problem: &'a ParamProblem,
}

impl<'a> ParamMessage<'a> {
    fn new(indicator: &'a Option<String>, param: &'a str, problem: &'a ParamProblem) -> Self {
        ParamMessage { indicator: indicator.as_deref(), param, problem }
    }
}

impl fmt::Display for ParamMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = self.param;
        match self.problem {
            ParamProblem::NotKeyValue => write!(f, "parameter {k:?} is not k=v"),
            ParamProblem::NotANumber { value } => write!(f, "parameter {k}: {value:?} is not a number"),
            ParamProblem::BadSource { value } => write!(
                f,
                "parameter {k}: {value:?} is not a source (close, open, high, low, volume, hl2, hlc3, ohlc4, or INDICATOR(k=v;…)[.line], e.g. rsi(period=14))"
            ),
            ParamProblem::NoSource => {
                write!(f, "parameter {k}: indicator {} reads high, low and close itself (it takes no source)", self.indicator.unwrap_or("?"))
            }
            ParamProblem::NotFinite => write!(f, "parameter {k}: must be finite"),
            ParamProblem::NotAnInteger { min, max, got } => write!(f, "parameter {k} must be an integer between {min} and {max}, got {got}"),
            ParamProblem::NotPositive { got } => write!(f, "parameter {k} must be positive, got {got}"),
            ParamProblem::Unknown { takes } => {
                write!(f, "indicator {} has no parameter {k:?} (it takes {})", self.indicator.unwrap_or("?"), takes.join(", "))
            }
        }
    }
}

struct FeedMessage<'a> {
    source_name: &'a str,
    position: Option<u64>,
    cause: &'a (dyn StdError + Send + Sync + 'static),
}

impl<'a> FeedMessage<'a> {
    fn new(source_name: &'a str, position: &Option<u64>, cause: &'a Arc<dyn StdError + Send + Sync + 'static>) -> Self {
        FeedMessage { source_name, position: *position, cause: cause.as_ref() }
    }
}

impl fmt::Display for FeedMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cause = self.cause.to_string();
        if self.source_name.is_empty() || cause.starts_with(self.source_name) {
            return f.write_str(&cause);
        }
        match self.position {
            Some(p) => write!(f, "{}:{p}: {cause}", self.source_name),
            None => write!(f, "{}: {cause}", self.source_name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_and_message_table() {
        let io = |k: io::ErrorKind| io::Error::new(k, "boom");
        let cases: Vec<(OperatorError, bool, &str)> = vec![
            (
                OperatorError::invalid_config("timeframes", "at least one timeframe is required"),
                false,
                "invalid configuration: at least one timeframe is required",
            ),
            (
                OperatorError::InvalidOrder { field: "size", reason: "order size must be positive, got 0".into() },
                false,
                "invalid configuration: order size must be positive, got 0",
            ),
            (
                OperatorError::UnknownIndicator { name: "smaa".into(), known: vec!["sma", "ema"] },
                false,
                "invalid configuration: unknown indicator \"smaa\"; known: sma, ema",
            ),
            (
                OperatorError::BadParam { indicator: None, param: "period".into(), problem: ParamProblem::NotKeyValue },
                false,
                "invalid configuration: parameter \"period\" is not k=v",
            ),
            (
                OperatorError::BadParam { indicator: None, param: "period".into(), problem: ParamProblem::NotANumber { value: "x".into() } },
                false,
                "invalid configuration: parameter period: \"x\" is not a number",
            ),
            (
                OperatorError::BadParam { indicator: None, param: "period".into(), problem: ParamProblem::NotFinite },
                false,
                "invalid configuration: parameter period: must be finite",
            ),
            (
                OperatorError::BadParam {
                    indicator: Some("sma".into()),
                    param: "period".into(),
                    problem: ParamProblem::NotAnInteger { min: 1, max: 100_000, got: -3.0 },
                },
                false,
                "invalid configuration: parameter period must be an integer between 1 and 100000, got -3",
            ),
            (
                OperatorError::BadParam { indicator: Some("bbands".into()), param: "devfactor".into(), problem: ParamProblem::NotPositive { got: -1.0 } },
                false,
                "invalid configuration: parameter devfactor must be positive, got -1",
            ),
            (
                OperatorError::BadParam {
                    indicator: Some("sma".into()),
                    param: "lenght".into(),
                    problem: ParamProblem::Unknown { takes: vec!["period".into()] },
                },
                false,
                "invalid configuration: indicator sma has no parameter \"lenght\" (it takes period)",
            ),
            (
                OperatorError::feed("a.csv", None, FeedFault::BadRecord("trade with event time before 1970 (x)".into())),
                false,
                "a.csv: trade with event time before 1970 (x)",
            ),
            (OperatorError::feed("a.csv", Some(7), FeedFault::BadRecord("bad price".into())), false, "a.csv:7: bad price"),
            (OperatorError::feed("a.csv", Some(7), "a.csv:7: bad price"), false, "a.csv:7: bad price"),
            (OperatorError::feed("t", None, FeedFault::Transient("no progress".into())), true, "t: no progress"),
            (OperatorError::feed("k", None, io(io::ErrorKind::TimedOut)), true, "k: boom"),
            (OperatorError::feed("k", None, io(io::ErrorKind::ConnectionReset)), true, "k: boom"),
            (OperatorError::feed("k", None, io(io::ErrorKind::Interrupted)), true, "k: boom"),
            (OperatorError::feed("k", None, io(io::ErrorKind::NotFound)), false, "k: boom"),
            (OperatorError::feed("k", None, io(io::ErrorKind::InvalidData)), false, "k: boom"),
            (OperatorError::feed("", None, "plain"), false, "plain"),
        ];
        for (e, retry, msg) in &cases {
            assert_eq!(e.is_retryable(), *retry, "{e:?}");
            assert_eq!(e.to_string(), *msg, "{e:?}");
        }
    }

    #[test]
    fn a_wrapped_transient_io_error_is_found_in_the_source_chain() {
        #[derive(Debug, Error)]
        #[error("k.csv: read failed")]
        struct Wrapper(#[source] io::Error);
        let e = OperatorError::feed("k.csv", None, Wrapper(io::Error::new(io::ErrorKind::WouldBlock, "later")));
        assert!(e.is_retryable());
        assert_eq!(e.to_string(), "k.csv: read failed");
        assert!(e.source().is_some());
        let e = OperatorError::feed("k.csv", None, Wrapper(io::Error::new(io::ErrorKind::PermissionDenied, "no")));
        assert!(!e.is_retryable());
    }
}
