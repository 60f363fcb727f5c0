"""Does a 2-process CPU run (gloo) of each recipe give the validation metrics of a 1-process run?

Both runs see the same clips in the same order (the epoch sampler is seeded by epoch, and accelerate deals
each process its share of every global batch); the 2-process run uses half the batch per process, so the
global batch is the same. They still differ a little, for reasons that are the method's, not a bug's:
BatchNorm statistics and the batch CCC loss are computed per process (on 2 x B/2 clips instead of B), and
floating-point sums run in another order. Prediction itself is exact across processes (a test checks it).

    python benchmarks/multiprocess_training.py --data-root data/synth [--config recipes/configs/demo.yaml]
        [--epochs 4] [--seeds 0 1]

The yardstick for "the same metrics" is the run-to-run spread that the seed alone causes: the gap between
1 and 2 processes is compared with the gap between two 1-process runs that differ only in their seed.

Writes benchmarks/results/multiprocess_training.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from abaw.io import write_json

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("ccc_valence", "ccc_arousal", "expr_f1", "au_f1", "score")


def launch(processes: int, script: str, args: list[str]) -> float:
    config = ROOT / "recipes" / "accelerate" / ("cpu.yaml" if processes == 1 else "cpu_2proc.yaml")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config),
                    str(ROOT / "recipes" / script), *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def best_metrics(run: Path) -> dict[str, float]:
    best = json.loads((run / "best" / "metrics.json").read_text())
    return {"epoch": best["epoch"], "ccc_valence": best["va"]["ccc_valence"], "ccc_arousal": best["va"]["ccc_arousal"],
            "expr_f1": best["expr"]["f1_macro"], "au_f1": best["au"]["f1_mean"], "score": best["score"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data/synth")
    parser.add_argument("--config", default="recipes/configs/demo.yaml")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--batch-size", type=int, default=64, help="global batch (2 processes get half each)")
    parser.add_argument("--out", default="runs/bench_multiprocess")
    args = parser.parse_args()
    out = Path(args.out)
    common = ["--config", args.config, f"data.root={args.data_root}", f"train.epochs={args.epochs}",
              "data.num_workers=0", "train.early_stop=0"]
    results: dict = {"config": args.config, "epochs": args.epochs, "global_batch": args.batch_size,
                     "seeds": args.seeds, "runs": {}}
    for seed in args.seeds:
        for processes in (1, 2):
            batch = [f"train.batch_size={args.batch_size // processes}", f"train.seed={seed}"]
            teacher = out / f"teacher_s{seed}_{processes}p"
            seconds = launch(processes, "mtl_teacher.py", [*common, *batch, f"train.out_dir={teacher}"])
            results["runs"][teacher.name] = {**best_metrics(teacher), "seconds": round(seconds, 1)}
            # Both students of a seed distil the SAME (1-process) teacher, so only the student's run differs.
            student = out / f"student_s{seed}_{processes}p"
            seconds = launch(processes, "student_kd.py", [*common, *batch, "--teacher",
                                                          str(out / f"teacher_s{seed}_1p"),
                                                          f"train.out_dir={student}", "model.modalities=[visual]"])
            results["runs"][student.name] = {**best_metrics(student), "seconds": round(seconds, 1)}
    runs = results["runs"]
    for recipe in ("teacher", "student"):
        processes_gap = {m: max(abs(runs[f"{recipe}_s{s}_1p"][m] - runs[f"{recipe}_s{s}_2p"][m]) for s in args.seeds)
                         for m in METRICS}
        seed_gap = {m: max(abs(runs[f"{recipe}_s{a}_1p"][m] - runs[f"{recipe}_s{b}_1p"][m])
                           for a in args.seeds for b in args.seeds) for m in METRICS}
        results[recipe] = {"largest_process_gap": processes_gap, "largest_seed_gap": seed_gap}
    print(f"| run | {' | '.join(METRICS)} | best epoch | seconds |")
    print("|---|" + "---:|" * (len(METRICS) + 2))
    for name, row in runs.items():
        print(f"| {name} | " + " | ".join(f"{row[m]:.3f}" for m in METRICS) + f" | {row['epoch']} | {row['seconds']} |")
    for recipe in ("teacher", "student"):
        for gap in ("largest_process_gap", "largest_seed_gap"):
            print(f"{recipe} {gap}: " + ", ".join(f"{m} {v:.3f}" for m, v in results[recipe][gap].items()))
    path = ROOT / "benchmarks" / "results" / "multiprocess_training.json"
    write_json(path, results)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
