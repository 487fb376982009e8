//! The `settle` binary: the command line lives in the library ([`settle::cli`]), so a team can
//! build its own binary with the same subcommands.
//!
//! The binary allocates with mimalloc ([`settle::alloc`]): a simulated seed allocates and frees many small buffers
//! (HTTP bodies, JSON, rows), and glibc's malloc was about 14 % of a `midtrans_hour` seed's
//! instructions (README, "Performance"). For the same reason it turns off SQLite's memory
//! statistics, which take a global mutex around every allocation SQLite makes; nothing in settle
//! reads them. Both change speed only, never a trace.

#[global_allocator]
static GLOBAL: settle::alloc::Mimalloc = settle::alloc::Mimalloc;

fn main() -> std::process::ExitCode {
    // SAFETY: `sqlite3_config` must run before SQLite is initialized and while no other thread
    // uses SQLite: this is the first thing the process does, on its only thread. Were SQLite
    // already initialized, it would refuse with SQLITE_MISUSE and change nothing.
    unsafe {
        rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int);
    }
    settle::cli::main()
}
