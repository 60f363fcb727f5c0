"""Atomic writes (abaw/io.py): a write that fails midway leaves the previous file or folder whole."""

import os
import stat
from pathlib import Path

import pytest

from abaw.data.synthetic import generate
from abaw.data.synthetic.generate import INCOMPLETE, MANIFEST
from abaw.io import atomic_path, atomic_write, complete_folder, replace_folder, write_json


class Crash(Exception):
    pass


def test_a_write_that_raises_midway_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "metrics.csv"
    target.write_text("epoch,score\n1,0.5\n")
    with pytest.raises(Crash):
        with atomic_write(target, newline="") as f:
            f.write("epoch,score\n1,0.5\n2,")
            f.flush()  # the partial content is on disk, under the temporary name
            raise Crash
    assert target.read_text() == "epoch,score\n1,0.5\n"
    assert os.listdir(tmp_path) == ["metrics.csv"]


def test_a_finished_write_replaces_the_file_with_the_mode_of_a_plainly_written_one(tmp_path):
    target = tmp_path / "sub" / "scores.json"
    write_json(target, {"score": 1.5})
    assert target.read_text() == '{\n  "score": 1.5\n}\n'
    write_json(target, {"score": 2.0})
    assert target.read_text() == '{\n  "score": 2.0\n}\n'
    plain = tmp_path / "plain"
    plain.write_text("")
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert sorted(os.listdir(target.parent)) == ["scores.json"]


def test_atomic_path_for_writers_that_take_a_file_name(tmp_path):
    target = tmp_path / "model.bin"
    target.write_bytes(b"old")
    with pytest.raises(Crash):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise Crash
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.bin"]
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".model.bin.")
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["model.bin"]


def folder(path: Path, content: str) -> Path:
    path.mkdir()
    (path / "state.json").write_text(content)
    return path


def test_replace_folder_keeps_a_complete_folder_at_every_moment(tmp_path, monkeypatch):
    last = folder(tmp_path / "last", "epoch 1")
    replace_folder(folder(tmp_path / "last.partial", "epoch 2"), last)
    assert (last / "state.json").read_text() == "epoch 2"
    assert sorted(os.listdir(tmp_path)) == ["last"]

    # A crash between the two renames: the previous folder was moved aside, the new one not yet in place.
    real_rename = Path.rename

    def crash_on_the_second_rename(self, target):
        if self.name == "last.partial":
            raise Crash
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", crash_on_the_second_rename)
    with pytest.raises(Crash):
        replace_folder(folder(tmp_path / "last.partial", "epoch 3"), last)
    monkeypatch.undo()
    assert not last.exists()
    found = complete_folder(last)
    assert found == tmp_path / "last.old" and (found / "state.json").read_text() == "epoch 2"

    # The next save (here, the retried one) puts a new folder in place and only then drops the old one.
    replace_folder(tmp_path / "last.partial", last)
    assert (last / "state.json").read_text() == "epoch 3"
    assert sorted(os.listdir(tmp_path)) == ["last"]
    assert complete_folder(tmp_path / "absent") is None


def test_abaw_synth_marks_an_interrupted_folder_so_overwrite_can_replace_it(tmp_path):
    out = tmp_path / "synth"
    out.mkdir()
    (out / INCOMPLETE).touch()  # what a killed abaw-synth leaves, with some of its files
    (out / "batch1").mkdir()
    with pytest.raises(FileExistsError, match="interrupted abaw-synth run"):
        generate(out, videos=6, seconds=0.5, progress=False, workers=1)
    generate(out, videos=6, seconds=0.5, progress=False, workers=1, overwrite=True)
    assert (out / MANIFEST).is_file() and not (out / INCOMPLETE).exists()
