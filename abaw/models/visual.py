"""The visual path: a timm backbone applied to every face of the past window, then a temporal model.

The faces arrive as uint8 (the loader ships bytes, not floats); the encoder scales, resizes and normalises
them itself so that every caller (training, prediction, a distilling teacher) feeds the backbone the same way.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

from abaw.models import hog  # noqa: F401  (registers the face_hog descriptor with timm)

log = logging.getLogger(__name__)

class LastStepLSTM(nn.Module):
    """An LSTM over the window that returns its LAST step: the last face is the frame being predicted.

    Args:
        in_dim: width of the per-frame features.
        hidden: LSTM hidden size (the paper: 512).
    """

    def __init__(self, in_dim: int, hidden: int = 512):
        super().__init__()
        self.lstm = nn.LSTM(in_dim, hidden, batch_first=True)
        self.out_dim = hidden

    @property
    def recurrent(self) -> nn.Module:
        return self.lstm

    def sequence(self, features: Tensor) -> Tensor:
        """(B, T, in_dim) -> (B, T, hidden): the recurrent model's output at every step."""
        # The recurrence runs in the weights' precision outside autocast: its state accumulates over the
        # steps, and low-precision RNN kernels are not available on every device.
        with torch.autocast(features.device.type, enabled=False):
            out, _ = self.recurrent(features.to(self.recurrent.weight_ih_l0.dtype))
        return out

    @staticmethod
    def summarise(sequence: Tensor) -> Tensor:
        """The last step: the frame being predicted."""
        return sequence[:, -1]

    def forward(self, features: Tensor) -> Tensor:
        """(B, T, in_dim) -> (B, hidden)."""
        return self.summarise(self.sequence(features))


class LastStepGRU(LastStepLSTM):
    """A GRU over the window that returns its last step (the PKD paper's temporal model on RECOLA)."""

    def __init__(self, in_dim: int, hidden: int = 512):
        nn.Module.__init__(self)
        self.gru = nn.GRU(in_dim, hidden, batch_first=True)
        self.out_dim = hidden

    @property
    def recurrent(self) -> nn.Module:
        return self.gru


class MeanPool(nn.Module):
    """Average of the per-frame features over the window (no temporal order)."""

    def __init__(self, in_dim: int):
        super().__init__()
        self.out_dim = in_dim

    @staticmethod
    def sequence(features: Tensor) -> Tensor:
        """The per-frame features themselves."""
        return features

    @staticmethod
    def summarise(sequence: Tensor) -> Tensor:
        return sequence.mean(dim=1)

    def forward(self, features: Tensor) -> Tensor:
        """(B, T, in_dim) -> (B, in_dim)."""
        return self.summarise(features)


# model.temporal -> the module over the window of per-frame features: (feature width, model.temporal_dim) -> module.
TEMPORAL_BUILDERS: dict[str, Callable[[int, int], nn.Module]] = {
    "lstm": LastStepLSTM,
    "gru": LastStepGRU,
    "mean": lambda width, hidden: MeanPool(width),
}
TEMPORAL_MODELS: tuple[str, ...] = tuple(TEMPORAL_BUILDERS)


class VisualEncoder(nn.Module):
    """Faces of a past window -> one visual embedding.

    A timm backbone with ``num_classes=0`` (its globally pooled features) runs on every face, the window's
    length folded into the batch; the temporal model then summarises the T per-frame features. The two halves
    are public: :meth:`frame_features` (the backbone on faces) and :meth:`from_features` (the temporal model on
    a window of per-frame features). In eval mode the backbone treats each face on its own, so features
    computed once per frame and gathered into windows give the same embedding as the faces themselves;
    :class:`~abaw.models.multitask.MultitaskModel` reads such windows from ``batch[features_key]``.

    Args:
        backbone: any timm model name (the ABAW 2022 paper: an SE-ResNeXt).
        pretrained: let timm fetch its pretrained weights (needs a model hub; off by default).
        weights: a local weights file for the backbone (``.safetensors``, or a ``.pth``/``.pt`` state dict
            read with ``weights_only=True``), loaded after creation.
        image_size: side the faces are resized to when they differ (backbones with a fixed input size, such
            as ViTs, need their native size here).
        temporal: "lstm" or "gru" (last step of a recurrent model) or "mean" (average pooling).
        temporal_dim: the recurrent model's hidden size; "mean" keeps the backbone's width.
        freeze_backbone: keep the backbone as it was built or loaded: its parameters get no gradient and it
            stays in eval mode when the encoder trains, so its BatchNorm layers use their running statistics
            and never update them. Each face's features are then a fixed function of the face, which is what
            lets training read them from a feature cache (``data.face_cache=features``).

    Attributes:
        input_key: the batch key this encoder reads, ``"faces"``: uint8 (B, T, 3, S, S) with values 0..255,
            or floating point with values in 0..1.
        features_key: the batch key of precomputed per-frame features (B, T, feature_dim), ``"face_features"``,
            read instead of the faces when a batch carries it.
        feature_dim: width of the backbone's per-frame features.
        out_dim: width of the embedding.
    """

    input_key = "faces"
    features_key = "face_features"

    def __init__(self, backbone: str, *, pretrained: bool = False, weights: str | Path | None = None,
                 image_size: int = 112, temporal: str = "lstm", temporal_dim: int = 512,
                 freeze_backbone: bool = False):
        super().__init__()
        self.backbone = timm.create_model(backbone, pretrained=pretrained, num_classes=0)
        if weights is not None:
            load_backbone_weights(self.backbone, weights)
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            self.backbone.requires_grad_(False)
            self.backbone.eval()
        self.image_size = image_size
        cfg = getattr(self.backbone, "pretrained_cfg", None) or {}
        mean, std = cfg.get("mean", (0.5, 0.5, 0.5)), cfg.get("std", (0.5, 0.5, 0.5))
        # Non-persistent: they follow from the backbone's name, so checkpoints need not carry them.
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        # Some timm models put a hidden pre-logits layer after pooling (e.g. MobileNetV3).
        width = getattr(self.backbone, "head_hidden_size", None) or self.backbone.num_features
        self.feature_dim: int = width
        if temporal not in TEMPORAL_BUILDERS:
            raise ValueError(f"unknown temporal model {temporal!r}; choose one of {', '.join(TEMPORAL_MODELS)}")
        self.temporal: nn.Module = TEMPORAL_BUILDERS[temporal](width, temporal_dim)
        self.out_dim: int = self.temporal.out_dim

    def train(self, mode: bool = True) -> VisualEncoder:
        """Set training mode, except for a frozen backbone, which stays in eval mode."""
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def prepare(self, faces: Tensor) -> Tensor:
        """(..., 3, S, S) faces -> (N, 3, image_size, image_size) normalised floats for the backbone, N the
        product of the leading dimensions."""
        if faces.ndim < 4 or faces.shape[-3] != 3:
            raise ValueError(f"faces must be (..., 3, S, S), got {tuple(faces.shape)}")
        x = faces.flatten(0, -4).to(self.mean.dtype)
        if faces.dtype == torch.uint8:
            x = x / 255.0
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear",
                              align_corners=False, antialias=True)
        return (x - self.mean) / self.std

    def frame_features(self, faces: Tensor) -> Tensor:
        """(N, 3, S, S) faces -> (N, feature_dim): the backbone's pooled features of each face."""
        if faces.ndim != 4:
            raise ValueError(f"frame_features takes (N, 3, S, S) faces, got {tuple(faces.shape)}")
        return self.backbone(self.prepare(faces))

    def from_features(self, features: Tensor, sequence: bool = False) -> Tensor:
        """(B, T, feature_dim) per-frame features of a window, the last one the predicted frame -> (B, out_dim);
        with ``sequence``, the temporal model's (B, T, out_dim) output at every step instead."""
        steps = self.temporal.sequence(features)
        return steps if sequence else self.summarise(steps)

    def sequence(self, faces: Tensor) -> Tensor:
        """(B, T, 3, S, S) faces -> (B, T, out_dim): the temporal model's output at every face (for fusions
        that attend over time)."""
        return self(faces, sequence=True)

    def summarise(self, sequence: Tensor) -> Tensor:
        """(B, T, out_dim) -> (B, out_dim), as :meth:`forward` summarises the window."""
        return self.temporal.summarise(sequence)

    def forward(self, faces: Tensor, sequence: bool = False) -> Tensor:
        """(B, T, 3, S, S) faces, the last one the predicted frame -> (B, out_dim); with ``sequence``, the
        (B, T, out_dim) sequence instead."""
        if faces.ndim != 5 or faces.shape[2] != 3:
            raise ValueError(f"faces must be (B, T, 3, S, S), got {tuple(faces.shape)}")
        batch, frames = faces.shape[:2]
        features = self.frame_features(faces.flatten(0, 1)).reshape(batch, frames, -1)
        return self.from_features(features, sequence)


def load_backbone_weights(backbone: nn.Module, path: str | Path) -> tuple[list[str], list[str]]:
    """Load a local weights file into ``backbone`` (non-strict), logging what did not match.

    Files are read without executing code: safetensors, or ``torch.load(weights_only=True)``. A checkpoint
    that wraps the weights in ``{"state_dict": ...}`` or ``{"model": ...}``, or whose keys carry DDP's
    ``module.`` prefix, is unwrapped.

    Args:
        backbone: the timm model to fill.
        path: ``.safetensors``, or a ``.pth``/``.pt``/``.bin`` state dict.

    Returns:
        The missing and the unexpected keys.

    Raises:
        ValueError: the file holds pickled objects other than tensors and plain containers, or none of its
            keys belongs to the backbone (almost surely the wrong file).
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        state = load_file(str(path), device="cpu")
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            raise ValueError(f"{path}: refusing to unpickle arbitrary objects (weights_only=True failed). "
                             f"Save a plain state_dict, or use .safetensors.\n{error}") from None
    state = _unwrap(state, path)
    result = backbone.load_state_dict(state, strict=False)
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if len(unexpected) == len(state):
        raise ValueError(f"{path}: none of its {len(state)} keys belongs to the backbone "
                         f"(e.g. {next(iter(state), '')!r}); is it the right file?")
    loaded = len(state) - len(unexpected)
    message = f"{path}: loaded {loaded} tensors into the backbone"
    if missing or unexpected:
        log.warning("%s; missing %d keys %s; unexpected %d keys %s", message, len(missing),
                    _few(missing), len(unexpected), _few(unexpected))
    else:
        log.info(message)
    return missing, unexpected


def _unwrap(state: object, path: Path) -> dict[str, Tensor]:
    if isinstance(state, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a mapping of parameter names to tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _few(keys: list[str], n: int = 5) -> str:
    return "[" + ", ".join(keys[:n]) + (", ...]" if len(keys) > n else "]")
