//! Where in a module's source a kernel report points. The `RIP:` line of
//! an Oops, BUG or WARN names a function, an offset and the module
//! (`RIP: 0010:nw_write+0x5/0xb [nullwrite]`); the module's own file,
//! built with debug information, says which source line that is.

use std::path::PathBuf;
use std::process::Command;

use crate::arch::Arch;

/// How far below its first line a report prints its `RIP:` line.
const RIP_WITHIN: usize = 40;

/// One of the test's modules: its built file, and the directory its
/// sources came from, so that a source line names the user's file rather
/// than the build's copy in the cache (which any checkout of the same
/// sources shares).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleFile {
    /// The `.ko`, built with debug information.
    pub ko: PathBuf,
    /// Where its sources are.
    pub source_dir: PathBuf,
}

/// How each architecture's register dump names where the fault was:
/// x86_64's `RIP: 0010:f+0x5/0xb [m]`, arm64's `pc : f+0x5/0xb [m]`, and
/// s390x's `Krnl PSW : MASK ADDRESS (f+0x5/0xb [m])`.
const FAULT_PREFIXES: [&str; 3] = ["RIP: ", "pc : ", "Krnl PSW : "];

/// The line of the report starting at `line` (1-based) of `console` that
/// says where the fault was (x86_64's `RIP:` line, arm64's `pc :` or
/// s390x's `Krnl PSW :`), without its timestamp.
pub fn rip_after(console: &str, line: usize) -> Option<String> {
    console.lines().skip(line.saturating_sub(1)).take(RIP_WITHIN).find_map(|l| {
        FAULT_PREFIXES
            .iter()
            .find_map(|prefix| l.split_once(prefix).map(|(_, at)| format!("{prefix}{}", at.trim_end())))
    })
}

/// How far below a report's first line its `Call Trace:` may start.
const TRACE_WITHIN: usize = 60;

/// The frames of the first `Call Trace:` within the report starting at
/// `line` (1-based) of `console`, innermost first, without timestamps.
/// The frames the unwinder only guessed (`? name+0x1/0x2`) are left out
/// when it was sure of others; a kernel that only guesses keeps them.
pub fn call_trace_after(console: &str, line: usize) -> Vec<String> {
    let mut lines = console.lines().skip(line.saturating_sub(1)).take(TRACE_WITHIN).map(untimed);
    // arm64 writes `Call trace:`.
    if !lines.any(|l| l.trim_start().to_ascii_lowercase().starts_with("call trace:")) {
        return Vec::new();
    }
    // An exception's registers may come within the trace (5.10 prints
    // them where the unwinder crossed the exception's frame).
    let frames: Vec<&str> = lines
        .map(str::trim)
        .take_while(|l| l.starts_with('<') || l.starts_with("? ") || is_register_line(l) || frame(l).is_some())
        .filter(|l| !is_register_line(l) && frame(l.trim_start_matches("? ")).is_some())
        .collect();
    let sure: Vec<String> = frames.iter().filter(|l| !l.starts_with("? ")).map(|l| (*l).to_owned()).collect();
    if sure.is_empty() {
        frames.into_iter().map(str::to_owned).collect()
    } else {
        sure
    }
}

/// A line of a register dump: `RIP: 0010:...`, `Code: 48 89 ...`,
/// `R10: 0000...`, `FS:  0000...`.
fn is_register_line(line: &str) -> bool {
    line.split_once(':').is_some_and(|(name, _)| {
        name == "Code" || (name.len() <= 4 && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
    })
}

/// A console line without its leading `[    1.234567]`, so that what the
/// kernel said is matched, not its timestamp.
pub(crate) fn untimed(line: &str) -> &str {
    let t = line.trim_start();
    match t.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((_, rest)) => rest,
        None => t,
    }
}

/// A code location as the kernel prints it: function, offset, module.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The function's symbol.
    pub function: &'a str,
    /// The byte offset into it.
    pub offset: u64,
    /// The module, for code outside the kernel image.
    pub module: Option<&'a str>,
}

/// Reads `RIP: 0010:nw_write+0x5/0xb [nullwrite]` (or arm64's `pc :`
/// and s390x's `Krnl PSW :` lines; or a trace's bare
/// `nw_write+0x5/0xb`, with s390x's `[<ADDRESS>] ` before it).
pub fn frame(rip: &str) -> Option<Frame<'_>> {
    let location = match rip.strip_prefix("Krnl PSW : ") {
        Some(psw) => psw.split_once('(')?.1.strip_suffix(')')?,
        None => rip.strip_prefix("RIP: ").or_else(|| rip.strip_prefix("pc : ")).unwrap_or(rip),
    };
    let location = match location.strip_prefix("[<").and_then(|l| l.split_once(">] ")) {
        Some((_, after_address)) => after_address,
        None => location,
    };
    // The code segment, `0010:`, when there is one; user space's (`0033:`)
    // has no kernel symbol.
    let location = match location.split_once(':') {
        Some(("0033", _)) => return None,
        Some((segment, rest)) if segment.chars().all(|c| c.is_ascii_hexdigit()) => rest,
        _ => location,
    };
    let (symbol, module) = match location.split_once(" [") {
        Some((symbol, module)) => (symbol, module.split(']').next()),
        None => (location.split_whitespace().next()?, None),
    };
    let (function, place) = symbol.split_once('+')?;
    let offset = place.split('/').next()?.strip_prefix("0x")?;
    Some(Frame { function, offset: u64::from_str_radix(offset, 16).ok()?, module })
}

/// The source line (`/src/mymod/mymod.c:23`) of `function + offset` in a
/// module built with debug information, through binutils' objdump (which
/// section the function is in, at what address) and addr2line.
/// Another architecture's module is read by its cross binutils
/// (`aarch64-linux-gnu-objdump`), which come with its cross compiler.
pub fn source_line(module: &ModuleFile, function: &str, offset: u64) -> Option<String> {
    let ko = &module.ko;
    let prefixes = Arch::ALL.iter().map(|a| if a.is_host() { String::new() } else { format!("{}-", a.gnu_triplet()) });
    let (prefix, symbols) = prefixes
        .filter_map(|p| Some((p.clone(), Command::new(format!("{p}objdump")).arg("-t").arg(ko).output().ok()?)))
        .find(|(_, out)| out.status.success())?;
    let (section, start) = String::from_utf8_lossy(&symbols.stdout).lines().find_map(|l| function_in(l, function))?;
    let address = format!("{:#x}", start + offset);
    let out =
        Command::new(format!("{prefix}addr2line")).arg("-e").arg(ko).args(["-j", &section, &address]).output().ok()?;
    let line = String::from_utf8_lossy(&out.stdout).lines().next()?.trim().to_owned();
    if line.starts_with("??") {
        return None;
    }
    let build = ko.parent()?.display().to_string();
    Some(line.replace(&build, &module.source_dir.display().to_string()))
}

/// From an `objdump -t` line, `0000000000000010 l  F .text  000000000000000b nw_write`:
/// the section and the address of `function`.
fn function_in(line: &str, function: &str) -> Option<(String, u64)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.last() != Some(&function) || !words.contains(&"F") {
        return None;
    }
    let section = words.iter().find(|w| w.starts_with('.'))?;
    Some(((*section).to_owned(), u64::from_str_radix(words.first()?, 16).ok()?))
}

/// The module file among `modules` whose name the kernel prints as
/// `name` (`-` as `_`).
pub fn module_file<'a>(modules: &'a [ModuleFile], name: &str) -> Option<&'a ModuleFile> {
    modules.iter().find(|m| {
        m.ko.file_stem().is_some_and(|stem| stem.to_string_lossy().replace('-', "_") == name.replace('-', "_"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rip_line_names_function_offset_and_module() {
        let rip = "RIP: 0010:nw_write+0x5/0xb [kulink_nullwrite]";
        assert_eq!(frame(rip), Some(Frame { function: "nw_write", offset: 5, module: Some("kulink_nullwrite") }));
        assert_eq!(
            frame("RIP: 0010:do_idle+0x1a0/0x230"),
            Some(Frame { function: "do_idle", offset: 0x1a0, module: None })
        );
        assert_eq!(frame("RIP: 0033:0x7f0000001234"), None, "user space has no symbol");
        assert_eq!(frame("RIP: 0033:do_syscall+0x1/0x2"), None, "nor a user-space frame that looks like one");
        let kasan = "nullwrite_write+0xb/0x1b [kulink_nullwrite]";
        assert_eq!(
            frame(kasan),
            Some(Frame { function: "nullwrite_write", offset: 0xb, module: Some("kulink_nullwrite") })
        );
    }

    #[test]
    fn the_rip_line_is_the_report_s_own() {
        let console = "[ 1.0] BUG: kernel NULL pointer dereference\n[ 1.0] #PF: supervisor write\n\
                       [ 1.0] RIP: 0010:nw_write+0x5/0xb [m]\n[ 9.0] RIP: 0010:other+0x1/0x2\n";
        assert_eq!(rip_after(console, 1).as_deref(), Some("RIP: 0010:nw_write+0x5/0xb [m]"));
        assert_eq!(rip_after(console, 4).as_deref(), Some("RIP: 0010:other+0x1/0x2"));
    }

    #[test]
    fn a_call_trace_s_frames_are_read_without_guesses() {
        let console = "[ 1.0] BUG: kernel NULL pointer dereference\n[ 1.0] RIP: 0010:nw_write+0x5/0xb [m]\n\
                       [ 1.0] Call Trace:\n[ 1.0]  <TASK>\n[ 1.0]  ? __die+0x1f/0x60\n\
                       [ 1.0]  proc_reg_write+0x51/0x90\n[ 1.0]  vfs_write+0xc8/0x3c0\n[ 1.0]  </TASK>\n\
                       [ 1.0] Modules linked in: m\n[ 1.0] Call Trace:\n[ 1.0]  later+0x1/0x2\n";
        assert_eq!(call_trace_after(console, 1), ["proc_reg_write+0x51/0x90", "vfs_write+0xc8/0x3c0"]);
        assert!(call_trace_after("[ 1.0] WARNING: no trace here\n", 1).is_empty());
        let with_registers = "[ 1.0] BUG: x\n[ 1.0] Call Trace:\n[ 1.0]  ? __die_body+0x15/0x52\n\
                              [ 1.0]  asm_exc_page_fault+0x1b/0x20\n[ 1.0]  ? 0xffffffffa0000000\n\
                              [ 1.0] RIP: 0010:nw_store+0x0/0x3 [m]\n\
                              [ 1.0] Code: Unable to access opcode bytes\n[ 1.0] R10: 0000 R11: 0000\n\
                              [ 1.0] FS:  0000(0000) GS:ffff\n[ 1.0]  nw_write+0x9/0xc [m]\n";
        assert_eq!(call_trace_after(with_registers, 1), ["asm_exc_page_fault+0x1b/0x20", "nw_write+0x9/0xc [m]"]);
        let guessed = "[ 1.0] BUG: x\n[ 1.0] Call Trace:\n[ 1.0]  <TASK>\n[ 1.0]  ? proc_reg_write+0x61/0x73\n\
                       [ 1.0]  ? vfs_write+0x9e/0x186\n[ 1.0]  </TASK>\n";
        assert_eq!(call_trace_after(guessed, 1), ["? proc_reg_write+0x61/0x73", "? vfs_write+0x9e/0x186"]);
    }

    #[test]
    fn arm64_and_s390x_reports_name_their_fault_and_frames() {
        let arm = "[    2.1] Internal error: Oops: 96000045 [#1] SMP\n[    2.1] pc : nw_write+0x14/0x30 [nullwrite]\n\
                   [    2.1] lr : vfs_write+0xc8/0x2a0\n[    2.1] Call trace:\n[    2.1]  nw_write+0x14/0x30 [nullwrite]\n\
                   [    2.1]  vfs_write+0xc8/0x2a0\n[    2.1] Code: b9400000 (b900001f)\n";
        let pc = rip_after(arm, 1).unwrap();
        assert_eq!(pc, "pc : nw_write+0x14/0x30 [nullwrite]");
        assert_eq!(frame(&pc), Some(Frame { function: "nw_write", offset: 0x14, module: Some("nullwrite") }));
        assert_eq!(call_trace_after(arm, 1), ["nw_write+0x14/0x30 [nullwrite]", "vfs_write+0xc8/0x2a0"]);
        let z = "[    2.1] Oops: 0004 ilc:3 [#1] SMP\n\
                 [    2.1] Krnl PSW : 0704c00180000000 000003ff80012345 (nw_write+0x14/0x30 [nullwrite])\n\
                 [    2.1] Call Trace:\n[    2.1]  [<000003ff80012345>] nw_write+0x14/0x30 [nullwrite] \n\
                 [    2.1]  [<0000000000412345>] vfs_write+0xc8/0x2a0 \n[    2.1] Last Breaking-Event-Address:\n";
        let psw = rip_after(z, 1).unwrap();
        assert_eq!(frame(&psw), Some(Frame { function: "nw_write", offset: 0x14, module: Some("nullwrite") }));
        let frames = call_trace_after(z, 1);
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_eq!(frame(&frames[0]).map(|f| f.function), Some("nw_write"));
    }

    #[test]
    fn objdump_s_symbol_lines_give_section_and_address() {
        let line = "0000000000000010 l     F .text\t000000000000000b nw_write";
        assert_eq!(function_in(line, "nw_write"), Some((".text".into(), 0x10)));
        assert_eq!(function_in(line, "nw"), None);
        assert_eq!(function_in("0000000000000000 l     O .data\t0000000000000004 nw_write", "nw_write"), None);
    }

    #[test]
    fn a_module_file_is_found_by_the_name_the_kernel_prints() {
        let file = |ko: &str| ModuleFile { ko: ko.into(), source_dir: "/src".into() };
        let modules = [file("/c/a/crc-user.ko"), file("/c/b/kulink_nullwrite.ko")];
        assert_eq!(module_file(&modules, "crc_user"), Some(&modules[0]));
        assert_eq!(module_file(&modules, "kulink_nullwrite"), Some(&modules[1]));
        assert_eq!(module_file(&modules, "virtio_net"), None);
    }
}
