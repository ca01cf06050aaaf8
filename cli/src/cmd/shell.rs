//! `kulink shell`: a person's shell in a guest with the module loaded, to
//! look around after a failure; with `--gdb`, QEMU's gdb stub and the gdb
//! command line that attaches to it with the module's symbols.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use kulink::testbed::progress;
use kulink::usage_error;

use crate::args::{AccelArgs, GuestArgs, KernelArgs};

/// An interactive shell (busybox) in a guest with your module loaded: the
/// lines you type run there, with their output here; `exit` or Ctrl-D
/// ends it.
/// Passes (0) when the kernel log stayed clean.
#[derive(Args)]
pub struct ShellArgs {
    #[command(flatten)]
    guest: GuestArgs,
    #[command(flatten)]
    kernel: KernelArgs,
    /// Start QEMU's gdb stub and print the gdb command line that attaches
    /// to it: the kernel's vmlinux, and the module's symbols at the
    /// addresses its sections were loaded at.
    #[arg(long)]
    gdb: bool,
    #[command(flatten)]
    accel: AccelArgs,
}

impl ShellArgs {
    /// Boots the guest, bridges this terminal to its shell until the input
    /// ends, then powers it off and judges its kernel log.
    pub fn run(self) -> Result<ExitCode> {
        if crate::args::several(self.kernel.kernel.as_deref()) {
            return Err(usage_error("a shell runs on one kernel: name one with --kernel"));
        }
        let kernel = self.kernel.choices()?.remove(0);
        let mut setup = self.guest.setup(self.accel.accel);
        setup.gdb = self.gdb;
        let mut vm = setup.builder(kernel).interactive().boot()?;
        if self.gdb {
            progress::note(format!("attach gdb with:\n{}", vm.gdb_command()?));
        }
        let port = vm.shell_port()?;
        progress::note("the guest's shell: `exit` or Ctrl-D ends it");
        let output = bridge(port)?;
        vm.run_shell()?;
        // What the shell wrote last may still be on its way.
        std::thread::sleep(OUTPUT_GRACE);
        output.close();
        let finished = vm.shutdown()?;
        for splat in &finished.splats {
            eprintln!("kulink: {splat}");
        }
        Ok(super::verdict(finished.splats.is_empty()))
    }
}

/// How long the shell's last output may take to arrive once it exited.
const OUTPUT_GRACE: Duration = Duration::from_millis(300);

/// The shell's output, copied here until it is closed.
struct Output {
    port: UnixStream,
    copier: std::thread::JoinHandle<()>,
}

impl Output {
    fn close(self) {
        let _ = self.port.shutdown(Shutdown::Both);
        let _ = self.copier.join();
    }
}

/// Copies this process's input to the shell (and `exit` once it ends, so
/// that a piped script runs to its end), and the shell's output here.
fn bridge(port: UnixStream) -> Result<Output> {
    let mut to_shell = port.try_clone().context("the shell's socket")?;
    std::thread::spawn(move || {
        let mut input = std::io::stdin().lock();
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = input.read(&mut chunk) {
            if to_shell.write_all(&chunk[..n]).is_err() {
                return;
            }
        }
        let _ = to_shell.write_all(b"\nexit\n");
    });
    let mut from_shell = port.try_clone().context("the shell's socket")?;
    let copier = std::thread::spawn(move || {
        let mut out = std::io::stdout();
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = from_shell.read(&mut chunk) {
            if out.write_all(&chunk[..n]).and_then(|()| out.flush()).is_err() {
                return;
            }
        }
    });
    Ok(Output { port, copier })
}
