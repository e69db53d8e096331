//! A sink that cannot write fails the run with its name (alone in its test binary: a failed
//! sink requests the process-wide shutdown).

mod common;

use common::{file_job, synthetic_tape};
use tickflow::job::Job;

#[test]
fn a_sink_that_cannot_write_fails_the_run_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let input = synthetic_tape(dir.path());
    // /dev/full accepts the open and fails every write
    let out = dir.path().join("b.csv");
    let cfg = file_job(&input, out.to_str().unwrap(), "/dev/full", 1);
    let e = tickflow::runner::run(Job::resolve(&cfg).unwrap(), &cfg.cluster.args()).unwrap_err();
    assert!(format!("{e:#}").contains("late file /dev/full"), "{e:#}");
}
