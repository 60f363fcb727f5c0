"""Distil an audio-visual teacher into a visual-only student with soft labels (ABAW 2022 multitask-KD paper):
CCC to the teacher's VA, CE to softmax(teacher / T), BCE to its AU probabilities, on every frame, alongside
the student's own ground-truth losses (eq. 13), and optionally privileged losses on the embeddings
(``distill.privileged``: PKD's cosine, PKDOT's optimal transport, MT-PKDOT's centroid). The teacher's BEST
checkpoint is used.

    accelerate launch recipes/student_kd.py --config recipes/configs/student.yaml --teacher RUN_DIR [key=value ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

from abaw.config import load_config, with_teacher
from abaw.engine import MultitaskObjective, fit
from abaw.engine.checkpoint import load_weights
from abaw.distill.export import exported_teacher
from abaw.engine.data import clip_datasets, loaders, teacher_clips, training_data
from abaw.engine.setup import adopt_teacher_inputs, build_student, recipe_arguments, start
from abaw.errors import command
from abaw.models import build_model


@command("student_kd.py")
def main(argv: list[str] | None = None) -> int:
    args = recipe_arguments("student_kd.py", __doc__, argv, teacher=True)
    config, accelerator = start(args)
    config = with_teacher(config, args.teacher)  # saved with the run: its config names its teacher
    teacher_config = load_config(Path(args.teacher) / "config.yaml")
    teacher = load_weights(build_model(teacher_config.model), args.teacher)
    config = adopt_teacher_inputs(config, teacher_config)
    config, student = build_student(config, teacher)
    exported = config.distill.teacher_outputs == "exported"
    with accelerator.main_process_first():  # the clips carry the teacher's streams only if it reads the batches
        train, val = training_data(config, model=student, teacher=None if exported else teacher,
                                   device=accelerator.device)
    if exported:
        with accelerator.main_process_first():  # the main process exports; the others read its file
            teacher = exported_teacher(teacher, args.teacher, config.data.root,
                                       teacher_clips(config, teacher, clip_datasets(train.dataset)),
                                       config.train.batch_size, config.data.num_workers, accelerator.device)
        if config.distill.ntm_threshold > 0:
            teacher.add_negative_transfer(clip_datasets(train.dataset), config.distill.ntm_threshold,
                                          config.distill.ntm_seconds)
    # Eq. 13's soft labels, plus the privileged embedding losses that distill.privileged names.
    objective = MultitaskObjective(config.data.tasks, config.loss, teacher, config.distill)
    train_loader, val_loader = loaders(config, train.dataset, val.dataset)
    state = fit(student, objective, train_loader, val_loader, val.manifest, config, accelerator)
    accelerator.print(f"best validation score {state.best_score:.4f} at epoch {state.best_epoch}; "
                      f"run folder {config.train.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
