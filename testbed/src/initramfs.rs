//! The guest image: an uncompressed cpio with the agent as /init, the module
//! under test, and the modules a distribution kernel needs first.
//! Uncompressed, because gunzip under TCG costs ~200 ms of boot time and the
//! image only ever travels from the page cache into QEMU.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use kulink_protocol::{preload_line, PRELOAD_LIST};

use crate::cpio::{Entry, Writer};
use crate::tools::Busybox;

/// What goes into one image.
pub struct Image<'a> {
    /// The agent, installed as `/init`.
    pub agent: &'a Path,
    /// The module under test, put in `/lib/modules/`.
    pub module: Option<&'a Path>,
    /// Loaded in this order before the module under test, each with its
    /// parameters (`name=value`, space-separated).
    pub preload: &'a [(PathBuf, String)],
    /// The test's own files.
    pub files: &'a [GuestFile],
    /// A static busybox, put at /bin/busybox with a link for each applet
    /// (/bin/sh among them) that no file of the test's takes.
    pub busybox: Option<&'a Busybox>,
}

/// A host file and where the guest finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestFile {
    /// The file on the host.
    pub host: PathBuf,
    /// An absolute path outside what the agent mounts over or owns.
    pub guest: String,
}

/// Paths the agent mounts file systems on, or that the image itself uses.
const RESERVED: &[&str] = &["/init", "/dev", "/proc", "/sys", "/run", "/lib/modules", "/bin/busybox", "/bin/sh"];

impl GuestFile {
    /// `SRC:DST`, as the command line takes it.
    pub fn parse(spec: &str) -> Result<Self> {
        let (host, guest) = spec.split_once(':').with_context(|| format!("{spec:?} is not HOST_PATH:GUEST_PATH"))?;
        let file = Self { host: host.into(), guest: guest.into() };
        file.check()?;
        Ok(file)
    }

    /// Says what is wrong before anything is built: a missing host file,
    /// a guest path that is relative, climbs, or lands on a reserved place.
    pub fn check(&self) -> Result<()> {
        if !self.host.is_file() {
            bail!("{} is not a file on the host", self.host.display());
        }
        let guest = Path::new(&self.guest);
        // Path::components drops inner `.`: look at the words themselves.
        if !guest.is_absolute() || self.guest.split('/').any(|part| part == "." || part == "..") {
            bail!("guest path {:?} must be absolute, without `.` or `..`", self.guest);
        }
        if let Some(r) = RESERVED.iter().find(|r| guest.starts_with(r)) {
            bail!("guest path {:?} is under {r}, which the image or the agent owns", self.guest);
        }
        Ok(())
    }
}

/// Where a guest keeps the module under test.
pub fn module_guest_path(module: &Path) -> String {
    format!("/lib/modules/{}", module.file_name().unwrap_or_default().to_string_lossy())
}

impl Image<'_> {
    /// Writes the image as a newc cpio archive to `out`.
    pub fn write(&self, out: &Path) -> Result<()> {
        let agent_bin = fs::read(self.agent).with_context(|| format!("read agent {}", self.agent.display()))?;
        let file = File::create(out).with_context(|| format!("create {}", out.display()))?;
        let mut w = Writer::new(BufWriter::new(file));
        let mut dirs = Dirs::default();
        for dir in ["dev", "proc", "sys", "tmp", "run", "mnt", "lib", "lib/modules", "sbin"] {
            dirs.make(&mut w, dir)?;
        }
        // The kernel opens /dev/console for PID 1 before devtmpfs is mounted.
        w.add(&Entry::CharDev { path: "dev/console", mode: 0o600, major: 5, minor: 1 })?;
        w.add(&Entry::File { path: "init", mode: 0o755, data: &agent_bin })?;
        if let Some(module) = self.module {
            let data = fs::read(module).with_context(|| format!("read module {}", module.display()))?;
            let path = module_guest_path(module);
            w.add(&Entry::File { path: path.trim_start_matches('/'), mode: 0o644, data: &data })?;
        }
        let mut list = String::new();
        if !self.preload.is_empty() {
            dirs.make(&mut w, "lib/modules/preload")?;
        }
        for (i, (path, params)) in self.preload.iter().enumerate() {
            let name = format!("lib/modules/preload/{i:02}-{}", path.file_name().unwrap_or_default().to_string_lossy());
            let data = fs::read(path).with_context(|| format!("read module {}", path.display()))?;
            w.add(&Entry::File { path: &name, mode: 0o644, data: &data })?;
            list += &preload_line(&format!("/{name}"), params);
            list.push('\n');
        }
        w.add(&Entry::File { path: PRELOAD_LIST.trim_start_matches('/'), mode: 0o644, data: list.as_bytes() })?;
        if let Some(busybox) = self.busybox {
            let data = fs::read(&busybox.path).with_context(|| format!("read {}", busybox.path.display()))?;
            dirs.make(&mut w, "bin")?;
            w.add(&Entry::File { path: "bin/busybox", mode: 0o755, data: &data })?;
            w.add(&Entry::Symlink { path: "bin/sh", target: "busybox" })?;
            let taken = |applet: &str| applet == "/bin/sh" || self.files.iter().any(|f| f.guest == applet);
            for applet in busybox.applets.iter().filter(|a| !taken(a)) {
                let path = applet.trim_start_matches('/');
                if let Some(parent) = Path::new(path).parent().and_then(Path::to_str).filter(|p| !p.is_empty()) {
                    dirs.make(&mut w, parent)?;
                }
                w.add(&Entry::Symlink { path, target: "/bin/busybox" })?;
            }
        }
        for file in self.files {
            file.check()?;
            let data = fs::read(&file.host).with_context(|| format!("read {}", file.host.display()))?;
            let mode = fs::metadata(&file.host)?.permissions().mode() & 0o7777;
            let path = file.guest.trim_start_matches('/');
            if let Some(parent) = Path::new(path).parent().and_then(Path::to_str).filter(|p| !p.is_empty()) {
                dirs.make(&mut w, parent)?;
            }
            w.add(&Entry::File { path, mode, data: &data })?;
        }
        w.finish()?.into_inner().map_err(|e| e.into_error())?;
        Ok(())
    }
}

/// The directories written so far: each once, parents first, as the
/// kernel's unpacker needs them.
#[derive(Default)]
struct Dirs(BTreeSet<String>);

impl Dirs {
    fn make<W: Write>(&mut self, w: &mut Writer<W>, dir: &str) -> Result<()> {
        let mut path = String::new();
        for part in dir.split('/') {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(part);
            if self.0.insert(path.clone()) {
                w.add(&Entry::Dir { path: &path, mode: 0o755 })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_path_must_be_absolute_plain_and_not_reserved() {
        let host = std::env::current_exe().unwrap();
        let at = |guest: &str| GuestFile { host: host.clone(), guest: guest.into() }.check();
        assert!(at("/opt/test/run.sh").is_ok());
        for bad in ["opt/x", "/opt/../init", "/opt/./x"] {
            assert!(format!("{:#}", at(bad).unwrap_err()).contains("must be absolute"), "{bad}");
        }
        for reserved in ["/init", "/proc/x", "/lib/modules/a.ko", "/bin/sh"] {
            assert!(format!("{:#}", at(reserved).unwrap_err()).contains("which the image or the agent owns"));
        }
        let missing = GuestFile::parse("/no/such/file:/opt/x").unwrap_err();
        assert!(format!("{missing:#}").contains("/no/such/file is not a file on the host"));
        assert!(format!("{:#}", GuestFile::parse("nocolon").unwrap_err()).contains("is not HOST_PATH:GUEST_PATH"));
    }

    #[test]
    fn files_land_at_their_guest_path_with_their_parents_and_mode() {
        if std::process::Command::new("cpio").arg("--version").output().is_err() {
            eprintln!("cpio not installed: listing not checked");
            return;
        }
        let dir = std::env::temp_dir().join(format!("kulink-image-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (agent, script) = (dir.join("agent"), dir.join("run.sh"));
        fs::write(&agent, b"agent").unwrap();
        fs::write(&script, b"#!/bin/sh\n").unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o750)).unwrap();
        let files = [
            GuestFile { host: script.clone(), guest: "/opt/suite/run.sh".into() },
            GuestFile { host: script, guest: "/bin/true".into() },
        ];
        let applets = ["/bin/sh", "/bin/true", "/usr/sbin/ip"].map(String::from).to_vec();
        let busybox = Busybox { path: agent.clone(), applets };
        let image = Image { agent: &agent, module: None, preload: &[], files: &files, busybox: Some(&busybox) };
        let out = dir.join("image.cpio");
        image.write(&out).unwrap();
        let listing = std::process::Command::new("cpio").args(["-tv", "--quiet", "-F"]).arg(&out).output().unwrap();
        let listing = String::from_utf8_lossy(&listing.stdout);
        let line = |name: &str| listing.lines().find(|l| l.ends_with(&format!(" {name}"))).map(str::to_owned);
        assert!(line("opt").unwrap().starts_with('d'), "{listing}");
        assert!(line("opt/suite").unwrap().starts_with('d'), "{listing}");
        assert!(line("opt/suite/run.sh").unwrap().starts_with("-rwxr-x---"), "{listing}");
        assert!(line("bin/busybox").unwrap().starts_with("-rwxr-xr-x"), "{listing}");
        assert!(listing.contains("bin/sh -> busybox"), "{listing}");
        assert!(listing.contains("usr/sbin/ip -> /bin/busybox"), "{listing}");
        assert!(line("usr/sbin").unwrap().starts_with('d'), "{listing}");
        assert!(line("bin/true").unwrap().starts_with("-rwxr-x---"), "a file of the test's wins: {listing}");
        assert_eq!(listing.lines().filter(|l| l.contains(" bin/sh")).count(), 1, "{listing}");
        assert_eq!(listing.lines().filter(|l| l.ends_with(" lib")).count(), 1, "each directory once: {listing}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
