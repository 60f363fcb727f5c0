"""Does a 2-process CPU run (gloo) of each recipe give the validation metrics of a 1-process run?

Both runs see the same clips in the same order (the epoch sampler is seeded by epoch, and accelerate deals
each process its share of every global batch); the 2-process run uses half the batch per process, so the
global batch is the same. They still differ a little, for reasons that are the method's, not a bug's:
BatchNorm statistics and the batch CCC loss are computed per process (on 2 x B/2 clips instead of B), and
floating-point sums run in another order. Prediction itself is exact across processes (a test checks it).

    python benchmarks/multiprocess_training.py --data-root data/synth [--config recipes/configs/demo.yaml]

Writes benchmarks/results/multiprocess_training.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

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
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64, help="global batch (2 processes get half each)")
    parser.add_argument("--out", default="runs/bench_multiprocess")
    args = parser.parse_args()
    out = Path(args.out)
    common = ["--config", args.config, f"data.root={args.data_root}", f"train.epochs={args.epochs}",
              "data.num_workers=0", "train.early_stop=0"]
    results: dict = {"config": args.config, "epochs": args.epochs, "global_batch": args.batch_size, "runs": {}}
    for processes in (1, 2):
        batch = f"train.batch_size={args.batch_size // processes}"
        teacher = out / f"teacher_{processes}p"
        seconds = launch(processes, "mtl_teacher.py", [*common, batch, f"train.out_dir={teacher}"])
        results["runs"][f"teacher_{processes}p"] = {**best_metrics(teacher), "seconds": round(seconds, 1)}
        # Both students distil the SAME (1-process) teacher, so only the student's run differs.
        student = out / f"student_{processes}p"
        seconds = launch(processes, "student_kd.py", [*common, batch, "--teacher", str(out / "teacher_1p"),
                                                      f"train.out_dir={student}", "model.modalities=[visual]"])
        results["runs"][f"student_{processes}p"] = {**best_metrics(student), "seconds": round(seconds, 1)}
    for recipe in ("teacher", "student"):
        one, two = results["runs"][f"{recipe}_1p"], results["runs"][f"{recipe}_2p"]
        results[f"{recipe}_max_abs_difference"] = max(abs(one[m] - two[m]) for m in METRICS)
    print(f"| run | {' | '.join(METRICS)} | best epoch | seconds |")
    print("|---|" + "---:|" * (len(METRICS) + 2))
    for name, row in results["runs"].items():
        print(f"| {name} | " + " | ".join(f"{row[m]:.3f}" for m in METRICS) + f" | {row['epoch']} | {row['seconds']} |")
    for recipe in ("teacher", "student"):
        print(f"{recipe}: largest |1-process - 2-process| difference {results[f'{recipe}_max_abs_difference']:.3f}")
    path = ROOT / "benchmarks" / "results" / "multiprocess_training.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
