//! A module's life, over and over: unload and load it `count` times while
//! frames keep arriving, then ask kmemleak what was left behind. Any
//! module's guest can do this; a kernel built with `CONFIG_DEBUG_KMEMLEAK`
//! (the debug kernel) and booted with `kmemleak=on`
//! ([`GuestBuilder::kernel_arg`](crate::GuestBuilder::kernel_arg)) can scan.
//!
//! ```no_run
//! use kulink::{lifecycle, GuestBuilder};
//! use kulink::testbed::frames;
//!
//! let guest = GuestBuilder::kernel_id("6.1-debug").module("module").kernel_arg("kmemleak=on");
//! let mut vm = guest.boot()?;
//! lifecycle::clear_leaks(&mut vm)?;
//! let traffic = vec![frames::echo_request(vm.wire(), 1, 1, 16)];
//! let report = lifecycle::cycle(&mut vm, &lifecycle::Cycles { count: 100, traffic, rate: 200 }, "", |_, _| Ok(()))?;
//! assert_eq!(report.cycles, 100);
//! assert!(lifecycle::scan_leaks(&mut vm)?.is_empty());
//! # anyhow::Ok(())
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kulink_protocol::Extension;
use kulink_testbed::vm::Vm;
use serde::Serialize;

/// kmemleak's file in debugfs.
pub const KMEMLEAK: &str = "/sys/kernel/debug/kmemleak";

/// What to do: how many cycles, under which traffic.
#[derive(Debug, Clone, Default)]
pub struct Cycles {
    /// Unload and load cycles.
    pub count: u32,
    /// Frames sent to the guest in turn, for as long as the cycles last.
    pub traffic: Vec<Vec<u8>>,
    /// Frames per second (none when 0 or without frames).
    pub rate: u32,
}

/// What the cycles took.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CycleReport {
    /// Cycles done.
    pub cycles: u32,
    /// Frames sent while they ran.
    pub frames_sent: u64,
    /// Median and longest unload, in milliseconds.
    pub unload_ms: [u64; 2],
    /// Median and longest load, in milliseconds.
    pub load_ms: [u64; 2],
}

/// Unloads and loads the guest's module under test `cycles.count` times
/// (with `params`) while another thread sends `cycles.traffic`, calling
/// `after_load` after each load (to check the module works, say). The
/// first unload or load that fails ends it, naming its cycle.
pub fn cycle<X: Extension>(
    vm: &mut Vm<X>,
    cycles: &Cycles,
    params: &str,
    mut after_load: impl FnMut(&mut Vm<X>, u32) -> Result<()>,
) -> Result<CycleReport> {
    let traffic = Traffic::start(vm, cycles);
    let (mut unloads, mut loads) = (Vec::new(), Vec::new());
    let result = (1..=cycles.count).try_for_each(|n| {
        let started = Instant::now();
        vm.unload_module().with_context(|| format!("cycle {n}: unload"))?;
        unloads.push(started.elapsed());
        let started = Instant::now();
        vm.load_module(params).with_context(|| format!("cycle {n}: load"))?;
        loads.push(started.elapsed());
        after_load(vm, n).with_context(|| format!("cycle {n}: after the load"))
    });
    let frames_sent = traffic.stop()?;
    result?;
    Ok(CycleReport { cycles: cycles.count, frames_sent, unload_ms: spread(&mut unloads), load_ms: spread(&mut loads) })
}

/// Median and maximum, in milliseconds.
fn spread(times: &mut [Duration]) -> [u64; 2] {
    times.sort();
    let ms = |d: Option<&Duration>| d.map_or(0, |d| d.as_millis() as u64);
    [ms(times.get(times.len() / 2)), ms(times.last())]
}

/// A thread that sends frames at a steady rate until stopped.
struct Traffic {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Traffic {
    fn start<X: Extension>(vm: &Vm<X>, cycles: &Cycles) -> Self {
        let (stop, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let thread = (cycles.rate > 0 && !cycles.traffic.is_empty()).then(|| {
            let (sender, frames, gap) =
                (vm.frame_sender(), cycles.traffic.clone(), Duration::from_secs(1) / cycles.rate);
            let (stop, sent) = (stop.clone(), sent.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                for (n, frame) in (1u32..).zip(frames.iter().cycle()) {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    sender.send(frame)?;
                    sent.fetch_add(1, Ordering::Relaxed);
                    // Keep to the rate on average, whatever one send took.
                    if let Some(wait) = (gap * n).checked_sub(started.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
                Ok(())
            })
        });
        Self { stop, sent, thread }
    }

    /// Stops the thread; how many frames it sent.
    fn stop(mut self) -> Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().map_err(|_| anyhow::anyhow!("the traffic thread panicked"))??;
        }
        Ok(self.sent.load(Ordering::Relaxed))
    }
}

/// One object kmemleak found unreferenced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leak {
    /// Its address, as kmemleak prints it.
    pub address: String,
    /// Its size in bytes.
    pub size: u64,
    /// The task that allocated it.
    pub comm: String,
    /// Where it was allocated, innermost first (`kmalloc_trace+0x26/0x60`,
    /// `f+0x1/0x2 [module]`).
    pub backtrace: Vec<String>,
}

/// Forgets what kmemleak suspects so far (boot's own objects, say), so
/// that a later scan reports only what is new.
pub fn clear_leaks<X: Extension>(vm: &mut Vm<X>) -> Result<()> {
    write_kmemleak(vm, "clear")
}

/// kmemleak reports no object younger than this when a scan starts
/// (`MSECS_MIN_AGE` in `mm/kmemleak.c`), however unreferenced.
const KMEMLEAK_MIN_AGE: Duration = Duration::from_millis(5000);

/// Waits until whatever was allocated before the call is old enough for
/// kmemleak to report, then scans twice, as kernel CI does (an object must
/// look unreferenced in two scans in a row before kmemleak reports it), and
/// returns what it reports.
pub fn scan_leaks<X: Extension>(vm: &mut Vm<X>) -> Result<Vec<Leak>> {
    // The guest's clock runs with the host's, TCG included.
    std::thread::sleep(KMEMLEAK_MIN_AGE + Duration::from_millis(500));
    write_kmemleak(vm, "scan")?;
    write_kmemleak(vm, "scan")?;
    Ok(parse_leaks(&vm.read_file(KMEMLEAK)?))
}

/// How long one kmemleak command may take. A scan walks all of the
/// guest's memory and every task's stack; on a KASAN kernel under TCG, with
/// another guest beside it on two cores, that has taken more than 15 s.
const KMEMLEAK_PATIENCE: Duration = Duration::from_secs(180);

fn write_kmemleak<X: Extension>(vm: &mut Vm<X>, command: &str) -> Result<()> {
    vm.write_file_within(KMEMLEAK, command, KMEMLEAK_PATIENCE).map_err(|e| {
        // A scan still running when the agent gives up is slow, not off.
        if format!("{e:#}").contains(kulink_testbed::protocol::CHILD_STUCK) {
            return e.context(format!("kmemleak {command}: the scan took longer than {KMEMLEAK_PATIENCE:?}"));
        }
        e.context(format!(
            "kmemleak {command}: kmemleak is not on in this guest: it needs a kernel built with \
             CONFIG_DEBUG_KMEMLEAK (such as 6.1-debug), booted with kmemleak=on (GuestBuilder::kernel_arg)"
        ))
    })
}

/// The leaks in the text of [`KMEMLEAK`].
pub fn parse_leaks(text: &str) -> Vec<Leak> {
    let mut leaks: Vec<Leak> = Vec::new();
    let mut in_backtrace = false;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("unreferenced object ") {
            let (address, size) = rest.split_once(" (size ").unwrap_or((rest, ""));
            let size = size.trim_end_matches("):").parse().unwrap_or(0);
            leaks.push(Leak { address: address.into(), size, comm: String::new(), backtrace: Vec::new() });
            in_backtrace = false;
        } else if let Some(leak) = leaks.last_mut() {
            if let Some(rest) = line.strip_prefix("comm \"") {
                leak.comm = rest.split('"').next().unwrap_or_default().into();
            } else if line.starts_with("backtrace") {
                in_backtrace = true;
            } else if in_backtrace && line.starts_with("[<") {
                leak.backtrace.push(line.split_once("] ").map_or(line, |(_, f)| f).into());
            }
        }
    }
    leaks
}

/// Fails naming the first leaks, if there are any.
pub fn check_no_leaks(leaks: &[Leak]) -> Result<()> {
    if let Some(first) = leaks.first() {
        bail!(
            "kmemleak reports {} unreferenced object(s); the first, {} bytes from {}, allocated at: {}",
            leaks.len(),
            first.size,
            first.comm,
            first.backtrace.join(" < ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "\
unreferenced object 0xffff888003e1c000 (size 64):
  comm \"insmod\", pid 93, jiffies 4294893040 (age 8.356s)
  hex dump (first 32 bytes):
    6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b 6b  kkkkkkkkkkkkkkkk
  backtrace:
    [<000000004a4e1b1d>] kmalloc_trace+0x26/0x60
    [<00000000c0ffee00>] kulink_init+0x12/0x30 [kulink]
unreferenced object 0xffff888003e1d000 (size 4096):
  comm \"swapper/0\", pid 1, jiffies 4294893041 (age 8.300s)
  backtrace (crc 1b3ef2c4):
    [<ffffffff81234567>] __kmalloc+0x30/0x60
";

    #[test]
    fn leaks_are_read_from_both_report_formats() {
        let leaks = parse_leaks(REPORT);
        assert_eq!(leaks.len(), 2);
        assert_eq!(
            leaks[0],
            Leak {
                address: "0xffff888003e1c000".into(),
                size: 64,
                comm: "insmod".into(),
                backtrace: vec!["kmalloc_trace+0x26/0x60".into(), "kulink_init+0x12/0x30 [kulink]".into()],
            }
        );
        assert_eq!((leaks[1].size, leaks[1].backtrace.len()), (4096, 1));
        assert!(parse_leaks("").is_empty());
        let err = check_no_leaks(&leaks).unwrap_err().to_string();
        assert!(err.contains("2 unreferenced object(s)") && err.contains("kulink_init+0x12/0x30 [kulink]"), "{err}");
        check_no_leaks(&[]).unwrap();
    }

    #[test]
    fn spread_is_median_and_maximum() {
        let mut times = [5, 1, 9, 3].map(Duration::from_millis);
        assert_eq!(spread(&mut times), [5, 9]);
        assert_eq!(spread(&mut []), [0, 0]);
    }
}
