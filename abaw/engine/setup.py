"""What every recipe does before training: read its command line and config, make the accelerator, seed."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import logging

from accelerate import Accelerator
from torch import nn
from accelerate.utils import set_seed

from abaw.config import ConfigError, ExperimentConfig, load_config
from abaw.data.streams import STREAM_CONFIG_KEYS
from abaw.models import build_model


def recipe_arguments(prog: str, doc: str, argv: list[str] | None, teacher: bool = False) -> argparse.Namespace:
    """``--config FILE [--teacher RUN_DIR] [section.key=value ...]``; ``doc``, the recipe's docstring, gives the
    description (its first paragraph)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=" ".join(doc.strip().split("\n\n")[0].split()),
        epilog="The run folder is train.out_dir. A run that stops (killed, out of time) resumes from its last "
               "epoch's checkpoint (RUN/last) when the same command is run again; on the same hardware it ends "
               "with the numbers of an uninterrupted run.")
    parser.add_argument("--config", required=True,
                        help="YAML experiment config, e.g. recipes/configs/teacher.yaml (required); keys it leaves "
                             "out take the defaults of abaw/config.py")
    if teacher:
        parser.add_argument("--teacher", required=True,
                            help="the teacher's run folder (config.yaml, best/); its best checkpoint is used "
                                 "(required)")
    parser.add_argument("overrides", nargs="*", metavar="section.key=value",
                        help="config overrides applied after the config file, e.g. train.epochs=3 "
                             "data.root=/data/affwild2 (default: none)")
    return parser.parse_intermixed_args(argv)  # overrides may stand on both sides of --teacher


def start(args: argparse.Namespace) -> tuple[ExperimentConfig, Accelerator]:
    """The resolved config and an accelerator (mixed precision and processes come from `accelerate launch`)."""
    config = load_config(args.config, args.overrides)
    if config.train.log_with == "tensorboard" and importlib.util.find_spec("tensorboard") is None:
        raise ConfigError("train.log_with=tensorboard needs TensorBoard: pip install 'abaw[tensorboard]'")
    # Trackers write under the run folder: RUN/tensorboard/ (abaw.engine.loop.TRACKER_FOLDER).
    accelerator = (Accelerator(log_with=config.train.log_with, project_dir=config.train.out_dir)
                   if config.train.log_with != "none" else Accelerator())
    logging.basicConfig(level=logging.INFO if accelerator.is_main_process else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # its INFO lines drown the epoch summaries
    set_seed(config.train.seed)
    return config, accelerator


def adopt_teacher_inputs(config: ExperimentConfig, teacher: ExperimentConfig) -> ExperimentConfig:
    """The student's config with the teacher's input streams cut as the teacher's (every registered stream's
    ``config_keys``, e.g. ``data.audio_seconds`` and ``model.sample_rate``: :mod:`abaw.data.streams`); the face
    windows must already agree.

    Teacher and student read the same batches, so a window that differs would feed one of them clips it was
    not built for: that is an error, not a silent fix. So is a student trained on its own backbone's cached
    features (``data.face_cache=features``) with a teacher run on every batch: the batches carry no faces. So
    is a choice among a teacher pool's members (``distill.pool_selection``) for a teacher without a pool.
    """
    mine, theirs = config.data, teacher.data
    if config.distill.pool_selection != "joint" and not teacher.model.pool_adapter_dim:
        raise ConfigError(f"distill.pool_selection={config.distill.pool_selection} chooses among the members of a "
                          f"teacher pool, and this teacher has none: grow one with recipes/teacher_pool.py and "
                          f"distil from its run")
    if mine.face_cache == "features" and config.distill.teacher_outputs == "online":
        raise ConfigError("data.face_cache=features gives batches of the student's backbone features, not faces, so "
                          "the teacher cannot run on them; set distill.teacher_outputs=exported (the teacher runs "
                          "once over the images)")
    for key in ("window_frames", "window_seconds", "retention", "sample_seconds"):
        if getattr(mine, key) != getattr(theirs, key):
            raise ConfigError(f"data.{key} is {getattr(mine, key)!r} for the student but {getattr(theirs, key)!r} "
                              f"for its teacher; set data.{key}={getattr(theirs, key)!r}")
    changes: dict[str, dict] = {}
    for keys in STREAM_CONFIG_KEYS.values():
        for section, key in (name.split(".") for name in keys):
            changes.setdefault(section, {})[key] = getattr(getattr(teacher, section), key)
    return dataclasses.replace(config, **{section: dataclasses.replace(getattr(config, section), **values)
                                          for section, values in changes.items()})


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
