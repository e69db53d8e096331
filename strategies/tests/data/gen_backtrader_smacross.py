#!/usr/bin/env python3
"""Backtrader reference for tickflow's backtests (the oracle): SMA cross, and SMA cross with brackets.

    pip install backtrader==1.9.78.123
    python3 gen_backtrader_smacross.py ../../../../shared/data/backtrader/orcl-1995-2014.txt > backtrader_smacross_orcl.json
    python3 gen_backtrader_smacross.py ../../../../shared/data/backtrader/orcl-1995-2014.txt bracket > backtrader_bracket_orcl.json

Bracket variant: on a cross up while flat with no open orders, buy_bracket with a market entry,
stop at close*(1-0.05) and take-profit limit at close*(1+0.10) of the signal bar.

SMA(10/30) crossover, long only (buy on cross up, close on cross down), PercentSizer(95),
commission 0.1% of value, cash 100000, market orders filled at the next bar's open. Raw
(unadjusted) OHLC via GenericCSVData. Floats are written with repr() (exact).
"""
import json
import sys

import backtrader as bt


class SmaCross(bt.Strategy):
    params = (("fast", 10), ("slow", 30))

    def __init__(self):
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast), bt.ind.SMA(period=self.p.slow))
        self.orders, self.trades = [], []

    def notify_order(self, o):
        if o.status in (o.Completed, o.Canceled, o.Margin, o.Rejected):
            self.orders.append({
                "created": bt.num2date(o.created.dt).date().isoformat(),
                "side": "buy" if o.isbuy() else "sell",
                "status": o.getstatusname(),
                "size": o.created.size,
                "executed": bt.num2date(o.executed.dt).date().isoformat() if o.status == o.Completed else None,
                "price": o.executed.price if o.status == o.Completed else None,
                "commission": o.executed.comm if o.status == o.Completed else None,
            })

    def notify_trade(self, t):
        if t.isclosed:
            self.trades.append({
                "entry": bt.num2date(t.dtopen).date().isoformat(),
                "exit": bt.num2date(t.dtclose).date().isoformat(),
                "entry_price": t.price,
                "pnl": t.pnl,
                "pnlcomm": t.pnlcomm,
                "commission": t.commission,
            })

    def next(self):
        if not self.position:
            if self.cross > 0:
                self.buy()
        elif self.cross < 0:
            self.close()


class BracketCross(SmaCross):
    def next(self):
        open_orders = [o for o in self.broker.get_orders_open() if o.alive()]
        if self.cross > 0 and not self.position and not open_orders:
            c = self.data.close[0]
            self.buy_bracket(exectype=bt.Order.Market, stopprice=c * (1 - 0.05), limitprice=c * (1 + 0.10))


def main(path, variant="cross"):
    cerebro = bt.Cerebro(stdstats=False)
    data = bt.feeds.GenericCSVData(dataname=path, dtformat="%Y-%m-%d", datetime=0, open=1, high=2, low=3, close=4, volume=6, openinterest=-1)
    cerebro.adddata(data)
    cerebro.addstrategy(BracketCross if variant == "bracket" else SmaCross)
    cerebro.broker.setcash(100000.0)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.addsizer(bt.sizers.PercentSizer, percents=95)
    cerebro.addanalyzer(bt.analyzers.SharpeRatio, _name="sharpe")
    cerebro.addanalyzer(bt.analyzers.DrawDown, _name="drawdown")
    s = cerebro.run()[0]
    dd = s.analyzers.drawdown.get_analysis()
    analyzers = {
        "sharpe": s.analyzers.sharpe.get_analysis()["sharperatio"],
        "max_drawdown_pct": dd["max"]["drawdown"],
        "max_moneydown": dd["max"]["moneydown"],
        "max_drawdown_len": dd["max"]["len"],
    }
    print(json.dumps({"final_value": cerebro.broker.getvalue(), "cash": cerebro.broker.getcash(), "analyzers": analyzers, "orders": s.orders, "trades": s.trades}, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])
