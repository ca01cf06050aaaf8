//! `kulink kernels`: the catalog, what is built, and building it.

use std::fmt::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use kulink::outcome::{Format, SCHEMA_VERSION};
use kulink::render::pretty;
use kulink::testbed::artifacts::{build_agent, AgentSource};
use kulink::testbed::catalog::{Arch, Kind};
use kulink::testbed::{kconfig, kernels};
use kulink::usage_error;
use serde::Serialize;

use crate::args::FormatArgs;

/// The kernels kulink knows.
#[derive(Args)]
pub struct KernelsArgs {
    #[command(subcommand)]
    command: KernelsCmd,
}

#[derive(Subcommand)]
enum KernelsCmd {
    /// List the kernels and whether each is built.
    List {
        #[command(flatten)]
        format: FormatArgs,
        /// Only the ids of the kernels KULINK_KERNELS and
        /// KULINK_SKIP_KERNELS select, as a JSON array (for CI matrices).
        #[arg(long, conflicts_with = "json")]
        ids: bool,
    },
    /// Fetch and build kernels into the cache: ids (comma-separated) or
    /// `all`. Those in the cache come first, then the distributions' (a
    /// download), then those to compile; a line `ID RELEASE IMAGE` says
    /// each one is ready. Goes on past a failure and reports every one at
    /// the end.
    Build {
        ids: String,
        /// Also build this agent package of the current directory's cargo
        /// workspace (a plug-in's, see GuestBuilder::plugin_in) before
        /// another architecture's kernel is said ready, as the core agent
        /// is (repeatable): its first build takes minutes, which must not
        /// fall into a test's time limit.
        #[arg(long = "agent", value_name = "PACKAGE")]
        agents: Vec<String>,
    },
    /// The effective configuration of a kernel (built or fetched first if
    /// it is not in the cache), or only the options named, as `.config`
    /// writes them.
    Config {
        /// A kernel id from the catalog.
        id: String,
        /// Options, as CONFIG_NAME or NAME.
        #[arg(value_name = "OPTION")]
        options: Vec<String>,
        /// The variant with this option (as .config writes it) or fragment
        /// file on top, as `kulink test --kconfig` boots it (repeatable).
        #[arg(long = "kconfig", value_name = "OPTION|FILE")]
        kconfig: Vec<String>,
    },
    /// The source a kernel would be built from, resolved without
    /// downloading (`linux-source-6.1=6.1.192-2`): a cache key for CI.
    Source { id: String },
}

/// A row of `kernels list`.
#[derive(Debug, Clone, Serialize)]
struct KernelRow {
    /// [`SCHEMA_VERSION`](kulink::outcome::SCHEMA_VERSION) of the JSON.
    schema_version: u32,
    /// The kernel's id.
    id: String,
    /// The upstream version it builds.
    version: String,
    /// Built from source (for this host's architecture or another), or a
    /// distribution's image.
    kind: Kind,
    /// The guest's architecture.
    arch: Arch,
    /// The kernel used when none is named.
    default: bool,
    /// Config fragments on top of the base one.
    fragments: Vec<String>,
    /// The distribution's image package, for a distribution kernel.
    distro: Option<String>,
    /// It is built (or fetched) and in the cache.
    cached: bool,
    /// Where it is in the cache.
    cache_dir: Option<PathBuf>,
    /// Why this host cannot build modules for it (a distribution kernel
    /// built with a newer compiler or C library); such a kernel is left
    /// out of the groups `all` and `distro`.
    out_of_reach: Option<String>,
}

impl KernelsArgs {
    /// Lists, resolves or builds kernels.
    pub fn run(self) -> Result<ExitCode> {
        match self.command {
            KernelsCmd::List { ids: true, .. } => {
                let selected: Vec<String> = kernels::selected()?.into_iter().map(|k| k.id).collect();
                println!("{}", serde_json::to_string(&selected)?);
            }
            KernelsCmd::List { format, ids: false } => print!("{}", list(&rows()?, format.format())),
            KernelsCmd::Source { id } => {
                println!("{}", kernels::source_version(&kernels::find(&id)?).map_err(anyhow::Error::msg)?);
            }
            KernelsCmd::Build { ids, agents } => build(&ids, &agents)?,
            KernelsCmd::Config { id, options, kconfig } => print!("{}", config(&id, &options, &kconfig)?),
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Every kernel of the catalog, each followed by its variants in the cache.
fn rows() -> Result<Vec<KernelRow>> {
    let mut rows = Vec::new();
    for k in kernels::list()? {
        let variants = kernels::cached_variants(&k);
        let cache_dir = kernels::cached_build(&k);
        let out_of_reach = match k.kind() {
            Kind::Source | Kind::Cross => None,
            // Packages that cannot be reached (no Debian mirror) are out of reach too.
            Kind::Distro => kernels::why_out_of_reach(&k)
                .unwrap_or_else(|e| Some(format!("its packages cannot be reached ({e:#})"))),
        };
        let row = KernelRow {
            out_of_reach,
            schema_version: SCHEMA_VERSION,
            kind: k.kind(),
            arch: k.arch,
            cached: cache_dir.is_some(),
            cache_dir,
            id: k.id,
            version: k.version,
            default: k.default,
            fragments: k.fragments,
            distro: k.distro,
        };
        let variant_rows: Vec<KernelRow> = variants
            .into_iter()
            .map(|(id, dir)| KernelRow {
                id,
                default: false,
                cached: true,
                cache_dir: Some(dir),
                out_of_reach: None,
                ..row.clone()
            })
            .collect();
        rows.push(row);
        rows.extend(variant_rows);
    }
    Ok(rows)
}

fn list(rows: &[KernelRow], format: Format) -> String {
    if format == Format::Json {
        return pretty(rows);
    }
    // Variants' ids are longer than the catalog's twelve columns.
    let width = rows.iter().map(|r| r.id.len()).max().unwrap_or(0).max(12);
    let mut s = format!("{:<width$} {:<8} {:<8} {:<7} {:<7} default\n", "id", "version", "kind", "arch", "cached");
    for r in rows {
        let _ = writeln!(
            s,
            "{:<width$} {:<8} {:<8} {:<7} {:<7} {}",
            r.id,
            r.version,
            r.kind.name(),
            r.arch.name(),
            if r.cached { "yes" } else { "no" },
            if r.default { "yes" } else { "" },
        );
    }
    for r in rows {
        if let Some(why) = &r.out_of_reach {
            let _ = writeln!(s, "\n{} is out of reach on this host: {why}.", r.id);
        }
    }
    s
}

/// The kernel's (or its variant's) `.config`, or the lines of the options
/// named; a name that is no option is refused before anything is built.
fn config(id: &str, options: &[String], overlay: &[String]) -> Result<String> {
    let names = options
        .iter()
        .map(|o| kconfig::option_name(o).ok_or_else(|| usage_error(format!("{o} is not a kernel option name"))))
        .collect::<Result<Vec<_>>>()?;
    let overlay = overlay.iter().fold(kulink::GuestBuilder::kernel_id(id), |guest, o| guest.kconfig(o)).overlay()?;
    let config = kernels::ensure_with(&kernels::find(id)?, &overlay)?.config()?;
    if names.is_empty() {
        return Ok(config);
    }
    Ok(kconfig::lines_of(&config, &names).iter().map(|l| format!("{l}\n")).collect())
}

/// Builds each kernel, the readiest first, and prints each as soon as it
/// is ready (a line a script can start its tests on: another
/// architecture's with its agent built too), going on past a failure and
/// naming every failure. Sources are fetched ahead of builds.
fn build(ids: &str, agents: &[String]) -> Result<()> {
    let workspace = std::env::current_dir().context("the current directory")?;
    // A package that is not there is named now, not after a kernel's build.
    for package in agents {
        let found = std::process::Command::new("cargo")
            .args(["pkgid", "--quiet", package])
            .current_dir(&workspace)
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Err(usage_error(format!(
                "--agent {package}: no such package in the cargo workspace of {}",
                workspace.display()
            )));
        }
    }
    let agents: Vec<AgentSource> = std::iter::once(AgentSource::bare())
        .chain(agents.iter().map(|package| AgentSource { workspace: workspace.clone(), package: package.clone() }))
        .collect();
    let specs = kernels::readiest_first(kernels::expand(ids)?);
    kernels::preflight(&specs)?;
    let fetching = kernels::fetch_sources_ahead(&specs);
    let mut failed = Vec::new();
    for spec in specs {
        // Another architecture's kernel is ready with its agent: the first
        // such build fetches Debian's Rust and takes minutes, which must not
        // fall into the first test's time limit.
        let ready = kernels::ensure_built(&spec).and_then(|built| {
            if !spec.arch.is_host() {
                for agent in &agents {
                    build_agent(agent, spec.arch)
                        .with_context(|| format!("the guest agent {} for {}", agent.package, spec.arch.name()))?;
                }
            }
            Ok(built)
        });
        match ready {
            Ok(built) => println!("{} {} {}", built.id, built.release, built.bzimage.display()),
            Err(e) => {
                eprintln!("kulink: kernel {} failed: {e:#}", spec.id);
                failed.push(format!("{}: {e:#}", spec.id));
            }
        }
    }
    // Every build has waited for its source by now, so this is at once.
    let _ = fetching.join();
    if !failed.is_empty() {
        anyhow::bail!(
            "{} kernel(s) failed to build; leave them out with KULINK_SKIP_KERNELS=ID[,ID...]:\n{}",
            failed.len(),
            failed.join("\n")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_row_shows_its_kind_as_json_names_it() {
        for kind in [Kind::Source, Kind::Distro, Kind::Cross] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
        }
        let row = KernelRow {
            schema_version: 1,
            id: "6.1".into(),
            version: "6.1".into(),
            kind: Kind::Source,
            arch: Arch::X86_64,
            default: true,
            fragments: vec!["base.config".into()],
            distro: None,
            cached: false,
            cache_dir: None,
            out_of_reach: None,
        };
        let table = list(std::slice::from_ref(&row), Format::Table);
        assert_eq!(table.lines().nth(1), Some("6.1          6.1      source   x86_64  no      yes"));
        let json: serde_json::Value = serde_json::from_str(&list(&[row], Format::Json)).unwrap();
        assert_eq!(json[0]["kind"], "source");
    }
}
