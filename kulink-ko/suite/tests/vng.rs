//! The virtme-ng backend: the same module, agent and assertions, with the
//! guest started by vng on the host's root file system.

mod common;

use kulink::testbed::accel::AccelChoice;
use kulink::testbed::artifacts::KernelChoice;
use kulink::testbed::vm::Backend;
use kulink::testbed::{kernels, tools};
use kulink_ko_suite::output;
use kulink_ko_suite::report::ChannelReport;
use kulink_ko_suite::run::{self, RunOptions, Traffic};

/// The first selected kernel built with what virtme-ng needs.
fn vng_kernel() -> Option<String> {
    let selected = kernels::selected().expect("the kernel selection is valid");
    selected.into_iter().find(|k| k.fragments.iter().any(|f| f == "vng.config")).map(|k| k.id)
}

#[test]
fn vng_backend_passes_the_main_job() {
    if tools::VNG.find().is_none() {
        // test.sh installs virtme-ng, so in CI its absence is a failure.
        assert!(std::env::var("CI").as_deref() != Ok("true"), "vng is not installed: {}", tools::VNG.install);
        kulink::matrix::skipped(&format!("vng is not installed ({})", tools::VNG.install));
        return;
    }
    let Some(kernel) = vng_kernel() else {
        // Only a narrowed selection (KULINK_KERNELS, KULINK_SKIP_KERNELS) may leave it out.
        assert!(kernels::list().unwrap().len() != kernels::selected().unwrap().len(), "no kernel has vng.config");
        kulink::matrix::skipped("no selected kernel has vng.config");
        return;
    };
    common::artifacts(&kernel);
    // virtme-run and QEMU run below vng: an orphan must stay visible.
    common::adopt_orphans();
    let opts = RunOptions {
        kernel: KernelChoice::Listed(Some(kernel)),
        backend: Backend::Vng,
        accel: AccelChoice::Auto,
        traffic: Traffic::Standard { echoes: 16 },
    };
    let dir = common::scratch_dir("vng-job");
    let report = run::run(&opts, &dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(report.passed, "{}", output::table(&report));
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
