"""Print the fidelity ablation table from `move evaluate` reports.

Each argument is ``LABEL=REPORT_DIR`` (a folder written by ``move evaluate``); the table
has one row per report: reconstruction identity (worst instrument and mean), transfer
identity (all, and inside the target's range), pitch accuracy, and the reconstructions'
temporal detail against the real notes (frame-to-frame change ratio, attack error).

    python benchmarks/fidelity_table.py base=ev/base f8=ev/f8 f8+input=ev/f8_input
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f} %"


def row(label: str, metrics: dict) -> list[str]:
    """One table row of a report's ``metrics.json``."""
    f = metrics["fidelity"]
    per = f["per_instrument"]
    rec = {i: b["reconstruction"] for i, b in per.items()}
    worst = min(rec, key=lambda i: rec[i]["identity"])
    tr = f["all"]["transfer"]
    ratios = [rec[i]["frame_change_ratio"] for i in rec]
    return [
        label,
        " / ".join(f"{_pct(rec[i]['identity'])}" for i in rec),
        f"{_pct(rec[worst]['identity'])} ({worst})",
        _pct(tr["identity"]),
        _pct(tr.get("identity_in_range")),
        _pct(metrics["transfer"]["pitch_accuracy"]),
        " / ".join(f"{r:.2f}" for r in ratios),
        " / ".join(f"{rec[i]['attack_error_ms']:.0f}" for i in rec),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", help="LABEL=REPORT_DIR")
    args = parser.parse_args()
    rows = []
    instruments = None
    for item in args.reports:
        label, _, folder = item.partition("=")
        metrics = json.loads((Path(folder) / "metrics.json").read_text())
        instruments = instruments or list(metrics["fidelity"]["per_instrument"])
        rows.append(row(label, metrics))
    short = "/".join(i.split("-")[0][:4] for i in instruments or [])
    head = ["row", f"reconstruction identity ({short})", "worst", "transfer identity", "in range",
            "pitch", f"frame change x real ({short})", f"attack error ms ({short})"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
