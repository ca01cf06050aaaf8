#!/usr/bin/env bash
# Fails when the workspace's rust-version is below a locked dependency's:
# the declared minimum must be one the whole lock file builds with.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --locked | python3 -c '
import json, sys

def version(text):
    return tuple(int(part) for part in text.split("."))[:3] + (0,) * (3 - len(text.split(".")))

meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
ours = {p["rust_version"] for p in meta["packages"] if p["id"] in members}
if len(ours) != 1 or None in ours:
    sys.exit(f"rust-version: every workspace member must declare the same one, found {sorted(map(str, ours))}")
declared = ours.pop()
needed = [(version(p["rust_version"]), p["name"], p["rust_version"])
          for p in meta["packages"] if p["id"] not in members and p.get("rust_version")]
newest = max(needed)
if newest[0] > version(declared):
    sys.exit(f"rust-version {declared} is below {newest[1]}, which needs {newest[2]}: raise it in Cargo.toml")
print(f"rust-version {declared} covers every locked dependency (the highest needs {newest[2]})")
'
