"""Score a finished run on a part that training never saw: the test part of a subject-independent fold.

Training reads the dataset's first two splits only (``abaw.engine.data.training_data``: "train" to fit, "val"
to select the epoch), so the test part's labels cannot choose a checkpoint. This module runs the run's BEST
checkpoint, the one validation chose, once over another split and scores it with the validation's own scoring
(:func:`abaw.engine.loop.score_outputs`): one clip per sample for a task labelled once per sample, every
labelled frame otherwise.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from accelerate import Accelerator
from torch.utils.data import DataLoader

from abaw.config import load_config
from abaw.datasets import open_dataset
from abaw.engine.checkpoint import load_weights
from abaw.engine.data import build_split, clip_streams
from abaw.engine.loop import predict_rows, score_outputs, video_score_of
from abaw.models import build_model


def score_held_out(run_dir: str | Path, split: str = "test", data_root: str | Path | None = None,
                   checkpoint: str = "best", batch_size: int = 64, accelerator: Accelerator | None = None) -> dict:
    """The metrics of run ``run_dir``'s ``checkpoint`` on ``split`` of its data root (or ``data_root``), as its
    config cuts the clips (fold, windows, streams), without augmentation.

    Returns:
        :func:`abaw.engine.loop.score_outputs`' result: each task's metric result and ``score``.
    """
    run_dir = Path(run_dir)
    config = load_config(run_dir / "config.yaml")
    data = dataclasses.replace(config.data, augment=False, num_workers=0,
                               root=str(data_root) if data_root is not None else config.data.root)
    config = dataclasses.replace(config, data=data)
    model = load_weights(build_model(config.model), run_dir, checkpoint)
    kind, layout = open_dataset(data.root, data.dataset, data.annotations, data)
    part = build_split(config, kind, layout, split, clip_streams(config, model))
    accelerator = accelerator or Accelerator()
    loader = DataLoader(part.dataset, batch_size=batch_size, shuffle=False)
    outputs = predict_rows(model.to(accelerator.device), loader, accelerator, desc=f"scoring {split}")
    return score_outputs(outputs, part.manifest, data.tasks, video_score_of(part.manifest))
