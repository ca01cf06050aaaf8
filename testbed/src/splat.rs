//! Finds kernel splats in a console log: a clean log is part of every verdict.

/// Markers of a kernel problem, and the name we report for each; the
/// first that a line holds names it, so the specific come before the
/// general (`watchdog: BUG: soft lockup` is a soft lockup, not a BUG).
const MARKERS: &[(&str, &str)] = &[
    ("soft lockup", "BUG: soft lockup"),
    ("hard lockup", "Watchdog detected hard LOCKUP"),
    ("KASAN", "BUG: KASAN:"),
    ("KFENCE", "BUG: KFENCE:"),
    ("KCSAN", "BUG: KCSAN:"),
    ("RCU stall", "self-detected stall on CPU"),
    ("RCU stall", "detected stalls on CPUs/tasks"),
    ("hung task", "blocked for more than"),
    ("refcount", "refcount_t: "),
    ("list corruption", "list_add corruption"),
    ("list corruption", "list_del corruption"),
    // arm64's and s390's headlines for what x86 calls a BUG or an Oops.
    ("BUG", "Unable to handle kernel"),
    ("Oops", "Internal error:"),
    ("Oops", "Oops:"),
    ("BUG", "BUG:"),
    ("BUG", "kernel BUG at"),
    ("WARN", "WARNING:"),
    ("KASAN", "KASAN:"),
    ("lockdep", "possible recursive locking detected"),
    ("lockdep", "possible circular locking dependency"),
    ("lockdep", "inconsistent lock state"),
    ("lockdep", "suspicious RCU usage"),
    ("Call Trace", "Call Trace:"),
    ("panic", "Kernel panic"),
    ("UBSAN", "UBSAN:"),
    // Not "kmemleak:": its start-up and shut-down notes carry that too.
    ("kmemleak", "suspected memory leaks"),
];

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
/// One Oops, BUG, WARN, KASAN, lockdep or other report in a kernel log.
///
/// ```
/// let log = "[    1.0] kulink: loaded\n[    2.0] WARNING: CPU: 0 PID: 1 at net/core/dev.c:1 f+0x1/0x2\n";
/// let splats = kulink_testbed::splat::scan(log);
/// assert_eq!((splats.len(), splats[0].kind, splats[0].line), (1, "WARN", 2));
/// ```
pub struct Splat {
    /// Which kind of report (`Oops`, `BUG`, `WARN`, `KASAN`, `lockdep`, ...).
    pub kind: &'static str,
    /// 1-based line number in the console log.
    pub line: usize,
    /// The line that starts the report.
    pub text: String,
    /// The report's `RIP:` line: where the CPU was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rip: Option<String>,
    /// That place in the source of one of the test's modules (`file:line`),
    /// when it is in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The report's call trace, innermost first (`vfs_write+0xc8/0x3c0`);
    /// a frame in one of the test's modules ends with its source line
    /// (`... [mymod] at /src/mymod.c:23`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<String>,
}

/// As a person reads it: `BUG at console line 8: [    2.1] BUG: kernel NULL
/// pointer dereference, address: 0000000000000000`.
impl std::fmt::Display for Splat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at console line {}: {}", self.kind, self.line, self.text.trim())?;
        match (&self.rip, &self.source) {
            (Some(rip), Some(source)) => write!(f, "; {rip}, at {source}"),
            (Some(rip), None) => write!(f, "; {rip}"),
            (None, Some(source)) => write!(f, "; at {source}"),
            (None, None) => Ok(()),
        }?;
        if !self.trace.is_empty() {
            let callers: Vec<&str> = self.trace.iter().take(CALLERS_SHOWN).map(String::as_str).collect();
            write!(f, "; called from {}", callers.join(" ← "))?;
        }
        Ok(())
    }
}

/// How many frames of a call trace a one-line report names.
const CALLERS_SHOWN: usize = 4;

impl Splat {
    /// A bad access or a broken invariant: the task that met it may have
    /// died with it (unlike a WARN, which lets it go on, unless the kernel
    /// panics on warnings).
    pub fn is_fault(&self) -> bool {
        matches!(self.kind, "Oops" | "BUG" | "KASAN" | "KFENCE" | "KCSAN")
    }
}

/// Every splat line of `log`, each report's with its `RIP:` line and call
/// trace and, where they are in one of `modules` (the test's module
/// files), their source lines.
pub fn scan_with_sources(log: &str, modules: &[crate::traces::ModuleFile]) -> Vec<Splat> {
    let mut splats = scan(log);
    // The reports that print where the CPU was.
    let with_rip =
        ["Oops", "BUG", "WARN", "KASAN", "UBSAN", "KFENCE", "KCSAN", "soft lockup", "refcount", "list corruption"];
    for splat in splats.iter_mut().filter(|s| with_rip.contains(&s.kind) || s.kind == "hung task") {
        splat.trace = crate::traces::call_trace_after(log, splat.line)
            .into_iter()
            .map(|caller| match caller_source(&caller, modules) {
                Some(source) => format!("{caller} at {source}"),
                None => caller,
            })
            .collect();
        if splat.kind == "hung task" {
            continue;
        }
        splat.rip = crate::traces::rip_after(log, splat.line).filter(|rip| crate::traces::frame(rip).is_some());
        // KASAN, KFENCE and KCSAN name the place in their headline:
        // `BUG: KASAN: null-ptr-deref in nullwrite_write+0xb/0x1b [m]`.
        let headline = splat.text.split(" in ").nth(1).filter(|_| matches!(splat.kind, "KASAN" | "KFENCE" | "KCSAN"));
        let frame =
            headline.and_then(crate::traces::frame).or_else(|| splat.rip.as_deref().and_then(crate::traces::frame));
        splat.source = frame.and_then(|frame| {
            let module = crate::traces::module_file(modules, frame.module?)?;
            crate::traces::source_line(module, frame.function, frame.offset)
        });
    }
    splats
}

/// The source line of a call trace's frame in one of `modules`: the call
/// that returns there, one byte before the return address.
fn caller_source(caller: &str, modules: &[crate::traces::ModuleFile]) -> Option<String> {
    let frame = crate::traces::frame(caller.trim_start_matches("? "))?;
    let module = crate::traces::module_file(modules, frame.module?)?;
    crate::traces::source_line(module, frame.function, frame.offset.saturating_sub(1))
}

/// Every splat line, in log order.
pub fn scan(log: &str) -> Vec<Splat> {
    log.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let body = crate::traces::untimed(line);
            MARKERS.iter().find(|(_, marker)| body.contains(marker)).map(|(kind, _)| Splat {
                kind,
                line: i + 1,
                text: line.trim_end().to_owned(),
                rip: None,
                source: None,
                trace: Vec::new(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_s_other_reports_are_named_by_what_they_are() {
        let kinds = |log: &str| scan(log).into_iter().map(|s| s.kind).collect::<Vec<_>>();
        let cases = [
            ("[ 22.1] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [sh:80]", "soft lockup"),
            ("[ 30.1] NMI watchdog: Watchdog detected hard LOCKUP on cpu 1", "hard lockup"),
            ("[  3.1] BUG: KFENCE: use-after-free read in nw_read+0x1/0x2 [nw]", "KFENCE"),
            ("[  3.1] BUG: KCSAN: data-race in nw_read / nw_write", "KCSAN"),
            ("[  3.1] BUG: KASAN: null-ptr-deref in nw_write+0xb/0x1b [nw]", "KASAN"),
            ("[ 21.1] rcu: INFO: rcu_sched self-detected stall on CPU", "RCU stall"),
            ("[ 21.1] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:", "RCU stall"),
            ("[122.1] INFO: task sh:80 blocked for more than 120 seconds.", "hung task"),
            ("[  3.1] refcount_t: underflow; use-after-free.", "refcount"),
            ("[  3.1] list_add corruption. prev->next should be next (ffff8880), but was 0000", "list corruption"),
            ("[  3.1] Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000", "BUG"),
            ("[  3.1] Internal error: Oops: 0000000096000005 [#1] PREEMPT SMP", "Oops"),
        ];
        for (line, kind) in cases {
            assert_eq!(kinds(line), [kind], "{line}");
        }
    }

    #[test]
    fn a_splat_reads_as_a_sentence_not_as_rust() {
        let mut splat = Splat {
            kind: "BUG",
            line: 8,
            text: "[    2.1] BUG: kernel NULL pointer dereference \n".into(),
            rip: None,
            source: None,
            trace: Vec::new(),
        };
        assert_eq!(splat.to_string(), "BUG at console line 8: [    2.1] BUG: kernel NULL pointer dereference");
        splat.rip = Some("RIP: 0010:nw_write+0x5/0xb [nw]".into());
        splat.source = Some("/src/nw/nw.c:23".into());
        assert!(splat.to_string().ends_with("dereference; RIP: 0010:nw_write+0x5/0xb [nw], at /src/nw/nw.c:23"));
        splat.trace = ["proc_reg_write+0x51/0x90", "vfs_write+0xc8/0x3c0", "a+0x1/0x2", "b+0x1/0x2", "c+0x1/0x2"]
            .map(String::from)
            .to_vec();
        assert!(splat.to_string().ends_with(
            "/src/nw/nw.c:23; called from proc_reg_write+0x51/0x90 ← vfs_write+0xc8/0x3c0 ← a+0x1/0x2 ← b+0x1/0x2"
        ));
    }

    const CLEAN: &str = "\
[    0.000000] Linux version 6.1.192 (gcc 12)
[    0.779236] Run /init as init process
[    0.840725] kulink: loading out-of-tree module taints kernel.
[    0.845426] kulink: loaded, generic netlink family kulink
[    0.931845] kulink-agent: ready
";

    const WARN: &str = "\
[    1.000000] ------------[ cut here ]------------
[    1.000100] WARNING: CPU: 0 PID: 1 at net/netlink/genetlink.c:383 genl_validate_ops+0x1/0x2
[    1.000200] Modules linked in: kulink(O)
[    1.000300] Call Trace:
[    1.000400]  <TASK>
";

    const OOPS: &str = "\
[    2.1] BUG: kernel NULL pointer dereference, address: 0000000000000008
[    2.2] Oops: 0002 [#1] PREEMPT SMP NOPTI
[    2.3] Kernel panic - not syncing: Fatal exception in interrupt
";

    const LOCKDEP: &str = "\
[    3.0] ============================================
[    3.1] WARNING: possible recursive locking detected
[    3.2] BUG: KASAN: slab-out-of-bounds in kulink_hook+0x10/0x20
";

    #[test]
    fn clean_log_has_no_splat() {
        assert!(scan(CLEAN).is_empty());
    }

    #[test]
    fn warn_with_trace_is_found() {
        let s = scan(WARN);
        assert_eq!(s.iter().map(|s| (s.kind, s.line)).collect::<Vec<_>>(), vec![("WARN", 2), ("Call Trace", 4)]);
    }

    #[test]
    fn oops_bug_and_panic_are_found() {
        let kinds: Vec<_> = scan(OOPS).into_iter().map(|s| s.kind).collect();
        assert_eq!(kinds, vec!["BUG", "Oops", "panic"]);
    }

    #[test]
    fn lockdep_and_kasan_are_found() {
        let kinds: Vec<_> = scan(LOCKDEP).into_iter().map(|s| s.kind).collect();
        assert_eq!(kinds, vec!["WARN", "KASAN"]);
        assert!(scan(LOCKDEP)[1].text.contains("BUG: KASAN:"));
    }

    #[test]
    fn a_word_inside_a_message_is_not_a_splat() {
        assert!(scan("[ 1.0] kulink: counting BUGs is not a BUG\n[ 1.1] debug: warning count 0\n").is_empty());
    }
}
