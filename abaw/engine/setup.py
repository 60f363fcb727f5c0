"""What every recipe does before training: read its command line and config, make the accelerator, seed."""

from __future__ import annotations

import argparse
import dataclasses
import logging

from accelerate import Accelerator
from torch import nn
from accelerate.utils import set_seed

from abaw.config import ConfigError, ExperimentConfig, load_config
from abaw.models import build_model


def recipe_arguments(prog: str, description: str, argv: list[str] | None, teacher: bool = False) -> argparse.Namespace:
    """``--config FILE [--teacher RUN_DIR] [section.key=value ...]``."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML experiment config (recipes/configs/*.yaml)")
    if teacher:
        parser.add_argument("--teacher", required=True,
                            help="the teacher's run folder; its BEST checkpoint is distilled")
    parser.add_argument("overrides", nargs="*", metavar="section.key=value",
                        help="config overrides, e.g. train.epochs=3 data.root=/data/affwild2")
    return parser.parse_intermixed_args(argv)  # overrides may stand on both sides of --teacher


def start(args: argparse.Namespace) -> tuple[ExperimentConfig, Accelerator]:
    """The resolved config and an accelerator (mixed precision and processes come from `accelerate launch`)."""
    config = load_config(args.config, args.overrides)
    accelerator = Accelerator()
    logging.basicConfig(level=logging.INFO if accelerator.is_main_process else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # its INFO lines drown the epoch summaries
    set_seed(config.train.seed)
    return config, accelerator


def adopt_teacher_inputs(config: ExperimentConfig, teacher: ExperimentConfig) -> ExperimentConfig:
    """The student's config with the teacher's audio inputs; the face windows must already agree.

    Teacher and student read the same batches, so a window that differs would feed one of them clips it was
    not built for: that is an error, not a silent fix.
    """
    mine, theirs = config.data, teacher.data
    for key in ("window_frames", "window_seconds", "retention"):
        if getattr(mine, key) != getattr(theirs, key):
            raise ConfigError(f"data.{key} is {getattr(mine, key)!r} for the student but {getattr(theirs, key)!r} "
                              f"for its teacher; set data.{key}={getattr(theirs, key)!r}")
    data = dataclasses.replace(mine, audio_seconds=theirs.audio_seconds)
    model = dataclasses.replace(config.model, sample_rate=teacher.model.sample_rate)
    return dataclasses.replace(config, data=data, model=model)


def build_student(config: ExperimentConfig, teacher: nn.Module) -> tuple[ExperimentConfig, nn.Module]:
    """The student model, with a learned projection to the teacher's embedding width when a point-wise
    embedding loss ("cosine", "centroid") needs one; the config says so (``model.projection_dim``), so the
    saved config rebuilds the same model."""
    student = build_model(config.model)
    pointwise = {"cosine", "centroid"} & set(config.distill.privileged)
    if pointwise and student.embedding_dim != teacher.embedding_dim:
        config = dataclasses.replace(config, model=dataclasses.replace(config.model,
                                                                       projection_dim=teacher.embedding_dim))
        student = build_model(config.model)
    return config, student
