//! The generic netlink byte codec: message headers, attributes, nests.
//! Pure byte work, so the agent's socket code stays thin and this stays testable.

use std::fmt;

/// Length of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// Length of `struct genlmsghdr`.
pub const GENL_HDRLEN: usize = 4;
/// Length of `struct nlattr`.
pub const NLA_HDRLEN: usize = 4;

/// `nlmsg_flags`: a request.
pub const NLM_F_REQUEST: u16 = 0x1;
/// `nlmsg_flags`: ask for an acknowledgement.
pub const NLM_F_ACK: u16 = 0x4;
/// `nlmsg_flags` of an `NLMSG_ERROR`: only the request's header is echoed.
pub const NLM_F_CAPPED: u16 = 0x100;
/// `nlmsg_flags` of an `NLMSG_ERROR`: extended ACK attributes follow.
pub const NLM_F_ACK_TLVS: u16 = 0x200;
/// Extended ACK attribute: the kernel's reason, a NUL-terminated string.
pub const NLMSGERR_ATTR_MSG: u16 = 1;
/// `nlmsg_type`: nothing, to be skipped.
pub const NLMSG_NOOP: u16 = 0x1;
/// `nlmsg_type`: an error or acknowledgement (`struct nlmsgerr`).
pub const NLMSG_ERROR: u16 = 0x2;
/// `nlmsg_type`: the end of a dump.
pub const NLMSG_DONE: u16 = 0x3;
/// `NETLINK_CONNECTOR`, whose own messages are `NLMSG_DONE`.
pub const NETLINK_CONNECTOR: u32 = 11;
/// `NETLINK_KOBJECT_UEVENT`, whose datagrams are text, not netlink messages.
pub const NETLINK_KOBJECT_UEVENT: u32 = 15;
/// `nlmsg_type`: data was lost.
pub const NLMSG_OVERRUN: u16 = 0x4;
/// `nla_type` flag: the payload is nested attributes.
pub const NLA_F_NESTED: u16 = 1 << 15;
/// The bits of `nla_type` that number the attribute; the two above are flags.
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | (1 << 14));

/// The generic netlink controller's family id.
pub const GENL_ID_CTRL: u16 = 0x10;
/// Controller command: look up a family.
pub const CTRL_CMD_GETFAMILY: u8 = 3;
/// Controller attribute: the family's id (u16).
pub const CTRL_ATTR_FAMILY_ID: u16 = 1;
/// Controller attribute: the family's name (string).
pub const CTRL_ATTR_FAMILY_NAME: u16 = 2;
/// Controller attribute: the family's multicast groups (nested).
pub const CTRL_ATTR_MCAST_GROUPS: u16 = 7;
/// In a multicast group: its name (string).
pub const CTRL_ATTR_MCAST_GRP_NAME: u16 = 1;
/// In a multicast group: its id (u32).
pub const CTRL_ATTR_MCAST_GRP_ID: u16 = 2;

/// `n` rounded up to netlink's 4-byte alignment.
pub const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// Bytes that are not the netlink message they claim to be.
pub enum DecodeError {
    /// Shorter than the header or payload it needs.
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes it needs.
        need: usize,
        /// Bytes there were.
        have: usize,
    },
    /// A length field or payload of the wrong size.
    BadLength {
        /// What was being read.
        what: &'static str,
        /// The length found.
        len: usize,
    },
    /// A required attribute is absent.
    Missing(&'static str),
    /// An attribute the spec does not call `multi-attr` came twice.
    Repeated(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { what, need, have } => {
                write!(f, "truncated {what}: need {need} bytes, have {have}")
            }
            Self::BadLength { what, len } => write!(f, "{what} has invalid length {len}"),
            Self::Missing(what) => write!(f, "missing attribute {what}"),
            Self::Repeated(name) => write!(f, "attribute {name} came twice but is not multi-attr"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A run of attributes being written: payloads padded, nests sized when
/// they close.
#[derive(Debug, Default)]
pub struct AttrWriter {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl AttrWriter {
    /// An empty run.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one attribute with this payload, padded.
    pub fn put(&mut self, kind: u16, payload: &[u8]) {
        let len = NLA_HDRLEN + payload.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.buf.resize(align4(self.buf.len()), 0);
    }

    /// Opens a nested attribute; what is put until [`AttrWriter::end_nest`] goes
    /// inside it.
    pub fn begin_nest(&mut self, kind: u16) {
        self.nests.push(self.buf.len());
        self.put(kind | NLA_F_NESTED, &[]);
    }

    /// Closes the innermost open nest and writes its length.
    pub fn end_nest(&mut self) {
        let start = self.nests.pop().expect("end_nest without begin_nest");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    /// The attributes written; panics if a nest is still open.
    pub fn into_bytes(self) -> Vec<u8> {
        assert!(self.nests.is_empty(), "unclosed nest");
        self.buf
    }
}

/// A `struct nlmsghdr` claiming `len` bytes; the port id is left 0 for the
/// kernel to fill in.
pub fn nlmsg_header(len: u32, kind: u16, flags: u16, seq: u32) -> [u8; NLMSG_HDRLEN] {
    let mut header = [0u8; NLMSG_HDRLEN];
    header[0..4].copy_from_slice(&len.to_ne_bytes());
    header[4..6].copy_from_slice(&kind.to_ne_bytes());
    header[6..8].copy_from_slice(&flags.to_ne_bytes());
    header[8..12].copy_from_slice(&seq.to_ne_bytes());
    header
}

/// Builds one netlink message with a generic netlink header.
pub struct MsgBuilder {
    header: Vec<u8>,
    attrs: AttrWriter,
}

impl MsgBuilder {
    /// A message to `family` with these header fields and no attributes yet.
    pub fn new(family: u16, flags: u16, seq: u32, cmd: u8, version: u8) -> Self {
        let mut header = Vec::with_capacity(NLMSG_HDRLEN + GENL_HDRLEN);
        header.extend_from_slice(&nlmsg_header(0, family, flags, seq)); // length set in finish()
        header.extend_from_slice(&[cmd, version, 0, 0]);
        Self { header, attrs: AttrWriter::new() }
    }

    /// Appends an attribute.
    pub fn attr(mut self, kind: u16, payload: &[u8]) -> Self {
        self.attrs.put(kind, payload);
        self
    }

    /// Attributes written elsewhere, already padded.
    pub fn raw_attrs(mut self, attrs: &[u8]) -> Self {
        self.attrs.buf.extend_from_slice(attrs);
        self.attrs.buf.resize(align4(self.attrs.buf.len()), 0);
        self
    }

    /// Opens a nested attribute.
    pub fn begin_nest(mut self, kind: u16) -> Self {
        self.attrs.begin_nest(kind);
        self
    }

    /// Closes the innermost nest.
    pub fn end_nest(mut self) -> Self {
        self.attrs.end_nest();
        self
    }

    /// The message's bytes, its length set.
    pub fn finish(self) -> Vec<u8> {
        let mut buf = self.header;
        buf.extend(self.attrs.into_bytes());
        let len = buf.len() as u32;
        buf[0..4].copy_from_slice(&len.to_ne_bytes());
        buf
    }
}

/// One netlink message as found in a receive buffer.
#[derive(Debug, Clone, Copy)]
pub struct Msg<'a> {
    /// `nlmsg_type`: the family id, or a control type such as [`NLMSG_ERROR`].
    pub kind: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nlmsg_pid`: the sender's port id (0 for the kernel).
    pub portid: u32,
    /// Everything after the netlink header.
    pub payload: &'a [u8],
}

impl<'a> Msg<'a> {
    /// For `NLMSG_ERROR`: the errno (0 for an ACK), negated as the kernel sends it.
    pub fn error_code(&self) -> Result<i32, DecodeError> {
        let raw = self.payload.get(0..4).ok_or(DecodeError::Truncated {
            what: "nlmsgerr",
            need: 4,
            have: self.payload.len(),
        })?;
        Ok(i32::from_ne_bytes(raw.try_into().unwrap()))
    }

    /// For `NLMSG_ERROR`: the reason the kernel gave (`NL_SET_ERR_MSG`,
    /// sent when the socket asked for extended ACKs), if any. It follows
    /// the errno and the echoed request: its header alone when capped.
    pub fn error_message(&self) -> Option<&'a str> {
        if self.flags & NLM_F_ACK_TLVS == 0 {
            return None;
        }
        let echoed = self.payload.get(4..4 + NLMSG_HDRLEN)?;
        let echoed_len = if self.flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            u32::from_ne_bytes(echoed[0..4].try_into().ok()?) as usize
        };
        let tlvs = self.payload.get(4 + align4(echoed_len)..)?;
        let text = Attrs(tlvs).find(NLMSGERR_ATTR_MSG).ok()??.payload;
        std::str::from_utf8(text.split(|&b| b == 0).next()?).ok().filter(|t| !t.is_empty())
    }

    /// For generic netlink messages: the command and the attributes.
    pub fn genl(&self) -> Result<(u8, Attrs<'a>), DecodeError> {
        GenlHeader::parse(self.payload).map(|h| (h.command, h.attrs))
    }
}

/// A generic netlink message's own header, and the attributes after it.
#[derive(Debug, Clone, Copy)]
pub struct GenlHeader<'a> {
    /// `genlmsghdr.cmd`.
    pub command: u8,
    /// `genlmsghdr.version`.
    pub version: u8,
    /// Everything after the header.
    pub attrs: Attrs<'a>,
}

impl<'a> GenlHeader<'a> {
    /// Reads the header at the start of a netlink message's payload.
    pub fn parse(payload: &'a [u8]) -> Result<Self, DecodeError> {
        match payload {
            [command, version, _, _, attrs @ ..] => {
                Ok(Self { command: *command, version: *version, attrs: Attrs(attrs) })
            }
            _ => Err(DecodeError::Truncated { what: "genlmsghdr", need: GENL_HDRLEN, have: payload.len() }),
        }
    }
}

/// Iterates the netlink messages in one datagram.
pub fn messages(buf: &[u8]) -> impl Iterator<Item = Result<Msg<'_>, DecodeError>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        if rest.len() < NLMSG_HDRLEN {
            let have = rest.len();
            rest = &[];
            return Some(Err(DecodeError::Truncated { what: "nlmsghdr", need: NLMSG_HDRLEN, have }));
        }
        let u32_at = |i: usize| u32::from_ne_bytes(rest[i..i + 4].try_into().unwrap());
        let u16_at = |i: usize| u16::from_ne_bytes(rest[i..i + 2].try_into().unwrap());
        let len = u32_at(0) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            rest = &[];
            return Some(Err(DecodeError::BadLength { what: "nlmsghdr", len }));
        }
        let msg = Msg {
            kind: u16_at(4),
            flags: u16_at(6),
            seq: u32_at(8),
            portid: u32_at(12),
            payload: &rest[NLMSG_HDRLEN..len],
        };
        rest = &rest[align4(len).min(rest.len())..];
        Some(Ok(msg))
    })
}

/// A run of netlink attributes.
#[derive(Debug, Clone, Copy)]
pub struct Attrs<'a>(pub &'a [u8]);

/// One attribute: its type (flags masked off) and payload.
#[derive(Debug, Clone, Copy)]
pub struct Attr<'a> {
    /// Its type, with the nested and byte-order flags masked off.
    pub kind: u16,
    /// Its payload, without padding.
    pub payload: &'a [u8],
}

impl<'a> Attrs<'a> {
    /// Each attribute in turn; a bad length ends the run with an error.
    pub fn iter(&self) -> impl Iterator<Item = Result<Attr<'a>, DecodeError>> {
        let mut rest = self.0;
        std::iter::from_fn(move || {
            if rest.len() < NLA_HDRLEN {
                return None;
            }
            let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
            let kind = u16::from_ne_bytes([rest[2], rest[3]]) & NLA_TYPE_MASK;
            if len < NLA_HDRLEN || len > rest.len() {
                rest = &[];
                return Some(Err(DecodeError::BadLength { what: "nlattr", len }));
            }
            let attr = Attr { kind, payload: &rest[NLA_HDRLEN..len] };
            rest = &rest[align4(len).min(rest.len())..];
            Some(Ok(attr))
        })
    }

    /// The first attribute of `kind`, if any.
    pub fn find(&self, kind: u16) -> Result<Option<Attr<'a>>, DecodeError> {
        for attr in self.iter() {
            let attr = attr?;
            if attr.kind == kind {
                return Ok(Some(attr));
            }
        }
        Ok(None)
    }
}

impl<'a> Attr<'a> {
    /// The attributes nested in this one.
    pub fn nested(&self) -> Attrs<'a> {
        Attrs(self.payload)
    }

    fn fixed<const N: usize>(&self, what: &'static str) -> Result<[u8; N], DecodeError> {
        self.payload.try_into().map_err(|_| DecodeError::BadLength { what, len: self.payload.len() })
    }

    /// The payload as a u8; any other size is an error.
    pub fn u8(&self) -> Result<u8, DecodeError> {
        Ok(self.fixed::<1>("u8 attribute")?[0])
    }
    /// The payload as a u16 in host order.
    pub fn u16(&self) -> Result<u16, DecodeError> {
        Ok(u16::from_ne_bytes(self.fixed("u16 attribute")?))
    }
    /// The payload as a u32 in host order.
    pub fn u32(&self) -> Result<u32, DecodeError> {
        Ok(u32::from_ne_bytes(self.fixed("u32 attribute")?))
    }
    /// The payload as a u64 in host order.
    pub fn u64(&self) -> Result<u64, DecodeError> {
        Ok(u64::from_ne_bytes(self.fixed("u64 attribute")?))
    }
    /// The payload as exactly 4 bytes (an IPv4 address, say).
    pub fn bytes4(&self) -> Result<[u8; 4], DecodeError> {
        self.fixed("4-byte attribute")
    }
    /// A NUL-terminated string attribute.
    pub fn str(&self) -> Result<&'a str, DecodeError> {
        let raw = self.payload.split(|&b| b == 0).next().unwrap_or_default();
        std::str::from_utf8(raw).map_err(|_| DecodeError::BadLength { what: "string attribute", len: raw.len() })
    }
}

/// `CTRL_CMD_GETFAMILY` request for `name`.
pub fn get_family_request(name: &str, seq: u32) -> Vec<u8> {
    let mut cname = name.as_bytes().to_vec();
    cname.push(0);
    MsgBuilder::new(GENL_ID_CTRL, NLM_F_REQUEST, seq, CTRL_CMD_GETFAMILY, 1)
        .attr(CTRL_ATTR_FAMILY_NAME, &cname)
        .finish()
}

/// A family as the controller describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// The id its messages carry as `nlmsg_type`.
    pub id: u16,
    /// Its multicast groups: (name, id).
    pub groups: Vec<(String, u32)>,
}

impl Family {
    /// The id of multicast group `name`.
    pub fn group(&self, name: &str) -> Option<u32> {
        self.groups.iter().find(|(n, _)| n == name).map(|&(_, id)| id)
    }

    /// Parses the attributes of a `CTRL_CMD_NEWFAMILY` reply.
    pub fn parse(attrs: Attrs<'_>) -> Result<Self, DecodeError> {
        let id = attrs.find(CTRL_ATTR_FAMILY_ID)?.ok_or(DecodeError::Missing("CTRL_ATTR_FAMILY_ID"))?.u16()?;
        let mut groups = Vec::new();
        if let Some(list) = attrs.find(CTRL_ATTR_MCAST_GROUPS)? {
            for grp in list.nested().iter() {
                let grp = grp?.nested();
                let name =
                    grp.find(CTRL_ATTR_MCAST_GRP_NAME)?.ok_or(DecodeError::Missing("CTRL_ATTR_MCAST_GRP_NAME"))?;
                let gid = grp.find(CTRL_ATTR_MCAST_GRP_ID)?.ok_or(DecodeError::Missing("CTRL_ATTR_MCAST_GRP_ID"))?;
                groups.push((name.str()?.to_owned(), gid.u32()?));
            }
        }
        Ok(Self { id, groups })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_genl_header_gives_command_version_and_attributes() {
        let header = GenlHeader::parse(&[7, 2, 0, 0, 8, 0, 1, 0, 42, 0, 0, 0]).unwrap();
        assert_eq!((header.command, header.version), (7, 2));
        let attr = header.attrs.find(1).unwrap().unwrap();
        assert_eq!(attr.u32().unwrap(), 42);
        let short = GenlHeader::parse(&[7, 2]).unwrap_err();
        assert_eq!(short, DecodeError::Truncated { what: "genlmsghdr", need: GENL_HDRLEN, have: 2 });
    }

    use super::*;

    #[test]
    fn builder_pads_attributes_and_sets_lengths() {
        let msg = MsgBuilder::new(0x20, NLM_F_REQUEST, 7, 2, 1).attr(5, &[1, 2, 3]).finish();
        assert_eq!(msg.len(), NLMSG_HDRLEN + GENL_HDRLEN + 8);
        let parsed: Vec<_> = messages(&msg).collect::<Result<_, _>>().unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!((parsed[0].kind, parsed[0].flags, parsed[0].seq), (0x20, NLM_F_REQUEST, 7));
        let (cmd, attrs) = parsed[0].genl().unwrap();
        assert_eq!(cmd, 2);
        let attr = attrs.find(5).unwrap().unwrap();
        assert_eq!(attr.payload, &[1, 2, 3]);
    }

    #[test]
    fn an_error_carries_the_kernel_s_reason_after_the_echoed_request() {
        let request = MsgBuilder::new(0x20, NLM_F_REQUEST | NLM_F_ACK, 3, 5, 1).attr(3, &[0; 4]).finish();
        let mut tlvs = AttrWriter::new();
        tlvs.put(NLMSGERR_ATTR_MSG, b"count must be 1..N\0");
        tlvs.put(2, &[0; 4]);
        let reason = tlvs.into_bytes();
        let error = |flags: u16, echoed: &[u8]| {
            let mut payload = (-22i32).to_ne_bytes().to_vec();
            payload.extend_from_slice(echoed);
            payload.extend_from_slice(&reason);
            let mut msg = nlmsg_header((NLMSG_HDRLEN + payload.len()) as u32, NLMSG_ERROR, flags, 3).to_vec();
            msg.extend_from_slice(&payload);
            msg
        };
        let whole = error(NLM_F_ACK_TLVS, &request);
        let capped = error(NLM_F_ACK_TLVS | NLM_F_CAPPED, &request[..NLMSG_HDRLEN]);
        let without = error(0, &request);
        for (msg, want) in
            [(&whole, Some("count must be 1..N")), (&capped, Some("count must be 1..N")), (&without, None)]
        {
            let m = messages(msg).next().unwrap().unwrap();
            assert_eq!((m.error_code().unwrap(), m.error_message()), (-22, want));
        }
    }

    #[test]
    fn nests_round_trip() {
        let msg = MsgBuilder::new(0x20, 0, 1, 1, 1)
            .begin_nest(1)
            .attr(2, &9u32.to_ne_bytes())
            .attr(3, &[7])
            .end_nest()
            .finish();
        let m = messages(&msg).next().unwrap().unwrap();
        let (_, attrs) = m.genl().unwrap();
        let nest = attrs.find(1).unwrap().expect("nest type is found with NLA_F_NESTED masked");
        assert_eq!(nest.nested().find(2).unwrap().unwrap().u32().unwrap(), 9);
        assert_eq!(nest.nested().find(3).unwrap().unwrap().u8().unwrap(), 7);
    }

    #[test]
    fn truncated_and_oversized_lengths_are_errors_not_panics() {
        let mut msg = MsgBuilder::new(0x20, 0, 1, 1, 1).attr(2, &[0; 8]).finish();
        assert!(matches!(messages(&msg[..10]).next(), Some(Err(DecodeError::Truncated { .. }))));
        msg[0] = 200; // claims more than the buffer holds
        assert!(matches!(messages(&msg).next(), Some(Err(DecodeError::BadLength { .. }))));
        let bad_attr = Attrs(&[40, 0, 1, 0, 0, 0, 0, 0]);
        assert!(bad_attr.iter().next().unwrap().is_err());
        let short = Attr { kind: 1, payload: &[1, 2] };
        assert!(short.u32().is_err());
    }

    #[test]
    fn family_reply_parses_groups() {
        let msg = MsgBuilder::new(GENL_ID_CTRL, 0, 1, 1, 1)
            .attr(CTRL_ATTR_FAMILY_ID, &0x1eu16.to_ne_bytes())
            .begin_nest(CTRL_ATTR_MCAST_GROUPS)
            .begin_nest(1)
            .attr(CTRL_ATTR_MCAST_GRP_ID, &9u32.to_ne_bytes())
            .attr(CTRL_ATTR_MCAST_GRP_NAME, b"events\0")
            .end_nest()
            .end_nest()
            .finish();
        let m = messages(&msg).next().unwrap().unwrap();
        let fam = Family::parse(m.genl().unwrap().1).unwrap();
        assert_eq!(fam.id, 0x1e);
        assert_eq!(fam.group("events"), Some(9));
        assert_eq!(fam.group("other"), None);
    }
}
