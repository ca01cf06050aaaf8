//! One test per kernel, from any crate: a test target with `harness =
//! false` names its functions in [`kernel_tests!`](crate::kernel_tests),
//! and each runs once per kernel of the catalog, as
//! `kernel_<id>::<function>` (`kernel_6_1::notifications_arrive`). cargo
//! test and cargo nextest list, filter and run them like any other test.
//!
//! The kernels are those of `kulink kernels list`: the catalog in use
//! (kulink's or `KULINK_CATALOG`), narrowed by `KULINK_KERNELS` and
//! `KULINK_SKIP_KERNELS`. Functions after `source:` run only on kernels
//! built from source for the host's architecture, those after `cross:`
//! only on kernels built for another architecture (arm64 or s390x on an
//! x86_64 host), those after `distro:` only on distributions' kernels: on
//! the others they are not listed at all. A function may be named in
//! several sections. Tests that need no
//! kernel of their own (one that drives the `kulink` binary over several
//! kernels, say) follow `once:` and run once, under their own name.
//!
//! ```toml
//! [[test]]
//! name = "guest"
//! harness = false
//! ```
//!
//! ```no_run
//! // tests/guest.rs
//! fn the_module_loads(kernel: &str) {
//!     let guest = kulink::GuestBuilder::kernel_id(kernel).module("module").boot().unwrap();
//!     guest.shutdown().unwrap().check().unwrap();
//! }
//!
//! fn the_spec_names_the_family() {
//!     assert!(std::fs::read_to_string("module/udpcount.yaml").unwrap().contains("name: udpcount"));
//! }
//!
//! kulink::kernel_tests!(the_module_loads; once: the_spec_names_the_family);
//! ```
//!
//! Sections may come in any order, each at most once:
//! `kernel_tests!(on_every_kernel; source: on_source_kernels, kunit; cross:
//! kunit; distro: on_distribution_kernels; once: on_the_host)`.

use std::process::ExitCode;

use kulink_testbed::catalog::Kind;
use libtest_mimic::{Arguments, Trial};

/// How the line begins that a test prints on stdout when it cannot run on
/// what is selected (see [`skipped`]). `scripts/merge-junit.py` reads it.
pub const SKIPPED: &str = "kulink-test-skipped: ";

/// Tells that the calling test cannot run here, and why; the test then
/// returns. nextest counts it passed, but kulink's suite report (the merged
/// JUnit and `test.sh`'s total) counts it skipped.
pub fn skipped(why: &str) {
    println!("{SKIPPED}{why}");
}

/// A test function that takes the id of the kernel it runs on, and fails
/// by panicking (as `assert!` does).
#[derive(Debug, Clone, Copy)]
pub struct KernelTest {
    /// The function's name: the test's name after `kernel_<id>::`.
    pub name: &'static str,
    /// The function.
    pub run: fn(&str),
    /// Only on kernels of this kind; `None`: on every kernel.
    pub only_on: Option<Kind>,
}

/// A test that runs once, not per kernel.
#[derive(Debug, Clone, Copy)]
pub struct HostTest {
    /// The test's name.
    pub name: &'static str,
    /// The function.
    pub run: fn(),
}

/// The test-module name of a kernel id: `kernel_` and the id with every
/// character that is not a letter or digit as `_`.
pub fn module_name(kernel_id: &str) -> String {
    let id: String = kernel_id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    format!("kernel_{id}")
}

/// Every test on every selected kernel of its kind, then each host test
/// once, as libtest-mimic trials.
pub fn trials(tests: &[KernelTest], host_tests: &[HostTest], kernels: &[(String, Kind)]) -> Vec<Trial> {
    let per_kernel = kernels.iter().flat_map(|(id, kind)| {
        tests.iter().filter(|test| test.only_on.is_none_or(|only| only == *kind)).map(move |test| {
            let (id, run) = (id.clone(), test.run);
            Trial::test(format!("{}::{}", module_name(&id), test.name), move || {
                run(&id);
                Ok(())
            })
        })
    });
    let once = host_tests.iter().map(|test| {
        let run = test.run;
        Trial::test(test.name, move || {
            run();
            Ok(())
        })
    });
    per_kernel.chain(once).collect()
}

/// The `main` of a `harness = false` test target: parses the test
/// runner's arguments, expands `tests` over the selected kernels and runs
/// them, and each host test once. A broken catalog or selection ends it
/// with kulink's usage exit code, naming the problem.
pub fn main(tests: &[KernelTest], host_tests: &[HostTest]) -> ExitCode {
    let args = Arguments::from_args();
    restate_panics_last();
    let kernels = match kulink_testbed::kernels::selected() {
        Ok(specs) => specs.into_iter().map(|k| (k.id.clone(), k.kind())).collect::<Vec<_>>(),
        Err(e) => {
            eprintln!("kulink: {e:#}");
            return ExitCode::from(kulink_testbed::exit_code(&e) as u8);
        }
    };
    libtest_mimic::run(&args, trials(tests, host_tests, &kernels)).exit_code()
}

/// With a backtrace on, a failed assertion's message scrolls far above
/// the last lines of a test's output, which is all a CI log excerpt may
/// show: say it once more, in one line, after the backtrace.
fn restate_panics_last() {
    if std::env::var_os("RUST_BACKTRACE").is_none_or(|v| v == "0") {
        return;
    }
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        let location = info.location().map(|l| format!(" at {l}")).unwrap_or_default();
        eprintln!("kulink: the test failed{location}: {message}");
    }));
}

/// Writes the `main` of a `harness = false` test target that runs each
/// named function `fn(kernel_id: &str)` once per kernel (those after
/// `source:`, `distro:` or `cross:` on kernels of that kind only), and each
/// function `fn()` after `once:` once: see [`matrix`](crate::matrix).
#[macro_export]
macro_rules! kernel_tests {
    // Sections switch where the names that follow go.
    (@sort $at:ident $e:tt $s:tt $d:tt $c:tt $o:tt (source: $($rest:tt)*)) => {
        $crate::kernel_tests!(@sort source $e $s $d $c $o ($($rest)*));
    };
    (@sort $at:ident $e:tt $s:tt $d:tt $c:tt $o:tt (distro: $($rest:tt)*)) => {
        $crate::kernel_tests!(@sort distro $e $s $d $c $o ($($rest)*));
    };
    (@sort $at:ident $e:tt $s:tt $d:tt $c:tt $o:tt (cross: $($rest:tt)*)) => {
        $crate::kernel_tests!(@sort cross $e $s $d $c $o ($($rest)*));
    };
    (@sort $at:ident $e:tt $s:tt $d:tt $c:tt $o:tt (once: $($rest:tt)*)) => {
        $crate::kernel_tests!(@sort once $e $s $d $c $o ($($rest)*));
    };
    (@sort $at:ident $e:tt $s:tt $d:tt $c:tt $o:tt (; $($rest:tt)*)) => {
        $crate::kernel_tests!(@sort $at $e $s $d $c $o ($($rest)*));
    };
    (@sort $at:ident $e:tt $s:tt $d:tt $c:tt $o:tt (, $($rest:tt)*)) => {
        $crate::kernel_tests!(@sort $at $e $s $d $c $o ($($rest)*));
    };
    (@sort every [$($e:ident)*] $s:tt $d:tt $c:tt $o:tt ($name:ident $($rest:tt)*)) => {
        $crate::kernel_tests!(@sort every [$($e)* $name] $s $d $c $o ($($rest)*));
    };
    (@sort source $e:tt [$($s:ident)*] $d:tt $c:tt $o:tt ($name:ident $($rest:tt)*)) => {
        $crate::kernel_tests!(@sort source $e [$($s)* $name] $d $c $o ($($rest)*));
    };
    (@sort distro $e:tt $s:tt [$($d:ident)*] $c:tt $o:tt ($name:ident $($rest:tt)*)) => {
        $crate::kernel_tests!(@sort distro $e $s [$($d)* $name] $c $o ($($rest)*));
    };
    (@sort cross $e:tt $s:tt $d:tt [$($c:ident)*] $o:tt ($name:ident $($rest:tt)*)) => {
        $crate::kernel_tests!(@sort cross $e $s $d [$($c)* $name] $o ($($rest)*));
    };
    (@sort once $e:tt $s:tt $d:tt $c:tt [$($o:ident)*] ($name:ident $($rest:tt)*)) => {
        $crate::kernel_tests!(@sort once $e $s $d $c [$($o)* $name] ($($rest)*));
    };
    (@sort $at:ident [$($e:ident)*] [$($s:ident)*] [$($d:ident)*] [$($c:ident)*] [$($o:ident)*] ()) => {
        fn main() -> ::std::process::ExitCode {
            use $crate::matrix::{HostTest, KernelTest};
            use $crate::testbed::catalog::Kind;
            $crate::matrix::main(
                &[
                    $(KernelTest { name: stringify!($e), run: $e, only_on: None },)*
                    $(KernelTest { name: stringify!($s), run: $s, only_on: Some(Kind::Source) },)*
                    $(KernelTest { name: stringify!($d), run: $d, only_on: Some(Kind::Distro) },)*
                    $(KernelTest { name: stringify!($c), run: $c, only_on: Some(Kind::Cross) },)*
                ],
                &[$(HostTest { name: stringify!($o), run: $o }),*],
            )
        }
    };
    // The entry, last: the arms above take the sorting calls.
    ($($input:tt)+) => {
        $crate::kernel_tests!(@sort every [] [] [] [] [] ($($input)+));
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop(_: &str) {}
    fn host() {}

    #[test]
    fn each_test_runs_once_per_kernel_under_its_module_name() {
        let tests = [
            KernelTest { name: "first", run: noop, only_on: None },
            KernelTest { name: "second", run: noop, only_on: Some(Kind::Source) },
            KernelTest { name: "third", run: noop, only_on: Some(Kind::Distro) },
            KernelTest { name: "second", run: noop, only_on: Some(Kind::Cross) },
        ];
        let once = [HostTest { name: "on_the_host", run: host }];
        let kernels = [
            ("6.1".into(), Kind::Source),
            ("debug-6.12".into(), Kind::Source),
            ("cloud".into(), Kind::Distro),
            ("6.1-arm64".into(), Kind::Cross),
        ];
        let names: Vec<String> = trials(&tests, &once, &kernels).iter().map(|t| t.name().to_owned()).collect();
        assert_eq!(
            names,
            [
                "kernel_6_1::first",
                "kernel_6_1::second",
                "kernel_debug_6_12::first",
                "kernel_debug_6_12::second",
                "kernel_cloud::first",
                "kernel_cloud::third",
                "kernel_6_1_arm64::first",
                "kernel_6_1_arm64::second",
                "on_the_host"
            ]
        );
    }
}
