"""The BioVid reader: a tree written here, independently of the reader, as Part A is unpacked (samples.csv, video/,
biosignals_filtered/, biosignals_raw/), read back sample by sample; ``abaw-data`` on it, its manifest row by row;
and the named errors and counted fallbacks of missing, short and unreadable files."""

from __future__ import annotations

import csv
import logging
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from abaw.config import DataConfig
from abaw.data.layout import LayoutError
from abaw.datasets import dataset_for, open_dataset
from abaw.datasets.biovid import build_manifest, discover, person, sample_video
from abaw.datasets.biovid_files import BioVidFileError, read_biosignals, read_samples
from abaw.datasets.cli import main as data_main
from abaw.datasets.folds import FoldFileError, make_folds, write_folds

SUBJECTS = ("071309_w_21", "071614_m_20", "072414_m_23", "080309_m_29")
CLASS_NAMES = ("BL1", "PA1", "PA2", "PA3", "PA4")
RATE = 512  # Hz, BioVid's biosignal rate
ROWS = 2816  # 5.5 s at 512 Hz
FPS = {SUBJECTS[0]: 25}  # frames per second of each subject's videos (default 10): the reader must read them
FRAMES = {25: 138, 10: 55}  # a 5.5 s sample (138 frames at 25 fps, as public code counts)
CROPPED = "071614_m_20-PA2-001"  # the one sample given face crops, of its frames 1..4


def sample_names() -> list[tuple[str, str, int, str]]:
    """(subject, class name, class id, sample name) of every sample: one per class and subject, and a second
    BL1 sample of the first subject."""
    rows = [(s, c, k, f"{s}-{c}-001") for s in SUBJECTS for k, c in enumerate(CLASS_NAMES)]
    return rows + [(SUBJECTS[0], "BL1", 0, f"{SUBJECTS[0]}-BL1-002")]


def signal_values(k: np.ndarray, pain: int) -> dict[str, np.ndarray]:
    """The value of each channel at rows ``k``: gsr a ramp above the pain level, ecg a 1.2 Hz sine, emg 0.25."""
    t = k / RATE
    return {"gsr": pain + 0.001 * k, "ecg": np.sin(2 * np.pi * 1.2 * t), "emg_trapezius": np.full(len(k), 0.25)}


def write_biosignals(path: Path, pain: int, rows: int = ROWS, columns=("time", "gsr", "ecg", "emg_trapezius"),
                     time_scale: float = 1e6) -> None:
    """A TAB-separated biosignal file; time in microseconds by default (whole microseconds, as BioVid's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    k = np.arange(rows)
    values = {**signal_values(k, pain), "time": np.round(k / RATE * 1e6) / 1e6 * time_scale, "extra": np.zeros(rows)}
    lines = ["\t".join(columns)] + ["\t".join(f"{values[c][i]:.6f}" for c in columns) for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")


def write_video(path: Path, fps: int, frames: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        for k in range(frames):
            image = np.full((16, 16, 3), (k * 4) % 256, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))


def write_biovid_tree(root: Path) -> Path:
    lines = ["subject_id\tsubject_name\tclass_id\tclass_name\tsample_id\tsample_name"]
    for number, (subject, class_name, class_id, name) in enumerate(sample_names()):
        lines.append(f"{SUBJECTS.index(subject)}\t{subject}\t{class_id}\t{class_name}\t{number}\t{name}")
        fps = FPS.get(subject, 10)
        write_video(root / "video" / subject / f"{name}.mp4", fps, FRAMES[fps])
        write_biosignals(root / "biosignals_filtered" / subject / f"{name}_bio.csv", class_id)
        write_biosignals(root / "biosignals_raw" / subject / f"{name}_bio.csv", class_id + 100)
    (root / "samples.csv").write_text("\n".join(lines) + "\n")
    for frame in range(1, 5):
        folder = root / "cropped_aligned" / CROPPED
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (frame, 0, 0)).save(folder / f"{frame:05d}.jpg")
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return write_biovid_tree(tmp_path_factory.mktemp("biovid") / "PartA")


def copy_tree(tree: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tree, tmp_path / "PartA"))


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, [dict(zip(header, row)) for row in reader]


def test_each_sample_is_read_with_its_subject_class_channels_rate_and_window(tree):
    assert dataset_for(tree).name == "biovid"
    layout = discover(tree)
    assert list(layout.samples) == [name for *_, name in sample_names()]
    for subject, class_name, class_id, name in sample_names():
        sample = layout.samples[name]
        assert (sample.subject, sample.class_name, sample.pain) == (subject, class_name, class_id)
        assert person(name) == subject
    assert layout.subjects == tuple(sorted(SUBJECTS))
    assert layout.physio_channels == ("gsr", "ecg", "emg_trapezius")
    name = f"{SUBJECTS[1]}-PA3-001"
    signals, rate = layout.read_physio(layout.stream_file("physio", name))
    assert signals.dtype == np.float32 and signals.shape == (3, ROWS)
    assert rate == pytest.approx(RATE, rel=1e-5)
    assert signals.shape[1] / rate == pytest.approx(5.5, abs=1e-3)
    expected = signal_values(np.arange(ROWS), 3)
    for row, channel in enumerate(layout.physio_channels):
        np.testing.assert_allclose(signals[row], expected[channel], atol=1e-5)
    assert layout.stream_file("faces", CROPPED) == tree / "cropped_aligned" / CROPPED
    assert layout.stream_file("faces", name) is None
    for subject in SUBJECTS:  # frame count and rate from the file
        fps = FPS.get(subject, 10)
        assert sample_video(layout, f"{subject}-PA4-001") == (FRAMES[fps], pytest.approx(fps))
    raw = discover(tree, variant="raw")
    np.testing.assert_allclose(raw.read_physio(raw.stream_file("physio", name))[0][0], 103 + 0.001 * np.arange(ROWS),
                               atol=1e-4)


def test_channels_are_found_by_header_and_the_time_unit_by_the_span(tmp_path):
    path = tmp_path / "x_bio.csv"
    expected = signal_values(np.arange(ROWS), 2)
    for scale in (1e6, 1e3, 1.0):  # microseconds (BioVid), milliseconds, seconds
        write_biosignals(path, 2, columns=("emg_trapezius", "extra", "ecg", "time", "gsr"), time_scale=scale)
        found = read_biosignals(path)
        assert found.channels == ("gsr", "ecg", "emg_trapezius")
        assert found.time_unit == {1e6: "us", 1e3: "ms", 1.0: "s"}[scale]
        assert found.rate == pytest.approx(RATE, rel=1e-5)
        np.testing.assert_allclose(found.signals[1], expected["ecg"], atol=1e-5)
    write_biosignals(path, 2, time_scale=1e3)
    assert read_biosignals(path, time_unit="ms").rate == pytest.approx(RATE, rel=1e-3)
    with pytest.raises(BioVidFileError, match="short"):  # the unit is named, so ms read as s is short
        read_biosignals(path, time_unit="us")
    assert read_biosignals(path, channels=("ecg",)).signals.shape == (1, ROWS)


def test_bad_biosignal_files_are_named_errors(tmp_path):
    missing = tmp_path / "missing_bio.csv"
    with pytest.raises(BioVidFileError, match=f"{missing}: no such file"):
        read_biosignals(missing)
    short = tmp_path / "short_bio.csv"
    write_biosignals(short, 0, rows=ROWS // 2)
    with pytest.raises(BioVidFileError, match=f"{short}: short: 1408 rows at 512 Hz cover 2.750 s"):
        read_biosignals(short)
    garbled = tmp_path / "garbled_bio.csv"
    write_biosignals(garbled, 0)
    lines = garbled.read_text().splitlines()
    lines[9] = lines[9].replace("\t", "\tx", 1)
    garbled.write_text("\n".join(lines))
    with pytest.raises(BioVidFileError, match=f"{garbled}:10: a value that is not a number"):
        read_biosignals(garbled)
    binary = tmp_path / "binary_bio.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(BioVidFileError, match=f"{binary}: not a text file"):
        read_biosignals(binary)
    no_time = tmp_path / "notime_bio.csv"
    write_biosignals(no_time, 0, columns=("gsr", "ecg"))
    with pytest.raises(BioVidFileError, match=f"{no_time}:1: the header .* lacks time"):
        read_biosignals(no_time)
    backwards = tmp_path / "back_bio.csv"
    write_biosignals(backwards, 0)
    lines = backwards.read_text().splitlines()
    lines[5], lines[6] = lines[6], lines[5]
    backwards.write_text("\n".join(lines))
    with pytest.raises(BioVidFileError, match=f"{backwards}:7: time .* does not follow"):
        read_biosignals(backwards)


@pytest.mark.parametrize("row, message", [
    ("0\t071309_w_21\t0\tBL9\t0\tx-BL9-001", "class_name 'BL9' is not one of"),
    ("0\t071309_w_21\t3\tBL1\t0\tx-BL1-001", r"class_id 3 \(PA3\) disagrees with class_name BL1"),
    ("0\t071309_w_21\t0\tBL1", "4 TAB-separated fields, the header has 6"),
    ("0,071309_w_21,0,BL1,0,x-BL1-001", "1 TAB-separated fields"),
])
def test_a_bad_samples_row_names_the_file_and_line(tmp_path, row, message):
    path = tmp_path / "samples.csv"
    path.write_text("subject_id\tsubject_name\tclass_id\tclass_name\tsample_id\tsample_name\n"
                    "0\t071309_w_21\t0\tBL1\t0\t071309_w_21-BL1-001\n" + row + "\n")
    with pytest.raises(BioVidFileError, match=f"{path}:3: {message}"):
        read_samples(path)


def test_a_sample_listed_twice_or_a_header_without_names_is_an_error(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text("subject_name\tclass_name\tsample_name\ns\tBL1\ts-BL1-1\ns\tPA4\ts-BL1-1\n")
    with pytest.raises(BioVidFileError, match=rf"{path}:3: sample s-BL1-1 is listed twice \(first on line 2\)"):
        read_samples(path)
    path.write_text("subject\tclass_name\tsample_name\ns\tBL1\ts-BL1-1\n")
    with pytest.raises(BioVidFileError, match=f"{path}:1: the header .* lacks subject_name"):
        read_samples(path)
    path.write_text("subject_name\tclass_id\tsample_name\ns\t4\ts-PA4-1\n")  # class_id alone is enough
    assert read_samples(path)[0].class_name == "PA4"


def test_abaw_data_lists_every_sample_and_writes_its_frames_row_by_row(tree, tmp_path, capsys):
    out = tmp_path / "frames.csv"
    assert data_main(["--data-root", str(tree), "--splits", "all", "--manifest", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "dataset: biovid (detected)" in printed
    assert "samples.csv: 21 samples of 4 subjects (BL1 5, PA1 4, PA2 4, PA3 4, PA4 4)" in printed
    assert "all: 21 videos, 4 people" in printed
    header, rows = read_csv(out)
    assert header == ["dataset", "split", "video", "frame", "time", "pain", "face", "subject"]
    expected = []
    for subject, _, class_id, name in sample_names():
        fps = FPS.get(subject, 10)
        for frame in range(1, FRAMES[fps] + 1):
            crop = tree / "cropped_aligned" / name / f"{frame:05d}.jpg"
            expected.append({"dataset": "biovid", "split": "all", "video": name, "frame": str(frame),
                             "time": (frame - 1) / fps, "pain": str(class_id),
                             "face": str(crop) if crop.is_file() else "", "subject": subject})
    assert len(rows) == len(expected) and f"wrote {len(rows)} frames" in printed
    for row, want in zip(rows, expected):
        assert float(row.pop("time")) == pytest.approx(want.pop("time"), abs=1e-6)
        assert row == want
    assert sum(1 for row in rows if row["face"]) == 4


def test_without_a_fold_file_the_splits_say_how_to_write_one(tree, capsys):
    assert data_main(["--data-root", str(tree)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("not found: BioVid") == 3
    assert "abaw-data --data-root" in printed and "--folds 5 --out FOLDS.csv" in printed
    with pytest.raises(LayoutError, match="data.folds=FOLDS.csv"):
        build_manifest(discover(tree), "train")


def test_a_fold_file_gives_the_splits_and_keeps_subjects_apart(tree, tmp_path, capsys):
    folds = tmp_path / "folds.csv"
    assert data_main(["--data-root", str(tree), "--folds", "2", "--seed", "3", "--val-fraction", "0.5",
                      "--out", str(folds)]) == 0
    assert f"wrote 2 folds of 4 subjects (8 rows, seed 3) to {folds}" in capsys.readouterr().out
    parts = {}
    for row in read_csv(folds)[1]:
        parts.setdefault(int(row["fold"]), {}).setdefault(row["part"], set()).add(row["subject"])
    for fold in (0, 1):
        out = tmp_path / f"fold{fold}.csv"
        assert data_main(["--data-root", str(tree), "--fold-file", str(folds), "--fold", str(fold),
                          "--manifest", str(out)]) == 0
        subjects_of = {}
        for row in read_csv(out)[1]:
            assert row["subject"] == person(row["video"])
            subjects_of.setdefault(row["split"], set()).add(row["subject"])
        assert subjects_of == parts[fold]
    config = DataConfig(root=str(tree), folds=str(folds), fold=1)
    kind, layout = open_dataset(tree, options=config)
    manifest = kind.build_manifest(layout, "test", kind.tasks, "last")
    assert set(manifest.frames["subject"]) == parts[1]["test"]
    assert set(manifest.videos["pain"]) == {0, 1, 2, 3, 4}


def test_a_fold_file_of_other_subjects_or_an_absent_fold_is_an_error(tree, tmp_path):
    folds = tmp_path / "folds.csv"
    folds.write_text("fold,part,subject\n0,train,a\n0,val,b\n0,test,c\n"
                     "1,train,b\n1,val,c\n1,test,a\n2,train,c\n2,val,a\n2,test,b\n")
    with pytest.raises(FoldFileError, match=rf"{folds}:2: subject\(s\) a, b, c are not in the data root"):
        discover(tree, folds=str(folds))
    write_folds(folds, make_folds(SUBJECTS, 2))
    with pytest.raises(FoldFileError, match=r"fold 2 does not exist: the folds of .* are numbered 0..1"):
        discover(tree, folds=str(folds), fold=2)


def test_a_sample_whose_video_is_missing_short_or_unreadable_is_left_out_and_counted(tree, tmp_path, caplog):
    root = copy_tree(tree, tmp_path)
    names = [name for *_, name in sample_names()]
    (root / "video" / SUBJECTS[1] / f"{names[5]}.mp4").unlink()
    write_video(root / "video" / SUBJECTS[1] / f"{names[6]}.mp4", 10, 30)  # 3 s of a 5.5 s sample
    (root / "video" / SUBJECTS[1] / f"{names[7]}.mp4").write_bytes(b"not a video")
    layout = discover(root)
    with caplog.at_level(logging.WARNING):
        manifest = build_manifest(layout, "all")
    assert list(manifest.videos.index) == [n for n in names if n not in names[5:8]]
    assert "3 of 21 samples left out" in caplog.text
    assert f"{names[5]} (no video file" in caplog.text
    assert f"{names[6]} (" in caplog.text and "short: 30 frames at 10 fps" in caplog.text
    assert f"{names[7]} (" in caplog.text and "cannot open the video file" in caplog.text
    assert "video: 20 of 21 (missing: " + names[5] in layout.describe()


def test_abaw_data_reports_a_bad_samples_row_in_one_line(tree, tmp_path, capsys):
    root = copy_tree(tree, tmp_path)
    table = root / "samples.csv"
    lines = table.read_text().splitlines()
    lines[4] = lines[4].replace("\tPA3\t", "\tPA7\t")
    table.write_text("\n".join(lines) + "\n")
    assert data_main(["--data-root", str(root)]) == 1
    error = capsys.readouterr().err.strip()
    assert error == f"abaw-data: {table}:5: class_name 'PA7' is not one of BL1, PA1, PA2, PA3, PA4"


def test_folds_are_for_datasets_split_by_subject(tree, tmp_path, capsys):
    from recola_trees import write_recola_tree

    recola = write_recola_tree(tmp_path / "recola")
    assert data_main(["--data-root", str(recola), "--folds", "3", "--out", str(tmp_path / "f.csv")]) == 1
    assert "recola has fixed splits" in capsys.readouterr().err
    with pytest.raises(LayoutError, match="data.folds is read by the biovid dataset"):
        open_dataset(recola, options=DataConfig(folds="f.csv"))
    with pytest.raises(SystemExit):
        data_main(["--data-root", str(tree), "--folds", "3"])  # --folds without --out: a usage error
