"""Smoke runs of the scripts as a user runs them (subprocesses, tiny budgets, CPU).

Covers: train.py on the embedded dataset and on the real HumanML3D sample, resume after a kill, torchrun with two
CPU processes, sample.py writing features / joints / animations, and sample.py's input errors.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--base_dim=8", "--dim_mults=1,1,1,1", "--time_dim=16", "--text_latent_dim=16", "--text_layers=1",
        "--num_heads=2", "--batch_size=4", "--log_every=1"]
ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")


def run(*args, cwd, check=True, timeout=300):
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A work directory with a tiny embedded dataset (built by train.py itself) and a trained tiny checkpoint."""
    work = tmp_path_factory.mktemp("work")
    proc = run(ROOT / "train.py", "--data_root=synth", "--num_motions=24", "--steps=6", "--save_every=3",
               "--out_dir=run", *TINY, cwd=work)
    return work, proc


def test_train_default_dataset_builds_and_checkpoints(work):
    work, proc = work
    assert (work / "synth" / "meta.json").is_file(), "train.py should build the embedded dataset on first use"
    ckpt = torch.load(work / "run" / "ckpt.pt", map_location="cpu", weights_only=True)
    assert ckpt["step"] == 6
    assert {"model", "ema", "optimizer", "config", "model_args", "mean", "std", "rng"} <= set(ckpt)
    assert ckpt["config"]["dataset"] == "synthetic"
    # the log reports loss, lr, ms/step and samples/s, and the loss is a finite number
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("step")]
    assert len(lines) == 6 and all("ms/step" in ln and "samples/s" in ln and "lr" in ln for ln in lines)
    assert np.isfinite(float(lines[-1].split("loss")[1].split("|")[0]))
    assert (work / "run" / "config.json").is_file()


def test_sample_writes_features_joints_and_animation(work):
    work, _ = work
    proc = run(ROOT / "sample.py", "--ckpt=run/ckpt.pt", "--text", "a person jumps in place", "--length=50",
               "--num_samples=2", "--steps=3", "--out_dir=samples", "--precision=bf16", cwd=work)
    feats = sorted((work / "samples").glob("00_*_[01].npy"))
    assert len(feats) == 2, proc.stdout
    x = np.load(feats[0])
    joints = np.load(str(feats[0]).replace(".npy", "_joints.npy"))
    assert x.shape == (50, 263) and joints.shape == (50, 22, 3) and np.isfinite(joints).all()
    assert list((work / "samples").glob("00_*_0.gif")) or list((work / "samples").glob("00_*_0.mp4"))
    assert list((work / "samples").glob("00_*_0.png"))


def test_sampling_reads_the_cached_rounding(work):
    """sample.py conditions on the states training read: Generator.encode_text equals the training cache's rows to
    one float16 ulp (+1e-6: float32 encoder noise from the batch composition), most of them exactly."""
    import moclip
    import sample
    work, _ = work
    gen = sample.load_generator(work / "run" / "ckpt.pt")
    assert gen.precision == "fp32"                          # on the CPU, whatever the run trained with
    cache = moclip.TextFeatureCache.load(next((work / "cache").glob("text_features_*.pt")))
    captions = list(cache.index)[:5]
    cached, cached_mask = cache.get(captions)
    live, live_mask = gen.encode_text(captions)
    assert torch.equal(cached_mask, live_mask)
    assert ((cached - live).abs() <= torch.maximum(cached.abs(), live.abs()) * 2.0 ** -10 + 1e-6).all()
    assert (cached == live).float().mean() > 0.95
    gen.precision = "fp16"
    with pytest.raises(ValueError, match="precision must be one of"):
        gen.generate(captions[:1], [40], steps=1)


def test_sample_input_errors(work):
    work, _ = work
    (work / "prompts.txt").write_text("a person walks#60\n   #80\n")
    proc = run(ROOT / "sample.py", "--ckpt=run/ckpt.pt", "--text_file=prompts.txt", "--no_render", cwd=work,
               check=False)
    assert proc.returncode != 0 and "prompts.txt:2: empty prompt" in proc.stderr
    proc = run(ROOT / "sample.py", "--ckpt=run/ckpt.pt", "--text", "a person walks", "--length=500", cwd=work,
               check=False)
    assert proc.returncode != 0 and "outside [40, 196]" in proc.stderr
    proc = run(ROOT / "sample.py", "--ckpt=run/ckpt.pt", "--text", "a person walks", "--length=6", cwd=work,
               check=False)
    assert proc.returncode != 0 and "6s" in proc.stderr  # the hint for seconds


def test_train_rejects_unknown_option(tmp_path):
    proc = run(ROOT / "train.py", "--no_such_key=1", cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "unknown option --no_such_key" in proc.stderr


def test_resume_after_kill(work):
    work, _ = work
    cmd = [sys.executable, str(ROOT / "train.py"), "--data_root=synth", "--steps=100000", "--save_every=2",
           "--out_dir=killed", *TINY]
    proc = subprocess.Popen(cmd, cwd=work, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ckpt_path = work / "killed" / "ckpt.pt"
    deadline = time.time() + 240
    step = 0
    while time.time() < deadline and step < 4:
        time.sleep(0.5)
        if ckpt_path.exists():
            try:
                step = torch.load(ckpt_path, map_location="cpu", weights_only=True)["step"]
            except Exception:  # noqa: BLE001 - being replaced right now; the rename makes this rare
                pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert step >= 4, "no checkpoint appeared before the deadline"
    saved = torch.load(ckpt_path, map_location="cpu", weights_only=True)["step"]
    out = run(ROOT / "train.py", "--data_root=synth", f"--steps={saved + 2}", "--save_every=2", "--out_dir=killed",
              "--resume", *TINY, cwd=work)
    assert f"resumed from killed/ckpt.pt at step {saved}" in out.stdout
    assert torch.load(ckpt_path, map_location="cpu", weights_only=True)["step"] == saved + 2
    assert not list((work / "killed").glob("*.tmp")), "atomic save leaves no temp file behind"


def test_torchrun_two_cpu_processes(work):
    work, _ = work
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
                           str(ROOT / "train.py"), "--data_root=synth", "--steps=3", "--out_dir=ddp", *TINY],
                          cwd=work, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 process(es)" in proc.stdout
    assert torch.load(work / "ddp" / "ckpt.pt", map_location="cpu", weights_only=True)["step"] == 3


def test_train_and_sample_on_real_humanml3d_sample(hml3d_sample, tmp_path):
    proc = run(ROOT / "train.py", "--dataset=humanml3d", f"--data_root={hml3d_sample}", "--steps=2",
               "--text_encoder=", "--num_workers=0", "--out_dir=real", *TINY, cwd=tmp_path)
    # the loader says which motions it skipped and why (only two of the eight sample motions have texts)
    assert "skipped" in proc.stderr and "missing text" in proc.stderr
    assert (tmp_path / "real" / "ckpt.pt").is_file()
    run(ROOT / "sample.py", "--ckpt=real/ckpt.pt", "--text", "a man kicks with his left leg", "--length=3s",
        "--steps=2", "--no_render", cwd=tmp_path)
    feats = [f for f in (tmp_path / "real" / "samples").glob("*.npy") if not f.name.endswith("_joints.npy")]
    assert len(feats) == 1 and np.load(feats[0]).shape == (60, 263)


def test_config_presets_and_overrides():
    import train
    import unet
    cfg = train.parse_config([])
    for key, value in unet.PRESETS["cpu"].items():  # the CPU default is the U-Net's cpu preset
        if hasattr(cfg, key):
            assert getattr(cfg, key) == value, key
    paper = train.parse_config(["--dataset", "humanml3d", "--steps=7", "--dim_mults=1,2", "--resume"])
    assert (paper.base_dim, paper.dim_mults, paper.batch_size, paper.lr) == (512, (1, 2), 64, 2e-4)
    assert (paper.steps, paper.resume, paper.lr_decay_every, paper.weight_decay) == (7, True, 5000, 0.01)
    with pytest.raises(SystemExit, match="not a valid int"):
        train.parse_config(["--steps=many"])
    assert (cfg.precision, paper.precision) == ("fp32", "bf16")   # the CPU default in fp32, the 4090 preset in bf16
    with pytest.raises(SystemExit, match="--precision must be one of"):
        train.main(["--precision=fp16"])
