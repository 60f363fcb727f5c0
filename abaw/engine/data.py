"""From a config to datasets and loaders: the dataset at the data root (:mod:`abaw.datasets`), its manifests,
clip datasets reading the streams the models read (:mod:`abaw.data.streams`), the per-epoch sampler and the
face caches."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler

from abaw.config import ExperimentConfig
from abaw.data.cache import default_cache_dir
from abaw.data.clips import ClipDataset, ClipSpec
from abaw.data.face_cache import crop_sources, decoder_identity, open_face_cache, state_digest
from abaw.data.layout import Layout
from abaw.data.manifest import Manifest, build_mtl_manifest
from abaw.data.streams import StreamReader, model_input_keys, stream_readers
from abaw.data.task_sets import TaskSetBatchSampler, TaskSets
from abaw.data.transforms import WindowAugmentation
from abaw.datasets import DatasetKind, open_dataset
from abaw.models import build_model
from abaw.task_registry import SAMPLE, get_task

log = logging.getLogger(__name__)


@dataclass
class SplitData:
    """A split's manifest and the clip dataset over the rows used."""

    manifest: Manifest
    dataset: ClipDataset


def clip_spec(config: ExperimentConfig, mtl: bool = False, jitter: bool = False) -> ClipSpec:
    """The face windows of this config's clips. ``mtl``: clips of the MTL set's static images, still windows
    unless ``data.mtl_window`` is "video". Tasks labelled once per video (granularity "sample") make each video
    one clip (``ClipSpec.span``), its faces drawn over ``data.sample_seconds``, at random within each segment
    with ``jitter`` (training)."""
    data = config.data
    span = "sample" if sample_level(data.tasks) else "past"
    return ClipSpec(frames=data.window_frames, seconds=data.window_seconds, retention=data.retention,
                    image_size=config.model.image_size, still=mtl and data.mtl_window == "still", span=span,
                    sample_seconds=tuple(data.sample_seconds) or None, jitter=jitter and span == "sample")


def sample_level(tasks: Iterable[str]) -> bool:
    """Whether ``tasks`` are labelled once per video (granularity "sample"), so that a video is one clip.

    Raises:
        ValueError: tasks of both granularities: a clip is either a frame's past window or a whole video.
    """
    granularities = {get_task(name).granularity for name in tasks}
    if len(granularities) > 1:
        raise ValueError(f"tasks {list(tasks)} mix frame-level and sample-level labels; train them apart")
    return granularities == {SAMPLE}


def config_input_keys(config: ExperimentConfig) -> set[str]:
    """The batch keys that the model of ``config`` reads. The model is built on the meta device, which makes
    no weights: this costs milliseconds, whatever the backbone."""
    with torch.device("meta"):
        model = build_model(dataclasses.replace(config.model, weights=None, pretrained=False))
    return model_input_keys(model)


def clip_streams(config: ExperimentConfig, model: nn.Module | None = None,
                 teacher: nn.Module | None = None) -> tuple[StreamReader, ...]:
    """The readers of the streams that ``model`` (default: the model of ``config``) and ``teacher`` read: a
    student's clips carry what its teacher reads only when the teacher runs on its batches."""
    keys = model_input_keys(model) if model is not None else config_input_keys(config)
    return stream_readers(config, keys | model_input_keys(teacher))


def clip_dataset(config: ExperimentConfig, manifest: Manifest, layout, rows: np.ndarray | None = None,
                 streams: Sequence[StreamReader] | None = None, mtl: bool = False,
                 transform: WindowAugmentation | None = None, jitter: bool = False) -> ClipDataset:
    """The clips of ``manifest`` as ``config`` cuts them, reading ``streams`` (default: those the model of
    ``config`` reads, :func:`clip_streams`); ``jitter``: a sample's faces drawn at random within their segments
    (training clips, :func:`clip_spec`)."""
    streams = clip_streams(config) if streams is None else streams
    spec = clip_spec(config, mtl, jitter=jitter)
    return ClipDataset(manifest, layout, spec, rows=rows, streams=streams, transform=transform)


def labelled_rows(manifest: Manifest, tasks: tuple[str, ...]) -> np.ndarray:
    """Rows that carry a label of at least one of ``tasks``."""
    masks = manifest.masks()
    labelled = np.zeros(len(manifest), dtype=bool)
    for task in tasks:
        labelled |= masks[task].reshape(len(manifest), -1).any(axis=1)
    return np.flatnonzero(labelled)


def train_augmentation(config: ExperimentConfig, split: str) -> WindowAugmentation | None:
    """The window augmentation of training clips (``data.augment``); None for any other split."""
    return WindowAugmentation(config.data.window_frames) if split == "train" and config.data.augment else None


def build_split(config: ExperimentConfig, kind: DatasetKind, layout, split: str, streams: Sequence[StreamReader],
                stride: int = 1) -> SplitData:
    """The labelled frames of a split of dataset ``kind`` (every ``stride``-th of each video) as clips."""
    manifest = kind.build_manifest(layout, split, config.data.tasks, config.data.retention)
    rows = labelled_rows(manifest, config.data.tasks)
    if stride > 1:
        rows = rows[(manifest.frames["frame"].to_numpy()[rows] - 1) % stride == 0]
    augment = train_augmentation(config, split)
    # Training clips of a sample draw their frames afresh each time, as temporal segment networks train; the
    # frames are chosen, not altered, so a cache of per-frame features (data.face_cache) still serves them.
    return SplitData(manifest, clip_dataset(config, manifest, layout, rows, streams, transform=augment,
                                            jitter=split == "train"))


def build_mtl_split(config: ExperimentConfig, layout: Layout, split: str,
                    streams: Sequence[StreamReader] | None = None) -> SplitData:
    """The MTL set's static images of an Aff-Wild2 split as clips (all of them: every row carries some label)."""
    manifest = build_mtl_manifest(layout, split, config.data.retention)
    augment = train_augmentation(config, split)
    return SplitData(manifest, clip_dataset(config, manifest, layout, streams=streams, mtl=True, transform=augment))


def task_set_data(config: ExperimentConfig, layout: Layout, uni: SplitData,
                  streams: Sequence[StreamReader]) -> TaskSets:
    """The training task sets of ``data.task_sets``: uni-task frames labelled for each task, and the MTL set."""
    names, datasets, positions = [], [], []
    masks = uni.manifest.masks()
    for name in config.data.task_sets:
        if name == "mtl":
            mtl = build_mtl_split(config, layout, "train", streams)
            datasets.append(mtl.dataset)
            positions.append(np.arange(len(mtl.dataset)))
        else:
            labelled = masks[name].reshape(len(uni.manifest), -1).any(axis=1)
            datasets.append(uni.dataset)
            positions.append(np.flatnonzero(labelled[uni.dataset.rows]))
        names.append(name)
    sets = TaskSets(names, datasets, positions, other_labels=config.data.other_labels)
    log.info("task sets: %s", ", ".join(f"{n} {k} clips" for n, k in zip(names, sets.sizes())))
    return sets


def clip_datasets(dataset: ClipDataset | TaskSets) -> list[ClipDataset]:
    """The distinct clip datasets behind a training dataset."""
    if isinstance(dataset, TaskSets):
        return list({id(d): d for d in dataset.datasets}.values())
    return [dataset]


DATA_REPORT = "data_report.json"  # in the run folder


def data_report(train: ClipDataset | TaskSets, val: ClipDataset) -> dict[str, list[str]]:
    """What a run's data lacked, each a documented fallback (``docs/robustness.md``), logged as one warning
    per kind and returned for the run folder's ``data_report.json``.

    Returns:
        each stream's fallbacks (its reader's ``report``: for audio, ``videos_without_audio``, the video files
        without an audio track, whose clips hear silence, and ``videos_with_short_audio``, those whose track
        ends more than ``abaw.data.audio.SHORT_AUDIO_TOLERANCE`` before the video); ``videos_without_face_crops``:
        the videos without a single face crop, whose frames are black; ``videos_in_two_splits``: the training
        videos that validation also shows (by video file: ``video2_left`` and ``video2_right`` are the same
        scene), which makes the validation scores optimistic.
    """
    datasets = [*clip_datasets(train), val]
    report: dict[str, list[str]] = {}
    readers = {reader.key: reader for d in datasets for reader in d.streams}
    for key, reader in readers.items():
        report |= reader.report([d for d in datasets if d.reads(key) is not None])
    report["videos_in_two_splits"] = videos_in_both(clip_datasets(train), val)
    if report["videos_in_two_splits"]:
        log.warning("videos in both the training and the validation split, which makes the validation scores "
                    "optimistic: %d (%s)", len(report["videos_in_two_splits"]),
                    ", ".join(report["videos_in_two_splits"]))
    report["videos_without_face_crops"] = sorted(
        {name for d in datasets for name, crops in d.manifest.videos["crops"].items() if len(crops) == 0})
    if report["videos_without_face_crops"]:
        log.warning("videos without any face crop, whose frames are black: %d (%s)",
                    len(report["videos_without_face_crops"]), ", ".join(report["videos_without_face_crops"]))
    return report


def videos_in_both(train: list[ClipDataset], val: ClipDataset) -> list[str]:
    """The validation videos whose video file (``source``: ``video2`` for ``video2_left``) training also reads,
    each as ``name`` or ``name (training: other names)``."""
    trained: dict[str, set[str]] = {}
    for dataset in train:
        for name, source in dataset.manifest.videos["source"].items():
            trained.setdefault(source, set()).add(name)
    both = []
    for name, source in val.manifest.videos["source"].items():
        if source in trained:
            others = sorted(trained[source] - {name})
            both.append(name + (f" (training: {', '.join(others)})" if others else ""))
    return sorted(both)


def use_face_cache(config: ExperimentConfig, datasets: list[ClipDataset], model: nn.Module | None = None,
                   device: torch.device | str = "cpu") -> None:
    """Point the clip datasets at the face cache of ``data.face_cache`` (nothing for "none"), made first where
    missing or stale (:mod:`abaw.data.face_cache`): decoded crops ("frames"), or the features of ``model``'s
    frozen visual backbone ("features"), computed on ``device`` in float32.

    Raises:
        ValueError: "features" without a model, or for a dataset that augments its faces.
    """
    kind = config.data.face_cache
    if kind == "none":
        return
    root = Path(config.data.cache_dir) if config.data.cache_dir else default_cache_dir()
    size = config.model.image_size
    identity = {"kind": kind, "image_size": size, "decoder": decoder_identity()}
    label = f"{size}px"
    if kind == "frames":
        def encode(faces: torch.Tensor) -> np.ndarray:
            return faces.numpy()
    else:
        visual = model.encoders["visual"] if model is not None else None
        if visual is None or not visual.freeze_backbone or any(d.transform is not None for d in datasets):
            raise ValueError("data.face_cache=features needs the model whose frozen backbone makes the features, "
                             "and clips without augmentation")
        visual.to(device)
        identity |= {"backbone": config.model.backbone, "weights_sha256": state_digest(visual.backbone),
                     "input_size": visual.image_size, "dtype": "float32"}
        label = f"{config.model.backbone}-{size}px"

        @torch.inference_mode()
        def encode(faces: torch.Tensor) -> np.ndarray:
            return visual.frame_features(faces.to(device)).float().cpu().numpy()
    cache = open_face_cache(root, label, identity, crop_sources(datasets), encode, size,
                            batch_size=config.train.batch_size, num_workers=config.data.num_workers)
    for dataset in datasets:
        dataset.face_cache = cache


def training_data(config: ExperimentConfig, model: nn.Module | None = None, teacher: nn.Module | None = None,
                  device: torch.device | str = "cpu") -> tuple[SplitData, SplitData]:
    """Train and validation splits of an experiment, each stream prepared once (e.g. every video's audio
    decoded), the face cache of ``data.face_cache`` made and used (:func:`use_face_cache`; "features" needs
    ``model``, whose visual backbone is run on ``device``).

    The dataset is the one at ``data.root`` (``data.dataset`` names it, else it is detected: ``abaw.datasets``);
    its first two splits are the training and validation ones. The clips carry the streams that ``model`` and
    ``teacher`` read (a teacher run on every batch; None for an exported one, :func:`teacher_clips`), or
    without a model those of the model of ``config``. Training clips are the labelled frames, or with
    ``data.task_sets`` a :class:`TaskSets` over them and the MTL set; validation is the validation videos, or
    the MTL validation file.
    """
    kind, layout = open_dataset(config.data.root, config.data.dataset, config.data.annotations, config.data)
    train_split, val_split = kind.splits[:2]
    streams = clip_streams(config, model, teacher)
    train = build_split(config, kind, layout, train_split, streams)
    if config.data.task_sets:
        train = SplitData(train.manifest, task_set_data(config, layout, train, streams))
    if config.data.validation == "mtl":
        val = build_mtl_split(config, layout, "val", streams)
    else:
        val = build_split(config, kind, layout, val_split, streams, stride=config.data.val_stride)
    use_face_cache(config, [*clip_datasets(train.dataset), val.dataset], model, device)
    return train, val


def teacher_clips(config: ExperimentConfig, teacher: nn.Module, datasets: Iterable[ClipDataset]) -> list[ClipDataset]:
    """``datasets`` read through the streams ``teacher`` reads, to export its outputs once (``distill.
    teacher_outputs=exported``): the student's own clips then never carry a stream that only its teacher needs."""
    streams = stream_readers(config, model_input_keys(teacher))
    return [dataset.with_streams(streams) for dataset in datasets]


class EpochSampler(Sampler[int]):
    """A fresh random subset (or permutation) of the dataset each epoch, seeded by (seed, epoch).

    Seeding by epoch, not by a running generator, makes a resumed run draw what an uninterrupted one would,
    and every process draws the same order (accelerate then gives each process its share of the batches).
    """

    def __init__(self, size: int, num_samples: int, seed: int):
        self.size = size
        self.num_samples = min(num_samples, size) if num_samples > 0 else size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self):
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.size)[: self.num_samples]
        return iter(order.tolist())


def loaders(config: ExperimentConfig, train: ClipDataset | TaskSets,
            val: ClipDataset) -> tuple[DataLoader, DataLoader]:
    """Training and validation loaders (pinned memory on CUDA; workers kept from epoch to epoch unless they
    augment).

    An epoch is ``data.train_clips`` clips (0: every training clip once), drawn afresh each epoch; with task
    sets, that many clips in whole batches, each from one set (:class:`TaskSetBatchSampler`).
    """
    workers = config.data.num_workers
    batch_size = config.train.batch_size
    common = {"num_workers": workers, "pin_memory": torch.cuda.is_available()}
    # Training workers that augment start afresh each epoch: their generators are then seeded from the main
    # process's, which a checkpoint restores, so a resumed run augments as an uninterrupted one would.
    # Workers that draw nothing at random stay up from epoch to epoch.
    augmented = any(d.transform is not None for d in clip_datasets(train))
    common_train = {**common, "persistent_workers": workers > 0 and not augmented}
    if isinstance(train, TaskSets):
        clips = config.data.train_clips or len(train)
        sampler = TaskSetBatchSampler(train.sizes(), batch_size, steps=max(1, clips // batch_size),
                                      shares=config.data.task_set_shares, seed=config.train.seed)
        train_loader = DataLoader(train, batch_sampler=sampler, **common_train)
    else:
        train_loader = DataLoader(train, sampler=EpochSampler(len(train), config.data.train_clips, config.train.seed),
                                  batch_size=batch_size, drop_last=len(train) > batch_size, **common_train)
    val_loader = DataLoader(val, batch_size=batch_size, shuffle=False, persistent_workers=workers > 0, **common)
    return train_loader, val_loader
