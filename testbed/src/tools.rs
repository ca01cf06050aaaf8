//! Host tools kulink runs, each with the way to get it when it is missing.

use std::path::PathBuf;
use std::process::{Command, Output};

use anyhow::{bail, Context, Result};

use crate::arch::Arch;
use crate::initramfs::GuestFile;
use crate::paths;

/// A host program and the command that installs it on Debian/Ubuntu.
pub struct Tool {
    /// The program's name, looked up on `PATH`.
    pub program: &'static str,
    /// How to install it, shown when it is missing.
    pub install: &'static str,
    /// A virtual environment in kulink's cache that may hold the program
    /// when `PATH` does not (where `scripts/setup.sh` installs Python tools).
    pub venv: Option<&'static str>,
}

/// QEMU, to boot guests.
pub const QEMU: Tool = Tool::system("qemu-system-x86_64", "sudo apt-get install qemu-system-x86");
/// make, to build kernels and modules.
pub const MAKE: Tool = Tool::system("make", "sudo apt-get install build-essential");
/// gcc, to build kernels and modules.
pub const GCC: Tool = Tool::system("gcc", "sudo apt-get install build-essential");
/// flex, for a kernel build.
pub const FLEX: Tool = Tool::system("flex", "sudo apt-get install flex");
/// bison, for a kernel build.
pub const BISON: Tool = Tool::system("bison", "sudo apt-get install bison");
/// bc, for a kernel build.
pub const BC: Tool = Tool::system("bc", "sudo apt-get install bc");
/// tar, to unpack kernel sources.
pub const TAR: Tool = Tool::system("tar", "sudo apt-get install tar");
/// xz, to unpack kernel sources.
pub const XZ: Tool = Tool::system("xz", "sudo apt-get install xz-utils");
/// apt-get, to fetch Debian sources and kernels.
pub const APT_GET: Tool = Tool::system("apt-get", "sudo apt-get install apt");
/// dpkg-deb, to unpack Debian packages.
pub const DPKG_DEB: Tool = Tool::system("dpkg-deb", "sudo apt-get install dpkg");
/// curl, to download release tarballs.
pub const CURL: Tool = Tool::system("curl", "sudo apt-get install curl");
/// virtme-ng, for the vng backend.
pub const VNG: Tool = Tool {
    program: "vng",
    install: "./run.sh or ./test.sh (a venv in kulink's cache), or `pipx install virtme-ng`",
    venv: Some("virtme-ng"),
};
/// busybox, the guest's shell when one is asked for.
pub const BUSYBOX: Tool = Tool::system("busybox", "sudo apt-get install busybox-static");
/// modinfo, to read a module's name and dependencies.
pub const MODINFO: Tool = Tool::system("modinfo", "sudo apt-get install kmod");
/// depmod, to index a distribution kernel's modules as its package's
/// installation would.
pub const DEPMOD: Tool = Tool::system("depmod", "sudo apt-get install kmod");
/// pahole, which writes the BTF of modules built against kernels that
/// have it (Debian's).
pub const PAHOLE: Tool = Tool::system("pahole", "sudo apt-get install dwarves");
/// ldd, to list what a host program needs to run in a guest.
pub const LDD: Tool = Tool::system("ldd", "sudo apt-get install libc-bin");
/// nft, to give a guest nftables rules (`kulink bench`'s NFLOG path).
pub const NFT: Tool = Tool::system("nft", "sudo apt-get install nftables");
/// lcov, which turns a module's coverage counters into line and function
/// counts per source file.
pub const LCOV: Tool = Tool::system("lcov", "sudo apt-get install lcov");
/// genhtml (lcov's), which renders coverage as HTML.
pub const GENHTML: Tool = Tool::system("genhtml", "sudo apt-get install lcov");

/// Tools a kernel build from source needs.
pub const KERNEL_BUILD: &[Tool] = &[MAKE, GCC, FLEX, BISON, BC, TAR, XZ];

/// QEMU for `arch`'s guests.
pub fn qemu_for(arch: Arch) -> Tool {
    match arch {
        Arch::X86_64 => QEMU,
        Arch::Arm64 => Tool::system("qemu-system-aarch64", "sudo apt-get install qemu-system-arm"),
        Arch::S390x => Tool::system("qemu-system-s390x", "sudo apt-get install qemu-system-misc"),
    }
}

/// The C compiler that builds `arch`'s kernels, modules and (with its C
/// library) static agents: the host's own gcc, or Debian's cross compiler.
pub fn gcc_for(arch: Arch) -> Tool {
    if arch.is_host() {
        return GCC;
    }
    match arch {
        Arch::X86_64 => {
            Tool::system("x86_64-linux-gnu-gcc", "sudo apt-get install gcc-x86-64-linux-gnu libc6-dev-amd64-cross")
        }
        Arch::Arm64 => {
            Tool::system("aarch64-linux-gnu-gcc", "sudo apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross")
        }
        Arch::S390x => {
            Tool::system("s390x-linux-gnu-gcc", "sudo apt-get install gcc-s390x-linux-gnu libc6-dev-s390x-cross")
        }
    }
}

/// What `make` is told to build a kernel or module for `arch`: nothing
/// for the host's own, else `ARCH=` and the cross compiler's prefix.
pub fn make_arch_arguments(arch: Arch) -> Vec<String> {
    if arch.is_host() {
        return Vec::new();
    }
    vec![format!("ARCH={}", arch.kernel_arch()), format!("CROSS_COMPILE={}-", arch.gnu_triplet())]
}

impl Tool {
    const fn system(program: &'static str, install: &'static str) -> Self {
        Tool { program, install, venv: None }
    }

    /// The program on `PATH`, else in its virtual environment, else where
    /// Debian keeps administrators' programs (depmod), which a user's
    /// `PATH` often leaves out.
    pub fn find(&self) -> Option<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let venv_bin = self.venv.map(|v| paths::cache_dir().join(v).join("bin"));
        let system = ["/usr/sbin", "/sbin"].map(PathBuf::from);
        first_in(std::env::split_paths(&path).chain(venv_bin).chain(system), self.program)
    }

    /// Where a program of this name is on `PATH`, if it is.
    pub fn on_path(program: &str) -> Option<PathBuf> {
        first_in(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()), program)
    }

    /// A command that runs the program with its own directory first on
    /// `PATH`: a venv's program runs its siblings (vng runs `virtme-run`).
    pub fn command(&self) -> Result<Command> {
        let program = self.require()?;
        let mut command = Command::new(&program);
        if let Some(dir) = program.parent() {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let dirs = std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&path));
            command.env("PATH", std::env::join_paths(dirs).context("PATH holds a directory with ':' in its name")?);
        }
        Ok(command)
    }

    /// The program's path, or a usage error that names it and how to install
    /// it.
    pub fn require(&self) -> Result<PathBuf> {
        match self.find() {
            Some(p) => Ok(p),
            None => bail!(
                "`{}` is not installed: run `{}` (./run.sh and ./test.sh install everything they need)",
                self.program,
                self.install
            ),
        }
    }
}

/// The first of `dirs` that holds a file named `program`.
fn first_in(dirs: impl Iterator<Item = PathBuf>, program: &str) -> Option<PathBuf> {
    dirs.map(|d| d.join(program)).find(|p| p.is_file())
}

/// The host's static busybox and the paths of its applets, as the guest
/// gets them: `/bin/sh`, `/bin/true`, `/usr/bin/awk`, ...
#[derive(Debug, Clone)]
pub struct Busybox {
    /// The program.
    pub path: PathBuf,
    /// Each applet's absolute guest path, a link to busybox.
    pub applets: Vec<String>,
}

impl Busybox {
    /// busybox for a guest shell: it must be a static binary, since the
    /// image has no C library. Its applets are what it lists itself.
    pub fn host() -> Result<Self> {
        let path = BUSYBOX.require()?;
        let bytes = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
        if elf_interpreter(&bytes)
            .with_context(|| format!("{} is not an x86-64 ELF program", path.display()))?
            .is_some()
        {
            bail!("{} is linked dynamically and the guest has no C library: run `{}`", path.display(), BUSYBOX.install);
        }
        let listed = run(Command::new(&path).arg("--list-full"))?;
        Ok(Self { applets: applet_paths(&String::from_utf8_lossy(&listed.stdout)), path })
    }

    /// Whether `guest_path` is one of its applets.
    pub fn has(&self, guest_path: &str) -> bool {
        self.applets.iter().any(|a| a == guest_path)
    }
}

/// `busybox --list-full` gives `bin/sh`, `usr/bin/awk`, ...: the absolute
/// paths, without `linuxrc` (an initrd's old entry point, not a tool) and
/// without busybox itself (a link to itself would loop).
fn applet_paths(listing: &str) -> Vec<String> {
    let paths = listing.lines().map(str::trim).filter(|l| l.contains('/'));
    paths.map(|l| format!("/{}", l.trim_start_matches('/'))).filter(|p| p != "/bin/busybox").collect()
}

/// The program interpreter a 64-bit little-endian ELF file names
/// (PT_INTERP): `Some` for a dynamically linked program, with the loader's
/// path; `None` inside when it is static; `None` outside when it is no
/// such ELF file. Hand-read: a few header fields and the program headers
/// are all it takes.
pub fn elf_interpreter(elf: &[u8]) -> Option<Option<String>> {
    const PT_INTERP: u32 = 3;
    if elf.get(..5)? != b"\x7fELF\x02" {
        return None;
    }
    let u16_at = |at: usize| elf.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u64_at = |at: usize| elf.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize);
    let phoff = u64_at(0x20)?;
    let (entry_size, count) = (u16_at(0x36)?, u16_at(0x38)?);
    for header in (0..count).map(|i| phoff + i * entry_size) {
        let kind = u32::from_le_bytes(elf.get(header..header + 4)?.try_into().ok()?);
        if kind == PT_INTERP {
            let (offset, size) = (u64_at(header + 8)?, u64_at(header + 32)?);
            let path = elf.get(offset..offset + size)?;
            return Some(Some(String::from_utf8_lossy(path).trim_end_matches('\0').to_owned()));
        }
    }
    Some(None)
}

/// A host program and what the dynamic loader needs to run it, each at
/// its host path: the program, every shared library `ldd` names and the
/// loader itself. The guest has no C library of its own; with these it
/// runs the host's program as the host would.
pub fn program_with_libraries(program: &std::path::Path) -> Result<Vec<GuestFile>> {
    let out = run(LDD.command()?.arg(program))?;
    let mut files = vec![GuestFile { host: program.to_path_buf(), guest: path_text(program)? }];
    files.extend(
        loaded_paths(&String::from_utf8_lossy(&out.stdout)).map(|p| GuestFile { host: p.into(), guest: p.into() }),
    );
    Ok(files)
}

fn path_text(path: &std::path::Path) -> Result<String> {
    path.to_str().map(str::to_owned).with_context(|| format!("{} is not UTF-8", path.display()))
}

/// The absolute paths in `ldd` output: `libx.so.1 => /lib/libx.so.1 (0x…)`
/// and the loader's `/lib64/ld-linux-x86-64.so.2 (0x…)`; the vDSO has
/// none.
fn loaded_paths(ldd: &str) -> impl Iterator<Item = &str> {
    ldd.lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = line.split_once("=>").map_or(line, |(_, p)| p.trim());
            path.split_whitespace().next()
        })
        .filter(|p| p.starts_with('/'))
}

/// Fails on the first missing tool, naming it (see [`Tool::require`]).
pub fn require_all(tools: &[Tool]) -> Result<()> {
    tools.iter().try_for_each(|t| t.require().map(drop))
}

/// Runs a command to completion; a failure shows its stderr.
pub fn run(cmd: &mut Command) -> Result<Output> {
    let shown = command_line(cmd);
    let out = cmd.output().with_context(|| format!("cannot start {shown}"))?;
    if !out.status.success() {
        bail!("{shown} failed ({}):\n{}", out.status, tail(&String::from_utf8_lossy(&out.stderr), 30));
    }
    Ok(out)
}

/// A command as a person would type it: the program and its arguments,
/// each quoted where a shell would need it.
pub fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|word| {
            let word = word.to_string_lossy();
            let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                word.into_owned()
            } else {
                format!("'{}'", word.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `n` lines of a text.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_command_reads_as_typed_not_as_rust() {
        let mut cmd = Command::new("make");
        cmd.args(["-C", "/src/my module", "M=/b", "it's"]);
        assert_eq!(command_line(&cmd), "make -C '/src/my module' M=/b 'it'\\''s'");
    }

    use super::*;

    #[test]
    fn ldd_output_gives_each_library_and_the_loader() {
        let ldd = "\tlinux-vdso.so.1 (0x00007ffd)\n\
            \tlibnftables.so.1 => /lib/x86_64-linux-gnu/libnftables.so.1 (0x00007f10)\n\
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f20)\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f30)\n";
        let got: Vec<&str> = loaded_paths(ldd).collect();
        assert_eq!(
            got,
            [
                "/lib/x86_64-linux-gnu/libnftables.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
        );
    }

    #[test]
    fn a_host_program_comes_with_its_libraries() {
        let files = program_with_libraries(std::path::Path::new("/bin/ls")).unwrap();
        assert_eq!(files[0].guest, "/bin/ls");
        assert!(files.iter().any(|f| f.guest.contains("libc.so")), "{files:?}");
        assert!(files.iter().any(|f| f.guest.contains("ld-linux")), "{files:?}");
        files.iter().try_for_each(GuestFile::check).unwrap();
    }
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    /// nextest runs each test in a process of its own: the environment
    /// is this test's to change.
    #[test]
    fn a_tool_in_its_venv_is_found_and_runs_with_its_siblings() {
        let cache = std::env::temp_dir().join(format!("kulink-venv-{}", std::process::id()));
        let bin = cache.join("kulink-venv/bin");
        fs::create_dir_all(&bin).unwrap();
        fs::write(bin.join("kulink-venv-tool"), "#!/bin/sh\necho \"$PATH\"\n").unwrap();
        fs::set_permissions(bin.join("kulink-venv-tool"), fs::Permissions::from_mode(0o755)).unwrap();
        std::env::set_var("KULINK_CACHE", &cache);
        let tool = Tool { program: "kulink-venv-tool", install: "-", venv: Some("kulink-venv") };
        assert_eq!(tool.find(), Some(bin.join("kulink-venv-tool")));
        let out = run(&mut tool.command().unwrap()).unwrap();
        let path = String::from_utf8(out.stdout).unwrap();
        assert!(path.starts_with(&format!("{}:", bin.display())), "its own directory comes first: {path}");
        let elsewhere = Tool { venv: Some("kulink-no-such-venv"), ..tool };
        assert_eq!(elsewhere.find(), None);
        fs::remove_dir_all(&cache).unwrap();
    }

    #[test]
    fn missing_tool_names_its_package() {
        let t = Tool::system("kulink-no-such-tool", "sudo apt-get install kulink-pkg");
        let err = t.require().unwrap_err().to_string();
        assert!(err.contains("kulink-no-such-tool") && err.contains("apt-get install kulink-pkg"), "{err}");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}

#[cfg(test)]
mod elf_tests {
    use super::{applet_paths, elf_interpreter};

    #[test]
    fn dynamic_and_static_programs_are_told_apart() {
        // This test binary is linked dynamically.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let loader = elf_interpreter(&me).unwrap().unwrap();
        assert!(loader.starts_with('/') && loader.contains("ld-linux"), "{loader}");
        assert_eq!(elf_interpreter(b"#!/bin/sh\n"), None, "not ELF");
        // An ELF header whose one program header is PT_LOAD, then PT_INTERP.
        let mut elf = vec![0u8; 0x40 + 56 + 8];
        elf[..5].copy_from_slice(b"\x7fELF\x02");
        elf[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        elf[0x40..0x44].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(elf_interpreter(&elf), Some(None));
        elf[0x40..0x44].copy_from_slice(&3u32.to_le_bytes());
        elf[0x48..0x50].copy_from_slice(&0x78u64.to_le_bytes());
        elf[0x60..0x68].copy_from_slice(&5u64.to_le_bytes());
        elf[0x78..0x7d].copy_from_slice(b"/ld\0\0");
        assert_eq!(elf_interpreter(&elf), Some(Some("/ld".into())));
    }

    #[test]
    fn applets_are_absolute_guest_paths_without_linuxrc() {
        let listing = "linuxrc\nbin/busybox\nbin/sh\nusr/bin/awk\nsbin/ip\n";
        assert_eq!(applet_paths(listing), ["/bin/sh", "/usr/bin/awk", "/sbin/ip"]);
    }
}
