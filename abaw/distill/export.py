"""Teacher outputs exported once, read by the student instead of running the teacher at every step.

``export_teacher`` runs the teacher's best checkpoint over every training clip (without augmentation) and
writes its outputs (each task's as the model returns it, the fused ``embedding``, and a teacher pool's
``pool_*`` outputs when it has one) per manifest row to
``TEACHER_RUN/exports/teacher_outputs.safetensors``. The file's metadata names what made it
(the weights' SHA-256, the data root, the clip spec), so a stale export is detected and made again.
:class:`ExportedTeacher` then answers a batch by looking its rows up.

The two ways give the same losses when the student's clips are not augmented (a test checks this). With
augmentation, the online teacher sees the same augmented window as the student, the exported one the clean
window: a choice between exactness and a pass of the teacher per step.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn
from torch.utils.data import DataLoader

from abaw.data.clips import SOURCES, ClipDataset
from abaw.distill.privileged import negative_transfer_weights, sequence_teacher_ccc
from abaw.io import atomic_path
from abaw.progress import progress_bar
from abaw.task_registry import TASK_REGISTRY

log = logging.getLogger(__name__)

EXPORT = Path("exports") / "teacher_outputs.safetensors"


def weights_digest(run_dir: str | Path) -> str:
    """SHA-256 of a run's best weights: what identifies the teacher an export came from."""
    digest = hashlib.sha256()
    with open(Path(run_dir) / "best" / "model.safetensors", "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_metadata(run_dir: str | Path, data_root: str, datasets: Iterable[ClipDataset]) -> dict[str, str]:
    specs = sorted({json.dumps(vars(d.spec), sort_keys=True) for d in datasets})
    return {"weights_sha256": weights_digest(run_dir), "data_root": str(Path(data_root).resolve()),
            "clip_specs": json.dumps(specs)}


@torch.no_grad()
def export_teacher(teacher: nn.Module, datasets: Iterable[ClipDataset], path: str | Path, metadata: dict[str, str],
                   batch_size: int = 64, num_workers: int = 0, device: torch.device | str = "cpu") -> Path:
    """Run ``teacher`` (eval mode) over every clip of ``datasets`` without augmentation and write its outputs.

    Keys are ``<source>.rows`` (sorted manifest rows, each once) and ``<source>.<output>`` (one row of values
    each), for source "uni" / "mtl". Written to a temporary file, then renamed.

    Args:
        datasets: the distinct clip datasets (``abaw.engine.data.clip_datasets``); a row that two of them
            share is run twice and kept once.
    """
    teacher = teacher.eval().to(device)
    tables: dict[str, dict[str, list[np.ndarray]]] = {}
    for dataset in datasets:
        clean = copy.copy(dataset)
        clean.transform = None
        clean.spec = dataclasses.replace(clean.spec, jitter=False)  # a sample's frames at its segments' centres
        if clean.face_cache is not None and clean.face_cache.kind == "features":
            clean.face_cache = None  # the student's backbone features: the teacher reads the faces themselves
        loader = DataLoader(clean, batch_size=batch_size, num_workers=num_workers)
        table = tables.setdefault(SOURCES[dataset.source], {"rows": []})
        for batch in progress_bar(loader, desc=f"exporting teacher outputs ({SOURCES[dataset.source]})",
                                  unit="batch", leave=False):
            outputs = teacher({k: v.to(device) for k, v in batch.items()})
            table["rows"].append(batch["row"].numpy())
            for key, value in outputs.items():
                if is_exported(key):
                    table.setdefault(key, []).append(value.float().cpu().numpy())
    tensors = {}
    for source, table in tables.items():
        rows = np.concatenate(table["rows"])
        order = np.argsort(rows, kind="stable")
        rows, unique = np.unique(rows[order], return_index=True)
        tensors[f"{source}.rows"] = torch.from_numpy(rows.astype(np.int64))
        for key in sorted(set(table) - {"rows"}):
            tensors[f"{source}.{key}"] = torch.from_numpy(np.concatenate(table[key])[order][unique])
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def is_exported(output: str) -> bool:
    """Whether an export holds this output of the teacher: what distillation reads of it."""
    return output in TASK_REGISTRY or output == "embedding" or output.startswith("pool_")


def read_metadata(path: str | Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as f:
        return f.metadata() or {}


class ExportedTeacher(nn.Module):
    """A teacher that answers from an export: ``forward(batch)`` returns the exported outputs of the batch's
    (``source``, ``row``) clips. Buffers, so ``.to(device)`` moves them; no parameters.

    Raises (on a batch): KeyError naming the rows that the export does not hold.
    """

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)
        self.sources: list[str] = []
        with safe_open(str(path), framework="pt") as f:
            names = set(f.keys())
            self.outputs: tuple[str, ...] = tuple(sorted({name.partition(".")[2] for name in names} - {"rows"}))
            for source in SOURCES:
                if f"{source}.rows" not in names:
                    continue
                self.sources.append(source)
                for key in ("rows", *self.outputs):
                    self.register_buffer(f"{source}_{key}", f.get_tensor(f"{source}.{key}"), persistent=False)

    def add_negative_transfer(self, datasets: Iterable[ClipDataset], threshold: float, seconds: float) -> None:
        """Give every exported uni-task clip the distillation weight of PKD's negative-transfer module: 0 where
        the teacher's CCC on the clip's sequence (``seconds`` of its video) is below 1 - ``threshold``, 1
        elsewhere (also where a sequence has too few VA labels to judge, and for MTL images, which are single
        frames). ``datasets``: the training clip datasets; the uni-task one supplies frames and labels."""
        dataset = next((d for d in datasets if SOURCES[d.source] == "uni"), None)
        self.outputs = (*self.outputs, "ntm_weight")
        for name in self.sources:
            rows = getattr(self, f"{name}_rows")
            weight = torch.ones(len(rows))
            if name == "uni" and dataset is not None:
                r = rows.numpy()
                frames = dataset.manifest.frames
                ccc = sequence_teacher_ccc(frames["video"].cat.codes.to_numpy()[r], frames["frame"].to_numpy()[r],
                                           dataset.frame_rates(r), getattr(self, f"{name}_va").numpy(),
                                           dataset.manifest.va()[r], seconds)
                judged = ~np.isnan(ccc)
                weight[judged] = negative_transfer_weights(torch.from_numpy(ccc[judged]).float(), threshold)[0]
                log.info("negative transfer: distillation dropped for %d of %d clips (teacher CCC below %.2f on "
                         "their %.1f-s sequence)", int((weight == 0).sum()), len(weight), 1 - threshold, seconds)
            self.register_buffer(f"{name}_ntm_weight", weight, persistent=False)

    def forward(self, batch: dict[str, Tensor], grl_coefficient: float = 1.0) -> dict[str, Tensor]:
        rows, source = batch["row"], batch["source"]
        outputs: dict[str, Tensor] = {}
        for index, name in enumerate(SOURCES):
            chosen = source == index
            if not bool(chosen.any()):
                continue
            if name not in self.sources:
                raise KeyError(f"{self.path}: no {name} clips were exported")
            table = getattr(self, f"{name}_rows")
            position = torch.searchsorted(table, rows[chosen]).clamp(max=len(table) - 1)
            missing = table[position] != rows[chosen]
            if bool(missing.any()):
                raise KeyError(f"{self.path}: {name} rows {rows[chosen][missing][:5].tolist()} were not exported; "
                               f"export again")
            for key in self.outputs:
                values = getattr(self, f"{name}_{key}")[position]
                if key not in outputs:
                    outputs[key] = values.new_empty((len(rows), *values.shape[1:]))
                outputs[key][chosen] = values
        return outputs


def exported_teacher(teacher: nn.Module, run_dir: str | Path, data_root: str, datasets: Iterable[ClipDataset],
                     batch_size: int = 64, num_workers: int = 0,
                     device: torch.device | str = "cpu") -> ExportedTeacher:
    """The run's export for these clips, made (or made again, when stale) first."""
    datasets = list(datasets)
    path = Path(run_dir) / EXPORT
    metadata = export_metadata(run_dir, data_root, datasets)
    if path.is_file() and read_metadata(path) == metadata:
        log.info("reading teacher outputs from %s", path)
    else:
        if path.is_file():
            log.warning("%s was made by other weights, data or clips; exporting again", path)
        export_teacher(teacher, datasets, path, metadata, batch_size, num_workers, device)
        log.info("exported teacher outputs to %s", path)
    return ExportedTeacher(path)
