//! Named steps of a check channel, each with its verdict.

use std::fmt::Debug;
use std::io;

use kulink_wire::control::CheckResult;

#[derive(Default)]
pub struct Steps {
    passed: bool,
    failed: bool,
    detail: Vec<String>,
}

impl Steps {
    pub fn expect(&mut self, what: &str, ok: bool, seen: &dyn Debug) {
        self.passed |= ok;
        self.failed |= !ok;
        self.detail.push(format!("{} {what}: {seen:?}", if ok { "ok  " } else { "FAIL" }));
    }

    /// The step must fail with exactly `errno`.
    pub fn errno(&mut self, what: &str, result: io::Result<()>, errno: i32) {
        let ok = matches!(&result, Err(e) if e.raw_os_error() == Some(errno));
        let want = io::Error::from_raw_os_error(errno);
        let seen: &dyn Debug = &result.map_err(|e| e.to_string());
        self.expect(&format!("{what} fails with \"{want}\""), ok, seen);
    }

    pub fn finish(self) -> CheckResult {
        CheckResult { passed: self.passed && !self.failed, detail: self.detail }
    }
}
