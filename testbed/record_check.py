"""The check the test bed's proof clients share (`live_clients.py check`,
`gateway_clients.py check`): their logs are JSON lines, one a record
(`k` key, `s` per-key sequence number, `t` time, ...) the producer had
acknowledged or the consumer received, and compared here: lost records
(acknowledged, never consumed), unknown ones (consumed, never
acknowledged), duplicates and per-key order violations. What else a client
measures (pauses, errors) and what it counts as a pass stays with it.
"""

import json


def load(path):
    """The JSON lines of a client's log."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def sequences(produced, consumed, reread_out_of_order=True):
    """Counts of `consumed` against the acknowledged `produced` records,
    as a dict in the order they are printed: `produced`, `consumed`,
    `lost`, `first_lost` (the first five, `[key, seq]`), `unknown`,
    `duplicates` and `out_of_order` (a record whose sequence number is not
    above the key's highest so far; with `reread_out_of_order` false, a
    duplicate is counted as a duplicate only)."""
    acked = {(r["k"], r["s"]) for r in produced}
    seen = {}
    duplicates, out_of_order = 0, 0
    last = {}
    for r in consumed:
        ks = (r["k"], r["s"])
        seen[ks] = seen.get(ks, 0) + 1
        duplicate = seen[ks] > 1
        if duplicate:
            duplicates += 1
        if (reread_out_of_order or not duplicate) and r["s"] <= last.get(r["k"], -1):
            out_of_order += 1
        last[r["k"]] = max(r["s"], last.get(r["k"], -1))
    lost = sorted(acked - set(seen))
    return {
        "produced": len(acked),
        "consumed": len(consumed),
        "lost": len(lost),
        "first_lost": [list(x) for x in lost[:5]],
        "unknown": len(set(seen) - acked),
        "duplicates": duplicates,
        "out_of_order": out_of_order,
    }


def verdict(result, must_be_zero):
    """Prints `result` as one JSON line; the exit code: 0 when each of
    its `must_be_zero` counts is 0, else 1."""
    print(json.dumps(result))
    return 0 if all(result[k] == 0 for k in must_be_zero) else 1
