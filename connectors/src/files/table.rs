//! Tables of typed columns written as CSV or Parquet (a backtest's orders, fills, round trips,
//! equity and leaderboards): one column list, two formats that cannot disagree.
//!
//! | column type | CSV | Parquet |
//! |---|---|---|
//! | [`ColType::Str`] | as is | `Utf8` |
//! | [`ColType::Int`] | decimal | `Int64` |
//! | [`ColType::Dec`] | exact decimal | `Decimal128(38, 9)` |
//! | [`ColType::Float`] | Rust's shortest text | `Float64` |
//! | [`ColType::TimeMs`] | epoch milliseconds | `Timestamp(ns, "UTC")` |
//!
//! Every Parquet column is nullable; an empty CSV field is a null.

use std::io::{BufWriter, Write};
use std::sync::Arc;

use arrow_array::builder::{ArrayBuilder, Decimal128Builder, Float64Builder, Int64Builder, StringBuilder, TimestampNanosecondBuilder};
use arrow_array::ArrayRef;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use tickflow_model::{Decimal, Ts};

use super::parquet::{dec_value, decimal, utc_ns, Out};
use crate::ConnectorError;

/// A column's type.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ColType {
    /// Text.
    Str,
    /// A signed integer.
    Int,
    /// An exact decimal.
    Dec,
    /// A float (analytics: ratios, returns).
    Float,
    /// A time (CSV: epoch milliseconds).
    TimeMs,
}

/// One value of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Text.
    Str(String),
    /// Integer.
    Int(i64),
    /// Exact decimal.
    Dec(Decimal),
    /// Float.
    Float(f64),
    /// Time.
    Time(Ts),
    /// No value.
    Null,
}

/// Output format of a [`TableWriter`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TableFormat {
    /// CSV with a header.
    Csv,
    /// Parquet.
    Parquet,
}

impl TableFormat {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            TableFormat::Csv => "csv",
            TableFormat::Parquet => "parquet",
        }
    }
}

impl std::str::FromStr for TableFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "csv" => Ok(TableFormat::Csv),
            "parquet" => Ok(TableFormat::Parquet),
            _ => Err(format!("{s:?}: use csv or parquet")),
        }
    }
}

enum Sink {
    Csv(BufWriter<std::fs::File>),
    Parquet { out: Box<Out>, schema: SchemaRef, builders: Vec<Box<dyn ArrayBuilder>> },
}

/// Writes rows of typed columns to a CSV or Parquet file; call [`finish`](Self::finish).
pub struct TableWriter {
    name: String,
    types: Vec<ColType>,
    sink: Sink,
}

impl TableWriter {
    /// Creates `path` with the columns `cols` in `format`.
    pub fn create(path: &str, format: TableFormat, cols: &[(&str, ColType)]) -> Result<Self, ConnectorError> {
        let types: Vec<ColType> = cols.iter().map(|(_, t)| *t).collect();
        let sink = match format {
            TableFormat::Csv => {
                let f = std::fs::File::create(path).map_err(|e| ConnectorError::io(path, e))?;
                let mut w = BufWriter::new(f);
                let header: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
                writeln!(w, "{}", header.join(",")).map_err(|e| ConnectorError::io(path, e))?;
                Sink::Csv(w)
            }
            TableFormat::Parquet => {
                let fields: Vec<Field> = cols
                    .iter()
                    .map(|(n, t)| {
                        let dt = match t {
                            ColType::Str => DataType::Utf8,
                            ColType::Int => DataType::Int64,
                            ColType::Dec => decimal(38, 9),
                            ColType::Float => DataType::Float64,
                            ColType::TimeMs => utc_ns(),
                        };
                        Field::new(*n, dt, true)
                    })
                    .collect();
                let schema: SchemaRef = Arc::new(Schema::new(fields));
                let builders = types.iter().map(|t| builder(*t)).collect();
                Sink::Parquet { out: Box::new(Out::create(path, schema.clone())?), schema, builders }
            }
        };
        Ok(TableWriter { name: path.to_string(), types, sink })
    }

    /// Writes one row (one cell per column, of the column's type or null).
    pub fn row(&mut self, cells: &[Cell]) -> Result<(), ConnectorError> {
        if cells.len() != self.types.len() {
            return Err(ConnectorError::Header {
                path: self.name.clone(),
                message: format!("a row of {} cells for {} columns", cells.len(), self.types.len()),
            });
        }
        match &mut self.sink {
            Sink::Csv(w) => {
                let text: Vec<String> = cells
                    .iter()
                    .map(|c| match c {
                        Cell::Str(s) => s.clone(),
                        Cell::Int(i) => i.to_string(),
                        Cell::Dec(d) => d.to_string(),
                        Cell::Float(f) => f.to_string(),
                        Cell::Time(t) => t.millis().to_string(),
                        Cell::Null => String::new(),
                    })
                    .collect();
                writeln!(w, "{}", text.join(",")).map_err(|e| ConnectorError::io(&self.name, e))
            }
            Sink::Parquet { builders, .. } => {
                for ((b, t), c) in builders.iter_mut().zip(&self.types).zip(cells) {
                    append(b.as_mut(), *t, c, &self.name)?;
                }
                Ok(())
            }
        }
    }

    /// Flushes; a Parquet file gets its footer and is published.
    pub fn finish(&mut self) -> Result<(), ConnectorError> {
        match &mut self.sink {
            Sink::Csv(w) => w.flush().map_err(|e| ConnectorError::io(&self.name, e)),
            Sink::Parquet { out, schema, builders } => {
                let cols: Vec<ArrayRef> = builders.iter_mut().map(|b| b.finish()).collect();
                out.write(schema, cols)?;
                out.finish()
            }
        }
    }
}

fn builder(t: ColType) -> Box<dyn ArrayBuilder> {
    match t {
        ColType::Str => Box::new(StringBuilder::new()),
        ColType::Int => Box::new(Int64Builder::new()),
        ColType::Dec => Box::new(Decimal128Builder::new().with_data_type(decimal(38, 9))),
        ColType::Float => Box::new(Float64Builder::new()),
        ColType::TimeMs => Box::new(TimestampNanosecondBuilder::new().with_timezone("UTC")),
    }
}

fn append(b: &mut dyn ArrayBuilder, t: ColType, c: &Cell, name: &str) -> Result<(), ConnectorError> {
    let wrong = || ConnectorError::Header { path: name.into(), message: format!("a {c:?} cell in a {t:?} column") };
    let any = b.as_any_mut();
    match t {
        ColType::Str => {
            let b = any.downcast_mut::<StringBuilder>().ok_or_else(wrong)?;
            match c {
                Cell::Str(s) => b.append_value(s),
                Cell::Null => b.append_null(),
                _ => return Err(wrong()),
            }
        }
        ColType::Int => {
            let b = any.downcast_mut::<Int64Builder>().ok_or_else(wrong)?;
            match c {
                Cell::Int(i) => b.append_value(*i),
                Cell::Null => b.append_null(),
                _ => return Err(wrong()),
            }
        }
        ColType::Dec => {
            let b = any.downcast_mut::<Decimal128Builder>().ok_or_else(wrong)?;
            match c {
                Cell::Dec(d) => b.append_value(dec_value(name, "decimal", d.mantissa())?),
                Cell::Null => b.append_null(),
                _ => return Err(wrong()),
            }
        }
        ColType::Float => {
            let b = any.downcast_mut::<Float64Builder>().ok_or_else(wrong)?;
            match c {
                Cell::Float(f) => b.append_value(*f),
                Cell::Null => b.append_null(),
                _ => return Err(wrong()),
            }
        }
        ColType::TimeMs => {
            let b = any.downcast_mut::<TimestampNanosecondBuilder>().ok_or_else(wrong)?;
            match c {
                Cell::Time(t) => b.append_value(t.0),
                Cell::Null => b.append_null(),
                _ => return Err(wrong()),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_parquet_hold_the_same_rows() {
        let dir = std::env::temp_dir().join(format!("tickflow-table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cols = [("id", ColType::Int), ("time", ColType::TimeMs), ("symbol", ColType::Str), ("price", ColType::Dec), ("ratio", ColType::Float)];
        let rows = [
            vec![
                Cell::Int(1),
                Cell::Time(Ts::from_millis(1_700_000_000_123)),
                Cell::Str("BTC/USDT".into()),
                Cell::Dec("105410.1".parse().unwrap()),
                Cell::Float(0.25),
            ],
            vec![Cell::Int(-2), Cell::Time(Ts::from_millis(0)), Cell::Str("ETH/USDT".into()), Cell::Null, Cell::Float(f64::NAN)],
        ];
        for f in [TableFormat::Csv, TableFormat::Parquet] {
            let p = dir.join(format!("t.{}", f.extension()));
            let mut w = TableWriter::create(p.to_str().unwrap(), f, &cols).unwrap();
            for r in &rows {
                w.row(r).unwrap();
            }
            assert!(w.row(&[Cell::Int(1)]).is_err(), "a short row");
            w.finish().unwrap();
        }
        let csv = std::fs::read_to_string(dir.join("t.csv")).unwrap();
        assert_eq!(csv, "id,time,symbol,price,ratio\n1,1700000000123,BTC/USDT,105410.1,0.25\n-2,0,ETH/USDT,,NaN\n");
        // the Parquet file read back as text (timestamps rendered in ms) is the CSV
        let back = super::super::parquet::ParquetText::read_all(dir.join("t.parquet").to_str().unwrap(), super::super::parquet::TsText::Millis).unwrap();
        assert_eq!(back, csv);
        let mut w = TableWriter::create(dir.join("bad.parquet").to_str().unwrap(), TableFormat::Parquet, &cols).unwrap();
        let e = w.row(&[Cell::Str("x".into()), Cell::Null, Cell::Null, Cell::Null, Cell::Null]).unwrap_err().to_string();
        assert!(e.contains("Int"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
