//! QEMU command lines, built by small pure functions.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Result;
use kulink_protocol::{BootConfig, HOST_ROOT_TAG, KERNEL_LOG_PORT, PORT_NAME, SHELL_PORT};

use crate::accel::Accel;
use crate::arch::{Arch, VirtioBus};
use crate::boot_steps::BootStep;
use crate::frames::Wire;

/// Everything one QEMU process needs.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    pub arch: Arch,
    pub accel: Accel,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// What the agent is told on the kernel command line.
    pub boot: BootConfig,
    /// The kernel's own arguments, after the agent's.
    pub kernel_args: String,
    pub memory_mb: u32,
    pub cpus: u32,
    pub console_log: PathBuf,
    /// Where the agent's copy of the kernel log goes.
    pub kernel_log: PathBuf,
    /// The socket of a person's shell port, when the guest has one.
    pub shell_socket: Option<PathBuf>,
    /// The loopback TCP port for QEMU's gdb stub, when wanted.
    pub gdb_port: Option<u16>,
    /// Share the host's root file system, read-only, over 9p.
    pub host_root: bool,
    pub control_socket: PathBuf,
    /// The guest NIC's socket (QEMU binds it) and the peer's (the harness binds it).
    pub wire_guest: PathBuf,
    pub wire_peer: PathBuf,
    pub wire: Wire,
}

fn os(items: &[&str]) -> Vec<OsString> {
    items.iter().map(OsString::from).collect()
}

pub fn machine_args(arch: Arch, accel: Accel, memory_mb: u32, cpus: u32) -> Vec<OsString> {
    let (memory, cpus) = (memory_mb.to_string(), cpus.to_string());
    let machine = match arch {
        Arch::X86_64 => "pc",
        Arch::Arm64 => "virt",
        Arch::S390x => "s390-ccw-virtio",
    };
    let mut args = os(&["-M", machine, "-accel", accel.name(), "-m", &memory, "-smp", &cpus]);
    match (accel, arch) {
        (Accel::Kvm, _) => args.extend(os(&["-cpu", "host"])),
        // QEMU 7.2's emulation of `cmpxchg16b %gs:(...)` leaves EFLAGS
        // garbled (the trap flag set among them): kernels whose SLUB takes
        // its lock-free path through it (Debian's 6.12) die in a debug trap
        // or double fault while probing virtio. Without CX16 SLUB locks.
        (Accel::Tcg, Arch::X86_64) => args.extend(os(&["-cpu", "qemu64,-cx16"])),
        // Every feature, with QEMU's own pointer authentication: the
        // architected one (QARMA) costs TCG more than the rest of the CPU.
        (Accel::Tcg, Arch::Arm64) => args.extend(os(&["-cpu", "max,pauth-impdef=on"])),
        (Accel::Tcg, Arch::S390x) => {}
    }
    args.extend(os(&["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"]));
    args
}

pub fn boot_args(kernel: &Path, initrd: &Path, cmdline: &str) -> Vec<OsString> {
    vec!["-kernel".into(), kernel.into(), "-initrd".into(), initrd.into(), "-append".into(), cmdline.into()]
}

/// The serial console, appended to `log`: a guest restored from a saved
/// one continues the console of the boot it was saved from.
pub fn console_args(log: &Path) -> Vec<OsString> {
    let mut file = OsString::from("file,id=console,append=on,path=");
    file.push(log);
    vec!["-chardev".into(), file, "-serial".into(), "chardev:console".into()]
}

/// The control port on `socket`, and the port the agent copies the
/// kernel's log to, appended to `kernel_log` (a restored guest continues
/// the log of the boot it was saved from).
pub fn control_args(bus: VirtioBus, socket: &Path, kernel_log: &Path) -> Vec<OsString> {
    let mut chardev = OsString::from("socket,id=ctl,path=");
    chardev.push(socket);
    let mut log = OsString::from("file,id=kmsg,append=on,path=");
    log.push(kernel_log);
    vec![
        "-device".into(),
        format!("{},id=vser", bus.device("virtio-serial")).into(),
        "-chardev".into(),
        chardev,
        "-device".into(),
        format!("virtserialport,bus=vser.0,chardev=ctl,name={PORT_NAME}").into(),
        "-chardev".into(),
        log,
        "-device".into(),
        format!("virtserialport,bus=vser.0,chardev=kmsg,name={KERNEL_LOG_PORT}").into(),
    ]
}

/// The port a person's shell runs on, through `socket`.
pub fn shell_args(socket: &Path) -> Vec<OsString> {
    let mut chardev = OsString::from("socket,id=shell,path=");
    chardev.push(socket);
    vec![
        "-chardev".into(),
        chardev,
        "-device".into(),
        format!("virtserialport,bus=vser.0,chardev=shell,name={SHELL_PORT}").into(),
    ]
}

/// The host's root, read-only, as the 9p share [`HOST_ROOT_TAG`]. Other
/// file systems mounted below it keep their inode numbers apart
/// (`multidevs=remap`); the guest's files are its own (`security_model=none`:
/// owners and modes as the host has them).
pub fn host_root_args(bus: VirtioBus) -> Vec<OsString> {
    os(&[
        "-fsdev",
        "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
        "-device",
        &format!("{},fsdev=hostroot,mount_tag={HOST_ROOT_TAG}", bus.device("virtio-9p")),
    ])
}

/// One Ethernet frame per unix datagram: no TAP, no root.
pub fn wire_args(bus: VirtioBus, guest: &Path, peer: &Path, wire: &Wire) -> Vec<OsString> {
    let netdev = format!(
        "dgram,id=wire,local.type=unix,local.path={},remote.type=unix,remote.path={}",
        guest.display(),
        peer.display()
    );
    vec![
        "-netdev".into(),
        netdev.into(),
        "-device".into(),
        format!("{},netdev=wire,mac={}", bus.device("virtio-net"), wire.guest_mac).into(),
    ]
}

/// The kernel command line: console for the splat scan (loglevel 5 keeps
/// warnings and worse), panic ends QEMU, the agent's settings, then the
/// kernel's own arguments.
pub fn kernel_cmdline(arch: Arch, boot: &BootConfig, kernel_args: &str) -> Result<String> {
    // x86's 8250 driver probes four ports unless told the machine has one.
    let uarts = if arch == Arch::X86_64 { " 8250.nr_uarts=1" } else { "" };
    let c = format!("console={} loglevel=5 panic=-1{uarts} {} {kernel_args}", arch.console(), boot.render()?);
    Ok(c.trim_end().to_owned())
}

/// The clocks an x86_64 guest under TCG is told about rather than left to
/// calibrate (`without` leaves one step out).
/// TCG hands the guest the host's own TSC. Telling the kernel its rate
/// (`tsc_early_khz=`) replaces PIT calibration, which is slow under TCG and
/// fails on a busy host, leaving a jiffies clock with 4 ms resolution.
/// `tsc=reliable` keeps that clock: the clocksource watchdog would judge
/// the TSC against jiffies, which a busy emulator delays, mark it unstable
/// a second into the boot and fall back to jiffies, and with them lose
/// high-resolution timers. `noapictimer` leaves the local APIC timer off,
/// and its calibration against the PIT (100 ms of ticks, then 100 ms more
/// to check the result) with it: the PIT is the clock event device.
pub fn tcg_clock_args(arch: Arch, without: Option<BootStep>) -> String {
    if arch != Arch::X86_64 || !arch.is_host() {
        return String::new();
    }
    static KHZ: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    let tsc = KHZ.get_or_init(host_tsc_khz).filter(|_| without != Some(BootStep::TscRate));
    let tsc = tsc.map(|khz| format!("tsc_early_khz={khz} tsc=reliable"));
    let apic = (without != Some(BootStep::NoApicTimer)).then(|| "noapictimer".to_owned());
    tsc.into_iter().chain(apic).collect::<Vec<_>>().join(" ")
}

/// The host TSC rate, measured against the monotonic clock over 50 ms.
#[cfg(target_arch = "x86_64")]
fn host_tsc_khz() -> Option<u64> {
    use std::time::{Duration, Instant};
    // SAFETY: rdtsc has no preconditions on x86_64.
    let tsc = || unsafe { core::arch::x86_64::_rdtsc() };
    let (t0, c0) = (Instant::now(), tsc());
    std::thread::sleep(Duration::from_millis(50));
    let (ns, cycles) = (t0.elapsed().as_nanos() as u64, tsc() - c0);
    let khz = cycles.checked_mul(1_000_000)? / ns.max(1);
    (khz > 100_000).then_some(khz)
}

#[cfg(not(target_arch = "x86_64"))]
fn host_tsc_khz() -> Option<u64> {
    None
}

/// virtme-ng: the same devices as ours, passed through --qemu-opts; the
/// agent runs with --exec on the host's root, so the module (in `cfg.boot`)
/// and the agent are host paths. vng picks its own console.
pub fn vng_args(cfg: &QemuConfig, agent: &Path) -> Result<Vec<OsString>> {
    let bus = cfg.arch.virtio_bus();
    let mut devices = control_args(bus, &cfg.control_socket, &cfg.kernel_log);
    devices.extend(wire_args(bus, &cfg.wire_guest, &cfg.wire_peer, &cfg.wire));
    let devices: Vec<String> = devices.into_iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let append = format!("{} {}", cfg.boot.render()?, cfg.kernel_args);
    let mut args = os(&["--run"]);
    args.push(cfg.kernel.clone().into());
    args.extend(os(&["--disable-microvm", "--force-9p", "--verbose", "--cpus", &cfg.cpus.to_string()]));
    args.extend(os(&["--memory", &format!("{}M", cfg.memory_mb)]));
    if cfg.accel == Accel::Tcg {
        args.push("--disable-kvm".into());
    }
    args.extend(os(&["--append", append.trim()]));
    // One word: vng's parser would take a value starting with '-' for an option.
    args.push(format!("--qemu-opts={}", devices.join(" ")).into());
    args.push("--exec".into());
    args.push(agent.into());
    Ok(args)
}

pub fn all_args(cfg: &QemuConfig) -> Result<Vec<OsString>> {
    let bus = cfg.arch.virtio_bus();
    let mut args = machine_args(cfg.arch, cfg.accel, cfg.memory_mb, cfg.cpus);
    args.extend(boot_args(&cfg.kernel, &cfg.initrd, &kernel_cmdline(cfg.arch, &cfg.boot, &cfg.kernel_args)?));
    args.extend(console_args(&cfg.console_log));
    args.extend(control_args(bus, &cfg.control_socket, &cfg.kernel_log));
    args.extend(wire_args(bus, &cfg.wire_guest, &cfg.wire_peer, &cfg.wire));
    if let Some(socket) = &cfg.shell_socket {
        args.extend(shell_args(socket));
    }
    if let Some(port) = cfg.gdb_port {
        args.extend(os(&["-gdb", &format!("tcp:127.0.0.1:{port}")]));
    }
    if cfg.host_root {
        args.extend(host_root_args(bus));
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: Vec<OsString>) -> Vec<String> {
        v.into_iter().map(|s| s.into_string().unwrap()).collect()
    }

    #[test]
    fn tcg_machine_has_no_host_cpu_and_never_reboots() {
        let a = strings(machine_args(Arch::X86_64, Accel::Tcg, 256, 1));
        assert_eq!(&a[..4], ["-M", "pc", "-accel", "tcg"]);
        assert!(!a.contains(&"host".to_string()));
        assert!(a.contains(&"-no-reboot".to_string()));
        assert!(a.windows(2).any(|w| w == ["-m", "256"]));
        assert!(a.windows(2).any(|w| w == ["-smp", "1"]));
        assert!(a.windows(2).any(|w| w == ["-cpu", "qemu64,-cx16"]), "{a:?}");
        let k = strings(machine_args(Arch::X86_64, Accel::Kvm, 256, 2));
        assert!(k.windows(2).any(|w| w == ["-cpu", "host"]));
        assert!(k.windows(2).any(|w| w == ["-smp", "2"]));
    }

    #[test]
    fn other_architectures_get_their_own_machine_and_transport() {
        let arm = strings(machine_args(Arch::Arm64, Accel::Tcg, 256, 1));
        assert_eq!(&arm[..4], ["-M", "virt", "-accel", "tcg"]);
        assert!(arm.windows(2).any(|w| w == ["-cpu", "max,pauth-impdef=on"]), "{arm:?}");
        let z = strings(machine_args(Arch::S390x, Accel::Tcg, 256, 1));
        assert_eq!(&z[..2], ["-M", "s390-ccw-virtio"]);
        assert!(!z.contains(&"-cpu".to_string()), "QEMU's own model: {z:?}");
        let wire = strings(wire_args(VirtioBus::Ccw, Path::new("/g"), Path::new("/p"), &Wire::default()));
        assert_eq!(wire[3], "virtio-net-ccw,netdev=wire,mac=52:54:00:6b:75:02");
        let control = strings(control_args(VirtioBus::Ccw, Path::new("/c"), Path::new("/k")));
        assert_eq!(control[1], "virtio-serial-ccw,id=vser");
        let c = kernel_cmdline(Arch::S390x, &boot_config(), "").unwrap();
        assert!(c.starts_with("console=ttysclp0 loglevel=5 panic=-1 kulink."), "{c}");
        assert!(kernel_cmdline(Arch::Arm64, &boot_config(), "").unwrap().starts_with("console=ttyAMA0 "));
        assert_eq!(tcg_clock_args(Arch::Arm64, None), "", "no TSC or APIC timer in an arm64 guest");
    }

    #[test]
    fn wire_is_a_unix_dgram_netdev_with_the_guest_mac() {
        let a = strings(wire_args(VirtioBus::Pci, Path::new("/r/g.sock"), Path::new("/r/p.sock"), &Wire::default()));
        assert_eq!(a[1], "dgram,id=wire,local.type=unix,local.path=/r/g.sock,remote.type=unix,remote.path=/r/p.sock");
        assert_eq!(a[3], "virtio-net-pci,netdev=wire,mac=52:54:00:6b:75:02");
    }

    #[test]
    fn control_port_carries_the_agreed_name() {
        let a = strings(control_args(VirtioBus::Pci, Path::new("/r/ctl.sock"), Path::new("/r/kernel.log")));
        assert_eq!(a[3], "socket,id=ctl,path=/r/ctl.sock");
        assert_eq!(a[5], "virtserialport,bus=vser.0,chardev=ctl,name=kulink.ctl");
        assert_eq!(a[7], "file,id=kmsg,append=on,path=/r/kernel.log");
        assert_eq!(a[9], "virtserialport,bus=vser.0,chardev=kmsg,name=kulink.kmsg");
    }

    #[test]
    fn host_tsc_rate_is_plausible_and_the_apic_timer_is_left_off() {
        let args = tcg_clock_args(Arch::X86_64, None);
        let words: Vec<&str> = args.split(' ').collect();
        assert_eq!(words.last(), Some(&"noapictimer"), "{args}");
        if let Some(khz) = words.first().and_then(|w| w.strip_prefix("tsc_early_khz=")) {
            let khz: u64 = khz.parse().unwrap();
            assert!((100_000..20_000_000).contains(&khz), "{khz} kHz");
            assert_eq!(words[1], "tsc=reliable");
        }
        let untuned = |step| tcg_clock_args(Arch::X86_64, Some(step));
        assert!(!untuned(BootStep::NoApicTimer).contains("noapictimer"));
        assert!(!untuned(BootStep::TscRate).contains("tsc_early_khz"));
        assert!(untuned(BootStep::TscRate).contains("noapictimer"));
    }

    fn boot_config() -> BootConfig {
        let wire = Wire::default();
        let mut boot = BootConfig::new(wire.guest_ip, wire.prefix);
        boot.module = Some("/m/test.ko".into());
        boot.extension.insert("greeting".into(), "hello".into());
        boot
    }

    #[test]
    fn vng_gets_our_devices_and_host_paths() {
        let cfg = QemuConfig {
            arch: Arch::X86_64,
            accel: Accel::Tcg,
            kernel: "/k/bzImage".into(),
            initrd: "/r/unused".into(),
            boot: boot_config(),
            kernel_args: "tsc_early_khz=1000 panic_on_warn=1".into(),
            memory_mb: 256,
            cpus: 1,
            console_log: "/r/console.log".into(),
            kernel_log: "/r/kernel.log".into(),
            shell_socket: None,
            gdb_port: None,
            host_root: false,
            control_socket: "/r/ctl.sock".into(),
            wire_guest: "/r/g.sock".into(),
            wire_peer: "/r/p.sock".into(),
            wire: Wire::default(),
        };
        let a = strings(vng_args(&cfg, Path::new("/a/agent")).unwrap());
        assert_eq!(&a[..2], ["--run", "/k/bzImage"]);
        assert!(a.contains(&"--disable-kvm".to_string()), "TCG means no KVM for vng either");
        let append = &a[a.iter().position(|x| x == "--append").unwrap() + 1];
        assert_eq!(BootConfig::parse(append).unwrap(), cfg.boot, "the agent reads back what was meant");
        assert!(append.ends_with(" tsc_early_khz=1000 panic_on_warn=1"));
        assert!(!append.contains("console="), "vng picks its own console");
        let opts = a.iter().find_map(|x| x.strip_prefix("--qemu-opts=")).unwrap();
        assert!(opts.contains("virtserialport,bus=vser.0,chardev=ctl,name=kulink.ctl"));
        assert!(opts.contains("-netdev dgram,id=wire,local.type=unix,local.path=/r/g.sock"));
        assert_eq!(a.last().unwrap(), "/a/agent");
    }

    #[test]
    fn cmdline_has_the_console_then_the_agents_settings_then_the_kernels() {
        let c = kernel_cmdline(Arch::X86_64, &boot_config(), "slub_debug=FZ").unwrap();
        assert!(c.starts_with("console=ttyS0 "));
        assert!(c.contains(" panic=-1 "));
        assert_eq!(BootConfig::parse(&c).unwrap(), boot_config());
        assert!(c.ends_with(" kulink.greeting=hello slub_debug=FZ"));
        assert!(!kernel_cmdline(Arch::X86_64, &boot_config(), "").unwrap().ends_with(' '));
    }
}
