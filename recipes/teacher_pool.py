"""MT-PKDOT stage 1: grow a trained teacher into a teacher pool by self-distillation (docs/methods.md section 4).

Each modality's embedding of the teacher gets an adapter into the joint embedding's space (hidden width
``distill.pool_adapter_dim``) and its own task heads. The adapters align with the joint embedding (cosine)
while the heads and the teacher itself keep training on the tasks (``abaw.distill.pool``). Starts from the
teacher's BEST checkpoint; the run's best checkpoint is then a teacher for

    accelerate launch recipes/student_kd.py --config ... --teacher POOL_RUN distill.pool_selection=sample \\
        distill.privileged=[ot,centroid]

    accelerate launch recipes/teacher_pool.py --config recipes/configs/teacher.yaml --teacher RUN_DIR [key=value ...]

The model is the teacher's (its run's ``model`` section); the config's ``data`` must use the teacher's windows.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from abaw.config import load_config, with_teacher
from abaw.engine import MultitaskObjective, fit
from abaw.engine.checkpoint import load_weights
from abaw.engine.data import loaders, training_data
from abaw.engine.setup import adopt_teacher_inputs, recipe_arguments, start
from abaw.errors import command
from abaw.models import build_model


@command("teacher_pool.py")
def main(argv: list[str] | None = None) -> int:
    args = recipe_arguments("teacher_pool.py", __doc__, argv, teacher=True)
    config, accelerator = start(args)
    config = with_teacher(config, args.teacher)  # saved with the run: its config names its teacher
    teacher_config = load_config(Path(args.teacher) / "config.yaml")
    config = adopt_teacher_inputs(config, teacher_config)
    model_config = dataclasses.replace(teacher_config.model, pool_adapter_dim=config.distill.pool_adapter_dim)
    config = dataclasses.replace(config, model=model_config)  # saved with the run: abaw-predict rebuilds it
    model = load_weights(build_model(config.model), args.teacher, new_modules=("pool",))
    with accelerator.main_process_first():
        train, val = training_data(config)
    train_loader, val_loader = loaders(config, train.dataset, val.dataset)
    # Eq. 12 for the joint teacher, plus the pool's alignment and heads (the objective sees the pool outputs).
    objective = MultitaskObjective(config.data.tasks, config.loss, distill=config.distill, mode="pool")
    state = fit(model, objective, train_loader, val_loader, val.manifest, config, accelerator)
    accelerator.print(f"best validation score {state.best_score:.4f} at epoch {state.best_epoch}; "
                      f"run folder {config.train.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
