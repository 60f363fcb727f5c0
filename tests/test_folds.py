"""Subject-independent folds: no subject in two parts of a fold, every subject tested in exactly one fold, the
same seed the same file; and the reader's checks FAIL, naming the file and line, on a fold file that breaks them
(a subject moved into a second part, among others)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from abaw.datasets.folds import PARTS, FoldFileError, make_folds, parse_fold_count, read_folds, write_folds

SUBJECTS = tuple(f"{k:06d}_{'mw'[k % 2]}_{20 + k}" for k in range(11))


def check_protocol(folds, subjects) -> None:
    """The protocol, checked here from the parts themselves (independently of the reader's checks)."""
    tested = [s for fold in folds.parts for s in fold["test"]]
    assert sorted(tested) == sorted(subjects)  # each subject in the test part of exactly one fold
    for fold in folds.parts:
        everyone = [s for part in PARTS for s in fold[part]]
        assert len(everyone) == len(set(everyone))  # no subject in two parts
        assert set(everyone) == set(subjects)
        assert all(fold[part] for part in PARTS)


@pytest.mark.parametrize("count", [2, 3, 5, "loso"])
def test_folds_keep_every_subject_in_one_part_and_test_each_once(count):
    folds = make_folds(SUBJECTS, count, seed=1)
    check_protocol(folds, SUBJECTS)
    assert len(folds) == (len(SUBJECTS) if count == "loso" else count)
    sizes = [len(fold["test"]) for fold in folds.parts]
    assert max(sizes) - min(sizes) <= 1
    for fold in folds.parts:  # the validation part: a fifth of the training subjects, at least one
        assert len(fold["val"]) == max(1, round(0.2 * (len(SUBJECTS) - len(fold["test"]))))


def test_leave_one_subject_out_has_one_fold_per_subject():
    folds = make_folds(SUBJECTS, "loso", seed=0)
    assert [fold["test"] for fold in folds.parts] == [(s,) for s in sorted(SUBJECTS)]


def test_the_same_seed_writes_the_same_file_and_another_seed_another(tmp_path):
    paths = []
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        paths.append(tmp_path / f"{name}.csv")
        write_folds(paths[-1], make_folds(SUBJECTS, 3, seed=seed))
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()
    lines = paths[0].read_text().splitlines()
    assert lines[0] == "fold,part,subject"
    assert len(lines) == 1 + 3 * len(SUBJECTS)
    read = read_folds(paths[0], SUBJECTS)
    assert read.parts == make_folds(SUBJECTS, 3, seed=4).parts
    check_protocol(read, SUBJECTS)


def written(tmp_path: Path, count=3) -> tuple[Path, list[str]]:
    path = tmp_path / "folds.csv"
    write_folds(path, make_folds(SUBJECTS, count, seed=2))
    return path, path.read_text().splitlines()


def test_a_subject_moved_into_two_parts_of_a_fold_fails_naming_the_line(tmp_path):
    path, lines = written(tmp_path)
    train = next(n for n, line in enumerate(lines) if line.startswith("0,train,"))
    subject = lines[train].split(",")[2]
    test = next(n for n, line in enumerate(lines) if line.startswith("0,test,"))
    lines.insert(test + 1, f"0,test,{subject}")  # now also in fold 0's test part
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FoldFileError, match=rf"{path}:{test + 2}: subject {subject} is in fold 0's test part and "
                                            rf"already in its train part \(line {train + 1}\)"):
        read_folds(path)


def test_a_subject_moved_from_train_to_val_duplicates_it_and_fails(tmp_path):
    path, lines = written(tmp_path)
    val = next(n for n, line in enumerate(lines) if line.startswith("1,val,"))
    subject = lines[val].split(",")[2]
    lines.append(f"1,train,{subject}")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FoldFileError, match=rf"{path}:{len(lines)}: subject {subject} is in fold 1's train part"):
        read_folds(path)


def edit(tmp_path, change) -> Path:
    path, lines = written(tmp_path)
    path.write_text("\n".join(change(lines)) + "\n")
    return path


@pytest.mark.parametrize("change, message", [
    (lambda lines: ["fold,split,subject", *lines[1:]], ":1: the header must be fold,part,subject"),
    (lambda lines: [*lines, "0,dev,someone"], r":\d+: part 'dev' is not one of train, val, test"),
    (lambda lines: [*lines, "x,train,someone"], r":\d+: fold 'x' is not a count from 0"),
    (lambda lines: [*lines, "0,train"], r":\d+: 2 fields, expected 3"),
    (lambda lines: [line for line in lines if not line.startswith("2,test,")],
     r": fold 2 has no test part"),
    (lambda lines: [line for line in lines if not line.startswith("1,val,")], ": fold 1 has no val part"),
    (lambda lines: [line.replace("2,", "3,", 1) if line.startswith("2,") else line for line in lines],
     r": folds \[0, 1, 3\]: number them 0..2"),
])
def test_a_broken_fold_file_is_a_named_error(tmp_path, change, message):
    path = edit(tmp_path, change)
    with pytest.raises(FoldFileError, match=f"{path}{message}"):
        read_folds(path)


def test_a_subject_tested_twice_or_never_is_an_error(tmp_path):
    path, lines = written(tmp_path)
    first_test = next(n for n, line in enumerate(lines) if line.startswith("0,test,"))
    subject = lines[first_test].split(",")[2]
    # in fold 1 it trains; make it a test subject there too
    lines = [f"1,test,{subject}" if line == f"1,train,{subject}" else line for line in lines]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FoldFileError, match=rf"subject {subject} is in a second test part \(fold 1; the first on "
                                            rf"line {first_test + 1}\)"):
        read_folds(path)
    lines = [line for line in written(tmp_path)[1] if line != f"0,test,{subject}"] + [f"0,val,{subject}"]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FoldFileError, match=f"subject\\(s\\) {subject} are in no fold's test part"):
        read_folds(path)


def test_subjects_against_the_data_root(tmp_path, caplog):
    path, _ = written(tmp_path)
    with pytest.raises(FoldFileError, match=rf"{path}:\d+: subject\(s\) {SUBJECTS[-1]} are not in the data root"):
        read_folds(path, SUBJECTS[:-1])
    with caplog.at_level(logging.WARNING):
        read_folds(path, (*SUBJECTS, "left_out_1"))
    assert "leaves out 1 subject(s) of the data root (left_out_1)" in caplog.text


def test_bad_requests_are_refused():
    with pytest.raises(ValueError, match="integer in 2..3"):
        make_folds(SUBJECTS[:3], 4)
    with pytest.raises(ValueError, match="a fold needs one in train, val and test"):
        make_folds(SUBJECTS[:2], "loso")
    with pytest.raises(ValueError, match="leaves 1 subject"):
        make_folds(SUBJECTS[:3], 2)
    assert parse_fold_count("LOSO") == "loso" and parse_fold_count("7") == 7
    for text in ("1", "-3", "five"):
        with pytest.raises(ValueError, match="--folds must be"):
            parse_fold_count(text)
