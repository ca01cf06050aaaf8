//! The architectures a guest can have, as frozen data: how its kernel is
//! built, what its console and virtio transport are called, and which Rust
//! target and Debian architecture its agent needs. (The host programs
//! each one takes are in [`crate::tools`].)

use serde::{Deserialize, Serialize};

/// A guest's machine architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub enum Arch {
    /// 64-bit x86 on QEMU's `pc` machine.
    #[default]
    #[serde(rename = "x86_64")]
    X86_64,
    /// 64-bit Arm on QEMU's `virt` machine.
    #[serde(rename = "arm64")]
    Arm64,
    /// IBM Z (big-endian) on QEMU's `s390-ccw-virtio` machine.
    #[serde(rename = "s390x")]
    S390x,
}

/// How a guest's virtio devices are attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VirtioBus {
    /// PCI (`virtio-net-pci`).
    Pci,
    /// IBM Z channel I/O (`virtio-net-ccw`).
    Ccw,
}

impl Arch {
    /// Every architecture, as the catalog names them.
    pub const ALL: [Arch; 3] = [Arch::X86_64, Arch::Arm64, Arch::S390x];

    /// The architecture this program runs on, when it is one of ours.
    pub fn host() -> Option<Self> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Self::X86_64),
            "aarch64" => Some(Self::Arm64),
            "s390x" => Some(Self::S390x),
            _ => None,
        }
    }

    /// Is it this host's own (no cross compiler, KVM possible)?
    pub fn is_host(self) -> bool {
        Self::host() == Some(self)
    }

    /// As the catalog and reports name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
            Self::S390x => "s390x",
        }
    }

    /// The kernel's `ARCH=`.
    pub fn kernel_arch(self) -> &'static str {
        match self {
            Self::X86_64 => "x86",
            Self::Arm64 => "arm64",
            Self::S390x => "s390",
        }
    }

    /// The GNU triplet of Debian's cross compilers (`aarch64-linux-gnu`).
    pub fn gnu_triplet(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64-linux-gnu",
            Self::Arm64 => "aarch64-linux-gnu",
            Self::S390x => "s390x-linux-gnu",
        }
    }

    /// Debian's name for it (`dpkg --print-architecture`).
    pub fn debian(self) -> &'static str {
        match self {
            Self::X86_64 => "amd64",
            Self::Arm64 => "arm64",
            Self::S390x => "s390x",
        }
    }

    /// The Rust target the agent is built for.
    pub fn rust_target(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64-unknown-linux-gnu",
            Self::Arm64 => "aarch64-unknown-linux-gnu",
            Self::S390x => "s390x-unknown-linux-gnu",
        }
    }

    /// The bootable image a kernel build leaves, under its build directory.
    pub fn image(self) -> &'static str {
        match self {
            Self::X86_64 => "arch/x86/boot/bzImage",
            Self::Arm64 => "arch/arm64/boot/Image",
            Self::S390x => "arch/s390/boot/bzImage",
        }
    }

    /// The console the kernel writes to (`console=`).
    pub fn console(self) -> &'static str {
        match self {
            Self::X86_64 => "ttyS0",
            Self::Arm64 => "ttyAMA0",
            Self::S390x => "ttysclp0",
        }
    }

    /// How virtio devices attach.
    pub fn virtio_bus(self) -> VirtioBus {
        match self {
            Self::X86_64 | Self::Arm64 => VirtioBus::Pci,
            Self::S390x => VirtioBus::Ccw,
        }
    }

    /// Whether a guest saved by QEMU comes back whole. A restored s390x
    /// guest (QEMU 7.2, TCG) answers the agent's first request and then
    /// hangs in the next: it boots every time.
    pub fn restores(self) -> bool {
        self != Self::S390x
    }

    /// Its byte order is big-endian (network order is its own).
    pub fn is_big_endian(self) -> bool {
        self == Self::S390x
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl VirtioBus {
    /// A virtio device's QEMU name on this bus (`virtio-net` → `virtio-net-ccw`).
    pub fn device(self, virtio: &str) -> String {
        match self {
            Self::Pci => format!("{virtio}-pci"),
            Self::Ccw => format!("{virtio}-ccw"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_the_catalog_s_spelling() {
        for arch in Arch::ALL {
            let text = serde_json::to_string(&arch).unwrap();
            assert_eq!(text, format!("\"{}\"", arch.name()));
            assert_eq!(serde_json::from_str::<Arch>(&text).unwrap(), arch);
        }
        assert!(serde_json::from_str::<Arch>("\"aarch64\"").is_err(), "the kernel's name, not the GNU one");
    }

    #[test]
    fn each_architecture_has_its_own_toolchain_and_machine() {
        assert_eq!(Arch::Arm64.gnu_triplet(), "aarch64-linux-gnu");
        assert_eq!(Arch::S390x.kernel_arch(), "s390");
        assert_eq!(Arch::S390x.virtio_bus().device("virtio-net"), "virtio-net-ccw");
        assert_eq!(Arch::Arm64.virtio_bus().device("virtio-serial"), "virtio-serial-pci");
        assert!(Arch::S390x.is_big_endian() && !Arch::Arm64.is_big_endian());
    }
}
