//! The simulated account of a strategy run — cash, commission, slippage, sizer — and the id a
//! run's records carry. Shared by `backtest` and paper trading; depends on no command.

use anyhow::{anyhow, bail, Result};
use tickflow_model::Decimal;
use tickflow_operators::broker::{BrokerConfig, Commission, Derivatives, Slippage};
use tickflow_strategies::{expand_sweep, RunSpec, Sizer};

/// Broker and sizer settings as text (from flags or a topology file), validated by [`Self::runs`].
#[derive(Clone, Debug, PartialEq)]
pub struct SimSettings<'a> {
    /// Starting cash.
    pub cash: &'a str,
    /// Taker commission, a fraction of value (also maker unless `maker_commission`).
    pub commission: &'a str,
    /// Maker commission.
    pub maker_commission: Option<&'a str>,
    /// Fixed commission per order instead of a fraction.
    pub commission_fixed: Option<&'a str>,
    /// `percent:P` or `fixed:X`.
    pub slippage: Option<&'a str>,
    /// `fixed:N`, `percent:P` or `all-in`.
    pub sizer: &'a str,
    /// Fill market orders at the signal bar's close.
    pub cheat_on_close: bool,
    /// Perpetuals and futures: leverage, maintenance margin rate, contract size.
    pub derivatives: Derivatives,
    /// Funding events applied to open perpetual positions.
    pub funding: std::sync::Arc<Vec<tickflow_model::FundingRate>>,
}

/// The derivatives settings from their flag texts (each `None`: the default).
pub fn derivatives(leverage: Option<&str>, maintenance_margin: Option<&str>, contract_size: Option<&str>) -> Result<Derivatives> {
    let d = Derivatives::default();
    let parse = |v: Option<&str>, flag: &str, default: tickflow_model::Decimal| -> Result<tickflow_model::Decimal> {
        v.map_or(Ok(default), |t| t.parse().map_err(|e| anyhow::anyhow!("{flag} {t:?}: {e}")))
    };
    Ok(Derivatives {
        leverage: parse(leverage, "--leverage", d.leverage)?,
        maintenance_margin: parse(maintenance_margin, "--maintenance-margin", d.maintenance_margin)?,
        contract_size: parse(contract_size, "--contract-size", d.contract_size)?,
    })
}

/// The funding events of `file` (none without one).
pub fn funding(file: Option<&str>) -> Result<std::sync::Arc<Vec<tickflow_model::FundingRate>>> {
    Ok(std::sync::Arc::new(match file {
        Some(f) => tickflow_connectors::read_funding(f).map_err(|e| anyhow::anyhow!("--funding {f}: {e}"))?,
        None => Vec::new(),
    }))
}

fn dec(s: &str, what: &str) -> Result<Decimal> {
    s.parse::<Decimal>().map_err(|e| anyhow!("--{what}: {e}"))
}

impl SimSettings<'_> {
    /// One run per point of the parameter grid, validated (the strategy is built once per run).
    pub fn runs(&self, strategy: &str, params: &[String]) -> Result<Vec<RunSpec>> {
        let cash = dec(self.cash, "cash")?;
        if cash <= Decimal::ZERO {
            bail!("--cash must be positive");
        }
        let taker = dec(self.commission, "commission")?;
        let maker = self.maker_commission.map(|m| dec(m, "maker-commission")).transpose()?.unwrap_or(taker);
        if taker.is_negative() || maker.is_negative() || taker >= Decimal::ONE {
            bail!("--commission is a fraction of value between 0 and 1, e.g. 0.001");
        }
        let commission = match self.commission_fixed {
            Some(f) => Commission::Fixed(dec(f, "commission-fixed")?),
            None => Commission::Percent { maker, taker },
        };
        let slippage = match self.slippage {
            None => Slippage::None,
            Some(s) => match s.split_once(':') {
                Some(("percent", p)) => Slippage::Percent(dec(p, "slippage")?),
                Some(("fixed", x)) => Slippage::Fixed(dec(x, "slippage")?),
                _ => bail!("--slippage: use percent:P or fixed:X"),
            },
        };
        let sizer: Sizer = self.sizer.parse()?;
        let broker = BrokerConfig { cash, commission, slippage, cheat_on_close: self.cheat_on_close, derivatives: self.derivatives };
        tickflow_operators::broker::Broker::new(broker).map_err(|e| anyhow!("{e}"))?;
        let grid = expand_sweep(params)?;
        let runs: Vec<RunSpec> =
            grid.into_iter().map(|params| RunSpec { strategy: strategy.to_string(), params, broker, sizer, funding: self.funding.clone() }).collect();
        for r in &runs {
            tickflow_strategies::build(&r.strategy, &r.params)?;
        }
        Ok(runs)
    }
}

/// The id a run's records carry: strategy and parameters, e.g. `sma_cross fast=10 slow=30`.
pub fn run_id(spec: &RunSpec) -> String {
    let params: Vec<String> = spec.params.values().iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{} {}", spec.strategy, params.join(" ")).trim().to_string()
}
