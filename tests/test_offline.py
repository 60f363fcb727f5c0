"""No command reaches the network unless the user asks for pretrained weights (``model.pretrained``, off by
default): a tiny training, prediction and scoring run with every internet socket and name lookup refused."""

import importlib.util
import socket
from pathlib import Path

import pytest

from abaw.config import load_config
from abaw.evaluate import main as eval_main
from abaw.models import build_model
from abaw.models.factory import ModelConfig
from abaw.predict import main as predict_main

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "recipes" / "configs" / "tiny.yaml"


@pytest.fixture
def attempts(monkeypatch):
    """Records, and refuses, every connection to a network address and every name lookup but localhost's.
    Local (AF_UNIX) sockets stay allowed: worker processes talk through them."""
    tried = []
    connect, lookup = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            tried.append(address)
            raise OSError(f"network access refused by the test: {address}")
        return connect(self, address)

    def guarded_lookup(host, *args, **kwargs):
        if host not in ("localhost", "127.0.0.1", "::1", None):
            tried.append(host)
            raise socket.gaierror(f"name lookup refused by the test: {host}")
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_lookup)
    return tried


def test_the_guard_sees_an_attempt(attempts):
    with pytest.raises(OSError):
        socket.create_connection(("example.com", 80), timeout=1)
    assert attempts == ["example.com"]


def test_train_predict_and_score_without_the_network(synth_root, tmp_path, attempts):
    spec = importlib.util.spec_from_file_location("mtl_teacher", ROOT / "recipes" / "mtl_teacher.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    run, pred = tmp_path / "run", tmp_path / "pred"
    assert recipe.main(["--config", str(TINY), f"data.root={synth_root}", f"data.cache_dir={tmp_path / 'cache'}",
                        f"train.out_dir={run}", "train.epochs=1", "data.train_clips=16"]) == 0
    assert predict_main([str(run), "--data-root", str(synth_root), "--split", "val", "--out", str(pred),
                         "--num-workers", "0"]) == 0
    assert eval_main([str(pred), "--data-root", str(synth_root), "--plots", str(tmp_path / "plots")]) == 0
    assert attempts == []


def test_no_shipped_config_asks_for_pretrained_weights_and_the_default_model_builds_offline(attempts):
    for path in sorted((ROOT / "recipes" / "configs").glob("*.yaml")):
        assert load_config(path).model.pretrained is False, path.name
    build_model(ModelConfig())  # the paper's SE-ResNeXt-50, with timm's default arguments otherwise
    assert attempts == []
