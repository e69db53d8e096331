//! A sink that cannot write fails the run with its name (alone in its test binary: a failed
//! sink requests the process-wide shutdown).

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
fn a_sink_that_cannot_write_fails_the_run_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let input = tape(dir.path());
    // /dev/full accepts the open and fails every write
    let out = dir.path().join("b.csv");
    let cfg = config(&input, out.to_str().unwrap(), "/dev/full", 1);
    let e = tickflow::runner::run(Job::resolve(&cfg).unwrap(), &cfg.cluster.args()).unwrap_err();
    assert!(format!("{e:#}").contains("late file /dev/full"), "{e:#}");
}
