//! How a test says it could not run its real check on this machine, shared by the unit tests and the
//! integration tests (which include this file by path).
//!
//! The line goes straight to the process's stderr, past the test harness's capture, so `cargo test` shows it
//! even when the test passes: `SKIPPED <test>: <what> did not run (<why>)`. A check that CI can always run
//! (it installs the programs and fonts, and runs on Linux) fails under `ATTNGRAPH_CI=1` instead; a check that
//! needs CPU instructions the machine lacks is only reported, since CI's CPU varies.

use std::io::Write;

/// Says on the test output that `test` could not run `what`, and why.
pub fn report(test: &str, what: &str, why: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {what} did not run ({why})"
    );
}

/// A check CI must run: under `ATTNGRAPH_CI` set, a failure naming it; elsewhere [`report`].
pub fn required_in_ci(test: &str, what: &str, why: &str) {
    assert!(
        std::env::var_os("ATTNGRAPH_CI").is_none(),
        "{test}: {what} must run under ATTNGRAPH_CI, but {why}"
    );
    report(test, what, why);
}
