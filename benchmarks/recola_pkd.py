"""The PKD paper's RECOLA table (Table 1 and its NTM ablation) on the calibrated synthetic RECOLA, 3 seeds.

Per seed, on recipes/configs/recola_cpu.yaml (the paper's shape at CPU size):

    visual-only                       the visual path alone, no teacher
    audio-visual teacher              [visual, audio], concatenation fusion (the paper's teacher)
    PKD student (cosine + NTM)        visual-only, CCC loss + cosine to the AV teacher's fused embedding, the
                                      cosine term dropped on 2-s sequences where the teacher's 1 - CCC > 0.8
    physio-visual teacher             [visual, physio]: ECG and EDA as the privileged modality
    PKD student from physio teacher   the same student, distilled from the physio-visual teacher

Students read their teacher's exported outputs. Each model is its best epoch by the validation score, which for
RECOLA is the AVEC convention (CCC per dev recording, averaged); the pooled CCC is reported beside it. The
annotation delay is the config's data.label_shift_s, chosen on the training recordings by
benchmarks/recola_probes.py before any of these runs.

    python benchmarks/recola_pkd.py --data-root data/recola_synth --config recipes/configs/recola_cpu.yaml \
        [--seeds 0 1 2] [--epochs 5] [--train-clips 1200]

Writes benchmarks/results/recola_pkd.json and prints the table and the per-seed paired differences.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from abaw.io import write_json

sys.path.insert(0, str(Path(__file__).parent))
from ablation import arguments, difference_table, paired_differences, run_recipe, summarize, table  # noqa: E402

COMMON = ["data.val_stride=12"]  # validation on every 12th frame of the dev recordings (scores per recording either way)
STUDENT = ["model.modalities=[visual]", "distill.teacher_outputs=exported", "distill.privileged=[cosine]",
           "distill.ntm_threshold=0.8", "distill.ntm_seconds=2.0"]
TEACHERS = {"audio-visual teacher": ["model.modalities=[visual,audio]"],
            "physio-visual teacher": ["model.modalities=[visual,physio]"]}
STUDENT_OF = {"audio-visual teacher": "PKD student (cosine + NTM)",
              "physio-visual teacher": "PKD student from physio teacher"}
METRICS = ("ccc_valence_per_video", "ccc_arousal_per_video", "ccc_valence", "ccc_arousal")
HEADERS = ("V per recording", "A per recording", "V pooled", "A pooled")
BASELINE = "visual-only"


def main() -> int:
    args, common = arguments(__doc__.splitlines()[0], "runs/recola_pkd")
    common = [*common, *COMMON]
    started = time.time()
    out = Path(args.out)
    variants: dict[str, dict] = {}

    def record(name: str, seed: int, run: Path, metrics: dict) -> None:
        entry = variants.setdefault(name, {"seeds": {}, "runs": {}})
        entry["seeds"][seed] = {m: metrics["va"][m] for m in METRICS}
        entry["runs"][seed] = str(run)

    for seed in args.seeds:
        seeded = [*common, f"train.seed={seed}"]
        run = out / f"seed{seed}" / "visual_only"
        record(BASELINE, seed, run, run_recipe("mtl_teacher", [*seeded, "model.modalities=[visual]"], run,
                                              args.epochs))
        for teacher, overrides in TEACHERS.items():
            teacher_run = out / f"seed{seed}" / teacher.split()[0]
            record(teacher, seed, teacher_run, run_recipe("mtl_teacher", [*seeded, *overrides], teacher_run,
                                                          args.epochs))
            student_run = out / f"seed{seed}" / f"student_{teacher.split()[0]}"
            record(STUDENT_OF[teacher], seed, student_run,
                   run_recipe("student_kd", [*seeded, *STUDENT, "--teacher", str(teacher_run)], student_run,
                              args.epochs))
    summarize(variants, METRICS)
    pairs = [(STUDENT_OF[t], BASELINE) for t in TEACHERS] + [(t, BASELINE) for t in TEACHERS]
    differences = {metric: paired_differences(variants, pairs, metric) for metric in METRICS[:2]}
    results = {"data_root": args.data_root, "config": args.config, "epochs": args.epochs,
               "train_clips": args.train_clips, "seeds": args.seeds, "variants": variants,
               "paired_differences": differences, "minutes": round((time.time() - started) / 60, 1)}
    write_json(Path("benchmarks/results/recola_pkd.json"), results)
    print(table(variants, METRICS, HEADERS))
    for metric, diffs in differences.items():
        print(f"\npaired differences, {metric}:\n" + difference_table(diffs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
