"""Ablation of the ABAW 2022 multitask-KD method on the synthetic set (task-wise batches, incomplete labels).

Variants, each trained with 3 seeds on task-wise batches (VA, EXPR, AU and MTL sets in turn, Algorithm 1):

    teacher                              eq. 12 without the task discriminator (audio-visual)
    teacher + discriminator              eq. 12 (delta = 1)
    student                              eq. 13: alpha 10, beta 0.9, gamma dynamic (0.5), delta 1, T 2.5
    student, no discriminator            delta = 0
    student, no cross-task distillation  beta = 0
    student, fixed task weights          gamma = 1
    student, audio-visual                eq. 13 with the teacher's inputs, as the paper's student has

Every student but the last is visual-only; each distils the plain teacher of its seed (its best checkpoint).
Each model is its best epoch by the summed uni-task validation score; it is then scored on the uni-task
validation videos (VA, EXPR, AU) and on the MTL validation file (the MTL score P).

    python benchmarks/multitask_ablation.py --data-root data/synth [--seeds 0 1 2] [--epochs 4] [--train-clips 1500]

Writes benchmarks/results/multitask_ablation.json and prints a table. Finished runs are reused, so an
interrupted ablation continues where it stopped.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader

from abaw.config import load_config
from abaw.data.layout import discover
from abaw.engine.checkpoint import load_weights
from abaw.engine.data import build_mtl_split
from abaw.engine.loop import predict_rows, score_outputs
from abaw.io import write_json
from abaw.models import build_model

sys.path.insert(0, str(Path(__file__).parent))
from ablation import ROOT, arguments, difference_table, paired_differences, run_recipe, summarize, table  # noqa: E402

COMMON = ["data.task_sets=[va,expr,au,mtl]"]
STUDENT = ["model.modalities=[visual]", "loss.alpha=10", "loss.beta=0.9", "loss.gamma_rate=0.5", "loss.delta=1.0"]
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "teacher": ("mtl_teacher", []),
    "teacher + discriminator": ("mtl_teacher", ["loss.delta=1.0"]),
    "student": ("student_kd", STUDENT),
    "student, no discriminator": ("student_kd", [*STUDENT, "loss.delta=0"]),
    "student, no cross-task distillation": ("student_kd", [*STUDENT, "loss.beta=0"]),
    "student, fixed task weights": ("student_kd", [*STUDENT, "loss.gamma_rate=0"]),
    # The paper's student has the teacher's inputs; the toolkit's students are visual-only.
    "student, audio-visual": ("student_kd", [*STUDENT, "model.modalities=[visual,audio]"]),
}
METRICS = ("ccc_valence", "ccc_arousal", "va", "expr", "au", "mtl")
# The paper's claim, the eq.-13 student above its teacher on the MTL score, and what each term adds to it.
CLAIMS = [("student, audio-visual", "teacher"), ("student", "teacher"), ("teacher + discriminator", "teacher"),
          ("student", "student, no discriminator"), ("student", "student, no cross-task distillation"),
          ("student", "student, fixed task weights")]


def add_selection(parser) -> None:
    """Options that run a part of the ablation."""
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--json", type=Path, default=None, help="where to write the results (default: "
                        "benchmarks/results/multitask_ablation.json)")


@torch.no_grad()
def mtl_score(run: Path, data_root: str) -> float:
    """The MTL score P of a run's best checkpoint on the MTL validation file."""
    config = load_config(run / "config.yaml")
    model = load_weights(build_model(config.model), run)
    split = build_mtl_split(config, discover(data_root, annotations=config.data.annotations), "val")
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    loader = DataLoader(split.dataset, batch_size=64, num_workers=config.data.num_workers)
    model, loader = accelerator.prepare(model, loader)
    return score_outputs(predict_rows(model, loader, accelerator), split.manifest, ("va", "expr", "au"))["score"]


def scores(best: dict, run: Path, data_root: str) -> dict[str, float]:
    return {"ccc_valence": best["va"]["ccc_valence"], "ccc_arousal": best["va"]["ccc_arousal"],
            "va": best["va"]["score"], "expr": best["expr"]["f1_macro"], "au": best["au"]["f1_mean"],
            "mtl": mtl_score(run, data_root), "best_epoch": best["epoch"]}


def main() -> int:
    args, common = arguments(__doc__.splitlines()[0], "runs/multitask_ablation", extra=add_selection)
    common = [*common, *COMMON]
    results: dict = {"config": args.config, "data_root": args.data_root, "epochs": args.epochs,
                     "train_clips": args.train_clips, "val_stride": args.val_stride, "early_stop": args.early_stop,
                     "common_overrides": COMMON, "variants": {}}
    started = time.perf_counter()
    for seed in args.seeds:
        folder = Path(args.out) / f"seed{seed}"
        # Every student distils the plain teacher, so it is always trained.
        for name in dict.fromkeys(["teacher", *args.variants]):
            script, overrides = VARIANTS[name]
            run = folder / name.replace(" ", "_").replace(",", "").replace("+", "plus")
            extra = ["--teacher", str(folder / "teacher")] if script == "student_kd" else []
            best = run_recipe(script, [*common, *extra, *overrides, f"train.seed={seed}"], run, args.epochs)
            entry = results["variants"].setdefault(name, {"overrides": overrides, "seeds": {}})
            entry["seeds"][str(seed)] = scores(best, run, args.data_root)
            print(f"seed {seed} {name}: " + ", ".join(f"{m} {entry['seeds'][str(seed)][m]:.3f}" for m in METRICS),
                  flush=True)
    summarize(results["variants"], METRICS)
    results["paired_differences"] = paired_differences(results["variants"], CLAIMS, "mtl")
    results["minutes"] = round((time.perf_counter() - started) / 60, 1)
    path = args.json or ROOT / "benchmarks" / "results" / "multitask_ablation.json"
    write_json(path, results)
    print("\n" + table(results["variants"], METRICS, ("CCC-V", "CCC-A", "VA", "EXPR F1", "AU F1", "MTL P")))
    print("\n" + difference_table(results["paired_differences"]))
    print(f"\nwritten to {path} ({results['minutes']} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
