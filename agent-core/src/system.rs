//! PID 1 chores: mounts, kernel log, module loading, clocks, power-off.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::Mutex;

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::kmod::{DeleteModuleFlags, ModuleInitFlags};
use nix::mount::{MntFlags, MsFlags};
use nix::sys::reboot::RebootMode;
use nix::time::ClockId;

static KMSG: Mutex<Option<File>> = Mutex::new(None);

/// Logs to the kernel log, which the host keeps as the console log.
pub fn log(message: &str) {
    let mut kmsg = KMSG.lock().unwrap_or_else(|e| e.into_inner());
    if kmsg.is_none() {
        *kmsg = OpenOptions::new().write(true).open("/dev/kmsg").ok();
    }
    match kmsg.as_mut() {
        Some(f) => {
            // One write() is one kernel log record.
            let _ = f.write_all(format!("kulink-agent: {message}\n").as_bytes());
        }
        None => eprintln!("kulink-agent: {message}"),
    }
}

pub fn mount(source: &str, target: &str, fstype: &str) -> Result<()> {
    std::fs::create_dir_all(target).with_context(|| format!("mkdir {target}"))?;
    match nix::mount::mount(Some(source), target, Some(fstype), MsFlags::empty(), None::<&str>) {
        Ok(()) | Err(Errno::EBUSY) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("mount {fstype} on {target}")),
    }
}

pub fn unmount(target: &str) -> Result<()> {
    nix::mount::umount2(target, MntFlags::empty()).with_context(|| format!("unmount {target}"))
}

/// The file systems every channel needs.
pub fn mount_basics() -> Result<()> {
    mount("proc", "/proc", "proc")?;
    mount("sysfs", "/sys", "sysfs")?;
    mount("devtmpfs", "/dev", "devtmpfs")?;
    // debugfs is optional: a distro kernel may have it disabled.
    let _ = mount("debugfs", "/sys/kernel/debug", "debugfs");
    Ok(())
}

/// Loads the modules listed in `list` (a path and its parameters a line, in
/// order), if any: drivers a distribution kernel builds as modules, and the
/// test's modules that the one under test needs.
pub fn load_listed_modules(list: &str) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(list) else { return Ok(()) };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(kulink_protocol::parse_preload_line)
        .try_for_each(|(path, params)| load_module(path, params))
}

/// Loads a kernel module from a file (finit_module), with parameters; one
/// already loaded is left as it is.
pub fn load_module(path: &str, params: &str) -> Result<()> {
    match insert_module(path, params) {
        Err(e) if e.downcast_ref::<Errno>() == Some(&Errno::EEXIST) => Ok(()),
        result => result,
    }
}

/// Loads a kernel module from a file, as the host asked: every refusal,
/// EEXIST included, is the host's to judge.
pub fn insert_module(path: &str, params: &str) -> Result<()> {
    let file = File::open(path).with_context(|| format!("open module {path}"))?;
    let params = CString::new(params).context("module parameters")?;
    nix::kmod::finit_module(&file, &params, init_flags(path)).with_context(|| format!("finit_module {path}"))
}

/// A compressed module (Debian's `.ko.xz` since 6.12) is handed to the
/// kernel as it is, to decompress itself (`MODULE_INIT_COMPRESSED_FILE`,
/// which nix does not name), as modprobe does.
pub(crate) fn init_flags(path: &str) -> ModuleInitFlags {
    const MODULE_INIT_COMPRESSED_FILE: libc::c_uint = 4;
    if [".ko.xz", ".ko.zst", ".ko.gz"].iter().any(|suffix| path.ends_with(suffix)) {
        ModuleInitFlags::from_bits_retain(MODULE_INIT_COMPRESSED_FILE)
    } else {
        ModuleInitFlags::empty()
    }
}

/// Unloads a module without waiting for its users (O_NONBLOCK, as rmmod).
pub fn remove_module(name: &str) -> Result<()> {
    let c_name = CString::new(name).context("module name")?;
    nix::kmod::delete_module(&c_name, DeleteModuleFlags::O_NONBLOCK).with_context(|| format!("delete_module {name}"))
}

fn clock_ns(clock: ClockId) -> u64 {
    // These clocks always exist on Linux; a zero would only skew figures.
    clock.now().map_or(0, |ts| ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64)
}

/// CLOCK_MONOTONIC, the clock of the module's event timestamps.
pub fn monotonic_ns() -> u64 {
    clock_ns(ClockId::CLOCK_MONOTONIC)
}

/// Time since the guest booted.
pub fn boottime_ms() -> u64 {
    clock_ns(ClockId::CLOCK_BOOTTIME) / 1_000_000
}

/// syslog(2)'s actions (`include/linux/syslog.h`; libc has no names for
/// them).
const SYSLOG_ACTION_READ_ALL: libc::c_int = 3;
const SYSLOG_ACTION_SIZE_BUFFER: libc::c_int = 10;

/// The kernel's log buffer, whole.
pub fn kernel_log() -> Result<String> {
    // nix has no syslog(2); the libc call is the whole interface.
    // SAFETY: SIZE_BUFFER takes no buffer.
    let size = unsafe { libc::klogctl(SYSLOG_ACTION_SIZE_BUFFER, std::ptr::null_mut(), 0) };
    let size = usize::try_from(size).map_err(|_| std::io::Error::last_os_error()).context("the log buffer's size")?;
    let mut buf = vec![0u8; size];
    // SAFETY: the buffer holds `size` bytes, and the kernel writes no more.
    let read = unsafe { libc::klogctl(SYSLOG_ACTION_READ_ALL, buf.as_mut_ptr().cast(), size as libc::c_int) };
    let read = usize::try_from(read).map_err(|_| std::io::Error::last_os_error()).context("read the log buffer")?;
    buf.truncate(read);
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// `struct rand_pool_info` (`include/uapi/linux/random.h`) with its
/// buffer: what RNDADDENTROPY takes.
#[repr(C)]
struct RandPoolInfo {
    entropy_count: libc::c_int,
    buf_size: libc::c_int,
    buf: [u8; SEED_MAX],
}

/// The most seed the host sends is used (the kernel mixes in any amount).
const SEED_MAX: usize = 64;

// RNDADDENTROPY is _IOW('R', 0x03, int[2]): its size names the header only.
nix::ioctl_write_ptr_bad!(rnd_add_entropy, nix::request_code_write!(b'R', 0x03, 8), RandPoolInfo);
nix::ioctl_none!(rnd_reseed_crng, b'R', 0x07);

/// Mixes `seed` into the input pool, credited, and reseeds the generator
/// from it now rather than minutes from now: a guest restored from a saved
/// VM must not hand out the random numbers of every other one.
pub fn reseed(seed: &[u8]) -> Result<()> {
    let len = seed.len().min(SEED_MAX);
    let mut info =
        RandPoolInfo { entropy_count: (len * 8) as libc::c_int, buf_size: len as libc::c_int, buf: [0; SEED_MAX] };
    info.buf[..len].copy_from_slice(&seed[..len]);
    let urandom = File::open("/dev/urandom").context("open /dev/urandom")?;
    // SAFETY: the ioctls take the pool info and nothing; the fd is open.
    unsafe { rnd_add_entropy(urandom.as_raw_fd(), &info) }.context("RNDADDENTROPY")?;
    // A generator not yet initialised (no entropy source at boot) refuses a
    // reseed; the credited seed initialises it instead.
    match unsafe { rnd_reseed_crng(urandom.as_raw_fd()) } {
        Ok(_) | Err(Errno::ENODATA | Errno::EINVAL) => Ok(()),
        Err(e) => Err(e).context("RNDRESEEDCRNG"),
    }
}

/// Sets the wall clock (CLOCK_REALTIME).
pub fn set_realtime(ns: u64) -> Result<()> {
    let ts = nix::sys::time::TimeSpec::new((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64);
    nix::time::clock_settime(ClockId::CLOCK_REALTIME, ts).context("set the wall clock")
}

/// Ends the VM: the harness runs QEMU with -no-reboot, so a reboot exits it.
pub fn power_off() -> ! {
    nix::unistd::sync();
    let _ = nix::sys::reboot::reboot(RebootMode::RB_AUTOBOOT);
    // Not PID 1 (a developer running it by hand): just leave.
    std::process::exit(0)
}
