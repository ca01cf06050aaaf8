//! The host <-> agent protocol: one JSON object per line over virtio-serial.
//! The core commands work for any module; a suite's own commands, replies,
//! events and ready-time facts ride in the `ext` variants, typed by its
//! [`Extension`].

use std::fmt::Debug;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Name of the virtio-serial port that carries this protocol.
pub const PORT_NAME: &str = "kulink.ctl";

/// Name of the virtio-serial port an interactive shell's input and output
/// cross (see [`Command::Shell`]).
pub const SHELL_PORT: &str = "kulink.shell";

/// Name of the virtio-serial port the agent copies the kernel's log to,
/// every record at every level, whatever the console prints.
pub const KERNEL_LOG_PORT: &str = "kulink.kmsg";

/// How a refused [`Command::NetlinkSubscribe`] or
/// [`Command::NetlinkRequest`] begins when the guest has no kernel socket
/// for the protocol (`EPROTONOSUPPORT`): what the module under test did or
/// did not create, not a fault of the guest.
pub const NO_NETLINK_PROTOCOL: &str = "no kernel socket serves netlink protocol";

/// The 9p mount tag the host's root file system is shared under (see
/// [`Command::MountHostRoot`]).
pub const HOST_ROOT_TAG: &str = "kulink.host";

/// Where the agent mounts the host's root file system, read-only.
pub const HOST_ROOT_DIR: &str = "/host";

/// The guest's top directories that lead into the host's `/usr` once its
/// root is mounted, as a merged `/usr` has them (`/bin` into `/usr/bin`):
/// the host checks a command's path against them before the boot.
pub const HOST_ROOT_MERGED: [&str; 4] = ["bin", "sbin", "lib", "lib64"];

/// The bounds every part of the protocol has.
pub trait Part: Debug + Clone + PartialEq + Serialize + DeserializeOwned + Send + 'static {}
impl<T: Debug + Clone + PartialEq + Serialize + DeserializeOwned + Send + 'static> Part for T {}

/// What one module's suite adds to the protocol.
pub trait Extension: Debug + Clone + PartialEq + Send + 'static {
    /// Requests only this suite's agent plug-in understands.
    type Command: Part;
    /// Their answers.
    type Reply: Part;
    /// What the plug-in sends unasked (events, notifications).
    type Message: Part;
    /// What the plug-in reports once it is ready.
    type Ready: Part;
}

/// No extension: the core protocol alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoExtension {}

impl Extension for NoExtension {
    type Command = Nothing;
    type Reply = Nothing;
    type Message = Nothing;
    type Ready = ();
}

/// A value that never exists: the commands, replies and messages of
/// [`NoExtension`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Nothing {}

/// Agent -> host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "msg", rename_all = "snake_case", bound = "")]
pub enum AgentMsg<X: Extension> {
    /// Sent once, when the agent and its plug-in are listening.
    Ready(Ready<X>),
    /// Sent by an agent booted with [`crate::BootConfig::deferred`] once
    /// its network and port are up: it waits for [`Command::Resume`], and
    /// sends [`AgentMsg::Ready`] after it.
    Booted(Booted),
    /// The answer to the request with this id.
    Reply {
        /// The request's id.
        id: u64,
        /// What it gave, or why it failed.
        result: Result<Reply<X>, Failure>,
    },
    /// A problem the agent survived, for the host's log.
    Warning {
        /// What happened.
        message: String,
    },
    /// What a group joined by [`Command::GenlSubscribe`] carried.
    Genl(GenlDelivery),
    /// What the groups joined by [`Command::NetlinkSubscribe`] carried.
    Netlink(NetlinkDelivery),
    /// The plug-in's own message.
    Ext {
        /// The message.
        ext: X::Message,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
/// What the agent reports once it is ready.
pub struct Ready<X: Extension> {
    /// Guest CLOCK_BOOTTIME when the agent became ready.
    pub boot_ms: u64,
    /// `uname -r` in the guest.
    pub kernel: String,
    /// The interface index of the wire's `eth0`.
    pub eth0_ifindex: u32,
    /// The interface index of `lo`.
    pub lo_ifindex: u32,
    /// What the plug-in reports.
    pub ext: X::Ready,
}

/// What a guest is once it has booted, before the test's modules: the
/// part of [`Ready`] that no module or plug-in changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booted {
    /// Guest CLOCK_BOOTTIME when the agent had booted.
    pub boot_ms: u64,
    /// `uname -r` in the guest.
    pub kernel: String,
}

/// The test's part of a guest booted with [`crate::BootConfig::deferred`]:
/// what its image and command line would otherwise have carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestSetup {
    /// Files written before anything loads: the test's modules.
    pub files: Vec<GuestFileBytes>,
    /// Loaded in this order, before the module under test: one
    /// [`crate::preload_line`] each.
    pub preload: Vec<String>,
    /// The module under test's guest path, loaded last, as
    /// [`crate::BootConfig::module`].
    pub module: Option<String>,
    /// The suite's settings, as [`crate::BootConfig::extension`].
    pub extension: std::collections::BTreeMap<String, String>,
}

/// A file the host gives the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestFileBytes {
    /// Its absolute guest path; missing directories are made.
    pub path: String,
    /// What it holds.
    #[serde(with = "hex")]
    pub bytes: Vec<u8>,
}

/// Host -> agent: a numbered request answered by one `AgentMsg::Reply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Request<X: Extension> {
    /// Numbers the request; its reply carries the same.
    pub id: u64,
    /// What to do.
    pub cmd: Command<X>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", bound = "")]
/// What the host asks the agent to do.
pub enum Command<X: Extension> {
    /// Send `count` ICMP echo requests to 127.0.0.1 with this id (seq 1..=count).
    PingLoopback {
        /// The echo identifier.
        id: u16,
        /// How many requests.
        count: u16,
    },
    /// Read a whole file; the reply is [`Reply::Text`].
    ReadFile {
        /// Absolute guest path.
        path: String,
    },
    /// Every regular file under `dir` and its subdirectories whose name
    /// ends with `suffix`, as bytes (a module's coverage counters, the
    /// `.gcda` files under debugfs' `gcov/`); the reply is
    /// [`Reply::Files`]. A missing `dir` is no file.
    ReadFiles {
        /// Absolute guest path.
        dir: String,
        /// How the files' names end (`.gcda`).
        suffix: String,
    },
    /// One write() of `data`, as `echo data > path` does.
    WriteFile {
        /// Absolute guest path.
        path: String,
        /// What to write.
        data: String,
        /// How long the write may take, when longer than [`patience`]
        /// allows (a kmemleak scan on a debug kernel).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        patience_ms: Option<u64>,
    },
    /// Run a program (no shell: `argv[0]` is its path) with stdin from
    /// /dev/null. Once `timeout_ms` pass it is killed with SIGKILL; when it
    /// ends, whatever it left running in its process group is killed too.
    Run {
        /// The program and its arguments.
        argv: Vec<String>,
        /// How long it may run.
        timeout_ms: u64,
        /// Run it in network and user namespaces of its own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        netns: Option<Netns>,
        /// Variables added to its environment, `NAME=VALUE`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        env: Vec<String>,
    },
    /// Start a program as [`Command::Run`] does, but leave it running: the
    /// reply, [`Reply::Started`], comes once it has written its first line
    /// to stdout (its word that it is ready) or `ready_timeout_ms` passed.
    /// A program that ends first is an error carrying what it wrote.
    Start {
        /// The program and its arguments.
        argv: Vec<String>,
        /// How long it may take to say it is ready.
        ready_timeout_ms: u64,
        /// Run it in network and user namespaces of its own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        netns: Option<Netns>,
    },
    /// What a program [`Command::Start`] began has written to stdout so
    /// far (it goes on running); the reply is [`Reply::Text`].
    Output {
        /// Its process id, from [`Reply::Started`].
        pid: u32,
    },
    /// Send `signal` to a program [`Command::Start`] began, wait for it to
    /// end (SIGKILL to its process group after 10 s), and reply with
    /// [`Reply::Ran`]: everything it wrote, its first line included.
    Stop {
        /// Its process id, from [`Reply::Started`].
        pid: u32,
        /// The signal (`SIGKILL` for a crash, `SIGTERM` to ask).
        signal: i32,
    },
    /// Join multicast group `group` of generic netlink family `family`:
    /// from the reply on, what the group carries comes as
    /// [`AgentMsg::Genl`].
    GenlSubscribe {
        /// The family's name.
        family: String,
        /// The multicast group's name.
        group: String,
    },
    /// Join multicast groups `groups` (numbered from 1) of netlink
    /// protocol `protocol` (a module's own unit, `NETLINK_CONNECTOR`,
    /// `NETLINK_KOBJECT_UEVENT`...) on a socket of their own: from the reply
    /// on, each datagram they carry comes as [`AgentMsg::Netlink`].
    NetlinkSubscribe {
        /// The protocol number (`socket(AF_NETLINK, SOCK_RAW, protocol)`).
        protocol: u32,
        /// The groups, each at least 1.
        groups: Vec<u32>,
    },
    /// Send one message to the kernel's socket of a netlink protocol, on a
    /// socket of its own, and gather what answered it; the reply is
    /// [`Reply::Netlink`].
    NetlinkRequest(NetlinkRequest),
    /// Send one generic netlink request; the reply is [`Reply::Genl`].
    GenlRequest(GenlRequest),
    /// Send each message in turn on a socket of its own, as they are (to
    /// see what the family makes of malformed ones), and gather what
    /// answered each; the reply is [`Reply::GenlBurst`], in the same order.
    GenlBurst(GenlBurst),
    /// Open a device node and make each call on it in turn, in a helper
    /// process that blocks every signal it can; the reply is
    /// [`Reply::DeviceBurst`].
    DeviceBurst(DeviceBurst),
    /// Load the kernel module in the guest file `path` (finit_module) with
    /// these parameters (`name=value`, space-separated).
    LoadModule {
        /// The module file in the guest.
        path: String,
        /// Its parameters.
        params: String,
    },
    /// Unload module `name` (delete_module, not waiting for its users).
    UnloadModule {
        /// The module's name (as `lsmod` shows it).
        name: String,
    },
    /// Run `/bin/sh -i` on the virtio-serial port named [`SHELL_PORT`]
    /// (its input, output and errors), for a person at the host's end; the
    /// reply comes once the shell has exited, and nothing else is served
    /// until then.
    Shell,
    /// The kernel's log buffer, every message at every level, as
    /// `dmesg -r` prints it (`<level>[uptime] text`); the console shows
    /// only what passes its loglevel. The reply is [`Reply::Text`].
    KernelLog,
    /// Mount the host's root file system, shared as [`HOST_ROOT_TAG`],
    /// read-only at [`HOST_ROOT_DIR`], and lay its `/usr` over the
    /// image's: each name of `/usr/bin`, `/usr/sbin`, `/usr/lib` and
    /// `/usr/lib64` the image's `/bin`, `/sbin`, `/lib` and `/lib64` lack
    /// becomes a link to it (a merged `/usr`, as Debian's), so the host's
    /// tools run at their host paths. Sent after the guest is ready (or
    /// restored): QEMU cannot save a guest while its 9p share is mounted.
    MountHostRoot,
    /// Power the guest off.
    Shutdown,
    /// The test's modules and settings, for an agent that sent
    /// [`AgentMsg::Booted`]: it writes the files and replies, then loads the
    /// modules and starts its plug-in as a boot would, and sends
    /// [`AgentMsg::Ready`]. A module that fails to load ends the guest, as
    /// at boot.
    Resume(TestSetup),
    /// The guest was restored from a saved VM rather than booted: every
    /// guest restored from one file would otherwise share its random
    /// state and its wall clock. Mixes `seed` into the kernel's entropy
    /// and reseeds its random generator at once, then sets the wall clock.
    Restored {
        /// Fresh random bytes from the host.
        #[serde(with = "hex")]
        seed: Vec<u8>,
        /// The host's wall clock, in nanoseconds since the Unix epoch.
        realtime_ns: u64,
    },
    /// A request for the plug-in.
    Ext {
        /// The request.
        ext: X::Command,
    },
}

impl<X: Extension> Command<X> {
    /// The request in words, for messages a user reads.
    pub fn describe(&self) -> String {
        match self {
            Self::PingLoopback { count, .. } => format!("ping 127.0.0.1 {count} times"),
            Self::ReadFile { path } => format!("read {path}"),
            Self::ReadFiles { dir, suffix } => format!("read the {suffix} files under {dir}"),
            Self::WriteFile { path, .. } => format!("write to {path}"),
            Self::Run { argv, .. } => format!("run `{}`", argv.join(" ")),
            Self::Start { argv, .. } => format!("start `{}`", argv.join(" ")),
            Self::Output { pid } => format!("read the output of program {pid}"),
            Self::Stop { pid, signal } => format!("stop program {pid} with signal {signal}"),
            Self::GenlSubscribe { family, group } => format!("join group {group} of generic netlink family {family}"),
            Self::NetlinkSubscribe { protocol, groups } => {
                format!("join groups {groups:?} of netlink protocol {protocol}")
            }
            Self::NetlinkRequest(request) => {
                format!("send a message of type {:#x} to netlink protocol {}", request.nlmsg_type, request.protocol)
            }
            Self::GenlRequest(request) => {
                format!("send command {} to generic netlink family {}", request.command, request.family)
            }
            Self::GenlBurst(burst) => {
                format!("send {} messages to generic netlink family {}", burst.messages.len(), burst.family)
            }
            Self::DeviceBurst(burst) => format!("make {} calls on {}", burst.calls.len(), burst.path),
            Self::LoadModule { path, .. } => format!("load {path}"),
            Self::UnloadModule { name } => format!("unload {name}"),
            Self::Shell => "run a shell".into(),
            Self::KernelLog => "read the kernel log".into(),
            Self::MountHostRoot => format!("mount the host's root at {HOST_ROOT_DIR}"),
            Self::Shutdown => "power off".into(),
            Self::Resume(setup) => format!("take the test's {} files and load its modules", setup.files.len()),
            Self::Restored { .. } => "set the clock and random state of a restored guest".into(),
            Self::Ext { .. } => "the plug-in's request".into(),
        }
    }
}

impl<X: Extension> Reply<X> {
    /// The kind of answer, for the message when it is not the one expected.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Text(_) => "a text",
            Self::Files(_) => "files",
            Self::Ran(_) => "a program's end",
            Self::Started { .. } => "a started program",
            Self::Genl(_) => "generic netlink messages",
            Self::Netlink(_) => "netlink datagrams",
            Self::GenlBurst(_) => "a generic netlink burst's answers",
            Self::DeviceBurst(_) => "a device burst's answers",
            Self::Ext(_) => "the plug-in's answer",
        }
    }
}

/// Why the agent did not do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// How the request ended.
    pub kind: FailureKind,
    /// What happened, in words.
    pub message: String,
}

/// How a request failed: refused, or failed by the kernel it entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Refused (an errno, a missing file): the guest is fine, and a test
    /// may have wanted the refusal.
    Refused,
    /// The process making the request died in the kernel: an Oops in the
    /// code it entered. The agent goes on serving.
    Died,
    /// The process making the request is stuck in the kernel, or did not
    /// finish within [`patience`]; the message names where it waits.
    Stuck,
}

/// How long the agent lets a request that enters the module under test
/// (or a program it runs, once killed) take before it says where it is
/// stuck; a burst of `count` messages gets 10 ms more for each.
pub const fn patience(count: usize) -> Duration {
    Duration::from_secs(15).saturating_add(Duration::from_millis(10 * count as u64))
}

/// How a [`Failure`]'s message begins when the agent's child making the
/// request died in the kernel (`... was killed by SIGKILL`), and when it
/// was stuck there (`... within 15s: stuck in ...`): the host tells a
/// module's failed load by them.
pub const CHILD_DIED: &str = "the process making the request was killed by ";
/// See [`CHILD_DIED`].
pub const CHILD_STUCK: &str = "not done within ";

/// How much longer than [`patience`] the host waits for an answer: the
/// agent's reply has to cross the port of a guest under emulation.
pub const ANSWER_MARGIN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", bound = "")]
/// The agent's answer to a [`Command`].
pub enum Reply<X: Extension> {
    /// Done, nothing to report.
    Done,
    /// A file's contents.
    Text(String),
    /// The files a [`Command::ReadFiles`] found, in path order.
    Files(Vec<FileBytes>),
    /// How a program ended and what it wrote.
    Ran(Ran),
    /// A program [`Command::Start`] began is running and said it is ready.
    Started {
        /// Its process id, for [`Command::Stop`].
        pid: u32,
        /// Its first line, without the newline.
        first_line: String,
    },
    /// The messages that answered a [`Command::GenlRequest`]: one for a
    /// plain request (none if the kernel only acknowledged), all of a dump.
    Genl(Vec<GenlMessage>),
    /// The datagrams that answered a [`Command::NetlinkRequest`], in order:
    /// up to the ACK or error of its sequence number (or `NLMSG_DONE`), or,
    /// from a module that answers without one, until it fell silent.
    Netlink(Vec<NetlinkDelivery>),
    /// What answered each message of a [`Command::GenlBurst`].
    GenlBurst(Vec<GenlAnswer>),
    /// What each call of a [`Command::DeviceBurst`] returned.
    DeviceBurst(DeviceAnswers),
    /// The plug-in's answer.
    Ext(X::Reply),
}

/// One file a [`Command::ReadFiles`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileBytes {
    /// Its path under the directory asked for, without a leading `/`.
    pub path: String,
    /// What it holds.
    #[serde(with = "hex")]
    pub bytes: Vec<u8>,
}

/// A generic netlink request, sent to the family by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenlRequest {
    /// The family's name, resolved in the guest.
    pub family: String,
    /// The generic netlink header's command.
    pub command: u8,
    /// The generic netlink header's version.
    pub version: u8,
    /// Ask for a dump (`NLM_F_DUMP`) rather than one reply.
    pub dump: bool,
    /// The attributes, encoded (padded netlink attributes).
    #[serde(with = "hex")]
    pub attrs: Vec<u8>,
}

/// Raw messages for one generic netlink family, sent one by one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenlBurst {
    /// The family's name, resolved in the guest; its id goes into every
    /// message's `nlmsg_type`.
    pub family: String,
    /// The messages, in order.
    pub messages: Vec<RawGenl>,
    /// Send them as uid and gid [`NOBODY`] without capabilities, on a
    /// socket that user opened, rather than as root.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unprivileged: bool,
}

/// The user and group id an unprivileged [`GenlBurst`] or [`DeviceBurst`]
/// runs as, and what root in a program's own user namespace ([`Netns`]) is
/// outside it.
pub const NOBODY: u32 = 65534;

/// A network namespace of a program's own, owned by a user namespace of
/// its own, and linked to the wire by a veth pair.
///
/// Inside, the program is root (uid and gid 0, with every capability over
/// its namespaces) and sees `lo` and `eth0`, its end of the pair, with
/// `address`. Outside, it is [`NOBODY`]. The guest forwards between the
/// wire and the pair: frames sent to the guest's MAC for `address` reach
/// the program, and the program reaches the wire's other hosts. The pair
/// and the route go when the namespace does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Netns {
    /// The program's address on the wire: in the wire's subnet, and
    /// neither the guest's nor the peer's.
    pub address: Ipv4Addr,
    /// The wire's prefix length.
    pub prefix: u8,
}

/// System calls on one open device node, made in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceBurst {
    /// The node, opened read-write and non-blocking (no call may wait).
    pub path: String,
    /// The calls.
    pub calls: Vec<DeviceCall>,
    /// Run as uid and gid [`NOBODY`] without capabilities, rather than
    /// as root.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unprivileged: bool,
}

/// One system call on the open device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceCall {
    /// `ioctl(fd, request, arg)`.
    Ioctl {
        /// The request number.
        request: u32,
        /// The argument.
        arg: DeviceArg,
    },
    /// `read(fd, buf, len)`.
    Read {
        /// Bytes asked for.
        len: u64,
        /// Where to.
        buf: DeviceArg,
    },
    /// `write(fd, buf, len)`.
    Write {
        /// Bytes offered.
        len: u64,
        /// From where.
        buf: DeviceArg,
    },
    /// `mmap(NULL, len, prot, MAP_SHARED or MAP_PRIVATE, fd, offset)`,
    /// unmapped again at once when it succeeds.
    Mmap {
        /// The length.
        len: u64,
        /// The file offset.
        offset: u64,
        /// `PROT_*` bits.
        prot: i32,
        /// `MAP_SHARED` rather than `MAP_PRIVATE`.
        shared: bool,
    },
    /// `poll` with a zero timeout; the answer is `revents`.
    Poll {
        /// The events asked for.
        events: i16,
    },
    /// Close the device and open it again: the file's state starts over.
    Reopen,
}

/// A pointer or number handed to the kernel. Every buffer lies in an
/// arena followed by an inaccessible guard region, so that no length the
/// kernel is given lets it write over the helper's own memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceArg {
    /// A null pointer.
    Null,
    /// A pointer into the guard region, where nothing may be read or
    /// written.
    Unmapped,
    /// A kernel address (the start of x86-64's direct map).
    Kernel,
    /// A pointer `offset` bytes into the arena, with `bytes` written there
    /// first (the rest is whatever earlier calls left).
    Buffer {
        /// Where in the arena (alignment included).
        offset: u32,
        /// What to put there (hex in JSON).
        #[serde(with = "hex")]
        bytes: Vec<u8>,
    },
    /// A plain number.
    Value(u64),
}

/// As C spells the call: `ioctl(fd, 0x40086b01, NULL)`.
impl std::fmt::Display for DeviceCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ioctl { request, arg } => write!(f, "ioctl(fd, {request:#x}, {arg})"),
            Self::Read { len, buf } => write!(f, "read(fd, {buf}, {len})"),
            Self::Write { len, buf } => write!(f, "write(fd, {buf}, {len})"),
            Self::Mmap { len, offset, prot, shared } => {
                let flags = if *shared { "MAP_SHARED" } else { "MAP_PRIVATE" };
                write!(f, "mmap(NULL, {len}, {prot:#x}, {flags}, fd, {offset})")
            }
            Self::Poll { events } => write!(f, "poll(fd, {events:#x})"),
            Self::Reopen => f.write_str("close(fd) and open again"),
        }
    }
}

/// As C spells the argument: `NULL`, a buffer of the arena, a number.
impl std::fmt::Display for DeviceArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Null => f.write_str("NULL"),
            Self::Unmapped => f.write_str("an unmapped address"),
            Self::Kernel => f.write_str("a kernel address"),
            Self::Buffer { offset, bytes } => write!(f, "a buffer at arena+{offset} holding {} bytes", bytes.len()),
            Self::Value(value) => write!(f, "{value:#x}"),
        }
    }
}

/// The size of the arena [`DeviceArg::Buffer`] points into.
pub const DEVICE_ARENA: u32 = 1 << 20;

/// What a [`DeviceBurst`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAnswers {
    /// The first `open`: 0, or the negative errno it failed with (then no
    /// call was made).
    pub opened: i64,
    /// Each call's return value, or its negative errno (`-EBADF` after a
    /// failed reopen), in order.
    pub results: Vec<i64>,
    /// The signal that killed the helper, if one did: the results stop
    /// at the call it was making.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub killed_by: Option<i32>,
}

/// A netlink message whose header the agent writes (type, sequence number,
/// length) and whose body is sent as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawGenl {
    /// `nlmsg_flags`.
    pub flags: u16,
    /// What follows the netlink header: a generic netlink header and
    /// attributes, well-formed or not (hex in JSON).
    #[serde(with = "hex")]
    pub body: Vec<u8>,
    /// Added to the true `nlmsg_len`: a header that lies about its length.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub len_delta: i32,
}

/// What came back for one message of a burst: everything the socket held
/// once the kernel had taken the message in (generic netlink handles a
/// request while it is sent, and a dump while it is read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenlAnswer {
    /// The `NLMSG_ERROR` that answered it: 0 an ACK, else a negative errno.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<i32>,
    /// Data messages that answered it: a reply, or a dump's parts.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub replies: u32,
    /// An `NLMSG_DONE` ended a dump.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub done: bool,
    /// `sendmsg` itself failed with this errno.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_errno: Option<i32>,
}

fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

/// One generic netlink message: its header's command and version, and its
/// attributes as bytes (hex in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenlMessage {
    /// The generic netlink header's command.
    pub command: u8,
    /// The generic netlink header's version.
    pub version: u8,
    #[serde(with = "hex")]
    /// The attributes, encoded (hex in JSON).
    pub attrs: Vec<u8>,
}

/// Something a subscribed multicast group carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenlDelivery {
    /// The family's name.
    pub family: String,
    /// The multicast group's name.
    pub group: String,
    /// What it carried.
    pub event: GenlEvent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// What one subscription delivered.
pub enum GenlEvent {
    /// A message, in the order the group carried it.
    Message(GenlMessage),
    /// The agent's socket overran: the kernel dropped messages here.
    Lost,
}

/// One message for a netlink protocol's kernel socket: the agent puts the
/// header (with `NLM_F_REQUEST` and a sequence number of its own) around
/// the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetlinkRequest {
    /// The protocol number.
    pub protocol: u32,
    /// `nlmsg_type`.
    pub nlmsg_type: u16,
    /// `nlmsg_flags` besides `NLM_F_REQUEST` (`NLM_F_ACK`, say).
    pub flags: u16,
    /// What follows the header (hex in JSON).
    #[serde(with = "hex")]
    pub payload: Vec<u8>,
}

/// What the groups of one [`Command::NetlinkSubscribe`] carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetlinkDelivery {
    /// The protocol number.
    pub protocol: u32,
    /// What came.
    pub event: NetlinkEvent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// What one protocol subscription delivered.
pub enum NetlinkEvent {
    /// One datagram as it came (netlink messages, or a uevent's text), in
    /// the order the groups carried them.
    Datagram {
        /// The groups it was sent to, as the sender's address has them (a
        /// bit for each group, group 1 the lowest; 0 for groups above 32).
        groups: u32,
        /// Its bytes (hex in JSON).
        #[serde(with = "hex")]
        bytes: Vec<u8>,
    },
    /// The agent's socket overran: the kernel dropped datagrams here.
    Lost,
}

/// The most of each of stdout and stderr a [`Ran`] keeps.
pub const OUTPUT_LIMIT: usize = 1 << 20;

/// How a program run by [`Command::Run`] ended, and what it wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ran {
    /// Its exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// It outlived its timeout and was killed.
    pub timed_out: bool,
    /// What it wrote, as UTF-8 (invalid bytes replaced), at most
    /// [`OUTPUT_LIMIT`] bytes of each.
    pub stdout: String,
    /// What it wrote to stderr (as stdout above).
    pub stderr: String,
    /// It wrote more than [`OUTPUT_LIMIT`] bytes to stdout or stderr.
    pub truncated: bool,
}

impl Ran {
    /// It exited by itself with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Toy;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "cmd", rename_all = "snake_case")]
    enum ToyCommand {
        Count { of: String },
    }

    impl Extension for Toy {
        type Command = ToyCommand;
        type Reply = u64;
        type Message = String;
        type Ready = Vec<String>;
    }

    fn round_trip<T: Part>(value: T) -> String {
        let line = serde_json::to_string(&value).unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<T>(&line).unwrap(), value);
        line
    }

    #[test]
    fn core_and_extension_messages_are_single_json_lines_that_round_trip() {
        let ready = AgentMsg::<Toy>::Ready(Ready {
            boot_ms: 5,
            kernel: "6.1".into(),
            eth0_ifindex: 2,
            lo_ifindex: 1,
            ext: vec!["a".into()],
        });
        round_trip(ready);
        round_trip(AgentMsg::<Toy>::Reply { id: 9, result: Ok(Reply::Ext(4)) });
        round_trip(AgentMsg::<Toy>::Reply {
            id: 10,
            result: Err(Failure { kind: FailureKind::Stuck, message: "stuck in nw_write [nullwrite]".into() }),
        });
        let line = round_trip(AgentMsg::<Toy>::Ext { ext: "hello".into() });
        assert_eq!(line, r#"{"msg":"ext","ext":"hello"}"#);

        let req = Request::<Toy> { id: 1, cmd: Command::Ext { ext: ToyCommand::Count { of: "x".into() } } };
        assert_eq!(round_trip(req), r#"{"id":1,"cmd":{"cmd":"ext","ext":{"cmd":"count","of":"x"}}}"#);
        let req = Request::<NoExtension> { id: 2, cmd: Command::ReadFile { path: "/proc/version".into() } };
        assert_eq!(round_trip(req), r#"{"id":2,"cmd":{"cmd":"read_file","path":"/proc/version"}}"#);
        let req = Request::<NoExtension> {
            id: 3,
            cmd: Command::Run { argv: vec!["/bin/sh".into()], timeout_ms: 5, netns: None, env: Vec::new() },
        };
        assert_eq!(round_trip(req), r#"{"id":3,"cmd":{"cmd":"run","argv":["/bin/sh"],"timeout_ms":5}}"#);
        let netns = Some(Netns { address: Ipv4Addr::new(192, 0, 2, 100), prefix: 24 });
        let req = Request::<NoExtension> {
            id: 4,
            cmd: Command::Start { argv: vec!["/a".into()], ready_timeout_ms: 5, netns },
        };
        assert_eq!(
            round_trip(req),
            r#"{"id":4,"cmd":{"cmd":"start","argv":["/a"],"ready_timeout_ms":5,"netns":{"address":"192.0.2.100","prefix":24}}}"#
        );
        let ran = Ran {
            code: None,
            signal: Some(9),
            timed_out: true,
            stdout: "a\n".into(),
            stderr: String::new(),
            truncated: false,
        };
        assert!(!ran.success());
        round_trip(AgentMsg::<NoExtension>::Reply { id: 3, result: Ok(Reply::Ran(ran)) });

        let message = GenlMessage { command: 1, version: 1, attrs: vec![8, 0, 1, 0, 0xff, 0, 0, 0] };
        let delivery = GenlDelivery {
            family: "udpcount".into(),
            group: "notify".into(),
            event: GenlEvent::Message(message.clone()),
        };
        let line = round_trip(AgentMsg::<NoExtension>::Genl(delivery));
        assert!(line.contains(r#""attrs":"08000100ff000000""#), "{line}");
        let datagram = NetlinkEvent::Datagram { groups: 1 << 13, bytes: b"add@/module/x\0".to_vec() };
        let line = round_trip(AgentMsg::<NoExtension>::Netlink(NetlinkDelivery { protocol: 15, event: datagram }));
        assert!(line.contains(r#""bytes":"616464402f6d6f64756c652f7800""#), "{line}");
        let line = round_trip(Request::<NoExtension> {
            id: 5,
            cmd: Command::NetlinkSubscribe { protocol: 11, groups: vec![14] },
        });
        assert!(line.contains(r#""cmd":"netlink_subscribe","protocol":11,"groups":[14]"#), "{line}");
        let request = GenlRequest { family: "kulink".into(), command: 4, version: 1, dump: false, attrs: Vec::new() };
        let line = round_trip(Request::<NoExtension> { id: 4, cmd: Command::GenlRequest(request) });
        assert_eq!(
            line,
            r#"{"id":4,"cmd":{"cmd":"genl_request","family":"kulink","command":4,"version":1,"dump":false,"attrs":""}}"#
        );
    }

    #[test]
    fn a_core_agent_refuses_extension_lines_as_bad_json() {
        let line = r#"{"id":1,"cmd":{"cmd":"ext","ext":{"cmd":"count","of":"x"}}}"#;
        assert!(serde_json::from_str::<Request<NoExtension>>(line).is_err());
    }
}
