//! Orders, fills and closed trades of the simulated broker.

use serde::{Deserialize, Serialize};

use crate::{Decimal, Instrument, Ts};

/// Buy or sell.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderSide {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

impl OrderSide {
    /// `buy` / `sell`.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderSide::Buy => "buy",
            OrderSide::Sell => "sell",
        }
    }
    /// +1 for buys, −1 for sells.
    pub fn sign(self) -> i32 {
        match self {
            OrderSide::Buy => 1,
            OrderSide::Sell => -1,
        }
    }
}

/// How an order executes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OrderKind {
    /// At the next bar's open (or this bar's close with cheat-on-close).
    Market,
    /// At `price` or better.
    Limit {
        /// Limit price.
        price: Decimal,
    },
    /// Becomes a market order once `price` trades (buy: high ≥ price; sell: low ≤ price).
    Stop {
        /// Trigger price.
        price: Decimal,
    },
    /// Becomes a limit order at `limit` once `stop` trades.
    StopLimit {
        /// Trigger price.
        stop: Decimal,
        /// Limit price after triggering.
        limit: Decimal,
    },
    /// A stop that follows the price by `amount` (or `percent` of the price).
    StopTrail {
        /// Fixed distance.
        amount: Option<Decimal>,
        /// Distance as a fraction of the price (0.02 = 2%).
        percent: Option<Decimal>,
    },
}

/// Lifecycle of an order.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Waiting for execution.
    Accepted,
    /// Executed.
    Filled,
    /// Canceled (by the strategy, OCO or bracket logic).
    Canceled,
    /// Not enough cash at execution (Backtrader's `Margin`): rejected, never resized.
    Rejected,
    /// Still open when the data ended.
    Expired,
}

/// An order as the broker tracks it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Broker-assigned id, increasing.
    pub id: u64,
    /// Instrument.
    pub instrument: Instrument,
    /// Side.
    pub side: OrderSide,
    /// Size (> 0).
    pub size: Decimal,
    /// Execution type.
    pub kind: OrderKind,
    /// Bar close time at which the strategy created it.
    pub created: Ts,
    /// Current status.
    pub status: OrderStatus,
    /// When the status last changed.
    pub updated: Ts,
    /// Parent order of a bracket child, or the OCO sibling group.
    pub group: Option<u64>,
}

/// An execution.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// Order that filled.
    pub order_id: u64,
    /// Instrument.
    pub instrument: Instrument,
    /// Side.
    pub side: OrderSide,
    /// When (the bar's open time for fills at the open).
    pub ts: Ts,
    /// Execution price (after slippage).
    pub price: Decimal,
    /// Size (> 0).
    pub size: Decimal,
    /// Commission paid.
    pub commission: Decimal,
}

/// A round trip: from flat to flat.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedTrade {
    /// Instrument.
    pub instrument: Instrument,
    /// Long or short.
    pub side: OrderSide,
    /// Largest absolute position size.
    pub size: Decimal,
    /// First entry fill time.
    pub entry_time: Ts,
    /// Closing fill time.
    pub exit_time: Ts,
    /// Average entry price.
    pub entry_price: Decimal,
    /// Average exit price.
    pub exit_price: Decimal,
    /// Gross profit and loss.
    pub pnl: Decimal,
    /// Commissions on entries and exits.
    pub commission: Decimal,
}

impl ClosedTrade {
    /// Profit after commissions.
    pub fn net_pnl(&self) -> Decimal {
        self.pnl - self.commission
    }
}
