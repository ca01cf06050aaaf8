//! Debian packages through apt: the host's own configuration, or, for other
//! suites, a private apt configuration in the cache that points at the same
//! mirror the host uses (never a mirror of our own choosing).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};

use crate::arch::Arch;
use crate::{cache, paths, progress, tools};

/// Refresh a private package list once it is older than this.
const LISTS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// How to call apt: the host's configuration, or a private one.
#[derive(Debug, Clone, Default)]
pub struct Apt {
    options: Vec<String>,
    /// A private configuration's lock: exclusive while its lists are
    /// updated, shared while they are read (apt-cache fails on lists that
    /// another kulink is rewriting).
    lock: Option<PathBuf>,
}

impl Apt {
    /// The host's apt, as configured.
    pub fn host() -> Self {
        Self::default()
    }

    /// A private apt that knows `suites` of the Debian mirror:
    /// `KULINK_DEBIAN_MIRROR`, else the one the host's apt uses. With no
    /// suites, the host's apt as it is.
    pub fn for_suites(suites: &[String]) -> Result<Self> {
        Self::for_suites_and_architectures(suites, &[])
    }

    /// As [`Apt::for_suites`], knowing the packages of `foreign`
    /// architectures (Debian's names: `arm64`) besides the host's, for
    /// `apt-get download` only: the host's dpkg is not told of them.
    pub fn for_suites_and_architectures(suites: &[String], foreign: &[&str]) -> Result<Self> {
        if suites.is_empty() {
            return Ok(Self::host());
        }
        let dir = lists_dir(suites, foreign);
        let what = format!("the package lists of {}", suites.join(", "));
        let _lock = cache::lock(&paths::sibling(&dir, "lock"), &what)?;
        let (mut apt, changed) = Self::configure(&dir, &debian_mirror()?, suites)?;
        if !foreign.is_empty() {
            let host = String::from_utf8(tools::run(Command::new("dpkg").arg("--print-architecture"))?.stdout)?;
            for arch in std::iter::once(host.trim()).chain(foreign.iter().copied()) {
                apt.options.push(format!("APT::Architectures::={arch}"));
            }
        }
        let stamp = dir.join("updated");
        let stale = fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .map(|t| SystemTime::now().duration_since(t).unwrap_or_default() > LISTS_MAX_AGE)
            .unwrap_or(true);
        if changed || stale {
            progress::note(format!("apt-get update for {} from the host's mirror", suites.join(", ")));
            let out = apt.command("apt-get").arg("update").stdout(Stdio::null()).output()?;
            if !out.status.success() {
                bail!(
                    "apt-get update for {suites:?} failed:\n{}",
                    tools::tail(&String::from_utf8_lossy(&out.stderr), 10)
                );
            }
            fs::write(&stamp, "")?;
        }
        Ok(apt)
    }

    /// The Debian release other architectures' packages come from (Rust's
    /// standard libraries, busybox), with every architecture kulink boots
    /// known: its `rustc-web` is kulink's `rust-version`, the oldest Rust
    /// its crates build with.
    pub fn for_other_architectures() -> Result<Self> {
        let foreign: Vec<&str> = Arch::ALL.iter().filter(|a| !a.is_host()).map(|a| a.debian()).collect();
        Self::for_suites_and_architectures(&["bookworm".to_owned()], &foreign)
    }

    /// A file whose modification time says when the package lists of
    /// `suites` last changed.
    pub fn lists_stamp(suites: &[String]) -> PathBuf {
        if suites.is_empty() {
            return PathBuf::from("/var/lib/apt/lists");
        }
        lists_dir(suites, &[]).join("updated")
    }

    /// Writes a private apt configuration for `suites` of `mirror` in `dir`;
    /// says whether its sources changed (the package lists are then stale).
    fn configure(dir: &Path, mirror: &str, suites: &[String]) -> Result<(Self, bool)> {
        for sub in ["lists/partial", "cache/archives/partial"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        let keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";
        let list: String = suites.iter().map(|s| format!("deb [signed-by={keyring}] {mirror} {s} main\n")).collect();
        let list_path = dir.join("sources.list");
        let changed = fs::read_to_string(&list_path).ok().as_deref() != Some(list.as_str());
        fs::write(&list_path, &list)?;
        let apt = Self {
            options: vec![
                format!("Dir::Etc::SourceList={}", list_path.display()),
                "Dir::Etc::SourceParts=/nonexistent".into(),
                format!("Dir::State::Lists={}", dir.join("lists").display()),
                format!("Dir::Cache={}", dir.join("cache").display()),
                "Dir::State::Status=/dev/null".into(),
                "APT::Sandbox::User=root".into(),
            ],
            lock: Some(paths::sibling(dir, "lock")),
        };
        Ok((apt, changed))
    }

    /// Holds the lists still while they are read.
    fn reading(&self) -> Result<Option<cache::CacheLock>> {
        self.lock.as_deref().map(|path| cache::lock_shared(path, "kulink's package lists")).transpose()
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        for o in &self.options {
            c.arg("-o").arg(o);
        }
        c
    }

    /// The version apt would fetch, or a clear error.
    pub fn candidate(&self, package: &str) -> Result<String> {
        tools::APT_GET.require()?;
        let _reading = self.reading()?;
        let out = tools::run(self.command("apt-cache").args(["policy", package]))?;
        let text = String::from_utf8_lossy(&out.stdout);
        match text.lines().find_map(|l| l.trim().strip_prefix("Candidate:")).map(str::trim) {
            Some(v) if !v.is_empty() && v != "(none)" => Ok(v.to_owned()),
            _ => {
                bail!("apt knows no version of {package}: run `sudo apt-get update` (and enable the suite that has it)")
            }
        }
    }

    /// What a package depends on, in apt's order.
    pub fn dependencies(&self, package: &str) -> Result<Vec<String>> {
        let _reading = self.reading()?;
        let out = tools::run(self.command("apt-cache").args(["depends", "--no-recommends", package]))?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Depends:").map(|d| d.trim().to_owned()))
            .collect())
    }

    /// The Depends field of the version of `package` apt would fetch, as
    /// the archive writes it (`libc6 (>= 2.14), libelf1 (>= 0.142)`).
    pub fn depends_field(&self, package: &str) -> Result<String> {
        let _reading = self.reading()?;
        let out = tools::run(self.command("apt-cache").args(["show", "--no-all-versions", package]))?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("Depends:"))
            .map(|d| d.trim().to_owned())
            .unwrap_or_default())
    }

    /// Downloads `package=version` into `dir`, showing its progress; returns
    /// the .deb.
    pub fn download(&self, package: &str, version: &str, dir: &Path) -> Result<PathBuf> {
        fs::create_dir_all(dir)?;
        let _reading = self.reading()?;
        let wanted = format!("{package}={version}");
        let task = progress::Task::start(
            format!("fetching {package} {version} with apt-get download"),
            progress::Unit::Bytes,
            self.download_size(&wanted),
        );
        let apt_get = || {
            let mut c = self.command("apt-get");
            tools::run(c.args(["-o", "APT::Sandbox::User=root", "download", &wanted]).current_dir(dir))
        };
        task.watching_size(dir, apt_get).context("is the archive reachable (`sudo apt-get update`)?")?;
        task.finish("done");
        // `apt-get download NAME:ARCH` names its file NAME_VERSION_ARCH.deb.
        let prefix = format!("{}_", package.split(':').next().unwrap_or(package));
        fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&prefix)))
            .with_context(|| format!("apt-get download left no {package} .deb in {}", dir.display()))
    }

    /// The size apt gives for a download (`'URI' FILE SIZE HASH`), if it
    /// gives one.
    fn download_size(&self, wanted: &str) -> Option<u64> {
        let out = self.command("apt-get").args(["download", "--print-uris", wanted]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).lines().find_map(|l| l.split_whitespace().nth(2)?.parse().ok())
    }
}

/// Where the private configuration and package lists of `suites` live.
fn lists_dir(suites: &[String], foreign: &[&str]) -> PathBuf {
    let names: Vec<&str> = suites.iter().map(String::as_str).chain(foreign.iter().copied()).collect();
    paths::cache_dir().join("apt").join(names.join("+"))
}

/// Unpacks a .deb's files under `root` (no install, no scripts).
pub fn extract(deb: &Path, root: &Path) -> Result<()> {
    tools::DPKG_DEB.require()?;
    tools::run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(root)).map(drop)
}

/// The Debian mirror kulink's private apt uses: `KULINK_DEBIAN_MIRROR`,
/// else the host's.
pub fn debian_mirror() -> Result<String> {
    match std::env::var("KULINK_DEBIAN_MIRROR") {
        Ok(m) if !m.trim().is_empty() => Ok(m.trim().trim_end_matches('/').to_owned()),
        _ => host_debian_mirror(),
    }
}

/// The first Debian archive URI in the host's apt sources (not the security
/// archive, whose layout differs).
pub fn host_debian_mirror() -> Result<String> {
    let mut texts = Vec::new();
    if let Ok(t) = fs::read_to_string("/etc/apt/sources.list") {
        texts.push(t);
    }
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        for e in dir.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "sources" || x == "list") {
                texts.extend(fs::read_to_string(&p).ok());
            }
        }
    }
    texts
        .iter()
        .find_map(|t| debian_mirror_in(t))
        .context("the host's apt sources name no Debian mirror: set KULINK_DEBIAN_MIRROR to a Debian mirror's URL")
}

/// Finds a Debian mirror in one sources file, one-line or deb822 format.
fn debian_mirror_in(text: &str) -> Option<String> {
    let is_debian = |uri: &str| {
        let uri = uri.trim_end_matches('/');
        uri.ends_with("/debian") && (uri.starts_with("http://") || uri.starts_with("https://"))
    };
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("deb ") {
            let uri = rest.split_whitespace().find(|w| w.contains("://"))?;
            if is_debian(uri) {
                return Some(uri.trim_end_matches('/').to_owned());
            }
        }
        if let Some(uris) = line.strip_prefix("URIs:") {
            if let Some(uri) = uris.split_whitespace().find(|u| is_debian(u)) {
                return Some(uri.trim_end_matches('/').to_owned());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No network: what the private configuration says is checked, not used.
    #[test]
    fn the_private_configuration_names_kulink_debian_mirror() {
        let dir = std::env::temp_dir().join(format!("kulink-apt-{}", std::process::id()));
        // SAFETY (env): nextest runs each test in a process of its own.
        std::env::set_var("KULINK_DEBIAN_MIRROR", "http://mirror.invalid/debian/");
        let mirror = debian_mirror().unwrap();
        std::env::remove_var("KULINK_DEBIAN_MIRROR");
        assert_eq!(mirror, "http://mirror.invalid/debian");
        let (apt, changed) = Apt::configure(&dir, &mirror, &["bookworm".into()]).unwrap();
        assert!(changed);
        let list = fs::read_to_string(dir.join("sources.list")).unwrap();
        assert!(list.ends_with(" http://mirror.invalid/debian bookworm main\n"), "{list}");
        let source_list = format!("Dir::Etc::SourceList={}", dir.join("sources.list").display());
        assert!(apt.options.contains(&source_list), "{:?}", apt.options);
        assert!(apt.options.iter().any(|o| o == "Dir::Etc::SourceParts=/nonexistent"), "the host's lists stay out");
        assert!(!Apt::configure(&dir, &mirror, &["bookworm".into()]).unwrap().1, "unchanged the second time");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn mirror_is_found_in_both_source_formats_but_not_security() {
        let deb822 = "Types: deb\nURIs: http://mirror.example/debian-security\n\nTypes: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n";
        assert_eq!(debian_mirror_in(deb822).as_deref(), Some("http://mirror.example/debian"));
        let one_line = "# comment\ndeb [arch=amd64] https://m.example/debian bookworm main\n";
        assert_eq!(debian_mirror_in(one_line).as_deref(), Some("https://m.example/debian"));
        assert_eq!(debian_mirror_in("deb http://archive.example/ubuntu noble main\n"), None);
    }
}
