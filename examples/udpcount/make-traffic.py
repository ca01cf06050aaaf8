#!/usr/bin/env python3
"""Writes traffic.pcap: ten UDP datagrams from 192.0.2.1 to 192.0.2.15
(kulink's wire), six to port 5000 and four to 5001, interleaved so that
with every=2 the notifications come in the order expected.yaml lists."""
import struct

PORTS = [5000, 5001, 5000, 5001, 5000, 5000, 5000, 5000, 5001, 5001]
SRC, DST = bytes([192, 0, 2, 1]), bytes([192, 0, 2, 15])
# kulink rewrites both MAC addresses to the wire's when it replays.
PEER_MAC, GUEST_MAC = bytes.fromhex("026b756c0001"), bytes.fromhex("5254006b7502")


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(index, port):
    payload = f"datagram {index} to {port}".encode()
    udp_len = 8 + len(payload)
    pseudo = SRC + DST + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", 40000 + index, port, udp_len, 0) + payload
    udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, index, 0, 64, 17, 0, SRC, DST)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return GUEST_MAC + PEER_MAC + b"\x08\x00" + ip + udp


with open("traffic.pcap", "wb") as out:
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for index, port in enumerate(PORTS, 1):
        data = frame(index, port)
        out.write(struct.pack("<IIII", 1_700_000_000, index * 1000, len(data), len(data)))
        out.write(data)
