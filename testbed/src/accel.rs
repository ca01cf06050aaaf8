//! Which accelerator runs the guest: KVM only where a KVM guest is proven
//! to boot on this host and QEMU, TCG otherwise. The verdict is kept in
//! the cache, so a host where KVM hangs pays the watchdog once.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::paths;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
/// How a guest's CPU runs: hardware virtualization or emulation.
pub enum Accel {
    /// KVM: the host's CPU runs the guest.
    Kvm,
    /// TCG: QEMU translates the guest's code (slower, works anywhere).
    Tcg,
}

impl Accel {
    /// `kvm` or `tcg`, as QEMU's `-accel` and reports name it.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// What the user asked for; `Auto` tries KVM under a watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccelChoice {
    /// KVM when it has worked on this host, TCG after it hangs.
    Auto,
    /// KVM or nothing.
    Kvm,
    /// TCG, even where KVM works.
    Tcg,
}

impl AccelChoice {
    /// Every choice, by the name a user gives it.
    pub const NAMES: [(&'static str, Self); 3] = [("auto", Self::Auto), ("kvm", Self::Kvm), ("tcg", Self::Tcg)];
}

/// Can this process open /dev/kvm at all? (Not proof that guests run.)
pub fn kvm_openable() -> bool {
    fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok()
}

/// Remembered per host kernel and QEMU version: did a KVM guest boot?
#[derive(Debug, Default, Serialize, Deserialize)]
struct Verdicts(std::collections::BTreeMap<String, bool>);

fn verdict_file() -> PathBuf {
    paths::cache_dir().join("kvm-verdicts.json")
}

fn host_key() -> String {
    let qemu = Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_default();
    let host = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{} | {}", host.trim(), qemu)
}

/// `Some(true)`: KVM booted here before; `Some(false)`: it hung; `None`: unknown.
pub fn kvm_verdict() -> Option<bool> {
    let v: Verdicts = serde_json::from_slice(&fs::read(verdict_file()).ok()?).ok()?;
    v.0.get(&host_key()).copied()
}

/// Remembers for this host whether a KVM guest booted (see [`kvm_verdict`]).
pub fn record_kvm_verdict(works: bool) {
    let mut v: Verdicts =
        fs::read(verdict_file()).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    v.0.insert(host_key(), works);
    let _ = fs::create_dir_all(paths::cache_dir());
    let _ = fs::write(verdict_file(), serde_json::to_vec_pretty(&v).unwrap_or_default());
}

/// The first accelerator to try for a choice.
pub fn first_accel(choice: AccelChoice) -> Accel {
    match choice {
        AccelChoice::Kvm => Accel::Kvm,
        AccelChoice::Tcg => Accel::Tcg,
        AccelChoice::Auto if kvm_openable() && kvm_verdict() != Some(false) => Accel::Kvm,
        AccelChoice::Auto => Accel::Tcg,
    }
}
