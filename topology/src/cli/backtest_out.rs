//! What `backtest` writes: a run's orders, fills, round trips, equity and summary files, the
//! differential views of a sweep, and the reported run's records to QuestDB and Kafka.

use std::path::Path;

use anyhow::Result;
use tickflow_connectors::{Cell, ColType, TableFormat, TableWriter};
use tickflow_model::{Decimal, OrderKind};
use tickflow_strategies::RunSpec;

use super::backtest::{BacktestArgs, RunOut, Views};

/// A table of the run's output directory in the chosen format (`<name>.csv` or `.parquet`).
fn table(dir: &Path, name: &str, format: TableFormat, cols: &[(&str, ColType)]) -> Result<TableWriter> {
    let path = dir.join(format!("{name}.{}", format.extension()));
    Ok(TableWriter::create(&path.to_string_lossy(), format, cols)?)
}

fn dec_or_null(d: Option<Decimal>) -> Cell {
    d.map(Cell::Dec).unwrap_or(Cell::Null)
}

pub(crate) fn write_run(dir: &Path, r: &RunOut, spec: &RunSpec, format: TableFormat) -> Result<()> {
    use ColType::{Dec, Int, Str, TimeMs};
    let cols = [
        ("id", Int),
        ("symbol", Str),
        ("created", TimeMs),
        ("updated", TimeMs),
        ("side", Str),
        ("type", Str),
        ("size", Dec),
        ("price", Dec),
        ("stop_price", Dec),
        ("status", Str),
    ];
    let mut w = table(dir, "orders", format, &cols)?;
    let mut orders = r.orders.clone();
    orders.sort_by_key(|o| o.id);
    for o in &orders {
        let (ty, price, stop) = match o.kind {
            OrderKind::Market => ("market", None, None),
            OrderKind::Limit { price } => ("limit", Some(price), None),
            OrderKind::Stop { price } => ("stop", None, Some(price)),
            OrderKind::StopLimit { stop, limit } => ("stop_limit", Some(limit), Some(stop)),
            OrderKind::StopTrail { .. } => ("stop_trail", None, None),
        };
        let status = serde_json::to_value(o.status)?.as_str().unwrap_or("").to_string();
        w.row(&[
            Cell::Int(o.id as i64),
            Cell::Str(o.instrument.symbol().into()),
            Cell::Time(o.created),
            Cell::Time(o.updated),
            Cell::Str(o.side.as_str().into()),
            Cell::Str(ty.into()),
            Cell::Dec(o.size),
            dec_or_null(price),
            dec_or_null(stop),
            Cell::Str(status),
        ])?;
    }
    w.finish()?;
    let cols = [("order_id", Int), ("time", TimeMs), ("symbol", Str), ("side", Str), ("price", Dec), ("size", Dec), ("commission", Dec)];
    let mut w = table(dir, "fills", format, &cols)?;
    for f in &r.fills {
        w.row(&[
            Cell::Int(f.order_id as i64),
            Cell::Time(f.ts),
            Cell::Str(f.instrument.symbol().into()),
            Cell::Str(f.side.as_str().into()),
            Cell::Dec(f.price),
            Cell::Dec(f.size),
            Cell::Dec(f.commission),
        ])?;
    }
    w.finish()?;
    let cols = [
        ("symbol", Str),
        ("entry_time", TimeMs),
        ("exit_time", TimeMs),
        ("side", Str),
        ("size", Dec),
        ("entry_price", Dec),
        ("exit_price", Dec),
        ("pnl", Dec),
        ("commission", Dec),
        ("net_pnl", Dec),
    ];
    let mut w = table(dir, "trades", format, &cols)?;
    for t in &r.trades {
        let side = if t.side == tickflow_model::OrderSide::Buy { "long" } else { "short" };
        w.row(&[
            Cell::Str(t.instrument.symbol().into()),
            Cell::Time(t.entry_time),
            Cell::Time(t.exit_time),
            Cell::Str(side.into()),
            Cell::Dec(t.size),
            Cell::Dec(t.entry_price),
            Cell::Dec(t.exit_price),
            Cell::Dec(t.pnl),
            Cell::Dec(t.commission),
            Cell::Dec(t.net_pnl()),
        ])?;
    }
    w.finish()?;
    let mut w = table(dir, "equity", format, &[("time", TimeMs), ("cash", Dec), ("value", Dec)])?;
    for e in &r.equity {
        w.row(&[Cell::Time(e.ts), Cell::Dec(e.cash), Cell::Dec(e.value)])?;
    }
    w.finish()?;
    if !spec.funding.is_empty() {
        // one row per payment: the position held at the funding time, the mark and rate used,
        // and what the account paid (negative: received), in the settle currency
        // (the rate as text: exact to its 18 decimals)
        let cols = [("time", TimeMs), ("symbol", Str), ("position", Dec), ("mark", Dec), ("rate", Str), ("payment", Dec)];
        let mut w = table(dir, "funding", format, &cols)?;
        for f in &r.funding {
            let row = [
                Cell::Time(f.ts),
                Cell::Str(f.instrument.symbol().into()),
                Cell::Dec(f.position),
                Cell::Dec(f.mark),
                Cell::Str(f.rate.to_string()),
                Cell::Dec(f.payment),
            ];
            w.row(&row)?;
        }
        w.finish()?;
    }
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

pub(crate) fn write_views(dir: &Path, views: &Views, format: TableFormat) -> Result<()> {
    use ColType::{Dec, Int, Str};
    let micros = |v: i64| Cell::Dec(Decimal::from_mantissa(v as i128 * tickflow_strategies::MICROS));
    let mut w = table(dir, "leaderboard_live", format, &[("rank", Int), ("run", Int), ("value", Dec)])?;
    for ((rank, run, v), n) in &views.leaderboard {
        if *n > 0 {
            w.row(&[Cell::Int(*rank as i64), Cell::Int(*run as i64), micros(*v)])?;
        }
    }
    w.finish()?;
    let mut w = table(dir, "fill_totals", format, &[("run", Int), ("symbol", Str), ("fills", Int), ("notional", Dec)])?;
    for ((run, inst), (n, notional)) in &views.fills {
        if *n != 0 {
            w.row(&[Cell::Int(*run as i64), Cell::Str(inst.symbol().into()), Cell::Int(*n as i64), micros(*notional as i64)])?;
        }
    }
    w.finish()?;
    Ok(())
}
