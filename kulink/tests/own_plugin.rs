//! A plug-in of the user's own: a crate outside kulink's workspace, with
//! its own agent package on the agent core, boots a guest through the
//! library, answers its own command there and tells the host it is ready.

use std::path::{Path, PathBuf};

use kulink::testbed::protocol::{Extension, Nothing};
use kulink::GuestBuilder;

/// The plug-in's part of the protocol, as the host sees it: a command and
/// its answer are strings, the ready message names the plug-in.
#[derive(Debug, Clone, PartialEq)]
enum Echo {}

impl Extension for Echo {
    type Command = String;
    type Reply = String;
    type Message = Nothing;
    type Ready = String;
}

/// The agent of a user's crate: the core with a plug-in that answers a
/// command with the command and the guest's kernel release.
const MAIN_RS: &str = r#"
use anyhow::Result;
use kulink_agent_core::protocol::{BootConfig, Extension, Nothing};
use kulink_agent_core::{serve, Outbox, Plugin};

#[derive(Debug, Clone, PartialEq)]
enum Echo {}

impl Extension for Echo {
    type Command = String;
    type Reply = String;
    type Message = Nothing;
    type Ready = String;
}

struct EchoPlugin;

impl Plugin for EchoPlugin {
    type Ext = Echo;

    fn module_params(_boot: &BootConfig) -> Result<String> {
        Ok(String::new())
    }

    async fn start(_boot: &BootConfig, _outbox: Outbox<Echo>) -> Result<Self> {
        Ok(EchoPlugin)
    }

    fn ready(&self) -> String {
        "echo plug-in".into()
    }

    async fn handle(&mut self, cmd: String) -> Result<String> {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")?;
        Ok(format!("{cmd} on {}", release.trim()))
    }

    fn stop(self) {}
}

fn main() {
    serve::<EchoPlugin>()
}
"#;

/// The user's crate, in a directory of its own outside kulink's checkout:
/// a workspace of one package that depends on the agent core by path.
fn users_crate(kulink: &Path) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kulink-own-plugin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let manifest = format!(
        r#"[package]
name = "echo-agent"
version = "0.1.0"
edition = "2021"

[dependencies]
anyhow = "1"
kulink-agent-core = {{ path = "{}" }}

[workspace]

[profile.release]
opt-level = "s"
lto = "thin"
codegen-units = 4
panic = "abort"
strip = true
"#,
        kulink.join("agent-core").display()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("src/main.rs"), MAIN_RS).unwrap();
    // kulink's lock file pins the versions it is tested with; cargo drops
    // what this crate does not use.
    std::fs::copy(kulink.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir
}

/// On the first kernel selected: what is tested is the build, not the kernel.
fn a_crate_outside_the_workspace_boots_its_own_plugin() {
    let kernel = &kulink::testbed::kernels::selected().unwrap()[0].id;
    let kulink = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = users_crate(&kulink);
    // The dependencies are built once: share kulink's target directory.
    // SAFETY (env): nextest runs each test in a process of its own.
    std::env::set_var("CARGO_TARGET_DIR", kulink.join("target"));
    let mut guest = GuestBuilder::kernel_id(kernel)
        .plugin_in::<Echo>(&dir, "echo-agent")
        .boot()
        .unwrap_or_else(|e| panic!("boot with the user's plug-in on {kernel}: {e:#}"));
    assert_eq!(guest.ready().ext, "echo plug-in");
    let release = guest.ready().kernel.clone();
    assert_eq!(guest.ext("hello".into()).unwrap(), format!("hello on {release}"));
    guest.shutdown().unwrap().check().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

kulink::kernel_tests!(once: a_crate_outside_the_workspace_boots_its_own_plugin);
