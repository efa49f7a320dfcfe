"""Tests for data.py: the real HumanML3D sample plus a tiny hand-made dataset with every kind of bad input.

Run: python -m pytest tests/test_data.py -q
"""
import dataclasses
import warnings

import numpy as np
import pytest
import torch

from data import (DATASETS, Text2MotionDataset, collate_fn, load_split, load_stats, parse_caption_line,
                  random_crop, unit_length_crop)

HML = DATASETS["humanml3d"]
D = HML.feat_dim
LINE = "a person walks forward.#a/DET person/NOUN walk/VERB forward/ADV#{}#{}"


def load_with_warning(*args, **kw):
    """load_split, asserting exactly one warning was emitted; returns (items, message)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = load_split(*args, **kw)
    assert len(caught) == 1, [str(w.message) for w in caught]
    return items, str(caught[0].message)


def write_dataset(root, clips, split_ids, feat_dim=D):
    """clips: id -> (motion array or None, list of text lines or None). Writes the official layout under root."""
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    for clip_id, (motion, lines) in clips.items():
        if motion is not None:
            np.save(root / "new_joint_vecs" / f"{clip_id}.npy", motion)
        if lines is not None:
            (root / "texts" / f"{clip_id}.txt").write_text("\n".join(lines) + "\n")
    (root / "train.txt").write_text("\n".join(split_ids) + "\n")
    rng = np.random.default_rng(1)
    np.save(root / "Mean.npy", rng.normal(size=feat_dim).astype(np.float32))
    np.save(root / "Std.npy", rng.uniform(0.5, 2.0, size=feat_dim).astype(np.float32))
    return root


def feats(frames, feat_dim=D, seed=0):
    return np.random.default_rng(seed).normal(size=(frames, feat_dim)).astype(np.float32)


@pytest.fixture
def tiny(tmp_path):
    bad = feats(60)
    bad[5, 7] = np.nan
    clips = {
        "a": (feats(100, seed=1), [LINE.format(0.0, 0.0),          # full clip
                                   LINE.format(1.0, 3.5),          # frames 20:70 -> 50 frames, new item
                                   LINE.format(0.0, 1.0)]),        # 20 frames < 40 -> dropped
        "b": (feats(150, seed=2), [LINE.format(0.5, 3.0), LINE.format(2.0, 5.0)]),  # only sub-segments
        "c": (bad, [LINE.format(0.0, 0.0)]),                       # NaN
        "d": (feats(80, feat_dim=250), [LINE.format(0.0, 0.0)]),   # wrong width
        "e": (feats(90, seed=3), ["no hashes here", LINE.format(0.0, 0.0)]),  # malformed line + good line
        "f": (feats(70, seed=4), ["#a/DET#0.0#0.0"]),              # empty caption only
        "g": (None, [LINE.format(0.0, 0.0)]),                      # id without motion file
        "h": (feats(30), [LINE.format(0.0, 0.0)]),                 # too short
        "i": (feats(200), [LINE.format(0.0, 0.0)]),                # too long (>= 200)
        "j": (feats(199, seed=5).astype(np.float64), [LINE.format("nan", "nan"), "a second caption.#a/DET#0#0"]),
    }
    return write_dataset(tmp_path / "tiny", clips, list(clips))


# ---------------------------------------------------------------- the real sample

def test_sample_test_split(hml3d_sample):
    items, msg = load_with_warning(hml3d_sample, "test", HML)
    assert [it["name"] for it in items] == ["000000"]
    motion = items[0]["motion"]
    assert motion.dtype == np.float32 and motion.shape == (116, D) and items[0]["length"] == 116  # stored float64
    np.testing.assert_array_equal(motion, np.load(hml3d_sample / "new_joint_vecs" / "000000.npy").astype(np.float32))
    assert len(items[0]["captions"]) == 4
    assert items[0]["captions"][0]["caption"] == "a man kicks something or someone with his left leg."
    assert items[0]["captions"][0]["tokens"][:3] == ["a/DET", "man/NOUN", "kick/VERB"]
    assert "skipped 2 of 3 motions" in msg and "missing text file 2 (000612, 011673)" in msg
    assert "test.txt" in msg


def test_sample_train_split_names_at_most_three_examples(hml3d_sample):
    items, msg = load_with_warning(hml3d_sample, "train", HML)
    assert [it["name"] for it in items] == ["012314"] and len(items[0]["captions"]) == 3
    assert "skipped 4 of 5 motions" in msg and "missing text file 4 (007005, 009548, M010655, ...)" in msg


def test_sample_empty_split_raises(hml3d_sample):
    with pytest.raises(ValueError, match=r"no usable item in split 'val'.*humanml3d_sample"):
        load_split(hml3d_sample, "val", HML)


def test_feat_bias_on_sample_stats(hml3d_sample):
    raw_std = np.load(hml3d_sample / "Std.npy")
    mean, std = load_stats(hml3d_sample, HML, feat_bias=5.0)
    mean1, std1 = load_stats(hml3d_sample, HML, feat_bias=1.0)
    assert mean.dtype == std.dtype == np.float32 and std.shape == (D,)
    np.testing.assert_array_equal(mean, np.load(hml3d_sample / "Mean.npy"))
    np.testing.assert_array_equal(std1, raw_std)
    biased = np.zeros(D, dtype=bool)
    biased[[0, 1, 2, 3, 259, 260, 261, 262]] = True  # root_rot_vel, root_lin_vel, root_y, foot_contact
    ratio = raw_std / std
    np.testing.assert_allclose(ratio[biased], 5.0, rtol=1e-6)
    np.testing.assert_array_equal(ratio[~biased], 1.0)
    np.testing.assert_array_equal(std[biased], raw_std[biased] / np.float32(5))


def test_stats_shape_mismatch(hml3d_sample):
    with pytest.raises(ValueError, match=r"Mean.npy has shape \(263,\), expected \(251,\)"):
        load_stats(hml3d_sample, DATASETS["kit"])


# ---------------------------------------------------------------- hand-made dataset: bad inputs and sub-segments

def test_tiny_items_and_skip_summary(tiny):
    items, msg = load_with_warning(tiny, "train", HML)
    names = [it["name"] for it in items]
    lengths = [it["length"] for it in items]
    assert lengths == sorted(lengths)
    seg_a = [n for n in names if n.endswith("_a")]
    seg_b = [n for n in names if n.endswith("_b")]
    assert len(seg_a) == 1 and len(seg_b) == 2 and len(set(seg_b)) == 2
    for n in seg_a + seg_b:
        assert len(n.split("_")[0]) == 1 and n[0] in "ABCDEFGHIJKLMNOPQRSTUVW"
    assert set(names) - set(seg_a + seg_b) == {"a", "e", "j"}  # b has only sub-segments -> not added itself
    by_name = {it["name"]: it for it in items}
    np.testing.assert_array_equal(by_name[seg_a[0]]["motion"], by_name["a"]["motion"][20:70])
    assert len(by_name[seg_a[0]]["captions"]) == 1 and len(by_name["a"]["captions"]) == 1
    assert sorted(by_name[n]["length"] for n in seg_b) == [50, 60]  # 0.5-3.0 s and 2.0-5.0 s at 20 fps
    assert len(by_name["e"]["captions"]) == 1
    assert by_name["j"]["motion"].dtype == np.float32 and len(by_name["j"]["captions"]) == 2  # nan times = full clip
    assert "skipped 6 of 10 motions" in msg
    for part in ("missing motion file 1 (g)", "NaN/Inf in motion 1 (c)", "wrong feature width", "(d)",
                 "too short (< 40 frames) 1 (h)", "too long (>= 200 frames) 1 (i)", "no usable caption 1 (f)",
                 "dropped 3 caption lines", "malformed caption line 1 (e:1)", "empty caption line 1 (f:1)",
                 "sub-segment outside [40, 200) frames 1 (a:3)"):
        assert part in msg, (part, msg)


def test_subsegment_names_deterministic(tiny):
    def names(seed):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [it["name"] for it in load_split(tiny, "train", HML, seed=seed)]
    assert names(0) == names(0)
    assert len({tuple(names(s)) for s in range(6)}) > 1  # the seed does drive the letters


def test_subsegments_cut_at_dataset_fps(tmp_path):
    kit = DATASETS["kit"]
    root = write_dataset(tmp_path / "kit", {"k": (feats(100, feat_dim=251), [LINE.format(1.0, 4.0)])}, ["k"],
                         feat_dim=251)
    (item,) = load_split(root, "train", kit)
    assert item["length"] == 38  # frames int(1.0*12.5)=12 .. int(4.0*12.5)=50, not Guo's 20:80
    np.testing.assert_array_equal(item["motion"], np.load(root / "new_joint_vecs" / "k.npy")[12:50])


def test_parse_caption_line():
    assert parse_caption_line("hi there#hi/INTJ there/ADV#nan#nan\n") == ("hi there", ["hi/INTJ", "there/ADV"], 0, 0)
    assert parse_caption_line("x # y#x/X#1.5#2.0")[0] == "x # y"
    for bad in ("", "only#two", "c#t/X#a#b", "c#t/X#2.0#1.0", "c#t/X#-1#2", "c#noslash#0#0", "c#t/X#inf#inf"):
        with pytest.raises(ValueError):
            parse_caption_line(bad)


def test_missing_root_and_split(tmp_path, tiny):
    with pytest.raises(FileNotFoundError, match=r"nowhere.*new_joint_vecs/, texts/, Mean.npy, Std.npy, train.txt"):
        load_split(tmp_path / "nowhere", "train", HML)
    with pytest.raises(FileNotFoundError, match=r"split file for split 'val'.*val.txt"):
        load_split(tiny, "val", HML)
    with pytest.raises(FileNotFoundError, match="Mean.npy"):
        load_stats(tmp_path, HML)


# ---------------------------------------------------------------- dataset items, crops, batching

def make_dataset(root, **kw):
    mean, std = load_stats(root, HML)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Text2MotionDataset(root, "train", HML, mean, std, **kw)


def test_padding_normalisation_and_collate(tiny):
    ds = make_dataset(tiny)
    assert len(ds) == 6 and "a second caption." in ds.captions() and len(ds.captions()) == 2
    for i in range(len(ds)):
        sample = ds[i]
        item = ds.items[i]
        length = sample["length"]
        assert sample["motion"].shape == (196, D) and sample["motion"].dtype == torch.float32
        assert length == min(item["length"], 196) and sample["name"] == item["name"]
        assert torch.all(sample["motion"][length:] == 0)
        window = sample["motion"][:length].numpy() * ds.std + ds.mean  # un-normalise -> a window of the raw motion
        starts = [s for s in range(item["length"] - length + 1)
                  if np.allclose(item["motion"][s:s + length], window, atol=1e-5)]
        assert starts, item["name"]
        assert sample["caption"] in [c["caption"] for c in item["captions"]]
    samples = [ds[i] for i in range(len(ds))]
    batch = collate_fn(samples)
    lengths = torch.tensor([sample["length"] for sample in samples])
    assert batch["motion"].shape == (6, 196, D) and batch["length"].dtype == torch.long
    assert batch["mask"].shape == (6, 196) and batch["mask"].dtype == torch.bool
    assert torch.equal(batch["mask"].sum(1), lengths) and bool(batch["mask"][:, 0].all())
    assert torch.all(batch["motion"][~batch["mask"]] == 0)
    assert len(batch["caption"]) == len(batch["tokens"]) == len(batch["name"]) == 6
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=Text2MotionDataset.collate_fn)
    assert next(iter(loader))["motion"].shape == (4, 196, D)


def test_random_draws_reproducible_and_varying(tiny):
    ds, twin = make_dataset(tiny), make_dataset(tiny)
    j = [it["name"] for it in ds.items].index("j")  # 199 frames, 2 captions: both crop and caption are drawn
    draws = [(ds[j]["caption"], ds[j]["motion"]) for _ in range(12)]
    twin_draws = [(twin[j]["caption"], twin[j]["motion"]) for _ in range(12)]
    assert all(c == tc and torch.equal(m, tm) for (c, m), (tc, tm) in zip(draws, twin_draws))  # same seed
    assert len({c for c, _ in draws}) == 2 and len({float(m[0, 0]) for _, m in draws}) > 1  # fresh draw per call


@pytest.mark.parametrize("persistent", [True, False])
def test_dataloader_workers_reproducible_across_epochs(tiny, persistent):
    """Each worker draws from its own Generator: epochs differ, and torch.manual_seed replays the run."""
    def run():
        torch.manual_seed(0)
        loader = torch.utils.data.DataLoader(make_dataset(tiny), batch_size=3, num_workers=2,
                                             persistent_workers=persistent, collate_fn=collate_fn)
        return [torch.cat([b["motion"][:, 0, 0] for b in loader]) for _ in range(2)]  # 2 epochs
    first, second = run(), run()
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not torch.equal(first[0], first[1])


def test_unit_length_crop_bounds():
    rng = np.random.default_rng(0)
    for length in list(range(40, 200)) * 3:
        motion = np.arange(length)[:, None]  # (F, 1): frame index, to recover the window
        out = unit_length_crop(motion, 4, rng)
        m = len(out)
        assert m % 4 == 0 and m in ((length // 4) * 4, (length // 4 - 1) * 4)
        assert out[0, 0] >= 0 and out[-1, 0] <= length - 1 and np.all(np.diff(out[:, 0]) == 1)
    ms = {len(unit_length_crop(np.zeros((101, 1)), 4, rng)) for _ in range(200)}
    assert ms == {100, 96}  # both coins occur
    with pytest.raises(ValueError):
        unit_length_crop(np.zeros((3, 1)), 4, rng)


def test_dataset_unit_length_crop(tiny):
    ds = make_dataset(tiny, unit_length_crop=True)
    for _ in range(3):
        for i in range(len(ds)):
            sample = ds[i]
            assert sample["length"] % 4 == 0 and 40 - 4 <= sample["length"] <= min(ds.items[i]["length"], 196)
            assert torch.all(sample["motion"][sample["length"]:] == 0)


def test_random_crop():
    rng = np.random.default_rng(0)
    motion = np.arange(250)[:, None]
    out = random_crop(motion, 196, rng)
    assert len(out) == 196 and np.all(np.diff(out[:, 0]) == 1) and out[-1, 0] <= 249
    assert random_crop(motion[:150], 196, rng) is not None and len(random_crop(motion[:150], 196, rng)) == 150


def test_dataset_info_consistency():
    assert {k: (v.kind, v.feat_dim, v.joints_num, v.fps, v.min_len) for k, v in DATASETS.items()} == {
        "humanml3d": ("t2m", 263, 22, 20.0, 40), "kit": ("kit", 251, 21, 12.5, 24),
        "synthetic": ("t2m", 263, 22, 20.0, 40)}
    with pytest.raises(ValueError, match="feat_dim"):
        dataclasses.replace(HML, feat_dim=262)


def test_keyed_draws_depend_on_the_key_only(tiny):
    """dataset[(epoch, i)] (what train.py's sampler asks for) draws from default_rng([seed, epoch, i]): the same key
    gives the same caption and crop whatever was drawn before, another epoch gives another draw."""
    ds, twin = make_dataset(tiny), make_dataset(tiny)
    j = [it["name"] for it in ds.items].index("j")  # 199 frames, 2 captions
    for _ in range(3):
        twin[j]                                      # the running generator moves; keyed draws do not care
    a, b = ds[(0, j)], twin[(0, j)]
    assert a["caption"] == b["caption"] and torch.equal(a["motion"], b["motion"])
    epochs = [ds[(e, j)] for e in range(12)]
    assert len({float(d["motion"][0, 0]) for d in epochs}) > 1 and len({d["caption"] for d in epochs}) == 2
    assert ds[(0, -1)]["name"] == ds[(0, len(ds) - 1)]["name"]
    with pytest.raises(IndexError):
        ds[(0, len(ds))]
