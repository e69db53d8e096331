//! What a strategy sees and can do on a bar.

use tickflow_model::{Bar, Decimal, Instrument, OrderKind, OrderSide};
use tickflow_operators::broker::{Broker, OrderRequest};

use crate::StrategyError;

/// How order sizes are chosen when a strategy does not give one.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Sizer {
    /// A fixed size.
    Fixed(Decimal),
    /// A percentage of available cash at the bar's close (Backtrader's `PercentSizer`):
    /// `size = cash / close × percent / 100`, truncated to nine decimals.
    PercentOfCash(Decimal),
    /// All available cash (Backtrader's `AllInSizer`).
    AllIn,
}

impl std::str::FromStr for Sizer {
    type Err = StrategyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || StrategyError::Config(format!("sizer {s:?}: use fixed:N, percent:P or all-in"));
        match s.split_once(':') {
            Some(("fixed", n)) => n.parse::<Decimal>().ok().filter(|n| *n > Decimal::ZERO).map(Sizer::Fixed).ok_or_else(bad),
            Some(("percent", p)) => {
                p.parse::<Decimal>().ok().filter(|p| *p > Decimal::ZERO && *p <= Decimal::from_int(100)).map(Sizer::PercentOfCash).ok_or_else(bad)
            }
            None if s == "all-in" => Ok(Sizer::AllIn),
            _ => Err(bad()),
        }
    }
}

/// The strategy's handle on the broker for one bar.
pub struct Ctx<'a> {
    pub(crate) broker: &'a mut Broker,
    pub(crate) bar: &'a Bar,
    pub(crate) sizer: Sizer,
    pub(crate) errors: &'a mut Vec<String>,
    pub(crate) events: &'a mut tickflow_operators::broker::BrokerEvents,
}

impl<'a> Ctx<'a> {
    /// The bar being processed.
    pub fn bar(&self) -> &Bar {
        self.bar
    }
    /// Position in the bar's instrument (negative when short).
    pub fn position(&self) -> Decimal {
        self.broker.position(&self.bar.instrument)
    }
    /// Position in any instrument (multi-instrument strategies).
    pub fn position_of(&self, i: &Instrument) -> Decimal {
        self.broker.position(i)
    }
    /// Cash.
    pub fn cash(&self) -> Decimal {
        self.broker.cash()
    }
    /// Portfolio value at the last closes.
    pub fn value(&self) -> Decimal {
        self.broker.value()
    }
    /// The sizer's size for a new position at this bar's close.
    pub fn sized(&self) -> Decimal {
        let close = self.bar.close;
        let cash = self.broker.cash().max(Decimal::ZERO);
        match self.sizer {
            Sizer::Fixed(n) => n,
            Sizer::PercentOfCash(p) => {
                cash.checked_div(close).and_then(|u| u.checked_mul(p)).and_then(|x| x.checked_div(Decimal::from_int(100))).unwrap_or(Decimal::ZERO)
            }
            Sizer::AllIn => cash.checked_div(close).unwrap_or(Decimal::ZERO),
        }
    }
    /// Submits any order; returns its id (or `None` after recording why it was refused).
    pub fn submit(&mut self, side: OrderSide, size: Decimal, kind: OrderKind) -> Option<u64> {
        let r = OrderRequest { instrument: self.bar.instrument, side, size, kind };
        match self.broker.submit(r, self.bar.close_time()) {
            Ok(id) => Some(id),
            Err(e) => {
                self.errors.push(e.to_string());
                None
            }
        }
    }
    /// Market buy of the sizer's size.
    pub fn buy(&mut self) -> Option<u64> {
        let s = self.sized();
        self.submit(OrderSide::Buy, s, OrderKind::Market)
    }
    /// Market sell of the sizer's size (opens or extends a short when flat or short).
    pub fn sell(&mut self) -> Option<u64> {
        let s = self.sized();
        self.submit(OrderSide::Sell, s, OrderKind::Market)
    }
    /// Market order closing the whole position, if any.
    pub fn close(&mut self) -> Option<u64> {
        let p = self.position();
        if p.is_zero() {
            return None;
        }
        let side = if p.is_negative() { OrderSide::Buy } else { OrderSide::Sell };
        self.submit(side, p.abs(), OrderKind::Market)
    }
    /// A market entry of the sizer's size with a stop-loss and a take-profit (a bracket).
    pub fn buy_bracket(&mut self, stop: Decimal, limit: Decimal) -> Option<(u64, u64, u64)> {
        let r = OrderRequest { instrument: self.bar.instrument, side: OrderSide::Buy, size: self.sized(), kind: OrderKind::Market };
        match self.broker.submit_bracket(r, stop, limit, self.bar.close_time()) {
            Ok(ids) => Some(ids),
            Err(e) => {
                self.errors.push(e.to_string());
                None
            }
        }
    }
    /// Cancels an open order.
    pub fn cancel(&mut self, id: u64) {
        self.broker.cancel(id, self.bar.close_time(), self.events);
    }
    /// Open orders of this instrument.
    pub fn open_orders(&self) -> usize {
        self.broker.open_orders().filter(|o| o.instrument == self.bar.instrument).count()
    }
}
