//! The runner through the library: every sink reports its output durable to the end of its input.
//! (A failing sink stops its process's run: that test has a binary of its own, `runner_fail.rs`.)

use tickflow::config::JobConfig;
use tickflow::job::Job;

fn tape(dir: &std::path::Path) -> String {
    let path = dir.join("t.csv").to_string_lossy().into_owned();
    let cfg = tickflow_connectors::SyntheticConfig { trades: 20_000, late_per_mille: 5, max_delay: 20_000_000_000, ..Default::default() };
    tickflow::cli::write_tape(&path, cfg, false).unwrap();
    path
}

fn config(input: &str, out: &str, late: &str, workers: usize) -> JobConfig {
    let mut cfg = JobConfig::default();
    cfg.source.files = vec![input.to_string()];
    cfg.bars.timeframes = vec!["1m".into(), "5m".into()];
    cfg.bars.late = "revise".into();
    cfg.bars.out_of_orderness = "5s".into();
    cfg.sinks.bars_file = Some(out.to_string());
    cfg.sinks.late_file = Some(late.to_string());
    cfg.cluster.workers = workers;
    cfg.run.progress = false;
    cfg
}

#[test]
fn every_sink_is_durable_at_the_end_and_the_report_counts_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = tape(dir.path());
    let mut outputs = Vec::new();
    for workers in [1, 2] {
        let (out, late) = (dir.path().join(format!("b{workers}.csv")), dir.path().join(format!("l{workers}.csv")));
        let cfg = config(&input, out.to_str().unwrap(), late.to_str().unwrap(), workers);
        let report = tickflow::runner::run(Job::resolve(&cfg).unwrap(), &cfg.cluster.args()).unwrap();
        let names: Vec<&str> = report.sinks_durable.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.iter().any(|n| n.starts_with("bar file")) && names.iter().any(|n| n.starts_with("late file")), "{names:?}");
        assert!(report.sinks_durable.iter().all(|(_, ok)| *ok), "{:?}", report.sinks_durable);
        let text = std::fs::read_to_string(&out).unwrap();
        let rows = text.lines().count() as u64 - 1;
        assert_eq!(rows, report.bars + report.revisions);
        assert!(report.revisions > 0 && report.late > 0, "the tape has late trades: {report:?}");
        let late_rows = std::fs::read_to_string(&late).unwrap().lines().count() as u64 - 1;
        assert_eq!(late_rows, report.late);
        outputs.push(text);
    }
    assert_eq!(outputs[0], outputs[1]);
}
