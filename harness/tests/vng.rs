//! The virtme-ng backend: the same module, agent and assertions, with the
//! guest started by vng on the host's root file system.

mod common;

use kulink::artifacts::KernelChoice;
use kulink::job::{self, JobOptions};
use kulink::qemu::AccelChoice;
use kulink::report::ChannelReport;
use kulink::tools;
use kulink::vm::Backend;

/// The kernel with vng.config.
const KERNEL: &str = "6.1-vng";

#[test]
fn vng_backend_passes_the_main_job() {
    if tools::VNG.find().is_none() {
        // test.sh installs virtme-ng, so in CI its absence is a failure.
        assert!(std::env::var("CI").as_deref() != Ok("true"), "vng is not installed: {}", tools::VNG.install);
        eprintln!("vng is not installed ({}): skipped", tools::VNG.install);
        return;
    }
    common::artifacts(KERNEL);
    // virtme-run and QEMU run below vng: an orphan must stay visible.
    common::adopt_orphans();
    let opts = JobOptions {
        kernel: KernelChoice::Listed(Some(KERNEL.into())),
        backend: Backend::Vng,
        accel: AccelChoice::Auto,
        echoes: 16,
    };
    let report = job::run(&opts).unwrap();
    assert!(report.passed, "{}", report.table());
    assert_eq!(report.channels.len(), 13);
    for channel in &report.channels {
        if let ChannelReport::Events(c) = channel {
            assert_eq!((c.matched, c.lost), (report.injected, 0), "{c:#?}");
        }
    }
    // The kernel halts instead of powering off: vng, virtme-run and QEMU
    // must all be ended by the harness.
    common::assert_no_process_left("after the vng job");
}
