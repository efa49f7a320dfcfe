"""Tests of the embedded procedural dataset (synthetic*.py).

Physical invariants of the generated motion (exact bone lengths, floor, planted feet and foot contacts while walking,
jumps that leave the ground), the HumanML3D layout and text format, grammar of every template and sentence
structure, captions that name a style honoured by the motion, the held-out test_novel rule, mirroring, statistics,
determinism and the build-once behaviour of ensure_dataset.  python -m pytest -q tests/test_synthetic.py
"""
import json
import os
import re

import numpy as np
import pytest

from motion import SKELETONS, extract_features, feature_slices, mirror_features, recover_from_ric
from synthetic.build import ensure_dataset, generate, make_clip
from synthetic.actions import PRIMITIVES, sample_params
from synthetic.captions import (MANNER, NOVEL_GLUE, SUBJECTS, TRAIN_GLUE, conjugate, describe, fill_template,
                                modifiers, verb_phrases)
from synthetic.splits import chain_keys, has_held_out, held_out_pairs, overlap_stats, split_ids
from synthetic.text import VERB_FORMS, WORDS, caption_line, mirror_text, tokens

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
    splits = {s: set(_ids(tiny, s)) for s in ("train", "val", "test", "test_novel")}
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
        assert all(s["end"] > s["start"] and s["action"] and s["text"] and "params" in s for s in segs)


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


# After these words a verb must be an -ing form ("jumps while spreading", "before turning", "is walking").
ING_AFTER = {"while", "by", "without", "before", "after", "is"}


def grammar_errors(caption, subject=None):
    """Verb forms that break agreement: a conjugated verb right after while/by/without/before/after/is that is not an
    -ing form; with `subject`, a first verb after it that is not a third-person form ("a man walking forward")."""
    words = re.findall(r"[a-z]+", caption.lower())
    errs = [f"{a} {b}" for a, b in zip(words, words[1:])
            if a in ING_AFTER and b in VERB_FORMS and b not in WORDS and not b.endswith("ing")]
    if subject is not None:
        rest = re.findall(r"[a-z]+", caption.lower()[len(subject):])
        verb = next((w for w in rest if w in VERB_FORMS and (w not in WORDS or w == rest[0])), "")
        errs += [f"{subject} {verb}"] if not verb.endswith("s") or verb.endswith("ing") else []
    return errs


def _all_phrases(rng, name, p):
    """Every verb phrase of a primitive, alone and with each of its manner and context modifiers."""
    manner, ctx = modifiers(name, p)
    for template in verb_phrases(name, p):
        for extra in [""] + manner + ctx:
            yield fill_template(template + (" " + extra if extra else ""), p, "his", rng)


def test_grammar_checker_catches_the_old_bug():
    assert grammar_errors("the man jumps while spreads his arms and legs") == ["while spreads"]
    assert grammar_errors("a person walks forward before turns left") == ["before turns"]
    assert grammar_errors("a man walking forward", "a man") == ["a man walking"]
    assert grammar_errors("a man wearing glasses jumps", "a man wearing glasses") == []
    assert grammar_errors("a person jumps while spreading his arms and legs, then walks forward") == []


def test_every_template_and_structure_is_in_the_lexicon_and_grammatical():
    rng = np.random.default_rng(0)
    for name in PRIMITIVES:
        for _ in range(8):
            p = sample_params(name, rng)
            for vp in _all_phrases(rng, name, p):
                for form in ("3sg", "ing"):
                    text = conjugate(vp, form)
                    assert "{" not in text and "^" not in text and "~" not in text, text
                    caption_line(text), caption_line(mirror_text(text))
                assert grammar_errors(f"a person {conjugate(vp, '3sg')}", "a person") == [], vp
    # every sentence structure with two and three phrases, each phrase's form chosen by the structure
    x, g = ["jumps while spreading his arms", "walks forward", "turns left"], \
        ["jumping while spreading his arms", "walking forward", "turning left"]
    for k in (2, 3):
        for glue in TRAIN_GLUE + NOVEL_GLUE:
            for subject, _, pron in SUBJECTS:
                text = glue(np.random.default_rng(k), subject, pron, x[:k], g[:k])
                assert grammar_errors(text) == [] and "  " not in text, text
                caption_line(text)
                assert all(v in text for v in ("spreading", "walk", "turn")[:k]), text   # no phrase is lost


def test_novel_structures_reuse_training_words_but_never_a_training_sentence():
    x, g = ["walks forward", "jumps", "turns left"], ["walking forward", "jumping", "turning left"]
    train, novel = set(), set()
    for k in (2, 3):
        for glue in TRAIN_GLUE:
            train |= {glue(np.random.default_rng(s), "a man", "he", x[:k], g[:k]) for s in range(20)}
        for glue in NOVEL_GLUE:
            novel |= {glue(np.random.default_rng(s), "a man", "he", x[:k], g[:k]) for s in range(20)}
    assert not train & novel and not {t.rstrip(".") for t in train} & {t.rstrip(".") for t in novel}
    words = lambda texts: {w for t in texts for w in re.findall(r"[a-z]+", t)}   # noqa: E731
    assert words(novel) <= words(train), words(novel) - words(train)
    with pytest.raises(ValueError, match="at least 2"):
        describe(np.random.default_rng(0), [("jump", sample_params("jump", np.random.default_rng(0)))], 3, novel=True)


def test_vocabulary_is_rich():
    rng, words = np.random.default_rng(0), set()
    for i in range(600):
        names = list(rng.choice(PRIMITIVES, rng.integers(1, 4), replace=False))
        for c in describe(rng, [(n, sample_params(n, rng)) for n in names], 3):
            words |= set(re.findall(r"[a-z]+", c))
    assert len(words) >= 600, len(words)


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
    feats, joints, segments = _clip([("walk", {"speed": "normal", "curve": "straight", "stride": "normal",
                                               "dur": 4.5})])
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
    for name, sl in feature_slices().items():                                     # one std per group
        assert np.ptp(std[sl]) == 0 and std[sl][0] > 0, name
        np.testing.assert_allclose(std[sl][0], data[:, sl].std(0).mean(), rtol=1e-4, err_msg=name)


# ---------------------------------------------------------------------------------------------------- determinism

def test_same_seed_gives_identical_files(tiny, tmp_path):
    other = tmp_path / "again"
    generate(other, num_motions=12, seed=0, workers=1, progress=False)
    files = sorted(p.relative_to(tiny) for p in tiny.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(other) for p in other.rglob("*") if p.is_file())
    assert all((tiny / f).read_bytes() == (other / f).read_bytes() for f in files)
    generate(tmp_path / "seed1", num_motions=4, seed=1, progress=False)
    assert (tmp_path / "seed1" / "texts" / "000000.txt").read_text() != (tiny / "texts" / "000000.txt").read_text()


@pytest.mark.filterwarnings("ignore:synthetic.py. a feature group is constant")
def test_ensure_dataset_builds_once(tmp_path):
    root = tmp_path / "Synthetic"
    assert ensure_dataset(root, num_motions=4, progress=False) == root
    assert not list(tmp_path.glob(".*building*")), "the temporary build folder must be renamed away"
    stamp = os.stat(root / "meta.json").st_mtime_ns
    ensure_dataset(root, num_motions=4, progress=False)
    assert os.stat(root / "meta.json").st_mtime_ns == stamp, "a complete build must not be rebuilt"
    (root / "new_joint_vecs" / "M000001.npy").unlink()                  # incomplete -> rebuilt
    ensure_dataset(root, num_motions=4, progress=False)
    assert (root / "new_joint_vecs" / "M000001.npy").is_file()
    foreign = tmp_path / "HumanML3D"
    (foreign / "texts").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="not a synthetic build"):
        ensure_dataset(foreign, num_motions=4, progress=False)
    with pytest.raises(ValueError, match="num_motions"):
        generate(tmp_path / "x", num_motions=3)


# ---------------------------------------------------------------------------------------------------- style

def _named(captions, words):
    return any(set(re.findall(r"[a-z]+", c)) & words for c in captions)


def _style_groups(name, n, measure, named_words):
    """Clips of one primitive with random style; {group: [measure(joints, segment), ...]} where a clip's group is the
    first of `named_words` ({group: words}) that one of its captions uses, else "unnamed"."""
    groups = {}
    for seed in range(n):
        positions, captions, segments = make_clip(np.random.default_rng(seed), [name])
        seg = next(s for s in segments if s["action"].startswith(name))
        group = next((g for g, ws in named_words.items() if _named(captions, ws)), "unnamed")
        groups.setdefault(group, []).append(measure(positions, seg))
    return groups


def test_captions_naming_a_speed_are_honoured():
    def speed(j, seg):                                                   # mean horizontal root speed (m/s)
        v = np.linalg.norm(np.diff(j[seg["start"]:seg["end"], 0, [0, 2]], axis=0), axis=-1) * FPS
        return v[len(v) // 4: -len(v) // 4].mean()
    g = _style_groups("walk", 40, speed, {"fast": {"quickly", "fast", "briskly", "hurry", "rapidly", "swiftly"},
                                           "slow": {"slowly", "slow", "stroll", "strolls", "leisurely", "amble",
                                                    "ambles", "calmly"}})
    assert len(g.get("fast", [])) >= 3 and len(g.get("slow", [])) >= 3, {k: len(v) for k, v in g.items()}
    assert min(g["fast"]) > max(g["slow"]) and np.mean(g["fast"]) > np.mean(g["unnamed"]) > np.mean(g["slow"])


def test_captions_naming_a_jump_height_are_honoured():
    def apex(j, seg):                                                     # pelvis rise above standing (m)
        return j[seg["start"]:seg["end"], 0, 1].max() - j[0, 0, 1]
    g = _style_groups("jump", 40, apex, {"high": {"high"}, "small": {"little", "small", "slightly", "tiny", "bit",
                                                                       "lightly"}})
    assert len(g.get("high", [])) >= 3 and len(g.get("small", [])) >= 3, {k: len(v) for k, v in g.items()}
    assert min(g["high"]) > max(g["small"]) + 0.1


def test_captions_naming_a_wave_size_are_honoured_and_waves_stay_above_the_shoulder():
    def amplitude(j, seg):                                                # wrist sway around its mean (m)
        mid = slice(seg["start"] + (seg["end"] - seg["start"]) // 3, seg["end"] - (seg["end"] - seg["start"]) // 3)
        k = 1 if seg["action"] == "wave_right" else 0                     # wave_both: the left wrist
        rel = j[mid, (20, 21)[k]] - j[mid, (16, 17)[k]]                   # wrist relative to its shoulder
        assert (rel[:, 1] > 0).all(), "a waving wrist is above its shoulder"
        return np.linalg.norm(rel - rel.mean(0), axis=-1).max()
    g = _style_groups("wave", 40, amplitude, {"big": {"big", "widely"}, "small": {"small", "little", "gently"}})
    assert len(g.get("big", [])) >= 3 and len(g.get("small", [])) >= 3, {k: len(v) for k, v in g.items()}
    assert np.mean(g["big"]) > 2 * np.mean(g["small"]) and min(g["big"]) > max(g["small"])


def test_manner_modifiers_only_name_the_clips_style():
    p = sample_params("walk", np.random.default_rng(0), speed="slow", stride="long", arms="normal", curve="straight")
    manner, _ = modifiers("walk", p)
    assert set(manner) == set(MANNER["walk", "speed", "slow"]) | set(MANNER["walk", "stride", "long"])
    assert not any("quick" in t or "fast" in t for t in verb_phrases("walk", p))


# ---------------------------------------------------------------------------------------------------- test_novel

def test_held_out_pairs_are_closed_under_mirroring_and_define_the_novel_split(tiny):
    held = held_out_pairs(0)
    sw = {"left": "right", "right": "left", "clockwise": "counterclockwise", "counterclockwise": "clockwise"}
    swap = lambda k: re.sub(r"[a-z]+", lambda m: sw.get(m.group(), m.group()), k)   # noqa: E731
    assert held and all((swap(a), swap(b)) in held for a, b in held)
    assert 0.05 < len(held) / (36 * 35) < 0.15                            # ~10 % of the ordered pairs
    assert has_held_out(("walk", "jump", "clap"), {("walk", "clap")}) and not has_held_out(("clap", "walk"),
                                                                                             {("walk", "clap")})
    for novel in (False, True):                                          # the rule, clip by clip
        for seed in range(6):
            rng = np.random.default_rng(seed)
            keys = chain_keys([(s["action"].rsplit("_", 1)[0] if "side" in s["params"] else s["action"], s["params"])
                               for s in make_clip(rng, held=held, novel=novel)[2]])
            assert has_held_out(keys, held) == novel and (len(keys) >= 2 or not novel), keys
    stats = overlap_stats(tiny)
    novel = stats["test_novel"]
    assert novel["motions"] == 2 and novel["verbatim_pct"] == novel["sequence_seen_pct"] == 0
    assert novel["motion_caption_seen_pct"] == 0
    assert set(split_ids(1500, 0).values()) == {"train", "val", "test", "test_novel"}
    assert sum(v == "test_novel" for v in split_ids(1500, 0).values()) == 180


def test_frame_label_params_are_mirrored(tiny):
    for m in (i for i in _ids(tiny) if not i.startswith("M")):
        a, b = [json.loads((tiny / "frame_labels" / f"{i}.json").read_text())["segments"] for i in (m, "M" + m)]
        for sa, sb in zip(a, b):
            assert {k: mirror_text(v) if isinstance(v, str) else v for k, v in sa["params"].items()} == sb["params"]
            assert sb["text"] == mirror_text(sa["text"])
