"""Tests for evaluate.py (metrics, protocol) and evaluator.py (networks, word vectorizer, loading, training).

Metrics are checked against direct NumPy implementations of T2M utils/metrics.py with the same seeds; the networks
against the official parameter names and shapes of T2M's released finest.tar; the protocol with stand-in generators.
Run: python -m pytest tests/test_evaluate.py -q
"""
import dataclasses
import hashlib
import json
import pickle
import warnings

import numpy as np
import pytest
import torch

import evaluate
from data import DATASETS, load_split
from evaluate import (EvalConfig, calculate_activation_statistics, calculate_diversity, calculate_frechet_distance,
                      calculate_multimodality, euclidean_distance_matrix, get_metric_statistics, run_evaluation)
from evaluator import (POS_enumerator, T2M_FINEST_SIZE, EvalDataset, Evaluator, WordVectorizer, calculate_top_k,
                       check_official_checkpoint, eval_collate, load_evaluator, retrieval_metrics, save_vocabulary)
from lab.train_evaluator import TrainEvaluatorConfig, train_evaluator

INFO = DATASETS["synthetic"]
D = INFO.feat_dim


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The GRUs step through time with tiny matmuls: on a busy 2-core machine two OpenMP threads wait on each other
    at every step (4-10x slower); one thread is robust. Restored after this module."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ----------------------------------------------------------------------------------------------------------------
# Metrics vs direct NumPy implementations
# ----------------------------------------------------------------------------------------------------------------
def test_distance_and_top_k_match_direct_loops():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(32, 16)), rng.normal(size=(32, 16))
    direct = np.array([[np.sqrt(((x - y) ** 2).sum()) for y in b] for x in a])
    np.testing.assert_allclose(euclidean_distance_matrix(a, b), direct, rtol=1e-10)
    order = np.argsort(direct, axis=1)
    top = calculate_top_k(order, 3)
    for i in range(32):
        rank = int(np.where(order[i] == i)[0][0])  # position of the paired motion
        assert top[i].tolist() == [rank < 1, rank < 2, rank < 3]
    with np.errstate(invalid="ignore"):  # unclamped as in T2M: identical rows can give sqrt(-1e-16) = nan
        assert np.isfinite(euclidean_distance_matrix(a, a).diagonal()).sum() < 32


def test_activation_statistics_and_fid_match_direct_formula():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(400, 8)), rng.normal(size=(300, 8)) @ rng.normal(size=(8, 8)) + 0.5
    mu1, s1 = calculate_activation_statistics(x)
    mu2, s2 = calculate_activation_statistics(y)
    np.testing.assert_allclose(mu1, x.sum(0) / len(x))
    np.testing.assert_allclose(s1, (x - mu1).T @ (x - mu1) / (len(x) - 1))  # unbiased covariance
    # Tr sqrt(S1 S2) = Tr sqrt(S1^1/2 S2 S1^1/2), the latter from symmetric eigendecompositions.
    w, v = np.linalg.eigh(s1)
    r1 = v @ np.diag(np.sqrt(w)) @ v.T
    tr = np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ s2 @ r1), 0, None)).sum()
    direct = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr
    assert calculate_frechet_distance(mu1, s1, mu2, s2) == pytest.approx(direct, rel=1e-8)
    assert abs(calculate_frechet_distance(mu1, s1, mu1, s1)) < 1e-8  # identical sets -> 0
    assert calculate_frechet_distance(mu1, s1, mu1 + 2.0, s1) == pytest.approx(4 * 8, rel=1e-8)  # mean shift only


def test_fid_singular_fallback_and_complex_error(monkeypatch, capsys):
    rng = np.random.default_rng(2)
    mu, s = calculate_activation_statistics(rng.normal(size=(50, 4)))
    real_sqrtm, calls = evaluate.linalg.sqrtm, []

    def nan_first(m):
        calls.append(m)
        return np.full_like(m, np.nan) if len(calls) == 1 else real_sqrtm(m)
    monkeypatch.setattr(evaluate.linalg, "sqrtm", nan_first)
    fid = calculate_frechet_distance(mu, s, mu, s, eps=1e-6)
    assert "adding 1e-06 to diagonal" in capsys.readouterr().out
    np.testing.assert_allclose(calls[1], (s + 1e-6 * np.eye(4)) @ (s + 1e-6 * np.eye(4)))
    assert fid == pytest.approx(-2 * 4 * 1e-6, rel=1e-4)  # sqrtm((S + eps I)^2) = S + eps I
    monkeypatch.setattr(evaluate.linalg, "sqrtm", lambda m: m + 1j * np.eye(len(m)))
    with pytest.raises(ValueError, match="imaginary component"):
        calculate_frechet_distance(mu, s, mu, s)


def test_diversity_and_multimodality_match_direct_implementation():
    rng = np.random.default_rng(3)
    acts = rng.normal(size=(500, 16))
    np.random.seed(7)
    got = calculate_diversity(acts, 300)
    np.random.seed(7)
    i, j = np.random.choice(500, 300, replace=False), np.random.choice(500, 300, replace=False)
    assert got == pytest.approx(np.mean([np.sqrt(((acts[a] - acts[b]) ** 2).sum()) for a, b in zip(i, j)]))
    mm = rng.normal(size=(100, 30, 16))
    np.random.seed(8)
    got = calculate_multimodality(mm, 10)
    np.random.seed(8)
    i, j = np.random.choice(30, 10, replace=False), np.random.choice(30, 10, replace=False)
    direct = np.mean([np.sqrt(((mm[n, a] - mm[n, b]) ** 2).sum()) for n in range(100) for a, b in zip(i, j)])
    assert got == pytest.approx(direct)
    with pytest.raises(AssertionError):
        calculate_diversity(acts[:300], 300)  # needs more samples than pairs


def test_confidence_interval_uses_population_std():
    mean, ci = get_metric_statistics([1.0, 2.0, 3.0, 4.0], 4)
    assert mean == 2.5
    assert ci == pytest.approx(1.96 * np.sqrt(1.25) / 2)  # population std of 1..4 is sqrt(1.25), not sqrt(5/3)


def test_a_95_interval_only_at_the_protocols_20_replications():
    reps = [{"M": {"FID": float(v)}} for v in range(20)]
    summary = evaluate.summarize(reps[:2], 2)
    assert summary["M"]["FID"] == pytest.approx((0.5, 1.96 * 0.5 / np.sqrt(2), 0.0, 1.0))
    few = evaluate.format_table(summary, "t", [("FID", "FID")], replication_times=2)
    assert "| M | 0.500 [0.000, 1.000] |" in few and "±" not in few and "R = 2 replications" in few
    assert "no 95% interval" in few
    full = evaluate.format_table(evaluate.summarize(reps, 20), "t", [("FID", "FID")], replication_times=20)
    assert f"| M | 9.500±{1.96 * np.std(range(20)) / np.sqrt(20):.3f} |" in full and "R = 20" in full


def test_skating_is_reported_per_locomotion_action():
    """A walk whose planted feet glide at 1 m/s reads skating 1 under its label; a wave is not a locomotion action."""
    from realism import skating_ratio
    t = np.arange(40) / 20.0                                          # 2 s at 20 fps
    glide = np.full((40, 22, 3), 0.9)
    glide[:, :, 0] += t[:, None]                                      # every joint 1 m/s along x
    glide[:, [7, 8, 10, 11], 1] = 0.02                                # feet on the ground, never lifted
    still = np.full((40, 22, 3), 0.9)
    still[:, [7, 8, 10, 11], 1] = 0.02
    row = evaluate._Row()
    row.add_joints([glide, still], ["walk", "wave_left"], None, 20.0)
    row.add(torch.randn(4, 512), torch.randn(4, 512))                 # R@3 needs a batch of 3 or more
    out = row.metrics(np.zeros(512), np.eye(512), diversity_times=1)
    assert out["skating/walk"] == pytest.approx(skating_ratio(glide)) and out["skating/walk"] > 0.9
    assert "skating/wave_left" not in out and "wave_left" not in evaluate.LOCOMOTION and "action/wave_left" in out


def test_retrieval_metrics():
    rng = np.random.default_rng(4)
    text = rng.normal(size=(96, 32))
    assert retrieval_metrics(text, text) == {"R@1": 1.0, "R@2": 1.0, "R@3": 1.0}
    noisy = text + 0.8 * rng.normal(size=text.shape)
    r = retrieval_metrics(text, noisy)
    direct = np.zeros(3)
    for s in range(0, 96, 32):  # R-precision within chunks of 32, written out
        d = np.linalg.norm(text[s:s + 32, None] - noisy[None, s:s + 32], axis=-1)
        rank = (d < d.diagonal()[:, None]).sum(1)
        direct += [(rank < k).sum() for k in (1, 2, 3)]
    assert [r["R@1"], r["R@2"], r["R@3"]] == pytest.approx(list(direct / 96))
    assert r["R@1"] <= r["R@2"] <= r["R@3"]
    scaled = retrieval_metrics(torch.tensor(text) * 5, torch.tensor(noisy), metric="cosine")  # scale-invariant
    assert scaled == retrieval_metrics(text, noisy, metric="cosine")
    random = retrieval_metrics(rng.normal(size=(3200, 8)), rng.normal(size=(3200, 8)))
    assert random["R@1"] == pytest.approx(1 / 32, abs=0.01) and random["R@3"] == pytest.approx(3 / 32, abs=0.02)


# ----------------------------------------------------------------------------------------------------------------
# Networks and official checkpoint layout
# ----------------------------------------------------------------------------------------------------------------
def gru_shapes(prefix, c_in, c):
    out = {}
    for sfx in ("", "_reverse"):
        out.update({f"{prefix}weight_ih_l0{sfx}": (3 * c, c_in), f"{prefix}weight_hh_l0{sfx}": (3 * c, c),
                    f"{prefix}bias_ih_l0{sfx}": (3 * c,), f"{prefix}bias_hh_l0{sfx}": (3 * c,)})
    return out


def official_shapes(feat_dim=263):
    """Parameter names and shapes of T2M's released finest.tar (networks/modules.py naming)."""
    def co(c_in, c, out):  # input_emb -> biGRU -> output_net (Linear, LayerNorm, LeakyReLU, Linear), learnable h0
        return {"input_emb.weight": (c, c_in), "input_emb.bias": (c,), **gru_shapes("gru.", c, c),
                "output_net.0.weight": (c, 2 * c), "output_net.0.bias": (c,), "output_net.1.weight": (c,),
                "output_net.1.bias": (c,), "output_net.3.weight": (out, c), "output_net.3.bias": (out,),
                "hidden": (2, 1, c)}
    return {"movement_encoder": {"main.0.weight": (512, feat_dim - 4, 4), "main.0.bias": (512,),
                                 "main.3.weight": (512, 512, 4), "main.3.bias": (512,),
                                 "out_net.weight": (512, 512), "out_net.bias": (512,)},
            "text_encoder": {"pos_emb.weight": (300, 15), "pos_emb.bias": (300,), **co(300, 512, 512)},
            "motion_encoder": co(512, 1024, 512)}


def write_glove(glove_dir, hml3d_sample=None, words=None, seed=0):
    """Vocabulary files: the sample's words/idx pickles when given, plus a random data.npy (the sample has none)."""
    glove_dir.mkdir(parents=True, exist_ok=True)
    if hml3d_sample is not None:
        for s in ("words.pkl", "idx.pkl"):
            (glove_dir / f"our_vab_{s}").write_bytes((hml3d_sample / "glove" / f"our_vab_{s}").read_bytes())
        n = len(pickle.loads((glove_dir / "our_vab_words.pkl").read_bytes()))
        np.save(glove_dir / "our_vab_data.npy", np.random.default_rng(seed).normal(size=(n, 300)).astype(np.float32))
    else:
        save_vocabulary(glove_dir, words, np.random.default_rng(seed).normal(size=(len(words), 300)))


def test_evaluator_loads_official_key_names_and_shapes(tmp_path, hml3d_sample):
    shapes = official_shapes()
    state = {k: {n: torch.randn(s) for n, s in v.items()} for k, v in shapes.items()}
    n_params = {k: sum(t.numel() for t in v.values()) for k, v in state.items()}
    assert n_params == {"movement_encoder": 1_842_688, "text_encoder": 4_100_288, "motion_encoder": 15_747_584}
    # The released file also holds Adam states of the text and motion encoders: 3 float32 copies of them.
    size = 4 * (3 * (n_params["text_encoder"] + n_params["motion_encoder"]) + n_params["movement_encoder"])
    assert abs(size - T2M_FINEST_SIZE) < 100_000
    ours = Evaluator(263)
    for key, names in shapes.items():
        assert {n: tuple(p.shape) for n, p in getattr(ours, key).state_dict().items()} == names

    d = tmp_path / "evaluator"
    (d / "t2m" / "text_mot_match" / "model").mkdir(parents=True)
    torch.save({**state, "epoch": 3}, d / "t2m" / "text_mot_match" / "model" / "finest.tar")
    (d / "evaluator_meta" / "t2m").mkdir(parents=True)  # the sample's meta layout is accepted
    for s in ("mean", "std"):
        (d / "evaluator_meta" / "t2m" / f"{s}.npy").write_bytes((hml3d_sample / "evaluator_meta" / "t2m" /
                                                                 f"{s}.npy").read_bytes())
    write_glove(d / "glove", hml3d_sample)
    with pytest.warns(UserWarning, match="not the released T2M evaluator"):  # a random t2m finest.tar
        ev = load_evaluator(d, "t2m", 263)
    for key in shapes:
        for n, t in getattr(ev, key).state_dict().items():
            assert torch.equal(t, state[key][n]), (key, n)
    assert ev.std[0] == pytest.approx(5.147e-4, rel=1e-3)
    motions = torch.randn(4, 196, 263)
    m_lens = torch.tensor([196, 40, 120, 80])
    emb = ev.get_motion_embeddings(motions, m_lens)
    assert emb.shape == (4, 512)
    one = ev.get_motion_embeddings(motions[1:2], m_lens[1:2])  # packing: padding and batch order do not matter
    torch.testing.assert_close(emb[1:2], one, rtol=1e-4, atol=1e-4)

    state["motion_encoder"]["input_emb.weight"] = torch.randn(1024, 256)
    torch.save(state, d / "t2m" / "text_mot_match" / "model" / "finest.tar")
    with warnings.catch_warnings(), pytest.raises(RuntimeError, match="does not fit the evaluator"):
        warnings.simplefilter("ignore")
        load_evaluator(d, "t2m", 263)


def test_missing_files_message_lists_every_path(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_evaluator(tmp_path, "t2m", 263)
    msg = str(err.value)
    for p in ("t2m/text_mot_match/model/finest.tar", "t2m/meta/mean.npy", "t2m/meta/std.npy",
              "glove/our_vab_data.npy", "glove/our_vab_words.pkl", "glove/our_vab_idx.pkl"):
        assert str(tmp_path / p) in msg
    with pytest.raises(FileNotFoundError, match="lab.train_evaluator --dataset=synthetic"):
        load_evaluator(tmp_path, "synthetic", 263)


def test_checkpoint_size_and_hash_check(tmp_path):
    f = tmp_path / "finest.tar"
    f.write_bytes(b"x" * 100)
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_official_checkpoint(f, size=100, sha256=digest)
    with pytest.warns(UserWarning, match="sha256"):
        assert not check_official_checkpoint(f, size=100, sha256="0" * 64)
    with pytest.warns(UserWarning, match="size 100 bytes != released 245580211"):
        assert not check_official_checkpoint(f)


def test_word_vectorizer(tmp_path, hml3d_sample):
    write_glove(tmp_path, hml3d_sample)
    wv = WordVectorizer(tmp_path)
    idx, data = wv.word2idx, np.load(tmp_path / "our_vab_data.npy")
    vec, pos = wv["man/NOUN"]
    np.testing.assert_array_equal(vec, data[idx["man"]])
    assert pos.argmax() == POS_enumerator["NOUN"] == 1 and pos.sum() == 1 and pos.shape == (15,)
    assert wv["left/ADJ"][1].argmax() == POS_enumerator["Loc_VIP"] == 9  # VIP list overrides spaCy's tag
    assert wv["walk/VERB"][1].argmax() == POS_enumerator["Act_VIP"] == 12
    assert wv["leg/NOUN"][1].argmax() == 10 and wv["ball/NOUN"][1].argmax() == 11 and wv["slowly/ADV"][1].argmax() == 13
    vec, pos = wv["xyzzyq/VERB"]  # unknown word -> unk row, OTHER
    np.testing.assert_array_equal(vec, data[idx["unk"]])
    assert idx["unk"] == 2 and pos.argmax() == POS_enumerator["OTHER"] == 14
    assert wv["man/CCONJ"][1].argmax() == 14  # tag outside the 15 classes -> OTHER
    assert wv.index("sos/OTHER")[0] == 0 and wv.index("eos/OTHER")[0] == 1


def test_eval_dataset_item_on_real_sample(tmp_path, hml3d_sample):
    write_glove(tmp_path, hml3d_sample)
    info = DATASETS["humanml3d"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sample's test split has clips without texts
        items = load_split(hml3d_sample, "test", info)
    mean = np.load(hml3d_sample / "evaluator_meta" / "t2m" / "mean.npy")
    std = np.load(hml3d_sample / "evaluator_meta" / "t2m" / "std.npy")
    ds = EvalDataset(items, info, mean, std, WordVectorizer(tmp_path))
    words, pos, caption, sent_len, motion, m_length, tokens = ds[0]
    text = next(c for c in items[0]["captions"] if c["caption"] == caption)
    assert words.shape == (22, 300) and pos.shape == (22, 15) and motion.shape == (196, 263)
    assert sent_len == len(text["tokens"]) + 2 and m_length % 4 == 0 and m_length <= items[0]["length"]
    toks = tokens.split("_")
    assert toks[0] == "sos/OTHER" and toks[sent_len - 1] == "eos/OTHER" and toks[sent_len:] == ["unk/OTHER"] * (
        22 - sent_len)
    assert (motion[m_length:] == 0).all()
    crop = motion[:m_length] * std + mean  # de-normalised crop is a window of the raw clip
    starts = [s for s in range(items[0]["length"] - m_length + 1)
              if np.allclose(items[0]["motion"][s:s + m_length], crop, atol=1e-4)]
    assert starts
    batch = eval_collate([ds[i] for i in range(len(ds))] + [ds[0]])
    assert (batch[3][:-1] >= batch[3][1:]).all()  # sorted by sent_len, longest first


# ----------------------------------------------------------------------------------------------------------------
# Protocol and evaluator training on a tiny toy dataset
# ----------------------------------------------------------------------------------------------------------------
VERBS = ["walk", "run", "jump", "kick", "wave", "turn"]


def write_toy_dataset(root, n_per_split=(96, 40, 72), seed=0):
    """Smooth sinusoid features whose frequency depends on the caption's verb, in HumanML3D layout."""
    rng = np.random.default_rng(seed)
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    all_motions = []
    for split, n in zip(("train", "val", "test"), n_per_split):
        ids = [f"{split}{i:03d}" for i in range(n)]
        for i, clip in enumerate(ids):
            v = i % len(VERBS)
            frames = int(rng.integers(40, 120))
            t = np.arange(frames)[:, None] / 20.0
            phase = rng.uniform(0, 6, size=(1, D))
            motion = np.sin((v + 1) * t + phase) + 0.05 * rng.normal(size=(frames, D))
            all_motions.append(motion)
            np.save(root / "new_joint_vecs" / f"{clip}.npy", motion.astype(np.float32))
            (root / "texts" / f"{clip}.txt").write_text(
                f"a person {VERBS[v]}s {i} times.#a/DET person/NOUN {VERBS[v]}/VERB {i}/NUM time/NOUN#0.0#0.0\n"
                f"someone will {VERBS[v]} now ({clip})#someone/PRON will/AUX {VERBS[v]}/VERB now/ADV#0.0#0.0\n")
        (root / f"{split}.txt").write_text("\n".join(ids) + "\n")
    frames = np.concatenate(all_motions)
    np.save(root / "Mean.npy", frames.mean(0).astype(np.float32))
    np.save(root / "Std.npy", frames.std(0).astype(np.float32))
    return root


class StandInGenerator:
    """sample.Generator stand-in: returns the real motion of the caption's first clip (or noise), normalised with
    statistics that differ from the evaluator's, so the de-/re-normalisation path is exercised."""

    def __init__(self, root, noise=False, best_guidance=None):
        self.dataset, self.data_root, self.info, self.noise = "synthetic", str(root), INFO, noise
        self.best_guidance, self.calls = best_guidance, []  # noise grows with |guidance - best_guidance| when set
        self.mean, self.std = np.load(root / "Mean.npy") + 0.3, np.load(root / "Std.npy") * 2.0
        self.motions = {}
        for item in load_split(root, "test", INFO) + load_split(root, "val", INFO):
            for c in item["captions"]:
                self.motions.setdefault(c["caption"], item["motion"])

    def generate(self, captions, lengths, guidance=None, steps=None, sampler=None, seed=None, guidance_rescale=None):
        self.calls.append((guidance, guidance_rescale))
        out = torch.zeros(len(captions), max(lengths), D)
        g = torch.Generator().manual_seed(seed or 0)
        for i, (c, n) in enumerate(zip(captions, lengths)):
            raw = self.motions[c][:n]
            out[i, :len(raw)] = torch.randn(len(raw), D, generator=g) if self.noise else \
                torch.from_numpy((raw - self.mean) / self.std)
            if self.best_guidance is not None:
                out[i, :len(raw)] += abs(guidance - self.best_guidance) * torch.randn(len(raw), D, generator=g)
        return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A toy dataset and an evaluator trained on it for a few steps (end-to-end, official layout)."""
    tmp = tmp_path_factory.mktemp("eval")
    root = write_toy_dataset(tmp / "toy")
    cfg = TrainEvaluatorConfig(ae_iters=5, ae_batch_size=16, match_epochs=2)
    finest = train_evaluator(root, INFO, tmp / "evaluator", cfg, seed=0)
    return root, tmp / "evaluator", finest


def test_train_evaluator_writes_official_layout_and_reloads(trained):
    root, d, finest = trained
    assert finest == d / "synthetic" / "text_mot_match" / "model" / "finest.tar"
    state = torch.load(finest, weights_only=True)
    assert {"movement_encoder", "text_encoder", "motion_encoder", "epoch"} <= set(state)
    for f in ("meta/mean.npy", "meta/std.npy", "glove/our_vab_data.npy", "glove/our_vab_words.pkl",
              "glove/our_vab_idx.pkl", "Decomp_SP001_SM001_H512/model/latest.tar"):
        assert (d / "synthetic" / f).is_file(), f
    ev = load_evaluator(d, "synthetic", D)
    assert ev.word_vectorizer.words[:3] == ["sos", "eos", "unk"] and "jump" in ev.word_vectorizer.word2idx
    std = np.load(d / "synthetic" / "meta" / "std.npy")
    assert std[4] == std[5] == std[4 + 3 * 21 - 1]  # std shared within the ric group (HumanML3D recipe)
    config = json.loads((d / "synthetic" / "text_mot_match" / "train_config.json").read_text())
    assert config["torch_threads"] == torch.get_num_threads()  # the weights depend on it: kept beside them


def test_protocol_with_stand_in_generators(trained, tmp_path):
    root, d, _ = trained
    cfg = EvalConfig(ckpt=str(tmp_path / "standin" / "ckpt.pt"), data_root=str(root), evaluator_dir=str(d),
                     replication_times=2, diversity_times=50, mm_num_samples=4, mm_num_repeats=4, mm_num_times=2)
    good = run_evaluation(cfg, StandInGenerator(root))
    bad = run_evaluation(dataclasses.replace(cfg, replication_times=1), StandInGenerator(root, noise=True))
    real, model = good["summary"]["Real motion"], good["summary"]["standin"]
    assert len(good["replications"]) == 2 and set(good["replications"][0]) == {"Real motion", "standin"}
    # 64 motions in 512-d bias every FID upwards (real vs real ~10 here); noise must still be far worse
    assert bad["summary"]["standin"]["FID"]["mean"] > 3 * max(model["FID"]["mean"], real["FID"]["mean"])
    assert model["MultiModality"]["mean"] < 1e-3 < bad["summary"]["standin"]["MultiModality"]["mean"]
    assert "MultiModality" not in real
    md = (tmp_path / "standin" / "eval_synthetic_test.md").read_text()     # the last run's: one replication
    assert "| Real motion |" in md and "| standin |" in md and "R = 1 replication;" in md and "±" not in md
    assert (tmp_path / "standin" / "eval_synthetic_test.json").is_file()


def test_cli_parser_and_real_only_evaluation(trained, tmp_path):
    root, d, _ = trained
    cfg = evaluate.parse_config(["--replication_times=1", "--compare_split", "train", f"--evaluator_dir={d}",
                                 f"--data_root={root}", f"--out_dir={tmp_path}", "--diversity_times=20"])
    assert (cfg.replication_times, cfg.compare_split) == (1, "train")
    with pytest.raises(SystemExit, match="unknown option --bogus"):
        evaluate.parse_config(["--bogus=1"])
    with pytest.raises(SystemExit, match="not a valid int"):
        evaluate.parse_config(["--replication_times=many"])
    with pytest.raises(SystemExit, match="python -m lab.train_evaluator"):      # the old flag says where it went
        evaluate.parse_config(["--train_evaluator"])
    result = run_evaluation(cfg)
    assert set(result["summary"]) == {"Real motion", "Real motion (train split)"}


def test_realism_columns_pair_generated_with_real_root_speed(trained, tmp_path):
    root, d, _ = trained
    cfg = EvalConfig(ckpt=str(tmp_path / "standin" / "ckpt.pt"), data_root=str(root), evaluator_dir=str(d),
                     replication_times=1, diversity_times=50, mm_num_samples=0)
    summary = run_evaluation(cfg, StandInGenerator(root))["summary"]
    real, model = summary["Real motion"], summary["standin"]
    for key in ("skating_ratio", "penetration_mm", "floating_mm", "root_speed"):
        assert key in real and key in model
    assert "root_speed_ratio" not in real and "action_success" not in model  # the toy data has no frame_labels
    # the stand-in returns each caption's real clip from frame 0, the real row a unit-length crop of it
    assert model["root_speed_ratio"]["mean"] == pytest.approx(1.0, abs=0.1)
    assert model["root_speed"]["mean"] == pytest.approx(real["root_speed"]["mean"], rel=0.1)
    md = (tmp_path / "standin" / "eval_synthetic_test.md").read_text()
    assert "Skating ratio" in md and "Root speed ratio" in md
    # --foot_cleanup rewrites the generated joints only: the embedding metrics stay, the joint figures move
    cleaned = run_evaluation(dataclasses.replace(cfg, foot_cleanup=True), StandInGenerator(root))["summary"]
    assert cleaned["standin"]["FID"] == model["FID"] and cleaned["Real motion"] == real
    assert cleaned["standin"]["skating_ratio"] != model["skating_ratio"]


def test_guidance_sweep_on_validation_split_picks_the_least_noisy_scale(trained, tmp_path):
    from lab import sweep_guidance
    root, d, _ = trained
    gen = StandInGenerator(root, best_guidance=1.5)
    cfg = EvalConfig(ckpt=str(tmp_path / "ckpt.pt"), data_root=str(root), evaluator_dir=str(d), diversity_times=20)
    sweep = sweep_guidance.SweepConfig(scales="1,1.5,3.5", rescale=0.7, seeds=2, results=str(tmp_path / "res"))
    table = sweep_guidance.sweep_guidance(cfg, sweep, gen)
    from lab import results, tables
    rows = results.read_rows(tmp_path / "res" / "guidance_sweep.csv")            # one result row per setting + real
    names = {"guidance 1", "Real motion", "guidance 1.5", "guidance 3.5", "guidance 1.5, CFG rescale 0.7",
             "guidance 1, CFG rescale 0.7"}
    assert len(rows) == 6 and {r["row"] for r in rows} == names
    assert {r["split"] for r in rows} == {"val"} and all(r["replications"] == "2" for r in rows)
    assert len(rows[0]["evaluator_sha256"]) == 64 and rows[0]["fid"] and rows[1]["method"] == "real"
    assert (tmp_path / "res" / "RESULTS.md").read_text() == tables.render(tmp_path / "res")
    settings = {c for c in gen.calls}
    assert settings == {(1.0, 0.0), (1.5, 0.0), (3.5, 0.0), (1.5, 0.7), (1.0, 0.7)}  # rescale at the best two
    assert "| 1.5 | 0 |" in table and table.rstrip().endswith("(or sample.py / evaluate.py --guidance).")
    assert "guidance 1.5, CFG rescale 0" in table or "guidance 1.5, CFG rescale 0.7" in table
    assert (tmp_path / "sweep_guidance.md").read_text() == table
    saved = json.loads((tmp_path / "sweep" / "g1.5_phi0" / "eval_synthetic_val.json").read_text())
    assert saved["config"]["split"] == "val" and saved["config"]["guidance"] == 1.5
    with pytest.raises(SystemExit, match="test split"):
        sweep_guidance.sweep_guidance(cfg, dataclasses.replace(sweep, split="test"), gen)
