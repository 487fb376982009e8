//! The `settle` binary: the command line lives in the library ([`settle::cli`]), so a team can
//! build its own binary with the same subcommands.

fn main() -> std::process::ExitCode {
    settle::cli::main()
}
