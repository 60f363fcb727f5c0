"""A training run owns its folder (``train.out_dir``): one process trains there at a time, and a folder that
holds another experiment's training is never resumed with this one's config.

Running the same command again resumes the run (``RUN/last``), so the folder of a finished or killed run is
reused on purpose. What must not happen is two experiments sharing it: a second training started while the
first is running (held off by :func:`abaw.folder_lock.hold_folder`), or one started later with another
config, which would continue the first one's weights, optimizer and history under its own name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from accelerate import Accelerator

from abaw.config import ConfigError, ExperimentConfig, load_config, to_dict
from abaw.engine.checkpoint import BEST, resume_folder
from abaw.folder_lock import hold_folder
from abaw.io import complete_folder

# What may differ when a run is resumed: how long it trains, and where its data, cache and outputs are found.
RESUMABLE_CHANGES = frozenset({"name", "train.epochs", "train.early_stop", "train.out_dir", "train.log_with",
                               "data.root", "data.annotations", "data.cache_dir", "data.num_workers"})


@contextmanager
def own_run_folder(config: ExperimentConfig, accelerator: Accelerator) -> Iterator[None]:
    """Hold ``train.out_dir`` for the block (the main process holds it for all), after checking that the run it
    may already hold is this experiment's.

    Raises:
        FolderInUseError: another process trains in the folder.
        ConfigError: the folder holds a run of another config.
    """
    run_dir = Path(config.train.out_dir)
    with hold_folder(run_dir, "run folder", enabled=accelerator.is_main_process):
        if accelerator.is_main_process:
            check_same_experiment(run_dir, config)
        yield


def check_same_experiment(run_dir: Path, config: ExperimentConfig) -> None:
    """Raise if ``run_dir`` holds checkpoints of a run whose config differs from ``config`` beyond
    :data:`RESUMABLE_CHANGES`."""
    if resume_folder(run_dir) is None and complete_folder(run_dir / BEST) is None:
        return  # nothing trained yet: nothing to lose or to mix
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        raise ConfigError(f"{run_dir}: holds checkpoints but no config.yaml, so it cannot be told whether they are "
                          f"this experiment's; use another train.out_dir, or delete the folder to start afresh")
    before, now = _flat(to_dict(load_config(saved))), _flat(to_dict(config))
    changed = [key for key in sorted(before.keys() | now.keys())
               if key not in RESUMABLE_CHANGES and before.get(key) != now.get(key)]
    if changed:
        shown = ", ".join(f"{key} {before.get(key)!r} -> {now.get(key)!r}" for key in changed[:5])
        raise ConfigError(f"{run_dir}: holds a run of another config ({shown}{' ...' if len(changed) > 5 else ''}); "
                          f"resuming it with this one would mix two experiments. Use another train.out_dir, or "
                          f"delete the folder to start afresh")


def _flat(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat
