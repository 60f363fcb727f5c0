"""Configuration as data: YAML -> dataclasses (two levels), ``section.key=value`` overrides, strict checking.

An unknown key, or a value of the wrong type, is an error that names the file (or override) and the key,
because a misspelt key that is silently ignored trains a different experiment than the one written down.
The resolved configuration is written next to every run's checkpoints.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from abaw.data.physio_features import feature_names
from abaw.datasets import DATASETS
from abaw.errors import AbawError
from abaw.io import write_text
from abaw.models.factory import AUDIO_ENCODERS, ENCODERS, FUSIONS, ModelConfig, known_backbone
from abaw.models.visual import TEMPORAL_MODELS
from abaw.task_registry import TASK_REGISTRY, get_task


class ConfigError(AbawError, ValueError):
    """A configuration file or override that does not fit the schema."""


@dataclass
class DataConfig:
    """What the loaders read and how clips are cut.

    Attributes:
        root: data root (a real Aff-Wild2 as unpacked, or an ``abaw-synth`` folder).
        dataset: which registered dataset the root holds (``abaw.datasets``: "affwild2", ...); None: detected.
        annotations: annotations folder, when the root holds several editions'.
        tasks: the tasks trained and scored (names in :data:`abaw.task_registry.TASK_REGISTRY`; for Aff-Wild2
            the uni-task challenges whose videos are used); the model has a head for each (``model.tasks``).
        window_frames: faces in the past window (ABAW 2022 paper: 6).
        window_seconds: span of the face window (the paper: 2 s).
        audio_seconds: past audio per clip (the paper: 10 s), at the model's ``sample_rate``.
        physio_seconds: past physiology per clip, at the model's ``physio_rate``.
        physio_channels: the physiology channels read, in this order (names of the dataset's layout: RECOLA
            ECG, EDA; BioVid gsr, ecg, emg_trapezius, emg_corrugator, emg_zygomaticus); empty: all the dataset's.
            They must be ``model.physio_channels``; a name the dataset lacks is an error that lists its channels.
        physio_standardise: standardise each physiology file's channels (mean 0, standard deviation 1): each
            recording's changes, not its person's baseline (RECOLA: 5-minute recordings). False keeps the
            dataset's units: for files that are short samples (BioVid, 5.5 s each), whose own standardisation
            would erase how strongly each one responded.
        sample_seconds: for tasks labelled once per video (BioVid's pain: each sample one clip), the part of the
            video its ``window_frames`` faces are drawn from by segment sampling, [start, end] in seconds (e.g.
            [2.0, 2.8], frames 50-70 at 25 fps, the "peak" window of the public code); empty: the whole video.
            Physiology and audio windows end at the end of the video either way.
        label_shift_s: the annotation delay of a dataset rated continuously (RECOLA): the label of the frame at
            t is the rating at t + label_shift_s. Chosen on training data (``benchmarks/recola_probes.py``),
            never on the reported set; ignored by Aff-Wild2, whose labels are per frame.
        folds: a fold file of a dataset split by subject (BioVid: rows ``fold,part,subject``, written once by
            ``abaw-data --data-root ROOT --folds K --out FOLDS.csv``): the splits train, val and test are the
            parts of fold ``fold``. None: no fold file (BioVid then has no train, val or test split).
        fold: which fold of ``folds`` (0 .. K-1) is trained, selected (val) and tested.
        retention: "last" (a face-less frame shows the last earlier crop) or "black".
        cache_dir: where decoded audio and the face caches are kept (default ``$ABAW_CACHE`` or
            ``~/.cache/abaw``).
        face_cache: where clips take their faces from (``abaw.data.face_cache``). "none": the JPEG crops,
            decoded at every step. "frames": the decoded crops, stored once per video as uint8 arrays and
            memory-mapped (the same pixels; for end-to-end training on a GPU, when decoding cannot keep up).
            "features": the frozen visual backbone's per-frame features, computed once per crop; training
            then runs everything but the backbone, and reaches the results of training on the images with
            the same frozen backbone. Needs ``model.freeze_backbone=true`` and ``data.augment=false``
            (augmentation would change the faces after their features were computed). The trained model
            still holds the backbone, so ``abaw-predict`` runs it on the images.
        num_workers: DataLoader worker processes.
        train_clips: clips drawn at random (without replacement) per training epoch; 0 = every labelled
            frame. Neighbouring frames at 25-30 fps are near-duplicates, so an epoch of a sample sees the
            same variety for a fraction of the compute.
        val_stride: validate on every k-th frame of each video (1 = all; scores are pooled either way).
        augment: flip, affine and photometric jitter of training windows (``abaw.data.transforms``).
        task_sets: empty: every training batch mixes frames of all tasks, each task's loss over the frames
            that carry its label. Otherwise Algorithm 1 of the ABAW 2022 paper: each batch is drawn from ONE
            of these sets in turn: "va", "expr", "au" (the uni-task frames labelled for that task) and "mtl"
            (the MTL set's static images, all three tasks labelled).
        task_set_shares: each set's share of an epoch's batches (default: equal, i.e. strictly in turn).
        other_labels: with task sets, also use the labels of other tasks that a frame happens to carry
            (False, the paper: a set's batch is supervised on its own task and distilled on the others).
        mtl_window: how MTL images are shown to the temporal model: "still" (the image repeated over the
            window: s-Aff-Wild2 ships the static frames without the frames around them) or "video" (the
            past window from the video's crops, when the crop folder holds the whole video).
        validation: "tasks" (the uni-task validation videos, every frame) or "mtl" (the MTL validation file:
            the MTL challenge's score).
    """

    root: str = "data/synth"
    dataset: str | None = None
    annotations: str | None = None
    tasks: tuple[str, ...] = ("va", "expr", "au")
    window_frames: int = 6
    window_seconds: float = 2.0
    audio_seconds: float = 10.0
    physio_seconds: float = 10.0
    physio_channels: tuple[str, ...] = ()
    physio_standardise: bool = True
    sample_seconds: tuple[float, ...] = ()
    label_shift_s: float = 0.0
    folds: str | None = None
    fold: int = 0
    retention: str = "last"
    cache_dir: str | None = None
    face_cache: str = "none"
    num_workers: int = 2
    train_clips: int = 0
    val_stride: int = 1
    augment: bool = True
    task_sets: tuple[str, ...] = ()
    task_set_shares: tuple[float, ...] = ()
    other_labels: bool = False
    mtl_window: str = "still"
    validation: str = "tasks"


@dataclass
class TrainConfig:
    """The optimisation and the run's outputs.

    Attributes:
        out_dir: run folder (config, checkpoints, metrics.csv).
        epochs: training epochs.
        batch_size: clips per step on each process.
        lr: Adam learning rate (the paper: 1e-4).
        weight_decay: AdamW weight decay.
        early_stop: stop after this many epochs without a better validation score (0 = never).
        seed: seed of weights, sampling and augmentation.
        max_steps: stop each epoch after this many steps (0 = no limit; for smoke tests).
        grad_clip: clip the gradient norm to this (0 = no clipping).
        schedule: "constant" learning rate, or "cosine" decay to 0 over all epochs' steps.
        warmup_epochs: linear warm-up from 0 over this many epochs (fractions allowed), for either schedule.
        log_with: "none" (``metrics.csv`` and ``curves.png`` only) or "tensorboard" (also the per-epoch rows
            as TensorBoard scalars under ``RUN/tensorboard``, through accelerate's trackers; needs the
            ``tensorboard`` extra).
    """

    out_dir: str = "runs/teacher"
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-4
    weight_decay: float = 0.0
    early_stop: int = 5
    seed: int = 0
    max_steps: int = 0
    grad_clip: float = 0.0
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    log_with: str = "none"


@dataclass
class LossConfig:
    """The weights of the multitask objective, eq. 12 (teacher) and eq. 13 (student) of the ABAW 2022 paper.

    For each task t on a batch, with L^S the supervised loss, L^D the distillation loss to the teacher and
    gamma_t the task's dynamic weight::

        frames labelled for t:      gamma_t * (alpha * L_t^S + kd * L_t^D)
        frames without t's label:   beta * gamma_t * L_t^D
        plus L^T, the task-set classification loss of the discriminator, whose gradient reaches the shared
        embedding reversed and scaled by delta (the gradient-reversal layer).

    Without a teacher the L^D terms vanish. A weight of 0 switches its term off.

    Attributes:
        alpha: weight of the supervised losses (the paper: 1 for the teacher, 10 for the student).
        kd: weight of distillation on frames that carry the task's label (eq. 13: 1).
        beta: weight of distillation on frames without the task's label, the cross-task term (0.9).
        delta: the gradient-reversal coefficient; 0 = no task discriminator. Needs ``data.task_sets``.
        delta_schedule: "fixed", or "ramp": 0 -> delta linearly over the whole training.
        gamma_rate: gamma_t = exp(gamma_rate * n_t), n_t = epochs since task t's validation score last
            improved (the paper: 0.5); 0 = fixed weights.
        va_loss: the supervised VA loss: "ccc" (1 - CCC per dimension over the batch, the paper's) or "mse"
            (squared error per frame; for comparison, e.g. in ``benchmarks/learnability.py``).
    """

    alpha: float = 1.0
    kd: float = 1.0
    beta: float = 1.0
    delta: float = 0.0
    delta_schedule: str = "fixed"
    gamma_rate: float = 0.0
    va_loss: str = "ccc"


@dataclass
class DistillConfig:
    """Distillation from a teacher run.

    Soft labels (ABAW 2022 paper): CCC to the teacher's VA, CE to softmax(teacher / T), BCE to sigmoid(teacher
    AU), weighted by ``loss.kd`` and ``loss.beta``. Privileged losses on the embeddings (``abaw.distill``),
    each added with its weight: "cosine" (PKD: 1 - cos per sample, to the teacher's fused embedding), "ot"
    (PKDOT: optimal transport between the anchored similarity structures of the batch) and "centroid"
    (MT-PKDOT: l2 between the batch centroids). When the student's embedding is narrower or wider than the
    teacher's, "cosine" and "centroid" go through a learned projection (``model.projection_dim``).

    Attributes:
        teacher: the teacher's run folder (its BEST checkpoint is used). The distilling recipes set it from
            ``--teacher``, so the run's saved ``config.yaml`` names its teacher, and a run resumed with another
            teacher is refused as a run of another config.
        temperature: T of the tempered expression distribution (the paper: 2.5).
        privileged: the embedding losses used, among "cosine", "ot" and "centroid".
        cosine_weight: weight of "cosine".
        ot_weight: weight of "ot" (PKDOT: 0.6).
        centroid_weight: weight of "centroid".
        ot_k: anchor columns per similarity row (PKDOT: 30 of a batch of 128); at most the batch size - 1.
        ot_anchors: "top" (most similar samples) or "bottom" (least similar, as PKDOT's public code).
        ot_matching: "ot" (rows as point clouds, Sinkhorn divergence) or "rows" (row i to row i).
        ot_epsilon: entropic regularisation of the transport plans.
        ot_iterations: Sinkhorn iterations at most.
        teacher_outputs: "online" (run the teacher on every batch, on the same augmented clips as the
            student) or "exported" (run it once over the un-augmented training clips, write its outputs to
            ``TEACHER_RUN/exports/`` and read them; ``abaw.distill.export``).
        ntm_threshold: PKD's negative-transfer module: the "cosine" term of a clip is dropped when the
            teacher's error 1 - CCC on the clip's sequence exceeds this (0: off). Needs the exported outputs,
            which hold the teacher's predictions over whole sequences.
        ntm_seconds: length of a sequence, in seconds of its video.
        pool_adapter_dim: MT-PKDOT stage 1 (``recipes/teacher_pool.py``): hidden width of the adapter that maps
            each modality's embedding into the joint one's space (the paper: 256).
        pool_alignment_weight: stage 1: weight of the adapters' alignment (1 - cos to the joint embedding).
        pool_heads_weight: stage 1: weight of the modality heads' task losses (the paper: half the joint's).
        pool_selection: stage 2, with a teacher pool: which member the embedding losses follow: "joint"
            (the fused embedding only), "sample" (each frame's most confident member) or "batch" (the member
            most confident over the batch). Ties and frames that cannot be judged fall back to the joint.
        pool_confidence: how a member's confidence is judged: "error" (against the frame's labels) or
            "entropy" (of its expression and AU predictions).
    """

    teacher: str | None = None
    temperature: float = 2.5
    teacher_outputs: str = "online"
    ntm_threshold: float = 0.0
    ntm_seconds: float = 2.0
    privileged: tuple[str, ...] = ()
    cosine_weight: float = 1.0
    ot_weight: float = 0.6
    centroid_weight: float = 1.0
    ot_k: int = 30
    ot_anchors: str = "top"
    ot_matching: str = "ot"
    ot_epsilon: float = 0.01
    ot_iterations: int = 100
    pool_adapter_dim: int = 256
    pool_alignment_weight: float = 1.0
    pool_heads_weight: float = 0.5
    pool_selection: str = "joint"
    pool_confidence: str = "error"


@dataclass
class ExperimentConfig:
    """A whole experiment: ``name`` plus the data, model, train and distill sections."""

    name: str = "experiment"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """Defaults, then the YAML file, then ``section.key=value`` overrides (values parsed as YAML), then the
    checks across sections and the fields derived from others (:func:`resolve`).

    Raises:
        ConfigError: unknown section or key, wrong type, malformed override, values that do not fit together;
            the message names where.
    """
    config = ExperimentConfig()
    if path is not None:
        path = Path(path)
        try:
            data = read_yaml(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise ConfigError(f"{path}: cannot read the config: {_one_line(error)}") from None
        if data is None:  # an empty file, or only comments: it would silently train the defaults
            raise ConfigError(f"{path}: the config is empty; write its sections (data, model, train, ...) or "
                              f"start from recipes/configs/tiny.yaml")
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of sections, found {type(data).__name__}")
        config = merge(config, data, str(path))
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {override!r}: expected section.key=value")
        try:
            value = read_yaml(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"override {override!r}: value is not YAML: {_one_line(error)}") from None
        nested: dict[str, Any] = value
        for part in reversed(key.strip().split(".")):
            nested = {part: nested}
        config = merge(config, nested, f"override {override!r}")
    return resolve(config)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key written twice in one mapping is an error: plain YAML keeps the last
    one, so a section or key repeated by mistake would silently replace the first."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"line {key_node.start_mark.line + 1}: {key!r} is written twice in one mapping "
                                f"(first on line {seen[key] + 1}); YAML would keep only the last")
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _UniqueKeyLoader.construct_mapping)


def read_yaml(text: str) -> Any:
    """Parse YAML as ``yaml.safe_load`` does, but reject a key written twice in one mapping."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


_SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


# The values each numeric field may take, by dataclass and field; a value outside is an error that names the key.
# Every float must also be finite (a NaN learning rate trains nothing, without any error).
POSITIVE, AT_LEAST_ONE, NOT_NEGATIVE, UNIT_INTERVAL = "a positive number", "at least 1", "0 or more", "in [0, 1)"
DOMAINS = {
    "DataConfig": {"window_frames": AT_LEAST_ONE, "window_seconds": NOT_NEGATIVE, "audio_seconds": NOT_NEGATIVE,
                   "physio_seconds": POSITIVE, "label_shift_s": NOT_NEGATIVE, "fold": NOT_NEGATIVE,
                   "num_workers": NOT_NEGATIVE, "train_clips": NOT_NEGATIVE, "val_stride": AT_LEAST_ONE,
                   "task_set_shares": POSITIVE},
    "TrainConfig": {"epochs": AT_LEAST_ONE, "batch_size": AT_LEAST_ONE, "lr": POSITIVE, "weight_decay": NOT_NEGATIVE,
                    "early_stop": NOT_NEGATIVE, "max_steps": NOT_NEGATIVE, "grad_clip": NOT_NEGATIVE,
                    "warmup_epochs": NOT_NEGATIVE},
    "LossConfig": {"alpha": NOT_NEGATIVE, "kd": NOT_NEGATIVE, "beta": NOT_NEGATIVE, "delta": NOT_NEGATIVE,
                   "gamma_rate": NOT_NEGATIVE},
    "DistillConfig": {"temperature": POSITIVE, "ntm_threshold": NOT_NEGATIVE, "ntm_seconds": POSITIVE,
                      "cosine_weight": NOT_NEGATIVE, "ot_weight": NOT_NEGATIVE, "centroid_weight": NOT_NEGATIVE,
                      "ot_k": AT_LEAST_ONE, "ot_epsilon": POSITIVE, "ot_iterations": AT_LEAST_ONE,
                      "pool_adapter_dim": AT_LEAST_ONE, "pool_alignment_weight": NOT_NEGATIVE,
                      "pool_heads_weight": NOT_NEGATIVE},
    "ModelConfig": {"image_size": AT_LEAST_ONE, "temporal_dim": AT_LEAST_ONE, "audio_dim": AT_LEAST_ONE,
                    "sample_rate": AT_LEAST_ONE, "soundnet_width": AT_LEAST_ONE,
                    "physio_rate": AT_LEAST_ONE, "physio_dim": AT_LEAST_ONE, "physio_width": AT_LEAST_ONE,
                    "fusion_dims": AT_LEAST_ONE,
                    "dropout": UNIT_INTERVAL, "attention_width": AT_LEAST_ONE, "attention_heads": AT_LEAST_ONE,
                    "attention_layers": AT_LEAST_ONE, "task_sets": NOT_NEGATIVE,
                    "discriminator_dims": AT_LEAST_ONE, "projection_dim": NOT_NEGATIVE,
                    "pool_adapter_dim": NOT_NEGATIVE},
}
_IN_DOMAIN = {POSITIVE: lambda x: x > 0, AT_LEAST_ONE: lambda x: x >= 1, NOT_NEGATIVE: lambda x: x >= 0,
              UNIT_INTERVAL: lambda x: 0 <= x < 1}


def _check_domain(instance: Any, key: str, value: Any, where: str) -> None:
    """Raise unless every number of ``value`` (a number or a tuple of them) is finite and in its field's domain."""
    numbers = value if isinstance(value, tuple) else (value,)
    numbers = [x for x in numbers if isinstance(x, (int, float)) and not isinstance(x, bool)]
    domain = DOMAINS.get(type(instance).__name__, {}).get(key)
    for x in numbers:
        if not math.isfinite(x) or (domain is not None and not _IN_DOMAIN[domain](x)):
            shown = list(value) if isinstance(value, tuple) else value
            raise ConfigError(f"{where}: {type(instance).__name__}.{key}: expected {domain or 'a finite number'}"
                              f"{' for each value' if isinstance(value, tuple) else ''}, found {shown!r}")


TASK_SETS = ("va", "expr", "au", "mtl")
PRIVILEGED = ("cosine", "ot", "centroid")
SCHEDULES = ("constant", "cosine")
# The string choices of the config, each checked when the config is read (:func:`resolve`), before anything is
# built or any data is read.
CHOICES = {("data", "mtl_window"): ("still", "video"), ("data", "validation"): ("tasks", "mtl"),
           ("data", "retention"): ("last", "black"), ("data", "face_cache"): ("none", "frames", "features"),
           ("distill", "ot_anchors"): ("top", "bottom"),
           ("distill", "ot_matching"): ("ot", "rows"), ("distill", "teacher_outputs"): ("online", "exported"),
           ("loss", "delta_schedule"): ("fixed", "ramp"), ("distill", "pool_selection"): ("joint", "sample", "batch"),
           ("distill", "pool_confidence"): ("error", "entropy"), ("train", "log_with"): ("none", "tensorboard"),
           ("loss", "va_loss"): tuple(get_task("va").supervised_losses), ("train", "schedule"): SCHEDULES,
           ("model", "fusion"): FUSIONS, ("model", "temporal"): TEMPORAL_MODELS,
           ("model", "audio_encoder"): AUDIO_ENCODERS}


def resolve(config: ExperimentConfig) -> ExperimentConfig:
    """Check what one section says against another, and fill ``model.task_sets`` (the discriminator's
    classes) from ``data.task_sets`` and ``loss.delta``."""
    for (section, key), allowed in CHOICES.items():
        value = getattr(getattr(config, section), key)
        if value not in allowed:
            raise ConfigError(f"{section}.{key} is {value!r}; choose one of {', '.join(allowed)}")
    data, loss = config.data, config.loss
    for key, tasks in (("model.tasks", config.model.tasks), ("data.tasks", data.tasks)):
        if not tasks or len(set(tasks)) != len(tasks) or not set(tasks) <= set(TASK_REGISTRY):
            raise ConfigError(f"{key} {list(tasks)}: distinct names among {', '.join(TASK_REGISTRY)}")
    headless = [t for t in data.tasks if t not in config.model.tasks]
    if headless:
        raise ConfigError(f"data.tasks trains {headless}, for which model.tasks {list(config.model.tasks)} has no "
                          f"head; add them to model.tasks")
    if data.dataset is not None and data.dataset not in DATASETS:
        raise ConfigError(f"data.dataset is {data.dataset!r}; choose one of {', '.join(DATASETS)} (or leave it out: "
                          f"the data root says which)")
    modalities = config.model.modalities
    if not modalities or len(set(modalities)) != len(modalities) or not set(modalities) <= set(ENCODERS):
        raise ConfigError(f"model.modalities {list(modalities)}: distinct names among {', '.join(ENCODERS)}")
    for key, channels in (("model.physio_channels", config.model.physio_channels),
                          ("data.physio_channels", data.physio_channels)):
        if len(set(channels)) != len(channels) or (key.startswith("model") and not channels):
            raise ConfigError(f"{key} {list(channels)}: distinct channel names (e.g. [ECG,EDA])")
    if "physio_features" in modalities:
        try:
            feature_names(config.model.physio_channels)
        except ValueError as error:
            raise ConfigError(f"model.physio_channels: {error}") from None
    if not known_backbone(config.model.backbone):
        raise ConfigError(f"model.backbone {config.model.backbone!r} is not a timm model name "
                          f"(e.g. seresnext50_32x4d, resnet50; timm.list_models() lists them)")
    if data.face_cache == "features":
        needs = [setting for setting, ok in (("model.freeze_backbone=true", config.model.freeze_backbone),
                                             ("data.augment=false", not data.augment),
                                             ("model.modalities=[visual, ...]", "visual" in config.model.modalities))
                 if not ok]
        if needs:
            raise ConfigError(f"data.face_cache=features trains on a frozen backbone's features of the un-augmented "
                              f"faces, computed once; also set {', '.join(needs)}")
    if config.distill.ntm_threshold > 0 and config.distill.teacher_outputs != "exported":
        raise ConfigError("distill.ntm_threshold judges the teacher on whole sequences, from its exported outputs: "
                          "set distill.teacher_outputs=exported")
    unknown = [p for p in config.distill.privileged if p not in PRIVILEGED]
    if unknown:
        raise ConfigError(f"distill.privileged names {unknown}; choose among {', '.join(PRIVILEGED)}")
    if config.distill.pool_selection != "joint" and not config.distill.privileged:
        raise ConfigError(f"distill.pool_selection={config.distill.pool_selection} picks the target of the embedding "
                          f"losses; name them in distill.privileged (MT-PKDOT: [ot,centroid])")
    if config.distill.pool_confidence == "entropy" and not any(get_task(t).entropy for t in data.tasks):
        raise ConfigError(f"distill.pool_confidence=entropy reads predicted distributions (expression, AU); data.tasks "
                          f"{list(data.tasks)} has none: use distill.pool_confidence=error")
    model = config.model
    if model.fusion == "transformer" and model.attention_width % model.attention_heads:
        raise ConfigError(f"model.attention_width={model.attention_width} must be a multiple of "
                          f"model.attention_heads={model.attention_heads} (each head takes an equal share)")
    unknown = [s for s in data.task_sets if s not in TASK_SETS]
    if unknown or len(set(data.task_sets)) != len(data.task_sets):
        raise ConfigError(f"data.task_sets {list(data.task_sets)}: each of {', '.join(TASK_SETS)} at most once")
    missing = [s for s in data.task_sets if s != "mtl" and s not in data.tasks]
    if missing:
        raise ConfigError(f"data.task_sets names {missing}, which data.tasks {list(data.tasks)} leaves out")
    if data.task_set_shares and (len(data.task_set_shares) != len(data.task_sets)
                                 or min(data.task_set_shares) <= 0):
        raise ConfigError(f"data.task_set_shares {list(data.task_set_shares)}: one positive share per task set "
                          f"{list(data.task_sets)}")
    if loss.delta > 0 and len(data.task_sets) < 2:
        raise ConfigError(f"loss.delta={loss.delta} trains a task discriminator, which needs at least two "
                          f"data.task_sets to tell apart (e.g. data.task_sets=[va,expr,au,mtl])")
    if len({get_task(t).granularity for t in data.tasks}) > 1:
        raise ConfigError(f"data.tasks {list(data.tasks)} mixes tasks labelled per frame and per video (sample): a "
                          f"clip is either a frame's past window or a whole video; train them apart")
    if data.sample_seconds and (len(data.sample_seconds) != 2 or not 0 <= data.sample_seconds[0]
                                < data.sample_seconds[1]):
        raise ConfigError(f"data.sample_seconds {list(data.sample_seconds)}: [start, end] seconds, 0 <= start < end "
                          f"(or [] for the whole video)")
    if data.validation == "mtl" and tuple(data.tasks) != ("va", "expr", "au"):
        raise ConfigError("data.validation=mtl scores the MTL challenge, which needs data.tasks=[va,expr,au]")
    task_sets = len(data.task_sets) if loss.delta > 0 else 0
    return dataclasses.replace(config, model=dataclasses.replace(config.model, task_sets=task_sets))


def with_teacher(config: ExperimentConfig, run_dir: str | Path) -> ExperimentConfig:
    """The config of a run distilled from (or grown out of) the teacher run ``run_dir`` (a recipe's
    ``--teacher``), which it names in ``distill.teacher``; a config that already names another teacher is an
    error, since one of the two would be silently ignored."""
    named = config.distill.teacher
    if named is not None and Path(named).resolve() != Path(run_dir).resolve():
        raise ConfigError(f"distill.teacher is {named!r} but --teacher is {str(run_dir)!r}: give one, or the same")
    return dataclasses.replace(config, distill=dataclasses.replace(config.distill, teacher=str(run_dir)))


def merge(instance: Any, data: dict[str, Any], where: str) -> Any:
    """A copy of a config dataclass with the values of ``data`` checked and set (nested sections merged)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping for {type(instance).__name__}, found {data!r}")
    hints = typing.get_type_hints(type(instance))
    names = {f.name for f in dataclasses.fields(instance)}
    changes = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"{where}: unknown key {key!r} in {type(instance).__name__}; "
                              f"known: {', '.join(sorted(names))}")
        current = getattr(instance, key)
        if dataclasses.is_dataclass(current):
            changes[key] = merge(current, value, f"{where}: {key}")
        else:
            changes[key] = _coerce(value, hints[key], f"{where}: {type(instance).__name__}.{key}")
            _check_domain(instance, key, changes[key], where)
    return dataclasses.replace(instance, **changes)


def to_dict(config: Any) -> dict[str, Any]:
    """A config as plain YAML-ready data (tuples as lists)."""
    def plain(value):
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        return value

    return {k: to_dict(v) if dataclasses.is_dataclass(v) else plain(v) for k, v in vars(config).items()}


def save_config(config: ExperimentConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (reloading it gives the same config)."""
    write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False))


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check ``value`` against a field's type; ints become floats and lists tuples where the type says so."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {annotation}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, found {value!r}")
        item = typing.get_args(annotation)[0]
        return tuple(_coerce(v, item, where) for v in value)
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, found {value!r}")
        return value
    if annotation is float:
        if isinstance(value, str) and _SCIENTIFIC.fullmatch(value):
            value = float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, found {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, found {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, found {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {annotation}")  # pragma: no cover - schema bug
