//! The `attngraph` binary: parses the command line and reports errors with their chain.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    attngraph::allocator::tune();
    let args =
        attngraph::cli::Args::parse_from(attngraph::cli::with_default_command(std::env::args_os()));
    match attngraph::cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A reader that closed the pipe (`attngraph analyze … | head`) is not an error.
            if attngraph::cli::report::reader_went_away(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", attngraph::cli::report::message(&err));
            ExitCode::FAILURE
        }
    }
}
