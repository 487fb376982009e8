//! The `settle` binary: the command line lives in the library ([`settle::cli`]), so a team can
//! build its own binary with the same subcommands.
//!
//! The binary allocates with mimalloc: a simulated seed allocates and frees many small buffers
//! (HTTP bodies, JSON, rows), and glibc's malloc was about 14 % of a `midtrans_hour` seed's
//! instructions (README, "Performance"). The allocator changes speed only, never a trace.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    settle::cli::main()
}
