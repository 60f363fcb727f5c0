"""A training killed with SIGKILL mid-epoch resumes from its last checkpoint and ends exactly where an
uninterrupted run with the same seed ends: the same metrics, the same best epoch, the same weights.

Both runs are the command a user types (``python recipes/mtl_teacher.py ...``) in a subprocess. The run to be
killed is that command started through a small wrapper that sends the process SIGKILL at the start of a given
training step (a hook in the test, not in the library), so the kill lands mid-epoch every time, without
timing. The settings make every piece of resumed state matter: a cosine schedule with warm-up (LR scheduler),
dynamic task weights (TrainState), augmentation and dropout (RNG states), a fresh random subset of clips each
epoch (the sampler's epoch).
"""

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "mtl_teacher.py"
TINY = ROOT / "recipes" / "configs" / "tiny.yaml"
STEPS_PER_EPOCH = 4  # tiny.yaml: data.train_clips 64 / train.batch_size 16
KILL_AT_STEP = STEPS_PER_EPOCH + 2  # the 2nd step of epoch 2, after epoch 1's checkpoint

# Runs the recipe as its own __main__, and SIGKILLs the process when the objective is called for training
# step KILL_AT_STEP (1-based), before the step runs. Validation does not call the objective.
KILLER = """
import os, runpy, signal, sys
from abaw.engine.objectives import MultitaskObjective
kill_at, step, call = int(sys.argv[1]), [0], MultitaskObjective.__call__
def counted(self, *args, **kwargs):
    step[0] += 1
    if step[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return call(self, *args, **kwargs)
MultitaskObjective.__call__ = counted
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def train(run_dir: Path, synth_root: Path, cache: Path, kill_at: int | None = None) -> subprocess.CompletedProcess:
    command = [str(RECIPE), "--config", str(TINY), f"data.root={synth_root}", f"data.cache_dir={cache}",
               f"train.out_dir={run_dir}", "train.epochs=3", "train.schedule=cosine", "train.warmup_epochs=0.5",
               "loss.gamma_rate=0.5", "data.augment=true"]
    prefix = [sys.executable] if kill_at is None else [sys.executable, "-c", KILLER, str(kill_at)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same thread count in every run
    return subprocess.run(prefix + command, capture_output=True, text=True, env=env, timeout=300)


def metrics_rows(run_dir: Path) -> list[dict]:
    """metrics.csv without its timing column."""
    with open(run_dir / "metrics.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def test_a_run_killed_mid_epoch_resumes_to_the_same_result(synth_root, tmp_path):
    cache = tmp_path / "cache"
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    done = train(whole, synth_root, cache)
    assert done.returncode == 0, done.stderr[-3000:]

    killed = train(resumed, synth_root, cache, kill_at=KILL_AT_STEP)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    # Killed in epoch 2: epoch 1 logged and checkpointed, nothing of epoch 2 saved.
    assert [row["epoch"] for row in metrics_rows(resumed)] == ["1"]
    assert json.loads((resumed / "last" / "train_state.json").read_text())["epoch"] == 1

    again = train(resumed, synth_root, cache)  # the same command, run again
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed" in again.stdout and "at epoch 1" in again.stdout

    assert metrics_rows(resumed) == metrics_rows(whole)  # every epoch's losses and scores, to the last digit
    assert [row["epoch"] for row in metrics_rows(whole)] == ["1", "2", "3"]
    best_whole = json.loads((whole / "best" / "metrics.json").read_text())
    assert json.loads((resumed / "best" / "metrics.json").read_text()) == best_whole
    for name in ("best", "last"):
        expected = load_file(whole / name / "model.safetensors")
        weights = load_file(resumed / name / "model.safetensors")
        assert weights.keys() == expected.keys()
        assert all(torch.equal(weights[k], expected[k]) for k in expected), name
    state_whole = json.loads((whole / "train_state.json").read_text())
    state_resumed = json.loads((resumed / "train_state.json").read_text())
    for state in (state_whole, state_resumed):
        for row in state["history"]:
            row.pop("seconds")
    assert state_resumed == state_whole
    assert "gamma_va" in metrics_rows(whole)[0]  # the task weights were in play
