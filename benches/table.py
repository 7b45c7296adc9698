"""Turns the summary lines of distro-load (results.jsonl) into the table of medians of
BENCHMARKS.md: one row per scenario and label, the median of each figure over the runs."""

import json
import statistics
import sys
from collections import defaultdict

FIELDS = [
    ("throughput", "req/s", "{:,.0f}"),
    ("p50_ms", "p50 ms", "{:.2f}"),
    ("p90_ms", "p90 ms", "{:.2f}"),
    ("p99_ms", "p99 ms", "{:.2f}"),
    ("max_ms", "max ms", "{:.1f}"),
    ("errors", "errors", "{:.0f}"),
    ("server_cpu_s_per_10k", "server CPU s / 10k", "{:.3f}"),
    ("server_cores", "server cores", "{:.2f}"),
    ("server_rss_mb", "RSS MB", "{:.1f}"),
]
MEMORY = [
    ("rss_idle_mb", "idle MB"),
    ("rss_registered_mb", "registered MB"),
    ("rss_after_beats_mb", "after beats MB"),
    ("rss_max_under_beats_mb", "max under beats MB"),
    ("bytes_per_instance", "bytes / instance"),
]


def key(row):
    name = row["scenario"]
    if name in ("list", "grpc-query"):
        name += f" ({row.get('instances')})"
    return name, row.get("label", "")


def median(rows, field):
    values = [r[field] for r in rows if isinstance(r.get(field), (int, float))]
    return statistics.median(values) if values else None


def main(path):
    groups = defaultdict(list)
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                row = json.loads(line)
                groups[key(row)].append(row)
    print("| scenario | label | runs | " + " | ".join(h for _, h, _ in FIELDS) + " |")
    print("|---|---|---|" + "---|" * len(FIELDS))
    for (name, label), rows in groups.items():
        if label == "cluster":
            continue
        cells = []
        for field, _, fmt in FIELDS:
            value = median(rows, field)
            cells.append("" if value is None else fmt.format(value))
        print(f"| {name} | {label} | {len(rows)} | " + " | ".join(cells) + " |")
    memory = [rows for (name, _), rows in groups.items() if name == "memory"]
    if memory:
        print()
        print("| memory | " + " | ".join(h for _, h in MEMORY) + " |")
        print("|---|" + "---|" * len(MEMORY))
        for rows in memory:
            cells = []
            for field, _ in MEMORY:
                value = median(rows, field)
                cells.append("" if value is None else f"{value:,.1f}")
            print(f"| {rows[0].get('instances')} instances | " + " | ".join(cells) + " |")
    cluster = {name: rows for (name, label), rows in groups.items() if label == "cluster"}
    if cluster:
        print()
        print("| cluster (3 nodes) | runs | figure | median |")
        print("|---|---|---|---|")
        picks = {
            "convergence": [("p50_ms", "change visible on all nodes, p50 ms"),
                            ("p99_ms", "p99 ms"), ("max_ms", "max ms"), ("errors", "not converged")],
            "snapshot-load": [("ready_s", "restarted node ready, s"),
                              ("all_instances_s", "all instances listed, s")],
            "verify-bytes": [("bytes_per_peer_round", "verify bytes per peer round"),
                             ("bytes_per_second", "verify bytes per second")],
        }
        for name, fields in picks.items():
            for field, label in fields:
                value = median(cluster.get(name, []), field)
                if value is not None:
                    print(f"| {name} | {len(cluster[name])} | {label} | {value:,.1f} |")
    pinned = {name: median(rows, "throughput") for (name, label), rows in groups.items() if label == "pinned"}
    unpinned = {name: median(rows, "throughput") for (name, label), rows in groups.items() if label == "unpinned"}
    both = [n for n in unpinned if pinned.get(n)]
    if both:
        print()
        print("| unpinned / pinned | ratio | server cores unpinned |")
        print("|---|---|---|")
        for name in both:
            cores = median(groups[(name, "unpinned")], "server_cores")
            cores = "" if cores is None else f"{cores:.2f}"
            print(f"| {name} | {unpinned[name] / pinned[name]:.2f} | {cores} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/bench-results/results.jsonl")
