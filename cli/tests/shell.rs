//! `kulink shell` as a person uses it, on a terminal: a pseudo-terminal
//! drives it (a command typed, its output read, Ctrl-D), and the gdb
//! command line it (and `kulink test --gdb`) prints attaches `gdb -batch`
//! to the live guest: it reads the value the module was loaded with, which
//! its file does not hold, and the module's code where the kernel loaded it.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A pseudo-terminal's two ends: the terminal side for the program, the
/// other for the test.
fn pty() -> (OwnedFd, OwnedFd) {
    let (mut controller, mut terminal) = (0, 0);
    // A terminal's size, as a person's has one (progress bars fit it).
    let size = libc::winsize { ws_row: 40, ws_col: 250, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: openpty writes two descriptors; the name may be null.
    let made = unsafe { libc::openpty(&mut controller, &mut terminal, std::ptr::null_mut(), std::ptr::null(), &size) };
    assert_eq!(made, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are fresh and owned here alone.
    unsafe { (OwnedFd::from_raw_fd(controller), OwnedFd::from_raw_fd(terminal)) }
}

/// Everything the program wrote to its terminal so far.
#[derive(Clone, Default)]
struct Screen(Arc<Mutex<String>>);

impl Screen {
    fn wait_for(&self, wanted: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.0.lock().unwrap().clone();
            if text.contains(wanted) {
                return text;
            }
            assert!(Instant::now() < deadline, "no {wanted:?} within {timeout:?}:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Runs the gdb command line kulink printed, in batch mode, with `commands`
/// after it prints the module's `mark` (set to 42 at load, 1 in the file):
/// gdb must have attached to the live guest, and ended well.
fn gdb_reads(gdb: &str, commands: &[&str]) -> std::process::Output {
    let mut line = format!("{gdb} -batch -ex 'print mark'");
    for command in commands {
        line += &format!(" -ex '{command}'");
    }
    let read = Command::new("bash").arg("-c").arg(line).output().unwrap();
    let (said, err) = (String::from_utf8_lossy(&read.stdout), String::from_utf8_lossy(&read.stderr));
    assert!(read.status.success(), "gdb ended with {}:\n{said}\n{err}", read.status);
    assert!(said.lines().any(|l| l.trim() == "$1 = 42"), "gdb read the live value, not the file's:\n{said}\n{err}");
    read
}

fn a_person_s_shell_and_gdb_reach_the_module() {
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kulink/tests/fixtures/modules/nullwrite");
    let (controller, terminal) = pty();
    let mut kulink = Command::new(env!("CARGO_BIN_EXE_kulink"))
        .args(["shell", "--gdb", "--module-param", "mark=42", "--module"])
        .arg(&module)
        .stdin(Stdio::from(terminal.try_clone().unwrap()))
        .stdout(Stdio::from(terminal.try_clone().unwrap()))
        .stderr(Stdio::from(terminal))
        .spawn()
        .unwrap();
    let mut keys = File::from(controller);
    let mut from_terminal = keys.try_clone().unwrap();
    let screen = Screen::default();
    let filled = screen.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        // EIO once the program and its terminal are gone.
        while let Ok(n @ 1..) = from_terminal.read(&mut chunk) {
            filled.0.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });

    let text = screen.wait_for("kulink# ", Duration::from_secs(300));
    // A terminal gets progress bars: a note's lines are padded to the
    // terminal's width rather than ended.
    let gdb = text
        .split_once("attach gdb with:")
        .and_then(|(_, rest)| rest.trim_start().split(['\r', '\n']).next())
        .and_then(|line| line.split("  ").next())
        .unwrap_or_else(|| panic!("the gdb command line: {text}"))
        .to_owned();
    assert!(gdb.starts_with("gdb ") && gdb.contains("add-symbol-file "), "{gdb}");

    keys.write_all(b"cat /sys/module/kulink_nullwrite/sections/.text\n").unwrap();
    let text = screen.wait_for("\n0xffff", Duration::from_secs(30));
    let text_start = text.rsplit("\n0xffff").next().unwrap().split_whitespace().next().unwrap();
    let text_start = u64::from_str_radix(&format!("ffff{text_start}"), 16).unwrap();

    // gdb stops the guest while it reads, and lets it go on when it ends.
    let read = gdb_reads(&gdb, &["x/i nullwrite_write"]);
    let said = String::from_utf8_lossy(&read.stdout);
    let address = said
        .lines()
        .find_map(|l| l.trim_start_matches("=> ").trim().split_once(" <nullwrite_write>"))
        .map(|(address, _)| u64::from_str_radix(address.trim_start_matches("0x"), 16).unwrap())
        .unwrap_or_else(|| panic!("gdb read the symbol:\n{said}\n{}", String::from_utf8_lossy(&read.stderr)));
    assert!((text_start..text_start + 0x1000).contains(&address), "{address:#x} in .text at {text_start:#x}: {said}");

    keys.write_all(b"echo $((6 * 7))\n").unwrap();
    screen.wait_for("\n42", Duration::from_secs(30));
    // Ctrl-D: the end of the terminal's input.
    keys.write_all(&[4]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = kulink.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "kulink shell ended at Ctrl-D");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(0), "a clean kernel log: {}", screen.0.lock().unwrap());
}

/// `kulink test --gdb` prints the line that attaches gdb once the module is
/// loaded, and the command runs meanwhile.
fn kulink_test_prints_a_gdb_line_that_attaches() {
    let module = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kulink/tests/fixtures/modules/nullwrite");
    let mut kulink = Command::new(env!("CARGO_BIN_EXE_kulink"))
        .args(["test", "--gdb", "--shell", "--module-param", "mark=42", "--module"])
        .arg(&module)
        .args(["--", "/bin/sh", "-c", "sleep 20"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(kulink.stderr.take().unwrap());
    let mut told = String::new();
    let gdb = loop {
        let mut line = String::new();
        let read = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        assert!(read > 0, "kulink test ended without a gdb line:\n{told}");
        told += &line;
        if told.contains("attach gdb with:") && line.trim_start().starts_with("gdb ") {
            break line.trim().to_owned();
        }
    };
    gdb_reads(&gdb, &[]);
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let status = kulink.wait().unwrap();
    assert_eq!(status.code(), Some(0), "the command ran and passed after gdb let the guest go");
}

kulink::kernel_tests!(once: a_person_s_shell_and_gdb_reach_the_module, kulink_test_prints_a_gdb_line_that_attaches);
