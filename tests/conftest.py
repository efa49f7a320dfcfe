"""Shared by the tests: the repository root on sys.path, the real HumanML3D sample (a fixture), and the way the
scripts are run (ENV, TINY, DATA, run).

The sample (eight real HumanML3D motions in the official layout) lives outside the repository, in
../shared/data/humanml3d_sample, under its research licence; it is read at test time and never copied.
Set HUMANML3D_SAMPLE to point elsewhere.
"""
import os
import subprocess
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


# ----------------------------------------------------------------------------------------------------------------
# Running the scripts as a user does: subprocesses, offline, one thread, tiny sizes
# ----------------------------------------------------------------------------------------------------------------
ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
TINY = ["--base_dim=8", "--dim_mults=1,1,1,1", "--time_dim=16", "--text_latent_dim=16", "--text_layers=1",
        "--num_heads=2"]                                  # the smallest U-Net train.py builds; tests add their budget
DATA = ["--data_root=synth", "--num_motions=24"]         # 24 embedded motions (+ mirrors) built in the test's folder


def run(*args, cwd, check: bool = True, timeout: float = 600, nproc: int = 1) -> subprocess.CompletedProcess:
    """Run `python <args>` (a script path, or "-m", "lab.x", ...) in `cwd` with ENV; nproc > 1 under torchrun
    (--standalone). Returns the finished process (stdout, stderr as text); with check, a failure raises
    AssertionError carrying both streams."""
    launcher = [sys.executable] if nproc == 1 else \
        [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--standalone"]
    proc = subprocess.run([*launcher, *map(str, args)], cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc
