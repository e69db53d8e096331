#!/usr/bin/env python3
"""Generates backtrader_indicators_2006-day-001.csv: Backtrader's own indicator values on its
sample data (../shared/data/backtrader/2006-day-001.txt), the oracle for tickflow's indicators.

    pip install backtrader==1.9.78.123
    python3 gen_backtrader_indicators.py ../../../../shared/data/backtrader/2006-day-001.txt > backtrader_indicators_2006-day-001.csv

Each row is one bar; empty cells are Backtrader's warm-up (NaN). Values are printed with repr()
(shortest round-trip), so the file holds Backtrader's float64 results exactly.
"""
import math
import sys

import backtrader as bt

# (column prefix, indicator factory, line names) — parameters are Backtrader's names
SPECS = [
    ("sma", lambda d: bt.ind.SMA(d, period=30), ["sma"]),
    ("ema", lambda d: bt.ind.EMA(d, period=30), ["ema"]),
    ("wma", lambda d: bt.ind.WMA(d, period=30), ["wma"]),
    ("smma", lambda d: bt.ind.SMMA(d, period=30), ["smma"]),
    ("rsi", lambda d: bt.ind.RSI(d, period=14), ["rsi"]),
    ("macd", lambda d: bt.ind.MACDHisto(d, period_me1=12, period_me2=26, period_signal=9), ["macd", "signal", "histo"]),
    ("bbands", lambda d: bt.ind.BollingerBands(d, period=20, devfactor=2.0), ["mid", "top", "bot"]),
    ("atr", lambda d: bt.ind.ATR(d, period=14), ["atr"]),
    ("stochastic", lambda d: bt.ind.Stochastic(d, period=14, period_dfast=3, period_dslow=3), ["percK", "percD"]),
    ("cci", lambda d: bt.ind.CCI(d, period=20, factor=0.015), ["cci"]),
    ("momentum", lambda d: bt.ind.Momentum(d, period=12), ["momentum"]),
    ("roc", lambda d: bt.ind.RateOfChange(d, period=12), ["roc"]),
    ("williamsr", lambda d: bt.ind.WilliamsR(d, period=14), ["percR"]),
    ("dm", lambda d: bt.ind.DirectionalMovement(d, period=14), ["adx", "adxr", "plusDI", "minusDI"]),
    ("highest", lambda d: bt.ind.Highest(d, period=14), ["highest"]),
    ("lowest", lambda d: bt.ind.Lowest(d, period=14), ["lowest"]),
    # input lines and composition (tickflow's `source=`); column prefix = the case's name in
    # operators/tests/indicators_backtrader.rs
    ("highest_of_high", lambda d: bt.ind.Highest(d.high, period=14), ["highest"]),
    ("lowest_of_low", lambda d: bt.ind.Lowest(d.low, period=14), ["lowest"]),
    ("sma_of_sma", lambda d: bt.ind.SMA(bt.ind.SMA(d, period=30), period=30), ["sma"]),
    ("sma_of_rsi", lambda d: bt.ind.SMA(bt.ind.RSI(d, period=14), period=10), ["sma"]),
    ("ema_of_hl2", lambda d: bt.ind.EMA((d.high + d.low) / 2.0, period=20), ["ema"]),
    ("wma_of_hlc3", lambda d: bt.ind.WMA((d.high + d.low + d.close) / 3.0, period=10), ["wma"]),
    ("rsi_of_ohlc4", lambda d: bt.ind.RSI((d.open + d.high + d.low + d.close) / 4.0, period=14), ["rsi"]),
    ("sma_of_volume", lambda d: bt.ind.SMA(d.volume, period=5), ["sma"]),
    ("ema_of_macd_signal", lambda d: bt.ind.EMA(bt.ind.MACDHisto(d).signal, period=5), ["ema"]),
    ("crossover", lambda d: bt.ind.CrossOver(bt.ind.SMA(d, period=10), bt.ind.SMA(d, period=30)), ["crossover"]),
    ("dema", lambda d: bt.ind.DEMA(d, period=30), ["dema"]),
    ("tema", lambda d: bt.ind.TEMA(d, period=30), ["tema"]),
    ("roc100", lambda d: bt.ind.RateOfChange100(d, period=12), ["roc100"]),
    ("pctchange", lambda d: bt.ind.PercentChange(d, period=30), ["pctchange"]),
    ("stddev", lambda d: bt.ind.StandardDeviation(d, period=20), ["stddev"]),
    ("hma", lambda d: bt.ind.HullMovingAverage(d, period=30), ["hma"]),
    ("zlema", lambda d: bt.ind.ZeroLagExponentialMovingAverage(d, period=30), ["zlema"]),
    ("trix", lambda d: bt.ind.Trix(d, period=15), ["trix"]),
    ("meandev", lambda d: bt.ind.MeanDeviation(d, period=20), ["meandev"]),
    ("dpo", lambda d: bt.ind.DetrendedPriceOscillator(d, period=20), ["dpo"]),
    ("ppo", lambda d: bt.ind.PercentagePriceOscillator(d, period1=12, period2=26, period_signal=9), ["ppo", "signal", "histo"]),
    ("ao", lambda d: bt.ind.AwesomeOscillator(d, fast=5, slow=34), ["ao"]),
    ("accde", lambda d: bt.ind.AccelerationDecelerationOscillator(d, period=5), ["accde"]),
    ("uo", lambda d: bt.ind.UltimateOscillator(d, p1=7, p2=14, p3=28), ["uo"]),
    ("vortex", lambda d: bt.ind.Vortex(d, period=14), ["vi_plus", "vi_minus"]),
    ("williamsad", lambda d: bt.ind.WilliamsAD(d), ["ad"]),
    ("pgo", lambda d: bt.ind.PrettyGoodOscillator(d, period=14), ["pgo"]),
    ("rmi", lambda d: bt.ind.RelativeMomentumIndex(d, period=20, lookback=5), ["rmi"]),
    ("tsi", lambda d: bt.ind.TrueStrengthIndicator(d, period1=25, period2=13, pchange=1), ["tsi"]),
    ("kst", lambda d: bt.ind.KnowSureThing(d), ["kst", "signal"]),
    ("aroon", lambda d: bt.ind.AroonUpDown(d, period=14), ["aroonup", "aroondown"]),
    ("aroonosc", lambda d: bt.ind.AroonOscillator(d, period=14), ["aroonosc"]),
    ("kama", lambda d: bt.ind.AdaptiveMovingAverage(d, period=30, fast=2, slow=30), ["kama"]),
    ("smaenvelope", lambda d: bt.ind.SMAEnvelope(d, period=30, perc=2.5), ["sma", "top", "bot"]),
    ("momosc", lambda d: bt.ind.MomentumOscillator(d, period=12), ["momosc"]),
    ("lrsi", lambda d: bt.ind.LaguerreRSI(d, gamma=0.5, period=6), ["lrsi"]),
    ("stochasticfast", lambda d: bt.ind.StochasticFast(d, period=14, period_dfast=3), ["percK", "percD"]),
    ("stochasticfull", lambda d: bt.ind.StochasticFull(d, period=14, period_dfast=3, period_dslow=3), ["percK", "percD", "percDSlow"]),
    ("heikinashi", lambda d: bt.ind.HeikinAshi(d), ["ha_open", "ha_high", "ha_low", "ha_close"]),
    ("envelope", lambda d: bt.ind.Envelope(d, perc=2.5), ["src", "top", "bot"]),
    ("dv2", lambda d: bt.ind.DV2(d, period=252, maperiod=2), ["dv2"]),
    # tickflow's envelope of an EMA (source=ema(period=30)); Backtrader's lines ema, top, bot
    ("envelope_of_ema", lambda d: bt.ind.EMAEnvelope(d, period=30, perc=2.5), ["src", "top", "bot"]),
    ("smaosc", lambda d: bt.ind.SMAOscillator(d, period=30), ["sma"]),
    ("emaosc", lambda d: bt.ind.EMAOscillator(d, period=30), ["ema"]),
    ("wmaosc", lambda d: bt.ind.WMAOscillator(d, period=30), ["wma"]),
    ("smmaosc", lambda d: bt.ind.SMMAOscillator(d, period=30), ["smma"]),
    ("demaosc", lambda d: bt.ind.DEMAOscillator(d, period=30), ["dema"]),
    ("temaosc", lambda d: bt.ind.TEMAOscillator(d, period=30), ["tema"]),
    ("kamaosc", lambda d: bt.ind.KAMAOscillator(d, period=30, fast=2, slow=30), ["kama"]),
    ("emaenvelope", lambda d: bt.ind.EMAEnvelope(d, period=30, perc=2.5), ["ema", "top", "bot"]),
    ("wmaenvelope", lambda d: bt.ind.WMAEnvelope(d, period=30, perc=2.5), ["wma", "top", "bot"]),
    ("smmaenvelope", lambda d: bt.ind.SMMAEnvelope(d, period=30, perc=2.5), ["smma", "top", "bot"]),
    ("demaenvelope", lambda d: bt.ind.DEMAEnvelope(d, period=30, perc=2.5), ["dema", "top", "bot"]),
    ("temaenvelope", lambda d: bt.ind.TEMAEnvelope(d, period=30, perc=2.5), ["tema", "top", "bot"]),
    ("kamaenvelope", lambda d: bt.ind.KAMAEnvelope(d, period=30, fast=2, slow=30, perc=2.5), ["kama", "top", "bot"]),
    ("zlind", lambda d: bt.ind.ZeroLagIndicator(d, period=30, gainlimit=50), ["ec"]),
    ("dma", lambda d: bt.ind.DicksonMovingAverage(d, period=30, gainlimit=50, hperiod=7), ["dma"]),
    ("priceosc", lambda d: bt.ind.PriceOscillator(d, period1=12, period2=26), ["po"]),
    ("pposhort", lambda d: bt.ind.PPOShort(d, period1=12, period2=26, period_signal=9), ["ppo", "signal", "histo"]),
    ("rsi_safe", lambda d: bt.ind.RSI_Safe(d, period=14, safehigh=100.0, safelow=50.0), ["rsi"]),
    ("sumn", lambda d: bt.ind.SumN(d, period=14), ["sumn"]),
    ("pctrank", lambda d: bt.ind.PercentRank(d, period=50), ["pctrank"]),
    ("upmove", lambda d: bt.ind.UpMove(d), ["upmove"]),
    ("downmove", lambda d: bt.ind.DownMove(d), ["downmove"]),
    ("di", lambda d: bt.ind.DirectionalIndicator(d, period=14), ["plusDI", "minusDI"]),
    ("plusdi", lambda d: bt.ind.PlusDirectionalIndicator(d, period=14), ["plusDI"]),
    ("minusdi", lambda d: bt.ind.MinusDirectionalIndicator(d, period=14), ["minusDI"]),
    ("adx", lambda d: bt.ind.AverageDirectionalMovementIndex(d, period=14), ["adx"]),
    ("adxr", lambda d: bt.ind.AverageDirectionalMovementIndexRating(d, period=14), ["adx", "adxr"]),
    ("psar", lambda d: bt.ind.ParabolicSAR(d, period=2, af=0.02, afmax=0.2), ["psar"]),
]

# Indicators that write values onto past bars (Backtrader's forward/backward pushes). Their
# columns come from Backtrader's final line arrays, shifted by `shift` bars to the bar on which a
# stream can know the value: the cell on bar t is Backtrader's value on bar t - shift.
SHIFTED = [
    ("ichimoku", lambda d: bt.ind.Ichimoku(d, tenkan=9, kijun=26, senkou=52, senkou_lead=26, chikou=26),
     ["tenkan_sen", "kijun_sen", "senkou_span_a", "senkou_span_b", "chikou_span"], [0, 0, 0, 0, 26]),
    ("fractal", lambda d: bt.studies.Fractal(d, period=5, bardist=0.015, shift_to_potential_fractal=2),
     ["fractal_bearish", "fractal_bullish"], [2, 2]),
]


class Record(bt.Strategy):
    def __init__(self):
        self.inds = [(name, fac(self.data), lines) for name, fac, lines in SPECS]
        self.shifted = [(name, fac(self.data), lines, shifts) for name, fac, lines, shifts in SHIFTED]
        self.rows = []

    def prenext(self):
        self.next()

    def next(self):
        row = [self.data.datetime.date(0).isoformat()]
        for _name, ind, lines in self.inds:
            for i, _l in enumerate(lines):
                v = ind.lines[i][0]
                row.append("" if v is None or (isinstance(v, float) and math.isnan(v)) else repr(float(v)))
        self.rows.append(row)


def main(path):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.BacktraderCSVData(dataname=path))
    cerebro.addstrategy(Record)
    strat = cerebro.run(runonce=False)[0]
    n = len(strat.rows)
    for _name, ind, lines, shifts in strat.shifted:
        for i, shift in enumerate(shifts):
            arr = list(ind.lines[i].array)[:n]
            for t in range(n):
                v = arr[t - shift] if t - shift >= 0 else None
                strat.rows[t].append("" if v is None or math.isnan(v) else repr(float(v)))
    header = ["date"] + [f"{name}.{l}" for name, _f, lines in SPECS for l in lines]
    header += [f"{name}.{l}" for name, _f, lines, _s in SHIFTED for l in lines]
    print(",".join(header))
    for r in strat.rows:
        print(",".join(r))


if __name__ == "__main__":
    main(sys.argv[1])
