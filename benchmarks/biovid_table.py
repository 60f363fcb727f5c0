"""The synthetic-BioVid PKDOT / MT-PKDOT table from the results of ``recipes/biovid_folds.py``: per-fold test
accuracy of every row, mean ± std over folds, and the paired differences (the same fold and seed) behind each
paper claim.

    python benchmarks/biovid_table.py runs/biovid/pain_binary/results.json runs/biovid/pain/results.json

Copies each results file to ``benchmarks/results/biovid_pkdot_<task>.json`` and prints markdown.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
# Each claim: (row, baseline row); the paper's claim is that the first beats the second.
CLAIMS = (("PKD (cosine)", "visual-only"), ("PKDOT (OT)", "PKD (cosine)"), ("PKDOT (OT)", "visual-only"),
          ("MT-PKDOT", "PKDOT (OT)"), ("MT-PKDOT", "visual-only"), ("soft labels", "visual-only"),
          ("PKD (cosine)", "soft labels"))


def mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {std:.3f}"


def tables(results: dict) -> str:
    variants = results["variants"]
    keys = list(next(iter(variants.values()))["test"])
    lines = [f"**{results['task']}** (test accuracy per fold; mean ± std over {len(keys)} fold-seeds)", "",
             "| model | " + " | ".join(k.replace("fold", "f").replace("/seed", "/s") for k in keys) + " | accuracy | macro F1 | MAE |",
             "|---|" + "---:|" * (len(keys) + 3)]
    for name, entry in variants.items():
        test = entry["test"]
        cells = [f"{test[k]['accuracy']:.3f}" for k in keys]
        summary = [mean_std([test[k][m] for k in keys]) for m in ("accuracy", "f1_macro", "mae")]
        lines.append(f"| {name} | " + " | ".join(cells + summary) + " |")
    lines += ["", "| claim | differences per fold (accuracy) | mean ± std | folds better |", "|---|---|---:|---:|"]
    for row, base in CLAIMS:
        if row in variants and base in variants:
            diffs = [variants[row]["test"][k]["accuracy"] - variants[base]["test"][k]["accuracy"] for k in keys]
            better = sum(d > 0 for d in diffs)
            lines.append(f"| {row} − {base} | {' '.join(f'{d:+.3f}' for d in diffs)} | {mean_std(diffs)} | "
                         f"{better}/{len(diffs)} |")
    return "\n".join(lines)


def main(paths: list[str]) -> int:
    for path in paths:
        results = json.loads(Path(path).read_text())
        shutil.copyfile(path, RESULTS / f"biovid_pkdot_{results['task']}.json")
        print(tables(results) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
