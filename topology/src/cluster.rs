//! Worker and process flags, shared by every command that runs a dataflow.
//!
//! `-w N` runs N worker threads; `-n N -p I [-h hostfile]` runs process I of N (timely's
//! cluster mode: the hostfile lists one `host:port` per process, default `127.0.0.1:2101+i`).

use anyhow::{bail, Context, Result};
use clap::Args;

/// Parallelism flags (timely's `-w/-n/-p/-h`).
#[derive(Args, Clone, Debug)]
pub struct ClusterArgs {
    /// Worker threads per process.
    #[arg(short = 'w', long = "workers", default_value_t = 1)]
    pub workers: usize,
    /// Number of processes (cluster mode).
    #[arg(short = 'n', long = "processes", default_value_t = 1)]
    pub processes: usize,
    /// Index of this process, 0-based.
    #[arg(short = 'p', long = "process", default_value_t = 0)]
    pub process: usize,
    /// File with one `host:port` per process.
    #[arg(short = 'h', long = "hostfile")]
    pub hostfile: Option<String>,
}

impl Default for ClusterArgs {
    fn default() -> Self {
        ClusterArgs { workers: 1, processes: 1, process: 0, hostfile: None }
    }
}

impl ClusterArgs {
    /// The timely configuration.
    pub fn timely_config(&self) -> Result<timely::Config> {
        if self.workers == 0 || self.processes == 0 {
            bail!("--workers and --processes must be at least 1");
        }
        if self.process >= self.processes {
            bail!("--process {} is out of range for --processes {}", self.process, self.processes);
        }
        let communication = if self.processes > 1 {
            let addresses = match &self.hostfile {
                Some(path) => {
                    let text = std::fs::read_to_string(path).with_context(|| format!("reading hostfile {path}"))?;
                    let a: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect();
                    if a.len() < self.processes {
                        bail!("hostfile {path} lists {} addresses for {} processes", a.len(), self.processes);
                    }
                    a.into_iter().take(self.processes).collect()
                }
                None => (0..self.processes).map(|i| format!("127.0.0.1:{}", 2101 + i)).collect(),
            };
            timely::CommunicationConfig::Cluster { threads: self.workers, process: self.process, addresses, report: false, zerocopy: false }
        } else if self.workers > 1 {
            timely::CommunicationConfig::Process(self.workers)
        } else {
            timely::CommunicationConfig::Thread
        };
        Ok(timely::Config { communication, worker: timely::WorkerConfig::default() })
    }

    /// Total workers across processes.
    pub fn peers(&self) -> usize {
        self.workers * self.processes
    }
}
