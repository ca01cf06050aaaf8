#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Decode message bodies with the kernel's own YNL library.

The second decoder kulink's is checked against. argv[1] is the directory
that holds YNL's `lib` package (tools/net/ynl or tools/net/ynl/pyynl).
Each stdin line is a JSON object {"spec": path, "op": name, "body": hex};
each stdout line answers one: {"fields": {...}}, {"error": "..."}, or
{"spec_refused": "..."} when the library does not load the spec.

Only the library's decoder is used: no socket is opened and no family is
resolved, so families the host's kernel lacks decode too.
"""

import json
import sys

sys.path.insert(0, sys.argv[1])

from lib.nlspec import SpecFamily  # noqa: E402
from lib.ynl import NlAttrs, YnlFamily  # noqa: E402

families = {}


def family(path):
    """The YNL family of a spec file, without the socket YnlFamily opens."""
    if path not in families:
        ynl = YnlFamily.__new__(YnlFamily)
        # '' skips schema validation: kulink validates specs itself.
        SpecFamily.__init__(ynl, path, '')
        ynl.process_unknown = False
        ynl.include_raw = False
        families[path] = ynl
    return families[path]


def struct_size(ynl, name):
    """Renamed from _struct_size after 6.12."""
    size = getattr(ynl, 'struct_size', None) or ynl._struct_size
    return size(name)


def plain(value):
    """JSON for what the library decodes: bytes as hex, flags' sets marked
    (their order is lost), dict keys as strings."""
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, set):
        return {'$set': sorted(value)}
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


class SpecRefused(Exception):
    """The library does not load the spec at all."""


def decode(request):
    try:
        ynl = family(request['spec'])
    except Exception as error:
        raise SpecRefused(f'{type(error).__name__}: {error}') from error
    op = ynl.msgs[request['op']]
    body = bytes.fromhex(request['body'])
    attr_set = getattr(op, 'attr_set', None)
    fields = {}
    if op.fixed_header:
        fields.update(ynl._decode_struct(body, op.fixed_header))
    attrs = NlAttrs(body, struct_size(ynl, op.fixed_header))
    fields.update(ynl._decode(attrs, attr_set.name if attr_set else None))
    return fields


def main():
    # The library prints its own complaints: keep stdout for the answers.
    answers, sys.stdout = sys.stdout, sys.stderr
    for line in sys.stdin:
        try:
            answer = {'fields': plain(decode(json.loads(line)))}
        except SpecRefused as error:
            answer = {'spec_refused': str(error)}
        # Whatever the library cannot take is told, not skipped.
        except Exception as error:  # pylint: disable=broad-except
            answer = {'error': f'{type(error).__name__}: {error}'}
        answers.write(json.dumps(answer) + '\n')


if __name__ == '__main__':
    main()
