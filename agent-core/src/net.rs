//! Network set-up over rtnetlink: `lo` up, `eth0` up with its address.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::{Context, Result};
use futures::TryStreamExt;
use rtnetlink::{Handle, LinkUnspec};

pub struct Links {
    pub lo: u32,
    pub eth0: u32,
}

pub(crate) async fn index_of(handle: &Handle, name: &str) -> Result<u32> {
    let mut links = handle.link().get().match_name(name.to_owned()).execute();
    let link = links.try_next().await.with_context(|| format!("look up link {name}"))?;
    Ok(link.with_context(|| format!("no link named {name}"))?.header.index)
}

pub(crate) async fn set_up(handle: &Handle, index: u32) -> Result<()> {
    handle.link().set(LinkUnspec::new_with_index(index).up().build()).execute().await?;
    Ok(())
}

/// Brings `lo` up in the caller's network namespace (a new one starts down).
pub async fn loopback_up() -> Result<()> {
    let (connection, handle, _) = rtnetlink::new_connection().context("rtnetlink socket")?;
    let conn = tokio::spawn(connection);
    let result = set_up(&handle, index_of(&handle, "lo").await?).await.context("bring lo up");
    conn.abort();
    result
}

pub async fn configure(addr: Ipv4Addr, prefix: u8) -> Result<Links> {
    let (connection, handle, _) = rtnetlink::new_connection().context("rtnetlink socket")?;
    let conn = tokio::spawn(connection);
    let lo = index_of(&handle, "lo").await?;
    let eth0 = index_of(&handle, "eth0").await?;
    set_up(&handle, lo).await.context("bring lo up")?;
    handle
        .address()
        .add(eth0, IpAddr::V4(addr), prefix)
        .execute()
        .await
        .with_context(|| format!("add {addr}/{prefix} to eth0"))?;
    set_up(&handle, eth0).await.context("bring eth0 up")?;
    conn.abort();
    Ok(Links { lo, eth0 })
}
