//! Analyzers: returns, Sharpe (plain and Backtrader's), Sortino, drawdown, trade statistics, SQN.

use serde::{Deserialize, Serialize};
use tickflow_model::{ClosedTrade, Decimal};

use crate::EquityPoint;

/// Trade statistics (net of commissions).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TradeStats {
    /// Closed round trips.
    pub count: usize,
    /// Winners (net pnl > 0).
    pub won: usize,
    /// Losers (net pnl ≤ 0).
    pub lost: usize,
    /// won / count.
    pub win_rate: f64,
    /// Gross profit / gross loss (∞ without losses).
    pub profit_factor: f64,
    /// Mean net pnl of winners.
    pub avg_win: f64,
    /// Mean net pnl of losers.
    pub avg_loss: f64,
    /// Mean net pnl per trade.
    pub expectancy: f64,
    /// Van Tharp's system quality number: √n · mean / sample std of net pnl.
    pub sqn: f64,
}

/// Summary of a backtest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Starting cash.
    pub initial_value: String,
    /// Value after the last bar (exact decimal).
    pub final_value: String,
    /// final / initial − 1.
    pub total_return: f64,
    /// Annualized return (compounded over the span of the equity curve).
    pub annual_return: f64,
    /// Annualized Sharpe of per-bar returns (risk-free 0, √(bars per year)).
    pub sharpe: f64,
    /// Backtrader's `SharpeRatio` (yearly returns, risk-free 1%, population deviation).
    pub sharpe_backtrader: f64,
    /// Annualized Sortino of per-bar returns.
    pub sortino: f64,
    /// Largest peak-to-trough loss in money.
    pub max_drawdown: f64,
    /// Largest peak-to-trough loss in percent of the peak.
    pub max_drawdown_pct: f64,
    /// Longest time under water, in bars.
    pub max_drawdown_bars: usize,
    /// Orders (any final status).
    pub orders: usize,
    /// Trade statistics.
    pub trades: TradeStats,
    /// Perpetuals: funding paid over the run (negative: received), exact decimal.
    #[serde(default)]
    pub funding_paid: String,
    /// Perpetuals and futures: positions liquidated.
    #[serde(default)]
    pub liquidations: u64,
}

fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        0.0
    } else {
        x.iter().sum::<f64>() / x.len() as f64 + 0.0
    }
}

fn std(x: &[f64], bessel: bool) -> f64 {
    let n = x.len();
    if n < 2 {
        return 0.0;
    }
    let m = mean(x);
    let ss: f64 = x.iter().map(|v| (v - m).powi(2)).sum();
    (ss / if bessel { (n - 1) as f64 } else { n as f64 }).sqrt()
}

/// Equity-curve statistics folded one point at a time (no history kept).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EquityStats {
    init: f64,
    prev: f64,
    n: usize,
    // Welford over per-bar returns
    mean: f64,
    m2: f64,
    down_sq: f64,
    first_ts: Option<i64>,
    last_ts: i64,
    last_value: Option<Decimal>,
    peak: f64,
    max_dd: f64,
    max_dd_pct: f64,
    under: usize,
    max_len: usize,
    // Backtrader's yearly returns
    year: Option<i64>,
    year_start: f64,
    year_last: f64,
    yearly: Vec<f64>,
    day_cache: (i64, i64),
}

impl EquityStats {
    /// Starting from `initial` cash.
    pub fn new(initial: Decimal) -> Self {
        let i = initial.to_f64();
        EquityStats {
            init: i,
            prev: i,
            n: 0,
            mean: 0.0,
            m2: 0.0,
            down_sq: 0.0,
            first_ts: None,
            last_ts: 0,
            last_value: None,
            peak: i,
            max_dd: 0.0,
            max_dd_pct: 0.0,
            under: 0,
            max_len: 0,
            year: None,
            year_start: i,
            year_last: i,
            yearly: Vec::new(),
            day_cache: (i64::MIN, 0),
        }
    }

    fn year_of(&mut self, ts: i64) -> i64 {
        // a close exactly at midnight belongs to the day before
        let day_ns = 86_400_000_000_000i64;
        let day = ts.div_euclid(day_ns) - i64::from(ts.rem_euclid(day_ns) == 0);
        if day != self.day_cache.0 {
            self.day_cache = (day, tickflow_model::civil_from_days(day).0);
        }
        self.day_cache.1
    }

    /// Folds the next equity point.
    pub fn push(&mut self, p: &EquityPoint) {
        let v = p.value.to_f64();
        let r = if self.prev != 0.0 { v / self.prev - 1.0 } else { 0.0 };
        self.prev = v;
        self.n += 1;
        let d = r - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (r - self.mean);
        self.down_sq += r.min(0.0).powi(2);
        self.first_ts.get_or_insert(p.ts.0);
        self.last_ts = p.ts.0;
        self.last_value = Some(p.value);
        if v >= self.peak {
            self.peak = v;
            self.under = 0;
        } else {
            self.under += 1;
            self.max_len = self.max_len.max(self.under);
            self.max_dd = self.max_dd.max(self.peak - v);
            self.max_dd_pct = self.max_dd_pct.max((self.peak - v) / self.peak * 100.0);
        }
        let y = self.year_of(p.ts.0);
        match self.year {
            Some(cur) if cur != y => {
                self.yearly.push(self.year_last / self.year_start - 1.0);
                self.year_start = self.year_last;
            }
            _ => {}
        }
        self.year = Some(y);
        self.year_last = v;
    }

    /// The summary, given the closed trades and the number of orders.
    pub fn summary(&self, initial: Decimal, trades: &[ClosedTrade], orders: usize) -> Summary {
        let init = self.init;
        let final_value = self.last_value.unwrap_or(initial);
        let fv = final_value.to_f64();
        let span_years = match self.first_ts {
            Some(a) if self.last_ts > a => (self.last_ts - a) as f64 / (365.25 * 86_400e9),
            _ => 0.0,
        };
        let bars_per_year = if span_years > 0.0 { self.n as f64 / span_years } else { 0.0 };
        let sd = if self.n > 1 { (self.m2 / (self.n - 1) as f64).sqrt() } else { 0.0 };
        let sharpe = if sd > 0.0 { self.mean / sd * bars_per_year.sqrt() } else { 0.0 };
        let dd = (self.down_sq / self.n.max(1) as f64).sqrt();
        let sortino = if dd > 0.0 { self.mean / dd * bars_per_year.sqrt() } else { 0.0 };
        let mut yearly = self.yearly.clone();
        if self.year.is_some() {
            yearly.push(self.year_last / self.year_start - 1.0);
        }
        let excess: Vec<f64> = yearly.iter().map(|r| r - 0.01).collect();
        let sharpe_bt = if std(&excess, false) > 0.0 { mean(&excess) / std(&excess, false) } else { 0.0 };
        Summary {
            initial_value: initial.to_string(),
            final_value: final_value.to_string(),
            total_return: if init != 0.0 { fv / init - 1.0 } else { 0.0 },
            annual_return: if span_years > 0.0 && init > 0.0 && fv > 0.0 { (fv / init).powf(1.0 / span_years) - 1.0 } else { 0.0 },
            sharpe,
            sharpe_backtrader: sharpe_bt,
            sortino,
            max_drawdown: self.max_dd,
            max_drawdown_pct: self.max_dd_pct,
            max_drawdown_bars: self.max_len,
            orders,
            trades: TradeStats::compute(trades),
            funding_paid: "0".into(),
            liquidations: 0,
        }
    }
}

impl TradeStats {
    /// Statistics of closed trades (net of commissions).
    pub fn compute(trades: &[ClosedTrade]) -> TradeStats {
        let net: Vec<f64> = trades.iter().map(|t| t.net_pnl().to_f64()).collect();
        let wins: Vec<f64> = net.iter().copied().filter(|p| *p > 0.0).collect();
        let losses: Vec<f64> = net.iter().copied().filter(|p| *p <= 0.0).collect();
        let gross_loss: f64 = 0.0 - losses.iter().sum::<f64>();
        TradeStats {
            count: net.len(),
            won: wins.len(),
            lost: losses.len(),
            win_rate: if net.is_empty() { 0.0 } else { wins.len() as f64 / net.len() as f64 },
            profit_factor: if gross_loss > 0.0 {
                wins.iter().sum::<f64>() / gross_loss + 0.0
            } else if wins.is_empty() {
                0.0
            } else {
                f64::INFINITY
            },
            avg_win: mean(&wins),
            avg_loss: mean(&losses),
            expectancy: mean(&net),
            sqn: if std(&net, true) > 0.0 { (net.len() as f64).sqrt() * mean(&net) / std(&net, true) } else { 0.0 },
        }
    }
}

impl Summary {
    /// Computes every analyzer over a whole equity curve.
    pub fn compute(initial: Decimal, equity: &[EquityPoint], trades: &[ClosedTrade], orders: usize) -> Summary {
        let mut st = EquityStats::new(initial);
        for p in equity {
            st.push(p);
        }
        st.summary(initial, trades, orders)
    }
}
