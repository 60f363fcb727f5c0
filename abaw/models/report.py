"""Size and cost of a model: parameters and multiply-accumulates (MACs), teacher vs student (PKD, Table 3).

``python -m abaw.models.report --backbone NAME [--image-size S] [--frames T] [--audio-seconds A]`` builds the
audio-visual teacher and the visual-only student of that backbone and prints their table.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from abaw.models.factory import FUSIONS, ModelConfig, build_model


def _parts(model: nn.Module) -> dict[str, nn.Module]:
    """Top-level parts: each child, with the entries of a ModuleDict child (the encoders) as parts of their own."""
    parts: dict[str, nn.Module] = {}
    for name, child in model.named_children():
        if isinstance(child, nn.ModuleDict):
            parts.update({f"{name}.{key}": module for key, module in child.items()})
        else:
            parts[name] = child
    return parts


def _one_sample(batch: Tensor | Mapping[str, Any], device: torch.device) -> Tensor | dict[str, Any]:
    if isinstance(batch, Tensor):
        return batch[:1].to(device)
    return {k: v[:1].to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}


def model_report(model: nn.Module, batch: Tensor | Mapping[str, Any]) -> dict[str, Any]:
    """Parameters and the MACs of one forward pass for ONE sample (the first of ``batch``).

    MACs are FLOPs / 2 as counted by ``torch.utils.flop_counter.FlopCounterMode``, which counts matrix
    products and convolutions. Ops it does not cover are reported as counted, i.e. as zero: the LSTM (a
    fused op on CPU; about 4 h (in + h) per step, small next to a CNN backbone), the STFT of the log-mel
    encoder, normalisations, activations and pooling. The model runs in eval mode (batch norm on one sample)
    without gradients, and is put back in its previous mode.

    Args:
        model: any module; its forward takes ``batch`` (a dict of tensors or one tensor).
        batch: an input batch; tensors are cut to their first sample and moved to the model's device.

    Returns:
        ``{"params": {...}, "macs": {...}}``, each with ``total`` and one entry per top-level part, the
        encoders by modality name (``visual``, ``audio``, ``fusion``, ``heads`` for a multitask model).
    """
    parts = _parts(model)
    param = next(model.parameters(), None)
    sample = _one_sample(batch, param.device if param is not None else torch.device("cpu"))
    training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(sample)
    finally:
        model.train(training)
    flops = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    root = type(model).__name__

    def short(name: str) -> str:
        return name.removeprefix("encoders.")

    params = {"total": sum(p.numel() for p in model.parameters())}
    params.update({short(name): sum(p.numel() for p in part.parameters()) for name, part in parts.items()})
    macs = {"total": flops.get("Global", 0) // 2}
    macs.update({short(name): flops.get(f"{root}.{name}", 0) // 2 for name in parts})
    return {"params": params, "macs": macs}


def _human(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def format_report(reports: Mapping[str, Mapping[str, Mapping[str, int]]]) -> str:
    """A table of :func:`model_report` results, one row per model: parameters, MACs, then per part.

    Args:
        reports: model name (e.g. "teacher", "student") -> its report.

    Returns:
        The table as text; a part a model lacks shows "-".
    """
    parts: list[str] = []
    for report in reports.values():
        parts += [p for p in report["params"] if p != "total" and p not in parts]
    header = ["model", "params", "MACs"] + [f"{p} params/MACs" for p in parts]
    rows = [header]
    for name, report in reports.items():
        cells = [name, _human(report["params"]["total"]), _human(report["macs"]["total"])]
        for part in parts:
            has = part in report["params"]
            cells.append(f"{_human(report['params'][part])} / {_human(report['macs'][part])}" if has else "-")
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def teacher_student_reports(config: ModelConfig, frames: int, audio_seconds: float) -> dict[str, dict[str, Any]]:
    """Reports of the teacher (``config`` as given) and its student (the same config, visual only; with the
    concatenation fusion when the teacher's is joint cross-attention, which needs two modalities)."""
    size = config.image_size
    batch = {
        "faces": torch.randint(0, 256, (1, frames, 3, size, size), dtype=torch.uint8),
        "audio": torch.randn(1, round(audio_seconds * config.sample_rate)) * 0.1,
    }
    fusion = "concat" if config.fusion == "jca" else config.fusion
    student = ModelConfig(**{**vars(config), "modalities": ("visual",), "fusion": fusion})
    return {
        "teacher": model_report(build_model(config), batch),
        "student": model_report(build_model(student), batch),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Print the teacher/student table for a backbone (randomly initialised weights; nothing is downloaded)."""
    parser = argparse.ArgumentParser(prog="python -m abaw.models.report", description=__doc__.splitlines()[0])
    defaults = ModelConfig()
    parser.add_argument("--backbone", default=defaults.backbone, help="timm model name")
    parser.add_argument("--image-size", type=int, default=defaults.image_size, help="face side in pixels")
    parser.add_argument("--frames", type=int, default=6, help="faces in the window")
    parser.add_argument("--audio-seconds", type=float, default=10.0, help="seconds of past audio")
    parser.add_argument("--sample-rate", type=int, default=defaults.sample_rate, help="audio rate in Hz")
    parser.add_argument("--audio-encoder", default=defaults.audio_encoder, choices=("soundnet", "logmel"),
                        help="audio encoder (default: %(default)s)")
    parser.add_argument("--fusion", default=defaults.fusion, choices=FUSIONS,
                        help="the teacher's fusion (default: %(default)s)")
    args = parser.parse_args(argv)
    config = ModelConfig(backbone=args.backbone, image_size=args.image_size, sample_rate=args.sample_rate,
                         audio_encoder=args.audio_encoder, fusion=args.fusion)
    print(f"{args.backbone} at {args.image_size} px, {args.frames} frames, {args.audio_seconds:g} s of audio "
          f"at {args.sample_rate} Hz ({args.audio_encoder}, {args.fusion} fusion); MACs for one sample")
    print(format_report(teacher_student_reports(config, args.frames, args.audio_seconds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
