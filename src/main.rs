//! The `attngraph` binary: parses the command line and reports errors with their chain.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    attngraph::allocator::tune();
    let args = attngraph::cli::Args::parse();
    match attngraph::cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A reader that closed the pipe (`attngraph analyze … | head`) is not an error.
            if err.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
