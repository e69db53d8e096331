//! What `backtest` writes: a run's orders, fills, round trips, equity and summary files, the
//! differential views of a sweep, and the reported run's records to QuestDB and Kafka.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use tickflow_model::{Decimal, OrderKind, Ts};
use tickflow_strategies::RunSpec;

use super::backtest::{BacktestArgs, RunOut, Views};

fn ms(t: Ts) -> i64 {
    t.millis()
}

pub(crate) fn write_run(dir: &Path, r: &RunOut, spec: &RunSpec) -> Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join("orders.csv"))?);
    writeln!(w, "id,symbol,created,updated,side,type,size,price,stop_price,status")?;
    let mut orders = r.orders.clone();
    orders.sort_by_key(|o| o.id);
    for o in &orders {
        let (ty, price, stop) = match o.kind {
            OrderKind::Market => ("market", String::new(), String::new()),
            OrderKind::Limit { price } => ("limit", price.to_string(), String::new()),
            OrderKind::Stop { price } => ("stop", String::new(), price.to_string()),
            OrderKind::StopLimit { stop, limit } => ("stop_limit", limit.to_string(), stop.to_string()),
            OrderKind::StopTrail { .. } => ("stop_trail", String::new(), String::new()),
        };
        let status = serde_json::to_value(o.status)?.as_str().unwrap_or("").to_string();
        writeln!(w, "{},{},{},{},{},{ty},{},{price},{stop},{status}", o.id, o.instrument.symbol(), ms(o.created), ms(o.updated), o.side.as_str(), o.size)?;
    }
    w.flush()?;
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join("fills.csv"))?);
    writeln!(w, "order_id,time,symbol,side,price,size,commission")?;
    for f in &r.fills {
        writeln!(w, "{},{},{},{},{},{},{}", f.order_id, ms(f.ts), f.instrument.symbol(), f.side.as_str(), f.price, f.size, f.commission)?;
    }
    w.flush()?;
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join("trades.csv"))?);
    writeln!(w, "symbol,entry_time,exit_time,side,size,entry_price,exit_price,pnl,commission,net_pnl")?;
    for t in &r.trades {
        let side = if t.side == tickflow_model::OrderSide::Buy { "long" } else { "short" };
        writeln!(
            w,
            "{},{},{},{side},{},{},{},{},{},{}",
            t.instrument.symbol(),
            ms(t.entry_time),
            ms(t.exit_time),
            t.size,
            t.entry_price,
            t.exit_price,
            t.pnl,
            t.commission,
            t.net_pnl()
        )?;
    }
    w.flush()?;
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join("equity.csv"))?);
    writeln!(w, "time,cash,value")?;
    for e in &r.equity {
        writeln!(w, "{},{},{}", ms(e.ts), e.cash, e.value)?;
    }
    w.flush()?;
    let summary = serde_json::json!({
        "strategy": spec.strategy,
        "params": spec.params.values(),
        "summary": r.summary,
        // perpetuals and futures: how margin, liquidation and funding were applied
        "derivatives": spec.broker.derivatives,
        "funding_events": spec.funding.len(),
    });
    let text = serde_json::to_string_pretty(&summary)?.replace(": Infinity", ": null");
    std::fs::write(dir.join("summary.json"), text + "\n")?;
    Ok(())
}

/// Writes a run's orders (final state), fills and equity to QuestDB; a rerun rewrites the same
/// rows (each table deduplicates on its key).
pub(crate) fn store_run(t: &crate::job::QuestDbTarget, r: &RunOut, spec: &RunSpec) -> Result<()> {
    let run_id = crate::sim::run_id(spec);
    let mut sink = tickflow_connectors::questdb::QuestDbSink::connect(&t.conf, t.policy.clone(), crate::telemetry::global().questdb.clone())?;
    for o in &r.orders {
        sink.order(&run_id, o)?;
    }
    for f in &r.fills {
        sink.fill(&run_id, f)?;
    }
    for e in &r.equity {
        sink.equity(&run_id, e.ts.0, e.cash.to_f64(), e.value.to_f64())?;
    }
    sink.flush()?;
    println!("questdb            {} orders, {} fills, {} equity points as run {run_id:?}", r.orders.len(), r.fills.len(), r.equity.len());
    Ok(())
}

/// Publishes a run's orders, fills and equity (versioned records, keyed by run).
pub(crate) fn publish_run(a: &BacktestArgs, r: &RunOut, spec: &RunSpec) -> Result<()> {
    use tickflow_connectors::kafka::{EQUITY_SCHEMA, FILL_SCHEMA, ORDER_SCHEMA};
    use tickflow_model::{EquityRecord, RunRecord, RECORD_VERSION};
    let run_id = crate::sim::run_id(spec);
    let topics = a.kafka.topics();
    let mut sink = tickflow_connectors::kafka::KafkaSink::new(&a.kafka.config()?, "tickflow-backtest")?;
    let mut orders = r.orders.clone();
    orders.sort_by_key(|o| o.id);
    for o in &orders {
        sink.send_json(&topics.name("orders"), &format!("{run_id}:{}", o.id), &RunRecord::new(&run_id, *o), o.updated.millis(), ORDER_SCHEMA)?;
    }
    for f in &r.fills {
        sink.send_json(&topics.name("fills"), &format!("{run_id}:{}:{}", f.order_id, f.ts.0), &RunRecord::new(&run_id, *f), f.ts.millis(), FILL_SCHEMA)?;
    }
    for e in &r.equity {
        let record = EquityRecord { v: RECORD_VERSION, run: run_id.clone(), ts: e.ts.0, cash: e.cash, value: e.value };
        sink.send_json(&topics.name("equity"), &run_id, &record, e.ts.millis(), EQUITY_SCHEMA)?;
    }
    sink.flush(std::time::Duration::from_secs(60))?;
    println!(
        "published          {} orders, {} fills, {} equity points to {}.orders/.fills/.equity",
        orders.len(),
        r.fills.len(),
        r.equity.len(),
        a.kafka.namespace
    );
    Ok(())
}

pub(crate) fn write_views(dir: &Path, views: &Views) -> Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join("leaderboard_live.csv"))?);
    writeln!(w, "rank,run,value")?;
    for ((rank, run, v), n) in &views.leaderboard {
        if *n > 0 {
            writeln!(w, "{rank},{run},{}", Decimal::from_mantissa(*v as i128 * tickflow_strategies::MICROS))?;
        }
    }
    w.flush()?;
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join("fill_totals.csv"))?);
    writeln!(w, "run,symbol,fills,notional")?;
    for ((run, inst), (n, notional)) in &views.fills {
        if *n != 0 {
            writeln!(w, "{run},{},{n},{}", inst.symbol(), Decimal::from_mantissa(*notional as i128 * tickflow_strategies::MICROS))?;
        }
    }
    w.flush()?;
    Ok(())
}
