//! The runner through the library: every sink reports its output durable to the end of its input.
//! (A failing sink stops its process's run: that test has a binary of its own, `runner_fail.rs`.)

mod common;

use common::{file_job, synthetic_tape};
use tickflow::job::Job;

#[test]
fn every_sink_is_durable_at_the_end_and_the_report_counts_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = synthetic_tape(dir.path());
    let mut outputs = Vec::new();
    for workers in [1, 2] {
        let (out, late) = (dir.path().join(format!("b{workers}.csv")), dir.path().join(format!("l{workers}.csv")));
        let cfg = file_job(&input, out.to_str().unwrap(), late.to_str().unwrap(), workers);
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
