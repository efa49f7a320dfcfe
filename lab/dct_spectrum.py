"""The mean DCT-II spectrum of a dataset split and the share of its first k coefficients (LUMA Fig. 7, appendix F):
how much of the motion the frequency anchor's target (dct.py, k = 64) keeps.

    python -m lab.dct_spectrum --dataset=synthetic            # the training split, first k shaded; writes a PNG
    python -m lab.dct_spectrum --dataset=humanml3d --data_root=../shared/data/humanml3d_sample --split=train,val,test
"""
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import runtime
from dct import dct, energy_fraction
from synthetic.build import ensure_dataset


@dataclass
class SpectrumConfig:
    dataset: str = "synthetic"        # synthetic (built on first use) | humanml3d | kit
    data_root: str = ""               # '' -> ./dataset/Synthetic, ./dataset/HumanML3D, ./dataset/KIT-ML
    split: str = "train"              # split name(s), comma-separated: train | train,val,test
    k: int = 64                       # coefficients kept by the frequency anchor
    window: int = 196                 # frames per motion (zero-padded), as in training
    out: str = ""                     # PNG path; '' -> dct_spectrum_<dataset>_<split>.png


def load_windows(root: Path, split: str, window: int = 196) -> torch.Tensor:
    """Motions of `split` (a split name, or several joined by commas) under a HumanML3D-layout `root`, normalised with
    its Mean.npy / Std.npy (plain z-score, no feat_bias), the first `window` frames of each, zero-padded:
    (B, window, D) float64, as the anchor sees x0. Raises FileNotFoundError naming the missing file."""
    names = ["Mean.npy", "Std.npy"] + [f"{s}.txt" for s in split.split(",")]
    for name in names:
        if not (root / name).is_file():
            raise FileNotFoundError(f"dct_spectrum: {root / name} not found (expected a HumanML3D-layout folder)")
    mean, std = np.load(root / "Mean.npy"), np.load(root / "Std.npy")
    ids = [m for name in names[2:] for m in (root / name).read_text().split()]
    out = []
    for mid in ids:
        path = root / "new_joint_vecs" / f"{mid}.npy"
        if not path.is_file():
            continue                                                   # listed but absent: HumanML3D has such ids
        x = (np.load(path)[:window] - mean) / np.where(std > 0, std, 1.0)      # (T, D)
        out.append(np.pad(x, ((0, window - len(x)), (0, 0))))
    if not out:
        raise FileNotFoundError(f"dct_spectrum: no motion of split {split} found in {root / 'new_joint_vecs'}")
    return torch.from_numpy(np.stack(out))                                     # (B, T, D)


def main(argv: list[str]) -> None:
    cfg = runtime.parse(argv, SpectrumConfig(), prog="lab/dct_spectrum.py")
    runtime.check_choices(cfg, "lab/dct_spectrum.py", dataset=("synthetic", "humanml3d", "kit"))
    default = {"synthetic": "dataset/Synthetic", "humanml3d": "dataset/HumanML3D", "kit": "dataset/KIT-ML"}
    root = Path(cfg.data_root or default[cfg.dataset])
    if cfg.dataset == "synthetic" and not cfg.data_root:
        ensure_dataset(root)                                                   # the embedded dataset, built once
    try:
        x = load_windows(root, cfg.split, cfg.window)                          # (B, T, D)
    except FileNotFoundError as err:
        raise SystemExit(str(err)) from None
    frac, mag = energy_fraction(x, cfg.k), energy_fraction(x, cfg.k, power=1)
    spectrum = dct(x, dim=1).abs().mean(dim=(0, 2)).numpy()                    # (K,) mean |coefficient|
    print(f"{root} {cfg.split}: {len(x)} motions, window {cfg.window} frames; the first {cfg.k} DCT-II "
          f"coefficients hold {100 * frac:.1f}% of the energy and {100 * mag:.1f}% of the summed magnitude spectrum "
          f"(LUMA Fig. 7 reports 83.6% for HumanML3D, k=64)")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(spectrum, color="k", lw=1)
    ax.axvspan(0, cfg.k - 1, color="tab:blue", alpha=0.2, label=f"first {cfg.k}: {100 * frac:.1f}% of energy, "
               f"{100 * mag:.1f}% of magnitude")
    ax.set(xlabel="DCT coefficient index", ylabel="mean |coefficient|", yscale="log",
           title=f"Mean DCT-II spectrum, {cfg.dataset} {cfg.split} ({len(x)} motions)")
    ax.legend()
    fig.tight_layout()
    out = cfg.out or f"dct_spectrum_{cfg.dataset}_{cfg.split}.png"
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
