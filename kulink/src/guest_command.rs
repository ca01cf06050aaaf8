//! Whether a command can start in the guest as its image is made: its
//! program is a file given, a host program or a busybox applet, it may be
//! executed, and a script's interpreter (or a program's loader) is there
//! too. Told before the boot, since in the guest `execve` would only say
//! "No such file or directory".

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kulink_protocol::{HOST_ROOT_DIR, HOST_ROOT_MERGED};
use kulink_testbed::initramfs::GuestFile;
use kulink_testbed::tools::{elf_interpreter, Busybox};
use kulink_testbed::usage_error;

/// The longest `#!` line the kernel reads (BINPRM_BUF_SIZE since 5.1; 128
/// before, which a longer line would only truncate).
const SHEBANG_MAX: usize = 256;

/// Whether the command's `program` needs busybox in the image: it is an
/// applet, or a script of a file given whose interpreter is one. `files`
/// are the image's files before busybox (the test's own and each host
/// program's); `busybox` is asked for only when they do not settle it. A
/// program or interpreter found nowhere, and a file that may not be
/// executed, are usage errors that say what to give.
pub fn needs_busybox(
    program: &str,
    files: &[GuestFile],
    host_root: bool,
    busybox: impl FnOnce() -> Result<Busybox>,
) -> Result<bool> {
    let given = |path: &str| files.iter().find(|f| f.guest == path);
    let on_host = |path: &str| host_root.then(|| seen_from_host_root(path)).flatten().filter(|p| p.is_file());
    let Some(file) = given(program) else {
        if let Some(host) = on_host(program) {
            // The host's own tool: its interpreter and loader are the host's too.
            launcher(&GuestFile { host, guest: program.to_owned() })?;
            return Ok(false);
        }
        if busybox()?.has(program) {
            return Ok(true);
        }
        return Err(usage_error(format!(
            "{program} is not in the guest image: give it with --file HOST_PATH:{program} or --host-program, \
             mount the host's root with --host-root, or run one of busybox's applets (/bin/true, /bin/sh -c '...')"
        )));
    };
    let launcher = launcher(file)?;
    let Some(launcher) = launcher else { return Ok(false) };
    if given(launcher.path()).is_some() || on_host(launcher.path()).is_some() {
        return Ok(false);
    }
    match launcher {
        Launcher::Script(interpreter) if busybox()?.has(&interpreter) => Ok(true),
        Launcher::Script(interpreter) => Err(usage_error(format!(
            "{program} is a script for {interpreter}, which is not in the guest image: busybox gives /bin/sh \
             and its applets; bring the host's with --host-program {interpreter}"
        ))),
        Launcher::Loader(loader) => Err(usage_error(format!(
            "{program} is linked dynamically and its loader {loader} is not in the guest image: link it \
             statically, or give it with --host-program {}, which brings its libraries and loader",
            file.host.display()
        ))),
    }
}

/// The host file a guest path shows when the host's root is mounted: one
/// under [`HOST_ROOT_DIR`], or one of the host's `/usr` at its path; the
/// guest's `/bin`, `/sbin`, `/lib` and `/lib64` lead into `/usr` as a merged
/// `/usr` does (see [`Command::MountHostRoot`](kulink_protocol::Command::MountHostRoot)).
fn seen_from_host_root(guest: &str) -> Option<PathBuf> {
    if let Some(rest) = guest.strip_prefix(HOST_ROOT_DIR).and_then(|rest| rest.strip_prefix('/')) {
        return Some(Path::new("/").join(rest));
    }
    if guest.starts_with("/usr/") {
        return Some(guest.into());
    }
    let (top, _) = guest.strip_prefix('/')?.split_once('/')?;
    HOST_ROOT_MERGED.contains(&top).then(|| Path::new("/usr").join(&guest[1..]))
}

/// What the kernel runs to start a program that is not a static ELF file.
#[derive(Debug, PartialEq)]
enum Launcher {
    /// A script's `#!` interpreter.
    Script(String),
    /// A dynamically linked program's loader.
    Loader(String),
}

impl Launcher {
    fn path(&self) -> &str {
        match self {
            Launcher::Script(path) | Launcher::Loader(path) => path,
        }
    }
}

/// The launcher a file given as the command needs, if any; a file without
/// an execute bit, or that is neither ELF nor `#!`, is a usage error.
fn launcher(file: &GuestFile) -> Result<Option<Launcher>> {
    let host = file.host.display();
    let mode = fs::metadata(&file.host).with_context(|| format!("read {host}"))?.permissions().mode();
    if mode & 0o111 == 0 {
        return Err(usage_error(format!(
            "{} (the host's {host}) lacks the execute bit, so the guest cannot run it: chmod +x {host}",
            file.guest
        )));
    }
    let mut head = Vec::new();
    fs::File::open(&file.host)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut head))
        .with_context(|| format!("read {host}"))?;
    if let Some(line) = head.strip_prefix(b"#!") {
        let line = &line[..line.len().min(SHEBANG_MAX - 2)];
        let line = String::from_utf8_lossy(line.split(|&b| b == b'\n').next().unwrap_or_default());
        return match line.split_whitespace().next() {
            Some(interpreter) if interpreter.starts_with('/') => Ok(Some(Launcher::Script(interpreter.to_owned()))),
            _ => Err(usage_error(format!("{}: its #! line names no absolute interpreter path", file.guest))),
        };
    }
    match elf_interpreter(&head) {
        Some(loader) => Ok(loader.map(Launcher::Loader)),
        None => Err(usage_error(format!(
            "{} (the host's {host}) is neither a program for this machine nor a script starting with #!",
            file.guest
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busybox() -> Result<Busybox> {
        Ok(Busybox { path: "/bin/busybox".into(), applets: vec!["/bin/sh".into(), "/bin/true".into()] })
    }

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("kulink-command-{name}-{}", std::process::id()));
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn file(&self, name: &str, text: &[u8], mode: u32) -> PathBuf {
            let path = self.0.join(name);
            fs::write(&path, text).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn at(host: &Path, guest: &str) -> GuestFile {
        GuestFile { host: host.into(), guest: guest.into() }
    }

    fn refusal(program: &str, files: &[GuestFile]) -> String {
        let err = needs_busybox(program, files, false, busybox).unwrap_err();
        assert_eq!(crate::exit_code(&err), 2, "{err:#}");
        format!("{err:#}")
    }

    #[test]
    fn an_applet_brings_busybox_and_a_file_given_needs_nothing() {
        assert!(needs_busybox("/bin/true", &[], false, busybox).unwrap());
        let me = std::env::current_exe().unwrap();
        let loader = elf_interpreter(&fs::read(&me).unwrap()).unwrap().unwrap();
        let files = [at(&me, "/opt/test"), at(Path::new(&loader), &loader)];
        let never = || -> Result<Busybox> { panic!("busybox is not asked about a program given with its loader") };
        assert!(!needs_busybox("/opt/test", &files, false, never).unwrap());
        assert!(refusal("/usr/bin/python3", &[]).contains("/usr/bin/python3 is not in the guest image"));
    }

    #[test]
    fn a_script_needs_its_interpreter_and_its_execute_bit() {
        let dir = Scratch::new("script");
        let sh = dir.file("sh-script", b"#!/bin/sh -e\necho hi\n", 0o755);
        assert!(needs_busybox("/opt/t", &[at(&sh, "/opt/t")], false, busybox).unwrap());
        let bash = dir.file("bash-script", b"#! /bin/bash\n", 0o755);
        let said = refusal("/opt/t", &[at(&bash, "/opt/t")]);
        assert!(said.contains("a script for /bin/bash, which is not in the guest image"), "{said}");
        assert!(said.contains("--host-program /bin/bash"), "{said}");
        assert!(!needs_busybox("/opt/t", &[at(&bash, "/opt/t"), at(&bash, "/bin/bash")], false, busybox).unwrap());
        let plain = dir.file("plain", b"#!/bin/sh\n", 0o644);
        let said = refusal("/opt/t", &[at(&plain, "/opt/t")]);
        assert!(said.contains("lacks the execute bit") && said.contains(&format!("chmod +x {}", plain.display())));
        let text = dir.file("text", b"echo hi\n", 0o755);
        assert!(refusal("/opt/t", &[at(&text, "/opt/t")]).contains("nor a script starting with #!"));
    }

    #[test]
    fn a_dynamic_program_without_its_loader_is_refused() {
        let me = std::env::current_exe().unwrap();
        let said = refusal("/opt/test", &[at(&me, "/opt/test")]);
        assert!(said.contains("is linked dynamically and its loader /"), "{said}");
        assert!(said.contains(&format!("--host-program {}", me.display())), "{said}");
    }

    #[test]
    fn the_host_root_brings_the_hosts_programs_and_interpreters() {
        let dir = Scratch::new("host-root");
        let sh = std::fs::canonicalize("/bin/sh").unwrap();
        let never = || -> Result<Busybox> { panic!("busybox is not asked about the host's own programs") };
        assert!(!needs_busybox(&sh.display().to_string(), &[], true, never).unwrap());
        assert!(!needs_busybox("/bin/sh", &[], true, never).unwrap(), "/bin leads into the host's /usr/bin");
        let script = dir.file("script", b"#!/bin/sh\n", 0o755);
        assert!(!needs_busybox("/opt/t", &[at(&script, "/opt/t")], true, never).unwrap());
        let seen = format!("{HOST_ROOT_DIR}{}", script.display());
        assert!(!needs_busybox(&seen, &[], true, never).unwrap(), "the host's files are under {HOST_ROOT_DIR}");
        let absent = refusal("/usr/bin/kulink-nowhere", &[]);
        assert!(absent.contains("--host-root"), "{absent}");
        assert_eq!(seen_from_host_root("/opt/x"), None, "only /usr and its merged tops are at their host paths");
        assert_eq!(seen_from_host_root("/lib64/ld.so"), Some(PathBuf::from("/usr/lib64/ld.so")));
    }
}
