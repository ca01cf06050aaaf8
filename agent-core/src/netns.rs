//! Programs in network and user namespaces of their own, linked to the
//! wire by a veth pair (see [`Netns`]).
//!
//! The program's own process makes its namespaces, between fork and exec:
//! it becomes [`NOBODY`], unshares a user and a network namespace (so the
//! user namespace owns the network one: the program administers its own
//! network and nothing else) and maps itself to root there, as
//! `unshare -Urn` does. Then it waits while the agent, root outside, links
//! the new namespace to the wire, and only then does it exec the program.
//! Between fork and exec only async-signal-safe calls are allowed: raw
//! system calls, on buffers made before the fork.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use kulink_protocol::{Netns, NOBODY};
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::CloneFlags;
use rtnetlink::packet_route::link::{InfoData, InfoVeth};
use rtnetlink::{LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::net;

/// The program's end of the pair, as it sees it.
pub const INNER_LINK: &str = "eth0";

/// How long the agent waits for the child to make its namespaces.
const UNSHARE_TIMEOUT: Duration = Duration::from_secs(10);

/// Spawns `command` into namespaces of its own, linked to the wire as
/// `netns` says; fails, saying why, if they cannot be made or linked.
pub fn spawn(command: &mut tokio::process::Command, netns: Netns) -> Result<tokio::process::Child> {
    let (unshared_rx, unshared_tx) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe")?;
    let (linked_rx, linked_tx) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("pipe")?;
    let id_map = format!("0 {NOBODY} 1").into_bytes();
    let (unshared, linked) = (unshared_tx.as_raw_fd(), linked_rx.as_raw_fd());
    // SAFETY: the closure makes only raw system calls, on descriptors that
    // stay open until the spawn returns and on a buffer it owns.
    unsafe { command.pre_exec(move || enter_own_namespaces(&id_map, unshared, linked)) };
    // The spawn returns only once the child has exec'd, after its link is
    // up: the link is made on a thread of its own meanwhile.
    let linking = std::thread::Builder::new()
        .name("netns-link".into())
        .spawn(move || -> Result<()> {
            let pid = read_pid(&unshared_rx)?;
            link(pid, netns)?;
            nix::unistd::write(&linked_tx, b"1").context("tell the program its link is up")?;
            Ok(())
        })
        .context("cannot start a thread")?;
    let spawned = command.spawn();
    // A child that failed before saying its pid: the linking thread reads
    // end of file once these are closed too.
    drop((unshared_tx, linked_rx));
    let linked = linking.join().unwrap_or_else(|_| Err(anyhow::anyhow!("linking the namespace panicked")));
    match (spawned, linked) {
        (Ok(child), Ok(())) => Ok(child),
        // Linked, then exec failed: the program's own error.
        (Err(e), Ok(())) => Err(e.into()),
        // The child failed to make its namespaces; the linking thread only
        // saw it go.
        (Err(e), Err(_)) if e.raw_os_error() != Some(libc::ENOLINK) => {
            Err(anyhow::Error::from(e).context("make the program's user and network namespaces"))
        }
        // The namespaces could not be linked: the linking thread says why.
        (_, Err(why)) => Err(why),
    }
}

/// The child: NOBODY, then root in user and network namespaces of its own;
/// says its pid and waits for its link.
fn enter_own_namespaces(id_map: &[u8], unshared: RawFd, linked: RawFd) -> io::Result<()> {
    let id = libc::c_long::from(NOBODY);
    // SAFETY: raw system calls on the calling process's own credentials
    // (only this thread exists after fork); the group list is empty.
    unsafe {
        check(libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()))?;
        check(libc::syscall(libc::SYS_setresgid, id, id, id))?;
        check(libc::syscall(libc::SYS_setresuid, id, id, id))?;
        // Changing uid made the process undumpable, its /proc files root's:
        // it must write its own maps.
        check(libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0).into())?;
        check(libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET).into())?;
    }
    write_file(c"/proc/self/uid_map", id_map)?;
    write_file(c"/proc/self/setgroups", b"deny")?;
    write_file(c"/proc/self/gid_map", id_map)?;
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() }.to_ne_bytes();
    // SAFETY: the pipe ends stay open in this process until exec, and the
    // buffers outlive the calls.
    unsafe {
        if libc::write(unshared, pid.as_ptr().cast(), pid.len()) != pid.len() as isize {
            return Err(io::Error::last_os_error());
        }
        let mut go = [0u8; 1];
        if libc::read(linked, go.as_mut_ptr().cast(), 1) != 1 {
            // The agent could not link the namespace; it says why.
            return Err(io::Error::from_raw_os_error(libc::ENOLINK));
        }
    }
    Ok(())
}

fn write_file(path: &CStr, data: &[u8]) -> io::Result<()> {
    // SAFETY: a NUL-terminated path, a buffer that outlives the write, and
    // a descriptor closed here.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let written = libc::write(fd, data.as_ptr().cast(), data.len());
        let err = io::Error::last_os_error();
        libc::close(fd);
        if written != data.len() as isize {
            return Err(err);
        }
    }
    Ok(())
}

fn check(rc: libc::c_long) -> io::Result<()> {
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The child's pid, once it has unshared; end of file if it failed first.
fn read_pid(unshared: &OwnedFd) -> Result<u32> {
    let mut fds = [PollFd::new(unshared.as_fd(), PollFlags::POLLIN)];
    let timeout = PollTimeout::try_from(UNSHARE_TIMEOUT).unwrap_or(PollTimeout::MAX);
    if poll(&mut fds, timeout).context("wait for the program's namespaces")? == 0 {
        bail!("the program did not make its namespaces within {UNSHARE_TIMEOUT:?}");
    }
    let mut pid = [0u8; 4];
    match nix::unistd::read(unshared, &mut pid).context("read the program's pid")? {
        4 => Ok(u32::from_ne_bytes(pid)),
        _ => bail!("the program ended before it made its namespaces"),
    }
}

/// Links the network namespace of `pid` to the wire: a veth pair, its
/// outer end forwarding and answering ARP for the wire (proxy ARP), a host
/// route to `netns.address`, and inside `lo` and `eth0` up with the address.
fn link(pid: u32, netns: Netns) -> Result<()> {
    let ns = File::open(format!("/proc/{pid}/ns/net")).context("open the program's network namespace")?;
    let outer = format!("kn{pid}");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let (connection, handle, _) = rtnetlink::new_connection().context("rtnetlink socket")?;
        let conn = tokio::spawn(connection);
        let peer = LinkUnspec::new_with_name(INNER_LINK).setns_by_fd(ns.as_raw_fd()).build();
        handle
            .link()
            .add(LinkVeth::new(&outer, INNER_LINK).set_info_data(InfoData::Veth(InfoVeth::Peer(peer))).build())
            .execute()
            .await
            .with_context(|| format!("add veth pair {outer}/{INNER_LINK} (does the kernel have CONFIG_VETH?)"))?;
        let index = net::index_of(&handle, &outer).await?;
        // Forwarding is decided by the interface a packet comes in on. Proxy
        // ARP answers at once rather than after up to 0.8 s.
        let settings = [
            (format!("conf/{outer}/proxy_arp"), "1"),
            (format!("neigh/{outer}/proxy_delay"), "0"),
            (format!("conf/{outer}/forwarding"), "1"),
            ("conf/eth0/forwarding".to_owned(), "1"),
        ];
        for (setting, value) in settings {
            let path = format!("/proc/sys/net/ipv4/{setting}");
            std::fs::write(&path, value).with_context(|| format!("write {value} to {path}"))?;
        }
        net::set_up(&handle, index).await.with_context(|| format!("bring {outer} up"))?;
        let route = RouteMessageBuilder::<std::net::Ipv4Addr>::new()
            .destination_prefix(netns.address, 32)
            .output_interface(index)
            .build();
        handle.route().add(route).execute().await.with_context(|| format!("route {} to {outer}", netns.address))?;
        conn.abort();
        anyhow::Ok(())
    })?;
    // This thread alone moves into the namespace, and ends there.
    nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET).context("enter the program's network namespace")?;
    runtime.block_on(async {
        let (connection, handle, _) = rtnetlink::new_connection().context("rtnetlink socket")?;
        let conn = tokio::spawn(connection);
        net::set_up(&handle, net::index_of(&handle, "lo").await?).await.context("bring lo up")?;
        let inner = net::index_of(&handle, INNER_LINK).await?;
        handle
            .address()
            .add(inner, netns.address.into(), netns.prefix)
            .execute()
            .await
            .with_context(|| format!("add {}/{} to {INNER_LINK}", netns.address, netns.prefix))?;
        net::set_up(&handle, inner).await.with_context(|| format!("bring {INNER_LINK} up"))?;
        conn.abort();
        anyhow::Ok(())
    })
}
