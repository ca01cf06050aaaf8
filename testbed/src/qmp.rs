//! QEMU's machine protocol (QMP), for the one thing the testbed asks of a
//! running QEMU: save the VM to a file and carry on.

use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use qapi::{qmp, Qmp, Stream};

/// How long saving a guest may take: it writes at most its memory.
const SAVE_TIMEOUT: Duration = Duration::from_secs(60);

/// A connected, negotiated QMP monitor.
pub struct Monitor(Qmp<Stream<BufReader<UnixStream>, UnixStream>>);

impl Monitor {
    /// Connects to the monitor QEMU serves at `socket` and leaves
    /// capability negotiation.
    pub fn connect(socket: &Path) -> Result<Self> {
        let stream = UnixStream::connect(socket).with_context(|| format!("connect to {}", socket.display()))?;
        stream.set_read_timeout(Some(SAVE_TIMEOUT))?;
        let reader = BufReader::new(stream.try_clone()?);
        let mut qmp = Qmp::new(Stream::new(reader, stream));
        qmp.handshake().context("QMP handshake")?;
        Ok(Self(qmp))
    }

    /// Pauses the guest, writes its whole state to `file` through QEMU's
    /// migration stream, and lets it run on. What a later QEMU started
    /// with the same devices and `-incoming` (see [`incoming_args`]) loads.
    pub fn save(&mut self, file: &Path) -> Result<()> {
        self.0.execute(&qmp::stop {}).context("QMP stop")?;
        let saved = self.migrate_to(file);
        // The guest runs on whatever came of the save.
        self.0.execute(&qmp::cont {}).context("QMP cont")?;
        saved
    }

    fn migrate_to(&mut self, file: &Path) -> Result<()> {
        // QEMU 7.2 has no file: migration; exec: runs a shell command.
        let uri = format!("exec:cat > {}", shell_quote(file)?);
        let migrate = qmp::migrate { uri: Some(uri), channels: None, detach: None, resume: None };
        self.0.execute(&migrate).context("QMP migrate")?;
        let deadline = Instant::now() + SAVE_TIMEOUT;
        loop {
            let info = self.0.execute(&qmp::query_migrate {}).context("QMP query-migrate")?;
            match info.status {
                Some(qmp::MigrationStatus::completed) => return Ok(()),
                Some(qmp::MigrationStatus::failed | qmp::MigrationStatus::cancelled) => {
                    bail!("saving the guest failed: {}", info.error_desc.unwrap_or_default())
                }
                _ if Instant::now() >= deadline => bail!("saving the guest took over {}s", SAVE_TIMEOUT.as_secs()),
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
}

/// QEMU arguments for a guest [`Monitor::save`] will save: a monitor at
/// `socket`, served without waiting for it, and a migration stream without
/// the run state. The guest is paused while it is saved, and a stream that
/// said so would leave every restored guest paused too.
pub fn saving_args(socket: &Path) -> Vec<std::ffi::OsString> {
    vec![
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", socket.display()).into(),
        "-global".into(),
        "migration.store-global-state=off".into(),
    ]
}

/// QEMU arguments that load a saved guest from `file` instead of booting.
pub fn incoming_args(file: &Path) -> Result<Vec<std::ffi::OsString>> {
    Ok(vec!["-incoming".into(), format!("exec:cat {}", shell_quote(file)?).into()])
}

/// `path` as one shell word: exec: URIs go through `/bin/sh -c`.
fn shell_quote(path: &Path) -> Result<String> {
    let text = path.to_str().context("a saved guest's path must be UTF-8")?;
    if text.contains('\'') {
        bail!("a saved guest's path may not contain a quote: {text}");
    }
    Ok(format!("'{text}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_one_shell_word() {
        assert_eq!(shell_quote(Path::new("/c/a b/vm.state")).unwrap(), "'/c/a b/vm.state'");
        assert!(shell_quote(Path::new("/c/it's")).is_err());
        let args = incoming_args(Path::new("/c/vm.state")).unwrap();
        assert_eq!(args, ["-incoming", "exec:cat '/c/vm.state'"]);
    }
}
