//! The guest agent's core, whatever module it tests: PID 1 duties (mounts,
//! power-off), loading the modules, the network, the control port and its
//! request loop, running the host's programs, generic netlink by family
//! name. A module's suite adds its listeners and commands as one
//! [`Plugin`].
//!
//! The boot recipe, top to bottom, is [`serve`].

pub mod deferred;
pub mod device_burst;
pub mod forked_load;
pub mod genl;
pub mod genl_bridge;
pub mod helper;
pub mod host_root;
pub mod in_child;
pub mod kernel_log;
pub mod loopback;
pub mod net;
pub mod netns;
pub mod port;
pub mod run;
pub mod shell;
pub mod stuck;
pub mod system;
pub mod unprivileged;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use in_child::Job;
use kulink_protocol::{
    parse_preload_line, patience, AgentMsg, BootConfig, Booted, Command, Extension, Ready, Reply, Request, PRELOAD_LIST,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use kulink_protocol as protocol;

/// Where the agent's messages go: to the host, in the order sent.
pub struct Outbox<X: Extension>(mpsc::UnboundedSender<AgentMsg<X>>);

impl<X: Extension> Clone for Outbox<X> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<X: Extension> Outbox<X> {
    /// Sends one of the plug-in's own messages.
    pub fn ext(&self, message: X::Message) {
        self.send(AgentMsg::Ext { ext: message });
    }

    /// A problem the agent survived, for the host's log.
    pub fn warning(&self, message: impl Into<String>) {
        self.send(AgentMsg::Warning { message: message.into() });
    }

    fn send(&self, msg: AgentMsg<X>) {
        // The writer is gone only once the agent is shutting down.
        let _ = self.0.send(msg);
    }
}

/// What the module's suite adds to the agent. Methods run on the agent's
/// single-threaded runtime, so their futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Plugin: Sized {
    type Ext: Extension;

    /// Runs first, before any thread exists (a signal mask every thread
    /// should inherit).
    fn before_threads() -> Result<()> {
        Ok(())
    }

    /// Prepares what the module under test needs at load time and returns
    /// its parameters.
    fn module_params(boot: &BootConfig) -> Result<String>;

    /// Starts listening, once the module is loaded and the network is up.
    async fn start(boot: &BootConfig, outbox: Outbox<Self::Ext>) -> Result<Self>;

    /// What the plug-in tells the host in the Ready message.
    fn ready(&self) -> <Self::Ext as Extension>::Ready;

    async fn handle(&mut self, cmd: <Self::Ext as Extension>::Command) -> Result<<Self::Ext as Extension>::Reply>;

    /// Stops every listener; the messages already queued still go out.
    fn stop(self);
}

/// The agent's life as PID 1 (or, for a developer, as a plain process):
/// serve the host until it asks for power-off, then power off.
pub fn serve<P: Plugin>() -> ! {
    match std::env::args().nth(1).as_deref() {
        Some(device_burst::HELPER_ARG) => std::process::exit(device_burst::helper_main()),
        Some(in_child::HELPER_ARG) => std::process::exit(in_child::helper_main()),
        _ => {}
    }
    let pid1 = std::process::id() == 1;
    let result = P::before_threads().and_then(|()| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(run::<P>(pid1))
    });
    if let Err(e) = &result {
        system::log(&format!("fatal: {e:#}"));
        // PID 1's stderr is the console, where the kernel log shows it
        // already: a second copy would interleave with the log's lines.
        if !pid1 {
            eprintln!("kulink-agent: fatal: {e:#}");
        }
    }
    if pid1 {
        kernel_log::drain(Duration::from_secs(2));
        system::power_off();
    }
    std::process::exit(i32::from(result.is_err()));
}

async fn run<P: Plugin>(pid1: bool) -> Result<()> {
    if pid1 {
        system::mount_basics()?;
    }
    kernel_log::forward();
    // Each step of the start-up says when it is done, so the kernel log
    // shows where the time to ready goes (`kulink bench boot`).
    system::log("started");
    let cmdline = std::fs::read_to_string("/proc/cmdline").context("read /proc/cmdline")?;
    let mut boot = BootConfig::parse(&cmdline)?;
    system::load_listed_modules(PRELOAD_LIST)?;
    if !boot.deferred {
        load_module_under_test::<P>(&boot).await?;
    }
    let links = net::configure(boot.addr, boot.prefix).await?;
    system::log("network up");
    let mut link = port::open::<P::Ext>()?;
    let outbox = Outbox(link.outbox.clone());
    if boot.deferred {
        outbox.send(AgentMsg::Booted(Booted { boot_ms: system::boottime_ms(), kernel: system::kernel_release() }));
        system::log("booted, waiting for the test");
        let Some(test) = deferred::await_test(&mut link.requests, &outbox).await? else {
            return finish(link, outbox).await;
        };
        // The same steps, and the same fatal end, as at boot.
        for (path, params) in test.preload.iter().map(|line| parse_preload_line(line)) {
            system::load_module(path, params)?;
        }
        boot.module = test.module;
        boot.extension = test.extension;
        load_module_under_test::<P>(&boot).await?;
    }
    let mut plugin = P::start(&boot, outbox.clone()).await?;
    system::log("plug-in listening");
    let mut core = Core { outbox: outbox.clone(), subscriptions: Vec::new(), started: BTreeMap::new() };

    // The plug-in's part first: the figure is the moment the line below says.
    let ext = plugin.ready();
    let ready = Ready {
        boot_ms: system::boottime_ms(),
        kernel: system::kernel_release(),
        eth0_ifindex: links.eth0,
        lo_ifindex: links.lo,
        ext,
    };
    // Logged at the moment the figure names, before the message goes out.
    system::log("ready");
    outbox.send(AgentMsg::Ready(ready));

    while let Some(req) = link.requests.recv().await {
        let Request { id, cmd } = match req {
            Ok(req) => req,
            Err(message) => {
                outbox.warning(message);
                continue;
            }
        };
        let shutdown = cmd == Command::Shutdown;
        let result = handle(&mut core, &mut plugin, cmd).await;
        outbox.send(AgentMsg::Reply { id, result: result.map_err(|e| in_child::failure(&e)) });
        if shutdown {
            break;
        }
    }
    // Stop every producer, then let the writer drain what is queued
    // before the VM goes away.
    plugin.stop();
    core.subscriptions.iter().for_each(JoinHandle::abort);
    drop(core);
    finish(link, outbox).await
}

/// Loads the module under test, if there is one, with the plug-in's
/// parameters, in a child (see [`forked_load`]): an Oops in its init kills
/// the child, not PID 1, which says so (the fatal line the host reads) and
/// powers the guest off in order.
async fn load_module_under_test<P: Plugin>(boot: &BootConfig) -> Result<()> {
    if let Some(module) = &boot.module {
        match forked_load::load(module, &P::module_params(boot)?, patience(0)).await {
            Ok(()) => system::log("module loaded"),
            // A refusal names finit_module and the path already.
            Err(e) if e.is::<in_child::KernelFailed>() => return Err(e.context(format!("finit_module {module}"))),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Lets the writer send what is queued before the VM goes away.
async fn finish<X: Extension>(link: port::Link<X>, outbox: Outbox<X>) -> Result<()> {
    drop(outbox);
    drop(link.outbox);
    let writer = link.writer;
    tokio::task::spawn_blocking(move || writer.join()).await.ok();
    Ok(())
}

/// What the core's own requests keep between them.
/// How long a stopped program may take to end before its group is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

struct Core<X: Extension> {
    outbox: Outbox<X>,
    /// The forwarders of the host's generic netlink subscriptions.
    subscriptions: Vec<JoinHandle<()>>,
    /// Programs the host started and has not stopped, by pid (killed when
    /// the agent ends).
    started: BTreeMap<u32, run::Running>,
}

async fn handle<P: Plugin>(core: &mut Core<P::Ext>, plugin: &mut P, cmd: Command<P::Ext>) -> Result<Reply<P::Ext>> {
    Ok(match cmd {
        Command::PingLoopback { id, count } => {
            loopback::ping(id, count)?;
            Reply::Done
        }
        Command::ReadFile { path } => in_child::serve(Job::ReadFile { path }, patience(0)).await?,
        Command::ReadFiles { dir, suffix } => in_child::serve(Job::ReadFiles { dir, suffix }, patience(0)).await?,
        Command::WriteFile { path, data, patience_ms } => {
            let patience = patience_ms.map_or(patience(0), Duration::from_millis);
            in_child::serve(Job::WriteFile { path, data }, patience).await?
        }
        Command::Run { argv, timeout_ms, netns, env } => {
            Reply::Ran(run::run(&argv, &env, Duration::from_millis(timeout_ms), netns).await?)
        }
        Command::Start { argv, ready_timeout_ms, netns } => {
            let mut running = run::Running::start(&argv, &[], netns)?;
            let first_line = running.first_line(Duration::from_millis(ready_timeout_ms)).await?;
            let pid = running.pid();
            core.started.insert(pid, running);
            Reply::Started { pid, first_line }
        }
        Command::Output { pid } => {
            let running =
                core.started.get(&pid).with_context(|| format!("no program the host started has pid {pid}"))?;
            Reply::Text(running.stdout_so_far())
        }
        Command::Stop { pid, signal } => {
            let running =
                core.started.remove(&pid).with_context(|| format!("no program the host started has pid {pid}"))?;
            let signal = nix::sys::signal::Signal::try_from(signal).context("Stop: not a signal")?;
            Reply::Ran(running.stop(signal, STOP_GRACE).await?)
        }
        Command::GenlSubscribe { family, group } => {
            core.subscriptions.push(genl_bridge::subscribe(&family, &group, core.outbox.clone()).await?);
            Reply::Done
        }
        Command::NetlinkSubscribe { protocol, groups } => {
            core.subscriptions.push(genl_bridge::subscribe_protocol(protocol, &groups, core.outbox.clone())?);
            Reply::Done
        }
        Command::GenlRequest(request) => in_child::serve(Job::GenlRequest(request), patience(0)).await?,
        Command::NetlinkRequest(request) => in_child::serve(Job::NetlinkRequest(request), patience(0)).await?,
        Command::GenlBurst(burst) => {
            let count = burst.messages.len();
            in_child::serve(Job::GenlBurst(burst), patience(count)).await?
        }
        Command::DeviceBurst(burst) => Reply::DeviceBurst(device_burst::burst(burst).await?),
        Command::LoadModule { path, params } => in_child::serve(Job::LoadModule { path, params }, patience(0)).await?,
        Command::UnloadModule { name } => in_child::serve(Job::UnloadModule { name }, patience(0)).await?,
        Command::Shell => {
            shell::run().await?;
            Reply::Done
        }
        Command::KernelLog => Reply::Text(system::kernel_log()?),
        Command::MountHostRoot => {
            host_root::mount()?;
            Reply::Done
        }
        Command::Shutdown => Reply::Done,
        Command::Resume(_) => anyhow::bail!("the test's modules are loaded already"),
        Command::Restored { seed, realtime_ns } => {
            system::reseed(&seed)?;
            system::set_realtime(realtime_ns)?;
            system::log("restored");
            Reply::Done
        }
        Command::Ext { ext } => Reply::Ext(plugin.handle(ext).await?),
    })
}
