//! The `kulink` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use kulink::artifacts::KernelChoice;
use kulink::job::{self, JobOptions};
use kulink::qemu::AccelChoice;
use kulink::vm::Backend;
use kulink::{kernels, EXIT_FAILED, EXIT_INFRA};

#[derive(Parser)]
#[command(name = "kulink", version, about = "Prove that what a kernel module sends reaches user space intact")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot a kernel, inject ICMP, and show what every channel saw.
    Run {
        /// A kernel id from kernel-config/kernels.toml, `all`, or a bzImage path (with --kdir).
        #[arg(long)]
        kernel: Option<String>,
        /// Build directory of the --kernel image (needs Module.symvers).
        #[arg(long, requires = "kernel")]
        kdir: Option<PathBuf>,
        /// A kernel source tree or tarball to build with kulink's config fragment.
        #[arg(long, conflicts_with_all = ["kernel", "kdir"])]
        kernel_src: Option<PathBuf>,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value = "auto")]
        accel: AccelChoice,
        /// What starts the guest: QEMU with kulink's initramfs, or virtme-ng.
        #[arg(long, value_enum, default_value = "qemu")]
        backend: Backend,
        /// Echo requests to inject (other frames come on top).
        #[arg(long, default_value_t = 32)]
        echoes: u16,
    },
    /// The kernels kulink knows.
    Kernels {
        #[command(subcommand)]
        command: KernelsCmd,
    },
}

#[derive(Subcommand)]
enum KernelsCmd {
    /// List the kernels and whether each is built.
    List {
        #[arg(long)]
        json: bool,
        /// Only the ids, as a JSON array (for CI matrices).
        #[arg(long, conflicts_with = "json")]
        ids: bool,
    },
    /// Fetch and build a kernel (or `all`) into the cache.
    Build { id: String },
}

fn kernel_choice(kernel: Option<String>, kdir: Option<PathBuf>, src: Option<PathBuf>) -> Result<KernelChoice> {
    Ok(match (kernel, kdir, src) {
        (_, _, Some(src)) => KernelChoice::Source(src),
        (Some(image), Some(kdir), None) => KernelChoice::Prebuilt { bzimage: image.into(), kdir },
        (Some(id), None, None) if std::path::Path::new(&id).is_file() => {
            bail!("--kernel {id} is an image file: also give its build directory with --kdir")
        }
        (id, None, None) => KernelChoice::Listed(id),
        (None, Some(_), None) => unreachable!("clap requires --kernel with --kdir"),
    })
}

fn main() -> ExitCode {
    match real_main(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kulink: error: {e:#}");
            ExitCode::from(EXIT_INFRA as u8)
        }
    }
}

fn real_main(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Cmd::Run { kernel, kdir, kernel_src, json, accel, backend, echoes } => {
            let choices = match kernel.as_deref() {
                Some("all") => kernels::list()?.into_iter().map(|k| KernelChoice::Listed(Some(k.id))).collect(),
                _ => vec![kernel_choice(kernel, kdir, kernel_src)?],
            };
            let mut reports = Vec::new();
            for choice in choices {
                let report = job::run(&JobOptions { kernel: choice, backend, accel, echoes })?;
                if !json {
                    print!("{}", report.table());
                    println!();
                }
                reports.push(report);
            }
            if json {
                let out = match reports.as_slice() {
                    [one] => serde_json::to_string_pretty(one)?,
                    many => serde_json::to_string_pretty(many)?,
                };
                println!("{out}");
            }
            let passed = reports.iter().all(|r| r.passed);
            Ok(if passed { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILED as u8) })
        }
        Cmd::Kernels { command: KernelsCmd::List { json, ids } } => {
            let specs = kernels::list()?;
            if ids {
                println!("{}", serde_json::to_string(&specs.iter().map(|k| &k.id).collect::<Vec<_>>())?);
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<serde_json::Value> = specs
                .iter()
                .map(|k| {
                    let cached = kernels::cached_build(k);
                    serde_json::json!({
                        "id": k.id,
                        "version": k.version,
                        "kind": k.kind(),
                        "default": k.default,
                        "fragments": k.fragments,
                        "distro": k.distro,
                        "cached": cached.is_some(),
                        "cache_dir": cached,
                    })
                })
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!("{:<12} {:<8} {:<8} {:<7} default", "id", "version", "kind", "cached");
                for r in &rows {
                    println!(
                        "{:<12} {:<8} {:<8} {:<7} {}",
                        r["id"].as_str().unwrap_or(""),
                        r["version"].as_str().unwrap_or(""),
                        r["kind"].as_str().unwrap_or(""),
                        if r["cached"] == true { "yes" } else { "no" },
                        if r["default"] == true { "yes" } else { "" },
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Kernels { command: KernelsCmd::Build { id } } => {
            let specs = if id == "all" { kernels::list()? } else { vec![kernels::find(&id)?] };
            for spec in specs {
                let built = kernels::ensure_built(&spec)?;
                println!("{} {} {}", built.id, built.release, built.bzimage.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
