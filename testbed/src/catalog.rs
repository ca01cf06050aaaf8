//! The kernel catalog: `kernel-config/kernels.toml` parsed and checked.
//! Pure data and serde: what to build is decided elsewhere.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

pub use crate::arch::Arch;

/// Where a kernel comes from; a spec lists several, tried in order.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(try_from = "RawSource", untagged)]
pub enum Source {
    /// A Debian `linux-source-X` package, through the host's apt (with
    /// `suites`: the host's mirror, those suites).
    Debian {
        /// The source package (`linux-source-6.1`).
        debian: String,
        /// Debian suites to read it from; empty: the host's apt sources.
        suites: Vec<String>,
    },
    /// A release tarball to download (any URL curl takes).
    Tarball {
        /// Its URL.
        tarball: String,
    },
    /// A local tree or tarball (`--kernel-src`).
    Path {
        /// Where it is.
        path: PathBuf,
    },
}

/// As the catalog names it: `Debian linux-source-6.1 (trixie)`, a URL, a path.
impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Debian { debian, suites } if suites.is_empty() => write!(f, "Debian {debian}"),
            Self::Debian { debian, suites } => write!(f, "Debian {debian} ({})", suites.join(", ")),
            Self::Tarball { tarball } => f.write_str(tarball),
            Self::Path { path } => write!(f, "{}", path.display()),
        }
    }
}

/// A `sources` entry as written, before it is known to be one of the forms.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    debian: Option<String>,
    suites: Option<Vec<String>>,
    tarball: Option<String>,
    path: Option<PathBuf>,
}

const SOURCE_FORMS: &str = "{ debian = \"PACKAGE\" }, { debian = \"PACKAGE\", suites = [\"SUITE\", ...] }, \
                            { tarball = \"URL\" } or { path = \"DIR or TARBALL\" }";

impl TryFrom<RawSource> for Source {
    type Error = String;

    fn try_from(raw: RawSource) -> Result<Self, String> {
        Ok(match raw {
            RawSource { debian: Some(debian), suites, tarball: None, path: None } => {
                Source::Debian { debian, suites: suites.unwrap_or_default() }
            }
            RawSource { tarball: Some(tarball), debian: None, suites: None, path: None } => Source::Tarball { tarball },
            RawSource { path: Some(path), debian: None, suites: None, tarball: None } => Source::Path { path },
            _ => return Err(format!("a source is one of {SOURCE_FORMS}")),
        })
    }
}

/// What kind of kernel a spec describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Built here from source with kulink's fragments, for this host's
    /// architecture.
    Source,
    /// An unmodified distribution kernel package with its headers.
    Distro,
    /// Built here from source with kulink's fragments, for another
    /// architecture than this host's (arm64 on an x86_64 host, say).
    Cross,
}

impl Kind {
    /// As it is serialized.
    pub fn name(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Distro => "distro",
            Self::Cross => "cross",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
/// One kernel of the catalog, as `kernels.toml` describes it.
pub struct KernelSpec {
    /// What tests and `--kernel` call it (`6.1`, `6.1-debug`).
    pub id: String,
    /// The upstream version it builds (`6.1.119`).
    pub version: String,
    #[serde(default)]
    /// The kernel used when none is named; exactly one has it.
    pub default: bool,
    /// The guest's architecture; x86_64 unless named.
    #[serde(default)]
    pub arch: Arch,
    #[serde(default)]
    /// Config fragments applied on top of the base one, in order.
    pub fragments: Vec<String>,
    #[serde(default)]
    /// Where its source comes from, tried in order.
    pub sources: Vec<Source>,
    /// For a distribution kernel: the Debian image package (a metapackage
    /// such as linux-image-cloud-amd64 is followed to the real one).
    #[serde(default)]
    pub distro: Option<String>,
    /// For a distribution kernel: the Debian suites it comes from, read
    /// through kulink's private apt configuration on the Debian mirror
    /// (`KULINK_DEBIAN_MIRROR`, else the host's). Empty: the host's apt.
    #[serde(default)]
    pub suites: Vec<String>,
    /// Extra kernel command line (e.g. panic_on_warn=1 for debug builds).
    #[serde(default)]
    pub cmdline: String,
    /// Kernel command line only when kulink's own image boots it, not
    /// under virtme-ng (`acpi=off`: ACPI is there for vng's power-off).
    #[serde(default)]
    pub image_cmdline: String,
}

impl KernelSpec {
    /// Built from source (for this host's architecture or another), or a
    /// distribution's own image.
    pub fn kind(&self) -> Kind {
        if self.distro.is_some() {
            Kind::Distro
        } else if self.arch.is_host() {
            Kind::Source
        } else {
            Kind::Cross
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KernelList {
    kernel: Vec<KernelSpec>,
}

/// Names that stand for several kernels wherever ids are taken, with what
/// each selects, and so cannot be ids. Neither includes a distribution
/// kernel this host cannot build modules for.
pub const GROUPS: &[(&str, &str)] =
    &[("all", "every kernel this host can use"), ("distro", "every distribution kernel this host can use")];

/// Parses the list and checks what the types cannot: one default, unique
/// ids, sources and fragments for source kernels and none for distro ones.
pub fn parse_list(text: &str) -> Result<Vec<KernelSpec>> {
    let list: KernelList = toml::from_str(text)?;
    let defaults = list.kernel.iter().filter(|k| k.default).count();
    if defaults != 1 {
        bail!("exactly one kernel must be marked default = true, found {defaults}");
    }
    for k in &list.kernel {
        match k.kind() {
            Kind::Source | Kind::Cross if k.sources.is_empty() || k.fragments.is_empty() => {
                bail!("kernel {} needs sources and fragments", k.id)
            }
            Kind::Source | Kind::Cross if !k.suites.is_empty() => {
                bail!("kernel {}: suites go in a source, {{ debian = \"PACKAGE\", suites = [...] }}", k.id)
            }
            Kind::Distro if !k.sources.is_empty() || !k.fragments.is_empty() => {
                bail!("distribution kernel {} takes no sources or fragments", k.id)
            }
            Kind::Distro if k.arch != Arch::X86_64 => {
                bail!("distribution kernel {}: only x86_64 ones are known; build {} from source", k.id, k.arch)
            }
            _ => {}
        }
    }
    if let Some(k) = list.kernel.iter().find(|k| GROUPS.iter().any(|(group, _)| *group == k.id)) {
        bail!("`{}` names a group of kernels: pick another id", k.id);
    }
    let mut ids: Vec<&str> = list.kernel.iter().map(|k| k.id.as_str()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        bail!("kernel id {} is listed twice", w[0]);
    }
    Ok(list.kernel)
}

/// Where fragment `name` is: the first of `dirs` that has it.
pub fn find_fragment(name: &str, dirs: &[&Path]) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// Every fragment a spec names exists in one of `dirs`.
pub fn check_fragments(specs: &[KernelSpec], dirs: &[&Path]) -> Result<()> {
    for spec in specs {
        if let Some(missing) = spec.fragments.iter().find(|f| find_fragment(f, dirs).is_none()) {
            let places: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            bail!("kernel {} names fragment {missing}, which is not in {}", spec.id, places.join(" or "));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = r#"
        [[kernel]]
        id = "6.1"
        version = "6.1"
        default = true
        fragments = ["base.config"]
        cmdline = "panic_on_warn=1"
        sources = [
            { debian = "linux-source-6.1" },
            { debian = "linux-source-7.3", suites = ["sid"] },
            { tarball = "https://example.org/linux-6.1.1.tar.xz" },
            { path = "/src/linux" },
        ]

        [[kernel]]
        id = "cloud"
        version = "6.1"
        distro = "linux-image-cloud-amd64"
        suites = ["bookworm"]
    "#;

    fn error(text: &str) -> String {
        format!("{:#}", parse_list(text).unwrap_err())
    }

    #[test]
    fn list_parses_sources_and_requires_one_default() {
        let list = parse_list(LIST).unwrap();
        assert_eq!((list[0].id.as_str(), list[0].cmdline.as_str()), ("6.1", "panic_on_warn=1"));
        assert!(
            matches!(&list[0].sources[0], Source::Debian { debian, suites } if debian == "linux-source-6.1" && suites.is_empty())
        );
        assert!(matches!(&list[0].sources[1], Source::Debian { suites, .. } if suites == &["sid"]));
        assert!(matches!(&list[0].sources[2], Source::Tarball { tarball } if tarball.ends_with("6.1.1.tar.xz")));
        assert!(matches!(&list[0].sources[3], Source::Path { path } if path == Path::new("/src/linux")));
        assert_eq!((list[0].kind(), list[1].kind()), (Kind::Source, Kind::Distro));
        assert_eq!(list[1].suites, ["bookworm"]);
        assert!(error(&LIST.replace("default = true", "")).contains("exactly one kernel must be marked default"));
        assert!(error(&LIST.replace("id = \"cloud\"", "id = \"6.1\"")).contains("kernel id 6.1 is listed twice"));
        let group = error(&LIST.replace("id = \"cloud\"", "id = \"distro\""));
        assert!(group.contains("`distro` names a group of kernels"), "{group}");
    }

    #[test]
    fn an_architecture_other_than_the_host_s_is_a_cross_kernel() {
        let other = if Arch::host() == Some(Arch::Arm64) { "s390x" } else { "arm64" };
        let list = parse_list(&LIST.replace(
            "version = \"6.1\"\n        default",
            &format!("version = \"6.1\"\n        arch = \"{other}\"\n        default"),
        ))
        .unwrap();
        assert_eq!((list[0].arch.name(), list[0].kind()), (other, Kind::Cross));
        assert_eq!(list[1].arch, Arch::X86_64, "x86_64 unless named");
        let msg = error(&LIST.replace(
            "distro = \"linux-image-cloud-amd64\"",
            "distro = \"linux-image-cloud-arm64\"\n        arch = \"arm64\"",
        ));
        assert!(msg.contains("distribution kernel cloud: only x86_64 ones are known"), "{msg}");
        let msg = error(&LIST.replace(
            "version = \"6.1\"\n        default",
            "version = \"6.1\"\n        arch = \"aarch64\"\n        default",
        ));
        assert!(msg.contains("unknown variant `aarch64`, expected one of `x86_64`, `arm64`, `s390x`"), "{msg}");
    }

    #[test]
    fn a_misspelt_key_is_named() {
        let msg = error(&LIST.replace("cmdline =", "cmdlin ="));
        assert!(msg.contains("unknown field `cmdlin`"), "{msg}");
        let msg = error(&LIST.replace("[[kernel]]\n        id = \"cloud\"", "[[kernal]]\n        id = \"cloud\""));
        assert!(msg.contains("unknown field `kernal`"), "{msg}");
    }

    #[test]
    fn a_bad_source_names_the_accepted_keys_and_forms() {
        let with = |bad: &str| error(&LIST.replace(r#"{ path = "/src/linux" }"#, bad));
        let msg = with(r#"{ debain = "linux-source-6.1" }"#);
        assert!(msg.contains("unknown field `debain`, expected one of `debian`, `suites`, `tarball`, `path`"), "{msg}");
        for bad in [r#"{ debian = "a", tarball = "b" }"#, r#"{ suites = ["sid"] }"#] {
            let msg = with(bad);
            assert!(msg.contains("a source is one of { debian = \"PACKAGE\" }"), "{bad}: {msg}");
            assert!(msg.contains("{ tarball = \"URL\" }"), "{msg}");
        }
    }

    #[test]
    fn a_missing_fragment_is_named() {
        let dir = std::env::temp_dir().join(format!("kulink-fragments-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("base.config"), "").unwrap();
        let mut list = parse_list(LIST).unwrap();
        let own = dir.join("own");
        std::fs::create_dir_all(&own).unwrap();
        std::fs::write(own.join("mine.config"), "").unwrap();
        check_fragments(&list, &[&dir]).unwrap();
        list[0].fragments.push("mine.config".into());
        check_fragments(&list, &[&own, &dir]).unwrap();
        assert_eq!(find_fragment("base.config", &[&own, &dir]), Some(dir.join("base.config")));
        list[0].fragments.push("debgu.config".into());
        let msg = format!("{:#}", check_fragments(&list, &[&own, &dir]).unwrap_err());
        assert!(msg.contains("kernel 6.1 names fragment debgu.config"), "{msg}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
