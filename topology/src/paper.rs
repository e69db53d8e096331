//! Paper trading: strategies on the bars of a running topology — live, a replay or files —
//! with the same strategy, broker and sizer code as `backtest`.
//!
//! `aggregate`/`replay`/`run` with `--strategy` (`[strategy]`) feed the bars of the strategy's
//! timeframe (first emissions only: a strategy acts once per window, as live) to the backtest
//! stage. Its events go, in a deterministic order (gathered on worker 0, sorted by run), to the
//! events file (JSON lines), to QuestDB (orders, fills, equity) and to Kafka (`publish`:
//! `<namespace>.orders`, `.fills`, `.equity`). Given the same bars, the orders and fills are
//! those of `backtest` on the same bars — at any replay speed and worker count.

use std::sync::Arc;

use anyhow::{Context, Result};
use tickflow_connectors::kafka::{KafkaConfig, Topics};
use tickflow_model::Timeframe;
use tickflow_strategies::RunSpec;

use crate::config::StrategySection;

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
    pub publish: Option<(KafkaConfig, [String; 3])>,
}

impl PaperJob {
    /// Validates `[strategy]` against the aggregation's `timeframes`; `kafka` gives the client and
    /// topic names when the events are published.
    pub fn resolve(st: &StrategySection, timeframes: &[Timeframe], kafka: impl FnOnce() -> Result<(KafkaConfig, Topics)>) -> Result<PaperJob> {
        let sim = crate::sim::SimSettings {
            cash: &st.cash,
            commission: &st.commission,
            maker_commission: None,
            commission_fixed: None,
            slippage: st.slippage.as_deref(),
            sizer: &st.sizer,
            cheat_on_close: false,
            derivatives: crate::sim::derivatives(st.leverage.as_deref(), st.maintenance_margin.as_deref(), st.contract_size.as_deref())?,
            funding: crate::sim::funding(st.funding.as_deref())?,
        };
        let runs = sim.runs(&st.name, &st.params)?;
        let timeframe = match &st.timeframe {
            Some(t) => {
                let tf: Timeframe = t.parse().map_err(|e| anyhow::anyhow!("--strategy-timeframe {t}: {e}"))?;
                anyhow::ensure!(timeframes.contains(&tf), "--strategy-timeframe {t} is not among --timeframes");
                tf
            }
            None => *timeframes.first().context("no timeframes")?,
        };
        let publish = match st.publish {
            true => {
                let (cfg, t) = kafka()?;
                Some((cfg, [t.name("orders"), t.name("fills"), t.name("equity")]))
            }
            false => None,
        };
        let run_ids = runs.iter().map(crate::sim::run_id).collect();
        Ok(PaperJob { runs: Arc::new(runs), run_ids: Arc::new(run_ids), timeframe, events_out: st.events_file.clone(), publish })
    }
}
