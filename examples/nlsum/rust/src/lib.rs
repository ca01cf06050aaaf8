//! What nlsum's tests share: where the example keeps its module, and its
//! protocol as `nlsum.h` defines it (read from the header itself, so the C
//! and the tests cannot drift apart).

use std::path::PathBuf;

pub use kulink::testbed::genl::byte_order::Order;

/// The module's Kbuild directory.
pub fn module_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../module")
}

/// The protocol's numbers, from `nlsum.h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    /// `NLSUM_PROTOCOL`: the unit's number.
    pub unit: u32,
    /// `NLSUM_MSG_ADD`.
    pub add: u16,
    /// `NLSUM_MSG_TOTAL`.
    pub total: u16,
    /// `NLSUM_GROUP_TOTALS`.
    pub group: u32,
}

impl Protocol {
    /// The numbers `nlsum.h` defines.
    pub fn from_header() -> Self {
        let header = std::fs::read_to_string(module_dir().join("nlsum.h")).expect("nlsum.h");
        let define = |name: &str| -> u32 {
            let value = header
                .lines()
                .find_map(|line| line.strip_prefix("#define ")?.strip_prefix(name)?.strip_prefix(' '))
                .unwrap_or_else(|| panic!("nlsum.h defines no {name}"));
            let value = value.trim();
            match value.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => value.parse(),
            }
            .unwrap_or_else(|_| panic!("{name} {value} is not a number"))
        };
        let message = |name: &str| u16::try_from(define(name)).expect("a message type is 16 bits");
        Self {
            unit: define("NLSUM_PROTOCOL"),
            add: message("NLSUM_MSG_ADD"),
            total: message("NLSUM_MSG_TOTAL"),
            group: define("NLSUM_GROUP_TOTALS"),
        }
    }
}

/// `struct nlsum_add`: one `__u32`, in the guest's byte order `order`
/// (`ModuleGuest::byte_order`: s390x's is not the host's).
pub fn add_payload(value: u32, order: Order) -> Vec<u8> {
    match order {
        Order::Little => value.to_le_bytes().to_vec(),
        Order::Big => value.to_be_bytes().to_vec(),
    }
}

/// `struct nlsum_total` read back from a guest of byte order `order`:
/// (total, count).
pub fn total_of(payload: &[u8], order: Order) -> (u64, u32) {
    assert_eq!(payload.len(), 16, "struct nlsum_total is 16 bytes: {payload:02x?}");
    let (total, count) = (payload[..8].try_into().unwrap(), payload[8..12].try_into().unwrap());
    match order {
        Order::Little => (u64::from_le_bytes(total), u32::from_le_bytes(count)),
        Order::Big => (u64::from_be_bytes(total), u32::from_be_bytes(count)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_defines_the_protocol() {
        let protocol = Protocol::from_header();
        assert_eq!(protocol, Protocol { unit: 31, add: 0x10, total: 0x11, group: 1 });
        let mut total = 42u64.to_be_bytes().to_vec();
        total.extend(3u32.to_be_bytes());
        total.extend([0; 4]);
        assert_eq!(total_of(&total, Order::Big), (42, 3));
        assert_eq!(add_payload(0x0102_0304, Order::Little), [4, 3, 2, 1]);
    }
}
