//! # tickflow-strategies
//!
//! Strategies are pure: final bars in, order requests out, no I/O and no timely. The strategy
//! engine (indicators, simulated broker, analyzers) is tracked in the strategy-engine issue;
//! this crate fixes the seam it plugs into.

#![warn(missing_docs)]

use tickflow_model::Bar;

/// A trading strategy over final bars of one or more instruments.
pub trait Strategy {
    /// Order requests produced by the strategy.
    type Order;
    /// Called once per final bar, in event-time order per instrument.
    fn on_bar(&mut self, bar: &Bar, orders: &mut Vec<Self::Order>);
}
