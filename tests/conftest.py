"""Shared pytest fixtures: the repository root on sys.path and the real HumanML3D sample.

The sample (eight real HumanML3D motions in the official layout) lives outside the repository, in
../shared/data/humanml3d_sample, under its research licence; it is read at test time and never copied.
Set HUMANML3D_SAMPLE to point elsewhere.
"""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def hml3d_sample() -> Path:
    path = Path(os.environ.get("HUMANML3D_SAMPLE", ROOT.parent / "shared" / "data" / "humanml3d_sample"))
    if not (path / "new_joint_vecs").is_dir():
        pytest.skip(f"HumanML3D sample not found at {path} (set HUMANML3D_SAMPLE)")
    return path
