#!/usr/bin/env bash
# The main job on the synthetic default, as a user would type it:
#   synthetic Aff-Wild2 -> audio-visual teacher -> visual-only model (no distillation) -> distilled student
#   -> predictions -> validation table -> test submission -> check.
# Run through `make demo` (which sets up .venv first). Paths can be changed through the environment; a
# finished training is not repeated (its run folder resumes at its last epoch).
set -euo pipefail

DATA=${DATA:-data/synth}
RUNS=${RUNS:-runs/demo}
SUBMISSION=${SUBMISSION:-submissions/demo}
CONFIG=${CONFIG:-recipes/configs/demo.yaml}
EDITION=${EDITION:-7}  # the synthetic set follows the 7th edition: uni-task challenges and MTL
if python -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
  ACCELERATE=${ACCELERATE:-recipes/accelerate/gpu_bf16.yaml}
else
  ACCELERATE=${ACCELERATE:-recipes/accelerate/cpu.yaml}
fi
export ABAW_CACHE=${ABAW_CACHE:-$RUNS/cache}
SECONDS=0
step() { printf '\n== [%d s] %s\n' "$SECONDS" "$*"; }
launch() { accelerate launch --config_file "$ACCELERATE" "$@"; }

if [ ! -f "$DATA/synthetic.json" ]; then
  step "abaw-synth: writing the synthetic Aff-Wild2 to $DATA"
  abaw-synth "$DATA" --seed 0 --overwrite
else
  step "abaw-synth: reusing $DATA (run 'make clean-demo' to write it again)"
fi

common=(--config "$CONFIG" "data.root=$DATA")
step "teacher: audio-visual, trained on the labels"
launch recipes/mtl_teacher.py "${common[@]}" "train.out_dir=$RUNS/teacher"
step "visual-only model: the same visual path, trained on the labels without distillation"
launch recipes/mtl_teacher.py "${common[@]}" "train.out_dir=$RUNS/visual_only" "model.modalities=[visual]"
step "student: visual-only, distilled from the teacher's best checkpoint"
launch recipes/student_kd.py "${common[@]}" --teacher "$RUNS/teacher" "train.out_dir=$RUNS/student" \
  "model.modalities=[visual]"

for model in teacher visual_only student; do
  step "abaw-predict + abaw-eval: $model on validation"
  abaw-predict "$RUNS/$model" --data-root "$DATA" --split val --out "$RUNS/$model/predictions/val"
  abaw-eval "$RUNS/$model/predictions/val" --data-root "$DATA" --split val --json "$RUNS/$model/val_scores.json" \
    > "$RUNS/$model/val_scores.txt"
done

step "validation table (every frame of the validation videos; full tables in $RUNS/*/val_scores.txt)"
python scripts/compare_scores.py "teacher (audio-visual)=$RUNS/teacher/val_scores.json" \
  "visual-only, no distillation=$RUNS/visual_only/val_scores.json" \
  "student (visual-only, distilled)=$RUNS/student/val_scores.json" | tee "$RUNS/val_table.md"

step "abaw-predict + abaw-submit: the student on the test split, edition-$EDITION format"
abaw-predict "$RUNS/student" --data-root "$DATA" --split test --out "$RUNS/student/predictions/test"
abaw-submit "$RUNS/student/predictions/test" --data-root "$DATA" --edition "$EDITION" --out "$SUBMISSION"
abaw-submit --check "$SUBMISSION" --data-root "$DATA" --edition "$EDITION"

step "done; written:"
cat <<DONE
  synthetic data        $DATA
  runs                  $RUNS/{teacher,visual_only,student}/ (config.yaml, metrics.csv, best/, last/)
  predictions           $RUNS/<model>/predictions/val/, $RUNS/student/predictions/test/
  validation scores     $RUNS/<model>/val_scores.json, table in $RUNS/val_table.md
  submission            $SUBMISSION/
DONE
