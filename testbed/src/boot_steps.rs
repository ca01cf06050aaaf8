//! What kulink does to a guest's boot to make it fast. Each step can be
//! undone alone (`BootOptions::without_step`), so that `kulink bench boot
//! --steps` shows what each one saves.

use std::fmt;

/// One step of kulink's boot tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootStep {
    /// Under TCG on an x86_64 host, the kernel is told the TSC's rate
    /// (`tsc_early_khz`, measured on the host) instead of calibrating it.
    TscRate,
    /// Under TCG on x86_64, the local APIC timer is left off
    /// (`noapictimer`) and the PIT is the clock event device: the APIC
    /// timer's calibration counts 100 ms of PIT ticks and checks the result
    /// over 100 ms more (x86 kernels take no period from the command line,
    /// and QEMU's TCG has no TSC-deadline mode that would skip it), and on
    /// a loaded host it may fail and leave the PIT in charge anyway.
    NoApicTimer,
    /// The test's modules go into the image without their debug sections,
    /// which the kernel never loads: less to unpack and to free.
    StrippedModules,
}

impl BootStep {
    /// Every step, in the order a boot meets them.
    pub const ALL: [Self; 3] = [Self::TscRate, Self::NoApicTimer, Self::StrippedModules];

    /// Its name in a report.
    pub fn name(self) -> &'static str {
        match self {
            Self::TscRate => "tsc-rate",
            Self::NoApicTimer => "no-apic-timer",
            Self::StrippedModules => "stripped-modules",
        }
    }

    /// What it does, in a few words.
    pub fn what(self) -> &'static str {
        match self {
            Self::TscRate => "the TSC's rate given, not calibrated (tsc_early_khz)",
            Self::NoApicTimer => "the PIT for timer events, no APIC timer to calibrate (noapictimer)",
            Self::StrippedModules => "the image's modules without debug sections",
        }
    }
}

impl fmt::Display for BootStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_has_its_own_name() {
        let names: std::collections::BTreeSet<_> = BootStep::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names.len(), BootStep::ALL.len());
    }
}
