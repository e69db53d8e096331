//! QuestDB flags of `backtest` and `tickflow questdb init`.

use anyhow::Result;
use clap::{Args, Subcommand};
use tickflow_connectors::questdb::{create_tables, Table};

use crate::job::QuestDbTarget;

/// Where and how to reach QuestDB.
#[derive(Args, Clone, Debug)]
pub struct QuestDbConnArgs {
    /// QuestDB client configuration (the standard string, e.g.
    /// `http::addr=questdb:9000;username=admin;password=...;`).
    #[arg(long, env = "QDB_CLIENT_CONF", hide_env_values = true, default_value = "http::addr=127.0.0.1:9000;")]
    pub questdb_conf: String,
    /// Table name prefix (e.g. `paper_`); empty for the standard names.
    #[arg(long, default_value = "")]
    pub questdb_prefix: String,
    /// Give up (fail the run, commit nothing) when QuestDB stays unreachable this long.
    #[arg(long, default_value = "10m")]
    pub questdb_max_outage: String,
}

impl QuestDbConnArgs {
    /// Parsed configuration and flush policy.
    pub fn target(&self) -> Result<QuestDbTarget> {
        QuestDbTarget::parse(&self.questdb_conf, &self.questdb_prefix, &self.questdb_max_outage)
    }
}

/// `--questdb` plus the connection flags, for commands that can also write to QuestDB.
#[derive(Args, Clone, Debug)]
pub struct QuestDbArgs {
    /// Also write to QuestDB: trades, bars (revisions overwrite) and late trades; for
    /// `backtest`, the reported run's orders, fills and equity.
    #[arg(long)]
    pub questdb: bool,
    #[command(flatten)]
    pub conn: QuestDbConnArgs,
}

impl QuestDbArgs {
    /// The target when `--questdb` is given.
    pub fn target(&self) -> Result<Option<QuestDbTarget>> {
        if self.questdb {
            self.conn.target().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// `tickflow questdb ...`.
#[derive(Args)]
pub struct QuestDbCmd {
    #[command(subcommand)]
    cmd: QuestDbSub,
}

#[derive(Subcommand)]
enum QuestDbSub {
    /// Create the tables (if missing): WAL, partitioned by day, designated timestamp = event
    /// time, DEDUP UPSERT KEYS on each table's natural key.
    Init {
        #[command(flatten)]
        conn: QuestDbConnArgs,
        /// Print the DDL instead of running it.
        #[arg(long)]
        print: bool,
    },
}

/// Runs `questdb ...`.
pub fn run(c: QuestDbCmd) -> Result<()> {
    match c.cmd {
        QuestDbSub::Init { conn, print } => {
            if print {
                for t in Table::ALL {
                    println!("{};", t.ddl(&conn.questdb_prefix));
                }
                return Ok(());
            }
            let t = conn.target()?;
            create_tables(&t.conf, &t.policy.table_prefix, t.policy.max_outage)?;
            let names: Vec<String> = Table::ALL.iter().map(|x| format!("{}{}", t.policy.table_prefix, x.base_name())).collect();
            println!("questdb {}: tables ready: {}", t.conf.base_url(), names.join(", "));
            Ok(())
        }
    }
}
