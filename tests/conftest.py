import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/trees.py, shared by the test files


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """A tiny synthetic Aff-Wild2 (6 videos of 4 s), written once for the whole test session."""
    from abaw.data.synthetic import generate

    return generate(tmp_path_factory.mktemp("synth") / "affwild2", seed=0, videos=6, seconds=4.0)
