//! Simulated broker (pure core): orders in, fills, positions, cash and round trips out.
//!
//! Execution model (Backtrader's defaults):
//! - Orders are accepted when the strategy submits them at a bar's close and are first
//!   evaluated on the **next** bar (no look-ahead). With `cheat_on_close`, market orders fill
//!   at the submitting bar's close instead.
//! - Market: the next open. Limit buy: the open if it is at or below the limit (gap), else the
//!   limit if the low reaches it (sell: mirrored). Stop buy: the open if it is at or above the
//!   stop (gap), else the stop if the high reaches it (sell: mirrored). Stop-limit: triggers like
//!   a stop, then behaves as a limit from the trigger price. Trailing stop: the stop follows the
//!   best close since submission at a fixed amount or percent.
//! - Slippage (percent or fixed) moves market and stop fills against the order; limit fills are
//!   never worse than the limit.
//! - Commission: a fraction of traded value, or fixed per order; limit orders pay the maker
//!   rate, others the taker rate.
//! - Cash: a buy whose cost plus commission exceeds the cash at execution is **rejected**, not
//!   resized (Backtrader's `Margin`).
//! - OCO: filling or canceling one order of a group cancels the others. Bracket: the two exit
//!   children wait for the parent to fill, then form an OCO pair acting from the next bar on
//!   (as Backtrader); a rejected or canceled parent cancels them.
//!
//! All money is exact decimal: commissions and values are rounded half-to-even at nine
//! decimals.

use std::collections::BTreeMap;

use tickflow_model::{Bar, ClosedTrade, Decimal, Fill, Instrument, Order, OrderKind, OrderSide, OrderStatus, Ts};

use crate::OperatorError;

/// Commission scheme.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Commission {
    /// Fraction of traded value: `maker` for limit orders, `taker` otherwise.
    Percent {
        /// Rate for limit orders.
        maker: Decimal,
        /// Rate for all other orders.
        taker: Decimal,
    },
    /// A fixed amount per filled order.
    Fixed(Decimal),
}

/// Slippage applied to market and stop fills.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Slippage {
    /// None.
    None,
    /// A fraction of the price.
    Percent(Decimal),
    /// A fixed price amount.
    Fixed(Decimal),
}

/// Broker settings.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BrokerConfig {
    /// Starting cash.
    pub cash: Decimal,
    /// Commission.
    pub commission: Commission,
    /// Slippage.
    pub slippage: Slippage,
    /// Fill market orders at the submitting bar's close.
    pub cheat_on_close: bool,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            cash: Decimal::from_int(100_000),
            commission: Commission::Percent { maker: Decimal::ZERO, taker: Decimal::ZERO },
            slippage: Slippage::None,
            cheat_on_close: false,
        }
    }
}

/// What a strategy asks for.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct OrderRequest {
    /// Instrument.
    pub instrument: Instrument,
    /// Side.
    pub side: OrderSide,
    /// Size (> 0).
    pub size: Decimal,
    /// Execution type.
    pub kind: OrderKind,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct PositionState {
    size: Decimal,
    avg_price: Decimal,
    /// Exact cost of the open quantity at its entry prices.
    cost: Decimal,
    // open round trip
    entry_time: Option<Ts>,
    max_abs: Decimal,
    entry_value: Decimal,
    entry_size: Decimal,
    exit_value: Decimal,
    exit_size: Decimal,
    pnl: Decimal,
    commission: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Pending {
    order: Order,
    /// Bracket children wait for this parent to fill.
    parent: Option<u64>,
    /// Best close seen (trailing stops) and triggered state (stop-limit).
    trail_best: Option<Decimal>,
    triggered: bool,
    /// Bracket children: when the parent filled (they act from the next bar on).
    activated: Option<Ts>,
}

/// Events produced while processing a bar.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BrokerEvents {
    /// Orders whose status changed (filled, rejected, canceled).
    pub orders: Vec<Order>,
    /// Fills.
    pub fills: Vec<Fill>,
    /// Round trips completed.
    pub trades: Vec<ClosedTrade>,
}

/// The simulated broker.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Broker {
    cfg: BrokerConfig,
    cash: Decimal,
    next_id: u64,
    pending: BTreeMap<u64, Pending>,
    /// Keyed by instrument id (cheap keys; sums are exact so order does not matter).
    positions: BTreeMap<u64, PositionState>,
    last_close: BTreeMap<u64, Decimal>,
}

impl Broker {
    /// A broker with the given settings.
    pub fn new(cfg: BrokerConfig) -> Result<Self, OperatorError> {
        if cfg.cash.is_negative() {
            return Err(OperatorError::invalid_config("cash", "cash must not be negative"));
        }
        Ok(Broker { cash: cfg.cash, cfg, next_id: 1, pending: BTreeMap::new(), positions: BTreeMap::new(), last_close: BTreeMap::new() })
    }

    /// Cash now.
    pub fn cash(&self) -> Decimal {
        self.cash
    }

    /// Position size of `i` (negative when short).
    pub fn position(&self, i: &Instrument) -> Decimal {
        self.positions.get(&i.id()).map(|p| p.size).unwrap_or(Decimal::ZERO)
    }

    /// Cash plus positions at the last closes.
    pub fn value(&self) -> Decimal {
        let mut v = self.cash;
        for (i, p) in &self.positions {
            if let Some(c) = self.last_close.get(i) {
                v += p.size.checked_mul(*c).unwrap_or(Decimal::ZERO);
            }
        }
        v
    }

    /// Open orders.
    pub fn open_orders(&self) -> impl Iterator<Item = &Order> {
        self.pending.values().map(|p| &p.order)
    }

    fn validate(r: &OrderRequest) -> Result<(), OperatorError> {
        if r.size <= Decimal::ZERO {
            return Err(OperatorError::InvalidOrder { field: "size", reason: format!("order size must be positive, got {}", r.size) });
        }
        let bad = |p: Decimal| p <= Decimal::ZERO;
        match r.kind {
            OrderKind::Limit { price } | OrderKind::Stop { price } if bad(price) => {
                Err(OperatorError::InvalidOrder { field: "price", reason: "order price must be positive".into() })
            }
            OrderKind::StopLimit { stop, limit } if bad(stop) || bad(limit) => {
                Err(OperatorError::InvalidOrder { field: "price", reason: "order prices must be positive".into() })
            }
            OrderKind::StopTrail { amount: None, percent: None } => {
                Err(OperatorError::InvalidOrder { field: "kind", reason: "a trailing stop needs an amount or a percent".into() })
            }
            _ => Ok(()),
        }
    }

    /// Submits an order at bar-close time `now`; returns its id.
    pub fn submit(&mut self, r: OrderRequest, now: Ts) -> Result<u64, OperatorError> {
        self.submit_linked(r, now, None, None)
    }

    fn submit_linked(&mut self, r: OrderRequest, now: Ts, group: Option<u64>, parent: Option<u64>) -> Result<u64, OperatorError> {
        Self::validate(&r)?;
        let id = self.next_id;
        self.next_id += 1;
        let order =
            Order { id, instrument: r.instrument, side: r.side, size: r.size, kind: r.kind, created: now, status: OrderStatus::Accepted, updated: now, group };
        self.pending.insert(id, Pending { order, parent, trail_best: None, triggered: false, activated: None });
        Ok(id)
    }

    /// Submits two orders that cancel each other; returns their ids.
    pub fn submit_oco(&mut self, a: OrderRequest, b: OrderRequest, now: Ts) -> Result<(u64, u64), OperatorError> {
        Self::validate(&a)?;
        Self::validate(&b)?;
        let group = self.next_id;
        let ia = self.submit_linked(a, now, Some(group), None)?;
        let ib = self.submit_linked(b, now, Some(group), None)?;
        Ok((ia, ib))
    }

    /// Submits a bracket: an entry plus a stop-loss and a take-profit that become an OCO pair
    /// once the entry fills. Returns (entry, stop, limit) ids.
    pub fn submit_bracket(&mut self, entry: OrderRequest, stop_price: Decimal, limit_price: Decimal, now: Ts) -> Result<(u64, u64, u64), OperatorError> {
        let exit_side = match entry.side {
            OrderSide::Buy => OrderSide::Sell,
            OrderSide::Sell => OrderSide::Buy,
        };
        let stop = OrderRequest { side: exit_side, kind: OrderKind::Stop { price: stop_price }, ..entry };
        let limit = OrderRequest { side: exit_side, kind: OrderKind::Limit { price: limit_price }, ..entry };
        Self::validate(&entry)?;
        Self::validate(&stop)?;
        Self::validate(&limit)?;
        let p = self.submit_linked(entry, now, None, None)?;
        let s = self.submit_linked(stop, now, Some(p), Some(p))?;
        let l = self.submit_linked(limit, now, Some(p), Some(p))?;
        Ok((p, s, l))
    }

    /// Cancels an open order (and its OCO/bracket partners).
    pub fn cancel(&mut self, id: u64, now: Ts, ev: &mut BrokerEvents) {
        if let Some(p) = self.pending.remove(&id) {
            let mut o = p.order;
            o.status = OrderStatus::Canceled;
            o.updated = now;
            ev.orders.push(o);
            self.cancel_linked(&o, now, ev);
        }
    }

    /// Cancels the bracket children of `o` and its OCO / bracket siblings.
    fn cancel_linked(&mut self, o: &Order, now: Ts, ev: &mut BrokerEvents) {
        let linked: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.parent == Some(o.id) || (o.group.is_some() && p.order.group == o.group && p.order.id != o.id))
            .map(|(id, _)| *id)
            .collect();
        for id in linked {
            if let Some(p) = self.pending.remove(&id) {
                let mut c = p.order;
                c.status = OrderStatus::Canceled;
                c.updated = now;
                ev.orders.push(c);
            }
        }
    }

    fn commission(&self, kind: &OrderKind, value: Decimal) -> Decimal {
        match self.cfg.commission {
            Commission::Fixed(f) => f,
            Commission::Percent { maker, taker } => {
                let rate = if matches!(kind, OrderKind::Limit { .. }) { maker } else { taker };
                value.abs().checked_mul(rate).unwrap_or(Decimal::ZERO)
            }
        }
    }

    fn slip(&self, side: OrderSide, price: Decimal) -> Decimal {
        let d = match self.cfg.slippage {
            Slippage::None => Decimal::ZERO,
            Slippage::Percent(p) => price.checked_mul(p).unwrap_or(Decimal::ZERO),
            Slippage::Fixed(f) => f,
        };
        match side {
            OrderSide::Buy => price + d,
            OrderSide::Sell => (price - d).max(Decimal::from_mantissa(1)),
        }
    }

    /// Where an order executes on `bar`, if it does.
    fn execution_price(&self, p: &mut Pending, bar: &Bar, at_close: bool) -> Option<Decimal> {
        let o = &p.order;
        let (open, high, low) = if at_close { (bar.close, bar.close, bar.close) } else { (bar.open, bar.high, bar.low) };
        let buy = o.side == OrderSide::Buy;
        let limit_fill = |limit: Decimal, open: Decimal| -> Option<Decimal> {
            if buy {
                if open <= limit {
                    Some(open)
                } else if low <= limit {
                    Some(limit)
                } else {
                    None
                }
            } else if open >= limit {
                Some(open)
            } else if high >= limit {
                Some(limit)
            } else {
                None
            }
        };
        let stop_hit = |stop: Decimal| -> Option<Decimal> {
            if buy {
                if open >= stop {
                    Some(open)
                } else if high >= stop {
                    Some(stop)
                } else {
                    None
                }
            } else if open <= stop {
                Some(open)
            } else if low <= stop {
                Some(stop)
            } else {
                None
            }
        };
        match o.kind {
            OrderKind::Market => Some(self.slip(o.side, open)),
            OrderKind::Limit { price } => limit_fill(price, open),
            OrderKind::Stop { price } => stop_hit(price).map(|x| self.slip(o.side, x)),
            OrderKind::StopLimit { stop, limit } => {
                if !p.triggered {
                    let t = stop_hit(stop)?;
                    p.triggered = true;
                    // after the trigger the order is a limit order starting from the trigger price
                    return limit_fill(limit, t);
                }
                limit_fill(limit, open)
            }
            OrderKind::StopTrail { amount, percent } => {
                let best = p.trail_best.unwrap_or(bar.open);
                let dist = match (amount, percent) {
                    (Some(a), _) => a,
                    (None, Some(pc)) => best.checked_mul(pc).unwrap_or(Decimal::ZERO),
                    (None, None) => return None,
                };
                let stop = if buy { best + dist } else { best - dist };
                stop_hit(stop).map(|x| self.slip(o.side, x))
            }
        }
    }

    /// Processes one bar of `bar.instrument`: executes pending orders against it (in id order),
    /// then marks positions at the close. Call before the strategy sees the bar.
    pub fn on_bar(&mut self, bar: &Bar, ev: &mut BrokerEvents) {
        self.execute(bar, false, ev);
        self.last_close.insert(bar.instrument.id(), bar.close);
        // trailing stops follow the best close
        for p in self.pending.values_mut() {
            if p.order.instrument == bar.instrument {
                if let OrderKind::StopTrail { .. } = p.order.kind {
                    let better = match (p.trail_best, p.order.side) {
                        (None, _) => true,
                        (Some(b), OrderSide::Sell) => bar.close > b,
                        (Some(b), OrderSide::Buy) => bar.close < b,
                    };
                    if better {
                        p.trail_best = Some(bar.close);
                    }
                }
            }
        }
    }

    /// With `cheat_on_close`: fills market orders submitted on `bar` at its close. Call after
    /// the strategy has seen the bar.
    pub fn on_close(&mut self, bar: &Bar, ev: &mut BrokerEvents) {
        if self.cfg.cheat_on_close {
            self.execute(bar, true, ev);
        }
    }

    fn execute(&mut self, bar: &Bar, at_close: bool, ev: &mut BrokerEvents) {
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| {
                p.order.instrument == bar.instrument
                    && if at_close {
                        matches!(p.order.kind, OrderKind::Market) && p.order.created == bar.close_time()
                    } else {
                        p.order.created <= bar.open_time
                    }
            })
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let Some(mut p) = self.pending.remove(&id) else { continue };
            if p.parent.is_some() && p.activated.is_none_or(|a| a >= bar.open_time) {
                self.pending.insert(id, p); // waits for the parent to fill on an earlier bar
                continue;
            }
            let Some(price) = self.execution_price(&mut p, bar, at_close) else {
                self.pending.insert(id, p);
                continue;
            };
            let o = p.order;
            let value = o.size.checked_mul(price).unwrap_or(Decimal::from_mantissa(i128::MAX));
            let commission = self.commission(&o.kind, value);
            let pos = self.position(&o.instrument);
            // cash check: only the part of a buy that opens or extends a long costs cash
            if o.side == OrderSide::Buy && pos >= Decimal::ZERO && value + commission > self.cash {
                let mut r = o;
                r.status = OrderStatus::Rejected;
                r.updated = bar.open_time;
                ev.orders.push(r);
                self.cancel_linked(&r, bar.open_time, ev);
                continue;
            }
            let ts = if at_close { bar.close_time() } else { bar.open_time };
            self.apply_fill(&o, price, commission, ts, ev);
            let mut f = o;
            f.status = OrderStatus::Filled;
            f.updated = ts;
            ev.orders.push(f);
            // bracket children of a filled parent become active from the next bar
            for q in self.pending.values_mut() {
                if q.parent == Some(o.id) {
                    q.activated = Some(ts);
                }
            }
            // OCO / bracket siblings go
            if o.group.is_some() {
                let siblings: Vec<u64> = self.pending.iter().filter(|(_, q)| q.order.group == o.group && q.order.id != o.id).map(|(id, _)| *id).collect();
                for s in siblings {
                    if let Some(q) = self.pending.remove(&s) {
                        let mut c = q.order;
                        c.status = OrderStatus::Canceled;
                        c.updated = ts;
                        ev.orders.push(c);
                    }
                }
            }
        }
    }

    fn apply_fill(&mut self, o: &Order, price: Decimal, commission: Decimal, ts: Ts, ev: &mut BrokerEvents) {
        let signed = if o.side == OrderSide::Buy { o.size } else { -o.size };
        let value = o.size.checked_mul(price).unwrap_or(Decimal::ZERO);
        match o.side {
            OrderSide::Buy => self.cash = self.cash - value - commission,
            OrderSide::Sell => self.cash = self.cash + value - commission,
        }
        ev.fills.push(Fill { order_id: o.id, instrument: o.instrument, side: o.side, ts, price, size: o.size, commission });
        let st = self.positions.entry(o.instrument.id()).or_default();
        let old = st.size;
        let new = old + signed;
        if old.is_zero() {
            st.entry_time = Some(ts);
            st.max_abs = Decimal::ZERO;
            st.entry_value = Decimal::ZERO;
            st.entry_size = Decimal::ZERO;
            st.exit_value = Decimal::ZERO;
            st.exit_size = Decimal::ZERO;
            st.pnl = Decimal::ZERO;
            st.commission = Decimal::ZERO;
        }
        st.commission += commission;
        let same_dir = old.is_zero() || (old.is_negative() == signed.is_negative());
        if same_dir {
            // extend: the cost basis grows by exactly what was paid
            st.cost += value;
            let total = old.abs() + o.size;
            st.avg_price = st.cost.checked_div(total).unwrap_or(price);
            st.entry_value += value;
            st.entry_size += o.size;
        } else {
            // reduce (and maybe flip): release the matching share of the cost basis
            let closing = o.size.min(old.abs());
            let released =
                if closing == old.abs() { st.cost } else { st.cost.checked_mul(closing).and_then(|x| x.checked_div(old.abs())).unwrap_or(Decimal::ZERO) };
            let proceeds = closing.checked_mul(price).unwrap_or(Decimal::ZERO);
            st.pnl += if old.is_negative() { released - proceeds } else { proceeds - released };
            st.cost -= released;
            st.exit_value += proceeds;
            st.exit_size += closing;
        }
        st.size = new;
        st.max_abs = st.max_abs.max(new.abs());
        let flipped = !old.is_zero() && !new.is_zero() && old.is_negative() != new.is_negative();
        if (new.is_zero() || flipped) && !old.is_zero() {
            let trade = ClosedTrade {
                instrument: o.instrument,
                side: if old.is_negative() { OrderSide::Sell } else { OrderSide::Buy },
                size: st.max_abs.max(old.abs()),
                entry_time: st.entry_time.unwrap_or(ts),
                exit_time: ts,
                entry_price: st.entry_value.checked_div(st.entry_size).unwrap_or(st.avg_price),
                exit_price: st.exit_value.checked_div(st.exit_size).unwrap_or(price),
                pnl: st.pnl,
                commission: st.commission,
            };
            ev.trades.push(trade);
            if flipped {
                // the remainder opens a new round trip at this fill
                let rest = new.abs();
                st.entry_time = Some(ts);
                st.avg_price = price;
                st.cost = rest.checked_mul(price).unwrap_or(Decimal::ZERO);
                st.entry_value = rest.checked_mul(price).unwrap_or(Decimal::ZERO);
                st.entry_size = rest;
                st.exit_value = Decimal::ZERO;
                st.exit_size = Decimal::ZERO;
                st.pnl = Decimal::ZERO;
                st.commission = Decimal::ZERO;
                st.max_abs = rest;
            }
        }
    }

    /// Marks every still-open order expired at `now` (end of data).
    pub fn expire_all(&mut self, now: Ts, ev: &mut BrokerEvents) {
        for (_, p) in std::mem::take(&mut self.pending) {
            let mut o = p.order;
            o.status = OrderStatus::Expired;
            o.updated = now;
            ev.orders.push(o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickflow_model::Timeframe;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }
    fn inst() -> Instrument {
        Instrument::new("test", "ABC/USD").unwrap()
    }
    fn bar(day: i64, o: &str, h: &str, l: &str, c: &str) -> Bar {
        let mut b = Bar::carried(inst(), Timeframe::from_secs(86_400).unwrap(), Ts::from_secs(day * 86_400), d(c));
        (b.open, b.high, b.low, b.close) = (d(o), d(h), d(l), d(c));
        b
    }
    fn req(side: OrderSide, size: &str, kind: OrderKind) -> OrderRequest {
        OrderRequest { instrument: inst(), side, size: d(size), kind }
    }
    fn broker(cash: &str, taker: &str) -> Broker {
        Broker::new(BrokerConfig { cash: d(cash), commission: Commission::Percent { maker: d("0"), taker: d(taker) }, ..Default::default() }).unwrap()
    }

    #[test]
    fn market_orders_fill_at_the_next_open_with_commission() {
        let mut b = broker("1000", "0.001");
        let b0 = bar(0, "10", "11", "9", "10");
        let mut ev = BrokerEvents::default();
        b.on_bar(&b0, &mut ev);
        b.submit(req(OrderSide::Buy, "50", OrderKind::Market), b0.close_time()).unwrap();
        b.on_bar(&b0, &mut ev); // the same bar again: not eligible (no look-ahead)
        assert!(ev.fills.is_empty());
        let b1 = bar(1, "12", "13", "11", "12.5");
        b.on_bar(&b1, &mut ev);
        assert_eq!(ev.fills.len(), 1);
        assert_eq!((ev.fills[0].price, ev.fills[0].commission, ev.fills[0].ts), (d("12"), d("0.6"), b1.open_time));
        assert_eq!(b.cash(), d("399.4"));
        assert_eq!(b.value(), d("1024.4"));
        b.submit(req(OrderSide::Sell, "50", OrderKind::Market), b1.close_time()).unwrap();
        let b2 = bar(2, "14", "14", "13", "13");
        b.on_bar(&b2, &mut ev);
        let t = ev.trades[0];
        assert_eq!((t.entry_price, t.exit_price, t.pnl, t.commission, t.net_pnl()), (d("12"), d("14"), d("100"), d("1.3"), d("98.7")));
        assert_eq!(b.cash(), d("1098.7"));
    }

    #[test]
    fn buys_beyond_cash_are_rejected_not_resized() {
        let mut b = broker("1000", "0.001");
        let b0 = bar(0, "10", "10", "10", "10");
        b.submit(req(OrderSide::Buy, "99", OrderKind::Market), b0.close_time()).unwrap();
        let mut ev = BrokerEvents::default();
        b.on_bar(&bar(1, "10.1", "11", "10", "10"), &mut ev); // 999.9 + 0.9999 > 1000
        assert!(ev.fills.is_empty());
        assert_eq!(ev.orders[0].status, OrderStatus::Rejected);
        assert_eq!(b.cash(), d("1000"));
    }

    #[test]
    fn limit_and_stop_rules_with_gaps() {
        let cases = [
            // (kind, side, bar o/h/l/c, expected fill)
            (OrderKind::Limit { price: d("9") }, OrderSide::Buy, ("10", "10.5", "8.5", "9"), Some("9")),
            (OrderKind::Limit { price: d("9") }, OrderSide::Buy, ("8", "9.5", "7.5", "9"), Some("8")), // gap below: the open
            (OrderKind::Limit { price: d("9") }, OrderSide::Buy, ("10", "11", "9.5", "10"), None),
            (OrderKind::Limit { price: d("11") }, OrderSide::Sell, ("10", "11.5", "9", "10"), Some("11")),
            (OrderKind::Stop { price: d("11") }, OrderSide::Buy, ("10", "11.5", "9", "10"), Some("11")),
            (OrderKind::Stop { price: d("11") }, OrderSide::Buy, ("12", "12.5", "11.5", "12"), Some("12")), // gap through: the open
            (OrderKind::Stop { price: d("9") }, OrderSide::Sell, ("8", "8.5", "7", "8"), Some("8")),
            (OrderKind::Stop { price: d("9") }, OrderSide::Sell, ("10", "11", "9.5", "10"), None),
            (OrderKind::StopLimit { stop: d("11"), limit: d("11.2") }, OrderSide::Buy, ("10", "11.5", "9", "10"), Some("11")),
            (OrderKind::StopLimit { stop: d("11"), limit: d("11.2") }, OrderSide::Buy, ("12", "12.5", "11.5", "12"), None), // triggered, limit not reached
        ];
        for (kind, side, (o, h, l, c), want) in cases {
            let mut b = broker("100000", "0");
            let mut ev = BrokerEvents::default();
            if side == OrderSide::Sell {
                b.submit(req(OrderSide::Buy, "1", OrderKind::Market), Ts(0)).unwrap();
                b.on_bar(&bar(0, "10", "10", "10", "10"), &mut ev);
                ev = BrokerEvents::default();
            }
            let t0 = bar(0, "10", "10", "10", "10").close_time();
            b.submit(req(side, "1", kind), t0).unwrap();
            b.on_bar(&bar(1, o, h, l, c), &mut ev);
            assert_eq!(ev.fills.first().map(|f| f.price), want.map(d), "{kind:?} {side:?} on {o}/{h}/{l}/{c}");
        }
    }

    #[test]
    fn oco_and_bracket() {
        let mut b = broker("100000", "0");
        let mut ev = BrokerEvents::default();
        let t0 = bar(0, "10", "10", "10", "10").close_time();
        let (p, s, l) = b.submit_bracket(req(OrderSide::Buy, "10", OrderKind::Market), d("9"), d("12"), t0).unwrap();
        b.on_bar(&bar(1, "10", "10.5", "9.5", "10"), &mut ev);
        assert_eq!(ev.fills.iter().map(|f| f.order_id).collect::<Vec<_>>(), vec![p], "entry only");
        assert_eq!(b.open_orders().count(), 2);
        b.on_bar(&bar(2, "11", "12.5", "10.5", "12"), &mut ev);
        assert_eq!(ev.fills.last().map(|f| (f.order_id, f.price)), Some((l, d("12"))), "take profit");
        assert!(ev.orders.iter().any(|o| o.id == s && o.status == OrderStatus::Canceled));
        assert_eq!(b.open_orders().count(), 0);
        assert_eq!(b.position(&inst()), Decimal::ZERO);
        // OCO: one fills, the other is canceled
        let (a, c) = b
            .submit_oco(
                req(OrderSide::Buy, "1", OrderKind::Limit { price: d("9") }),
                req(OrderSide::Buy, "1", OrderKind::Stop { price: d("15") }),
                bar(2, "1", "1", "1", "1").close_time(),
            )
            .unwrap();
        let mut ev = BrokerEvents::default();
        b.on_bar(&bar(3, "10", "10", "8", "9"), &mut ev);
        assert_eq!(ev.fills[0].order_id, a);
        assert!(ev.orders.iter().any(|o| o.id == c && o.status == OrderStatus::Canceled));
        // a rejected bracket parent takes its children with it
        let mut poor = broker("10", "0");
        let mut ev = BrokerEvents::default();
        poor.submit_bracket(req(OrderSide::Buy, "10", OrderKind::Market), d("9"), d("12"), t0).unwrap();
        poor.on_bar(&bar(1, "10", "10", "10", "10"), &mut ev);
        assert_eq!(ev.orders.iter().filter(|o| o.status == OrderStatus::Canceled).count(), 2);
        assert_eq!(poor.open_orders().count(), 0);
    }

    #[test]
    fn bad_orders_are_errors() {
        let mut b = broker("1", "0");
        assert!(b.submit(req(OrderSide::Buy, "0", OrderKind::Market), Ts(0)).is_err());
        assert!(b.submit(req(OrderSide::Buy, "1", OrderKind::Limit { price: d("-1") }), Ts(0)).is_err());
        assert!(b.submit(req(OrderSide::Buy, "1", OrderKind::StopTrail { amount: None, percent: None }), Ts(0)).is_err());
    }
}
