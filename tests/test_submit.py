"""abaw-submit: the written files follow the organisers' lists exactly, and the checker names every problem.

The trees are written by hand here, with sample files whose videos are NOT in alphabetical order and whose
rows carry the organisers' trailing comma; the expected files are computed from the raw prediction arrays
and the sample files read with plain Python, never through the code under test.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from abaw.data.layout import discover
from abaw.prediction_files import write_predictions
from abaw.submit import (
    SubmissionError,
    binarise_aus,
    check_submission,
    check_thresholds,
    expr_classes,
    load_thresholds,
    write_submission,
)
from abaw.submit.cli import main
from abaw.tasks import ANNOTATION_HEADER, MTL_HEADER, SUBMISSION_HEADER

FRAMES = {"video59_right": 8, "2-30-640x360": 12, "108": 5, "10-60-1280x720": 15}
# The organisers' order of each challenge's videos: not alphabetical, so a sorted writer would fail.
ORDER = {
    "va": ["video59_right", "2-30-640x360", "108"],
    "expr": ["2-30-640x360", "10-60-1280x720", "video59_right"],
    "au": ["108", "10-60-1280x720"],
}
MTL_ROWS = ["108/00003.jpg", "2-30-640x360/00010.jpg", "108/00001.jpg", "video59_right/00002.jpg",
            "10-60-1280x720/00015.jpg", "2-30-640x360/00004.jpg"]
SAMPLE_NAMES = {"va": "CVPR_5th_ABAW_VA_test_set_sample.txt", "expr": "CVPR_5th_ABAW_EXPR_test_set_sample.txt",
                "au": "CVPR_5th_ABAW_AU_test_set_sample.txt"}
RELEASE_NAMES = {"va": "Valence_Arousal_Estimation_Challenge_test_set_release.txt",
                 "expr": "Expression_Classification_Challenge_test_set_release.txt",
                 "au": "Action_Unit_Detection_Challenge_test_set_release.txt"}
FILE_NAMES = {"va": "VA_Estimation_Challenge.txt", "expr": "EXPR_Recognition_Challenge.txt",
              "au": "AU_Detection_Challenge.txt", "mtl": "MTL_Challenge.txt"}


def write_data_root(root: Path) -> Path:
    """Annotations (so discovery finds an edition), release lists, 5th-edition sample files, an MTL test list."""
    train = root / "8th_ABAW_Annotations" / "VA_Estimation_Challenge" / "Train_Set"
    train.mkdir(parents=True)
    (train / "1-30-640x360.txt").write_text("valence,arousal\n0.1,0.2\n")
    test = root / "test_set"
    test.mkdir()
    for task, videos in ORDER.items():
        (test / RELEASE_NAMES[task]).write_text("\n".join(videos) + "\n")
        rows = [f"{video}/{frame:05d}.jpg," for video in videos for frame in range(1, FRAMES[video] + 1)]
        (test / SAMPLE_NAMES[task]).write_text("\n".join([SUBMISSION_HEADER[task] + ",", *rows]) + "\n")
    # The MTL test list: no header, trailing commas, the organisers' (unsorted) order.
    (test / "MTL_Challenge_test_set_release.txt").write_text("".join(f"{row},\n" for row in MTL_ROWS))
    return root


def make_predictions(seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Per video: VA in [-1, 1], EXPR probabilities, AU probabilities, rounded so hand checks are exact."""
    rng = np.random.default_rng(seed)
    outputs = {}
    for video, n in FRAMES.items():
        expr = rng.random((n, 8)) + 0.01
        outputs[video] = {
            "va": np.round(rng.uniform(-1, 1, (n, 2)), 6),
            "expr": np.round(expr / expr.sum(axis=1, keepdims=True), 6),
            "au": np.round(rng.random((n, 12)), 2),  # coarse, so that some sit exactly on a threshold
        }
    return outputs


def write_prediction_dir(folder: Path, outputs: dict[str, dict[str, np.ndarray]], tasks=("va", "expr", "au"),
                         skip: tuple[str, ...] = ()) -> Path:
    for video, values in outputs.items():
        if video not in skip:
            write_predictions(folder, video, np.arange(1, FRAMES[video] + 1), {t: values[t] for t in tasks})
    return folder


def read_sample_locations(path: Path) -> tuple[str, list[str]]:
    """The sample's header and row locations, read with plain Python."""
    lines = path.read_text().splitlines()
    return lines[0].rstrip(","), [line.rstrip(",") for line in lines[1:] if line]


def frame_of(location: str) -> tuple[str, int]:
    video, image = location.split("/")
    return video, int(image.removesuffix(".jpg"))


def expected_values(task: str, values: dict[str, np.ndarray], frame: int, thresholds=None) -> list[str]:
    """The value fields of a frame, computed by hand from the prediction arrays."""
    thresholds = np.full(12, 0.5) if thresholds is None else np.asarray(thresholds)
    i = frame - 1
    fields = []
    if task in ("va", "mtl"):
        fields += [f"{values['va'][i, 0]:.6f}", f"{values['va'][i, 1]:.6f}"]
    if task in ("expr", "mtl"):
        probs = list(values["expr"][i])
        fields.append(str(probs.index(max(probs))))
    if task in ("au", "mtl"):
        fields += ["1" if p >= t else "0" for p, t in zip(values["au"][i], thresholds)]
    return fields


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A data root, its layout, predictions and one written submission per edition (5 and 3)."""
    base = tmp_path_factory.mktemp("submit")
    root = write_data_root(base / "data")
    layout = discover(root)
    outputs = make_predictions()
    pred_dir = write_prediction_dir(base / "pred", outputs)
    subs = {}
    for edition in (5, 3):
        subs[edition] = base / f"sub{edition}"
        write_submission(pred_dir, layout, edition, subs[edition])
    return {"root": root, "layout": layout, "outputs": outputs, "pred": pred_dir, "subs": subs}


# ------------------------------------------------------------------------------------------- writing


@pytest.mark.parametrize("task", ["va", "expr", "au"])
def test_edition5_file_has_the_sample_rows_in_order_with_the_exact_header(world, task):
    sample_header, locations = read_sample_locations(world["root"] / "test_set" / SAMPLE_NAMES[task])
    lines = (world["subs"][5] / FILE_NAMES[task]).read_text().splitlines()
    assert lines[0] == sample_header == SUBMISSION_HEADER[task]
    assert [line.split(",")[0] for line in lines[1:]] == locations
    for line, location in zip(lines[1:], locations):
        assert not line.endswith(",")
        video, frame = frame_of(location)
        assert line.split(",")[1:] == expected_values(task, world["outputs"][video], frame)


def test_edition5_va_values_have_six_decimals(world):
    rows = (world["subs"][5] / FILE_NAMES["va"]).read_text().splitlines()[1:]
    assert all(re.fullmatch(r"[^,]+,-?\d\.\d{6},-?\d\.\d{6}", row) for row in rows)


def test_edition3_writes_one_file_per_video_with_a_line_per_frame(world):
    folders = {"va": "VA_Estimation_Challenge", "expr": "EXPR_Classification_Challenge",
               "au": "AU_Detection_Challenge"}
    for task, folder in folders.items():
        files = sorted(p.name for p in (world["subs"][3] / folder).iterdir())
        assert files == sorted(f"{video}.txt" for video in ORDER[task])
        for video in ORDER[task]:
            lines = (world["subs"][3] / folder / f"{video}.txt").read_text().splitlines()
            assert lines[0] == ANNOTATION_HEADER[task]
            assert len(lines) == FRAMES[video] + 1
            for frame, line in enumerate(lines[1:], start=1):
                assert line.split(",") == expected_values(task, world["outputs"][video], frame)


def test_mtl_file_follows_the_test_list(world):
    for edition in (5, 3):
        lines = (world["subs"][edition] / FILE_NAMES["mtl"]).read_text().splitlines()
        assert lines[0] == MTL_HEADER
        assert [line.split(",")[0] for line in lines[1:]] == MTL_ROWS
        for line in lines[1:]:
            fields = line.split(",")
            assert len(fields) == 16
            video, frame = frame_of(fields[0])
            assert fields[1:] == expected_values("mtl", world["outputs"][video], frame)


def test_no_temporary_files_are_left(world):
    leftovers = [p for sub in world["subs"].values() for p in sub.rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def test_argmax_and_thresholds_by_hand():
    probs = np.array([[0.1, 0.3, 0.3, 0.1, 0.05, 0.05, 0.05, 0.05],  # tie: the first maximum wins
                      [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]])
    assert expr_classes(probs).tolist() == [1, 7]
    aus = np.array([[0.5, 0.49, 0.7, 0.2, 0.0, 1.0, 0.3, 0.31, 0.9, 0.6, 0.5, 0.05]])
    assert binarise_aus(aus, np.full(12, 0.5)).tolist() == [[1, 0, 1, 0, 0, 1, 0, 0, 1, 1, 1, 0]]
    tuned = np.array([0.6, 0.4, 0.7, 0.1, 0.0, 1.0, 0.3, 0.32, 0.95, 0.6, 0.5, 0.05])
    assert binarise_aus(aus, tuned).tolist() == [[0, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1]]


def test_thresholds_from_an_eval_json_and_a_plain_list(world, tmp_path):
    tuned = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.35, 0.45, 0.55]
    eval_json = tmp_path / "val.json"
    eval_json.write_text(json.dumps({"va": {"ccc_valence": 0.4, "ccc_arousal": 0.5, "score": 0.45},
                                     "au": {"f1_mean": 0.5, "thresholds": tuned}}))
    assert load_thresholds(eval_json).tolist() == tuned
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(tuned))
    assert load_thresholds(plain).tolist() == tuned

    out = tmp_path / "sub"
    code = main([str(world["pred"]), "--data-root", str(world["root"]), "--edition", "6", "--out", str(out),
                 "--tasks", "au,mtl", "--thresholds", str(eval_json)])
    assert code == 0
    lines = (out / FILE_NAMES["au"]).read_text().splitlines()[1:]
    for line in lines:
        location, *bits = line.split(",")
        video, frame = frame_of(location)
        assert bits == expected_values("au", world["outputs"][video], frame, tuned)
    # The thresholds change some AU at least once here, so the test can tell them from 0.5.
    default = (world["subs"][5] / FILE_NAMES["au"]).read_text().splitlines()[1:]
    assert lines != default
    mtl = (out / FILE_NAMES["mtl"]).read_text().splitlines()[1:]
    for line in mtl:
        video, frame = frame_of(line.split(",")[0])
        assert line.split(",")[4:] == expected_values("au", world["outputs"][video], frame, tuned)


@pytest.mark.parametrize("content, message", [
    ([0.5] * 11, "expected 12"),
    ([0.5] * 11 + [1.5], "[0, 1]"),
    ({"au": {"f1_mean": 0.3}}, "thresholds"),
    ([0.5] * 11 + ["x"], "numbers"),
])
def test_bad_thresholds_are_refused(tmp_path, content, message):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(content))
    with pytest.raises(SubmissionError, match=re.escape(message)):
        load_thresholds(path)


def test_check_thresholds_accepts_an_array():
    assert check_thresholds(np.linspace(0, 1, 12)).shape == (12,)


# --------------------------------------------------------------------------------- writer failures


def test_missing_predictions_for_a_video_name_it_and_write_nothing(world, tmp_path):
    pred = write_prediction_dir(tmp_path / "pred", world["outputs"], skip=("108",))
    out = tmp_path / "sub"
    with pytest.raises(SubmissionError) as error:
        write_submission(pred, world["layout"], 5, out)
    assert "108" in str(error.value) and "VA" in str(error.value) and "AU" in str(error.value)
    assert not out.exists() or not any(out.iterdir())
    assert main([str(pred), "--data-root", str(world["root"]), "--edition", "3", "--out", str(out)]) == 1


def test_a_missing_frame_is_named_and_nothing_is_written(world, tmp_path):
    pred = write_prediction_dir(tmp_path / "pred", world["outputs"])
    video = "2-30-640x360"
    csv = (pred / f"{video}.csv").read_text().splitlines()
    (pred / f"{video}.csv").write_text("\n".join(csv[:4] + csv[6:]) + "\n")  # drop frames 4 and 5
    out = tmp_path / "sub"
    with pytest.raises(SubmissionError, match=r"2-30-640x360: .* 2 frame\(s\) .*: 4-5"):
        write_submission(pred, world["layout"], 5, out, tasks=["va", "expr"])
    assert not out.exists() or not any(out.rglob("*"))


def test_a_requested_challenge_without_its_columns_is_an_error(world, tmp_path):
    pred = write_prediction_dir(tmp_path / "pred", world["outputs"], tasks=("va",))
    with pytest.raises(SubmissionError, match="cannot write MTL: missing EXPR/AU columns"):
        write_submission(pred, world["layout"], 5, tmp_path / "sub", tasks=["va", "mtl"])
    # Without --tasks, only what can be written is written.
    written = write_submission(pred, world["layout"], 5, tmp_path / "sub")
    assert [w.challenge for w in written] == ["va"]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == [FILE_NAMES["va"]]


def test_a_sample_header_that_differs_stops_the_writer(world, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(world["root"], root)
    sample = root / "test_set" / SAMPLE_NAMES["va"]
    lines = sample.read_text().splitlines()
    sample.write_text("\n".join(["image_location,valence,arousal,extra", *lines[1:]]) + "\n")
    with pytest.raises(SubmissionError) as error:
        write_submission(world["pred"], discover(root), 5, tmp_path / "sub", tasks=["va"])
    assert "image_location,valence,arousal,extra" in str(error.value)
    assert SUBMISSION_HEADER["va"] in str(error.value)


# ----------------------------------------------------------------------------------------- checking


def test_check_passes_on_written_submissions(world, capsys):
    for edition, sub in world["subs"].items():
        assert check_submission(sub, world["layout"], edition) == []
        assert main(["--check", str(sub), "--data-root", str(world["root"]), "--edition", str(edition)]) == 0
        assert "OK" in capsys.readouterr().out


def _edit_line(path: Path, lineno: int, edit) -> None:
    lines = path.read_text().splitlines()
    lines[lineno - 1] = edit(lines[lineno - 1])
    path.write_text("\n".join(lines) + "\n")


def _delete_line(path: Path, lineno: int) -> None:
    lines = path.read_text().splitlines()
    del lines[lineno - 1]
    path.write_text("\n".join(lines) + "\n")


def _swap_lines(path: Path, a: int, b: int) -> None:
    lines = path.read_text().splitlines()
    lines[a - 1], lines[b - 1] = lines[b - 1], lines[a - 1]
    path.write_text("\n".join(lines) + "\n")


def _set_field(path: Path, lineno: int, index: int, value: str) -> None:
    def edit(line: str) -> str:
        fields = line.split(",")
        fields[index] = value
        return ",".join(fields)
    _edit_line(path, lineno, edit)


# (edition, damage(sub_dir), the file named, regexes the problem lines must match)
DAMAGE = {
    "missing row": (5, lambda d: _delete_line(d / FILE_NAMES["va"], 4), FILE_NAMES["va"],
                    [r"VA_Estimation_Challenge\.txt:4: image location '.*00004\.jpg', the list has '.*00003\.jpg'",
                     r"VA_Estimation_Challenge\.txt: 24 rows, expected 25 rows",
                     r"1 image location\(s\) of the list have no row, first: 'video59_right/00003\.jpg'"]),
    "reordered row": (5, lambda d: _swap_lines(d / FILE_NAMES["expr"], 2, 3), FILE_NAMES["expr"],
                      [r"EXPR_Recognition_Challenge\.txt:2: image location '2-30-640x360/00002\.jpg', "
                       r"the list has '2-30-640x360/00001\.jpg'",
                       r"EXPR_Recognition_Challenge\.txt:3: image location '2-30-640x360/00001\.jpg'"]),
    "nan": (5, lambda d: _set_field(d / FILE_NAMES["va"], 5, 2, "nan"), FILE_NAMES["va"],
            [r"VA_Estimation_Challenge\.txt:5: arousal is NaN"]),
    "valence out of range": (5, lambda d: _set_field(d / FILE_NAMES["va"], 7, 1, "1.500000"), FILE_NAMES["va"],
                             [r"VA_Estimation_Challenge\.txt:7: valence 1\.500000 is outside \[-1, 1\]"]),
    "non-numeric": (5, lambda d: _set_field(d / FILE_NAMES["mtl"], 3, 1, "high"), FILE_NAMES["mtl"],
                    [r"MTL_Challenge\.txt:3: valence 'high' is not a number"]),
    "missing video": (3, lambda d: (d / "VA_Estimation_Challenge" / "108.txt").unlink(), "108.txt",
                      [r"VA_Estimation_Challenge/108\.txt: missing video 108"]),
    "wrong header": (5, lambda d: _edit_line(d / FILE_NAMES["au"], 1, lambda h: h + ","), FILE_NAMES["au"],
                     [r"AU_Detection_Challenge\.txt:1: wrong header 'image_location,AU1,.*,AU26,', expected "]),
    "wrong header, per video": (3, lambda d: _edit_line(d / "AU_Detection_Challenge" / "108.txt", 1,
                                                        lambda h: "AU1"), "108.txt",
                                [r"AU_Detection_Challenge/108\.txt:1: wrong header 'AU1'"]),
    "expr 8": (5, lambda d: _set_field(d / FILE_NAMES["expr"], 6, 1, "8"), FILE_NAMES["expr"],
               [r"EXPR_Recognition_Challenge\.txt:6: expression '8' is not an integer 0\.\.7"]),
    "expr 8, per video": (3, lambda d: _set_field(d / "EXPR_Classification_Challenge" / "video59_right.txt",
                                                  3, 0, "8"), "video59_right.txt",
                          [r"EXPR_Classification_Challenge/video59_right\.txt:3: expression '8' is not an integer"]),
    "au 2": (5, lambda d: _set_field(d / FILE_NAMES["au"], 9, 3, "2"), FILE_NAMES["au"],
             [r"AU_Detection_Challenge\.txt:9: AU4 '2' is not 0 or 1"]),
    "au 2 in mtl": (5, lambda d: _set_field(d / FILE_NAMES["mtl"], 2, 14, "2"), FILE_NAMES["mtl"],
                    [r"MTL_Challenge\.txt:2: AU25 '2' is not 0 or 1"]),
    "missing frame line, per video": (3, lambda d: _delete_line(d / "VA_Estimation_Challenge" / "108.txt", 6),
                                      "108.txt", [r"108\.txt: 4 rows, expected 5 frames in video 108"]),
    "trailing comma": (5, lambda d: _edit_line(d / FILE_NAMES["va"], 2, lambda r: r + ","), FILE_NAMES["va"],
                       [r"VA_Estimation_Challenge\.txt:2: 4 fields, expected 3 \(trailing comma\?\)"]),
    "missing challenge file": (5, lambda d: (d / FILE_NAMES["expr"]).unlink(), FILE_NAMES["expr"],
                               [r"EXPR_Recognition_Challenge\.txt: missing EXPR submission file"]),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_check_names_each_problem(world, tmp_path, capsys, case):
    edition, damage, named, patterns = DAMAGE[case]
    sub = tmp_path / "sub"
    shutil.copytree(world["subs"][edition], sub)
    damage(sub)
    tasks = ["va", "expr", "au", "mtl"]
    problems = check_submission(sub, world["layout"], edition, tasks=tasks)
    assert problems, case
    assert all(named in line or "fails" in line for line in problems), problems
    for pattern in patterns:
        assert any(re.search(pattern, line) for line in problems), (pattern, problems)

    code = main(["--check", str(sub), "--data-root", str(world["root"]), "--edition", str(edition),
                 "--tasks", ",".join(tasks)])
    err = capsys.readouterr().err
    assert code == 1
    assert named in err


def test_check_reports_every_problem_not_only_the_first(world, tmp_path):
    sub = tmp_path / "sub"
    shutil.copytree(world["subs"][5], sub)
    _set_field(sub / FILE_NAMES["va"], 3, 1, "nan")
    _set_field(sub / FILE_NAMES["va"], 10, 2, "-1.2")
    _set_field(sub / FILE_NAMES["au"], 4, 12, "x")
    problems = check_submission(sub, world["layout"], 5)
    assert len(problems) == 3, problems


def test_many_problems_of_one_kind_are_capped_and_counted(world, tmp_path):
    sub = tmp_path / "sub"
    shutil.copytree(world["subs"][5], sub)
    _delete_line(sub / FILE_NAMES["expr"], 2)  # every later row is now out of place
    capped = check_submission(sub, world["layout"], 5, tasks=["expr"], max_per_kind=5)
    differs = [line for line in capped if "the list has" in line]
    assert len(differs) == 5
    assert any("and 29 more line(s) where the image location differs" in line for line in capped)
    every = check_submission(sub, world["layout"], 5, tasks=["expr"], max_per_kind=None)
    assert len([line for line in every if "the list has" in line]) == 34


def test_check_of_an_empty_directory(world, tmp_path):
    problems = check_submission(tmp_path, world["layout"], 5)
    assert len(problems) == 1 and "no submission files found" in problems[0]


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_exit_codes(world, tmp_path, capsys):
    root = ["--data-root", str(world["root"])]
    assert main(["--help"]) == 0
    assert "--thresholds" in capsys.readouterr().out
    assert main([]) == 2                                                            # no --data-root
    assert main(root + ["--edition", "5"]) == 2                                     # neither PRED_DIR nor --check
    assert main([str(world["pred"])] + root + ["--edition", "5"]) == 2              # no --out
    assert main(root + ["--edition", "5", "--check", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert main([str(world["pred"])] + root + ["--edition", "2", "--out", str(tmp_path / "x")]) == 2
    assert main([str(world["pred"])] + root + ["--edition", "5", "--out", str(tmp_path / "x"),
                                               "--tasks", "va,bogus"]) == 2
    capsys.readouterr()

    out = tmp_path / "sub"
    assert main([str(world["pred"])] + root + ["--edition", "8", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for task, name in FILE_NAMES.items():
        assert str(out / name) in printed
    assert "wrote" in printed and "25 rows" in printed and "checked" in printed
    assert main([str(world["pred"]), "--data-root", str(tmp_path / "nowhere"), "--edition", "5",
                 "--out", str(out)]) == 1
    assert main(["--check", str(out)] + root + ["--edition", "8"]) == 0
    assert main(["--check", str(out)] + root + ["--edition", "3"]) == 1  # a 5th+ submission is not a 3rd's
    assert "VA_Estimation_Challenge.txt, a single file (4th edition and later)" in capsys.readouterr().err


def test_cli_reports_a_failed_post_write_check(world, tmp_path, capsys, monkeypatch):
    import abaw.submit.cli as cli

    monkeypatch.setattr(cli, "check_submission", lambda *a, **k: ["VA_Estimation_Challenge.txt:2: broken"])
    code = main([str(world["pred"]), "--data-root", str(world["root"]), "--edition", "5",
                 "--out", str(tmp_path / "sub")])
    assert code == 1
    assert "VA_Estimation_Challenge.txt:2: broken" in capsys.readouterr().err
