#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""nlsum's client, for a guest with the host's Python (--host-root).

Adds each number given on the command line through the module's netlink
unit, prints each answer, and fails unless each is the running total.
The protocol's numbers come from nlsum.h, given as the first argument.
"""

import re
import socket
import struct
import sys

NLMSG_ERROR = 2
NLM_F_REQUEST = 1
NLM_F_ACK = 4


def protocol(header):
    """The #defines of nlsum.h, by name."""
    with open(header, encoding='utf-8') as text:
        found = re.findall(r'^#define (NLSUM_\w+) (0x[0-9a-fA-F]+|\d+)$', text.read(), re.M)
    return {name: int(value, 0) for name, value in found}


def main():
    nlsum = protocol(sys.argv[1])
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, nlsum['NLSUM_PROTOCOL'])
    sock.bind((0, 0))
    expected = 0
    for seq, value in enumerate(map(int, sys.argv[2:]), start=1):
        payload = struct.pack('=I', value)
        header = struct.pack('=IHHII', 16 + len(payload), nlsum['NLSUM_MSG_ADD'],
                             NLM_F_REQUEST | NLM_F_ACK, seq, 0)
        sock.send(header + payload)
        expected += value
        total = None
        while True:
            data = sock.recv(65536)
            length, kind, _, got_seq, _ = struct.unpack_from('=IHHII', data)
            if kind == NLMSG_ERROR:
                (error,) = struct.unpack_from('=i', data, 16)
                if error:
                    sys.exit(f'add {value} refused: errno {-error}')
                break
            if kind == nlsum['NLSUM_MSG_TOTAL'] and got_seq == seq:
                total, count = struct.unpack_from('=QI', data, 16)
                print(f'total={total} count={count}')
        if total != expected:
            sys.exit(f'after adding {value}: total {total}, want {expected}')


if __name__ == '__main__':
    main()
