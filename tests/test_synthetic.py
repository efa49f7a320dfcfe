"""Tests of the embedded procedural dataset (synthetic.py, synthetic_actions.py).

Physical invariants of the generated motion (exact bone lengths, floor, planted feet and foot contacts while walking,
jumps that leave the ground), the HumanML3D layout and text format, mirroring, statistics, determinism and the
build-once behaviour of ensure_dataset.  python -m pytest -q tests/test_synthetic.py
"""
import json
import os

import numpy as np
import pytest

from motion import SKELETONS, extract_features, feature_slices, mirror_features, recover_from_ric
from synthetic import ensure_dataset, generate, make_clip
from synthetic_actions import (PRIMITIVES, caption_line, conjugate, fill_template, mirror_text, sample_params, tokens,
                               verb_phrases)

SK = SKELETONS["t2m"]
FPS = 20
POS_TAGS = {"NOUN", "VERB", "DET", "ADP", "ADJ", "ADV", "PRON", "NUM", "AUX", "CCONJ", "SCONJ", "PART"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "Synthetic"
    generate(root, num_motions=12, seed=0, workers=2, progress=False)
    return root


def _ids(root, split="all"):
    return (root / f"{split}.txt").read_text().split()


def _clip(chain, seed=0):
    """Features (F, 263) and recovered joints (F, 22, 3) of one clip with a fixed primitive chain."""
    positions, captions, segments = make_clip(np.random.default_rng(seed), chain)
    feats = extract_features(positions)
    return feats, recover_from_ric(feats, 22), segments


def _bones(joints):
    return np.linalg.norm(joints[:, 1:] - joints[:, SK.parents[1:]], axis=-1)   # (F, J-1)


# ---------------------------------------------------------------------------------------------------- layout

def test_layout_splits_and_lengths(tiny):
    ids = _ids(tiny)
    assert len(ids) == 24 and len(set(ids)) == 24
    splits = {s: set(_ids(tiny, s)) for s in ("train", "val", "test")}
    assert set.union(*splits.values()) == set(ids) and sum(map(len, splits.values())) == 24
    assert all(len(v) >= 2 for v in splits.values())
    for s, members in splits.items():                      # a mirrored copy follows its base id's split
        assert {m.lstrip("M") for m in members} == {m for m in members if not m.startswith("M")}
    assert set(_ids(tiny, "train_val")) == splits["train"] | splits["val"]
    meta = json.loads((tiny / "meta.json").read_text())
    assert meta["complete"] and meta["counts"]["motions"] == 24 and meta["seed"] == 0
    for m in ids:
        x, j = np.load(tiny / "new_joint_vecs" / f"{m}.npy"), np.load(tiny / "new_joints" / f"{m}.npy")
        assert x.dtype == np.float32 and x.shape[1] == 263 and 40 <= len(x) < 200
        assert j.dtype == np.float32 and j.shape == (len(x), 22, 3)
        np.testing.assert_allclose(j, recover_from_ric(x, 22), atol=1e-5)
        labels = json.loads((tiny / "frame_labels" / f"{m}.json").read_text())
        segs = labels["segments"]
        assert labels["fps"] == FPS and segs[0]["start"] == 0 and segs[-1]["end"] == len(x)
        assert all(a["end"] == b["start"] for a, b in zip(segs[:-1], segs[1:]))
        assert all(s["end"] > s["start"] and s["action"] and s["text"] for s in segs)


def test_caption_lines_parse(tiny):
    for m in _ids(tiny):
        lines = (tiny / "texts" / f"{m}.txt").read_text().splitlines()
        assert 3 <= len(lines) <= 4
        for line in lines:
            parts = line.rsplit("#", 3)
            assert len(parts) == 4 and parts[0].strip() and parts[2:] == ["0.0", "0.0"]
            toks = parts[1].split()
            assert toks and all(t.count("/") == 1 for t in toks)
            assert all(t.split("/")[1] in POS_TAGS and t.split("/")[0].isalpha() for t in toks)
            assert toks == tokens(parts[0])


def test_tokens_follow_spacy_conventions():
    assert tokens("a person walks forward.") == ["a/DET", "person/NOUN", "walk/VERB", "forward/ADV"]
    assert tokens("he waves his left hand")[3:] == ["left/ADJ", "hand/NOUN"]             # "left" not lemmatised
    assert tokens("someone turns to the left")[-2:] == ["the/DET", "left/NOUN"]
    assert tokens("a man squats three times")[2:] == ["squat/VERB", "three/NUM", "time/NOUN"]
    assert tokens("a man does three squats")[-1] == "squat/NOUN"
    assert tokens("she is jumping on both feet") == ["she/PRON", "is/AUX", "jump/VERB", "on/ADP", "both/DET",
                                                     "foot/NOUN"]
    with pytest.raises(KeyError, match="lexicon"):
        tokens("a person moonwalks")


def test_every_template_is_in_the_lexicon():
    rng = np.random.default_rng(0)
    for name in PRIMITIVES:
        for _ in range(20):
            p = sample_params(name, rng)
            for template in verb_phrases(name, p):
                for form in ("3sg", "ing"):
                    text = conjugate(fill_template(template, p, "his", rng), form)
                    caption_line(text), caption_line(mirror_text(text))


# ---------------------------------------------------------------------------------------------------- physics

def test_bone_lengths_are_constant_and_match_the_skeleton(tiny):
    for m in _ids(tiny):
        bones = _bones(np.load(tiny / "new_joints" / f"{m}.npy"))
        assert bones.std(0).max() < 1e-4, m
        np.testing.assert_allclose(bones.mean(0), SK.bone_lengths[1:], atol=1e-3, err_msg=m)


def test_every_primitive_stays_on_the_skeleton_and_above_the_floor():
    for i, name in enumerate(PRIMITIVES):
        positions, captions, segments = make_clip(np.random.default_rng(i), [name])
        assert np.isfinite(positions).all() and name in [s["action"].rsplit("_", 1)[0] for s in segments] + \
            [s["action"] for s in segments]
        bones = _bones(positions)
        assert np.abs(bones - SK.bone_lengths[1:]).max() < 1e-6, name
        assert positions[..., 1].min() > -0.01, name                     # nothing sinks into the floor
        assert positions[:, 0, 1].min() > 0.4, name                       # the pelvis never collapses


def test_feet_touch_the_floor_and_nothing_goes_below(tiny):
    feet = SK.fid_l + SK.fid_r
    for m in _ids(tiny):
        j = np.load(tiny / "new_joints" / f"{m}.npy")
        assert j[..., 1].min() > -0.02 and abs(j[..., 1].min()) < 1e-4
        assert j[0, feet, 1].min() < 0.02, f"{m}: feet float above the floor in the first (standing) frame"


def test_walk_plants_feet_and_sets_contacts():
    feats, joints, segments = _clip([("walk", {"speed": "normal", "curve": "straight", "dur": 4.5})])
    seg = next(s for s in segments if s["action"] == "walk")
    sl = slice(seg["start"], seg["end"] - 1)
    contact = feats[sl, feature_slices()["foot_contact"]] > 0.5        # (T, 4) l_ankle, l_toe, r_ankle, r_toe
    speed = np.linalg.norm(joints[1:] - joints[:-1], axis=-1)[sl][:, SK.fid_l + SK.fid_r] * FPS   # (T, 4) m/s
    ratio = contact.mean(0)
    assert ((ratio > 0.3) & (ratio < 0.9)).all(), ratio
    assert (speed[contact] < np.sqrt(SK.contact_threshold) * FPS).all()
    assert np.median(speed[contact]) < 0.05, "planted feet slide"
    single = contact[:, 0] ^ contact[:, 2]                                     # one ankle planted, the other swinging
    assert single.mean() > 0.3
    root_speed = np.linalg.norm(joints[1:, 0, [0, 2]] - joints[:-1, 0, [0, 2]], axis=-1) * FPS
    assert 1.1 < np.percentile(root_speed[sl], 75) < 1.7


def test_jump_leaves_the_ground_and_lands():
    feats, joints, segments = _clip([("jump", {"reps": 1, "height": 0.3})])
    stand = joints[0, 0, 1]
    apex = joints[:, 0, 1].argmax()
    assert joints[apex, 0, 1] - stand > 0.15
    ankles = joints[:, [SK.fid_l[0], SK.fid_r[0]], 1]
    assert (ankles[apex] - ankles[0] > 0.1).all(), "both feet leave the ground at the apex"
    assert abs(joints[-1, 0, 1] - stand) < 0.02 and (ankles[-1] - ankles[0] < 0.01).all()


# ---------------------------------------------------------------------------------------------------- mirror, stats

def test_mirrored_copies(tiny):
    assert mirror_text("a man waves his left hand, then turns clockwise and right") == \
        "a man waves his right hand, then turns counterclockwise and left"
    assert mirror_text("walks counterclockwise") == "walks clockwise"
    ric = feature_slices()["ric"]
    for m in (i for i in _ids(tiny) if not i.startswith("M")):
        base, mirr = (tiny / "texts" / f"{m}.txt").read_text(), (tiny / "texts" / f"M{m}.txt").read_text()
        assert [mirror_text(ln.split("#")[0]) for ln in base.splitlines()] == [ln.split("#")[0] for ln in
                                                                               mirr.splitlines()]
        lab = [json.loads((tiny / "frame_labels" / f"{i}.json").read_text())["segments"] for i in (m, "M" + m)]
        swap = {"left": "right", "right": "left"}
        assert [s["action"] for s in lab[1]] == ["_".join(swap.get(w, w) for w in s["action"].split("_"))
                                                 for s in lab[0]]
        x, xm = np.load(tiny / "new_joint_vecs" / f"{m}.npy"), np.load(tiny / "new_joint_vecs" / f"M{m}.npy")
        # the M copy is retargeted after mirroring (as HumanML3D did): equal up to the skeleton's mm asymmetry
        assert np.abs(mirror_features(x)[:, ric] - xm[:, ric]).max() < 0.03


def test_mean_std(tiny):
    mean, std = np.load(tiny / "Mean.npy"), np.load(tiny / "Std.npy")
    assert mean.shape == std.shape == (263,) and mean.dtype == std.dtype == np.float32
    data = np.concatenate([np.load(tiny / "new_joint_vecs" / f"{m}.npy") for m in _ids(tiny, "train")]).astype(
        np.float64)                                                               # (sum F, 263)
    np.testing.assert_allclose(mean, data.mean(0), atol=1e-5)
    for name, sl in feature_slices().items():                                     # one std per group (SPEC 1.6)
        assert np.ptp(std[sl]) == 0 and std[sl][0] > 0, name
        np.testing.assert_allclose(std[sl][0], data[:, sl].std(0).mean(), rtol=1e-4, err_msg=name)


# ---------------------------------------------------------------------------------------------------- determinism

def test_same_seed_gives_identical_files(tiny, tmp_path):
    other = tmp_path / "again"
    generate(other, num_motions=12, seed=0, workers=1, progress=False)
    files = sorted(p.relative_to(tiny) for p in tiny.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(other) for p in other.rglob("*") if p.is_file())
    assert all((tiny / f).read_bytes() == (other / f).read_bytes() for f in files)
    generate(tmp_path / "seed1", num_motions=3, seed=1, progress=False)
    assert (tmp_path / "seed1" / "texts" / "000000.txt").read_text() != (tiny / "texts" / "000000.txt").read_text()


@pytest.mark.filterwarnings("ignore:synthetic.py. a feature group is constant")
def test_ensure_dataset_builds_once(tmp_path):
    root = tmp_path / "Synthetic"
    assert ensure_dataset(root, num_motions=3, progress=False) == root
    assert not list(tmp_path.glob(".*building*")), "the temporary build folder must be renamed away"
    stamp = os.stat(root / "meta.json").st_mtime_ns
    ensure_dataset(root, num_motions=3, progress=False)
    assert os.stat(root / "meta.json").st_mtime_ns == stamp, "a complete build must not be rebuilt"
    (root / "new_joint_vecs" / "M000001.npy").unlink()                  # incomplete -> rebuilt
    ensure_dataset(root, num_motions=3, progress=False)
    assert (root / "new_joint_vecs" / "M000001.npy").is_file()
    foreign = tmp_path / "HumanML3D"
    (foreign / "texts").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="not a synthetic build"):
        ensure_dataset(foreign, num_motions=3, progress=False)
    with pytest.raises(ValueError, match="num_motions"):
        generate(tmp_path / "x", num_motions=2)
