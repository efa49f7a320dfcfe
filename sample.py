"""Text in, motion out: sample a trained checkpoint and write features, joint positions and animations.

    python sample.py --ckpt out/synthetic/ckpt.pt --text "a person jumps in place"
    python sample.py --ckpt out/synthetic/ckpt.pt --text_file prompts.txt --num_samples 3 --seed 1
        # prompts.txt: one prompt a line, optional "#length" (frames, or seconds with an "s": "a man runs#6s")
    python sample.py --ckpt out/humanml3d/ckpt.pt --text "a person kicks" --length 4s --sampler dpm++2m --steps 20

For every prompt and sample it writes into --out_dir (default <ckpt dir>/samples/):
    <i>_<slug>_<j>.npy         motion features (T, D), de-normalised: the dataset's own feature space (new_joint_vecs)
    <i>_<slug>_<j>_joints.npy  joint positions (T, J, 3) in metres (KIT: millimetres), recover_from_ric of the features
    <i>_<slug>_<j>.mp4 / .gif  stick-figure animation (mp4 when ffmpeg is on PATH), and a .png filmstrip

`load_generator` is the one interface through which evaluate.py reaches every model the project trains.
"""
import argparse
import pickle
import re
import sys
from pathlib import Path

import numpy as np
import torch

from data import DATASETS
from diffusion import GaussianDiffusion
from moclip import TextEncoder, as_cached
from motion import recover_from_ric
from render import render_animation, render_filmstrip
from unet import CondUnet1D

SAMPLERS = ("sde-dpm++2m-karras", "dpm++2m", "ddpm")
PRECISIONS = ("fp32", "bf16")


class Generator:
    """A trained text-to-motion model behind one call: captions and lengths in, normalised features out.

    Attributes: dataset (str), data_root (str), info (data.DatasetInfo), mean, std (np.float32 (D,), the generator's
    normalisation, feat_bias included), config (the training config dict), device, precision ("fp32" | "bf16": the
    U-Net's autocast; default the training run's precision on CUDA, fp32 elsewhere; settable)."""

    def __init__(self, ckpt: dict, device: torch.device, use_ema: bool = True):
        self.config, self.device = ckpt["config"], device
        self.precision = self.config.get("precision", "fp32") if device.type == "cuda" else "fp32"
        self.dataset, self.data_root = self.config["dataset"], ckpt["data_root"]
        self.info = DATASETS[self.dataset]
        self.mean, self.std = np.asarray(ckpt["mean"], np.float32), np.asarray(ckpt["std"], np.float32)
        self.model = CondUnet1D(**ckpt["model_args"]).to(device).eval()
        self.model.load_state_dict(ckpt["ema" if use_ema else "model"])
        self.text_encoder = TextEncoder(ckpt["text_encoder"] or None,
                                        max_length=self.config["text_max_length"]).to(device)
        self.diffusion = GaussianDiffusion(num_timesteps=self.config["num_timesteps"]).to(device)

    @torch.no_grad()
    def generate(self, captions: list[str], lengths: list[int], guidance: float | None = None,
                 steps: int | None = None, sampler: str | None = None, seed: int | None = None) -> torch.Tensor:
        """Sample one motion per caption.

        captions: B strings; lengths: B ints in frames. The batch is sampled at T = max(lengths) and each motion is
        zeroed past its own length (StableMoFusion's protocol). guidance/steps/sampler default to the training
        config (CFG 2.5, 10 solver steps, SDE-DPM-Solver++(2M) Karras). Returns float32 (B, T, D) on the CPU in the
        generator's normalised space. Raises ValueError on mismatched inputs or an unknown sampler."""
        if len(captions) != len(lengths) or not captions:
            raise ValueError(f"generate: need as many captions as lengths, got {len(captions)} and {len(lengths)}")
        sampler = sampler or self.config["sampler"]
        if sampler not in SAMPLERS:
            raise ValueError(f"generate: sampler must be one of {SAMPLERS}, got {sampler!r}")
        guidance = self.config["guidance"] if guidance is None else guidance
        if steps is None and sampler != "ddpm":  # ddpm without --steps walks all T steps
            steps = self.config["sample_steps"]
        if self.precision not in PRECISIONS:
            raise ValueError(f"generate: precision must be one of {PRECISIONS}, got {self.precision!r}")
        text, text_mask = self.encode_text(captions)                           # (B, L, C), (B, L)
        B, T = len(captions), max(lengths)
        generator = torch.Generator(self.device).manual_seed(seed) if seed is not None else None
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

        def model_fn(x_t, t):
            with autocast:  # the network only: forward_with_cfg combines in fp32 and the solver runs in fp32
                return self.model.forward_with_cfg(x_t, t, text, text_mask, guidance=guidance)

        x0 = self.diffusion.sample(model_fn, (B, T, self.info.feat_dim), sampler=sampler, steps=steps,
                                   generator=generator)
        x0 = x0.float().cpu()
        valid = torch.arange(T)[None, :] < torch.as_tensor(lengths)[:, None]  # (B, T)
        return x0 * valid[..., None]

    @torch.no_grad()
    def encode_text(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Captions -> (text (B, L, C) float32, mask (B, L) bool) on self.device, as training read them: the live
        encoder's states through moclip.as_cached (float16 rounding, zero padding), equal to TextFeatureCache.get."""
        tokens, mask, _ = self.text_encoder(list(captions))                    # (B, L, C), (B, L)
        return as_cached(tokens, mask).to(self.device), mask.to(self.device)

    def denormalize(self, x: torch.Tensor | np.ndarray) -> np.ndarray:
        """Normalised features (..., D) -> the dataset's raw feature space (..., D), float32 numpy."""
        x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        return (x * self.std + self.mean).astype(np.float32)


def load_generator(ckpt_path: str | Path, device: str | torch.device = "cpu", use_ema: bool = True) -> Generator:
    """Rebuild the model a checkpoint describes (train.py's ckpt.pt). Raises FileNotFoundError / KeyError with the
    path and the missing field when the file is absent or not a train.py checkpoint."""
    ckpt_path = Path(ckpt_path)
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"checkpoint {ckpt_path} not found; train one with `python train.py`")
    try:
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(f"{ckpt_path} holds objects other than tensors and plain values, so it is not a checkpoint "
                         f"of this train.py (or one written before statistics were stored as tensors): {err}") from None
    missing = [k for k in ("model", "ema", "config", "model_args", "mean", "std", "text_encoder") if k not in ckpt]
    if missing:
        raise KeyError(f"{ckpt_path} is not a train.py checkpoint: missing {missing}")
    return Generator(ckpt, torch.device(device), use_ema=use_ema)


def parse_length(value: str, fps: float) -> int:
    """'120' or '120f' -> 120 frames; '6s' / '6.0s' -> round(6 * fps) frames. Raises ValueError otherwise."""
    v = value.strip().lower()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|f)?", v)
    if not m or (m.group(2) != "s" and "." in m.group(1)):
        raise ValueError(f"length {value!r}: expected frames ('120') or seconds ('6s')")
    return round(float(m.group(1)) * fps) if m.group(2) == "s" else int(m.group(1))


def read_prompts(args, info) -> list[tuple[str, int]]:
    """(prompt, length in frames) pairs from --text or --text_file, validated against the dataset's range."""
    default = parse_length(args.length, info.fps)
    if args.text_file:
        lines = Path(args.text_file).read_text().splitlines()
        entries = [(f"{args.text_file}:{n}", line) for n, line in enumerate(lines, 1) if line.strip()]
    else:
        entries = [("--text", args.text)]
    lo, hi = info.min_len, info.max_motion_length
    prompts = []
    for where, line in entries:
        text, _, length = line.partition("#")
        text = text.strip()
        if not text:
            raise SystemExit(f"sample.py: {where}: empty prompt; write what the person should do")
        try:
            frames = parse_length(length, info.fps) if length.strip() else default
        except ValueError as err:
            raise SystemExit(f"sample.py: {where}: {err}")
        if not lo <= frames <= hi:
            raise SystemExit(f"sample.py: {where}: length {frames} frames is outside [{lo}, {hi}] for {info.name} "
                             f"({lo / info.fps:.1f}-{hi / info.fps:.1f} s at {info.fps:g} fps); "
                             f"give frames ('120') or seconds ('6s')")
        prompts.append((text, frames))
    return prompts


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ckpt", required=True, help="train.py checkpoint (ckpt.pt)")
    p.add_argument("--text", help="one prompt")
    p.add_argument("--text_file", help="one prompt a line, optional '#length'")
    p.add_argument("--length", default="6s", help="frames ('120') or seconds ('6s'); default 6s")
    p.add_argument("--num_samples", type=int, default=1, help="samples per prompt")
    p.add_argument("--guidance", type=float, default=None, help="CFG scale (default: the checkpoint's, 2.5)")
    p.add_argument("--steps", type=int, default=None, help="solver steps (default: the checkpoint's, 10)")
    p.add_argument("--sampler", choices=SAMPLERS, default=None, help="default: the checkpoint's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out_dir", default=None, help="default: <ckpt dir>/samples")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="U-Net autocast (default: the checkpoint's on CUDA, fp32 elsewhere)")
    p.add_argument("--no_render", action="store_true", help="write .npy files only")
    args = p.parse_args(argv)
    if bool(args.text) == bool(args.text_file):
        p.error("give exactly one of --text or --text_file")
    if args.num_samples < 1:
        p.error("--num_samples must be >= 1")
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    gen = load_generator(args.ckpt, device)
    gen.precision = args.precision or gen.precision
    prompts = read_prompts(args, gen.info)
    out_dir = Path(args.out_dir or Path(args.ckpt).parent / "samples")
    out_dir.mkdir(parents=True, exist_ok=True)
    kind = gen.info.kind
    for i, (text, frames) in enumerate(prompts):
        captions, lengths = [text] * args.num_samples, [frames] * args.num_samples
        x = gen.generate(captions, lengths, args.guidance, args.steps, args.sampler, seed=args.seed + i)
        features = gen.denormalize(x)                                              # (N, T, D)
        joints = recover_from_ric(features, gen.info.joints_num)                   # (N, T, J, 3)
        slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40]
        for j in range(args.num_samples):
            stem = out_dir / f"{i:02d}_{slug}_{j}"
            np.save(f"{stem}.npy", features[j])
            np.save(f"{stem}_joints.npy", joints[j])
            written = [f"{stem}.npy", f"{stem}_joints.npy"]
            if not args.no_render:
                written.append(render_animation(joints[j], stem, text, kind=kind))
                written.append(render_filmstrip(joints[j], stem, text, kind=kind))
            print(f"[{text!r}, {frames} frames] -> " + ", ".join(str(w) for w in written))


if __name__ == "__main__":
    main(sys.argv[1:])
