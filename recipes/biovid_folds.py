"""The PKDOT / MT-PKDOT table on BioVid, fold by fold: subject-independent, each model selected on its fold's
validation subjects and scored once on its test subjects.

    python recipes/biovid_folds.py --config recipes/configs/biovid_cpu.yaml --folds FOLDS.csv \\
        [--data-root ROOT] [--task pain_binary|pain] [--fold 0 1 ...] [--seeds 0 ...] [--variants ...] \\
        [--out runs/biovid] [section.key=value ...]

Write FOLDS.csv once (``abaw-data --data-root ROOT --folds 5 --out FOLDS.csv``) so that every method sees the
same folds; the data root is ``--data-root`` (default: the config's ``data.root``). Per
fold and seed, in order (each a recipe run in ``OUT/<task>/fold<k>/seed<s>/<variant>``; a finished run is
reused, a stopped one resumes):

    visual-only              the faces alone: the baseline a student must beat
    physio teacher           physiology alone (model.modalities=[physio])
    visual-physio teacher    faces and physiology, concatenation fusion: the privileged teacher
    soft labels              visual-only student, tempered CE to the teacher (no embedding loss)
    PKD (cosine)             + cosine to the teacher's fused embedding
    PKDOT (OT)               + optimal transport between the similarity structures instead
    teacher pool             MT-PKDOT stage 1: the teacher grown into a pool of modality adapters
    MT-PKDOT                 stage 2: OT + centroid to the most confident pool member per sample

Students read their teacher's exported outputs. The test part is read only here, after training, by the best
checkpoint (:mod:`abaw.engine.held_out`). Writes ``OUT/<task>/results.json`` (every fold's test and
validation scores, mean ± std over folds and seeds) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # the recipes beside this one

import mtl_teacher  # noqa: E402
import student_kd  # noqa: E402
import teacher_pool  # noqa: E402

from abaw.datasets.folds import read_folds  # noqa: E402
from abaw.engine.held_out import score_held_out  # noqa: E402
from abaw.io import write_json  # noqa: E402

STUDENT = ["model.modalities=[visual]", "distill.teacher_outputs=exported"]


@dataclass(frozen=True)
class Variant:
    """One row of the table: the recipe that trains it, its overrides, and the variant it learns from."""

    name: str
    recipe: object
    overrides: tuple[str, ...]
    teacher: str | None = None


VARIANTS = (
    Variant("visual-only", mtl_teacher, ("model.modalities=[visual]",)),
    Variant("physio teacher", mtl_teacher, ("model.modalities=[physio]",)),
    Variant("visual-physio teacher", mtl_teacher, ("model.modalities=[visual,physio]",)),
    Variant("soft labels", student_kd, (*STUDENT, "distill.privileged=[]"), "visual-physio teacher"),
    Variant("PKD (cosine)", student_kd, (*STUDENT, "distill.privileged=[cosine]"), "visual-physio teacher"),
    Variant("PKDOT (OT)", student_kd, (*STUDENT, "distill.privileged=[ot]"), "visual-physio teacher"),
    Variant("teacher pool", teacher_pool, (), "visual-physio teacher"),
    Variant("MT-PKDOT", student_kd, (*STUDENT, "distill.privileged=[ot,centroid]", "distill.pool_selection=sample"),
            "teacher pool"),
)
METRICS = ("accuracy", "f1_macro", "mae")


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="biovid_folds.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="experiment config, e.g. recipes/configs/biovid_cpu.yaml")
    parser.add_argument("--folds", required=True, type=Path, help="fold file (abaw-data --folds K --out FOLDS.csv)")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="the BioVid root as unpacked, or written by abaw-synth (default: the config's data.root)")
    parser.add_argument("--task", choices=("pain_binary", "pain"), default="pain_binary",
                        help="BL1 vs PA4 (pain_binary) or the five classes (pain) (default: pain_binary)")
    parser.add_argument("--fold", type=int, nargs="+", default=None, help="folds to run (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (default: 0)")
    parser.add_argument("--variants", nargs="+", default=None,
                        help=f"rows to run, among: {'; '.join(v.name for v in VARIANTS)} (default: all; a student "
                             f"needs its teacher's row)")
    parser.add_argument("--out", type=Path, default=Path("runs/biovid"), help="runs folder (default: runs/biovid)")
    parser.add_argument("overrides", nargs="*", metavar="section.key=value", help="config overrides")
    return parser.parse_intermixed_args(argv)


def finished(run: Path) -> bool:
    """A run whose best checkpoint and last epoch are written and whose training ended (``done``)."""
    return (run / "best" / "metrics.json").is_file() and (run / "done").is_file()


def train(variant: Variant, config: str, overrides: list[str], run: Path, runs: dict[str, Path]) -> None:
    """Run ``variant``'s recipe into ``run`` unless it already finished there."""
    if finished(run):
        return
    teacher = ["--teacher", str(runs[variant.teacher])] if variant.teacher else []
    code = variant.recipe.main(["--config", config, *teacher, *overrides, *variant.overrides,
                                f"train.out_dir={run}"])
    if code != 0:
        raise SystemExit(f"{run}: {variant.name} exited with {code}")
    (run / "done").touch()


def summary(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values)}


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    folds = read_folds(args.folds)
    fold_ids = args.fold if args.fold is not None else list(range(len(folds)))
    chosen = [v for v in VARIANTS if args.variants is None or v.name in args.variants]
    names = {v.name for v in chosen}
    lacking = [v.name for v in chosen if v.teacher is not None and v.teacher not in names]
    if lacking:
        raise SystemExit(f"{', '.join(lacking)} learn from a teacher row that --variants leaves out")
    task = args.task
    common = [*args.overrides, f"data.folds={args.folds}", f"data.tasks=[{task}]", f"model.tasks=[{task}]"]
    if args.data_root is not None:
        common.append(f"data.root={args.data_root}")
    out = args.out / task
    results: dict[str, dict] = {v.name: {"test": {}, "val": {}} for v in chosen}
    for fold in fold_ids:
        for seed in args.seeds:
            runs: dict[str, Path] = {}
            for variant in chosen:
                run = out / f"fold{fold}" / f"seed{seed}" / variant.name.split(" (")[0].replace(" ", "_")
                runs[variant.name] = run
                train(variant, args.config, [*common, f"data.fold={fold}", f"train.seed={seed}"], run, runs)
                test = score_held_out(run, "test")[task]
                val = json.loads((run / "best" / "metrics.json").read_text())[task]
                key = f"fold{fold}/seed{seed}"
                results[variant.name]["test"][key] = {m: test[m] for m in METRICS}
                results[variant.name]["val"][key] = {m: val[m] for m in METRICS}
                print(f"{key} {variant.name}: test accuracy {test['accuracy']:.3f}, F1 {test['f1_macro']:.3f}, "
                      f"MAE {test['mae']:.3f} (validation accuracy {val['accuracy']:.3f})", flush=True)
    for entry in results.values():
        entry["summary"] = {m: summary([s[m] for s in entry["test"].values()]) for m in METRICS}
    write_json(out / "results.json", {"task": task, "config": args.config, "folds": str(args.folds),
                                      "fold_ids": fold_ids, "seeds": args.seeds, "overrides": args.overrides,
                                      "variants": results})
    print(table(results))
    return 0


def table(results: dict[str, dict]) -> str:
    """Mean ± std over folds and seeds of each row's test scores, as markdown."""
    lines = ["| model | accuracy | macro F1 | MAE (classes) |", "|---|---:|---:|---:|"]
    for name, entry in results.items():
        cells = [f"{entry['summary'][m]['mean']:.3f} ± {entry['summary'][m]['std']:.3f}" for m in METRICS]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
