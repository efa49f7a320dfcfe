"""LUMA and ATM wired into train.py (subprocess smoke runs, tiny budgets): MoCLIP trains, --method=luma trains with both
anchors, the temporal anchor's loss falls, the checkpoint's network is exactly the baseline's, sample.py samples its
checkpoint alone in an empty folder (the checkpoint carries MoCLIP's tower); --method=luma+atm and atm log ATM's
terms and keep the network."""
import shutil

import pytest
import torch

from conftest import DATA, ROOT, run
from conftest import TINY as TINY_NET

TINY = [*TINY_NET, *DATA, "--batch_size=4"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    work = tmp_path_factory.mktemp("luma")
    run(ROOT / "train.py", "--method=baseline", "--steps=2", "--out_dir=base", "--log_every=1", *TINY, cwd=work)
    run(ROOT / "moclip.py", "--data_root=synth", "--num_motions=24", "--epochs_stage1=2", "--epochs_stage2=1",
        "--width=16", "--layers=1", "--heads=2", "--ff_dim=16", "--embed_dim=8", "--batch_size=4",
        "--out=moclip.pt", cwd=work)
    proc = run(ROOT / "train.py", "--method=luma", "--moclip=moclip.pt", "--steps=40", "--lr=2e-3",
               "--log_every=5", "--anchor_decay_steps=1000", "--out_dir=luma", *TINY, cwd=work)
    return work, proc


def test_luma_trains_and_its_anchor_losses_fall(runs):
    work, proc = runs
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("step")]
    assert len(lines) == 8 and all("L_fre" in ln and "L_tem" in ln and "zeta" in ln for ln in lines)
    tem = [float(ln.split("L_tem")[1].split("|")[0]) for ln in lines]
    assert sum(tem[-3:]) < 0.8 * sum(tem[:3]), tem
    assert "using MoCLIP moclip.pt" in proc.stdout
    ckpt = torch.load(work / "luma" / "ckpt.pt", map_location="cpu", weights_only=True)
    assert ckpt["anchors"] is not None and ckpt["moclip"]["path"] == "moclip.pt" and len(ckpt["moclip"]["sha"]) == 12
    assert ckpt["text_tower"]["sha"] == ckpt["moclip"]["sha"] and ckpt["text_tower"]["finetuned"]


def test_luma_checkpoint_is_the_baseline_network(runs):
    work, _ = runs
    luma = torch.load(work / "luma" / "ckpt.pt", map_location="cpu", weights_only=True)
    base = torch.load(work / "base" / "ckpt.pt", map_location="cpu", weights_only=True)
    assert luma["model_args"]["text_dim"] == base["model_args"]["text_dim"]
    assert {k: v.shape for k, v in luma["ema"].items()} == {k: v.shape for k, v in base["ema"].items()}


def test_a_luma_checkpoint_samples_alone_in_an_empty_folder(runs, tmp_path):
    """The checkpoint is the model: copied alone into an empty folder (no MoCLIP file, dataset or cache beside it), it
    samples there, and the MoCLIP tower it carries gives exactly the text features of the MoCLIP file it was trained
    with."""
    from moclip import text_encoder_from_moclip, tower_from_state
    work, _ = runs
    shutil.copy(work / "luma" / "ckpt.pt", tmp_path / "ckpt.pt")
    run(ROOT / "sample.py", "--ckpt", "ckpt.pt", "--text", "a person jumps", "--length=40", "--steps=2", "--no_render",
        "--out_dir=samples", cwd=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt", "samples"]
    assert len(list((tmp_path / "samples").glob("*_joints.npy"))) == 1
    ckpt = torch.load(tmp_path / "ckpt.pt", map_location="cpu", weights_only=True)
    embedded, trained_with = tower_from_state(ckpt["text_tower"]), text_encoder_from_moclip(work / "moclip.pt")
    captions = ["a person jumps", "someone walks in a circle to the left"]
    assert embedded.name == trained_with.name                                   # the same text-feature cache key
    for a, b in zip(embedded(captions)[:2], trained_with(captions)[:2]):       # token states (B, L, C), mask (B, L)
        assert torch.equal(a, b)
    from sample import Generator                 # a checkpoint from before the tower was carried needs the MoCLIP file
    del ckpt["text_tower"]
    with pytest.raises(FileNotFoundError, match="MoCLIP checkpoint moclip.pt this model was trained with is gone"):
        Generator(ckpt, torch.device("cpu"))


@pytest.mark.parametrize("method", ["luma+atm", "atm"])
def test_atm_trains_through_train_py(runs, method):
    work, _ = runs
    out = f"run_{method.replace('+', '_')}"
    proc = run(ROOT / "train.py", f"--method={method}", "--moclip=moclip.pt", "--steps=4", "--log_every=2",
               f"--out_dir={out}", *TINY, cwd=work)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("step")]
    assert len(lines) == 2 and all("L_inter" in ln and "L_intra" in ln and "gate" in ln for ln in lines)
    assert all(("L_tem" in ln) == (method == "luma+atm") for ln in lines)
    inter = [float(ln.split("L_inter")[1].split("|")[0]) for ln in lines]
    assert all(v == v and v >= 0 for v in inter)                                   # finite, hinge >= 0
    ckpt = torch.load(work / out / "ckpt.pt", map_location="cpu", weights_only=True)
    base = torch.load(work / "base" / "ckpt.pt", map_location="cpu", weights_only=True)
    assert ckpt["config"]["method"] == method and ckpt["moclip"]["path"] == "moclip.pt"
    assert (ckpt["text_tower"] is not None) == (method == "luma+atm")     # ATM alone reads the plain text encoder
    assert {k: v.shape for k, v in ckpt["ema"].items()} == {k: v.shape for k, v in base["ema"].items()}
    # ATM alone conditions on the base text encoder, luma+atm on MoCLIP's tower (the text cache says which)
    assert ("+moclip-" in proc.stdout.split("text encoder ")[1].split(" ")[0]) == (method == "luma+atm")
