"""The multitask model: one encoder per modality, a fusion over them, the task heads and, for task-wise
training, a task discriminator behind a gradient-reversal layer."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from abaw.task_registry import TASK_REGISTRY

# Output keys the model itself produces besides each task's and a teacher pool's ``pool_*``; a modality may not
# take one of these names.
OUTPUT_KEYS: tuple[str, ...] = ("embedding", "task_logits", "projected")


class MultitaskModel(nn.Module):
    """Named modality encoders -> fusion -> embedding -> VA / EXPR / AU heads.

    The audio-visual teacher and the visual-only student are the same class with different encoders: the
    student holds no audio module at all and never reads ``batch["audio"]``. A further modality (e.g.
    physiological signals) is one more entry in ``encoders``; nothing else changes.

    Args:
        encoders: modality name -> encoder. An encoder maps ``batch[encoder.input_key]`` to a
            (B, encoder.out_dim) embedding.
        fusion: maps the dict of modality embeddings to the (B, D) embedding; has ``out_dim``. A fusion with
            ``uses_sequences = True`` gets each encoder's sequence (B, L_m, D_m) instead, from
            ``encoder(x, sequence=True)``, and the per-modality outputs are the encoders' ``summarise`` of them.
        heads: maps the (B, D) embedding to ``va``, ``expr`` and ``au``.
        discriminator: optional; maps the (B, D) embedding and the reversal coefficient to task-set logits
            (:class:`abaw.models.grl.TaskDiscriminator`).
        projection: optional; maps the embedding to another width, output as ``projected`` (for a student
            whose embedding a privileged loss compares with a teacher's of another width).
        pool: optional; MT-PKDOT's teacher pool (:class:`abaw.models.teacher_pool.TeacherPool`), whose adapters and
            heads turn each modality's embedding into one more teacher, output as ``pool_*``.

    Attributes:
        encoders: ``nn.ModuleDict`` of the encoders, keyed by modality name.
        embedding_dim: D.
    """

    def __init__(self, encoders: Mapping[str, nn.Module], fusion: nn.Module, heads: nn.Module,
                 discriminator: nn.Module | None = None, projection: nn.Module | None = None,
                 pool: nn.Module | None = None):
        super().__init__()
        if not encoders:
            raise ValueError("a model needs at least one modality encoder")
        clash = [name for name in encoders if name in OUTPUT_KEYS or name in TASK_REGISTRY or name.startswith("pool_")]
        if clash:
            raise ValueError(f"modality names {clash} clash with the model's outputs: {', '.join(OUTPUT_KEYS)}, "
                             f"the tasks' ({', '.join(TASK_REGISTRY)}) and pool_*")
        for name, encoder in encoders.items():
            if not isinstance(getattr(encoder, "input_key", None), str) or not hasattr(encoder, "out_dim"):
                raise TypeError(f"encoder {name!r} needs an `input_key` (str) and an `out_dim`")
        self.encoders = nn.ModuleDict(encoders)
        self.fusion = fusion
        self.heads = heads
        self.discriminator = discriminator
        self.projection = projection
        self.pool = pool
        self.embedding_dim: int = fusion.out_dim
        self.fusion_uses_sequences: bool = getattr(fusion, "uses_sequences", False)
        if self.fusion_uses_sequences:
            lacking = [n for n, e in encoders.items() if not (hasattr(e, "sequence") and hasattr(e, "summarise"))]
            if lacking:
                raise TypeError(f"{type(fusion).__name__} attends over time; encoders {lacking} need a "
                                f"`sequence` method (called as encoder(x, sequence=True)) and a `summarise` method")

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modality names, in the fusion's order."""
        return tuple(self.encoders)

    @property
    def input_keys(self) -> dict[str, str]:
        """Modality name -> the batch key its encoder reads (so a loader can skip what no model reads)."""
        return {name: encoder.input_key for name, encoder in self.encoders.items()}

    def forward(self, batch: Mapping[str, Tensor], grl_coefficient: float = 1.0) -> dict[str, Tensor]:
        """Predict from a batch; keys other than the encoders' inputs (labels, masks, ...) are ignored.

        Args:
            batch: at least ``faces`` uint8 (B, T, 3, S, S), the last face the predicted frame, or instead
                ``face_features`` (B, T, F), the visual backbone's features of those faces
                (:meth:`abaw.models.visual.VisualEncoder.frame_features`); and for an audio model ``audio``
                float (B, N), the past waveform.
            grl_coefficient: lambda of the gradient reversal in front of the discriminator (if any).

        Returns:
            ``va`` (B, 2) in (-1, 1); ``expr`` (B, 8) and ``au`` (B, 12) logits; ``embedding`` (B, D), the
            fused representation used by distillation; and one (B, D_m) embedding per modality under its
            name (``visual``, ``audio``, ...). All float32, also under autocast, so that losses such as CCC
            are computed in full precision. With a discriminator, also ``task_logits`` (B, task sets); with a
            projection, ``projected``; with a pool, its ``pool_*`` outputs.
        """
        embeddings, sequences = {}, {}
        for name, encoder in self.encoders.items():
            # An encoder with a `features_key` (the visual one) starts from precomputed per-frame features
            # when the batch carries them (cached-embedding prediction), else from its raw input.
            features_key = getattr(encoder, "features_key", None)
            if features_key is not None and features_key in batch:
                run, x = encoder.from_features, batch[features_key]
            elif encoder.input_key in batch:
                run, x = encoder, batch[encoder.input_key]
            else:
                raise KeyError(f"the {name} encoder reads batch[{encoder.input_key!r}], which is absent "
                               f"(batch keys: {', '.join(sorted(batch))})")
            if self.fusion_uses_sequences:  # attention over time: the encoder's whole sequence, and its summary
                sequences[name] = run(x, sequence=True)
                embeddings[name] = encoder.summarise(sequences[name])
            else:
                embeddings[name] = run(x)
        embedding = self.fusion(sequences if self.fusion_uses_sequences else embeddings)
        outputs = {**self.heads(embedding), "embedding": embedding, **embeddings}
        if self.discriminator is not None:
            outputs["task_logits"] = self.discriminator(embedding, grl_coefficient)
        if self.projection is not None:
            outputs["projected"] = self.projection(embedding)
        if self.pool is not None:
            outputs |= self.pool(embeddings, outputs)
        return {key: value.float() for key, value in outputs.items()}
