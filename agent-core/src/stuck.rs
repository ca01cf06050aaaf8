//! Where a process waits in the kernel, told from `/proc`: the sentence a
//! request answers with when the process serving it does not come back.

use std::fs;

/// Says where process `pid` waits in the kernel, and in what state: `stuck
/// in uninterruptible sleep in nw_write [nullwrite] ← vfs_write ←
/// ksys_write`, then its whole kernel stack. A kernel without
/// `/proc/PID/stack` (no `CONFIG_STACKTRACE`) still names the function it
/// waits in.
pub fn describe(pid: u32) -> String {
    let state = fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|stat| state_of(&stat));
    let stack = fs::read_to_string(format!("/proc/{pid}/stack")).unwrap_or_default();
    let frames = frames(&stack);
    let how = match state {
        Some('D') => "stuck in uninterruptible sleep",
        Some('S') => "waiting",
        Some('R') => "still running",
        _ => "stuck",
    };
    if frames.is_empty() {
        let wchan = fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
        return match wchan.trim() {
            "" | "0" => format!("{how} (the kernel shows no stack)"),
            function => format!("{how} in {function}"),
        };
    }
    let mut sentence = format!("{how} in {}", headline(&frames));
    // With their offsets, for the host to find a module frame's source line.
    sentence += "; its kernel stack:";
    for frame in stack.lines().map(without_address).filter(|f| !f.is_empty()) {
        sentence += &format!("\n  {frame}");
    }
    sentence
}

/// `[<0>] nw_write+0x15/0x30 [nullwrite]` is `nw_write+0x15/0x30 [nullwrite]`.
fn without_address(line: &str) -> &str {
    line.trim().split_once("] ").map_or(line.trim(), |(_, rest)| rest)
}

/// A process of process group `group` that is in uninterruptible sleep,
/// if one is, and where it waits.
pub fn in_group(group: u32) -> Option<(u32, String)> {
    let entries = fs::read_dir("/proc").ok()?;
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|&pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            state_of(&stat) == Some('D') && group_of(&stat) == Some(group)
        })
        .map(|pid| (pid, describe(pid)))
}

/// The process group in `/proc/PID/stat`: the third field after the
/// command name.
fn group_of(stat: &str) -> Option<u32> {
    stat.rsplit_once(')')?.1.split_whitespace().nth(2)?.parse().ok()
}

/// The one-letter state in `/proc/PID/stat`: the field after the command
/// name, which is in parentheses and may hold anything.
fn state_of(stat: &str) -> Option<char> {
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// The stack's frames without their addresses and offsets:
/// `[<0>] nw_write+0x15/0x30 [nullwrite]` is `nw_write [nullwrite]`.
fn frames(stack: &str) -> Vec<String> {
    stack
        .lines()
        .filter_map(|line| {
            let frame = without_address(line);
            let (function, module) = match frame.split_once(' ') {
                Some((function, module)) => (function, Some(module.trim())),
                None => (frame, None),
            };
            let function = function.split('+').next()?.trim();
            (!function.is_empty()).then(|| match module {
                Some(module) => format!("{function} {module}"),
                None => function.to_owned(),
            })
        })
        .collect()
}

/// The frame that matters and the two that called it: the first in a
/// module (the one under test is the likely culprit), else the first
/// outside the scheduler and the sleeping helpers every wait goes through.
fn headline(frames: &[String]) -> String {
    let first = frames
        .iter()
        .position(|f| f.ends_with(']'))
        .or_else(|| frames.iter().position(|f| !is_waiting_helper(f)))
        .unwrap_or(0);
    frames[first..].iter().take(3).cloned().collect::<Vec<_>>().join(" ← ")
}

fn is_waiting_helper(frame: &str) -> bool {
    ["schedule", "__schedule", "msleep", "usleep", "io_schedule", "wait_for_", "mutex_lock", "down", "rwsem"]
        .iter()
        .any(|helper| frame.starts_with(helper) || frame.starts_with(&format!("__{helper}")))
        || frame.contains("_wait")
}

#[cfg(test)]
mod tests {
    use super::*;

    const STACK: &str = "[<0>] msleep+0x29/0x40\n\
                         [<0>] sl_write+0x1d/0x30 [sleeper]\n\
                         [<0>] vfs_write+0xbe/0x3c0\n\
                         [<0>] ksys_write+0x5f/0xe0\n\
                         [<0>] do_syscall_64+0x3b/0x90\n\
                         [<0>] entry_SYSCALL_64_after_hwframe+0x63/0xcd\n";

    #[test]
    fn a_module_frame_heads_the_sentence() {
        let frames = frames(STACK);
        assert_eq!(frames[1], "sl_write [sleeper]");
        assert_eq!(without_address("[<0>] sl_write+0x1d/0x30 [sleeper]"), "sl_write+0x1d/0x30 [sleeper]");
        assert_eq!(headline(&frames), "sl_write [sleeper] ← vfs_write ← ksys_write");
    }

    #[test]
    fn without_a_module_frame_the_first_that_is_not_a_sleep_helper_heads_it() {
        let stack = "[<0>] __schedule+0x1/0x2\n[<0>] schedule_timeout+0x1/0x2\n[<0>] pipe_read+0x1/0x2\n\
                     [<0>] vfs_read+0x1/0x2\n";
        assert_eq!(headline(&frames(stack)), "pipe_read ← vfs_read");
    }

    #[test]
    fn the_state_is_read_past_a_command_name_with_parentheses() {
        assert_eq!(state_of("42 (a (b) c) D 1 42 42 0"), Some('D'));
        assert_eq!(state_of("garbage"), None);
        assert_eq!(group_of("42 (a (b) c) D 1 40 40 0"), Some(40));
    }
}
