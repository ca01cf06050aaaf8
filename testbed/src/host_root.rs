//! What a guest's kernel needs to mount the host's root file system (see
//! [`BootOptions::host_root`](crate::vm::BootOptions::host_root)): 9p over
//! virtio, built in.

use anyhow::Result;

use crate::kconfig;
use crate::kernels::BuiltKernel;
use crate::usage_error;

/// The options 9p over virtio needs.
pub const KERNEL_OPTIONS: [&str; 4] =
    ["CONFIG_NETWORK_FILESYSTEMS", "CONFIG_NET_9P", "CONFIG_NET_9P_VIRTIO", "CONFIG_9P_FS"];

/// `kernel` when it has 9p built in, else what `variant` makes of `overlay`
/// with 9p built in (a catalog kernel's variant, or a usage error for a
/// kernel kulink cannot rebuild). A distribution kernel, used as it ships,
/// without it is a usage error: Debian's cloud kernels have no 9p at all.
pub fn with_9p(
    kernel: BuiltKernel,
    overlay: &kconfig::Options,
    variant: impl FnOnce(&kconfig::Options) -> Result<BuiltKernel>,
) -> Result<BuiltKernel> {
    let config = kconfig::parse(&kernel.config()?);
    let missing: Vec<&str> =
        KERNEL_OPTIONS.into_iter().filter(|o| config.get(*o).cloned().flatten().as_deref() != Some("y")).collect();
    if missing.is_empty() {
        return Ok(kernel);
    }
    if kernel.modules.is_some() {
        return Err(usage_error(format!(
            "kernel {} is a distribution's, used as it ships, and has no 9p over virtio built in ({}), which the \
             host's root needs: pick a kernel built from source",
            kernel.id,
            missing.join(", ")
        )));
    }
    let mut wanted = overlay.clone();
    wanted.extend(KERNEL_OPTIONS.iter().map(|o| (o.to_string(), Some("y".to_owned()))));
    variant(&wanted)
}
