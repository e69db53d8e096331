"""Python oracle for tickflow's Parquet files (run by topology/tests/parquet_cli.rs).

Modes:
  check TRADES.parquet TRADES.csv BARS.parquet BARS.csv
      pyarrow and polars read tickflow's Parquet and get the values of tickflow's CSV.
  user TRADES.csv OUT.parquet
      polars writes the tape as a user's file would hold it: float prices and amounts, a
      Datetime(ns, UTC) `time` column, a categorical `pair`, Int64 ids (zstd, polars' default).
  tables CSV_DIR PARQUET_DIR NAME...
      a backtest's tables written as Parquet (--format parquet) hold the CSV tables' values.
  nautilus FILE.parquet
      the 1-minute bar of Nautilus's Binance trades, computed here (floats through their
      shortest text, rounded at the ninth decimal), printed as tickflow's bar CSV fields.
"""

import csv
import sys
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def dec(s):
    return Decimal(s) if s != "" else None


def ints(table, name):
    col = table.column(name)
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.int64())
    return col.to_pylist()


def check(trades_pq, trades_csv, bars_pq, bars_csv):
    rows = list(csv.DictReader(open(trades_csv)))
    t = pq.read_table(trades_pq)
    assert t.schema.field("price").type == pa.decimal128(38, 9), t.schema
    assert t.schema.field("timestamp").type == pa.timestamp("ns", tz="UTC"), t.schema
    p = pl.read_parquet(trades_pq)
    assert len(rows) == t.num_rows == p.height, (len(rows), t.num_rows, p.height)
    ts, ingest, ids = ints(t, "timestamp"), ints(t, "ingest_ts"), t.column("trade_id").to_pylist()
    price, amount = t.column("price").to_pylist(), t.column("amount").to_pylist()
    pl_price, pl_ts = p["price"].to_list(), p["timestamp"].dt.epoch("ns").to_list()
    for i, r in enumerate(rows):
        assert ts[i] == pl_ts[i] == int(r["timestamp"]), (i, ts[i], r)
        assert ingest[i] == int(r["ingest_ts"]), (i, r)
        assert price[i] == pl_price[i] == Decimal(r["price"]), (i, price[i], pl_price[i], r)
        assert amount[i] == Decimal(r["amount"]), (i, r)
        assert ids[i] == (int(r["trade_id"]) if r["trade_id"] else None), (i, r)
        assert t.column("symbol")[i].as_py() == r["symbol"] and t.column("side")[i].as_py() == r["side"]
    bars = list(csv.DictReader(open(bars_csv)))
    b = pq.read_table(bars_pq)
    pb = pl.read_parquet(bars_pq)
    assert len(bars) == b.num_rows == pb.height, (len(bars), b.num_rows)
    open_ns, close_ns = ints(b, "open_time"), ints(b, "close_time")
    cols = {c: b.column(c).to_pylist() for c in b.column_names}
    pl_vwap = pb["vwap"].to_list()
    for i, r in enumerate(bars):
        assert open_ns[i] == int(r["open_time"]) * 1_000_000 and close_ns[i] == int(r["close_time"]) * 1_000_000, (i, r)
        for c in ("open", "high", "low", "close", "volume", "quote_volume", "buy_volume", "sell_volume", "vwap"):
            assert cols[c][i] == dec(r[c]), (i, c, cols[c][i], r[c])
        assert pl_vwap[i] == dec(r["vwap"]), (i, pl_vwap[i], r["vwap"])
        for c in ("trades", "revision", "first_trade_id", "last_trade_id"):
            assert cols[c][i] == (int(r[c]) if r[c] else None), (i, c, r)
        assert cols["symbol"][i] == r["symbol"] and cols["timeframe"][i] == r["timeframe"] and cols["exchange"][i] == r["exchange"]
    print(f"checked trades {len(rows)} bars {len(bars)}")


def user(trades_csv, out):
    df = pl.read_csv(trades_csv, infer_schema_length=0)  # every column as text
    df = df.select(
        pl.col("timestamp").cast(pl.Int64).cast(pl.Datetime("ns", "UTC")).alias("time"),
        pl.col("symbol").cast(pl.Categorical).alias("pair"),
        pl.col("price").cast(pl.Float64),
        pl.col("amount").cast(pl.Float64).alias("qty"),
        pl.col("trade_id").cast(pl.Int64).alias("id"),
        pl.col("side"),
    )
    df.write_parquet(out)
    print(f"wrote {df.height} rows {df.schema}")


def nautilus(path):
    t = pq.read_table(path)
    ninth = Decimal("0.000000001")

    def exact(x):
        return Decimal(repr(x)).quantize(ninth, rounding=ROUND_HALF_UP).normalize()

    ts = ints(t, "timestamp")
    price = [exact(x) for x in t.column("price").to_pylist()]
    qty = [exact(x) for x in t.column("quantity").to_pylist()]
    maker = t.column("buyer_maker").to_pylist()
    ids = t.column("trade_id").to_pylist()
    minute = ts[0] // 60_000 * 60_000
    assert all(x // 60_000 * 60_000 == minute for x in ts)
    buy = sum((q for q, m in zip(qty, maker) if m == "False"), Decimal(0))
    sell = sum((q for q, m in zip(qty, maker) if m == "True"), Decimal(0))
    fields = [minute, price[0], max(price), min(price), price[-1], sum(qty, Decimal(0)), len(ts), buy, sell, min(ids), max(ids)]
    print(",".join(f"{f:f}" if isinstance(f, Decimal) else str(f) for f in fields))


def tables(csv_dir, pq_dir, *names):
    """A backtest's tables as Parquet hold the CSV tables' values, typed."""
    import os

    total = 0
    for name in names:
        rows = list(csv.DictReader(open(os.path.join(csv_dir, name + ".csv"))))
        t = pq.read_table(os.path.join(pq_dir, name + ".parquet"))
        assert t.num_rows == len(rows), (name, t.num_rows, len(rows))
        assert t.column_names == list(rows[0].keys()) if rows else True, (name, t.column_names)
        for c in t.column_names:
            typ = t.schema.field(c).type
            got = ints(t, c) if pa.types.is_timestamp(typ) else t.column(c).to_pylist()
            for i, r in enumerate(rows):
                want = r[c]
                if want == "":
                    assert got[i] is None, (name, c, i, got[i])
                elif pa.types.is_timestamp(typ):
                    assert typ.tz == "UTC" and got[i] == int(want) * 1_000_000, (name, c, i, got[i], want)
                elif pa.types.is_decimal(typ):
                    assert got[i] == Decimal(want), (name, c, i, got[i], want)
                elif pa.types.is_integer(typ):
                    assert got[i] == int(want), (name, c, i)
                elif pa.types.is_floating(typ):
                    assert (got[i] != got[i] and want == "NaN") or got[i] == float(want), (name, c, i, got[i], want)
                else:
                    assert got[i] == want, (name, c, i, got[i], want)
        total += len(rows)
    print(f"checked {len(names)} tables {total} rows")


if __name__ == "__main__":
    {"check": check, "user": user, "nautilus": nautilus, "tables": tables}[sys.argv[1]](*sys.argv[2:])
