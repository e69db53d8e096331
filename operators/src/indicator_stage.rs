//! `indicator`: runs any registered indicator as a keyed dataflow stage over bars.
//!
//! - **Input**: `Bar`s (e.g. from [`crate::aggregate::AggregateBars`] or a bar file), at times
//!   no later than their close.
//! - **Output**: one [`IndicatorRow`] per input bar with revision 0, at the bar's time, with one
//!   value per indicator line (NaN while warming up).
//! - **Partitioning**: bars are exchanged by instrument; each (instrument, timeframe) key has its
//!   own indicator state on one worker.
//! - **Frontier rule**: bars are stashed per timestamp and fed, sorted by (instrument,
//!   timeframe, open time), once the frontier has passed their timestamp — so each key sees its
//!   bars in open-time order whatever the arrival order.
//! - **State**: one indicator per key, plus bars of timestamps not yet complete. Revisions
//!   (revision > 0) are not fed: an indicator sees each window once, as first emitted.
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

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use tickflow_model::{Bar, Instrument, Timeframe, Ts};
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
    /// Open time of the bar.
    pub open_time: Ts,
    /// One value per line (NaN during warm-up).
    pub values: Vec<f64>,
}

/// Per-key state: the indicator and its output buffer.
type KeyState = (Box<dyn Indicator>, Vec<f64>);

/// Extension trait: indicators as dataflow stages.
pub trait IndicatorStage<'scope> {
    /// Runs indicator `name` with `params` per (instrument, timeframe). Returns the line names
    /// and the stream of rows.
    fn indicator(self, name: &str, params: &Params) -> Result<(Vec<&'static str>, StreamVec<'scope, u64, IndicatorRow>), OperatorError>;
}

impl<'scope> IndicatorStage<'scope> for StreamVec<'scope, u64, Bar> {
    fn indicator(self, name: &str, params: &Params) -> Result<(Vec<&'static str>, StreamVec<'scope, u64, IndicatorRow>), OperatorError> {
        // unknown names and bad parameters fail here, before the dataflow runs
        let prepared = prepare(name, params)?;
        let lines = prepared.lines().to_vec();
        let stream = self.unary_frontier::<CapacityContainerBuilder<Vec<IndicatorRow>>, _, _, _>(
            Exchange::new(|b: &Bar| b.instrument.route()),
            "Indicator",
            move |_cap, _info| {
                let mut stash: BTreeMap<u64, (timely::dataflow::operators::Capability<u64>, Vec<Bar>)> = BTreeMap::new();
                let mut state: HashMap<(Instrument, Timeframe), KeyState> = HashMap::new();
                move |(input, frontier), output| {
                    input.for_each_stamp(|cap, data| {
                        let Some(&t) = cap.least() else { return };
                        let entry = stash.entry(t).or_insert_with(|| (cap.delayed(&t, 0), Vec::new()));
                        for batch in data {
                            entry.1.extend(batch.drain(..).filter(|b| b.revision == 0));
                        }
                    });
                    while let Some((&t, _)) = stash.first_key_value() {
                        if frontier.less_equal(&t) {
                            break;
                        }
                        let Some((cap, mut bars)) = stash.remove(&t) else { break };
                        bars.sort_by_key(|b| (b.instrument, b.timeframe, b.open_time));
                        let mut session = output.session(&cap);
                        for b in &bars {
                            let (ind, out) = state.entry((b.instrument, b.timeframe)).or_insert_with(|| {
                                let ind = prepared.make();
                                let n = ind.lines().len();
                                (ind, vec![f64::NAN; n])
                            });
                            ind.next(&Ohlcv::from_bar(b), out);
                            session.give(IndicatorRow { instrument: b.instrument, timeframe: b.timeframe, open_time: b.open_time, values: out.clone() });
                        }
                    }
                }
            },
        );
        Ok((lines, stream))
    }
}
