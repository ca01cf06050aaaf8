//! A cpio "newc" archive writer: what the kernel unpacks as an initramfs.

use std::io::{self, Write};

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;
const S_IFLNK: u32 = 0o120000;

pub enum Entry<'a> {
    Dir { path: &'a str, mode: u32 },
    File { path: &'a str, mode: u32, data: &'a [u8] },
    CharDev { path: &'a str, mode: u32, major: u32, minor: u32 },
    Symlink { path: &'a str, target: &'a str },
}

pub struct Writer<W: Write> {
    out: W,
    written: usize,
    next_ino: u32,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Self {
        Self { out, written: 0, next_ino: 1 }
    }

    pub fn add(&mut self, entry: &Entry<'_>) -> io::Result<()> {
        let (path, mode, data, rdev) = match *entry {
            Entry::Dir { path, mode } => (path, S_IFDIR | mode, &[][..], (0, 0)),
            Entry::File { path, mode, data } => (path, S_IFREG | mode, data, (0, 0)),
            Entry::CharDev { path, mode, major, minor } => (path, S_IFCHR | mode, &[][..], (major, minor)),
            Entry::Symlink { path, target } => (path, S_IFLNK | 0o777, target.as_bytes(), (0, 0)),
        };
        let nlink = if mode & S_IFDIR != 0 { 2 } else { 1 };
        let ino = self.next_ino;
        self.next_ino += 1;
        self.record(ino, mode, nlink, path, data, rdev)
    }

    fn record(&mut self, ino: u32, mode: u32, nlink: u32, name: &str, data: &[u8], rdev: (u32, u32)) -> io::Result<()> {
        let fields = [ino, mode, 0, 0, nlink, 0, data.len() as u32, 0, 0, rdev.0, rdev.1, name.len() as u32 + 1, 0];
        let mut header = String::from("070701");
        for f in fields {
            header.push_str(&format!("{f:08X}"));
        }
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len();
        Ok(())
    }

    fn pad(&mut self) -> io::Result<()> {
        let pad = (4 - self.written % 4) % 4;
        self.put(&[0; 3][..pad])
    }

    /// Writes the trailer and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.record(0, 0, 1, "TRAILER!!!", &[], (0, 0))?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(header: &[u8], index: usize) -> u32 {
        let start = 6 + index * 8;
        u32::from_str_radix(std::str::from_utf8(&header[start..start + 8]).unwrap(), 16).unwrap()
    }

    #[test]
    fn file_record_layout_is_newc() {
        let mut w = Writer::new(Vec::new());
        w.add(&Entry::File { path: "init", mode: 0o755, data: b"hello" }).unwrap();
        let out = w.finish().unwrap();
        assert_eq!(&out[..6], b"070701");
        assert_eq!(field(&out, 1), S_IFREG | 0o755);
        assert_eq!(field(&out, 6), 5, "file size");
        assert_eq!(field(&out, 11), 5, "name size includes the NUL");
        // 110-byte header + "init\0" = 115, padded to 116; data follows.
        assert_eq!(&out[110..115], b"init\0");
        assert_eq!(&out[116..121], b"hello");
        // data padded to 124, then the trailer.
        assert_eq!(&out[124..130], b"070701");
        assert_eq!(&out[124 + 110..124 + 120], b"TRAILER!!!");
        assert_eq!(out.len() % 4, 0);
    }

    #[test]
    fn device_nodes_and_dirs_carry_type_bits() {
        let mut w = Writer::new(Vec::new());
        w.add(&Entry::CharDev { path: "dev/console", mode: 0o600, major: 5, minor: 1 }).unwrap();
        let out = w.finish().unwrap();
        assert_eq!(field(&out, 1), S_IFCHR | 0o600);
        assert_eq!((field(&out, 9), field(&out, 10)), (5, 1));

        let mut w = Writer::new(Vec::new());
        w.add(&Entry::Dir { path: "proc", mode: 0o755 }).unwrap();
        let out = w.finish().unwrap();
        assert_eq!(field(&out, 1), S_IFDIR | 0o755);
        assert_eq!(field(&out, 4), 2, "directories have two links");
    }

    #[test]
    fn symlinks_carry_their_target_as_data() {
        let mut w = Writer::new(Vec::new());
        w.add(&Entry::Symlink { path: "sbin/x", target: "/init" }).unwrap();
        let out = w.finish().unwrap();
        assert_eq!(field(&out, 1), S_IFLNK | 0o777);
        assert_eq!(field(&out, 6), 5);
        // 110 + "sbin/x\0" = 117, padded to 120.
        assert_eq!(&out[120..125], b"/init");
    }

    #[test]
    fn cpio_tool_lists_what_we_wrote() {
        if std::process::Command::new("cpio").arg("--version").output().is_err() {
            eprintln!("cpio not installed; layout is covered by the other tests");
            return;
        }
        let mut w = Writer::new(Vec::new());
        w.add(&Entry::Dir { path: "lib", mode: 0o755 }).unwrap();
        w.add(&Entry::File { path: "lib/a.ko", mode: 0o644, data: &[1, 2, 3] }).unwrap();
        let out = w.finish().unwrap();
        let mut child = std::process::Command::new("cpio")
            .args(["-t", "--quiet"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&out).unwrap();
        let listing = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&listing.stdout), "lib\nlib/a.ko\n");
    }
}
