"""Re-verify a mentorflow history export (JSON Lines or CSV) with Python's standard library alone (DESIGN §3).
Usage: python verify_history.py EXPORT [EXPECTED_LAST_HASH]  -> exit 0 and "OK ..." when the chain is intact."""

import csv
import hashlib
import json
import sys

path, anchor = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
with open(path, encoding="utf-8", newline="") as f:
    rows = [json.loads(r["envelope"]) for r in csv.DictReader(f)] if path.endswith(".csv") else list(map(json.loads, f))
header = next((r for r in rows if "export" in r), {})
envelopes, prev = [r for r in rows if "export" not in r], "0" * 64
for n, env in enumerate(envelopes, 1):
    claimed = env.pop("hash")
    body = json.dumps(env, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    checks = [(env["seq"] == n, f"seq is {env['seq']}, expected {n}"), (env["prev_hash"] == prev, "prev_hash unlinked"),
              (hashlib.sha256(body).hexdigest() == claimed, "content does not hash to its hash")]  # fmt: skip
    if problems := [why for ok, why in checks if not ok]:
        sys.exit(f"BROKEN at event {n}: " + "; ".join(problems))
    prev = claimed
count = len(envelopes)
for ok, why in [(header.get("events", count) == count, f"the header says {header.get('events')} events, not {count}"),
                (header.get("last_hash", prev) == prev, "the header's last_hash is not the last hash"),
                (anchor in (None, prev), f"last hash {prev} is not the expected {anchor}")]:  # fmt: skip
    if not ok:
        sys.exit(f"BROKEN: {why}")
print(f"OK: {count} events, chain intact, last hash {prev}")
