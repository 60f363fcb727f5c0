"""``ModelConfig`` (the ``model:`` section of an experiment's config) and ``build_model``.

Encoders are built by name from a small registry, so a new modality is one :func:`register_encoder` call
plus its name in ``ModelConfig.modalities``; the model, the fusion, the loop and the losses stay as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pathlib import Path

import timm
from safetensors import SafetensorError
from torch import nn

from abaw.data.physio_features import feature_names
from abaw.errors import AbawError

from abaw.models.audio import LogMelEncoder, SoundNetEncoder
from abaw.models.fusion import ConcatFusion, JointCrossAttentionFusion, TransformerFusion
from abaw.models.grl import TaskDiscriminator
from abaw.models.heads import MultitaskHeads
from abaw.models.multitask import MultitaskModel
from abaw.models.physio import PhysioEncoder, PhysioFeatureEncoder
from abaw.models.teacher_pool import TeacherPool
from abaw.models.visual import VisualEncoder, load_backbone_weights


@dataclass
class ModelConfig:
    """The model of an experiment. Plain types only: the YAML config system fills it.

    Attributes:
        backbone: any timm model name (the ABAW 2022 paper: an SE-ResNeXt).
        pretrained: let timm download its pretrained weights (only when asked for; needs a model hub).
        weights: a local weights file for the backbone (.safetensors, or .pth/.pt read with
            ``weights_only=True``).
        freeze_backbone: train everything but the visual backbone, which keeps its built or loaded weights
            and stays in eval mode (its BatchNorm uses the running statistics). Needed by
            ``data.face_cache=features``, which trains on the backbone's features computed once.
        image_size: side of the faces fed to the backbone (resized inside the model when they differ).
        temporal: "lstm" or "gru" (a recurrent model over the window, last step) or "mean" (average pooling).
        temporal_dim: LSTM hidden size (the paper: 512).
        audio_encoder: "soundnet" (1D convs on the raw waveform) or "logmel" (log-mel + small 2D CNN).
        audio_dim: width of the audio embedding.
        sample_rate: rate of ``batch["audio"]`` in Hz.
        soundnet_width: channels of the first audio conv, doubled along the stack; the log-mel CNN uses
            2, 4, 8 and 16 times this.
        physio_rate: rate of ``batch["physio"]`` in Hz; the stream resamples the files to it.
        physio_channels: the physiology channels the model reads, in order (RECOLA: ECG, EDA); the "physio"
            CNN takes one input per channel and the "physio_features" encoder their standard features
            (:func:`abaw.data.physio_features.feature_names`). The physiology streams read them and stop at
            data set-up when ``data.physio_channels`` (or the dataset's own channels) differ.
        physio_dim: width of the physiology embedding (of either physiology encoder).
        physio_width: channels of the physiology CNN's first conv, doubled along its four blocks.
        fusion: "concat" (concatenation + dense feature extractor), "jca" (joint cross-attention over the
            modalities' sequences, Praveen et al. 2022) or "transformer" (a multimodal transformer over them).
        fusion_dims: widths of the dense layers after fusion (the paper: 1024, 512); the last one is the
            width D of ``embedding``.
        dropout: dropout after each dense layer (the paper: 0.5).
        attention_width: token width of the "jca" and "transformer" fusions.
        attention_heads: heads of the "transformer" fusion.
        attention_layers: layers of the "transformer" fusion.
        modalities: the encoders the model holds, in fusion order: ("visual", "audio") for the teacher,
            ("visual",) for the student.
        task_sets: classes of the task discriminator (0: none). Filled in from ``data.task_sets`` when
            ``loss.delta`` > 0; not set by hand.
        discriminator_dims: hidden widths of the task discriminator (the paper: 64, 32).
        projection_dim: width of a learned projection of the embedding, output as ``projected`` (0: none).
            Set by the student recipe when a privileged loss compares embeddings of different widths.
        tasks: the tasks the model has a head for (names in :data:`abaw.task_registry.TASK_REGISTRY`); the
            tasks trained (``data.tasks``) are among them.
        pool_adapter_dim: hidden width of MT-PKDOT's modality adapters (:class:`abaw.models.teacher_pool.TeacherPool`;
            0: no pool). Set by ``recipes/teacher_pool.py`` from ``distill.pool_adapter_dim``.
    """

    backbone: str = "seresnext50_32x4d"
    pretrained: bool = False
    weights: str | None = None
    freeze_backbone: bool = False
    image_size: int = 112
    temporal: str = "lstm"
    temporal_dim: int = 512
    audio_encoder: str = "soundnet"
    audio_dim: int = 512
    sample_rate: int = 16000
    soundnet_width: int = 16
    physio_rate: int = 100
    physio_channels: tuple[str, ...] = ("ECG", "EDA")
    physio_dim: int = 128
    physio_width: int = 16
    fusion: str = "concat"
    fusion_dims: tuple[int, ...] = (1024, 512)
    dropout: float = 0.5
    attention_width: int = 128
    attention_heads: int = 4
    attention_layers: int = 2
    modalities: tuple[str, ...] = ("visual", "audio")
    task_sets: int = 0
    discriminator_dims: tuple[int, ...] = (64, 32)
    projection_dim: int = 0
    tasks: tuple[str, ...] = ("va", "expr", "au")
    pool_adapter_dim: int = 0


EncoderBuilder = Callable[[ModelConfig], nn.Module]


class WeightsFileError(AbawError, ValueError):
    """A ``model.weights`` file that cannot serve as the visual backbone's weights."""


def _visual(config: ModelConfig) -> nn.Module:
    encoder = VisualEncoder(config.backbone, pretrained=config.pretrained, image_size=config.image_size,
                            temporal=config.temporal, temporal_dim=config.temporal_dim,
                            freeze_backbone=config.freeze_backbone)
    if config.weights is not None:
        _load_weights_file(encoder.backbone, config.backbone, Path(config.weights))
    return encoder


def known_backbone(name: str) -> bool:
    """Whether timm can build ``name``; a hub or local reference (``hf-hub:...``) is taken on trust."""
    return ":" in name or timm.is_model(name.split(".")[0])


def _load_weights_file(backbone: nn.Module, name: str, path: Path) -> None:
    """:func:`load_backbone_weights`, with a file that cannot serve (missing, truncated, pickled code, keys or
    shapes of another model) reported as bad input naming it, not as a traceback."""
    if not path.is_file():
        raise WeightsFileError(f"{path}: model.weights: no such file")
    try:
        load_backbone_weights(backbone, path)
    except (ValueError, RuntimeError, EOFError, SafetensorError) as error:
        message = " ".join(str(error).split())
        if not message.startswith(str(path)):
            message = f"{path}: {message}"
        raise WeightsFileError(f"model.weights: {message[:400]} (backbone {name})") from None


def _audio(config: ModelConfig) -> nn.Module:
    if config.audio_encoder == "soundnet":
        return SoundNetEncoder(config.audio_dim, width=config.soundnet_width)
    if config.audio_encoder == "logmel":
        channels = tuple(config.soundnet_width * k for k in (2, 4, 8, 16))
        return LogMelEncoder(config.sample_rate, config.audio_dim, channels=channels)
    raise ValueError(f"unknown audio encoder {config.audio_encoder!r}; choose one of {', '.join(AUDIO_ENCODERS)}")


AUDIO_ENCODERS: tuple[str, ...] = ("soundnet", "logmel")


def _physio(config: ModelConfig) -> nn.Module:
    return PhysioEncoder(config.physio_dim, width=config.physio_width, in_channels=len(config.physio_channels))


def _physio_features(config: ModelConfig) -> nn.Module:
    return PhysioFeatureEncoder(len(feature_names(tuple(config.physio_channels))), config.physio_dim)


# Modality name -> builder of its encoder. An encoder has `input_key` (the batch key it reads) and `out_dim`.
ENCODERS: dict[str, EncoderBuilder] = {"visual": _visual, "audio": _audio, "physio": _physio,
                                       "physio_features": _physio_features}

FUSIONS: tuple[str, ...] = ("concat", "jca", "transformer")


def register_encoder(name: str, builder: EncoderBuilder, *, replace: bool = False) -> EncoderBuilder:
    """Make modality ``name`` buildable: ``builder(config)`` returns its encoder.

    Args:
        name: the modality's name, as listed in ``ModelConfig.modalities`` and as the model's output key.
        builder: builds the encoder from the config; the encoder has ``input_key`` and ``out_dim``.
        replace: allow replacing an existing builder.

    Returns:
        ``builder``, unchanged.
    """
    if name in ENCODERS and not replace:
        raise ValueError(f"an encoder for modality {name!r} is already registered")
    ENCODERS[name] = builder
    return builder


def build_model(config: ModelConfig | None = None) -> MultitaskModel:
    """Build the multitask model a config describes.

    Args:
        config: the model section; default ``ModelConfig()``, the audio-visual teacher.

    Returns:
        A :class:`MultitaskModel` with one encoder per entry of ``config.modalities``.

    Raises:
        ValueError: an unknown modality, fusion, temporal model or audio encoder, or a repeated modality.
    """
    config = config or ModelConfig()
    modalities = tuple(config.modalities)
    if not modalities or len(set(modalities)) != len(modalities):
        raise ValueError(f"modalities must be distinct and non-empty, got {modalities}")
    unknown = [m for m in modalities if m not in ENCODERS]
    if unknown:
        raise ValueError(f"no encoder registered for modality {unknown}; known: {', '.join(ENCODERS)}")
    if config.fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {config.fusion!r}; choose one of {', '.join(FUSIONS)}")
    encoders = {name: ENCODERS[name](config) for name in modalities}
    in_dims = {name: enc.out_dim for name, enc in encoders.items()}
    dims = tuple(config.fusion_dims)
    if config.fusion == "jca":
        fusion: nn.Module = JointCrossAttentionFusion(in_dims, dims, config.dropout, config.attention_width)
    elif config.fusion == "transformer":
        fusion = TransformerFusion(in_dims, dims, config.dropout, config.attention_width, config.attention_heads,
                                   config.attention_layers)
    else:
        fusion = ConcatFusion(in_dims, dims, config.dropout)
    discriminator = (TaskDiscriminator(fusion.out_dim, config.task_sets, config.discriminator_dims)
                     if config.task_sets else None)
    projection = nn.Linear(fusion.out_dim, config.projection_dim) if config.projection_dim else None
    tasks = tuple(config.tasks)
    pool = TeacherPool(in_dims, fusion.out_dim, config.pool_adapter_dim, tasks) if config.pool_adapter_dim else None
    return MultitaskModel(encoders, fusion, MultitaskHeads(fusion.out_dim, tasks), discriminator, projection, pool)
