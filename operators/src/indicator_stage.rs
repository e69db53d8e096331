//! `indicator`: runs any registered indicator as a keyed dataflow stage over bars.
//!
//! - **Input**: `Bar`s (e.g. from [`crate::aggregate::AggregateBars`] or a bar file), at times
//!   no later than their close; first emissions and revisions.
//! - **Output**: one [`IndicatorRow`] per first emission (revision 0), at the bar's time, with
//!   one value per indicator line (NaN while warming up). A revised bar recomputes the series
//!   from that bar on: every row from it to the newest is re-emitted, at the revision's time,
//!   with `revision` = the series' count of recomputations (so an upsert keeping the highest
//!   revision per (series, open time) holds the latest values).
//! - **Partitioning**: bars are exchanged by instrument; each series ([`Bar::series_key`]:
//!   instrument, kind, timeframe) has its own indicator state on one worker.
//! - **Frontier rule**: bars are stashed per timestamp and fed, sorted by [`Bar::sort_key`], once
//!   the frontier has passed their timestamp — so each series sees its bars in open-time order
//!   (and a revision after the bar it revises) whatever the arrival order.
//! - **State**: per series the indicator, and for its last [`REVISION_HORIZON`] bars the bar and
//!   the indicator's state before it (a revision of an older bar is counted in
//!   [`IndicatorStage::indicator_with`]'s counter and logged, not recomputed); plus bars of
//!   timestamps not yet complete.
//!
//! A new indicator needs no change here: it is built by name from [`crate::indicators::REGISTRY`].
//! An unknown name or a bad parameter is an error returned by [`IndicatorStage::indicator`]
//! before any operator is built.
//!
//! # Example
//!
//! A 2-bar SMA over three one-minute bars given out of order, all at time 0: rows come out in
//! open-time order, NaN until two bars were seen:
//!
//! ```
//! use timely::dataflow::operators::capture::Extract;
//! use timely::dataflow::operators::vec::Map;
//! use timely::dataflow::operators::{Capture, ToStream};
//! use tickflow_model::{Bar, Decimal, Instrument, Notional, Timeframe, Ts};
//! use tickflow_operators::indicators::Params;
//! use tickflow_operators::{IndicatorStage, OperatorError};
//!
//! let btc = Instrument::new("x", "BTC/USDT").unwrap();
//! let m1 = Timeframe::from_secs(60).unwrap();
//! let bar = move |minute: i64, close: i64| {
//!     let c = Decimal::from_int(close);
//!     Bar::from_candle(btc, m1, Ts::from_millis(minute * 60_000), [c; 4], Decimal::from_int(1), Notional::ZERO)
//! };
//! let rows = timely::example(move |scope| {
//!     let bars = vec![bar(2, 13), bar(0, 10), bar(1, 11)].to_stream(scope).container::<Vec<_>>();
//!     let (lines, rows) = bars.clone().indicator("sma", &Params::parse(["period=2"]).unwrap()).unwrap();
//!     assert_eq!(lines, ["sma"]);
//!     // an unknown name is refused while the dataflow is being built
//!     let e = bars.indicator("smaa", &Params::default()).err().unwrap();
//!     assert!(matches!(e, OperatorError::UnknownIndicator { .. }), "{e}");
//!     rows.map(|r| (r.open_time.millis() / 60_000, format!("{:?}", r.values))).capture()
//! });
//! let want = vec![(0, "[NaN]".to_string()), (1, "[10.5]".to_string()), (2, "[12.0]".to_string())];
//! assert_eq!(rows.extract(), vec![(0, want)]);
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tickflow_model::{Bar, BarKind, Instrument, Timeframe, Ts};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use crate::indicators::{prepare, Indicator, Ohlcv, Params};
use crate::OperatorError;

/// Indicator values for one bar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndicatorRow {
    /// Instrument of the bar.
    pub instrument: Instrument,
    /// Timeframe of the bar.
    pub timeframe: Timeframe,
    /// Kind of the bar (time, tick, volume, …).
    #[serde(default)]
    pub kind: BarKind,
    /// Open time of the bar.
    pub open_time: Ts,
    /// The bar's number in an information-driven series (0 for time bars).
    #[serde(default)]
    pub seq: u64,
    /// 0 for the first computation; the series' recomputation count for rows re-emitted after a
    /// bar revision.
    #[serde(default)]
    pub revision: u32,
    /// One value per line (NaN during warm-up).
    pub values: Vec<f64>,
}

/// Bars per series kept with the indicator's state before them, to recompute from a revised
/// bar on (a revision of an older bar is counted, not recomputed).
pub const REVISION_HORIZON: usize = 1_000;

/// One series' state.
struct SeriesState {
    ind: Box<dyn Indicator>,
    out: Vec<f64>,
    /// The last bars (newest last), each with the indicator as it was before it.
    recent: VecDeque<(Bar, Box<dyn Indicator>)>,
    /// Recomputations so far (the `revision` of re-emitted rows).
    recomputes: u32,
}

fn row(b: &Bar, values: &[f64], revision: u32) -> IndicatorRow {
    IndicatorRow { instrument: b.instrument, timeframe: b.timeframe, kind: b.kind, open_time: b.open_time, seq: b.seq, revision, values: values.to_vec() }
}

/// Extension trait: indicators as dataflow stages.
pub trait IndicatorStage<'scope> {
    /// Runs indicator `name` with `params` per series (instrument, bar kind, timeframe of time
    /// bars; [`Bar::series_key`]). Returns the line names and the stream of rows.
    fn indicator(self, name: &str, params: &Params) -> Result<(Vec<&'static str>, StreamVec<'scope, u64, IndicatorRow>), OperatorError>;
    /// [`Self::indicator`] keeping `horizon` bars per series for revisions; `stale` counts the
    /// revisions of bars older than that (not recomputed).
    #[allow(clippy::type_complexity)]
    fn indicator_with(
        self,
        name: &str,
        params: &Params,
        horizon: usize,
        stale: Arc<AtomicU64>,
    ) -> Result<(Vec<&'static str>, StreamVec<'scope, u64, IndicatorRow>), OperatorError>;
}

impl<'scope> IndicatorStage<'scope> for StreamVec<'scope, u64, Bar> {
    fn indicator(self, name: &str, params: &Params) -> Result<(Vec<&'static str>, StreamVec<'scope, u64, IndicatorRow>), OperatorError> {
        self.indicator_with(name, params, REVISION_HORIZON, Arc::new(AtomicU64::new(0)))
    }

    fn indicator_with(
        self,
        name: &str,
        params: &Params,
        horizon: usize,
        stale: Arc<AtomicU64>,
    ) -> Result<(Vec<&'static str>, StreamVec<'scope, u64, IndicatorRow>), OperatorError> {
        // unknown names and bad parameters fail here, before the dataflow runs
        let prepared = prepare(name, params)?;
        let lines = prepared.lines().to_vec();
        let name = name.to_string();
        let stream = self.unary_frontier::<CapacityContainerBuilder<Vec<IndicatorRow>>, _, _, _>(
            Exchange::new(|b: &Bar| b.instrument.route()),
            "Indicator",
            move |_cap, _info| {
                let mut stash: BTreeMap<u64, (timely::dataflow::operators::Capability<u64>, Vec<Bar>)> = BTreeMap::new();
                let mut state: HashMap<(Instrument, BarKind, Option<Timeframe>), SeriesState> = HashMap::new();
                move |(input, frontier), output| {
                    input.for_each_stamp(|cap, data| {
                        let Some(&t) = cap.least() else { return };
                        let entry = stash.entry(t).or_insert_with(|| (cap.delayed(&t, 0), Vec::new()));
                        for batch in data {
                            entry.1.append(batch);
                        }
                    });
                    while let Some((&t, _)) = stash.first_key_value() {
                        if frontier.less_equal(&t) {
                            break;
                        }
                        let Some((cap, mut bars)) = stash.remove(&t) else { break };
                        bars.sort_by_key(|b| b.sort_key());
                        let mut session = output.session(&cap);
                        for b in &bars {
                            let st = state.entry(b.series_key()).or_insert_with(|| {
                                let ind = prepared.make();
                                let n = ind.lines().len();
                                SeriesState { ind, out: vec![f64::NAN; n], recent: VecDeque::new(), recomputes: 0 }
                            });
                            if b.revision == 0 {
                                if horizon > 0 {
                                    if st.recent.len() >= horizon {
                                        st.recent.pop_front();
                                    }
                                    st.recent.push_back((*b, st.ind.clone_box()));
                                }
                                st.ind.next(&Ohlcv::from_bar(b), &mut st.out);
                                session.give(row(b, &st.out, 0));
                                continue;
                            }
                            // a revision: recompute from the state before the revised bar
                            let Some(i) = st.recent.iter().position(|(r, _)| r.open_time == b.open_time && r.seq == b.seq) else {
                                stale.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!(indicator = %name, instrument = %b.instrument, series = %b.series(), open_time = %b.open_time, revision = b.revision,
                                    "a revised bar is older than the indicator's revision horizon: values not recomputed");
                                continue;
                            };
                            st.recomputes = st.recomputes.saturating_add(1);
                            st.recent[i].0 = *b;
                            let mut ind = st.recent[i].1.clone_box();
                            for j in i..st.recent.len() {
                                if j > i {
                                    st.recent[j].1 = ind.clone_box();
                                }
                                ind.next(&Ohlcv::from_bar(&st.recent[j].0), &mut st.out);
                                session.give(row(&st.recent[j].0, &st.out, st.recomputes));
                            }
                            st.ind = ind;
                        }
                    }
                }
            },
        );
        Ok((lines, stream))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use tickflow_model::{Bar, Decimal, Instrument, Notional, Timeframe, Ts};
    use timely::dataflow::operators::Input;

    use super::*;

    fn bar(minute: i64, close: i64, revision: u32) -> Bar {
        let c = Decimal::from_int(close);
        let btc = Instrument::new("x", "BTC/USDT").unwrap();
        let mut b = Bar::from_candle(btc, Timeframe::from_secs(60).unwrap(), Ts::from_millis(minute * 60_000), [c; 4], Decimal::from_int(1), Notional::ZERO);
        b.revision = revision;
        b
    }

    /// (open minute, revision, values) of every row, in output order.
    fn run(horizon: usize, feed: Vec<(u64, Bar)>) -> (Vec<(i64, u32, Vec<f64>)>, u64) {
        let stale = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s2, seen2) = (stale.clone(), seen.clone());
        timely::execute_directly(move |worker| {
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                use timely::dataflow::operators::Inspect;
                let (input, bars) = scope.new_input::<Vec<Bar>>();
                let (_, rows) = bars.indicator_with("ema", &Params::parse(["period=2"]).unwrap(), horizon, s2.clone()).unwrap();
                let seen = seen2.clone();
                rows.inspect(move |r: &IndicatorRow| seen.lock().unwrap().push((r.open_time.millis() / 60_000, r.revision, r.values.clone())));
                input
            });
            for (t, b) in feed {
                input.advance_to(t);
                input.send(b);
            }
            input.close();
            while worker.step_or_park(None) {}
        });
        let rows = seen.lock().unwrap().clone();
        (rows, stale.load(Ordering::Relaxed))
    }

    #[test]
    fn a_revised_bar_recomputes_the_series_from_it_on() {
        // EMA(2) (α = 2/3, seeded with the mean of the first two): closes 10, 12, 14, 16 → NaN,
        // 11, 13, 15; bar 1 revised to 18 → 14, 16·… recomputed from the state before bar 1
        let feed = vec![(0, bar(0, 10, 0)), (1, bar(1, 12, 0)), (2, bar(2, 14, 0)), (3, bar(3, 16, 0)), (4, bar(1, 18, 1))];
        let (rows, stale) = run(REVISION_HORIZON, feed.clone());
        let first: Vec<_> = rows.iter().filter(|r| r.1 == 0).map(|r| (r.0, r.2[0])).collect();
        assert!(first[0].1.is_nan());
        assert_eq!(&first[1..], &[(1, 11.0), (2, 13.0), (3, 15.0)]);
        // the recomputation: bars 1..3 again with revision 1, equal to a fresh run over the
        // revised closes 10, 18, 14, 16
        let again: Vec<_> = rows.iter().filter(|r| r.1 == 1).map(|r| (r.0, r.2[0])).collect();
        let fresh = run(REVISION_HORIZON, vec![(0, bar(0, 10, 0)), (1, bar(1, 18, 0)), (2, bar(2, 14, 0)), (3, bar(3, 16, 0))]).0;
        let want: Vec<_> = fresh[1..].iter().map(|r| (r.0, r.2[0])).collect();
        assert_eq!(again, want);
        assert_eq!(again[0], (1, 14.0));
        assert_eq!(stale, 0);
        // a second revision: the count goes on (2), from the state before that bar
        let mut more = feed.clone();
        more.push((5, bar(3, 20, 1)));
        let (rows, _) = run(REVISION_HORIZON, more);
        let last: Vec<_> = rows.iter().filter(|r| r.1 == 2).map(|r| (r.0, r.2[0])).collect();
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].0, 3);
        // beyond the horizon (2 bars kept: 2 and 3): counted, not recomputed
        let (rows, stale) = run(2, feed);
        assert!(rows.iter().all(|r| r.1 == 0), "{rows:?}");
        assert_eq!(stale, 1);
    }
}
