"""runtime.py: the one option reader of every script (forms, types, presets, one-line errors naming the key), the
random states a checkpoint holds, and the atomic save."""
from dataclasses import dataclass

import pytest

import runtime


@dataclass
class Config:
    name: str = "a"                   # a string
    steps: int = 10                   # an int
    lr: float = 1e-3                  # a float
    resume: bool = False              # a flag
    dims: tuple = (1, 2)              # ints, comma-separated
    guidance: float | None = None     # None unless given


@dataclass
class Other:
    seed: int = 0


def test_forms_and_types():
    cfg = runtime.parse(["--name=b", "--steps", "3", "--lr=2e-4", "--resume", "--dims=1,2,2,2", "--guidance", "-1.5"],
                        Config(), prog="t.py")
    assert (cfg.name, cfg.steps, cfg.lr, cfg.resume, cfg.dims, cfg.guidance) == ("b", 3, 2e-4, True, (1, 2, 2, 2), -1.5)
    assert runtime.parse(["--resume=false", "--guidance=none"], Config(resume=True), prog="t.py").resume is False
    cfg, other = runtime.parse(["--steps=4", "--seed=7"], Config(), Other(), prog="t.py")
    assert (cfg.steps, other.seed) == (4, 7)
    assert runtime.read(["--a=1", "--b", "x", "--c"], "t.py") == {"a": "1", "b": "x", "c": None}


def test_presets_extra_keys_and_choices():
    cfg = runtime.parse(["--steps=5"], Config(), prog="t.py", preset=lambda raw: {"steps": 50, "lr": 0.1})
    assert (cfg.steps, cfg.lr) == (5, 0.1)                                  # the preset, then the overrides
    assert runtime.parse(["--method=x"], Config(), prog="t.py", extra=("method",)).name == "a"
    with pytest.raises(SystemExit, match="t.py: --name must be one of"):
        runtime.check_choices(Config(name="z"), "t.py", name=("a", "b"))


@pytest.mark.parametrize("argv, message", [
    (["--nope=1"], "t.py: unknown option --nope; valid: name, steps"),
    (["--steps=many"], "t.py: --steps='many' is not a valid int"),
    (["--resume=maybe"], "t.py: --resume='maybe' is not a valid bool"),
    (["--steps"], "t.py: --steps needs a value"),
    (["steps=3"], "t.py: unexpected argument 'steps=3'"),
])
def test_errors_name_the_key(argv, message):
    with pytest.raises(SystemExit, match=message):
        runtime.parse(argv, Config(), prog="t.py")


def test_hints_and_help(capsys):
    with pytest.raises(SystemExit, match=r"unknown option --step \(did you mean --steps\?\)"):
        runtime.parse(["--step=1"], Config(), prog="t.py", hints={"step": "did you mean --steps?"})
    with pytest.raises(SystemExit) as stop:
        runtime.parse(["--help"], Config(), prog="t.py")
    assert stop.value.code == 0 and "steps: int = 10                   # an int" in capsys.readouterr().out


def test_random_states_round_trip_and_atomic_save(tmp_path):
    import random

    import numpy as np
    import torch
    device = torch.device("cpu")
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    saved = runtime.rng_state(device)
    assert len(runtime.gather_rng_states(device, 1)) == 1                        # one process: no collective
    first = (random.random(), float(np.random.rand()), torch.rand(3))
    runtime.save_atomic(tmp_path / "ckpt.pt", {"rng": [saved]})
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]                    # no temp file left behind
    runtime.set_rng_state(torch.load(tmp_path / "ckpt.pt", weights_only=True)["rng"][0], device)
    again = (random.random(), float(np.random.rand()), torch.rand(3))
    assert first[:2] == again[:2] and torch.equal(first[2], again[2])            # python, numpy and torch restored


def test_ema_warmup_matches_diffusers_and_plain_decay_without_it():
    import torch
    diffusers = pytest.importorskip("diffusers.training_utils")
    torch.manual_seed(0)
    net = lambda: torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2))  # noqa
    model, ema, plain = net(), net(), net()
    ema.load_state_dict(model.state_dict())
    plain.load_state_dict(model.state_dict())
    manual = [p.detach().clone() for p in model.parameters()]          # decay 0.995 from the first update, by hand
    reference = diffusers.EMAModel(model.parameters(), decay=0.995)   # update_after_step 0, (1+n)/(10+n) warm-up
    for update in range(1, 41):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))                             # an "optimiser step"
        model.train()(torch.randn(5, 4))                                # BatchNorm's running stats move: a buffer
        reference.step(model.parameters())
        runtime.ema_update(ema, model, runtime.ema_decay(update, 0.995))
        runtime.ema_update(plain, model, runtime.ema_decay(update, 0.995, warmup=False))
        manual = [m.lerp_(p.detach(), 0.005) for m, p in zip(manual, model.parameters())]
        for ours, theirs in zip(ema.parameters(), reference.shadow_params):
            torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)
        assert all(torch.equal(ours, m) for ours, m in zip(plain.parameters(), manual))
        assert all(torch.equal(b, c) for b, c in zip(ema.buffers(), model.buffers()))
    # the first update copies the weights (nothing of the initialisation is left); the decay then climbs to 0.995
    assert runtime.ema_decay(1, 0.995) == 0.0 and runtime.ema_decay(2, 0.995) == pytest.approx(2 / 11)
    assert runtime.ema_decay(1791, 0.995) == 0.995 and runtime.ema_decay(1790, 0.995) < 0.995
    with pytest.raises(ValueError, match="update must be >= 1"):
        runtime.ema_decay(0, 0.995)
