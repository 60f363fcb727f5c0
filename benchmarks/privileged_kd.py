"""Ablation of privileged distillation on the synthetic set: does the audio the student never hears reach it?

Per seed and teacher fusion (concatenation, joint cross-attention), these visual-only models are trained:

    visual-only baseline          no teacher (shared by both fusions)
    soft labels                   eq. 13's soft labels only
    + cosine                      + PKD's cosine loss to the teacher's fused embedding
    + cosine + NTM                + PKD's negative-transfer module (threshold 0.8 on 2-s sequences)
    + PKDOT                       + PKDOT's optimal-transport loss (weight 0.6, k = 30 of 64, top anchors)

Every student reads its teacher's exported outputs (one teacher pass per run instead of one per step), so all
variants see the same teacher targets. Each model is its best epoch by the summed validation score; the
table reports valence and arousal CCC, EXPR F1 and AU F1 on the validation videos.

    python benchmarks/privileged_kd.py --data-root data/synth [--seeds 0 1 2] [--epochs 4] [--train-clips 1500]

Writes benchmarks/results/privileged_kd.json and prints a table. Finished runs are reused, so an interrupted
ablation continues where it stopped.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMON = ["data.val_stride=3", "train.early_stop=0"]
TEACHERS = {"concat": ["model.fusion=concat"], "jca": ["model.fusion=jca", "model.attention_width=64"]}
STUDENT = ["model.modalities=[visual]", "model.fusion=concat", "distill.teacher_outputs=exported"]
STUDENTS: dict[str, list[str]] = {
    "soft labels": [],
    "+ cosine": ["distill.privileged=[cosine]"],
    "+ cosine + NTM": ["distill.privileged=[cosine]", "distill.ntm_threshold=0.8"],
    "+ PKDOT": ["distill.privileged=[ot]"],
}
METRICS = ("ccc_valence", "ccc_arousal", "expr", "au")


def recipe(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "recipes" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def train(script: str, args: list[str], run: Path, epochs: int) -> dict[str, float]:
    state = run / "train_state.json"
    if not (state.is_file() and json.loads(state.read_text())["epoch"] >= epochs):
        code = recipe(script)([*args, f"train.out_dir={run}"])
        if code != 0:
            raise SystemExit(f"{run}: the recipe exited with {code}")
    best = json.loads((run / "best" / "metrics.json").read_text())
    return {"ccc_valence": best["va"]["ccc_valence"], "ccc_arousal": best["va"]["ccc_arousal"],
            "expr": best["expr"]["f1_macro"], "au": best["au"]["f1_mean"], "best_epoch": best["epoch"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="data/synth")
    parser.add_argument("--config", default="recipes/configs/demo.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-clips", type=int, default=1500, help="clips per epoch")
    parser.add_argument("--out", default="runs/privileged_kd")
    args = parser.parse_args()
    os.environ.setdefault("ABAW_CACHE", str(Path(args.out) / "cache"))
    common = ["--config", args.config, f"data.root={args.data_root}", f"train.epochs={args.epochs}",
              f"data.train_clips={args.train_clips}", *COMMON]
    results: dict = {"config": args.config, "data_root": args.data_root, "epochs": args.epochs,
                     "train_clips": args.train_clips, "variants": {}}
    started = time.perf_counter()

    def record(name: str, seed: int, scores: dict[str, float]) -> None:
        results["variants"].setdefault(name, {"seeds": {}})["seeds"][str(seed)] = scores
        print(f"seed {seed} {name}: " + ", ".join(f"{m} {scores[m]:.3f}" for m in METRICS), flush=True)

    for seed in args.seeds:
        folder = Path(args.out) / f"seed{seed}"
        seeded = [*common, f"train.seed={seed}"]
        record("visual-only baseline", seed, train("mtl_teacher", [*seeded, "model.modalities=[visual]"],
                                                   folder / "visual_only", args.epochs))
        for fusion, overrides in TEACHERS.items():
            teacher = folder / f"teacher_{fusion}"
            record(f"{fusion} teacher", seed, train("mtl_teacher", [*seeded, *overrides], teacher, args.epochs))
            for name, extra in STUDENTS.items():
                run = folder / f"{fusion}_{name.replace('+ ', '').replace(' ', '_')}"
                record(f"{fusion}: {name}", seed, train("student_kd", [*seeded, "--teacher", str(teacher),
                                                                       *STUDENT, *extra], run, args.epochs))
    for entry in results["variants"].values():
        per_seed = entry["seeds"].values()
        entry["mean"] = {m: statistics.fmean(s[m] for s in per_seed) for m in METRICS}
        entry["std"] = {m: statistics.stdev(s[m] for s in per_seed) if len(per_seed) > 1 else 0.0 for m in METRICS}
    results["minutes"] = round((time.perf_counter() - started) / 60, 1)
    path = ROOT / "benchmarks" / "results" / "privileged_kd.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print("\n| variant | CCC-V | CCC-A | EXPR F1 | AU F1 |\n|---|" + "---:|" * 4)
    for name, entry in results["variants"].items():
        print(f"| {name} | " + " | ".join(f"{entry['mean'][m]:.3f} ± {entry['std'][m]:.3f}" for m in METRICS) + " |")
    print(f"\nwritten to {path} ({results['minutes']} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
