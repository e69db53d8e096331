//! Paper trading: strategies on the bars of a running topology — live, a replay or files —
//! with the same strategy, broker and sizer code as `backtest`.
//!
//! `aggregate`/`replay`/`run` with `--strategy` feed the bars of `--strategy-timeframe` (first
//! emissions only: a strategy acts once per window, as live) to the backtest stage. Its events
//! go, in a deterministic order (gathered on worker 0, sorted by run), to `--events-out` (JSON
//! lines), to QuestDB (`--questdb`: orders, fills, equity) and to Kafka (`--publish`:
//! `<namespace>.orders`, `.fills`, `.equity`). Given the same bars, the orders and fills are
//! those of `backtest` on the same bars — at any replay speed and worker count.

use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use tickflow_model::Timeframe;
use tickflow_strategies::RunSpec;

/// Paper-trading flags of `aggregate` / `replay`.
#[derive(Args, Clone, Debug, Default)]
pub struct PaperArgs {
    /// Paper-trade this strategy on the bars as they close: sma_cross, rsi_reversion,
    /// bollinger_breakout, macd_trend, bracket_cross.
    #[arg(long)]
    pub strategy: Option<String>,
    /// Strategy parameter (repeatable), e.g. fast=10; a sweep (fast=5..50:5) runs every point.
    #[arg(long = "param", requires = "strategy")]
    pub params: Vec<String>,
    /// The bar timeframe the strategy trades (default: the first of --timeframes).
    #[arg(long, requires = "strategy")]
    pub strategy_timeframe: Option<String>,
    /// Starting cash of the simulated account.
    #[arg(long, default_value = "100000")]
    pub cash: String,
    /// Commission as a fraction of traded value.
    #[arg(long, default_value = "0")]
    pub commission: String,
    /// Slippage: percent:P or fixed:X.
    #[arg(long)]
    pub slippage: Option<String>,
    /// Sizer: fixed:N, percent:P (of cash) or all-in.
    #[arg(long, default_value = "percent:95")]
    pub sizer: String,
    /// Write the strategy events (orders, fills, round trips, equity, summaries) as JSON lines.
    #[arg(long, requires = "strategy")]
    pub events_out: Option<String>,
    /// Publish orders, fills and equity to `<namespace>.orders`, `.fills`, `.equity`.
    #[arg(long, requires = "strategy")]
    pub publish: bool,
}

/// A resolved paper-trading setup.
#[derive(Clone, Debug)]
pub struct PaperJob {
    /// The runs (one, or a sweep).
    pub runs: Arc<Vec<RunSpec>>,
    /// Run ids (strategy and parameters), by run index.
    pub run_ids: Arc<Vec<String>>,
    /// The traded timeframe.
    pub timeframe: Timeframe,
    /// JSON-lines event file.
    pub events_out: Option<String>,
    /// Kafka client and the orders/fills/equity topic names.
    pub publish: Option<(tickflow_connectors::kafka::KafkaConfig, [String; 3])>,
}

impl PaperArgs {
    /// The job, when `--strategy` is given; `timeframes` are the aggregation's.
    pub fn job(&self, timeframes: &[Timeframe], brokers: &crate::kafka_cmd::BrokerArgs) -> Result<Option<PaperJob>> {
        let Some(strategy) = &self.strategy else { return Ok(None) };
        let sim = crate::backtest_cmd::SimFlags {
            cash: &self.cash,
            commission: &self.commission,
            maker_commission: None,
            commission_fixed: None,
            slippage: self.slippage.as_deref(),
            sizer: &self.sizer,
            cheat_on_close: false,
        };
        let runs = sim.runs(strategy, &self.params)?;
        let timeframe = match &self.strategy_timeframe {
            Some(t) => {
                let tf: Timeframe = t.parse().map_err(|e| anyhow::anyhow!("--strategy-timeframe {t}: {e}"))?;
                anyhow::ensure!(timeframes.contains(&tf), "--strategy-timeframe {t} is not among --timeframes");
                tf
            }
            None => *timeframes.first().context("no timeframes")?,
        };
        let publish = match self.publish {
            true => {
                let t = brokers.topics();
                Some((brokers.config()?, [t.name("orders"), t.name("fills"), t.name("equity")]))
            }
            false => None,
        };
        let run_ids = runs.iter().map(crate::backtest_cmd::run_id).collect();
        Ok(Some(PaperJob { runs: Arc::new(runs), run_ids: Arc::new(run_ids), timeframe, events_out: self.events_out.clone(), publish }))
    }
}
