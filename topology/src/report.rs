//! Self-contained HTML reports: candles with the fills and the strategy's indicators, equity and
//! drawdown on the same time axis, the analyzers and the trade list — one file that opens
//! offline (TradingView's lightweight-charts, Apache-2.0, is vendored into the binary: see
//! `topology/assets/`).
//!
//! The page is a function of its inputs alone (no clock, no randomness, ordered maps), so the
//! same backtest gives the same bytes. It reports what it drew in `<pre id="tf-status">` (bars,
//! markers, the last equity value, errors, network requests), which the tests read from a
//! headless Chromium.

use std::fmt::Write as _;

use anyhow::{bail, Result};
use serde::Serialize;
use tickflow_model::Bar;
use tickflow_operators::indicators::{prepare, Ohlcv, Params};

/// The vendored charting library (pinned; its licence beside it in `topology/assets/`).
pub const LIGHTWEIGHT_CHARTS: &str = include_str!("../assets/lightweight-charts-5.2.1.standalone.production.js");
/// The pinned version of [`LIGHTWEIGHT_CHARTS`].
pub const LIGHTWEIGHT_CHARTS_VERSION: &str = "5.2.1";
/// The library's licence (Apache-2.0), embedded in every report.
pub const LIGHTWEIGHT_CHARTS_LICENSE: &str = include_str!("../assets/LICENSE-lightweight-charts");

/// Equity points drawn at most; a longer curve is decimated (each bucket's first, lowest,
/// highest and last point), and the report says so.
pub const MAX_EQUITY_POINTS: usize = 200_000;

/// A fill, as a marker.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FillMark {
    /// Epoch ms.
    pub time: i64,
    /// `buy` or `sell`.
    pub side: String,
    /// Price.
    pub price: f64,
    /// Size.
    pub size: f64,
}

/// An indicator line to draw.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Line {
    /// Label (`sma(period=10)`, `macd.signal`).
    pub name: String,
    /// Over the candles (true) or in the indicator pane.
    pub overlay: bool,
    /// One value per candle (`None` while warming up).
    pub values: Vec<Option<f64>>,
}

/// What a report shows.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReportData {
    /// Title (the strategy and its parameters, or the bar file).
    pub title: String,
    /// Under the title (instrument, timeframe, period).
    pub subtitle: String,
    /// Candles: `[open time ms, open, high, low, close, volume, flag]`, flag 1 for a carried bar,
    /// 2 for a revised one, 0 otherwise.
    pub candles: Vec<(i64, f64, f64, f64, f64, f64, u8)>,
    /// Fills.
    pub fills: Vec<FillMark>,
    /// Indicator lines.
    pub lines: Vec<Line>,
    /// Equity `[time ms, value]` (decimated beyond [`MAX_EQUITY_POINTS`]).
    pub equity: Vec<(i64, f64)>,
    /// Equity points before decimation.
    pub equity_points: usize,
    /// The analyzers (`summary.json`'s summary, flattened: key, value).
    pub stats: Vec<(String, String)>,
    /// The trade list: header, then rows.
    pub trades: Vec<Vec<String>>,
    /// Notes shown under the chart (decimation, carried bars).
    pub notes: Vec<String>,
    /// A sweep's leaderboard (`leaderboard.csv`): header, then rows; empty for a single run.
    pub leaderboard: Vec<Vec<String>>,
    /// The swept parameters (leaderboard columns), the first two span the heatmap.
    pub sweep_params: Vec<String>,
}

/// The candle rows of `bars` (one series, in time order).
pub fn candles(bars: &[Bar]) -> Vec<(i64, f64, f64, f64, f64, f64, u8)> {
    bars.iter()
        .map(|b| {
            let flag = if b.is_carried() {
                1
            } else if b.revision > 0 {
                2
            } else {
                0
            };
            (b.open_time.millis(), b.open.to_f64(), b.high.to_f64(), b.low.to_f64(), b.close.to_f64(), b.volume.to_f64(), flag)
        })
        .collect()
}

/// The lines of indicator `name` with `params` over `bars` (one per indicator line).
pub fn indicator_lines(bars: &[Bar], name: &str, params: &[String], overlay: bool) -> Result<Vec<Line>> {
    let p = Params::parse(params.iter().map(String::as_str))?;
    let prepared = prepare(name, &p)?;
    let mut ind = prepared.make();
    let names = prepared.lines();
    let mut out = vec![f64::NAN; names.len()];
    let mut lines: Vec<Line> = names
        .iter()
        .map(|l| Line {
            name: if names.len() == 1 { format!("{name}({})", params.join(",")) } else { format!("{name}({}).{l}", params.join(",")) },
            overlay,
            values: Vec::with_capacity(bars.len()),
        })
        .collect();
    for b in bars {
        ind.next(&Ohlcv::from_bar(b), &mut out);
        for (line, v) in lines.iter_mut().zip(&out) {
            line.values.push(v.is_finite().then_some(*v));
        }
    }
    Ok(lines)
}

/// `points` thinned to at most `max` (each bucket's first, lowest, highest and last point, in
/// time order), so peaks and drawdowns survive.
pub fn decimate(points: &[(i64, f64)], max: usize) -> Vec<(i64, f64)> {
    if points.len() <= max || max < 8 {
        return points.to_vec();
    }
    let buckets = max / 4;
    let size = points.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(max);
    for chunk in points.chunks(size) {
        let lo = chunk.iter().enumerate().min_by(|a, b| a.1 .1.total_cmp(&b.1 .1)).map(|(i, _)| i).unwrap_or(0);
        let hi = chunk.iter().enumerate().max_by(|a, b| a.1 .1.total_cmp(&b.1 .1)).map(|(i, _)| i).unwrap_or(0);
        let mut idx = vec![0, lo, hi, chunk.len() - 1];
        idx.sort_unstable();
        idx.dedup();
        out.extend(idx.into_iter().map(|i| chunk[i]));
    }
    out
}

/// Flattens a JSON object into `a.b` keys (sorted) and display values.
pub fn flatten_stats(v: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, v, out);
                }
            }
            serde_json::Value::String(s) => out.push((prefix.to_string(), s.clone())),
            serde_json::Value::Number(n) => {
                let s = match n.as_f64() {
                    Some(f) if n.is_f64() => format!("{f:.6}").trim_end_matches('0').trim_end_matches('.').to_string(),
                    _ => n.to_string(),
                };
                out.push((prefix.to_string(), s));
            }
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    out
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The data as JSON safe inside a `<script>` element.
fn script_json<T: Serialize>(v: &T) -> Result<String> {
    Ok(serde_json::to_string(v)?.replace("</", "<\\/"))
}

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:16px 24px;color:#1d2330;background:#fff}
h1{font-size:20px;margin:0 0 2px}.sub{color:#5b6475;margin:0 0 12px}
#chart{width:100%;height:760px;border:1px solid #e3e6ec;border-radius:4px;position:relative}
#legend{position:absolute;left:12px;top:8px;z-index:3;font-size:12px;background:rgba(255,255,255,.85);padding:2px 6px;border-radius:3px;pointer-events:none}
.notes{color:#5b6475;font-size:12px;margin:6px 0 0}
.grid{display:grid;grid-template-columns:minmax(340px,1fr) 2.4fr;gap:24px;margin-top:20px}
table{border-collapse:collapse;font-size:12.5px;width:100%}th,td{padding:3px 8px;border-bottom:1px solid #eef0f4;text-align:right;white-space:nowrap}
th{cursor:pointer;background:#f6f7f9;position:sticky;top:0}td:first-child,th:first-child{text-align:left}#stats td{white-space:normal}
.scroll{max-height:420px;overflow:auto;border:1px solid #e3e6ec;border-radius:4px}
h2{font-size:15px;margin:0 0 6px}footer{margin-top:24px;color:#8a93a5;font-size:11px}
#tf-status{display:none}#sweep{margin-top:20px}#tf-heatmap td{text-align:center;min-width:56px}
"#;

const SCRIPT: &str = r#"
(function(){
  const status = {candles:0, markers:0, lines:0, equity_points:0, equity_last:null, errors:[], requests:0};
  window.addEventListener('error', e => status.errors.push(String(e.message)));
  const data = JSON.parse(document.getElementById('tf-data').textContent);
  const LC = window.LightweightCharts;
  const sec = ms => Math.floor(ms / 1000);
  try {
    const el = document.getElementById('chart');
    const chart = LC.createChart(el, {autoSize:true, layout:{background:{color:'#ffffff'}, textColor:'#1d2330', panes:{separatorColor:'#e3e6ec'}},
      grid:{vertLines:{color:'#f1f3f6'}, horzLines:{color:'#f1f3f6'}}, timeScale:{timeVisible:true, secondsVisible:false, minBarSpacing:0.001},
      crosshair:{mode:0}});
    const candles = chart.addSeries(LC.CandlestickSeries, {upColor:'#26a69a', downColor:'#ef5350', borderVisible:false, wickUpColor:'#26a69a', wickDownColor:'#ef5350'}, 0);
    candles.setData(data.candles.map(c => {
      const d = {time:sec(c[0]), open:c[1], high:c[2], low:c[3], close:c[4]};
      if (c[6] === 1) { d.color = '#b0b6c3'; d.wickColor = '#b0b6c3'; }
      if (c[6] === 2) { d.borderColor = '#ff9800'; }
      return d;
    }));
    status.candles = candles.data().length;
    const byTime = new Map();
    const marks = data.fills.map(f => {
      const t = sec(f.time);
      if (!byTime.has(t)) byTime.set(t, []);
      byTime.get(t).push(f);
      const buy = f.side === 'buy';
      return {time:t, position: buy ? 'belowBar' : 'aboveBar', color: buy ? '#1e88e5' : '#e53935', shape: buy ? 'arrowUp' : 'arrowDown'};
    });
    marks.sort((a, b) => a.time - b.time);
    const markers = LC.createSeriesMarkers(candles, marks);
    status.markers = markers.markers().length;
    const palette = ['#7b1fa2','#f57c00','#00897b','#5d4037','#c2185b','#3949ab','#689f38'];
    let below = false;
    data.lines.forEach((l, i) => {
      const pane = l.overlay ? 0 : 1;
      below = below || !l.overlay;
      const s = chart.addSeries(LC.LineSeries, {color: palette[i % palette.length], lineWidth: 1, title: l.name, priceLineVisible:false, lastValueVisible:false}, pane);
      s.setData(l.values.map((v, j) => v === null ? {time: sec(data.candles[j][0])} : {time: sec(data.candles[j][0]), value: v}));
      status.lines += 1;
    });
    const eqPane = below ? 2 : 1;
    const equity = chart.addSeries(LC.LineSeries, {color:'#1e88e5', lineWidth:2, title:'equity', priceLineVisible:false}, eqPane);
    const eq = []; let last = null;
    for (const [t, v] of data.equity) { const s = sec(t); if (last !== null && s <= last) continue; eq.push({time:s, value:v}); last = s; }
    equity.setData(eq);
    status.equity_points = equity.data().length;
    status.equity_last = data.equity.length ? data.equity[data.equity.length - 1][1] : null;
    const dd = chart.addSeries(LC.AreaSeries, {lineColor:'#e53935', topColor:'rgba(229,57,53,0.05)', bottomColor:'rgba(229,57,53,0.35)', lineWidth:1, title:'drawdown %', priceLineVisible:false, invertFilledArea:false}, eqPane + 1);
    let peak = -Infinity;
    dd.setData(eq.map(p => { peak = Math.max(peak, p.value); return {time:p.time, value: peak > 0 ? (p.value / peak - 1) * 100 : 0}; }));
    const panes = chart.panes();
    if (panes.length > 1) { panes[0].setHeight(380); }
    chart.timeScale().fitContent();
    const legend = document.getElementById('legend');
    chart.subscribeCrosshairMove(p => {
      if (!p || p.time === undefined) { legend.textContent = ''; return; }
      const c = p.seriesData.get(candles);
      let s = new Date(p.time * 1000).toISOString().replace('.000Z', 'Z');
      if (c) s += `  O ${c.open}  H ${c.high}  L ${c.low}  C ${c.close}`;
      for (const f of (byTime.get(p.time) || [])) s += `  ${f.side} ${f.size} @ ${f.price}`;
      legend.textContent = s;
    });
  } catch (e) { status.errors.push(String(e && e.message || e)); }
  // the tables
  const stats = document.getElementById('stats');
  for (const [k, v] of data.stats) { const tr = stats.insertRow(); tr.insertCell().textContent = k; tr.insertCell().textContent = v; }
  const trades = document.getElementById('trades');
  if (data.trades.length) {
    const head = trades.createTHead().insertRow();
    data.trades[0].forEach((h, i) => { const th = document.createElement('th'); th.textContent = h; th.onclick = () => sortBy(i); head.appendChild(th); });
    const body = trades.createTBody();
    // epoch-millisecond columns shown as UTC times (which still sort as text)
    const timeCols = data.trades[0].map(h => /time$/.test(h));
    const iso = v => { const n = Number(v); return v !== '' && Number.isFinite(n) ? new Date(n).toISOString().replace('.000Z', 'Z') : v; };
    for (const r of data.trades.slice(1)) { const tr = body.insertRow(); r.forEach((v, i) => tr.insertCell().textContent = timeCols[i] ? iso(v) : v); }
    let dir = 1, col = -1;
    function sortBy(i) {
      dir = col === i ? -dir : 1; col = i;
      const rows = Array.from(body.rows);
      const key = r => { const t = r.cells[i].textContent; const n = Number(t); return t !== '' && !isNaN(n) ? n : t; };
      rows.sort((a, b) => { const x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : 0) * dir; });
      rows.forEach(r => body.appendChild(r));
    }
  }
  status.trades = Math.max(0, data.trades.length - 1);
  // a sweep: the leaderboard, and a heatmap of a metric over the first two swept parameters
  status.leaderboard = Math.max(0, data.leaderboard.length - 1);
  status.heatmap_cells = 0;
  if (data.leaderboard.length > 1) {
    const box = document.getElementById('sweep');
    const hdr = data.leaderboard[0], rows = data.leaderboard.slice(1);
    const h2 = document.createElement('h2'); h2.textContent = `Sweep: ${rows.length} runs`; box.appendChild(h2);
    const metrics = hdr.filter(h => h !== 'rank' && !data.sweep_params.includes(h));
    const [px, py] = data.sweep_params;
    if (px !== undefined && py !== undefined) {
      const sel = document.createElement('select'); sel.id = 'tf-metric';
      metrics.forEach(m => { const o = document.createElement('option'); o.value = m; o.textContent = m; if (m === 'sharpe') o.selected = true; sel.appendChild(o); });
      const label = document.createElement('p'); label.textContent = `heatmap of `; label.appendChild(sel); label.append(` over ${px} (columns) × ${py} (rows); the best run per cell when more parameters were swept`);
      box.appendChild(label);
      const table = document.createElement('table'); table.id = 'tf-heatmap'; box.appendChild(table);
      const num = v => Number(v);
      const xs = [...new Set(rows.map(r => r[hdr.indexOf(px)]))].sort((a, b) => num(a) - num(b));
      const ys = [...new Set(rows.map(r => r[hdr.indexOf(py)]))].sort((a, b) => num(a) - num(b));
      const draw = () => {
        const m = hdr.indexOf(sel.value), ix = hdr.indexOf(px), iy = hdr.indexOf(py);
        const low = sel.value === 'max_drawdown_pct';
        const cell = new Map();
        for (const r of rows) { const k = r[ix] + '|' + r[iy], v = num(r[m]); if (!Number.isFinite(v)) continue; const old = cell.get(k); if (old === undefined || (low ? v < old : v > old)) cell.set(k, v); }
        const vals = [...cell.values()], lo = Math.min(...vals), hi = Math.max(...vals);
        table.textContent = '';
        const head = table.insertRow(); head.insertCell().textContent = `${py} \\ ${px}`; xs.forEach(x => head.insertCell().textContent = x);
        let n = 0;
        for (const y of ys) {
          const tr = table.insertRow(); tr.insertCell().textContent = y;
          for (const x of xs) {
            const td = tr.insertCell(), v = cell.get(x + '|' + y);
            if (v === undefined) continue;
            n += 1; td.textContent = Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(4);
            let f = hi > lo ? (v - lo) / (hi - lo) : 0.5; if (low) f = 1 - f;
            td.style.background = `hsl(${Math.round(120 * f)},65%,${Math.round(85 - 20 * f)}%)`;
          }
        }
        status.heatmap_cells = n;
      };
      sel.onchange = draw; draw();
    }
    const lb = document.createElement('table'); lb.id = 'tf-leaderboard';
    const wrap = document.createElement('div'); wrap.className = 'scroll'; wrap.appendChild(lb); box.appendChild(wrap);
    const hr = lb.createTHead().insertRow(); hdr.forEach(h => { const th = document.createElement('th'); th.textContent = h; hr.appendChild(th); });
    const body = lb.createTBody(); rows.forEach(r => { const tr = body.insertRow(); r.forEach(v => tr.insertCell().textContent = v); });
  }
  status.requests = performance.getEntriesByType('resource').length;
  document.getElementById('tf-status').textContent = JSON.stringify(status);
})();
"#;

/// The report page.
pub fn render(d: &ReportData) -> Result<String> {
    if d.candles.is_empty() {
        bail!("nothing to draw: no bars");
    }
    let mut h = String::with_capacity(LIGHTWEIGHT_CHARTS.len() + 64 * d.candles.len() + 4096);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n<p class=\"sub\">{}</p>\n<div id=\"chart\"><div id=\"legend\"></div></div>\n",
        esc(&d.title),
        esc(&d.title),
        esc(&d.subtitle)
    );
    for n in &d.notes {
        let _ = writeln!(h, "<p class=\"notes\">{}</p>", esc(n));
    }
    let _ = write!(
        h,
        "<div class=\"grid\">\n<div><h2>Analyzers</h2><div class=\"scroll\"><table id=\"stats\"></table></div></div>\n<div><h2>Trades ({})</h2><div class=\"scroll\"><table id=\"trades\"></table></div></div>\n</div>\n<div id=\"sweep\"></div>\n<footer>tickflow report · charts: TradingView Lightweight Charts™ v{LIGHTWEIGHT_CHARTS_VERSION} (Apache-2.0; licence embedded below)</footer>\n<pre id=\"tf-status\"></pre>\n",
        d.trades.len().saturating_sub(1)
    );
    let _ = write!(h, "<!--\n{}\n-->\n", LIGHTWEIGHT_CHARTS_LICENSE.replace("--", "- -"));
    let _ = write!(
        h,
        "<script>{LIGHTWEIGHT_CHARTS}</script>\n<script type=\"application/json\" id=\"tf-data\">{}</script>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        script_json(d)?
    );
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimation_keeps_extremes_and_order() {
        let pts: Vec<(i64, f64)> = (0..1000)
            .map(|i| {
                (
                    i,
                    if i == 537 {
                        -5.0
                    } else if i == 211 {
                        50.0
                    } else {
                        (i % 7) as f64
                    },
                )
            })
            .collect();
        let d = decimate(&pts, 40);
        assert!(d.len() <= 40, "{}", d.len());
        assert!(d.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(d.contains(&(537, -5.0)) && d.contains(&(211, 50.0)) && d.first() == pts.first() && d.last() == pts.last());
        assert_eq!(decimate(&pts[..10], 40), pts[..10].to_vec());
    }

    #[test]
    fn stats_flatten_in_key_order_and_html_is_escaped() {
        let v: serde_json::Value = serde_json::json!({"summary": {"sharpe": 0.41263734840292765, "trades": {"count": 96}}, "strategy": "sma<cross>"});
        assert_eq!(
            flatten_stats(&v),
            [("strategy".to_string(), "sma<cross>".to_string()), ("summary.sharpe".into(), "0.412637".into()), ("summary.trades.count".into(), "96".into())]
        );
        assert_eq!(esc("<a href=\"x\">&</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
        assert!(script_json(&"</script>").unwrap().contains("<\\/script>"));
        assert!(render(&ReportData::default()).is_err(), "no bars, no report");
    }
}
