"""options.py, the one option reader of every script: forms, types, presets, and one-line errors naming the key."""
from dataclasses import dataclass

import pytest

import options


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
    cfg = options.parse(["--name=b", "--steps", "3", "--lr=2e-4", "--resume", "--dims=1,2,2,2", "--guidance", "-1.5"],
                        Config(), prog="t.py")
    assert (cfg.name, cfg.steps, cfg.lr, cfg.resume, cfg.dims, cfg.guidance) == ("b", 3, 2e-4, True, (1, 2, 2, 2), -1.5)
    assert options.parse(["--resume=false", "--guidance=none"], Config(resume=True), prog="t.py").resume is False
    cfg, other = options.parse(["--steps=4", "--seed=7"], Config(), Other(), prog="t.py")
    assert (cfg.steps, other.seed) == (4, 7)
    assert options.read(["--a=1", "--b", "x", "--c"], "t.py") == {"a": "1", "b": "x", "c": None}


def test_presets_extra_keys_and_choices():
    cfg = options.parse(["--steps=5"], Config(), prog="t.py", preset=lambda raw: {"steps": 50, "lr": 0.1})
    assert (cfg.steps, cfg.lr) == (5, 0.1)                                  # the preset, then the overrides
    assert options.parse(["--method=x"], Config(), prog="t.py", extra=("method",)).name == "a"
    with pytest.raises(SystemExit, match="t.py: --name must be one of"):
        options.check_choices(Config(name="z"), "t.py", name=("a", "b"))


@pytest.mark.parametrize("argv, message", [
    (["--nope=1"], "t.py: unknown option --nope; valid: name, steps"),
    (["--steps=many"], "t.py: --steps='many' is not a valid int"),
    (["--resume=maybe"], "t.py: --resume='maybe' is not a valid bool"),
    (["--steps"], "t.py: --steps needs a value"),
    (["steps=3"], "t.py: unexpected argument 'steps=3'"),
])
def test_errors_name_the_key(argv, message):
    with pytest.raises(SystemExit, match=message):
        options.parse(argv, Config(), prog="t.py")


def test_hints_and_help(capsys):
    with pytest.raises(SystemExit, match=r"unknown option --step \(did you mean --steps\?\)"):
        options.parse(["--step=1"], Config(), prog="t.py", hints={"step": "did you mean --steps?"})
    with pytest.raises(SystemExit) as stop:
        options.parse(["--help"], Config(), prog="t.py")
    assert stop.value.code == 0 and "steps: int = 10                   # an int" in capsys.readouterr().out
