"""Gradient flow through the U-Net, block by block: LUMA's gradient analysis (arXiv 2509.25304, sec. 4.3, Fig. 3
and 8, appendix G).

LUMA's claim: in the StableMoFusion U-Net trained with the plain diffusion loss, the deep down-sampling and bottleneck
blocks receive gradients one to two orders of magnitude smaller than the up-sampling path, some below 1% of the mean
("vanishing"); the Dual Anchor Loss raises them to the up path's level. This script measures that on train.py
checkpoints, under conditions identical for every checkpoint:

    one fixed batch of B training items (same items, captions, crops: seed), one fixed noise eps (B, T, D),
    for each t in --timesteps, every sample at that t:
        x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps                              (DDPM eq. 4)
        L_DDPM = mean_B mean_{valid frames} mean_D (x0_pred(x_t, t, text) - x0)^2  (diffusion.GaussianDiffusion.loss)
        backprop L_DDPM, then for every block b:  ||g_b|| = sqrt(sum_{p in b} ||dL/dp||_2^2)
        flag b when ||g_b|| < 1% of the mean of ||g_.|| over the blocks of that checkpoint at that t (paper's line)

Text is conditioned as in training: the frozen TextEncoder for a baseline, the MoCLIP tower for a LUMA checkpoint
(sample.load_generator rebuilds either, with the cache's float16 rounding). The network runs in eval mode by default
(no dropout, every row sees its caption) so the checkpoints are compared on the same computation; --train_mode=True
switches dropout and the 10% condition dropping on, with the same random draws for every checkpoint.

What is measured, and what the paper's figure shows. By default only L_DDPM is backpropagated: the gradient the
trained network itself produces, which is what sampling-time quality depends on. The anchors' projectors are
training-only (train.py keeps them out of the sampled network), and their extra gradient exists only while zeta(n) > 0.
Appendix G records gradients with hooks during training (after 40k steps), so Fig. 3's "with DAL" panel most likely
holds the full training gradient, L_DDPM + zeta(n)(lambda_fre L_fre + lambda_tem L_tem) (eq. 10). --include_anchors=True
adds that term for checkpoints holding "anchors" state (others keep L_DDPM; the CSV's objective column says which),
weighted by zeta(--anchor_step): 0 = full weight; -1 = the checkpoint's own step, where a finished cosine run has
zeta = 0. The anchors read one down-level feature, so they add gradient only to the blocks up to that level.

Blocks (--group_by=part, printed at start): time_mlp, text_adapter; down{i}.res (both ResidualTemporalBlocks),
down{i}.attn (both cross-attentions), down{i}.downsample; mid.res, mid.attn; up{i}.upsample, up{i}.res, up{i}.attn
(up{i} is the level that reads down{i}'s skip, listed in forward order up3..up0); final_conv. --group_by=level
merges each level's parts. The norm is that of the parameter gradients (weights and biases) of the group.

    python -m lab.gradient_flow --ckpts=out/base/ckpt.pt,out/luma/ckpt.pt --timesteps=50,250,500,750 \
        --out=out/gradient_flow
    python -m lab.gradient_flow --ckpts=out/luma/ckpt.pt --include_anchors=True --anchor_step=0
writes <out>/grad_flow.csv (ckpt, t, block, grad_norm, below_1pct_of_mean, grad_rms, n_params, objective, loss),
<out>/grad_flow.md and <out>/grad_flow.png (log-scale bars, one panel per t, checkpoints side by side).

Test: python -m pytest tests/test_gradient_flow.py -q
"""
import csv
import dataclasses
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

import runtime


@dataclass
class GradFlowConfig:
    ckpts: str = ""                   # comma list of train.py checkpoints (e.g. a baseline and a LUMA run)
    labels: str = ""                  # comma list of names for them; '' -> each checkpoint's run directory name
    timesteps: str = "50,250,500,750" # diffusion steps t in [0, T-1]; all samples of the batch at the same t
    batch_size: int = 32              # training items in the fixed batch
    split: str = "train"              # the split the batch comes from
    seed: int = 0                     # picks the items, their captions and crops, and the noise eps
    weights: str = "model"            # model (the optimiser's weights, whose gradients training sees) | ema
    group_by: str = "part"            # part: res / attn / resample of each level | level: one group per level
    train_mode: bool = False          # dropout and condition dropping on (same draws for every checkpoint)
    include_anchors: bool = False     # also backprop LUMA's anchor loss (checkpoints with "anchors" state)
    anchor_step: int = 0              # n of zeta(n) weighting that loss: 0 = full weight, -1 = the checkpoint's step
    out: str = "out/gradient_flow"    # output folder for grad_flow.csv / .md / .png
    device: str = "cpu"               # cpu | cuda | mps


def parse_config(argv: list[str]) -> GradFlowConfig:
    """GradFlowConfig from `--key=value` options (runtime.py); SystemExit naming a bad key, value or choice."""
    cfg = runtime.parse(argv, GradFlowConfig(), prog="lab/gradient_flow.py")
    runtime.check_choices(cfg, "lab/gradient_flow.py", weights=("model", "ema"), group_by=("part", "level"))
    return cfg


# ----------------------------------------------------------------------------------------------------------------
# Blocks: U-Net parameters grouped by module path
# ----------------------------------------------------------------------------------------------------------------
def block_name(param_name: str, num_levels: int, by: str = "part") -> str:
    """CondUnet1D parameter path -> block name, e.g. 'downs.3.1.attn.key.weight' -> 'down3.attn',
    'ups.0.0.weight' -> 'up3.upsample' (ups[j] reads the skip of level num_levels - 1 - j), 'mid.0.res...' ->
    'mid.res'. by='level' drops the part ('down3'). Paths outside the known layout keep their first component."""
    parts = param_name.split(".")
    if parts[0] in ("downs", "ups") and len(parts) > 3:
        j, k = int(parts[1]), int(parts[2])
        level = f"down{j}" if parts[0] == "downs" else f"up{num_levels - 1 - j}"
        resample = (parts[0] == "downs" and k == 2) or (parts[0] == "ups" and k == 0)
        part = ("downsample" if parts[0] == "downs" else "upsample") if resample else parts[3]   # res | attn
    elif parts[0] == "mid" and len(parts) > 2:
        level, part = "mid", parts[2]
    else:
        return parts[0]                                                  # time_mlp, text_adapter, final_conv
    return level if by == "level" else f"{level}.{part}"


def block_groups(model: torch.nn.Module, by: str = "part") -> dict[str, list[tuple[str, torch.nn.Parameter]]]:
    """{block: [(path, parameter), ...]} in the network's forward order (CondUnet1D's registration order)."""
    num_levels = len(getattr(model, "downs", []))
    groups: dict[str, list] = {}
    for name, p in model.named_parameters():
        groups.setdefault(block_name(name, num_levels, by), []).append((name, p))
    return groups


def describe_groups(groups: dict) -> str:
    """One line per block: name, tensors, scalar parameters, first and last parameter path."""
    return "\n".join(f"  {name:<20} {len(ps):>3} tensors {sum(p.numel() for _, p in ps):>10,} params   "
                     f"{ps[0][0]} .. {ps[-1][0]}" for name, ps in groups.items())


def block_grad_norms(groups: dict) -> dict[str, float]:
    """L2 norm of each block's parameter gradients after backward(); a parameter without .grad (frozen, or not on
    the loss's graph) contributes 0."""
    out = {}
    for name, ps in groups.items():
        sq = sum(float(p.grad.detach().double().pow(2).sum()) for _, p in ps if p.grad is not None)
        out[name] = math.sqrt(sq)
    return out


def flag_vanishing(norms: dict[str, float], fraction: float = 0.01) -> dict[str, bool]:
    """{block: norm < fraction * mean(norms)}: the paper's vanishing-gradient line (1% of the mean block norm)."""
    mean = sum(norms.values()) / max(len(norms), 1)
    return {name: v < fraction * mean for name, v in norms.items()}


# ----------------------------------------------------------------------------------------------------------------
# One checkpoint: fixed batch, fixed noise, one backward per timestep
# ----------------------------------------------------------------------------------------------------------------
def fixed_batch(dataset, batch_size: int, seed: int) -> dict:
    """The same B items for every checkpoint: indices from randperm(seed), keys (0, i) so that caption and crop are
    a function of (dataset seed, 0, i) (data.Text2MotionDataset). Returns data.collate_fn's dict."""
    from data import collate_fn
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:batch_size]
    return collate_fn([dataset[(0, int(i))] for i in order])


def anchor_term(ckpt: dict, gen, device):
    """(DualAnchors with the checkpoint's weights, frozen MoCLIP, anchor level index, TrainConfig) of a LUMA
    checkpoint, rebuilt as train.py builds them; None when the checkpoint holds no anchors state."""
    if ckpt.get("anchors") is None:
        return None
    import train
    from moclip import load_moclip
    known = {f.name for f in dataclasses.fields(train.TrainConfig)}
    cfg = train.TrainConfig(**{k: v for k, v in ckpt["config"].items() if k in known})
    moclip_model = load_moclip(ckpt["moclip"]["path"], device)
    anchors = train.build_anchors(cfg, ckpt["model_args"], gen.info, moclip_model.text_proj.out_features)
    anchors.load_state_dict(ckpt["anchors"])
    return anchors.to(device).eval(), moclip_model, train.ANCHOR_LEVELS.index(cfg.anchor_level), cfg


def measure(model, diffusion, batch: dict, text, text_mask, noise, timesteps: list[int], groups: dict,
            train_mode: bool = False, seed: int = 0, anchors=None, anchor_step: int = 0) -> list[dict]:
    """Backprop the diffusion loss (plus the anchor loss when `anchors` = anchor_term(...)) at each t for the whole
    batch; returns one row per (t, block): {t, block, grad_norm, below_1pct_of_mean, grad_rms, n_params, objective,
    loss}. batch: collate_fn dict (motion (B, T, D), mask (B, T), length (B,)); text (B, L, C), text_mask (B, L);
    noise (B, T, D)."""
    device = noise.device
    x0, mask = batch["motion"].to(device), batch["mask"].to(device)                  # (B, T, D), (B, T)
    lengths = batch["length"].to(device)                                             # (B,)
    model.train(train_mode)
    rows = []
    for t in timesteps:
        if not 0 <= t < diffusion.num_timesteps:
            raise ValueError(f"gradient_flow: timestep {t} outside [0, {diffusion.num_timesteps - 1}]")
        t_batch = torch.full((x0.shape[0],), t, dtype=torch.long, device=device)   # (B,) every sample at t
        feats = {}

        def model_fn(x_t, t_):
            if anchors is None:
                return model(x_t, t_, text, text_mask)
            out, features = model(x_t, t_, text, text_mask, return_features=True)
            feats["h"] = features[anchors[2]]                                        # (B, C, T') anchor input
            return out

        torch.manual_seed(seed)               # train_mode: the same dropout / condition draws for every checkpoint
        model.zero_grad(set_to_none=True)
        loss, extras = diffusion.loss(model_fn, x0, mask, t=t_batch, noise=noise)
        objective = "L_DDPM"
        if anchors is not None:                                                      # LUMA eq. 10
            dual, moclip_model, _, cfg = anchors
            target = moclip_model.encode_motion(x0, lengths) if cfg.anchor_tem else None   # (B, D_a), frozen
            terms = dual(feats.pop("h").float(), extras["t"], x0, lengths, target)
            loss = loss + dual.total(terms, anchor_step)
            objective = f"L_DDPM+zeta({anchor_step})*DAL"
        loss.backward()
        norms = block_grad_norms(groups)
        flags = flag_vanishing(norms)
        for name, value in norms.items():
            n = sum(p.numel() for _, p in groups[name])
            rows.append({"t": t, "block": name, "grad_norm": value, "below_1pct_of_mean": flags[name],
                         "grad_rms": value / math.sqrt(n), "n_params": n, "objective": objective,
                         "loss": float(loss.detach())})
    model.zero_grad(set_to_none=True)
    return rows


# ----------------------------------------------------------------------------------------------------------------
# Outputs: CSV, Markdown, plot
# ----------------------------------------------------------------------------------------------------------------
COLUMNS = ["ckpt", "t", "block", "grad_norm", "below_1pct_of_mean", "grad_rms", "n_params", "objective", "loss"]


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def format_markdown(rows: list[dict]) -> str:
    """Blocks down, (t, checkpoint) across; a value below 1% of its column's mean block norm is bold with '<1%'."""
    labels = list(dict.fromkeys(r["ckpt"] for r in rows))
    ts = list(dict.fromkeys(r["t"] for r in rows))
    blocks = list(dict.fromkeys(r["block"] for r in rows))
    cell = {(r["ckpt"], r["t"], r["block"]): r for r in rows}
    cols = [(t, c) for t in ts for c in labels]
    lines = ["| block | " + " | ".join(f"t={t} {c}" for t, c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for b in blocks:
        vals = [cell.get((c, t, b)) for t, c in cols]
        lines.append(f"| {b} | " + " | ".join("-" if r is None else (f"**{r['grad_norm']:.2e} <1%**" if
                                                                        r["below_1pct_of_mean"] else
                                                                        f"{r['grad_norm']:.2e}") for r in vals) + " |")
    for what in ("mean", "flagged", "loss"):
        vals = []
        for t, c in cols:
            rs = [r for r in rows if r["ckpt"] == c and r["t"] == t]
            vals.append(f"{sum(r['grad_norm'] for r in rs) / len(rs):.2e}" if what == "mean" else
                        str(sum(r["below_1pct_of_mean"] for r in rs)) if what == "flagged" else f"{rs[0]['loss']:.4f}")
        name = {"mean": "*mean block norm*", "flagged": "*blocks < 1% of mean*", "loss": "*loss*"}[what]
        lines.append(f"| {name} | " + " | ".join(vals) + " |")
    objectives = sorted({f"{r['ckpt']}: {r['objective']}" for r in rows})
    return ("Gradient L2 norm per U-Net block (lab/gradient_flow.py; LUMA sec. 4.3, Fig. 3/8). Objective: "
            + "; ".join(objectives) + ".\n\n" + "\n".join(lines) + "\n")


def plot(rows: list[dict], path: Path) -> None:
    """One panel per t, blocks on x (down path shaded red, up path blue, as the paper's Fig. 3), the checkpoints'
    bars side by side on a log y axis; a dashed line per checkpoint at 1% of its mean, flagged bars marked 'x',
    norms below the panel's floor (9 decades under its largest) drawn at it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    labels = list(dict.fromkeys(r["ckpt"] for r in rows))
    ts = list(dict.fromkeys(r["t"] for r in rows))
    blocks = list(dict.fromkeys(r["block"] for r in rows))
    cell = {(r["ckpt"], r["t"], r["block"]): r for r in rows}
    fig, axes = plt.subplots(len(ts), 1, figsize=(max(8, 0.38 * len(blocks) * max(1, len(labels) / 2)),
                                                  3.2 * len(ts)), squeeze=False)
    width = 0.8 / len(labels)
    for ax, t in zip(axes[:, 0], ts):
        positive = [r["grad_norm"] for r in rows if r["t"] == t and r["grad_norm"] > 0]
        floor = max(min(positive) / 10, max(positive) * 1e-9) if positive else 1e-12   # 9 decades at most
        for i, b in enumerate(blocks):
            if b.startswith("down"):
                ax.axvspan(i - 0.5, i + 0.5, color="tab:red", alpha=0.07, lw=0)
            elif b.startswith("up"):
                ax.axvspan(i - 0.5, i + 0.5, color="tab:blue", alpha=0.07, lw=0)
        for k, c in enumerate(labels):
            xs = [i - 0.4 + width * (k + 0.5) for i in range(len(blocks))]
            vals = [max(cell[(c, t, b)]["grad_norm"], floor) if (c, t, b) in cell else floor for b in blocks]
            ax.bar(xs, vals, width, label=c, color=f"C{k}")
            mean = sum(cell[(c, t, b)]["grad_norm"] for b in blocks if (c, t, b) in cell) / len(blocks)
            ax.axhline(0.01 * mean, color=f"C{k}", ls="--", lw=1)
            flagged = [(x, floor) for x, b in zip(xs, blocks) if (c, t, b) in cell and cell[(c, t, b)][
                "below_1pct_of_mean"]]
            if flagged:
                ax.plot(*zip(*flagged), "x", color="black", ms=6)
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor / 2)
        ax.set_ylabel("grad L2 norm")
        ax.set_title(f"t = {t}   (dashed: 1% of each checkpoint's mean block norm; x: below it)", fontsize=9)
        ax.set_xticks(range(len(blocks)))
        ax.set_xticklabels(blocks, rotation=60, ha="right", fontsize=7)
        ax.set_xlim(-0.6, len(blocks) - 0.4)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------------------------
# Script
# ----------------------------------------------------------------------------------------------------------------
def main(argv: list[str]) -> list[dict]:
    cfg = parse_config(argv)
    from data import Text2MotionDataset
    from sample import load_generator
    paths = [p for p in cfg.ckpts.split(",") if p]
    if not paths:
        sys.exit("gradient_flow.py: give --ckpts=a/ckpt.pt,b/ckpt.pt")
    labels = [s for s in cfg.labels.split(",") if s] or [Path(p).parent.name or f"ckpt{i}" for i, p in enumerate(paths)]
    if len(labels) != len(paths) or len(set(labels)) != len(labels):
        sys.exit(f"gradient_flow.py: need one distinct label per checkpoint, got {labels} for {len(paths)}")
    timesteps = [int(t) for t in re.split(r"[,\s]+", cfg.timesteps.strip()) if t]
    device = torch.device(cfg.device)
    datasets, rows, reference = {}, [], None
    for path, label in zip(paths, labels):
        try:
            gen = load_generator(path, device, use_ema=cfg.weights == "ema")
        except (FileNotFoundError, ValueError) as err:
            sys.exit(f"gradient_flow.py: {err}")
        if not hasattr(gen, "diffusion"):
            sys.exit(f"gradient_flow.py: {path} is not a diffusion U-Net checkpoint of train.py")
        if gen.data_root not in datasets:                # load the split once; each checkpoint's statistics apply
            datasets[gen.data_root] = Text2MotionDataset(gen.data_root, cfg.split, gen.info, gen.mean, gen.std,
                                                         seed=cfg.seed)
        dataset = datasets[gen.data_root]
        dataset.mean, dataset.std = gen.mean, gen.std
        batch = fixed_batch(dataset, cfg.batch_size, cfg.seed)
        if reference is None:
            reference = batch
            gen_noise = torch.Generator().manual_seed(cfg.seed + 1)
            noise = torch.randn(batch["motion"].shape, generator=gen_noise).to(device)        # (B, T, D) fixed eps
        elif batch["caption"] != reference["caption"] or not torch.equal(batch["length"], reference["length"]):
            sys.exit(f"gradient_flow.py: {path} reads other data ({gen.data_root}) than {paths[0]}: no common batch")
        text, text_mask = gen.encode_text(batch["caption"])                                   # (B, L, C), (B, L)
        groups = block_groups(gen.model, cfg.group_by)
        if not rows:
            print(f"blocks ({cfg.group_by}):\n{describe_groups(groups)}")
        anchors = None
        if cfg.include_anchors:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            anchors = anchor_term(ckpt, gen, device)
            if anchors is None:
                print(f"{label}: no anchors state in {path}; its gradient is L_DDPM alone")
        step = cfg.anchor_step if cfg.anchor_step >= 0 else int(torch.load(path, map_location="cpu",
                                                                            weights_only=True)["step"])
        out = measure(gen.model, gen.diffusion, batch, text, text_mask, noise, timesteps, groups, cfg.train_mode,
                      cfg.seed, anchors, step)
        rows += [{"ckpt": label, **r} for r in out]
        for t in timesteps:
            rs = [r for r in out if r["t"] == t]
            low = [r["block"] for r in rs if r["below_1pct_of_mean"]]
            print(f"{label} t={t}: loss {rs[0]['loss']:.4f}, mean block norm "
                  f"{sum(r['grad_norm'] for r in rs) / len(rs):.3e}, below 1% of mean: {low or 'none'}")
    out_dir = Path(cfg.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out_dir / "grad_flow.csv")
    (out_dir / "grad_flow.md").write_text(format_markdown(rows))
    plot(rows, out_dir / "grad_flow.png")
    print(f"written: {out_dir / 'grad_flow.csv'}, grad_flow.md, grad_flow.png")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
