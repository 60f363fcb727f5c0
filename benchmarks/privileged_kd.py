"""Ablation of privileged distillation on the synthetic set: does the audio the student never hears reach it?

Per seed and teacher fusion (concatenation, joint cross-attention), these visual-only models are trained:

    visual-only baseline          no teacher (shared by both fusions)
    soft labels                   eq. 13's soft labels only
    + cosine                      + PKD's cosine loss to the teacher's fused embedding
    + cosine + NTM                + PKD's negative-transfer module (threshold 0.8 on 2-s sequences)
    + PKDOT                       + PKDOT's optimal-transport loss (weight 0.6, k = 30 of 64, top anchors)
    + MT-PKDOT                    soft labels + OT (0.6) + centroid (1.0) to each frame's most confident member
                                  of a teacher pool (the lowest error on the frame's labels; ties and unlabelled
                                  frames: the joint teacher). The pool is the teacher grown by stage 1
                                  (recipes/teacher_pool.py, POOL_EPOCHS more epochs from its best checkpoint).

Every student reads its teacher's exported outputs (one teacher pass per run instead of one per step), so all
variants see the same teacher targets. Each model is its best epoch by the summed validation score; the
table reports valence and arousal CCC, EXPR F1 and AU F1 on the validation videos.

    python benchmarks/privileged_kd.py --data-root data/synth [--seeds 0 1 2] [--epochs 4] [--train-clips 1500]

Writes benchmarks/results/privileged_kd.json and prints a table. Finished runs are reused, so an interrupted
ablation continues where it stopped.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from abaw.io import write_json

sys.path.insert(0, str(Path(__file__).parent))
from ablation import ROOT, arguments, difference_table, paired_differences, run_recipe, summarize, table  # noqa: E402

COMMON: list[str] = []
TEACHERS = {"concat": ["model.fusion=concat"], "jca": ["model.fusion=jca", "model.attention_width=64"]}
STUDENT = ["model.modalities=[visual]", "model.fusion=concat", "distill.teacher_outputs=exported"]
STUDENTS: dict[str, list[str]] = {
    "soft labels": [],
    "+ cosine": ["distill.privileged=[cosine]"],
    "+ cosine + NTM": ["distill.privileged=[cosine]", "distill.ntm_threshold=0.8"],
    "+ PKDOT": ["distill.privileged=[ot]"],
}
MT_PKDOT = ["distill.privileged=[ot,centroid]", "distill.pool_selection=sample", "distill.pool_confidence=error"]
POOL_EPOCHS = 2
METRICS = ("ccc_valence", "ccc_arousal", "expr", "au")


def claims(fusion: str) -> list[tuple[str, str]]:
    """The seed papers' claims as (variant, reference) pairs, compared on arousal CCC seed by seed: every student
    against the visual-only baseline (PKD), OT against PKD's cosine (PKDOT), the pool against one teacher
    (MT-PKDOT)."""
    baseline = "visual-only baseline"
    return [*((f"{fusion}: {name}", baseline) for name in [*STUDENTS, "+ MT-PKDOT"]),
            (f"{fusion}: + PKDOT", f"{fusion}: + cosine + NTM"), (f"{fusion}: + MT-PKDOT", f"{fusion}: + PKDOT")]


def add_selection(parser) -> None:
    """Options that run a part of the ablation."""
    parser.add_argument("--fusions", nargs="+", choices=list(TEACHERS), default=list(TEACHERS))
    parser.add_argument("--students", nargs="+", choices=list(STUDENTS), default=list(STUDENTS))
    parser.add_argument("--no-pool", dest="pool", action="store_false", help="leave out the MT-PKDOT rows")
    parser.add_argument("--json", type=Path, default=None, help="where to write the results (default: "
                        "benchmarks/results/privileged_kd.json)")


def scores(best: dict) -> dict[str, float]:
    return {"ccc_valence": best["va"]["ccc_valence"], "ccc_arousal": best["va"]["ccc_arousal"],
            "expr": best["expr"]["f1_macro"], "au": best["au"]["f1_mean"], "best_epoch": best["epoch"]}


def main() -> int:
    args, common = arguments(__doc__.splitlines()[0], "runs/privileged_kd", extra=add_selection)
    common = [*common, *COMMON]
    results: dict = {"config": args.config, "data_root": args.data_root, "epochs": args.epochs,
                     "train_clips": args.train_clips, "val_stride": args.val_stride, "early_stop": args.early_stop,
                     "variants": {}}
    started = time.perf_counter()

    def record(name: str, seed: int, scores: dict[str, float]) -> None:
        results["variants"].setdefault(name, {"seeds": {}})["seeds"][str(seed)] = scores
        print(f"seed {seed} {name}: " + ", ".join(f"{m} {scores[m]:.3f}" for m in METRICS), flush=True)

    for seed in args.seeds:
        folder = Path(args.out) / f"seed{seed}"
        seeded = [*common, f"train.seed={seed}"]
        baseline = run_recipe("mtl_teacher", [*seeded, "model.modalities=[visual]"], folder / "visual_only",
                              args.epochs)
        record("visual-only baseline", seed, scores(baseline))
        for fusion, overrides in ((f, TEACHERS[f]) for f in args.fusions):
            teacher = folder / f"teacher_{fusion}"
            record(f"{fusion} teacher", seed, scores(run_recipe("mtl_teacher", [*seeded, *overrides], teacher,
                                                                args.epochs)))
            for name, extra in ((n, STUDENTS[n]) for n in args.students):
                run = folder / f"{fusion}_{name.replace('+ ', '').replace(' ', '_')}"
                record(f"{fusion}: {name}", seed, scores(run_recipe(
                    "student_kd", [*seeded, "--teacher", str(teacher), *STUDENT, *extra], run, args.epochs)))
            if not args.pool:
                continue
            pool = folder / f"pool_{fusion}"
            record(f"{fusion} teacher pool (joint)", seed, scores(run_recipe(
                "teacher_pool", [*seeded, "--teacher", str(teacher), f"train.epochs={POOL_EPOCHS}"], pool,
                POOL_EPOCHS)))
            record(f"{fusion}: + MT-PKDOT", seed, scores(run_recipe(
                "student_kd", [*seeded, "--teacher", str(pool), *STUDENT, *MT_PKDOT], folder / f"{fusion}_MT-PKDOT",
                args.epochs)))
    summarize(results["variants"], METRICS)
    results["paired_differences"] = paired_differences(
        results["variants"], [pair for fusion in args.fusions for pair in claims(fusion)], "ccc_arousal")
    results["minutes"] = round((time.perf_counter() - started) / 60, 1)
    path = args.json or ROOT / "benchmarks" / "results" / "privileged_kd.json"
    write_json(path, results)
    print("\n" + table(results["variants"], METRICS, ("CCC-V", "CCC-A", "EXPR F1", "AU F1")))
    print("\n" + difference_table(results["paired_differences"]))
    print(f"\nwritten to {path} ({results['minutes']} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
