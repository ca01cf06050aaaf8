//! The shapes in which the kernel prints its reports, and how a console
//! line is told apart from what a program wrote to the console.
//!
//! A report is recognised by its headline as the kernel prints it, at the
//! start of the message (after the timestamp and caller id), never by a
//! word anywhere in a line: `Spectre V2 : WARNING: ...`, `ODEBUG: Out of
//! memory` or `XFS (loop4): WARNING: ...` are healthy kernels' lines. The
//! formats come from the kernel's printers: `kernel/panic.c` (`__warn`,
//! `panic`), `lib/bug.c`, `arch/x86/kernel/dumpstack.c` (`__die_header`)
//! and `traps.c`, `arch/arm64/kernel/traps.c` and `mm/fault.c`,
//! `mm/kasan/report.c`, `mm/kfence/report.c`, `kernel/kcsan/report.c`,
//! `mm/kmsan/report.c`, `lib/ubsan.c`, `kernel/locking/lockdep.c`,
//! `kernel/rcu/tree_stall.h`, `kernel/hung_task.c`, `kernel/watchdog.c`,
//! `kernel/workqueue.c`, `mm/slub.c`, `mm/kmemleak.c` and `net/core/dev.c`.

use std::sync::LazyLock;

use regex::Regex;

/// What a kernel report is. The names are the words a kernel developer
/// uses; [`Kind::name`] is the string reports and known-bugs files show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `WARNING: CPU: 0 PID: 1 at FILE:LINE FUNC` (or 7.x's `WARNING:
    /// FILE:LINE at FUNC, CPU#0: comm/1`).
    Warn,
    /// `BUG: ...`, `kernel BUG at FILE:LINE!`, arm64's and s390's
    /// `Unable to handle kernel ...`.
    Bug,
    /// A die() whose cause is a page fault: `Oops: 0002 [#1]`, arm64's
    /// `Internal error: Oops: ...`.
    Oops,
    /// x86's `general protection fault` (a non-canonical pointer: a wild
    /// or freed pointer without KASAN).
    GeneralProtection,
    /// x86's `divide error`.
    DivideError,
    /// x86's `invalid opcode` that no `kernel BUG at` explains.
    InvalidOpcode,
    /// x86's `stack segment` fault.
    StackSegment,
    /// x86's `PANIC: double fault` (a kernel stack overflow, usually).
    DoubleFault,
    /// Another x86 trap's die() (`int3`, `alignment check`, ...).
    Trap,
    /// `BUG: KASAN: ...`.
    Kasan,
    /// `BUG: KFENCE: ...`.
    Kfence,
    /// `BUG: KCSAN: ...`.
    Kcsan,
    /// `BUG: KMSAN: ...`.
    Kmsan,
    /// `UBSAN: ...`.
    Ubsan,
    /// Every lockdep headline (`WARNING: possible circular locking
    /// dependency detected`, older kernels' `[ INFO: ... ]`).
    Lockdep,
    /// `rcu: INFO: rcu_sched self-detected stall on CPU` and its kin.
    RcuStall,
    /// `INFO: task NAME:PID blocked for more than N seconds.` (and newer
    /// kernels' `blocked in I/O wait for more than`).
    HungTask,
    /// `watchdog: BUG: soft lockup - CPU#0 stuck for 22s!`.
    SoftLockup,
    /// `Watchdog detected hard LOCKUP on cpu N`.
    HardLockup,
    /// `BUG: workqueue lockup - pool ...`.
    WorkqueueLockup,
    /// `unregister_netdevice: waiting for DEV to become free. Usage count
    /// = N`: a network device's reference leaked.
    NetdevLeak,
    /// `refcount_t: underflow; use-after-free.` and the other saturations.
    Refcount,
    /// `list_add corruption.`, `list_add double add:`, `list_del
    /// corruption.` or `list_del corruption,` (lib/list_debug.c).
    ListCorruption,
    /// SLUB's `BUG CACHE (TAINT): MESSAGE`: a freed object written, freed
    /// twice, or its redzone overwritten.
    SlabCorruption,
    /// `kmemleak: N new suspected memory leaks`.
    Kmemleak,
    /// `Kernel panic - not syncing: ...` that no report before it explains.
    Panic,
    /// A call trace that no headline introduced (`dump_stack()`, or a
    /// report printed in a shape kulink does not know): named by the line
    /// before it.
    StackDump,
}

impl Kind {
    /// Every kind, in the order reports list them.
    pub const ALL: [Kind; 27] = [
        Kind::Warn,
        Kind::Bug,
        Kind::Oops,
        Kind::GeneralProtection,
        Kind::DivideError,
        Kind::InvalidOpcode,
        Kind::StackSegment,
        Kind::DoubleFault,
        Kind::Trap,
        Kind::Kasan,
        Kind::Kfence,
        Kind::Kcsan,
        Kind::Kmsan,
        Kind::Ubsan,
        Kind::Lockdep,
        Kind::RcuStall,
        Kind::HungTask,
        Kind::SoftLockup,
        Kind::HardLockup,
        Kind::WorkqueueLockup,
        Kind::NetdevLeak,
        Kind::Refcount,
        Kind::ListCorruption,
        Kind::SlabCorruption,
        Kind::Kmemleak,
        Kind::Panic,
        Kind::StackDump,
    ];

    /// The name reports, JSON and known-bugs files use.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Warn => "WARN",
            Kind::Bug => "BUG",
            Kind::Oops => "Oops",
            Kind::GeneralProtection => "general protection fault",
            Kind::DivideError => "divide error",
            Kind::InvalidOpcode => "invalid opcode",
            Kind::StackSegment => "stack segment",
            Kind::DoubleFault => "double fault",
            Kind::Trap => "trap",
            Kind::Kasan => "KASAN",
            Kind::Kfence => "KFENCE",
            Kind::Kcsan => "KCSAN",
            Kind::Kmsan => "KMSAN",
            Kind::Ubsan => "UBSAN",
            Kind::Lockdep => "lockdep",
            Kind::RcuStall => "RCU stall",
            Kind::HungTask => "hung task",
            Kind::SoftLockup => "soft lockup",
            Kind::HardLockup => "hard lockup",
            Kind::WorkqueueLockup => "workqueue lockup",
            Kind::NetdevLeak => "netdev leak",
            Kind::Refcount => "refcount",
            Kind::ListCorruption => "list corruption",
            Kind::SlabCorruption => "slab corruption",
            Kind::Kmemleak => "kmemleak",
            Kind::Panic => "panic",
            Kind::StackDump => "stack dump",
        }
    }

    /// The kind named `name` ([`Kind::name`]).
    pub fn named(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// A bad access or a broken invariant that kills the task meeting it
    /// (a die()), or that a sanitizer caught in the act.
    pub fn is_fault(self) -> bool {
        self.is_die() || matches!(self, Kind::Bug | Kind::Kasan | Kind::Kfence | Kind::Kcsan | Kind::Kmsan)
    }

    /// A headline of die(): an Oops or an x86 trap's.
    pub fn is_die(self) -> bool {
        matches!(
            self,
            Kind::Oops
                | Kind::GeneralProtection
                | Kind::DivideError
                | Kind::InvalidOpcode
                | Kind::StackSegment
                | Kind::DoubleFault
                | Kind::Trap
        )
    }

    /// Whether the report prints the registers, and so where the CPU was.
    pub(crate) fn has_registers(self) -> bool {
        !matches!(
            self,
            Kind::Lockdep | Kind::HungTask | Kind::NetdevLeak | Kind::Kmemleak | Kind::Panic | Kind::WorkqueueLockup
        )
    }
}

/// The kind of the headline of x86's die(): `[Oops: ]TRAP: 0000 [#1] ...`
/// (6.10 put `Oops: ` before every trap's name), arm64's `Internal error:
/// Oops...: ESR [#1]` and s390's `Oops: 0004 ilc:3 [#1]`.
fn die_kind(trap: &str) -> Kind {
    match trap {
        "Oops" => Kind::Oops,
        t if t.starts_with("general protection fault") => Kind::GeneralProtection,
        // s390's name for it: `fixpoint divide exception`.
        "divide error" | "fixpoint divide exception" => Kind::DivideError,
        "invalid opcode" => Kind::InvalidOpcode,
        "stack segment" => Kind::StackSegment,
        "double fault" => Kind::DoubleFault,
        _ => Kind::Trap,
    }
}

/// The headlines, each a pattern anchored at the start of the message;
/// the first that matches names the report, so the specific come first.
static HEADLINES: LazyLock<Vec<(Kind, Regex)>> = LazyLock::new(|| {
    let table: &[(Kind, &str)] = &[
        (Kind::SoftLockup, r"^((NMI )?watchdog: )?BUG: soft lockup - CPU#\d+ stuck for"),
        (Kind::HardLockup, r"^((NMI )?watchdog: )?Watchdog detected hard LOCKUP on cpu"),
        (Kind::Kasan, r"^BUG: KASAN: "),
        (Kind::Kfence, r"^BUG: KFENCE: "),
        (Kind::Kcsan, r"^BUG: KCSAN: "),
        (Kind::Kmsan, r"^BUG: KMSAN: "),
        (Kind::WorkqueueLockup, r"^BUG: workqueue lockup - pool"),
        (Kind::Ubsan, r"^UBSAN: \S"),
        (Kind::RcuStall, r"^(rcu: )?INFO: \S+ (self-detected stall on CPU|detected stalls on (CPUs/tasks|tasks))"),
        (Kind::RcuStall, r"^(rcu: )?INFO: \S+ detected expedited stalls on CPUs/tasks"),
        (Kind::HungTask, r"^INFO: task .+:\d+ blocked (in I/O wait )?for more than \d+ seconds"),
        (Kind::NetdevLeak, r"^unregister_netdevice: waiting for \S+ to become free\. Usage count = -?\d+"),
        (Kind::Refcount, r"^refcount_t: (underflow|overflow|saturated|addition on 0|decrement hit 0)"),
        (Kind::ListCorruption, r"^list_(add|del)\S* (corruption[.,]|double add: )"),
        (Kind::SlabCorruption, r"^BUG \S+ \((Not tainted|Tainted: [^)]*)\): \S"),
        (Kind::Kmemleak, r"^kmemleak: \d+ new suspected memory leaks"),
        (Kind::Panic, r"^Kernel panic - not syncing: "),
        (Kind::DoubleFault, r"^PANIC: double fault, error_code: "),
        // Lockdep, by its own headlines: never a bare `WARNING:`, which
        // other subsystems use for healthy notes.
        (Kind::Lockdep, LOCKDEP),
        (Kind::Lockdep, r"^\[ (INFO|BUG): .+ \]$"),
        (Kind::Lockdep, r"^INFO: trying to register non-static key\."),
        // __warn(): 6.x's `WARNING: CPU: 0 PID: 1 at FILE:LINE FUNC`, 7.x's
        // `WARNING: FILE:LINE at FUNC, CPU#0: comm/1`, and either's form for
        // a WARN without a file, `WARNING: (CPU: N PID: N )at FUNC`.
        (Kind::Warn, r"^WARNING: CPU: \d+ PID: \d+ at \S"),
        (Kind::Warn, r"^WARNING: \S+:\d+ at \S+( \[\S+\])?, CPU#\d+: "),
        (Kind::Warn, r"^WARNING: at (\S+\+0x[0-9a-f]+/0x[0-9a-f]+|\S+:\d+( |$))"),
        (Kind::Bug, r"^[Kk]ernel BUG at \S+:\d+!"),
        (Kind::Bug, r"^BUG: \S"),
        (Kind::Bug, r"^Unable to handle kernel (NULL pointer dereference|paging request|access|execute|read|write)"),
        (Kind::Bug, r"^Unable to handle kernel pointer dereference in virtual"),
    ];
    table.iter().map(|(kind, pattern)| (*kind, Regex::new(pattern).expect("a valid headline pattern"))).collect()
});

/// lockdep's headlines (`kernel/locking/lockdep.c`), and lockdep-RCU's.
const LOCKDEP: &str = r"^WARNING: (possible recursive locking detected|possible circular locking dependency detected|inconsistent lock state|possible irq lock inversion dependency detected|\S+-safe -> \S+-unsafe lock order detected|bad unlock balance detected!|bad contention detected!|held lock freed!|lock held when returning to user space!|Nested lock was not taken|suspicious RCU usage|\S+/\d+ still has locks held!)";

/// die()'s headline: `[Oops: ]TRAP: ERR [#N]` on x86 and s390
/// (`Oops: 0004 ilc:3 [#1]`), `Internal error: TRAP: ESR [#N]` on arm64.
static DIE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(Internal error: )?(Oops: )?(?<trap>[A-Za-z][^:]*?)(, probably for [^:]*)?(: |, ESR )[0-9a-fx]+ (ilc:\d )?\[#\d+\]")
        .expect("a valid die() pattern")
});

/// The kind of report whose first line is `message`, a kernel message
/// (see [`kernel_message`]); `None` for any other line.
pub(crate) fn headline(message: &str) -> Option<Kind> {
    let message = message.trim_end();
    if let Some(found) = DIE.captures(message) {
        let trap = &found["trap"];
        // arm64's `Oops - BUG`, `Oops - undefined instruction`.
        let trap = if trap.starts_with("Oops") { "Oops" } else { trap };
        return Some(die_kind(trap));
    }
    HEADLINES.iter().find(|(_, pattern)| pattern.is_match(message)).map(|(kind, _)| *kind)
}

/// A call trace's first line: x86's and s390's `Call Trace:`, arm64's
/// `Call trace:`.
pub(crate) fn is_call_trace(message: &str) -> bool {
    let m = message.trim_start();
    m.starts_with("Call Trace:") || m.starts_with("Call trace:")
}

/// The marker the kernel prints where a report ends: `---[ end trace
/// 0000000000000000 ]---` (and `---[ end Kernel panic ... ]---`).
pub(crate) fn is_end(message: &str) -> bool {
    message.starts_with("---[ end ")
}

/// How a panic's reason says it is the consequence of the report before
/// it, not a report of its own: an Oops with `panic_on_oops` or in an
/// interrupt, a WARN with `panic_on_warn`, a hung task or lockup with its
/// panic switch.
pub(crate) fn panic_follows(message: &str) -> bool {
    let reason = message.strip_prefix("Kernel panic - not syncing: ").unwrap_or_default();
    // x86 `Fatal exception`, arm64 `Oops - BUG: Fatal exception`, s390
    // `Fatal exception: panic_on_oops`.
    reason.contains("Fatal exception")
        || reason.contains("panic_on_warn set")
        || reason.contains("system warned too often")
        || reason.starts_with("hung_task: blocked tasks")
        || reason.starts_with("softlockup: hung tasks")
        || reason.starts_with("hardlockup: ")
        || reason.starts_with("Hard LOCKUP")
        || reason.starts_with("RCU Stall")
        || reason.starts_with("Machine halted")
        || reason.starts_with("kmsan.panic set")
}

/// Which lines of a log the kernel printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogStyle {
    /// A serial console with printk timestamps (`[    1.234567] ...`):
    /// a line without one is a program's, written to the console.
    Timed,
    /// A syslog or journal (`Dec  7 10:00:00 host kernel: ...`): only the
    /// lines tagged `kernel:` are the kernel's.
    Syslog,
    /// No timestamps at all (`printk.time=0`): every line may be the
    /// kernel's.
    Plain,
}

impl LogStyle {
    /// The style of `log`, from its lines.
    pub(crate) fn of(log: &str) -> LogStyle {
        if log.lines().any(|l| syslog_message(l).is_some()) {
            LogStyle::Syslog
        } else if log.lines().any(|l| timed_message(l.trim_start_matches(level_prefix(l))).is_some()) {
            LogStyle::Timed
        } else {
            LogStyle::Plain
        }
    }
}

/// The message of a console line the kernel printed: without the log
/// level (`<4>`), the timestamp (`[    1.234567]`) and the caller id
/// (`[    T1]`, `[  C0]`); `None` for a line the kernel did not print.
pub(crate) fn kernel_message(line: &str, style: LogStyle) -> Option<&str> {
    let line = line.trim_end_matches('\r');
    let line = match style {
        LogStyle::Syslog => syslog_message(line)?,
        LogStyle::Timed | LogStyle::Plain => line,
    };
    let line = &line[level_prefix(line).len()..];
    match timed_message(line) {
        Some(message) => Some(message),
        None if style == LogStyle::Timed => None,
        None => Some(line),
    }
}

/// `<4>`, the level `dmesg -r` and `/dev/kmsg` keep, or nothing.
fn level_prefix(line: &str) -> &str {
    match line.strip_prefix('<').and_then(|r| r.split_once('>')) {
        Some((level, _)) if !level.is_empty() && level.len() <= 3 && level.bytes().all(|b| b.is_ascii_digit()) => {
            &line[..level.len() + 2]
        }
        _ => "",
    }
}

/// A timestamped line's message, after its caller id if it has one.
fn timed_message(line: &str) -> Option<&str> {
    let rest = bracketed(line, |inside| {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        inside.trim_start().split_once('.').is_some_and(|(secs, micros)| digits(secs) && digits(micros))
    })?;
    // CONFIG_PRINTK_CALLER: `[    T123]` for a task, `[    C0]` for a CPU.
    let rest = bracketed(rest, |inside| {
        let t = inside.trim_start();
        t.len() > 1 && matches!(t.as_bytes()[0], b'T' | b'C') && t[1..].bytes().all(|b| b.is_ascii_digit())
    })
    .unwrap_or(rest);
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// What follows `[INSIDE]` at the start of `line`, when `inside` is one.
fn bracketed(line: &str, inside: impl Fn(&str) -> bool) -> Option<&str> {
    let (within, rest) = line.strip_prefix('[')?.split_once(']')?;
    inside(within).then_some(rest)
}

/// A syslog or journal line's kernel message: `MMM DD HH:MM:SS HOST
/// kernel: MESSAGE` (or an ISO timestamp first).
fn syslog_message(line: &str) -> Option<&str> {
    static SYSLOG: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(\w{3} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT[\d:.]+([+-]\d\d:?\d\d|Z)?) \S+ kernel: ")
            .expect("a valid syslog pattern")
    });
    SYSLOG.find(line).map(|prefix| &line[prefix.end()..])
}

/// A line of `=` or `-` that frames many reports.
pub(crate) fn is_rule(message: &str) -> bool {
    let m = message.trim();
    m.len() >= 10 && (m.bytes().all(|b| b == b'=') || m.bytes().all(|b| b == b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(line: &str) -> Option<&'static str> {
        let message = kernel_message(line, LogStyle::of(line))?;
        headline(message).map(Kind::name)
    }

    #[test]
    fn each_kind_has_its_own_name() {
        for k in Kind::ALL {
            assert_eq!(Kind::named(k.name()), Some(k));
        }
    }

    #[test]
    fn the_kernel_s_headlines_are_named_by_what_they_are() {
        let cases = [
            ("[ 1.0] WARNING: CPU: 0 PID: 1 at net/core/dev.c:1 f+0x1/0x2", "WARN"),
            ("[ 1.0] WARNING: net/core/dev.c:1 at f+0x1/0x2, CPU#0: swapper/0/1", "WARN"),
            ("[ 1.0] WARNING: at f+0x1/0x2, CPU#0: sh/80", "WARN"),
            ("[ 1.0] WARNING: m.c:34 at splatter_warn+0x7/0xd [m], CPU#0: sh/26", "WARN"),
            ("[ 1.0] WARNING: at lib/dma-debug.c:448 check_unmap+0x203/0x490()", "WARN"),
            ("[ 1.0] BUG: kernel NULL pointer dereference, address: 0000000000000008", "BUG"),
            ("[ 1.0] kernel BUG at mm/slub.c:412!", "BUG"),
            ("[ 1.0] Oops: 0002 [#1] PREEMPT SMP NOPTI", "Oops"),
            ("[ 1.0] Oops: Oops: 0002 [#1] PREEMPT SMP NOPTI", "Oops"),
            ("[ 1.0] Internal error: Oops: 0000000096000005 [#1] PREEMPT SMP", "Oops"),
            ("[ 1.0] Internal error: Oops - BUG: 00000000f2000800 [#1] SMP", "Oops"),
            ("[ 1.0] Oops: 0004 ilc:3 [#1] SMP", "Oops"),
            (
                "[ 1.0] general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] SMP",
                "general protection fault",
            ),
            (
                "[ 1.0] Oops: general protection fault, probably for non-canonical address 0x1: 0000 [#1]",
                "general protection fault",
            ),
            ("[ 1.0] general protection fault: 0000 [#1] SMP", "general protection fault"),
            ("[ 1.0] divide error: 0000 [#1] PREEMPT SMP NOPTI", "divide error"),
            ("[ 1.0] Oops: divide error: 0000 [#1] PREEMPT SMP NOPTI", "divide error"),
            ("[ 1.6] fixpoint divide exception: 0009 ilc:2 [#1] SMP", "divide error"),
            ("[ 1.0] invalid opcode: 0000 [#1] SMP", "invalid opcode"),
            ("[ 1.0] stack segment: 0000 [#1] SMP KASAN", "stack segment"),
            ("[ 1.0] PANIC: double fault, error_code: 0x0", "double fault"),
            ("[ 1.0] BUG: KASAN: slab-use-after-free in f+0x1/0x2 [m]", "KASAN"),
            ("[ 1.0] BUG: KMSAN: uninit-value in f+0x1/0x2", "KMSAN"),
            ("[ 1.0] UBSAN: array-index-out-of-bounds in drivers/x.c:12:3", "UBSAN"),
            ("[ 1.0] WARNING: possible irq lock inversion dependency detected", "lockdep"),
            ("[ 1.0] WARNING: HARDIRQ-safe -> HARDIRQ-unsafe lock order detected", "lockdep"),
            ("[ 1.0] [ INFO: possible irq lock inversion dependency detected ]", "lockdep"),
            ("[ 1.0] INFO: trying to register non-static key.", "lockdep"),
            ("[ 1.0] INFO: task udevd:5612 blocked in I/O wait for more than 143 seconds.", "hung task"),
            ("[ 1.0] INFO: task sh:80 blocked for more than 120 seconds.", "hung task"),
            ("[ 1.0] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:", "RCU stall"),
            ("[ 1.0] INFO: rcu_sched self-detected stall on CPU", "RCU stall"),
            ("[ 1.0] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [sh:80]", "soft lockup"),
            ("[ 1.0] NMI watchdog: Watchdog detected hard LOCKUP on cpu 1", "hard lockup"),
            ("[ 1.0] BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 33s!", "workqueue lockup"),
            ("[ 1.0] unregister_netdevice: waiting for lo to become free. Usage count = 5", "netdev leak"),
            ("[ 1.0] refcount_t: underflow; use-after-free.", "refcount"),
            ("[ 1.0] list_del corruption. prev->next should be ffff8880, but was dead000000000100", "list corruption"),
            ("[ 1.0] list_del corruption, ffff8880->next is LIST_POISON1 (dead000000000100)", "list corruption"),
            (
                "[ 1.0] list_add double add: new=ffffffffc0397450, prev=ffffffffc0397080, next=ffffffffc0397450.",
                "list corruption",
            ),
            ("[ 1.0] BUG kmalloc-128 (Not tainted): Object already free", "slab corruption"),
            ("[ 1.0] BUG kmalloc-64 (Tainted: G    B  O      ): Redzone overwritten", "slab corruption"),
            ("[ 1.0] kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)", "kmemleak"),
            ("[ 1.0] Kernel panic - not syncing: VFS: Unable to mount root fs", "panic"),
            ("[ 1.0] Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000", "BUG"),
            ("[    1.000000][    T1] BUG: kernel NULL pointer dereference, address: 0", "BUG"),
            ("<4>[ 1.0] WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2", "WARN"),
            ("Dec  7 10:00:00 host kernel: BUG: unable to handle page fault for address: ffff", "BUG"),
        ];
        for (line, want) in cases {
            assert_eq!(kind(line), Some(want), "{line}");
        }
    }

    #[test]
    fn healthy_lines_that_hold_a_word_are_not_reports() {
        let healthy = [
            "[ 1.0] ODEBUG: Out of memory. ODEBUG disabled",
            "[ 1.0] logger: !@Boot_DEBUG: start networkManagement",
            "[ 1.0] WARNING: the mand mount option is being deprecated and",
            "[ 1.0] Spectre V2 : WARNING: Unprivileged eBPF is enabled with eIBRS on, data leaks possible via Spectre v2 BHB attacks!",
            "[ 1.0] XFS (loop4): WARNING: Reset corrupted AGFL on AG 0. 1 blocks leaked.",
            "[ 1.0] fbcon: Taking over console WARNING: nothing",
            "[ 1.0] WARNING: this is informational",
            "[ 1.0] traps: a.out[123] general protection fault ip:401000 sp:7ffd error:0 in a.out[401000+1000]",
            "[ 1.0] traps: a.out[123] trap divide error ip:401000 sp:7ffd error:0 in a.out[401000+1000]",
            "[ 1.0] a.out[123]: segfault at 0 ip 0000 sp 7ffd error 6 in a.out[401000+1000]",
            "[ 1.0] kmemleak: Kernel memory leak detector initialized (mem pool available: 15893)",
            "[ 1.0] mymod: BUG: counting bugs",
            "[ 1.0] INFO: task sh:80 is blocked on a mutex likely owned by task kworker:1.",
        ];
        for line in healthy {
            assert_eq!(kind(line), None, "{line}");
        }
    }

    #[test]
    fn a_program_s_line_on_a_timed_console_is_not_the_kernel_s() {
        let log = "[ 0.1] Run /init as init process\nWARNING: /etc/ssh/moduli does not exist\n";
        let style = LogStyle::of(log);
        assert_eq!(style, LogStyle::Timed);
        assert_eq!(kernel_message("WARNING: /etc/ssh/moduli does not exist", style), None);
        assert_eq!(kernel_message("[ 0.1] Run /init", style), Some("Run /init"));
        assert_eq!(kernel_message("BUG: x", LogStyle::Plain), Some("BUG: x"));
        assert_eq!(LogStyle::of("BUG: x\n[...]\n"), LogStyle::Plain, "an elision is no timestamp");
        let journal = "Dec  7 10:00:00 host sshd[1]: BUG: not the kernel\nDec  7 10:00:01 host kernel: ok\n";
        assert_eq!(LogStyle::of(journal), LogStyle::Syslog);
        assert_eq!(kernel_message("Dec  7 10:00:00 host sshd[1]: BUG: not the kernel", LogStyle::Syslog), None);
    }

    #[test]
    fn only_a_report_s_own_consequence_is_part_of_it() {
        assert!(panic_follows("Kernel panic - not syncing: Fatal exception in interrupt"));
        assert!(panic_follows("Kernel panic - not syncing: kernel: panic_on_warn set ..."));
        assert!(panic_follows("Kernel panic - not syncing: Oops - BUG: Fatal exception"));
        assert!(panic_follows("Kernel panic - not syncing: Fatal exception: panic_on_oops"));
        assert!(!panic_follows("Kernel panic - not syncing: VFS: Unable to mount root fs"));
        assert!(!panic_follows("Kernel panic - not syncing: kulink_panicker: loaded, as asked"));
    }
}
