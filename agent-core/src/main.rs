//! The bare guest agent: the core with no plug-in, for a module that
//! brings none (`kulink test --module DIR`). The host's requests are the
//! core's (files, programs); the module's parameters come as
//! `kulink.param.NAME=VALUE` boot keys.

use anyhow::{bail, Result};
use kulink_agent_core::protocol::{BootConfig, NoExtension, Nothing, MODULE_PARAM_KEY};
use kulink_agent_core::{serve, Outbox, Plugin};

struct Bare;

impl Plugin for Bare {
    type Ext = NoExtension;

    fn module_params(boot: &BootConfig) -> Result<String> {
        let mut params = Vec::new();
        for (key, value) in &boot.extension {
            match key.strip_prefix(MODULE_PARAM_KEY) {
                Some(name) => params.push(format!("{name}={value}")),
                None => bail!("kulink.{key} is not a boot key of the bare agent"),
            }
        }
        Ok(params.join(" "))
    }

    async fn start(_boot: &BootConfig, _outbox: Outbox<NoExtension>) -> Result<Self> {
        Ok(Bare)
    }

    fn ready(&self) {}

    async fn handle(&mut self, cmd: Nothing) -> Result<Nothing> {
        match cmd {}
    }

    fn stop(self) {}
}

fn main() {
    serve::<Bare>()
}
