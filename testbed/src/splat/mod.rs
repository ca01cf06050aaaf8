//! Finds kernel reports in a console log: a clean log is part of every
//! verdict. A report is found by its headline in the shape the kernel
//! prints it (a [`Kind`] each), and everything it prints after (its `RIP:`
//! line, its call trace, the Oops a page fault's BUG ends in, the panic
//! it causes) belongs to it: one report, one splat.

pub mod corpus;
mod formats;

pub use formats::Kind;
use formats::{headline, is_call_trace, is_end, is_rule, kernel_message, panic_follows, LogStyle};

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
    /// What the report is.
    pub fn kind(&self) -> Option<Kind> {
        Kind::named(self.kind)
    }

    /// A bad access or a broken invariant: the task that met it may have
    /// died with it (unlike a WARN, which lets it go on, unless the kernel
    /// panics on warnings).
    pub fn is_fault(&self) -> bool {
        self.kind().is_some_and(Kind::is_fault)
    }

    /// The function the report blames: the place a sanitizer or WARN names
    /// in its headline, else where the CPU was (the `RIP:` line), else the
    /// innermost frame of a module in its call trace, else its innermost
    /// frame.
    pub fn culprit(&self) -> Option<&str> {
        let message = headline_location(&self.text);
        let rip = self.rip.as_deref().and_then(crate::traces::frame).map(|f| f.function);
        let frames = || self.trace.iter().filter_map(|f| crate::traces::frame(f.trim_start_matches("? ")));
        message
            .or(rip)
            .or_else(|| frames().find(|f| f.module.is_some()).map(|f| f.function))
            .or_else(|| frames().next().map(|f| f.function))
    }
}

/// The function a headline names: KASAN's `... in f+0x1/0x2 [m]`, a WARN's
/// `at FILE:LINE f+0x1/0x2` (6.x) or `at f+0x1/0x2, CPU#0` (7.x).
fn headline_location(text: &str) -> Option<&str> {
    let words = text.split_whitespace().map(|w| w.trim_end_matches(','));
    let located = words.filter(|w| w.contains("+0x") && w.contains('/'));
    located.filter_map(|w| crate::traces::frame(w).map(|f| f.function)).next()
}

/// Every report of `log`, each with its `RIP:` line and call trace and,
/// where they are in one of `modules` (the test's module files), their
/// source lines.
pub fn scan_with_sources(log: &str, modules: &[crate::traces::ModuleFile]) -> Vec<Splat> {
    with_sources(scan(log), modules)
}

/// [`scan_with_sources`] of the console, where a report whose call trace
/// the console's loglevel hid (a hung task's, printed at `KERN_INFO`)
/// takes it from the same report in `full_log`, the kernel's log at every
/// level (read only then). The console stays the reference: it has what a
/// kernel printed as it went down, which the log read from user space may
/// lack.
pub fn scan_console_and_log(
    console: &str,
    full_log: impl FnOnce() -> String,
    modules: &[crate::traces::ModuleFile],
) -> Vec<Splat> {
    let mut splats = scan(console);
    if splats.iter().any(|s| s.trace.is_empty()) {
        let full_log = full_log();
        let fuller = scan(&full_log);
        let (console_style, log_style) = (LogStyle::of(console), LogStyle::of(&full_log));
        for splat in splats.iter_mut().filter(|s| s.trace.is_empty()) {
            let message = kernel_message(&splat.text, console_style);
            let same = fuller.iter().find(|f| f.kind == splat.kind && kernel_message(&f.text, log_style) == message);
            if let Some(same) = same {
                splat.trace.clone_from(&same.trace);
                if splat.rip.is_none() {
                    splat.rip.clone_from(&same.rip);
                }
            }
        }
    }
    with_sources(splats, modules)
}

fn with_sources(mut splats: Vec<Splat>, modules: &[crate::traces::ModuleFile]) -> Vec<Splat> {
    for splat in &mut splats {
        // A WARN names the module's file as it was built, in the cache.
        for module in modules {
            if let Some(build) = module.ko.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                let (build, source) = (build.display().to_string(), module.source_dir.display().to_string());
                splat.text = splat.text.replace(&format!("{build}/"), &format!("{source}/"));
            }
        }
        splat.trace = std::mem::take(&mut splat.trace)
            .into_iter()
            .map(|caller| match caller_source(&caller, modules) {
                Some(source) => format!("{caller} at {source}"),
                None => caller,
            })
            .collect();
        // A sanitizer names the place in its headline: `BUG: KASAN:
        // null-ptr-deref in nullwrite_write+0xb/0x1b [m]`.
        let named = matches!(splat.kind(), Some(Kind::Kasan | Kind::Kfence | Kind::Kcsan | Kind::Kmsan))
            .then(|| splat.text.split(" in ").nth(1).and_then(crate::traces::frame))
            .flatten();
        let frame = named.or_else(|| splat.rip.as_deref().and_then(crate::traces::frame));
        splat.source = frame.and_then(|frame| {
            let module = crate::traces::module_file(modules, frame.module?)?;
            crate::traces::source_line(module, frame.function, frame.offset)
        });
    }
    splats
}

/// `text` with the place in the source after each line that is a frame
/// of one of `modules` (`  sl_write+0x1d/0x30 [sleeper]`, as a stuck
/// task's kernel stack lists them).
pub fn with_frame_sources(text: &str, modules: &[crate::traces::ModuleFile]) -> String {
    let lines: Vec<String> = text
        .lines()
        .map(|line| match caller_source(line.trim(), modules) {
            Some(source) => format!("{line} at {source}"),
            None => line.to_owned(),
        })
        .collect();
    lines.join("\n")
}

/// The source line of a call trace's frame in one of `modules`: the call
/// that returns there, one byte before the return address.
fn caller_source(caller: &str, modules: &[crate::traces::ModuleFile]) -> Option<String> {
    let frame = crate::traces::frame(caller.trim_start_matches("? "))?;
    let module = crate::traces::module_file(modules, frame.module?)?;
    crate::traces::source_line(module, frame.function, frame.offset.saturating_sub(1))
}

/// The console line of a kernel panic (`Kernel panic - not syncing: ...`),
/// if the kernel printed one: whether or not a report before it explains
/// it, the guest is gone.
pub fn panic_line(log: &str) -> Option<String> {
    let style = LogStyle::of(log);
    log.lines()
        .find(|line| kernel_message(line, style).is_some_and(|m| headline(m) == Some(Kind::Panic)))
        .map(|line| line.trim_end().to_owned())
}

/// How far below a report's first line its call trace, or a line that
/// belongs to it, may come.
const REPORT_WITHIN: usize = 150;

/// How far below a report's first line the die() of its fault comes (a
/// page fault's `BUG: ...` to its `Oops: ...`).
const DIE_WITHIN: usize = 20;

/// How far below a `WARNING:` line its message comes, or above it (a
/// `refcount_t: ...` line, which older kernels print first).
const MESSAGE_WITHIN: usize = 4;

/// A report being read: its splat and the lines it spans.
struct Report {
    splat: Splat,
    /// The index of its first line.
    start: usize,
    /// The index of the line after its last.
    end: usize,
}

/// Every report of `log`, in log order, each with its `RIP:` line and
/// call trace.
pub fn scan(log: &str) -> Vec<Splat> {
    let style = LogStyle::of(log);
    let lines: Vec<&str> = log.lines().collect();
    let mut reports: Vec<Report> = Vec::new();
    // The report whose lines these are, until another begins or it ends.
    let mut open: Option<usize> = None;
    let mut previous = "";
    for (i, line) in lines.iter().enumerate() {
        let Some(message) = kernel_message(line, style) else { continue };
        if let Some(o) = open {
            reports[o].end = i + 1;
        }
        let found = headline(message).or_else(|| lockdep_after_rule(previous, message));
        previous = message;
        if is_end(message) {
            open = None;
            continue;
        }
        let kind = match found {
            Some(kind) => kind,
            None if is_call_trace(message) && open.is_none_or(|o| i - reports[o].start > REPORT_WITHIN) => {
                Kind::StackDump
            }
            None => continue,
        };
        if let Some(into) = belongs_to(kind, message, i, &reports, open) {
            let report = &mut reports[into];
            if matches!(kind, Kind::Refcount | Kind::ListCorruption) {
                report.splat.kind = kind.name();
            }
            report.end = report.end.max(i + 1);
            continue;
        }
        let text = if kind == Kind::StackDump { cause_of_dump(&lines, i, style) } else { line };
        if let Some(o) = open {
            reports[o].end = i;
        }
        reports.push(Report { splat: splat(kind, text, i), start: i, end: i + 1 });
        open = Some(reports.len() - 1);
    }
    reports
        .into_iter()
        .map(|mut report| {
            // The kernel's messages alone: no level, timestamp or syslog
            // prefix, no line a program wrote between them.
            let body: Vec<&str> =
                lines[report.start..report.end].iter().filter_map(|l| kernel_message(l, style)).collect();
            let body = body.join("\n");
            report.splat.trace = crate::traces::call_trace_after(&body, 1);
            if report.splat.kind().is_some_and(Kind::has_registers) {
                report.splat.rip = crate::traces::rip_after(&body, 1).filter(|rip| crate::traces::frame(rip).is_some());
            }
            report.splat
        })
        .collect()
}

fn splat(kind: Kind, text: &str, index: usize) -> Splat {
    Splat {
        kind: kind.name(),
        line: index + 1,
        text: text.trim_end().to_owned(),
        rip: None,
        source: None,
        trace: Vec::new(),
    }
}

/// lockdep's headline in a shape kulink has no pattern for: a `WARNING:`
/// right below the rule of `=` that lockdep prints above each report.
fn lockdep_after_rule(previous: &str, message: &str) -> Option<Kind> {
    (is_rule(previous) && previous.trim().starts_with('=') && message.starts_with("WARNING: ")).then_some(Kind::Lockdep)
}

/// The report that a headline of `kind` at line `i` continues, if it
/// continues one rather than beginning its own: a page fault's BUG ends in
/// an Oops, a `kernel BUG at` in an `invalid opcode`; a WARN's message
/// says it is a refcount or list corruption; a panic is an Oops's or a
/// WARN's consequence; a leaked netdev is told again every ten seconds, a
/// soft lockup each time it outlasts the watchdog's threshold again.
fn belongs_to(kind: Kind, message: &str, i: usize, reports: &[Report], open: Option<usize>) -> Option<usize> {
    let near = |o: usize, within: usize| (i - reports[o].start <= within).then_some(o);
    let open_kind = open.and_then(|o| reports[o].splat.kind());
    let dies = kind.is_die();
    match (kind, open_kind) {
        (_, Some(Kind::Bug | Kind::DoubleFault | Kind::ListCorruption | Kind::Ubsan)) if dies => {
            open.and_then(|o| near(o, DIE_WITHIN))
        }
        (Kind::Warn, Some(Kind::Refcount | Kind::ListCorruption)) => open.and_then(|o| near(o, MESSAGE_WITHIN)),
        (Kind::Bug, Some(Kind::ListCorruption)) if message.contains("BUG at ") => {
            open.and_then(|o| near(o, MESSAGE_WITHIN))
        }
        (Kind::Refcount | Kind::ListCorruption, Some(Kind::Warn | Kind::Bug)) => {
            open.and_then(|o| near(o, MESSAGE_WITHIN))
        }
        (Kind::Panic, _) if panic_follows(message) => {
            open.or(reports.len().checked_sub(1)).filter(|&o| i.saturating_sub(reports[o].end) <= REPORT_WITHIN)
        }
        (Kind::NetdevLeak, _) => {
            let device =
                |text: &str| text.split("waiting for ").nth(1).and_then(|r| r.split(' ').next()).map(str::to_owned);
            let this = device(message);
            reports.iter().rposition(|r| r.splat.kind() == Some(Kind::NetdevLeak) && device(&r.splat.text) == this)
        }
        // The watchdog tells a lockup again each threshold it lasts.
        (Kind::SoftLockup, _) => {
            let stuck = |text: &str| {
                let after = text.split("soft lockup - ").nth(1)?;
                Some((after.split(' ').next()?.to_owned(), after.rsplit_once(" [")?.1.to_owned()))
            };
            let this = stuck(message)?;
            reports
                .iter()
                .rposition(|r| r.splat.kind() == Some(Kind::SoftLockup) && stuck(&r.splat.text) == Some(this.clone()))
        }
        _ => None,
    }
}

/// What a call trace no headline introduced is about: the kernel's line
/// printed with the task and hardware lines that begin every stack dump
/// (`CPU: 0 PID: 1 Comm: ...`, `Hardware name: ...`), or, when none was
/// printed with them, the first of those lines (it names the task).
fn cause_of_dump<'a>(lines: &[&'a str], at: usize, style: LogStyle) -> &'a str {
    let dump_header = |m: &str| {
        m.trim().is_empty()
            || m.starts_with("CPU: ")
            || m.starts_with("Hardware name: ")
            || m.starts_with("Workqueue: ")
            || m.starts_with("Modules linked in:")
            || m.starts_with("Tainted: ")
    };
    let above: Vec<(&'a str, &str)> = lines[..at]
        .iter()
        .rev()
        .take(MESSAGE_WITHIN + 2)
        .filter_map(|line| kernel_message(line, style).map(|m| (*line, m)))
        .collect();
    let header = above.iter().take_while(|(_, m)| dump_header(m)).last().map_or(lines[at], |(line, _)| *line);
    let cause = above.iter().find(|(_, m)| !dump_header(m)).map(|(line, _)| *line);
    match cause {
        Some(cause) if printed_together(cause, header) => cause,
        _ => header,
    }
}

/// How far apart in time two lines of one report may be printed: a line
/// takes a few milliseconds on a slow serial console.
const TOGETHER: f64 = 0.05;

/// Whether two console lines were printed together, by their timestamps
/// (lines without them may have been).
fn printed_together(a: &str, b: &str) -> bool {
    let time = |line: &str| -> Option<f64> {
        let (inside, _) = line.trim_start().strip_prefix('[')?.split_once(']')?;
        inside.trim().parse().ok()
    };
    match (time(a), time(b)) {
        (Some(a), Some(b)) => (b - a).abs() <= TOGETHER,
        _ => true,
    }
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
        assert_eq!(
            s.iter().map(|s| (s.kind, s.line)).collect::<Vec<_>>(),
            vec![("WARN", 2)],
            "the trace is the WARN's"
        );
    }

    #[test]
    fn oops_bug_and_panic_are_found() {
        let kinds: Vec<_> = scan(OOPS).into_iter().map(|s| s.kind).collect();
        assert_eq!(kinds, vec!["BUG"], "the Oops and the panic it caused are the BUG's");
    }

    #[test]
    fn lockdep_and_kasan_are_found() {
        let kinds: Vec<_> = scan(LOCKDEP).into_iter().map(|s| s.kind).collect();
        assert_eq!(kinds, vec!["lockdep", "KASAN"]);
        assert!(scan(LOCKDEP)[1].text.contains("BUG: KASAN:"));
    }

    #[test]
    fn a_stack_dump_is_named_by_what_was_printed_with_it() {
        let dump = "[ 1.000] kulink-agent: ready\n[ 1.500] irq 19: nobody cared\n\
                    [ 1.501] CPU: 0 PID: 26 Comm: sh Tainted: G O 6.1.192 #1\n[ 1.502] Call Trace:\n\
                    [ 1.503]  dump_stack_lvl+0x19/0x23\n[ 1.504]  f+0x1/0x2 [m]\n";
        let s = scan(dump);
        assert_eq!((s.len(), s[0].kind, s[0].text.as_str()), (1, "stack dump", "[ 1.500] irq 19: nobody cared"));
        assert_eq!(s[0].culprit(), Some("f"), "the module's frame");
        let unexplained = dump.replace("[ 1.500] irq 19: nobody cared\n", "");
        let s = scan(&unexplained);
        assert!(s[0].text.starts_with("[ 1.501] CPU: 0 PID: 26 Comm: sh"), "not the agent's line: {s:?}");
    }

    #[test]
    fn one_oops_is_one_report_with_its_trace_and_rip() {
        let oops = "[ 2.0] BUG: kernel NULL pointer dereference, address: 0000000000000000\n\
                    [ 2.0] #PF: supervisor write access in kernel mode\n[ 2.0] Oops: 0002 [#1] PREEMPT SMP NOPTI\n\
                    [ 2.0] RIP: 0010:nw_store+0x5/0xb [nw]\n[ 2.0] Call Trace:\n[ 2.0]  <TASK>\n\
                    [ 2.0]  nw_write+0x9/0xc [nw]\n[ 2.0]  </TASK>\n[ 2.0] ---[ end trace 0000000000000000 ]---\n\
                    [ 2.1] Kernel panic - not syncing: Fatal exception\n\
                    [ 2.2] ---[ end Kernel panic - not syncing: Fatal exception ]---\n";
        let s = scan(oops);
        assert_eq!(s.len(), 1, "{s:#?}");
        assert_eq!(s[0].rip.as_deref(), Some("RIP: 0010:nw_store+0x5/0xb [nw]"));
        assert_eq!(s[0].trace, ["nw_write+0x9/0xc [nw]"]);
        assert_eq!(s[0].culprit(), Some("nw_store"));
        assert_eq!(panic_line(oops).as_deref(), Some("[ 2.1] Kernel panic - not syncing: Fatal exception"));
    }

    #[test]
    fn a_trace_the_console_hid_comes_from_the_full_log() {
        let console = "[   25.1] INFO: task sh:81 blocked for more than 10 seconds.\n\
                       [   25.1]       Tainted: G           O       6.1.0 #1\n";
        let log = "<3>[   25.1] INFO: task sh:81 blocked for more than 10 seconds.\n\
                   <3>[   25.1]       Tainted: G           O       6.1.0 #1\n\
                   <6>[   25.1] task:sh              state:D stack:0     pid:81    ppid:1      flags:0x00004000\n\
                   <6>[   25.1] Call Trace:\n\
                   <6>[   25.1]  <TASK>\n\
                   <6>[   25.1]  __schedule+0x2a8/0x820\n\
                   <6>[   25.1]  schedule+0x5a/0xc0\n\
                   <6>[   25.1]  splatter_write+0x12f/0x23f [kulink_splatter]\n\
                   <6>[   25.1]  vfs_write+0x9e/0x186\n\
                   <6>[   25.1]  </TASK>\n";
        assert!(scan(console)[0].trace.is_empty());
        let splats = scan_console_and_log(console, || log.to_owned(), &[]);
        assert_eq!((splats.len(), splats[0].kind, splats[0].line), (1, "hung task", 1));
        assert_eq!(splats[0].trace.len(), 4, "{:?}", splats[0].trace);
        assert_eq!(splats[0].culprit(), Some("splatter_write"));
        // Another report's trace is not taken.
        let other = log.replace("task sh:81", "task sh:82");
        assert!(scan_console_and_log(console, || other, &[])[0].trace.is_empty());
    }

    #[test]
    fn a_soft_lockup_told_again_is_one_report() {
        let lockup = "[ 8.8] watchdog: BUG: soft lockup - CPU#0 stuck for 4s! [sh:81]\n\
                      [ 12.0] watchdog: BUG: soft lockup - CPU#0 stuck for 7s! [sh:81]\n\
                      [ 13.0] watchdog: BUG: soft lockup - CPU#1 stuck for 4s! [sh:90]\n";
        let kinds: Vec<_> = scan(lockup).iter().map(|s| (s.kind, s.line)).collect();
        assert_eq!(kinds, [("soft lockup", 1), ("soft lockup", 3)]);
    }

    #[test]
    fn a_leaked_netdev_told_again_is_one_report() {
        let leak = "[ 11.0] unregister_netdevice: waiting for kulinkleak0 to become free. Usage count = 2\n\
                    [ 21.0] unregister_netdevice: waiting for kulinkleak0 to become free. Usage count = 2\n\
                    [ 31.0] unregister_netdevice: waiting for lo to become free. Usage count = 5\n";
        let kinds: Vec<_> = scan(leak).into_iter().map(|s| (s.kind, s.line)).collect();
        assert_eq!(kinds, [("netdev leak", 1), ("netdev leak", 3)]);
    }

    #[test]
    fn a_refcount_warning_is_one_report_in_either_order() {
        let older = "[ 1.0] ------------[ cut here ]------------\n[ 1.0] refcount_t: addition on 0; use-after-free.\n\
                     [ 1.0] WARNING: CPU: 0 PID: 26 at lib/refcount.c:25 refcount_warn_saturate+0x6d/0xf0\n";
        let newer = "[ 1.0] WARNING: lib/refcount.c:25 at refcount_warn_saturate+0x6d/0xf0, CPU#0: sh/26\n\
                     [ 1.0] refcount_t: addition on 0; use-after-free.\n";
        for log in [older, newer] {
            let s = scan(log);
            assert_eq!(s.iter().map(|s| s.kind).collect::<Vec<_>>(), ["refcount"], "{log}");
        }
    }

    #[test]
    fn a_warning_names_the_user_s_file_not_the_build_s() {
        let log = "[ 1.0] WARNING: CPU: 0 PID: 1 at /cache/build/m/warner.c:12 warner_init+0x1/0x2 [m]\n";
        let module = crate::traces::ModuleFile { ko: "/cache/build/m/m.ko".into(), source_dir: "/home/me/m".into() };
        let splats = scan_with_sources(log, &[module]);
        assert_eq!(splats[0].text, "[ 1.0] WARNING: CPU: 0 PID: 1 at /home/me/m/warner.c:12 warner_init+0x1/0x2 [m]");
    }

    #[test]
    fn a_word_inside_a_message_is_not_a_splat() {
        assert!(scan("[ 1.0] kulink: counting BUGs is not a BUG\n[ 1.1] debug: warning count 0\n").is_empty());
    }
}
