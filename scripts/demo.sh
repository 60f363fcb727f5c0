#!/usr/bin/env bash
# The main job on the synthetic default, as a user would type it:
#   synthetic Aff-Wild2 -> model -> predictions -> validation scores -> test submission -> check.
# Run through `make demo` (which sets up .venv first). Paths can be changed through the environment.
set -euo pipefail

DATA=${DATA:-data/synth}
RUN=${RUN:-runs/demo}
SUBMISSION=${SUBMISSION:-submissions/demo}
EDITION=${EDITION:-7}  # the synthetic set follows the 7th edition: uni-task challenges and MTL

step() { printf '\n== %s\n' "$*"; }

if [ ! -f "$DATA/synthetic.json" ]; then
  step "abaw-synth: writing the synthetic Aff-Wild2 to $DATA"
  abaw-synth "$DATA" --seed 0 --overwrite
else
  step "abaw-synth: reusing $DATA (delete it, or run 'make clean-demo', to write it again)"
fi

MODEL="$RUN/pixel_baseline"
step "pixel baseline: fit on train, predict every frame of val and test"
python -m abaw.baseline --data-root "$DATA" --out "$MODEL"

step "abaw-eval: uni-task challenges on validation"
abaw-eval "$MODEL/predictions/val" --data-root "$DATA" --split val --json "$MODEL/val_scores.json"

step "abaw-eval: MTL set on validation"
abaw-eval "$MODEL/predictions/val" --data-root "$DATA" --split val --mtl --json "$MODEL/val_mtl_scores.json"

step "abaw-submit: test predictions in the edition-$EDITION format"
abaw-submit "$MODEL/predictions/test" --data-root "$DATA" --edition "$EDITION" --out "$SUBMISSION"
abaw-submit --check "$SUBMISSION" --data-root "$DATA" --edition "$EDITION"

step "written"
cat <<DONE
  synthetic data        $DATA
  predictions           $MODEL/predictions/{val,test}/
  validation scores     $MODEL/val_scores.json, $MODEL/val_mtl_scores.json
  submission            $SUBMISSION/
DONE
