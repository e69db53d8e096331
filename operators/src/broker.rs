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
//! - **Perpetuals and futures** (symbols with a settle currency: `BTC/USDT:USDT` linear,
//!   `BTC/USD:BTC` inverse): size counts contracts of [`Derivatives::contract_size`]; notional
//!   is size × contract × price (linear, quote currency) or size × contract ÷ price (inverse,
//!   base currency — the account's cash is then in the base). Opening or extending a position
//!   reserves its initial margin (notional ÷ leverage) from the cash; reducing releases the
//!   matching share and settles the PnL (linear: Δprice × size × contract; inverse:
//!   size × contract × (1/entry − 1/exit)). Value = cash + margins + unrealized PnL. Funding
//!   ([`Broker::apply_funding`]): at each funding time an open position pays
//!   notional-at-mark × rate (longs pay a positive rate, shorts receive it). Liquidation
//!   (isolated margin): when a bar reaches the liquidation price — linear long
//!   `entry × (1 − 1/L) ÷ (1 − mm)`, short `entry × (1 + 1/L) ÷ (1 + mm)`; inverse long
//!   `entry × (1 + mm) ÷ (1 + 1/L)`, short `entry × (1 − mm) ÷ (1 − 1/L)` — the position is
//!   closed there (at the open if the bar gapped through), taker commission, no extra fee. At
//!   leverage 1 a linear long is never liquidated and behaves exactly as spot.
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

/// Settings for derivative instruments: perpetuals and futures, told by their symbol
/// (`BTC/USDT:USDT` linear, `BTC/USD:BTC` inverse; [`tickflow_model::MarketKind`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Derivatives {
    /// Leverage (≥ 1): a position's initial margin is its notional ÷ leverage.
    pub leverage: Decimal,
    /// Maintenance margin rate (below 1 ÷ leverage): where the liquidation price lies.
    pub maintenance_margin: Decimal,
    /// What one unit of size is: base units per contract (linear) or quote units per contract
    /// (inverse, e.g. 100 USD).
    pub contract_size: Decimal,
}

impl Default for Derivatives {
    fn default() -> Self {
        Derivatives { leverage: Decimal::ONE, maintenance_margin: Decimal::from_mantissa(5_000_000), contract_size: Decimal::ONE }
    }
}

/// How an instrument settles.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Contract {
    /// Spot: buying pays the value, selling receives it.
    #[default]
    Spot,
    /// Linear perpetual or future: margin and PnL in the quote (settle) currency.
    Linear,
    /// Inverse perpetual or future: margin and PnL in the base currency.
    Inverse,
}

impl Contract {
    /// The contract of `i`, from its symbol's market kind.
    pub fn of(i: &Instrument) -> Contract {
        use tickflow_model::MarketKind as K;
        match K::of(i.symbol()) {
            Ok(K::LinearPerpetual | K::LinearFuture) => Contract::Linear,
            Ok(K::InversePerpetual | K::InverseFuture) => Contract::Inverse,
            _ => Contract::Spot,
        }
    }

    /// The value of `size` at `price` for contracts of size `c`: spot size × price; linear
    /// size × c × price (quote); inverse size × c ÷ price (base). `None` on overflow.
    fn value(self, c: Decimal, size: Decimal, price: Decimal) -> Option<Decimal> {
        match self {
            Contract::Spot => size.checked_mul(price),
            Contract::Linear => size.checked_mul(c)?.checked_mul(price),
            Contract::Inverse => size.checked_mul(c)?.checked_div(price),
        }
    }

    /// The average price of `size` bought for `value` ([`Contract::value`] inverted).
    fn price(self, c: Decimal, size: Decimal, value: Decimal) -> Option<Decimal> {
        match self {
            Contract::Spot => value.checked_div(size),
            Contract::Linear => value.checked_div(size.checked_mul(c)?),
            Contract::Inverse => size.checked_mul(c)?.checked_div(value),
        }
    }
}

/// A funding payment applied to an open position.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FundingPayment {
    /// Funding time.
    pub ts: Ts,
    /// The perpetual.
    pub instrument: Instrument,
    /// Position size then (negative: short).
    pub position: Decimal,
    /// The mark price used (the venue's, else the last close).
    pub mark: Decimal,
    /// The rate.
    pub rate: tickflow_model::Notional,
    /// What the account paid (negative: received), in the settle currency.
    pub payment: Decimal,
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
    /// Perpetuals and futures (spot instruments ignore it).
    #[serde(default)]
    pub derivatives: Derivatives,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            cash: Decimal::from_int(100_000),
            commission: Commission::Percent { maker: Decimal::ZERO, taker: Decimal::ZERO },
            slippage: Slippage::None,
            cheat_on_close: false,
            derivatives: Derivatives::default(),
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
    /// How it settles (set by the first fill).
    #[serde(default)]
    contract: Contract,
    /// Derivatives: the initial margin held for the open quantity.
    #[serde(default)]
    margin: Decimal,
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
    /// Funding payments applied.
    pub funding: Vec<FundingPayment>,
    /// Liquidation fills (also in `fills`).
    pub liquidations: Vec<Fill>,
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
    /// The last funding time applied per instrument.
    #[serde(default)]
    funded: BTreeMap<u64, Ts>,
    /// Funding paid so far (negative: received), in the settle currency.
    #[serde(default)]
    funding_paid: Decimal,
    /// Liquidations so far.
    #[serde(default)]
    liquidations: u64,
}

impl Broker {
    /// A broker with the given settings.
    pub fn new(cfg: BrokerConfig) -> Result<Self, OperatorError> {
        if cfg.cash.is_negative() {
            return Err(OperatorError::invalid_config("cash", "cash must not be negative"));
        }
        let d = cfg.derivatives;
        if d.leverage < Decimal::ONE {
            return Err(OperatorError::invalid_config("leverage", format!("leverage must be at least 1, got {}", d.leverage)));
        }
        if d.contract_size <= Decimal::ZERO {
            return Err(OperatorError::invalid_config("contract_size", format!("contract size must be positive, got {}", d.contract_size)));
        }
        let initial = Decimal::ONE.checked_div(d.leverage).unwrap_or(Decimal::ONE);
        if d.maintenance_margin.is_negative() || d.maintenance_margin >= initial {
            return Err(OperatorError::invalid_config(
                "maintenance_margin",
                format!("the maintenance margin rate must be at least 0 and below 1/leverage = {initial}, got {}", d.maintenance_margin),
            ));
        }
        Ok(Broker {
            cash: cfg.cash,
            cfg,
            next_id: 1,
            pending: BTreeMap::new(),
            positions: BTreeMap::new(),
            last_close: BTreeMap::new(),
            funded: BTreeMap::new(),
            funding_paid: Decimal::ZERO,
            liquidations: 0,
        })
    }

    /// The value of `size` (≥ 0) at `price`: spot size × price; linear size × contract ×
    /// price (quote); inverse size × contract ÷ price (base). Saturates instead of overflowing.
    fn notional(&self, contract: Contract, size: Decimal, price: Decimal) -> Decimal {
        contract.value(self.cfg.derivatives.contract_size, size, price).unwrap_or(Decimal::from_mantissa(i128::MAX / 4))
    }

    /// Unrealized PnL of a derivative position at `price`.
    fn unrealized(&self, st: &PositionState, price: Decimal) -> Decimal {
        let now = self.notional(st.contract, st.size.abs(), price);
        // linear longs and inverse shorts gain as the notional grows
        let gain = now - st.cost;
        match (st.contract, st.size.is_negative()) {
            (Contract::Inverse, false) | (Contract::Linear, true) => -gain,
            _ => gain,
        }
    }

    /// The liquidation price of a derivative position (isolated margin, from the average entry
    /// price, the leverage and the maintenance rate), `None` if it cannot be liquidated.
    fn liquidation_price(&self, st: &PositionState) -> Option<Decimal> {
        let d = self.cfg.derivatives;
        let e = st.avg_price;
        let inv_l = Decimal::ONE.checked_div(d.leverage)?;
        let mm = d.maintenance_margin;
        let (num, den) = match (st.contract, st.size.is_negative()) {
            (Contract::Linear, false) => (Decimal::ONE - inv_l, Decimal::ONE - mm),
            (Contract::Linear, true) => (Decimal::ONE + inv_l, Decimal::ONE + mm),
            (Contract::Inverse, false) => (Decimal::ONE + mm, Decimal::ONE + inv_l),
            (Contract::Inverse, true) => (Decimal::ONE - mm, Decimal::ONE - inv_l),
            (Contract::Spot, _) => return None,
        };
        if den <= Decimal::ZERO || num <= Decimal::ZERO {
            return None;
        }
        e.checked_mul(num)?.checked_div(den).filter(|p| *p > Decimal::ZERO)
    }

    /// Applies a funding event to the position it concerns (once per instrument and time):
    /// longs pay `position × contract × mark × rate` (linear; inverse: `… ÷ mark`), shorts
    /// receive it (the reverse for a negative rate). The mark is the event's, else the last
    /// close. Call before the bars at or after its time execute orders.
    pub fn apply_funding(&mut self, f: &tickflow_model::FundingRate, ev: &mut BrokerEvents) {
        let id = f.instrument.id();
        if self.funded.get(&id).is_some_and(|t| *t >= f.ts) {
            return;
        }
        self.funded.insert(id, f.ts);
        let Some(st) = self.positions.get(&id) else { return };
        if st.size.is_zero() || st.contract == Contract::Spot {
            return;
        }
        let Some(mark) = f.mark_price.or_else(|| self.last_close.get(&id).copied()) else { return };
        let value = self.notional(st.contract, st.size.abs(), mark);
        let signed = if st.size.is_negative() { -value } else { value };
        let payment = signed.checked_mul_rate(f.rate).unwrap_or(Decimal::ZERO);
        self.cash -= payment;
        self.funding_paid += payment;
        ev.funding.push(FundingPayment { ts: f.ts, instrument: f.instrument, position: st.size, mark, rate: f.rate, payment });
    }

    /// Funding paid so far (negative: received).
    pub fn funding_paid(&self) -> Decimal {
        self.funding_paid
    }

    /// Positions liquidated so far.
    pub fn liquidations(&self) -> u64 {
        self.liquidations
    }

    /// The last funding time applied to `i`, if any.
    pub fn funded_until(&self, i: &Instrument) -> Option<Ts> {
        self.funded.get(&i.id()).copied()
    }

    /// Cash now: for derivatives, the available balance (wallet minus the initial margin of
    /// open positions; unrealized PnL neither adds nor subtracts).
    pub fn cash(&self) -> Decimal {
        self.cash
    }

    /// Position size of `i` (negative when short).
    pub fn position(&self, i: &Instrument) -> Decimal {
        self.positions.get(&i.id()).map(|p| p.size).unwrap_or(Decimal::ZERO)
    }

    /// Cash plus positions at the last closes (derivatives: their margin plus unrealized PnL).
    pub fn value(&self) -> Decimal {
        let mut v = self.cash;
        for (i, p) in &self.positions {
            if p.contract != Contract::Spot {
                v += p.margin;
                if let (Some(c), false) = (self.last_close.get(i), p.size.is_zero()) {
                    v += self.unrealized(p, *c);
                }
            } else if let Some(c) = self.last_close.get(i) {
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
        self.on_bar_funded(bar, &[], ev);
    }

    /// [`on_bar`](Self::on_bar) with the funding events of `bar`'s instrument whose time lies in
    /// `[open, close)` of the bar: applied after the orders filled at the open (they are held
    /// at the funding time) and before the bar's close becomes the mark (it is later).
    pub fn on_bar_funded(&mut self, bar: &Bar, funding: &[tickflow_model::FundingRate], ev: &mut BrokerEvents) {
        self.execute(bar, false, ev);
        self.liquidate(bar, ev);
        for f in funding {
            self.apply_funding(f, ev);
        }
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

    /// Liquidates a derivative position of `bar`'s instrument whose liquidation price the bar
    /// reached: closed like a market order at that price (at the open if the bar gapped through
    /// it), taker commission; what is left of its margin returns to the account.
    fn liquidate(&mut self, bar: &Bar, ev: &mut BrokerEvents) {
        let Some(st) = self.positions.get(&bar.instrument.id()) else { return };
        if st.contract == Contract::Spot || st.size.is_zero() {
            return;
        }
        let Some(at) = self.liquidation_price(st) else { return };
        let long = !st.size.is_negative();
        let price = match long {
            true if bar.low <= at => bar.open.min(at),
            false if bar.high >= at => bar.open.max(at),
            _ => return,
        };
        let (contract, size) = (st.contract, st.size.abs());
        let side = if long { OrderSide::Sell } else { OrderSide::Buy };
        let id = self.next_id;
        self.next_id += 1;
        let order = Order {
            id,
            instrument: bar.instrument,
            side,
            size,
            kind: OrderKind::Market,
            created: bar.open_time,
            status: OrderStatus::Filled,
            updated: bar.open_time,
            group: None,
        };
        let commission = self.commission(&OrderKind::Market, self.notional(contract, size, price));
        self.apply_fill(&order, price, commission, bar.open_time, ev);
        ev.orders.push(order);
        if let Some(f) = ev.fills.last() {
            ev.liquidations.push(*f);
        }
        self.liquidations += 1;
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
            let contract = Contract::of(&o.instrument);
            let value = self.notional(contract, o.size, price);
            let commission = self.commission(&o.kind, value);
            let pos = self.position(&o.instrument);
            if !self.affordable(contract, &o, pos, price, value, commission) {
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

    /// Whether the account can pay for `o` at `price`. Spot: only the part of a buy that opens
    /// or extends a long costs cash (value + commission). Derivatives: the part that opens or
    /// extends a position needs its initial margin (notional ÷ leverage) + commission from the
    /// available balance.
    fn affordable(&self, contract: Contract, o: &Order, pos: Decimal, price: Decimal, value: Decimal, commission: Decimal) -> bool {
        if contract == Contract::Spot {
            return !(o.side == OrderSide::Buy && pos >= Decimal::ZERO && value + commission > self.cash);
        }
        let signed = if o.side == OrderSide::Buy { o.size } else { -o.size };
        let new = pos + signed;
        let opening = if pos.is_zero() || pos.is_negative() == signed.is_negative() {
            o.size
        } else if new.is_zero() || new.is_negative() == pos.is_negative() {
            Decimal::ZERO
        } else {
            new.abs()
        };
        if opening.is_zero() {
            return true; // reducing a position is always allowed
        }
        let margin = self.notional(contract, opening, price).checked_div(self.cfg.derivatives.leverage).unwrap_or(value);
        margin + commission <= self.cash
    }

    fn apply_fill(&mut self, o: &Order, price: Decimal, commission: Decimal, ts: Ts, ev: &mut BrokerEvents) {
        let signed = if o.side == OrderSide::Buy { o.size } else { -o.size };
        let contract = Contract::of(&o.instrument);
        let value = self.notional(contract, o.size, price);
        let leverage = self.cfg.derivatives.leverage;
        if contract == Contract::Spot {
            match o.side {
                OrderSide::Buy => self.cash = self.cash - value - commission,
                OrderSide::Sell => self.cash = self.cash + value - commission,
            }
        } else {
            self.cash -= commission;
        }
        ev.fills.push(Fill { order_id: o.id, instrument: o.instrument, side: o.side, ts, price, size: o.size, commission });
        let c = self.cfg.derivatives.contract_size;
        let st = self.positions.entry(o.instrument.id()).or_default();
        st.contract = contract;
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
            st.avg_price = contract.price(c, total, st.cost).unwrap_or(price);
            st.entry_value += value;
            st.entry_size += o.size;
            if contract != Contract::Spot {
                let margin = value.checked_div(leverage).unwrap_or(value);
                st.margin += margin;
                self.cash -= margin;
            }
        } else {
            // reduce (and maybe flip): release the matching share of the cost basis
            let closing = o.size.min(old.abs());
            let share =
                |x: Decimal| if closing == old.abs() { x } else { x.checked_mul(closing).and_then(|x| x.checked_div(old.abs())).unwrap_or(Decimal::ZERO) };
            let released = share(st.cost);
            let proceeds = if closing == o.size { value } else { contract.value(c, closing, price).unwrap_or(Decimal::ZERO) };
            // linear and spot longs gain as the value grows; inverse longs as it shrinks
            let gain = proceeds - released;
            let pnl = match (contract, old.is_negative()) {
                (Contract::Inverse, false) | (Contract::Spot | Contract::Linear, true) => -gain,
                _ => gain,
            };
            st.pnl += pnl;
            st.cost -= released;
            st.exit_value += proceeds;
            st.exit_size += closing;
            if contract != Contract::Spot {
                let margin = share(st.margin);
                st.margin -= margin;
                self.cash += margin + pnl;
            }
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
                entry_price: contract.price(c, st.entry_size, st.entry_value).unwrap_or(st.avg_price),
                exit_price: contract.price(c, st.exit_size, st.exit_value).unwrap_or(price),
                pnl: st.pnl,
                commission: st.commission,
            };
            ev.trades.push(trade);
            if flipped {
                // the remainder opens a new round trip at this fill
                let rest = new.abs();
                st.entry_time = Some(ts);
                st.avg_price = price;
                st.cost = contract.value(c, rest, price).unwrap_or(Decimal::ZERO);
                st.entry_value = st.cost;
                st.entry_size = rest;
                if contract != Contract::Spot {
                    let margin = st.cost.checked_div(leverage).unwrap_or(st.cost);
                    st.margin += margin;
                    self.cash -= margin;
                }
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

    fn perp_bar(symbol: &str, day: i64, o: &str, h: &str, l: &str, c: &str) -> Bar {
        let mut b = bar(day, o, h, l, c);
        b.instrument = Instrument::new("test", symbol).unwrap();
        b
    }
    fn perp_broker(cash: &str, taker: &str, leverage: &str, contract: &str) -> Broker {
        Broker::new(BrokerConfig {
            cash: d(cash),
            commission: Commission::Percent { maker: d("0"), taker: d(taker) },
            derivatives: Derivatives { leverage: d(leverage), maintenance_margin: d("0.005"), contract_size: d(contract) },
            ..Default::default()
        })
        .unwrap()
    }
    fn funding(symbol: &str, ts: Ts, rate: &str, mark: Option<&str>) -> tickflow_model::FundingRate {
        tickflow_model::FundingRate {
            instrument: Instrument::new("test", symbol).unwrap(),
            ts,
            rate: tickflow_model::Notional::parse_bytes(rate.as_bytes()).unwrap(),
            mark_price: mark.map(d),
        }
    }
    fn order(symbol: &str, side: OrderSide, size: &str) -> OrderRequest {
        OrderRequest { instrument: Instrument::new("test", symbol).unwrap(), side, size: d(size), kind: OrderKind::Market }
    }

    #[test]
    fn linear_perpetual_long_then_short_across_two_funding_times() {
        // hand-computed: 10 000 USDT, 5x, contract 1 BTC, no commission
        let p = "BTC/USDT:USDT";
        let mut b = perp_broker("10000", "0", "5", "1");
        let mut ev = BrokerEvents::default();
        let b0 = perp_bar(p, 0, "100", "100", "100", "100");
        b.on_bar(&b0, &mut ev);
        b.submit(order(p, OrderSide::Buy, "10"), b0.close_time()).unwrap();
        let b1 = perp_bar(p, 1, "100", "112", "99", "110");
        b.on_bar(&b1, &mut ev);
        // long 10 at 100: margin 10 × 100 ÷ 5 = 200 leaves the cash
        assert_eq!((b.position(&b1.instrument), b.cash()), (d("10"), d("9800")));
        assert_eq!(b.value(), d("10100"), "cash 9800 + margin 200 + unrealized (110 − 100) × 10");
        // funding 1 (mark 110, +0.0001): the long pays 10 × 110 × 0.0001 = 0.11
        b.apply_funding(&funding(p, Ts(b1.open_time.0 + 8 * 3_600_000_000_000), "0.0001", Some("110")), &mut ev);
        assert_eq!(b.cash(), d("9799.89"));
        // flip: sell 20 at 120 → +200 PnL, margin 200 back, short 10 at 120 takes 240
        b.submit(order(p, OrderSide::Sell, "20"), b1.close_time()).unwrap();
        let b2 = perp_bar(p, 2, "120", "121", "114", "115");
        b.on_bar(&b2, &mut ev);
        assert_eq!(b.position(&b2.instrument), d("-10"));
        assert_eq!(b.cash(), d("9959.89"));
        assert_eq!((ev.trades[0].pnl, ev.trades[0].entry_price, ev.trades[0].exit_price), (d("200"), d("100"), d("120")));
        // funding 2 (no mark: the last close 115, +0.0002): the short receives 10 × 115 × 0.0002
        b.apply_funding(&funding(p, Ts(b2.open_time.0 + 8 * 3_600_000_000_000), "0.0002", None), &mut ev);
        assert_eq!(b.cash(), d("9960.12"));
        // the same funding time again changes nothing
        b.apply_funding(&funding(p, Ts(b2.open_time.0 + 8 * 3_600_000_000_000), "0.0002", None), &mut ev);
        assert_eq!(b.cash(), d("9960.12"));
        let b3 = perp_bar(p, 3, "112", "113", "108", "110");
        b.on_bar(&b3, &mut ev);
        assert_eq!(b.value(), d("10300.12"), "10 000 + 200 realized + 100 unrealized − 0.11 + 0.23 funding");
        let paid: Vec<(Decimal, Decimal, Decimal)> = ev.funding.iter().map(|f| (f.position, f.mark, f.payment)).collect();
        assert_eq!(paid, vec![(d("10"), d("110"), d("0.11")), (d("-10"), d("115"), d("-0.23"))]);
    }

    #[test]
    fn inverse_perpetual_settles_in_the_base_currency() {
        // 1 BTC, 2x, contracts of 100 USD: long 100 contracts at 50 000 (0.2 BTC notional)
        let p = "BTC/USD:BTC";
        let mut b = perp_broker("1", "0", "2", "100");
        let mut ev = BrokerEvents::default();
        let b0 = perp_bar(p, 0, "50000", "50000", "50000", "50000");
        b.submit(order(p, OrderSide::Buy, "100"), b0.close_time()).unwrap();
        b.on_bar(&perp_bar(p, 1, "50000", "51000", "45000", "45000"), &mut ev);
        assert_eq!(b.cash(), d("0.9"), "margin 0.2 ÷ 2");
        // notional at mark 40 000 = 10 000 ÷ 40 000 = 0.25 BTC; × 0.0001 = 0.000025 paid
        b.apply_funding(&funding(p, Ts::from_secs(86_400 + 28_800), "0.0001", Some("40000")), &mut ev);
        assert_eq!(b.cash(), d("0.899975"));
        b.submit(order(p, OrderSide::Sell, "100"), Ts::from_secs(2 * 86_400)).unwrap();
        b.on_bar(&perp_bar(p, 2, "40000", "41000", "39000", "40000"), &mut ev);
        // PnL = 10 000 × (1/50 000 − 1/40 000) = −0.05 BTC
        assert_eq!(ev.trades[0].pnl, d("-0.05"));
        assert_eq!((ev.trades[0].entry_price, ev.trades[0].exit_price), (d("50000"), d("40000")));
        assert_eq!((b.cash(), b.value()), (d("0.949975"), d("0.949975")));
    }

    #[test]
    fn a_bar_through_the_liquidation_price_closes_the_position_there() {
        let p = "BTC/USDT:USDT";
        // 10x long 10 at 100: liquidation at 100 × 0.9 ÷ 0.995 = 90.452261306
        let mut b = perp_broker("10000", "0", "10", "1");
        let mut ev = BrokerEvents::default();
        b.submit(order(p, OrderSide::Buy, "10"), Ts::from_secs(86_400)).unwrap();
        b.on_bar(&perp_bar(p, 1, "100", "101", "91", "95"), &mut ev);
        assert!(ev.liquidations.is_empty(), "91 is above the liquidation price");
        b.on_bar(&perp_bar(p, 2, "95", "96", "90", "92"), &mut ev);
        assert_eq!(ev.liquidations.len(), 1);
        assert_eq!((ev.liquidations[0].price, ev.liquidations[0].side), (d("90.452261306"), OrderSide::Sell));
        assert_eq!(b.position(&Instrument::new("test", p).unwrap()), d("0"));
        assert_eq!(b.cash(), d("9904.52261306"), "10 000 − 95.47738694 lost");
        // a short gapped through: filled at the open, not at the better liquidation price
        let mut b = perp_broker("10000", "0.001", "10", "1");
        let mut ev = BrokerEvents::default();
        b.submit(order(p, OrderSide::Sell, "1"), Ts::from_secs(86_400)).unwrap();
        b.on_bar(&perp_bar(p, 1, "100", "101", "99", "100"), &mut ev);
        b.on_bar(&perp_bar(p, 2, "115", "116", "114", "115"), &mut ev); // liquidation at 110.44…
        assert_eq!(ev.liquidations[0].price, d("115"));
        assert_eq!(ev.liquidations[0].commission, d("0.115"));
        // leverage 1: a long cannot be liquidated, even at a price near zero
        let mut b = perp_broker("1000", "0", "1", "1");
        let mut ev = BrokerEvents::default();
        b.submit(order(p, OrderSide::Buy, "10"), Ts::from_secs(86_400)).unwrap();
        b.on_bar(&perp_bar(p, 1, "100", "100", "0.000000001", "1"), &mut ev);
        assert!(ev.liquidations.is_empty());
    }

    #[test]
    fn at_leverage_one_a_linear_perpetual_equals_spot() {
        let prices =
            [("100", "105", "98", "104"), ("104", "110", "103", "109"), ("109", "109", "90", "92"), ("92", "99", "91", "97"), ("97", "120", "96", "118")];
        let run = |symbol: &str| {
            let mut b = perp_broker("1000", "0.001", "1", "1");
            let mut ev = BrokerEvents::default();
            let mut out = Vec::new();
            for (day, (o, h, l, c)) in prices.iter().enumerate() {
                let bar = perp_bar(symbol, day as i64, o, h, l, c);
                b.on_bar(&bar, &mut ev);
                match day {
                    0 => drop(b.submit(order(symbol, OrderSide::Buy, "6"), bar.close_time())),
                    1 => drop(b.submit(order(symbol, OrderSide::Buy, "4"), bar.close_time())), // rejected: beyond cash
                    2 => drop(b.submit(order(symbol, OrderSide::Sell, "2.5"), bar.close_time())),
                    3 => drop(b.submit(order(symbol, OrderSide::Sell, "3.5"), bar.close_time())),
                    _ => {}
                }
                out.push((b.cash(), b.value()));
            }
            let fills: Vec<(Decimal, Decimal, Decimal)> = ev.fills.iter().map(|f| (f.price, f.size, f.commission)).collect();
            let statuses: Vec<OrderStatus> = ev.orders.iter().map(|o| o.status).collect();
            let trades: Vec<(Decimal, Decimal, Decimal)> = ev.trades.iter().map(|t| (t.entry_price, t.exit_price, t.pnl)).collect();
            (out, fills, statuses, trades)
        };
        let (spot, perp) = (run("BTC/USDT"), run("BTC/USDT:USDT"));
        assert!(spot.2.contains(&OrderStatus::Rejected), "{:?}", spot.2);
        assert_eq!(spot.3.len(), 1);
        assert_eq!(perp, spot);
    }

    #[test]
    fn derivative_settings_are_checked() {
        let cfg = |l: &str, mm: &str, c: &str| BrokerConfig {
            derivatives: Derivatives { leverage: d(l), maintenance_margin: d(mm), contract_size: d(c) },
            ..Default::default()
        };
        assert!(Broker::new(cfg("0.5", "0", "1")).is_err());
        assert!(Broker::new(cfg("10", "0.1", "1")).is_err(), "maintenance at the initial margin");
        assert!(Broker::new(cfg("10", "0.05", "0")).is_err());
        assert!(Broker::new(cfg("125", "0.004", "0.001")).is_ok());
    }

    #[test]
    fn bad_orders_are_errors() {
        let mut b = broker("1", "0");
        assert!(b.submit(req(OrderSide::Buy, "0", OrderKind::Market), Ts(0)).is_err());
        assert!(b.submit(req(OrderSide::Buy, "1", OrderKind::Limit { price: d("-1") }), Ts(0)).is_err());
        assert!(b.submit(req(OrderSide::Buy, "1", OrderKind::StopTrail { amount: None, percent: None }), Ts(0)).is_err());
    }
}
