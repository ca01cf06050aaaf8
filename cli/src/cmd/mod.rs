//! One file per command: its flags and what it does.

pub mod bench;
pub mod bench_edit;
pub mod flood;
pub mod fuzz;
pub mod inject;
pub mod kernels;
pub mod report;
pub mod run;
pub mod shell;
pub mod splats;
pub mod test;

use std::process::ExitCode;

use kulink::EXIT_FAILED;

/// 0 when the verdict passed, 1 when it did not.
pub fn verdict(passed: bool) -> ExitCode {
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED as u8)
    }
}
