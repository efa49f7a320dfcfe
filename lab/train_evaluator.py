"""Train the text-motion evaluator of Guo et al. 2022 from scratch, where no released one exists (the embedded
dataset), and write it in the official layout that evaluator.load_evaluator reads (evaluator.py's docstring). A
research tool: it makes the instrument every result table of the embedded dataset is measured with.

Training follows T2M's recipe: a movement auto-encoder (train_decomp_v3.py: 24-frame windows, L1 reconstruction + 0.001 sparsity + 0.001
smoothness), then text-motion matching (train_tex_mot_match.py: Adam 1e-4, batch 32, grad clip 0.5, contrastive loss
with margin 10 on shifted negatives, frozen movement encoder, `finest` = lowest validation loss), except as below.

Choices made here (documented in the README too):
- A trained evaluator's mean/std are computed from the train split with the HumanML3D recipe (per-dim mean, std
  averaged within each feature group, root and foot-contact std divided by feat_bias=5 once). The official t2m stats
  are ~Std/25 on those dims by accident (T2M's data/dataset.py divides one array in place twice); we do not copy the
  accident.
- Without GloVe vectors, word embeddings (300-d) are learned with the text encoder over the train split's words and
  saved as <dir>/<name>/glove/our_vab_* so WordVectorizer loads them like GloVe.
- `finest` = highest validation R@3 (ties: lower loss): on embedded v2 the loss bottomed at epoch 2 of 5 while R@3
  kept rising. Matching: Adam, cosine decay from 3e-4 over 15 epochs (63 batches an epoch here, far fewer steps than
  T2M; a constant 3e-4 swung R@3 between 0.65 and 0.83); 4 validation passes with fixed draws, the same every epoch.

    python -m lab.train_evaluator --dataset=synthetic      # ~20 min on 2 idle cores; then one real-motion check
    python -m lab.train_evaluator --match_epochs=3 --check=false
The weights depend on torch's CPU thread count (kept in train_config.json as torch_threads): the result rows'
evaluator (sha256 b4710cfc) is rebuilt with OMP_NUM_THREADS=1 (~44 min); the default 2 threads give another one.
Test: python -m pytest -q tests/test_evaluate.py -k train_evaluator
"""
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

import runtime
from data import DATASETS, DatasetInfo, load_split
from evaluator import (EvalDataset, Evaluator, MovementConvDecoder, WordVectorizer, eval_loader, evaluator_name,
                       save_vocabulary)
from motion import feature_slices
from runtime import save_atomic


@dataclass
class TrainEvaluatorConfig:
    ae_iters: int = 300           # movement auto-encoder steps (T2M trains it for many epochs; few suffice here)
    ae_batch_size: int = 128      # 24-frame windows per auto-encoder step
    ae_window: int = 24           # window length in frames (T2M MotionDataset window_size)
    lambda_sparsity: float = 0.001  # weight of mean |latent|
    lambda_smooth: float = 0.001  # weight of L1 between consecutive latents
    match_epochs: int = 15        # text-motion matching epochs (T2M max_epoch 300; 75 steps each on the embedded train)
    match_lr: float = 3e-4        # peak Adam lr of the text and motion encoders, cosine to 0 (T2M: constant 1e-4)
    val_passes: int = 4           # validation passes per epoch, each with its own fixed caption draws and batches
    word_lr: float = 1e-3         # Adam lr of learned word embeddings (unused with GloVe)
    margin: float = 10.0          # contrastive loss margin for mismatched pairs
    grad_clip: float = 0.5        # gradient-norm clip per encoder
    word_vectors: str = "auto"    # auto (GloVe if <evaluator_dir>/glove is complete, else learned) | glove | learned
    feat_bias: float = 5.0        # root/contact std divided by this in the evaluator's own stats (once, see docstring)


def compute_evaluator_stats(items: list[dict], kind: str, feat_bias: float = 5.0):
    """HumanML3D's cal_mean_variance over all frames of `items`: (mean, std) np.float32 (D,), std averaged within
    each feature group, root_rot_vel / root_lin_vel / root_y / foot_contact std divided by feat_bias."""
    frames = np.concatenate([item["motion"] for item in items]).astype(np.float64)  # (sum F, D)
    mean, std = frames.mean(0), frames.std(0)
    for name, g in feature_slices(kind).items():
        biased = name in ("root_rot_vel", "root_lin_vel", "root_y", "foot_contact")
        std[g] = std[g].mean() / (feat_bias if biased else 1.0)
    if not (std > 0).all():
        raise ValueError(f"compute_evaluator_stats: zero std in feature dims {np.flatnonzero(std <= 0)[:10]}")
    return mean.astype(np.float32), std.astype(np.float32)


def contrastive_loss(a: torch.Tensor, b: torch.Tensor, label: float, margin: float) -> torch.Tensor:
    """Hadsell et al. 2006: label 0 (matching) -> d^2, label 1 (mismatched) -> max(0, margin - d)^2; mean over B."""
    d = F.pairwise_distance(a, b)  # (B,)
    return torch.mean((1 - label) * d.pow(2) + label * torch.clamp(margin - d, min=0).pow(2))


def train_evaluator(root, info: DatasetInfo, evaluator_dir, cfg: TrainEvaluatorConfig = TrainEvaluatorConfig(),
                    seed: int = 0, device="cpu") -> Path:
    """Train Guo's evaluator on <root> (train split; val split picks `finest`) and write it in the official layout
    under <evaluator_dir>/<evaluator_name(info)>. Returns the path of finest.tar. Prints one line per epoch."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    out = Path(evaluator_dir) / evaluator_name(info)
    t_start = time.time()
    train_items, val_items = load_split(root, "train", info), load_split(root, "val", info)
    mean, std = compute_evaluator_stats(train_items, info.kind, cfg.feat_bias)
    (out / "meta").mkdir(parents=True, exist_ok=True)
    np.save(out / "meta" / "mean.npy", mean)
    np.save(out / "meta" / "std.npy", std)

    # Vocabulary: the shared GloVe vectors, or words of the train split with embeddings learned below.
    glove_dir = Path(evaluator_dir) / "glove"
    has_glove = all((glove_dir / f"our_vab_{s}").is_file() for s in ("data.npy", "words.pkl", "idx.pkl"))
    if cfg.word_vectors not in ("auto", "glove", "learned"):
        raise ValueError(f"word_vectors must be auto | glove | learned, got {cfg.word_vectors!r}")
    learned = cfg.word_vectors == "learned" or (cfg.word_vectors == "auto" and not has_glove)
    if learned:
        words = ["sos", "eos", "unk"] + sorted({t.rpartition("/")[0] for it in train_items for c in it["captions"]
                                               for t in c["tokens"]} - {"sos", "eos", "unk"})
        word_emb = nn.Embedding(len(words), 300).to(device)
        nn.init.normal_(word_emb.weight, std=0.3)  # ~GloVe's norm scale
        save_vocabulary(out / "glove", words, word_emb.weight.detach().cpu().numpy())
        wv = WordVectorizer(out / "glove")
    else:
        wv = WordVectorizer(glove_dir)  # raises if word_vectors="glove" and GloVe is missing
    print(f"evaluator {out.name}: {len(train_items)} train / {len(val_items)} val items, "
          f"{'learned' if learned else 'GloVe'} word vectors ({len(wv.words)} words)")

    # ---- stage 1: movement auto-encoder on random 24-frame windows
    ev = Evaluator(info.feat_dim, mean, std, wv, info.unit_length).to(device)
    decoder = MovementConvDecoder(512, 512, info.feat_dim).to(device)
    opt = torch.optim.Adam(list(ev.movement_encoder.parameters()) + list(decoder.parameters()), lr=1e-4)
    normed = [(it["motion"] - mean) / std for it in train_items]
    ev.movement_encoder.train()
    for it in (bar := tqdm(range(cfg.ae_iters), desc="movement auto-encoder")):
        picks = rng.integers(len(normed), size=cfg.ae_batch_size)
        starts = [rng.integers(len(normed[i]) - cfg.ae_window + 1) for i in picks]
        x = torch.from_numpy(np.stack([normed[i][s:s + cfg.ae_window] for i, s in zip(picks, starts)])).to(device)
        latents = ev.movement_encoder(x[..., :-4])  # (B, window/4, 512)
        loss_rec = F.l1_loss(decoder(latents), x)
        loss = loss_rec + cfg.lambda_sparsity * latents.abs().mean() + \
            cfg.lambda_smooth * F.l1_loss(latents[:, 1:], latents[:, :-1])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if it % 50 == 0:
            bar.set_postfix(rec=f"{loss_rec.item():.4f}")
    save_atomic(out / "Decomp_SP001_SM001_H512" / "model" / "latest.tar", {
        "movement_enc": ev.movement_encoder.state_dict(), "movement_dec": decoder.state_dict(), "iter": cfg.ae_iters})
    t_ae = time.time() - t_start

    # ---- stage 2: text-motion matching with a frozen movement encoder
    ev.movement_encoder.eval().requires_grad_(False)
    params = [{"params": list(ev.text_encoder.parameters()) + list(ev.motion_encoder.parameters()), "lr": cfg.match_lr}]
    if learned:
        params.append({"params": word_emb.parameters(), "lr": cfg.word_lr})
    opt = torch.optim.Adam(params)
    train_set = EvalDataset(train_items, info, mean, std, wv, seed=seed, word_ids=learned)
    val_set = EvalDataset(val_items, info, mean, std, wv, seed=seed, word_ids=learned)

    def run_batch(batch, train: bool):
        words, pos_ohot, _, cap_lens, motions, m_lens, _ = batch
        with torch.set_grad_enabled(train):
            word_embs = word_emb(words.to(device)) if learned else words.to(device)  # (B, L, 300)
            movements = ev.movement_encoder(motions[..., :-4].to(device))  # (B, T/4, 512), frozen
            motion_emb = ev.motion_encoder(movements, torch.div(m_lens, info.unit_length, rounding_mode="floor"))
            text_emb = ev.text_encoder(word_embs, pos_ohot.to(device), cap_lens)
            # Negatives: motions rolled by a random shift in [0, B-2] (T2M; a shift of 0 happens 1 time in B-1).
            shift = int(rng.integers(0, len(motion_emb) - 1))
            rolled = motion_emb[(torch.arange(len(motion_emb)) + shift) % len(motion_emb)]
            loss_pos = contrastive_loss(text_emb, motion_emb, 0.0, cfg.margin)
            loss_neg = contrastive_loss(text_emb, rolled, 1.0, cfg.margin)
        return loss_pos, loss_neg, text_emb.detach(), motion_emb.detach()

    best, step, t_match = (-1.0, -float("inf")), 0, time.time()
    finest = out / "text_mot_match" / "model" / "finest.tar"
    for epoch in range(cfg.match_epochs):
        train_set.set_seed(seed * 1000 + epoch)
        ev.text_encoder.train(), ev.motion_encoder.train()
        sums = np.zeros(2)
        for batch in tqdm(eval_loader(train_set, 32, seed=seed * 1000 + epoch), desc=f"matching epoch {epoch}",
                          leave=False):
            decay = 0.5 * (1 + math.cos(math.pi * step / (cfg.match_epochs * (len(train_set) // 32))))
            for group, base_lr in zip(opt.param_groups, (cfg.match_lr, cfg.word_lr)):
                group["lr"] = base_lr * decay
            loss_pos, loss_neg, _, _ = run_batch(batch, train=True)
            opt.zero_grad(set_to_none=True)
            (loss_pos + loss_neg).backward()
            for net in (ev.text_encoder, ev.motion_encoder):
                nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()
            sums, step = sums + [loss_pos.item(), loss_neg.item()], step + 1
        n_train = len(train_set) // 32
        ev.text_encoder.eval(), ev.motion_encoder.eval()
        val_loss, top, n_val = 0.0, np.zeros(3), 0
        for val_pass in range(cfg.val_passes):  # the same draws every epoch, so epochs compare on equal terms
            val_set.set_seed(seed * 1000 + 500 + val_pass)
            for batch in eval_loader(val_set, 32, seed=val_pass):
                loss_pos, loss_neg, text_emb, motion_emb = run_batch(batch, train=False)
                val_loss += (loss_pos + loss_neg).item()
                dist = torch.cdist(text_emb, motion_emb)  # (B, B) text i vs motion j
                rank = (dist < dist.diagonal()[:, None]).sum(1)  # motions closer than the paired one
                top, n_val = top + [(rank < k).sum().item() for k in (1, 2, 3)], n_val + len(rank)
        val_loss /= max(n_val // 32, 1)
        msg = (f"epoch {epoch:>3} | pos {sums[0] / n_train:.3f} neg {sums[1] / n_train:.3f} | val loss {val_loss:.3f} "
               f"| val R@1/2/3 {top[0] / max(n_val, 1):.3f}/{top[1] / max(n_val, 1):.3f}/{top[2] / max(n_val, 1):.3f}"
               f" | {(time.time() - t_match) / (epoch + 1):.1f} s/epoch")
        score = (top[2] / max(n_val, 1), -val_loss)  # highest R@3 first, then lowest loss
        if score > best:
            best = score
            save_atomic(finest, {"movement_encoder": ev.movement_encoder.state_dict(),
                                 "text_encoder": ev.text_encoder.state_dict(),
                                 "motion_encoder": ev.motion_encoder.state_dict(), "epoch": epoch, "iter": step})
            if learned:  # the vocabulary must match the text encoder saved beside it
                save_vocabulary(out / "glove", words, word_emb.weight.detach().cpu().numpy())
            msg += " | saved finest"
        print(msg, flush=True)
    (out / "text_mot_match" / "train_config.json").write_text(json.dumps(
        {**asdict(cfg), "seed": seed, "data_root": str(root), "word_vectors_used": "learned" if learned else "glove",
         "torch_threads": torch.get_num_threads(),  # the weights (and the sha256) change with the thread count
         "best_val_R3": best[0], "best_val_loss": -best[1], "autoencoder_s": round(t_ae, 1),
         "matching_s": round(time.time() - t_match, 1), "total_s": round(time.time() - t_start, 1)}, indent=2))
    print(f"evaluator written to {out} in {time.time() - t_start:.0f} s (auto-encoder {t_ae:.0f} s)")
    return finest


@dataclass
class RunConfig:
    dataset: str = "synthetic"        # the dataset whose train split trains the evaluator (val picks `finest`)
    data_root: str = ""               # '' -> the dataset's default root (the embedded one is built if absent)
    evaluator_dir: str = "./checkpoints/evaluator"  # written as <dir>/<name>/... (evaluator.py's layout)
    seed: int = 0                     # seeds the training and the check
    device: str = "cpu"               # cpu | cuda | mps
    check: bool = True                # then one replication of real motions (test vs train split) as a check


def main(argv: list[str]) -> None:
    run, cfg = runtime.parse(argv, RunConfig(), TrainEvaluatorConfig(), prog="lab/train_evaluator.py")
    runtime.check_choices(run, "lab/train_evaluator.py", dataset=DATASETS)
    info = DATASETS[run.dataset]
    root = Path(run.data_root or info.default_root)
    if info.name == "synthetic" and not root.exists():
        from synthetic.build import ensure_dataset  # only the embedded dataset is generated
        ensure_dataset(root)
    train_evaluator(root, info, run.evaluator_dir, cfg, run.seed, run.device)
    if run.check:  # one short check: real R-Precision and FID, real test vs real train
        from evaluate import EvalConfig, run_evaluation
        run_evaluation(EvalConfig(dataset=info.name, data_root=str(root), evaluator_dir=run.evaluator_dir,
                                  replication_times=1, compare_split="train", seed=run.seed, device=run.device))
    print(f"evaluator ready in {run.evaluator_dir}/{evaluator_name(info)}. The full protocol (20 replications, "
          f"MultiModality) of a model:\n  python evaluate.py --ckpt out/{info.name}/ckpt.pt\nthe real-motion "
          f"table alone: python evaluate.py --dataset={info.name} --compare_split=train")


if __name__ == "__main__":
    main(sys.argv[1:])
