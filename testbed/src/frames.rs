//! Ethernet frames the peer host sends and receives, built and parsed with pnet.

use std::net::Ipv4Addr;

use pnet_base::MacAddr;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperation, ArpOperations, ArpPacket, MutableArpPacket};
use pnet_packet::ethernet::{EtherType, EtherTypes, EthernetPacket, MutableEthernetPacket};
use pnet_packet::icmp::{IcmpPacket, IcmpTypes, MutableIcmpPacket};
use pnet_packet::ip::{IpNextHeaderProtocol, IpNextHeaderProtocols};
use pnet_packet::ipv4::{self, Ipv4Packet, MutableIpv4Packet};
use pnet_packet::tcp::{self, MutableTcpPacket, TcpFlags};
use pnet_packet::udp::{self, MutableUdpPacket};
use pnet_packet::Packet;

const ETH_LEN: usize = 14;
const IPV4_LEN: usize = 20;
const ICMP_HDR_LEN: usize = 8;

/// The two hosts on the virtual wire.
///
/// ```
/// use kulink_testbed::frames::{self, FromGuest, Wire};
///
/// let wire = Wire::default();
/// let datagram = frames::udp_datagram(&wire, 5000, b"hello");
/// assert_eq!(datagram.len(), 14 + 20 + 8 + 5); // Ethernet, IPv4, UDP, data
/// // What the peer makes of a frame the guest sends:
/// let reply = frames::echo_request(&wire, 7, 1, 0);
/// assert!(matches!(frames::parse(&reply), FromGuest::Icmp { icmp_type: 8, id: 7, seq: 1, .. }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wire {
    /// The peer's MAC address (the host end of the wire).
    pub peer_mac: MacAddr,
    /// The peer's IPv4 address.
    pub peer_ip: Ipv4Addr,
    /// The guest's MAC address (its `eth0`).
    pub guest_mac: MacAddr,
    /// The guest's IPv4 address.
    pub guest_ip: Ipv4Addr,
    /// The prefix length of the wire's subnet.
    pub prefix: u8,
}

impl Default for Wire {
    /// TEST-NET-1 (RFC 5737): documentation addresses, never routed anywhere.
    fn default() -> Self {
        Self {
            peer_mac: MacAddr::new(0x02, 0x6b, 0x75, 0x6c, 0x00, 0x01),
            peer_ip: Ipv4Addr::new(192, 0, 2, 1),
            guest_mac: MacAddr::new(0x52, 0x54, 0x00, 0x6b, 0x75, 0x02),
            guest_ip: Ipv4Addr::new(192, 0, 2, 15),
            prefix: 24,
        }
    }
}

impl Wire {
    /// The address the guest lends the `n`th program it runs in a network
    /// namespace of its own ([`kulink_protocol::Netns`]): host part 100 + `n`
    /// of the wire's subnet.
    pub fn netns_ip(&self, n: u8) -> Ipv4Addr {
        Ipv4Addr::from((u32::from(self.guest_ip) & self.mask()) | (100 + u32::from(n)))
    }

    /// The wire as seen from the `n`th program's namespace: frames built
    /// with it are sent to the guest's MAC, which forwards them there.
    pub fn to_netns(&self, n: u8) -> Wire {
        Wire { guest_ip: self.netns_ip(n), ..*self }
    }

    /// What the agent needs to make the `n`th program's namespace.
    pub fn netns(&self, n: u8) -> kulink_protocol::Netns {
        kulink_protocol::Netns { address: self.netns_ip(n), prefix: self.prefix }
    }

    /// Says what is wrong with `netns` on this wire: its address must be in
    /// the wire's subnet, with its prefix, and be neither host's.
    pub fn check_netns(&self, netns: &kulink_protocol::Netns) -> Result<(), String> {
        let subnet = |ip: Ipv4Addr| Ipv4Addr::from(u32::from(ip) & Wire { guest_ip: ip, ..*self }.mask());
        let address = netns.address;
        if netns.prefix != self.prefix || subnet(address) != subnet(self.guest_ip) {
            return Err(format!(
                "namespace address {address}/{}: not in the wire's subnet {}/{}",
                netns.prefix,
                subnet(self.guest_ip),
                self.prefix
            ));
        }
        if address == self.guest_ip || address == self.peer_ip {
            return Err(format!("namespace address {address}: the guest or the peer has it already"));
        }
        Ok(())
    }

    fn mask(&self) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0)
    }
}

fn ethernet(wire: &Wire, ethertype: EtherType, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; ETH_LEN + payload.len()];
    let mut eth = MutableEthernetPacket::new(&mut buf).expect("buffer fits an Ethernet header");
    eth.set_destination(wire.guest_mac);
    eth.set_source(wire.peer_mac);
    eth.set_ethertype(ethertype);
    eth.set_payload(payload);
    buf
}

/// An IPv4 packet from the peer to the guest around `l4`.
fn ipv4_frame(wire: &Wire, proto: IpNextHeaderProtocol, ident: u16, l4: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; IPV4_LEN + l4.len()];
    let mut ip = MutableIpv4Packet::new(&mut buf).expect("buffer fits an IPv4 header");
    ip.set_version(4);
    ip.set_header_length(5);
    ip.set_total_length((IPV4_LEN + l4.len()) as u16);
    ip.set_identification(ident);
    ip.set_ttl(64);
    ip.set_next_level_protocol(proto);
    ip.set_source(wire.peer_ip);
    ip.set_destination(wire.guest_ip);
    ip.set_payload(l4);
    let sum = ipv4::checksum(&ip.to_immutable());
    ip.set_checksum(sum);
    ethernet(wire, EtherTypes::Ipv4, &buf)
}

/// An ICMP message: type, code, the 4 "rest of header" bytes, then data.
fn icmp(icmp_type: u8, code: u8, rest: [u8; 4], data: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; ICMP_HDR_LEN + data.len()];
    buf[0] = icmp_type;
    buf[1] = code;
    buf[4..8].copy_from_slice(&rest);
    buf[8..].copy_from_slice(data);
    let mut pkt = MutableIcmpPacket::new(&mut buf).expect("buffer fits an ICMP header");
    let sum = pnet_packet::icmp::checksum(&pkt.to_immutable());
    pkt.set_checksum(sum);
    buf
}

fn id_seq(id: u16, seq: u16) -> [u8; 4] {
    let [a, b] = id.to_be_bytes();
    let [c, d] = seq.to_be_bytes();
    [a, b, c, d]
}

/// ICMP echo request with a payload that names its id and seq.
pub fn echo_request(wire: &Wire, id: u16, seq: u16, payload_len: usize) -> Vec<u8> {
    let mut data = format!("kulink {id:04x}:{seq:04x} ").into_bytes();
    data.resize(payload_len, b'.');
    ipv4_frame(wire, IpNextHeaderProtocols::Icmp, seq, &icmp(8, 0, id_seq(id, seq), &data))
}

/// ICMP timestamp request (type 13): originate, receive, transmit stamps.
pub fn timestamp_request(wire: &Wire, id: u16, seq: u16) -> Vec<u8> {
    let mut stamps = [0u8; 12];
    stamps[..4].copy_from_slice(&3_600_000u32.to_be_bytes());
    ipv4_frame(wire, IpNextHeaderProtocols::Icmp, seq, &icmp(13, 0, id_seq(id, seq), &stamps))
}

/// ICMP destination unreachable carrying the inner IPv4 header and 8 bytes
/// of a UDP datagram the guest supposedly sent.
pub fn dest_unreachable(wire: &Wire, code: u8, inner_dst: Ipv4Addr, inner_port: u16) -> Vec<u8> {
    let mut inner = vec![0u8; IPV4_LEN + 8];
    {
        let mut ip = MutableIpv4Packet::new(&mut inner).expect("fits");
        ip.set_version(4);
        ip.set_header_length(5);
        ip.set_total_length((IPV4_LEN + 8 + 32) as u16);
        ip.set_ttl(64);
        ip.set_next_level_protocol(IpNextHeaderProtocols::Udp);
        ip.set_source(wire.guest_ip);
        ip.set_destination(inner_dst);
        let sum = ipv4::checksum(&ip.to_immutable());
        ip.set_checksum(sum);
    }
    inner[IPV4_LEN..IPV4_LEN + 2].copy_from_slice(&40000u16.to_be_bytes());
    inner[IPV4_LEN + 2..IPV4_LEN + 4].copy_from_slice(&inner_port.to_be_bytes());
    inner[IPV4_LEN + 4..IPV4_LEN + 6].copy_from_slice(&40u16.to_be_bytes());
    ipv4_frame(wire, IpNextHeaderProtocols::Icmp, 0x3333, &icmp(3, code, [0; 4], &inner))
}

/// An IPv4 packet that says ICMP but holds only 4 bytes of it: the module
/// must count it as truncated and report nothing.
pub fn truncated_icmp(wire: &Wire) -> Vec<u8> {
    ipv4_frame(wire, IpNextHeaderProtocols::Icmp, 0x4444, &[8, 0, 0xf7, 0xff])
}

/// A UDP datagram from the peer to the guest's `port`, carrying `data`
/// (source port 40001, checksums right).
pub fn udp_datagram(wire: &Wire, port: u16, data: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 8 + data.len()];
    let mut pkt = MutableUdpPacket::new(&mut buf).expect("fits");
    pkt.set_source(40001);
    pkt.set_destination(port);
    pkt.set_length((8 + data.len()) as u16);
    pkt.set_payload(data);
    let sum = udp::ipv4_checksum(&pkt.to_immutable(), &wire.peer_ip, &wire.guest_ip);
    pkt.set_checksum(sum);
    ipv4_frame(wire, IpNextHeaderProtocols::Udp, 0x5555, &buf)
}

/// A TCP SYN from the peer to the guest's `port`.
pub fn tcp_syn(wire: &Wire, port: u16) -> Vec<u8> {
    let mut buf = vec![0u8; 20];
    let mut pkt = MutableTcpPacket::new(&mut buf).expect("fits");
    pkt.set_source(40002);
    pkt.set_destination(port);
    pkt.set_sequence(1);
    pkt.set_data_offset(5);
    pkt.set_flags(TcpFlags::SYN);
    pkt.set_window(1024);
    let sum = tcp::ipv4_checksum(&pkt.to_immutable(), &wire.peer_ip, &wire.guest_ip);
    pkt.set_checksum(sum);
    ipv4_frame(wire, IpNextHeaderProtocols::Tcp, 0x6666, &buf)
}

fn arp(wire: &Wire, op: ArpOperation, target_mac: MacAddr, target_ip: Ipv4Addr) -> Vec<u8> {
    let mut buf = vec![0u8; 28];
    let mut pkt = MutableArpPacket::new(&mut buf).expect("fits");
    pkt.set_hardware_type(ArpHardwareTypes::Ethernet);
    pkt.set_protocol_type(EtherTypes::Ipv4);
    pkt.set_hw_addr_len(6);
    pkt.set_proto_addr_len(4);
    pkt.set_operation(op);
    pkt.set_sender_hw_addr(wire.peer_mac);
    pkt.set_sender_proto_addr(wire.peer_ip);
    pkt.set_target_hw_addr(target_mac);
    pkt.set_target_proto_addr(target_ip);
    ethernet(wire, EtherTypes::Arp, &buf)
}

/// The peer's answer to the guest's "who has peer_ip?".
pub fn arp_reply(wire: &Wire) -> Vec<u8> {
    arp(wire, ArpOperations::Reply, wire.guest_mac, wire.guest_ip)
}

/// A request for an address nobody has: not IPv4, so never an event.
pub fn arp_probe(wire: &Wire) -> Vec<u8> {
    arp(wire, ArpOperations::Request, MacAddr::zero(), Ipv4Addr::new(192, 0, 2, 99))
}

/// What the guest put on the wire, as far as the peer cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromGuest {
    /// The guest asks who has this address.
    ArpRequest {
        /// The address asked about.
        target: Ipv4Addr,
    },
    /// An ICMP message.
    Icmp {
        /// Its IPv4 source.
        src: Ipv4Addr,
        /// Its IPv4 destination.
        dst: Ipv4Addr,
        /// The ICMP type (0 echo reply, 8 echo request, ...).
        icmp_type: u8,
        /// The ICMP code.
        code: u8,
        /// The echo identifier (0 for other types).
        id: u16,
        /// The echo sequence number (0 for other types).
        seq: u16,
    },
    /// Anything else.
    Other,
}

/// What a frame from the guest is, as far as the peer cares.
pub fn parse(frame: &[u8]) -> FromGuest {
    let Some(eth) = EthernetPacket::new(frame) else { return FromGuest::Other };
    match eth.get_ethertype() {
        EtherTypes::Arp => match ArpPacket::new(eth.payload()) {
            Some(a) if a.get_operation() == ArpOperations::Request => {
                FromGuest::ArpRequest { target: a.get_target_proto_addr() }
            }
            _ => FromGuest::Other,
        },
        EtherTypes::Ipv4 => {
            let Some(ip) = Ipv4Packet::new(eth.payload()) else { return FromGuest::Other };
            if ip.get_next_level_protocol() != IpNextHeaderProtocols::Icmp {
                return FromGuest::Other;
            }
            let Some(ic) = IcmpPacket::new(ip.payload()) else { return FromGuest::Other };
            let rest = ic.payload();
            let (id, seq) = match rest.get(..4) {
                Some(r) => (u16::from_be_bytes([r[0], r[1]]), u16::from_be_bytes([r[2], r[3]])),
                None => (0, 0),
            };
            FromGuest::Icmp {
                src: ip.get_source(),
                dst: ip.get_destination(),
                icmp_type: ic.get_icmp_type().0,
                code: ic.get_icmp_code().0,
                id,
                seq,
            }
        }
        _ => FromGuest::Other,
    }
}

/// ICMP type of an echo reply.
pub const ECHO_REPLY: u8 = IcmpTypes::EchoReply.0;
/// ICMP type of an echo request.
pub const ECHO_REQUEST: u8 = IcmpTypes::EchoRequest.0;

#[cfg(test)]
mod tests {
    use super::*;

    fn ip_of(frame: &[u8]) -> Ipv4Packet<'_> {
        Ipv4Packet::new(&frame[ETH_LEN..]).unwrap()
    }

    #[test]
    fn echo_request_has_valid_checksums_and_fields() {
        let w = Wire::default();
        let f = echo_request(&w, 0x1234, 7, 56);
        assert_eq!(f.len(), ETH_LEN + IPV4_LEN + 8 + 56);
        let eth = EthernetPacket::new(&f).unwrap();
        assert_eq!((eth.get_destination(), eth.get_source()), (w.guest_mac, w.peer_mac));
        let ip = ip_of(&f);
        assert_eq!(ip.get_total_length() as usize, IPV4_LEN + 8 + 56);
        assert_eq!(ipv4::checksum(&ip), ip.get_checksum());
        assert_eq!((ip.get_source(), ip.get_destination()), (w.peer_ip, w.guest_ip));
        let ic = IcmpPacket::new(ip.payload()).unwrap();
        assert_eq!(pnet_packet::icmp::checksum(&ic), ic.get_checksum());
        assert_eq!(&ic.payload()[..4], &[0x12, 0x34, 0, 7]);
    }

    #[test]
    fn a_namespace_s_wire_keeps_the_guest_s_mac_and_lends_an_address_of_the_subnet() {
        let w = Wire::default();
        assert_eq!((w.netns_ip(0), w.netns_ip(3)), (Ipv4Addr::new(192, 0, 2, 100), Ipv4Addr::new(192, 0, 2, 103)));
        let ns = w.to_netns(1);
        assert_eq!((ns.guest_mac, ns.guest_ip, ns.peer_ip), (w.guest_mac, Ipv4Addr::new(192, 0, 2, 101), w.peer_ip));
        let f = echo_request(&ns, 1, 1, 0);
        assert_eq!(EthernetPacket::new(&f).unwrap().get_destination(), w.guest_mac);
        assert_eq!(ip_of(&f).get_destination(), ns.guest_ip);
        assert_eq!(w.netns(2), kulink_protocol::Netns { address: Ipv4Addr::new(192, 0, 2, 102), prefix: 24 });
        let wide = Wire { guest_ip: Ipv4Addr::new(10, 1, 2, 3), prefix: 16, ..w };
        assert_eq!(wide.netns_ip(0), Ipv4Addr::new(10, 1, 0, 100));

        assert_eq!(w.check_netns(&w.netns(7)), Ok(()));
        let at = |address: Ipv4Addr, prefix| w.check_netns(&kulink_protocol::Netns { address, prefix });
        assert!(at(Ipv4Addr::new(198, 51, 100, 1), 24).unwrap_err().contains("not in the wire's subnet 192.0.2.0/24"));
        assert!(at(w.netns_ip(0), 16).unwrap_err().contains("not in the wire's subnet"));
        assert!(at(w.guest_ip, 24).unwrap_err().contains("has it already"));
        assert!(at(w.peer_ip, 24).unwrap_err().contains("has it already"));
    }

    #[test]
    fn unreachable_carries_the_inner_header() {
        let w = Wire::default();
        let f = dest_unreachable(&w, 3, Ipv4Addr::new(198, 51, 100, 7), 53);
        let ip = ip_of(&f);
        let ic = IcmpPacket::new(ip.payload()).unwrap();
        assert_eq!((ic.get_icmp_type().0, ic.get_icmp_code().0), (3, 3));
        let inner = Ipv4Packet::new(&ic.payload()[4..]).unwrap();
        assert_eq!(inner.get_source(), w.guest_ip);
        assert_eq!(inner.get_destination(), Ipv4Addr::new(198, 51, 100, 7));
        assert_eq!(inner.get_next_level_protocol(), IpNextHeaderProtocols::Udp);
    }

    #[test]
    fn truncated_icmp_is_shorter_than_a_header() {
        let f = truncated_icmp(&Wire::default());
        let ip = ip_of(&f);
        assert_eq!(ip.get_next_level_protocol(), IpNextHeaderProtocols::Icmp);
        assert_eq!(ip.payload().len(), 4);
    }

    #[test]
    fn parse_recognises_what_the_guest_sends() {
        let w = Wire::default();
        // A guest echo reply is our request with addresses swapped: reuse the builder.
        let swapped = Wire { peer_ip: w.guest_ip, guest_ip: w.peer_ip, ..w };
        let mut f = echo_request(&swapped, 5, 6, 8);
        f[ETH_LEN + IPV4_LEN] = 0; // type 0: echo reply
        assert_eq!(
            parse(&f),
            FromGuest::Icmp { src: w.guest_ip, dst: w.peer_ip, icmp_type: 0, code: 0, id: 5, seq: 6 }
        );
        assert_eq!(parse(&arp_probe(&w)), FromGuest::ArpRequest { target: Ipv4Addr::new(192, 0, 2, 99) });
        assert_eq!(parse(&udp_datagram(&w, 9, b"x")), FromGuest::Other);
        assert_eq!(parse(&[1, 2, 3]), FromGuest::Other);
    }

    #[test]
    fn arp_reply_answers_for_the_peer() {
        let w = Wire::default();
        let f = arp_reply(&w);
        let a = ArpPacket::new(&f[ETH_LEN..]).unwrap();
        assert_eq!(a.get_operation(), ArpOperations::Reply);
        assert_eq!((a.get_sender_hw_addr(), a.get_sender_proto_addr()), (w.peer_mac, w.peer_ip));
        assert_eq!(a.get_target_proto_addr(), w.guest_ip);
    }
}
