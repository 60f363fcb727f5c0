"""Models: per-modality encoders (timm visual backbone + temporal model, SoundNet or log-mel audio), a
fusion, and the VA / EXPR / AU heads. ``build_model(ModelConfig(...))`` gives the audio-visual teacher, or
with ``modalities=("visual",)`` the visual-only student."""

from typing import Any

from abaw.models.factory import ModelConfig, build_model, register_encoder
from abaw.models.multitask import MultitaskModel

__all__ = ["ModelConfig", "MultitaskModel", "build_model", "format_report", "model_report", "register_encoder"]


def __getattr__(name: str) -> Any:
    # Imported on first use: importing abaw.models.report here would make `python -m abaw.models.report`
    # run a module that is already imported (runpy warns about it).
    if name in ("model_report", "format_report"):
        from abaw.models import report

        return getattr(report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
