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

impl Summary {
    /// Computes every analyzer.
    pub fn compute(initial: Decimal, equity: &[EquityPoint], trades: &[ClosedTrade], orders: usize) -> Summary {
        let init = initial.to_f64();
        let values: Vec<f64> = equity.iter().map(|e| e.value.to_f64()).collect();
        let final_value = equity.last().map(|e| e.value).unwrap_or(initial);
        let fv = final_value.to_f64();
        let rets: Vec<f64> = std::iter::once(init)
            .chain(values.iter().copied())
            .collect::<Vec<_>>()
            .windows(2)
            .map(|w| if w[0] != 0.0 { w[1] / w[0] - 1.0 } else { 0.0 })
            .collect();
        let span_years = match (equity.first(), equity.last()) {
            (Some(a), Some(b)) if b.ts > a.ts => (b.ts.0 - a.ts.0) as f64 / (365.25 * 86_400e9),
            _ => 0.0,
        };
        let bars_per_year = if span_years > 0.0 { values.len() as f64 / span_years } else { 0.0 };
        let sharpe = if std(&rets, true) > 0.0 { mean(&rets) / std(&rets, true) * bars_per_year.sqrt() } else { 0.0 };
        let downside: Vec<f64> = rets.iter().map(|r| r.min(0.0)).collect();
        let dd = (downside.iter().map(|r| r * r).sum::<f64>() / downside.len().max(1) as f64).sqrt();
        let sortino = if dd > 0.0 { mean(&rets) / dd * bars_per_year.sqrt() } else { 0.0 };
        // drawdown
        let (mut peak, mut max_dd, mut max_dd_pct, mut under, mut max_len) = (init, 0.0f64, 0.0f64, 0usize, 0usize);
        for &v in &values {
            if v >= peak {
                peak = v;
                under = 0;
            } else {
                under += 1;
                max_len = max_len.max(under);
                max_dd = max_dd.max(peak - v);
                max_dd_pct = max_dd_pct.max((peak - v) / peak * 100.0);
            }
        }
        // Backtrader's SharpeRatio: yearly returns, riskfreerate 1%, population std
        let mut yearly = Vec::new();
        let mut prev = init;
        // the year each point belongs to (a close exactly at midnight belongs to the day before)
        let day_ns = 86_400_000_000_000i64;
        let mut cache: (i64, i64) = (i64::MIN, 0);
        let mut year_of = |ts: i64| {
            let day = ts.div_euclid(day_ns) - i64::from(ts.rem_euclid(day_ns) == 0);
            if day != cache.0 {
                cache = (day, tickflow_model::civil_from_days(day).0);
            }
            cache.1
        };
        let years: Vec<i64> = equity.iter().map(|e| year_of(e.ts.0)).collect();
        for (i, e) in equity.iter().enumerate() {
            if years.get(i + 1) != Some(&years[i]) {
                let v = e.value.to_f64();
                yearly.push(v / prev - 1.0);
                prev = v;
            }
        }
        let excess: Vec<f64> = yearly.iter().map(|r| r - 0.01).collect();
        let sharpe_bt = if std(&excess, false) > 0.0 { mean(&excess) / std(&excess, false) } else { 0.0 };
        let net: Vec<f64> = trades.iter().map(|t| t.net_pnl().to_f64()).collect();
        let wins: Vec<f64> = net.iter().copied().filter(|p| *p > 0.0).collect();
        let losses: Vec<f64> = net.iter().copied().filter(|p| *p <= 0.0).collect();
        let gross_loss: f64 = 0.0 - losses.iter().sum::<f64>();
        let tstats = TradeStats {
            count: net.len(),
            won: wins.len(),
            lost: losses.len(),
            win_rate: if net.is_empty() { 0.0 } else { wins.len() as f64 / net.len() as f64 },
            profit_factor: if gross_loss > 0.0 {
                wins.iter().sum::<f64>() / gross_loss
            } else if wins.is_empty() {
                0.0
            } else {
                f64::INFINITY
            },
            avg_win: mean(&wins),
            avg_loss: mean(&losses),
            expectancy: mean(&net),
            sqn: if std(&net, true) > 0.0 { (net.len() as f64).sqrt() * mean(&net) / std(&net, true) } else { 0.0 },
        };
        Summary {
            initial_value: initial.to_string(),
            final_value: final_value.to_string(),
            total_return: if init != 0.0 { fv / init - 1.0 } else { 0.0 },
            annual_return: if span_years > 0.0 && init > 0.0 && fv > 0.0 { (fv / init).powf(1.0 / span_years) - 1.0 } else { 0.0 },
            sharpe,
            sharpe_backtrader: sharpe_bt,
            sortino,
            max_drawdown: max_dd,
            max_drawdown_pct: max_dd_pct,
            max_drawdown_bars: max_len,
            orders,
            trades: tstats,
        }
    }
}
