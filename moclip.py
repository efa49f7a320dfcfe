"""MoCLIP: a contrastively trained text-motion encoder, LUMA's text tower and temporal-anchor target.

Source: LUMA (arXiv 2509.25304) sec. 3.2 and appendix B; the recipe of Hxxxz0/MoCLIP (config.yaml and its training
script), restated:
  motion encoder  x (B, T, D) -> Linear W_p (D -> d) -> + sinusoidal PE -> L transformer layers with a key padding
                  mask -> mean over valid frames -> Linear W_o (d -> D_a)                       f_tem of LUMA eq. 9
  text encoder    the project's TextEncoder tower (offline MiniLM by default, CLIP ViT-B/32 for paper runs), its
                  pooled vector -> Linear (C -> D_a)
  loss            symmetric InfoNCE on L2-normalised embeddings, learnable temperature tau = 1 / logit_scale with a
                  floor (logit_scale <= 1 / temperature_floor; Hxxxz0/MoCLIP clamps exp(scale) at 20, i.e. 0.05)
  stage 1         tower frozen (its pooled vectors are computed once per caption and reused every epoch)
  stage 2         the tower's last `finetune_layers` layer(s) and final norm unfrozen, at a lower learning rate
In-batch false negatives are masked (on by default, `--mask_false_negatives=False` to compare): a pair (i, j) whose
captions are identical or whose motions are the same clip (the same id, a sub-segment of it, or its mirror "M"
copy) is not used as a negative, as TMR filters near-duplicate texts (Mathux/TMR src/model/losses.py).

What LUMA takes from it (train.py --method=luma): the fine-tuned tower's token states feed the U-Net's cross-attention
(paper Fig. 2), and the frozen motion encoder gives the temporal anchor's target f_tem(x0) (eq. 9). The checkpoint
stores the tower's name and only the parameters stage 2 changed, so it is small and the same tower is rebuilt by
`text_encoder_from_moclip` for training, `sample.py` and `evaluate.py`; the text-feature cache is keyed by the
checkpoint's content hash, so a new MoCLIP never reuses stale features.

    python moclip.py                               # embedded dataset (not yet timed); writes checkpoints/moclip/
    python moclip.py --dataset=humanml3d --text_encoder=checkpoints/clip-vit-base-patch32 --width=512 --embed_dim=512
    python -m pytest -q tests/test_moclip.py
"""
import dataclasses
import hashlib
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from text_encoder import TextEncoder


@dataclass
class MoCLIPConfig:
    dataset: str = "synthetic"          # synthetic | humanml3d | kit
    data_root: str = ""                 # '' -> the dataset's default root
    num_motions: int = 1500             # embedded dataset only: its size (as train.py's --num_motions)
    data_seed: int = 0                  # embedded dataset only: its build seed (as train.py's --data_seed)
    feat_bias: float = 5.0              # the generator's normalisation (MoCLIP reads what the U-Net reads)
    text_encoder: str = ""              # '' -> packaged all-MiniLM-L6-v2; paper: a CLIP ViT-B/32 folder
    text_max_length: int = 77           # tokens
    embed_dim: int = 256                # D_a, the joint embedding (and the temporal anchor's) width
    width: int = 128                    # d, transformer width of the motion encoder (paper-size runs: 512)
    layers: int = 2                     # L transformer layers (paper-size runs: 4)
    heads: int = 4                      # attention heads
    ff_dim: int = 256                   # feed-forward width (paper-size runs: 1024)
    frame_stride: int = 4               # frames per token: W_p reads 4 stacked frames (paper-size runs: 1, per frame)
    dropout: float = 0.1                # PE, transformer and pre-projection dropout
    batch_size: int = 32                # pairs per step (the InfoNCE negatives)
    epochs_stage1: int = 12             # tower frozen
    epochs_stage2: int = 3              # last tower layer(s) unfrozen
    lr: float = 3e-4                    # AdamW, stage 1
    lr_finetune: float = 3e-5           # AdamW, stage 2 (every trainable parameter)
    weight_decay: float = 1e-4          # AdamW
    finetune_layers: int = 1            # tower layers unfrozen in stage 2 (plus its final norm, if it has one)
    temperature_init: float = 0.07      # tau at init
    temperature_floor: float = 0.05     # tau >= this (logit scale clamped at 1 / floor)
    mask_false_negatives: bool = True   # drop same-caption / same-clip pairs from the negatives
    out: str = ""                       # '' -> checkpoints/moclip/<dataset>_seed<seed>.pt
    device: str = "auto"                # auto -> cuda, then cpu
    seed: int = 0                       # seeds python, numpy and torch


# ----------------------------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------------------------

# MoCLIP sized for CLIP ViT-B/32 on a GPU (after Hxxxz0/MoCLIP config.yaml): train.py's humanml3d / kit runs train it
# with these.
PAPER = dict(width=512, layers=4, heads=8, ff_dim=1024, embed_dim=512, frame_stride=1, epochs_stage1=5,
             epochs_stage2=15, lr=1e-4, lr_finetune=1e-5)


def sinusoidal_pe(length: int, dim: int) -> torch.Tensor:
    """(length, dim) float32: sin in even dims, cos in odd dims, frequencies 10000^(-2i/dim) (Vaswani et al.)."""
    pos = torch.arange(length, dtype=torch.float64)[:, None]
    freqs = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, dtype=torch.float64)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freqs), torch.cos(pos * freqs)
    return pe.float()


class MotionEncoder(nn.Module):
    """x (B, T, D) normalised features + lengths (B,) -> (B, D_a) motion embedding (LUMA appendix B).

    frame_stride s > 1 makes each token s consecutive frames stacked (a temporal patch, zero-padded at the end), so
    W_p maps s * D -> d and attention runs over ceil(T / s) tokens: s = 4 cuts the CPU preset's training step about
    5x (self-attention over 196 frames with its dropout map dominated it). s = 1 is the appendix's per-frame encoder."""

    def __init__(self, feat_dim: int, embed_dim: int = 256, width: int = 256, layers: int = 4, heads: int = 4,
                 ff_dim: int = 512, dropout: float = 0.1, max_len: int = 1024, frame_stride: int = 1):
        super().__init__()
        self.feat_dim, self.frame_stride = feat_dim, frame_stride
        self.proj_in = nn.Linear(feat_dim * frame_stride, width)                       # W_p
        self.register_buffer("pe", sinusoidal_pe(max_len, width), persistent=False)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(width, heads, ff_dim, dropout, batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.proj_out = nn.Linear(width, embed_dim)                                    # W_o

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        s = self.frame_stride
        if s > 1:                                                                      # temporal patches of s frames
            frame_valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None]
            x = x * frame_valid[..., None].to(x.dtype)                                 # a tail patch sees zeros
            x = F.pad(x, (0, 0, 0, -x.shape[1] % s))                                   # (B, s * ceil(T / s), D)
            x = x.reshape(x.shape[0], x.shape[1] // s, s * x.shape[2])                 # (B, T / s, s * D)
            lengths = torch.div(lengths + s - 1, s, rounding_mode="floor")
        B, T, _ = x.shape
        if T > self.pe.shape[0]:
            raise ValueError(f"MotionEncoder: {T} frames, the positional table has {self.pe.shape[0]}")
        valid = torch.arange(T, device=x.device)[None, :] < lengths.to(x.device)[:, None]   # (B, T)
        h = self.drop(self.proj_in(x) + self.pe[:T])                                  # (B, T, d)
        h = self.transformer(h, src_key_padding_mask=~valid)                          # (B, T, d)
        w = valid[:, :, None].to(h.dtype)                                             # (B, T, 1)
        pooled = (h * w).sum(1) / w.sum(1).clamp(min=1)                               # (B, d) mean over valid frames
        return self.proj_out(self.drop(pooled))                                       # (B, D_a)


def tower_layers(tower: TextEncoder) -> tuple[nn.ModuleList, nn.Module | None]:
    """(the tower's transformer layers, its final norm or None): CLIP text_model.encoder.layers + final_layer_norm;
    BERT-style (MiniLM) encoder.layer, whose layers end in their own LayerNorm. Raises TypeError otherwise."""
    model = tower.model
    text_model = getattr(model, "text_model", model)
    enc = getattr(text_model, "encoder", None)
    layers = getattr(enc, "layers", None) or getattr(enc, "layer", None)
    if layers is None:
        raise TypeError(f"MoCLIP: cannot find the transformer layers of {type(model).__name__} to fine-tune")
    return layers, getattr(text_model, "final_layer_norm", None)


class MoCLIP(nn.Module):
    """Text tower + projection, motion encoder, learnable temperature. Embeddings are L2-normalised (B, D_a)."""

    def __init__(self, tower: TextEncoder, feat_dim: int, cfg: MoCLIPConfig):
        super().__init__()
        self.tower = tower
        self.text_proj = nn.Linear(tower.dim, cfg.embed_dim)
        self.motion_encoder = MotionEncoder(feat_dim, cfg.embed_dim, cfg.width, cfg.layers, cfg.heads, cfg.ff_dim,
                                            cfg.dropout, frame_stride=cfg.frame_stride)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / cfg.temperature_init)))
        self.max_logit_scale = math.log(1 / cfg.temperature_floor)

    def finetune_parameters(self, num_layers: int) -> list[nn.Parameter]:
        """The tower parameters stage 2 trains: the last `num_layers` layers and the final norm (if any)."""
        layers, norm = tower_layers(self.tower)
        mods = list(layers[-num_layers:]) + ([norm] if norm is not None else [])
        return [p for m in mods for p in m.parameters()]

    def set_stage(self, stage: int, num_layers: int = 1) -> None:
        """Stage 1: the whole tower frozen. Stage 2: its last `num_layers` layers + final norm trainable."""
        self.tower.model.requires_grad_(False)
        if stage == 2:
            for p in self.finetune_parameters(num_layers):
                p.requires_grad_(True)

    def encode_text(self, captions: list[str], pooled: torch.Tensor | None = None) -> torch.Tensor:
        """captions -> (B, D_a) unit vectors; `pooled` (B, C) skips the tower (stage 1's precomputed vectors)."""
        if pooled is None:
            with torch.set_grad_enabled(torch.is_grad_enabled() and any(
                    p.requires_grad for p in self.tower.parameters())):
                pooled = self.tower.encode(captions)[2]                                # (B, C)
        return F.normalize(self.text_proj(pooled), dim=-1)

    def encode_motion(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x (B, T, D) feat_bias-normalised features, lengths (B,) -> (B, D_a) unit vectors."""
        return F.normalize(self.motion_encoder(x, lengths), dim=-1)


def info_nce(text_emb: torch.Tensor, motion_emb: torch.Tensor, logit_scale: torch.Tensor,
             same: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP, Radford et al. 2021): mean of the text->motion and motion->text cross-entropies of
    logits = scale * t m^T with the diagonal as targets. text_emb, motion_emb: (B, E) unit vectors; logit_scale:
    the scale (not its log); same: (B, B) bool, True where j must not be a negative of i (its diagonal is ignored).
    """
    logits = logit_scale * text_emb @ motion_emb.T                                     # (B, B)
    if same is not None:
        off = same & ~torch.eye(len(logits), dtype=torch.bool, device=logits.device)
        logits = logits.masked_fill(off, float("-inf"))
    target = torch.arange(len(logits), device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def clip_id(name: str) -> str:
    """The source clip of a dataset item name: '<letter>_<id>' sub-segments and 'M' mirrors map to the base id."""
    base = name.split("_", 1)[1] if len(name) > 2 and name[1] == "_" else name
    return base[1:] if base.startswith("M") else base


def false_negative_mask(captions: list[str], names: list[str]) -> torch.Tensor:
    """(B, B) bool: True where items i, j share a caption or come from the same clip (id, sub-segment, mirror)."""
    cap = np.array(captions, dtype=object)
    ids = np.array([clip_id(n) for n in names], dtype=object)
    return torch.from_numpy((cap[:, None] == cap[None, :]) | (ids[:, None] == ids[None, :]))


# ----------------------------------------------------------------------------------------------------------------
# Checkpoint: save, load, rebuild the fine-tuned tower
# ----------------------------------------------------------------------------------------------------------------

def file_hash(path) -> str:
    """First 12 hex digits of the file's sha256 (names MoCLIP-dependent caches and records which MoCLIP was used)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def save_moclip(model: MoCLIP, cfg: MoCLIPConfig, mean, std, metrics: dict, path) -> None:
    """Atomically write {kind, config, feat_dim, tower, tower_finetuned, text_proj, motion_encoder, logit_scale,
    mean, std, metrics}. Only the stage-2 tower parameters are stored (the rest is the named tower as shipped)."""
    tuned_ids = {id(p) for p in model.finetune_parameters(cfg.finetune_layers)}
    tuned = {k: p.detach().cpu() for k, p in model.tower.model.named_parameters() if id(p) in tuned_ids}
    blob = {"kind": "moclip", "config": asdict(cfg), "feat_dim": model.motion_encoder.feat_dim,
            "tower": cfg.text_encoder, "tower_finetuned": tuned if cfg.epochs_stage2 > 0 else {},
            "text_proj": model.text_proj.state_dict(), "motion_encoder": model.motion_encoder.state_dict(),
            "logit_scale": model.logit_scale.detach().cpu(), "mean": torch.as_tensor(mean),
            "std": torch.as_tensor(std), "metrics": metrics}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    os.replace(tmp, path)


def _read(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MoCLIP checkpoint {path} not found; train one with `python moclip.py` (train.py "
                                f"--method=luma does this itself)")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:                                                           # not a torch file at all
        raise ValueError(f"{path} is not a MoCLIP checkpoint ({type(err).__name__})") from None
    if not isinstance(blob, dict) or blob.get("kind") != "moclip":
        raise ValueError(f"{path} is not a MoCLIP checkpoint (written by moclip.py)")
    return blob


def tower_state(path) -> dict:
    """What rebuilds this MoCLIP's fine-tuned text tower without the MoCLIP file, for a generator's checkpoint to carry
    (train.py): {"base": the tower it started from ('' = the packaged MiniLM), "max_length", "finetuned": the
    parameters stage 2 changed (the last layer(s) and final norm, ~1.8 M for MiniLM), "sha": the MoCLIP file's hash}.
    Raises FileNotFoundError / ValueError for a missing or foreign file."""
    blob = _read(path)
    return {"base": blob["config"]["text_encoder"], "max_length": blob["config"]["text_max_length"],
            "finetuned": blob["tower_finetuned"], "sha": file_hash(path)}


def tower_from_state(state: dict, max_length: int | None = None) -> TextEncoder:
    """The frozen, fine-tuned tower of a tower_state, named '<tower>+moclip-<sha>' so that feature caches built with
    it are keyed by the MoCLIP checkpoint's content. Raises ValueError when the parameters do not fit the base tower."""
    tower = TextEncoder(state["base"] or None, max_length=max_length or state["max_length"])
    missing = set(state["finetuned"]) - set(tower.model.state_dict())
    if missing:
        raise ValueError(f"MoCLIP's fine-tuned tower parameters {sorted(missing)[:3]} do not fit {tower.name}")
    tower.model.load_state_dict(state["finetuned"], strict=False)
    tower.model.requires_grad_(False)
    tower.name = f"{tower.name}+moclip-{state['sha']}"
    return tower


def text_encoder_from_moclip(path, max_length: int | None = None) -> TextEncoder:
    """The fine-tuned, frozen text tower of a MoCLIP checkpoint (tower_from_state of its tower_state)."""
    return tower_from_state(tower_state(path), max_length)


def tower_for_checkpoint(record: dict, max_length: int) -> TextEncoder:
    """The MoCLIP tower of a LUMA checkpoint written before checkpoints carried it (train.py's "text_tower"), from its
    record {"path", "sha"}. Raises FileNotFoundError when that MoCLIP file is gone and ValueError when its content
    changed since training."""
    path = Path(record["path"])
    if not path.is_file():
        raise FileNotFoundError(f"the MoCLIP checkpoint {path} this model was trained with is gone; restore it (its "
                                f"sha256 starts {record['sha']}) or retrain the model")
    tower = text_encoder_from_moclip(path, max_length)
    if not tower.name.endswith(record["sha"]):
        raise ValueError(f"{path} changed since this model was trained (sha256 {tower.name.split('-')[-1]}..., "
                         f"expected {record['sha']}...): its text features would differ")
    return tower


def load_moclip(path, device="cpu") -> MoCLIP:
    """Rebuild a trained MoCLIP, frozen and in eval mode (for f_tem and for retrieval)."""
    blob = _read(path)
    saved = {"frame_stride": 1, **blob["config"]}                                  # written before frame_stride: 1
    cfg = MoCLIPConfig(**{k: v for k, v in saved.items() if k in {f.name for f in dataclasses.fields(MoCLIPConfig)}})
    model = MoCLIP(text_encoder_from_moclip(path), blob["feat_dim"], cfg)
    model.text_proj.load_state_dict(blob["text_proj"])
    model.motion_encoder.load_state_dict(blob["motion_encoder"])
    model.logit_scale.data.copy_(blob["logit_scale"])
    return model.requires_grad_(False).eval().to(device)


# ----------------------------------------------------------------------------------------------------------------
# Training. It reads the project's data (data.py), scores retrieval with evaluator.py, builds the embedded dataset
# (synthetic/) and reads options (runtime.py): those imports sit inside the functions below, so the model above copies
# out with text_encoder.py alone.
# ----------------------------------------------------------------------------------------------------------------

@torch.no_grad()
def embed_split(model: MoCLIP, dataset, device, batch_size: int = 64):
    """(text (N, D_a), motion (N, D_a)) for every item of `dataset` (a data.Text2MotionDataset) in order, one caption
    each (eval mode)."""
    from data import collate_fn
    model.eval()
    texts, motions = [], []
    for s in range(0, len(dataset), batch_size):
        batch = collate_fn([dataset[i] for i in range(s, min(s + batch_size, len(dataset)))])
        texts.append(model.encode_text(batch["caption"]).cpu())
        motions.append(model.encode_motion(batch["motion"].to(device), batch["length"].to(device)).cpu())
    return torch.cat(texts), torch.cat(motions)


def retrieval(model: MoCLIP, dataset, device, seed: int = 0) -> dict:
    """Text-to-motion R@1/2/3 in chunks of 32 over a shuffled split (LUMA Table 5's protocol; chance R@1 = 1/32)."""
    from evaluator import retrieval_metrics
    torch.manual_seed(seed)
    text, motion = embed_split(model, dataset, device)
    perm = torch.randperm(len(text), generator=torch.Generator().manual_seed(seed))
    return retrieval_metrics(text[perm], motion[perm], chunk=32, metric="cosine")


def train_moclip(cfg: MoCLIPConfig, progress: bool = True) -> Path:
    """Train MoCLIP on cfg.dataset's train split (two stages), report test retrieval, write the checkpoint.
    Returns its path."""
    from data import DATASETS, Text2MotionDataset, collate_fn, load_stats
    info = DATASETS[cfg.dataset]
    root = Path(cfg.data_root or info.default_root)
    if cfg.dataset == "synthetic":
        from synthetic.build import ensure_dataset
        ensure_dataset(root, num_motions=cfg.num_motions, seed=cfg.data_seed)  # the build train.py uses
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          "cpu" if cfg.device == "auto" else cfg.device)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    mean, std = load_stats(root, info, cfg.feat_bias)
    train_set = Text2MotionDataset(root, "train", info, mean, std, seed=cfg.seed)
    test_set = Text2MotionDataset(root, "test", info, mean, std, seed=cfg.seed + 1)
    tower = TextEncoder(cfg.text_encoder or None, max_length=cfg.text_max_length).to(device)
    model = MoCLIP(tower, info.feat_dim, cfg).to(device)
    # Stage 1 reuses the frozen tower's pooled vector of every caption.
    captions = sorted(set(train_set.captions()))
    pooled = {}
    with torch.no_grad():
        for s in tqdm(range(0, len(captions), 256), desc="MoCLIP text vectors", disable=not progress):
            chunk = captions[s:s + 256]
            pooled.update(zip(chunk, tower(chunk)[2].cpu()))
    loader = torch.utils.data.DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                                         collate_fn=collate_fn, generator=torch.Generator().manual_seed(cfg.seed))
    history, t0 = [], time.time()
    for stage, epochs, lr in ((1, cfg.epochs_stage1, cfg.lr), (2, cfg.epochs_stage2, cfg.lr_finetune)):
        if epochs <= 0:
            continue
        model.set_stage(stage, cfg.finetune_layers)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
        for epoch in range(epochs):
            model.train()
            total, n = 0.0, 0
            for batch in tqdm(loader, desc=f"MoCLIP stage {stage} epoch {epoch + 1}/{epochs}", disable=not progress,
                              leave=False):
                x, lengths = batch["motion"].to(device), batch["length"].to(device)
                text_pooled = torch.stack([pooled[c] for c in batch["caption"]]).to(device) if stage == 1 else None
                t_emb = model.encode_text(batch["caption"], text_pooled)
                m_emb = model.encode_motion(x, lengths)
                same = false_negative_mask(batch["caption"], batch["name"]).to(device) \
                    if cfg.mask_false_negatives else None
                loss = info_nce(t_emb, m_emb, model.logit_scale.exp(), same)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                with torch.no_grad():
                    model.logit_scale.clamp_(max=model.max_logit_scale)
                total, n = total + loss.item(), n + 1
            history.append({"stage": stage, "epoch": epoch + 1, "loss": total / max(n, 1),
                            "temperature": 1 / model.logit_scale.exp().item(), "seconds": time.time() - t0})
            print(f"MoCLIP stage {stage} epoch {epoch + 1}/{epochs}: loss {total / max(n, 1):.4f}, "
                  f"tau {history[-1]['temperature']:.3f}, {time.time() - t0:.0f} s", flush=True)
    metrics = retrieval(model, test_set, device, cfg.seed)
    metrics.update(train_seconds=round(time.time() - t0, 1), history=history)
    out = Path(cfg.out or f"checkpoints/moclip/{cfg.dataset}_seed{cfg.seed}.pt")
    save_moclip(model, cfg, mean, std, metrics, out)
    print(f"MoCLIP test retrieval (chunks of 32, chance R@1 0.031): R@1 {metrics['R@1']:.3f}  R@2 {metrics['R@2']:.3f}"
          f"  R@3 {metrics['R@3']:.3f}  ({metrics['train_seconds']:.0f} s) -> {out}")
    return out


def parse_config(argv: list[str]) -> MoCLIPConfig:
    """MoCLIPConfig from `--key=value` options (runtime.py); SystemExit naming a bad key, value or dataset."""
    import runtime
    from data import DATASETS
    cfg = runtime.parse(argv, MoCLIPConfig(), prog="moclip.py")
    runtime.check_choices(cfg, "moclip.py", dataset=DATASETS)
    return cfg


if __name__ == "__main__":
    train_moclip(parse_config(sys.argv[1:]))
