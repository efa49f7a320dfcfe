"""gradient_flow.py (LUMA sec. 4.3): one row per (checkpoint, t, block), finite norms, the 1%-of-mean flag, the
anchor loss reaching only the blocks up to the anchor level, and the three output files. Two tiny checkpoints,
trained for 3 steps by train.py (a baseline and a LUMA run on a tiny MoCLIP), ~30 s on 2 CPU cores."""
import csv
import math

import pytest
import torch

from conftest import DATA, ROOT, run
from conftest import TINY as TINY_NET

TINY = [*TINY_NET, *DATA, "--batch_size=4", "--steps=3"]
NUM_BLOCKS = 2 + 4 * 3 + 2 + 4 * 3 + 1    # time_mlp, text_adapter, down x3 parts, mid x2, up x3, final_conv


def read(path):
    with open(path) as f:
        return [dict(r, t=int(r["t"]), grad_norm=float(r["grad_norm"])) for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("gradflow")
    run(ROOT / "train.py", "--method=baseline", "--out_dir=base", *TINY, cwd=work)
    run(ROOT / "moclip.py", "--data_root=synth", "--num_motions=24", "--epochs_stage1=1", "--epochs_stage2=1",
        "--width=16", "--layers=1", "--heads=2", "--ff_dim=16", "--embed_dim=8", "--batch_size=4",
        "--out=moclip.pt", cwd=work)
    run(ROOT / "train.py", "--method=luma", "--moclip=moclip.pt", "--out_dir=luma", *TINY, cwd=work)
    proc = run("-m", "lab.gradient_flow", "--ckpts=base/ckpt.pt,luma/ckpt.pt", "--timesteps=10,600",
               "--batch_size=4", "--out=gf", cwd=work)
    return work, proc


def test_one_finite_row_per_checkpoint_timestep_and_block(work):
    work, proc = work
    rows = read(work / "gf" / "grad_flow.csv")
    keys = [(r["ckpt"], r["t"], r["block"]) for r in rows]
    assert len(keys) == len(set(keys)) == 2 * 2 * NUM_BLOCKS
    assert {k[:2] for k in keys} == {(c, t) for c in ("base", "luma") for t in (10, 600)}
    assert all(math.isfinite(r["grad_norm"]) for r in rows)
    # every block is on the loss's graph; the time pathway is still ~0 after 3 steps (zero-initialised projections)
    assert all(r["grad_norm"] > 0 for r in rows if r["block"] != "time_mlp")
    assert {r["objective"] for r in rows} == {"L_DDPM"}
    assert "down3.downsample" in proc.stdout and "up0.attn" in proc.stdout        # the grouping is printed
    # the flag is exactly "below 1% of the mean block norm of that checkpoint at that t"
    for c in ("base", "luma"):
        for t in (10, 600):
            rs = [r for r in rows if (r["ckpt"], r["t"]) == (c, t)]
            mean = sum(r["grad_norm"] for r in rs) / len(rs)
            assert all((r["below_1pct_of_mean"] == "True") == (r["grad_norm"] < 0.01 * mean) for r in rs)
    md = (work / "gf" / "grad_flow.md").read_text()
    assert md.count("\n| ") >= NUM_BLOCKS and "t=600 luma" in md
    assert (work / "gf" / "grad_flow.png").stat().st_size > 10_000


def test_a_frozen_block_reports_zero_and_is_flagged(work):
    from lab import gradient_flow as gf
    from data import Text2MotionDataset
    from sample import load_generator
    work, _ = work
    gen = load_generator(work / "base" / "ckpt.pt", use_ema=False)
    dataset = Text2MotionDataset(work / "synth", "train", gen.info, gen.mean, gen.std, seed=0)
    batch = gf.fixed_batch(dataset, 4, seed=0)
    assert batch["caption"] == gf.fixed_batch(dataset, 4, seed=0)["caption"]      # the same batch every time
    text, mask = gen.encode_text(batch["caption"])
    noise = torch.randn(batch["motion"].shape, generator=torch.Generator().manual_seed(1))
    groups = gf.block_groups(gen.model)
    assert len(groups) == NUM_BLOCKS and sum(len(ps) for ps in groups.values()) == len(list(gen.model.parameters()))
    before = {r["block"]: r for r in gf.measure(gen.model, gen.diffusion, batch, text, mask, noise, [300], groups)}
    for _, p in groups["up0.attn"]:
        p.requires_grad_(False)
    after = {r["block"]: r for r in gf.measure(gen.model, gen.diffusion, batch, text, mask, noise, [300], groups)}
    assert before["up0.attn"]["grad_norm"] > 0 and not before["up0.attn"]["below_1pct_of_mean"]
    assert after["up0.attn"]["grad_norm"] == 0.0 and after["up0.attn"]["below_1pct_of_mean"]
    for name in groups:                  # freezing one block leaves the others' gradients as they were
        if name != "up0.attn":
            assert after[name]["grad_norm"] == pytest.approx(before[name]["grad_norm"], rel=1e-5, abs=1e-30)
    assert gf.block_name("ups.0.1.attn.key.weight", 4) == "up3.attn"
    assert gf.block_name("ups.3.0.weight", 4, by="level") == "up0"
    assert gf.flag_vanishing({"a": 1.0, "b": 0.005, "c": 2.0}) == {"a": False, "b": True, "c": False}


def test_anchor_loss_reaches_only_the_blocks_up_to_its_level(work):
    work, _ = work
    run("-m", "lab.gradient_flow", "--ckpts=base/ckpt.pt,luma/ckpt.pt", "--timesteps=10,600", "--batch_size=4",
        "--include_anchors=True", "--out=gf_dal", cwd=work)
    plain = {(r["ckpt"], r["t"], r["block"]): r for r in read(work / "gf" / "grad_flow.csv")}
    dal = {(r["ckpt"], r["t"], r["block"]): r for r in read(work / "gf_dal" / "grad_flow.csv")}
    assert {r["objective"] for k, r in dal.items() if k[0] == "base"} == {"L_DDPM"}   # no anchors: unchanged
    assert {r["objective"] for k, r in dal.items() if k[0] == "luma"} == {"L_DDPM+zeta(0)*DAL"}
    for (c, t, b), r in dal.items():
        same = r["grad_norm"] == pytest.approx(plain[(c, t, b)]["grad_norm"], rel=1e-5, abs=1e-30)
        # the anchors read down3's output before its Downsample: down3.downsample, mid and the up path see no change
        if c == "base" or b.startswith(("up", "mid", "final")) or b == "down3.downsample":
            assert same, (c, t, b)
        elif b in ("down3.res", "down0.res"):
            assert not same, (c, t, b)
