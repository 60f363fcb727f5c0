"""What the ablation scripts share: their command line, running a recipe in-process (a finished run is
reused), and the mean and standard deviation over seeds."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def arguments(description: str, out: str, extra=None) -> tuple[argparse.Namespace, list[str]]:
    """The parsed command line, and the recipe arguments every run of the ablation shares; ``extra(parser)``
    adds a script's own options."""
    parser = argparse.ArgumentParser(description=description)
    if extra is not None:
        extra(parser)
    parser.add_argument("--data-root", default="data/synth")
    parser.add_argument("--config", default="recipes/configs/demo.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=4, help="epochs, or the most epochs with --early-stop")
    parser.add_argument("--early-stop", type=int, default=0, metavar="N",
                        help="stop a run after N epochs without a better validation score (0: train --epochs)")
    parser.add_argument("--train-clips", type=int, default=1500, help="clips per epoch")
    # Validation clips cost as much as training ones; pooled CCC and F1 barely move with the stride
    # (neighbouring frames are near-duplicates).
    parser.add_argument("--val-stride", type=int, default=3, help="validate on every N-th frame")
    parser.add_argument("--out", default=out)
    args = parser.parse_args()
    os.environ.setdefault("ABAW_CACHE", str(Path(args.out) / "cache"))
    common = ["--config", args.config, f"data.root={args.data_root}", f"train.epochs={args.epochs}",
              f"data.train_clips={args.train_clips}", f"train.early_stop={args.early_stop}",
              f"data.val_stride={args.val_stride}"]
    return args, common


def finished(run: Path, epochs: int) -> bool:
    """Whether ``run`` trained its ``epochs`` or stopped early (the loop writes train_state.json at its end)."""
    state_file = run / "train_state.json"
    if not state_file.is_file():
        return False
    state = json.loads(state_file.read_text())
    patience = yaml.safe_load((run / "config.yaml").read_text())["train"].get("early_stop", 0)
    return state["epoch"] >= epochs or bool(patience and state["epochs_without_improvement"] >= patience)


def run_recipe(script: str, args: list[str], run: Path, epochs: int) -> dict:
    """Train ``run`` with a recipe unless it already finished (``epochs``, or stopped early); its best
    checkpoint's metrics."""
    if not finished(run, epochs):
        spec = importlib.util.spec_from_file_location(script, ROOT / "recipes" / f"{script}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        code = module.main([*args, f"train.out_dir={run}"])
        if code != 0:
            raise SystemExit(f"{run}: the recipe exited with {code}")
    return json.loads((run / "best" / "metrics.json").read_text())


def summarize(variants: dict[str, dict], metrics: tuple[str, ...]) -> None:
    """Add the mean and (sample) standard deviation over seeds to every variant."""
    for entry in variants.values():
        per_seed = entry["seeds"].values()
        entry["mean"] = {m: statistics.fmean(s[m] for s in per_seed) for m in metrics}
        entry["std"] = {m: statistics.stdev(s[m] for s in per_seed) if len(per_seed) > 1 else 0.0 for m in metrics}


def table(variants: dict[str, dict], metrics: tuple[str, ...], headers: tuple[str, ...]) -> str:
    """A markdown table of mean ± std per variant."""
    lines = [f"| variant | {' | '.join(headers)} |", "|---|" + "---:|" * len(headers)]
    for name, entry in variants.items():
        lines.append(f"| {name} | " + " | ".join(f"{entry['mean'][m]:.3f} ± {entry['std'][m]:.3f}"
                                                  for m in metrics) + " |")
    return "\n".join(lines)


def paired_differences(variants: dict[str, dict], pairs: list[tuple[str, str]], metric: str) -> dict[str, dict]:
    """Per seed, ``variant - reference`` on ``metric`` for each (variant, reference) pair present, with the mean,
    the (sample) standard deviation and how many seeds the variant wins."""
    differences = {}
    for variant, reference in pairs:
        if variant not in variants or reference not in variants:
            continue
        mine, theirs = variants[variant]["seeds"], variants[reference]["seeds"]
        per_seed = {s: mine[s][metric] - theirs[s][metric] for s in mine if s in theirs}
        values = list(per_seed.values())
        differences[f"{variant} - {reference}"] = {
            "metric": metric, "seeds": per_seed, "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0, "wins": sum(v > 0 for v in values)}
    return differences


def difference_table(differences: dict[str, dict]) -> str:
    """A markdown table of paired differences, one row per comparison."""
    lines = ["| comparison | metric | per seed | mean ± std | wins |", "|---|---|---|---:|---:|"]
    for name, d in differences.items():
        per_seed = ", ".join(f"{v:+.3f}" for v in d["seeds"].values())
        lines.append(f"| {name} | {d['metric']} | {per_seed} | {d['mean']:+.3f} ± {d['std']:.3f} | "
                     f"{d['wins']}/{len(d['seeds'])} |")
    return "\n".join(lines)
