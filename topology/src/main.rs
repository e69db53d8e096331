//! `tickflow`: the command-line front door. See `tickflow --help` and the README.

/// mimalloc keeps freed memory for reuse instead of trimming it back to the OS on the hot
/// path; with glibc malloc, workers that free consumed batches pay page faults and TLB
/// shootdowns that stall their peers (the in-memory benchmark ran ~35% slower on 1 worker and
/// scaled 1.4× instead of ~1.7× on 2). Off with `--no-default-features`.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    tickflow::cli::main()
}
