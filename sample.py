"""Text in, motion out: sample a trained checkpoint and write features, joint positions, BVH and pictures.

    python sample.py --ckpt out/synthetic/ckpt.pt --text "a person jumps in place"
    python sample.py --ckpt out/synthetic/ckpt.pt --text "a person walks in a circle" --bvh
    python sample.py --ckpt out/synthetic/ckpt.pt --text "a person walks forward" --foot_cleanup=False  # raw feet
    python sample.py --ckpt out/synthetic/ckpt.pt --text_file prompts.txt --num_samples 3 --batch_size 32 --seed 1
        # prompts.txt: one prompt a line, optional "#length" (frames, or seconds with an "s": "a man runs#6s")
    python sample.py --ckpt out/humanml3d/ckpt.pt --text "a person kicks" --length 4s --sampler dpm++2m --steps 20

For every prompt and sample it writes into --out_dir (default <ckpt dir>/samples/):
    <i>_<slug>_<j>.npy         motion features (T, D), de-normalised: the dataset's own feature space (new_joint_vecs)
    <i>_<slug>_<j>_joints.npy  joint positions (T, J, 3) in metres (KIT: millimetres), recover_from_ric of the features
                               with the planted feet pinned (realism.clean_foot_contacts; pictures and BVH too;
                               --foot_cleanup=False: the features' joints as they are)
    <i>_<slug>_<j>.png         filmstrip: side and front views, the root path from above (render.py)
    <i>_<slug>_<j>.mp4 / .gif  animation (mp4 when ffmpeg is on PATH)
    <i>_<slug>_<j>.bvh         with --bvh: the motion on the dataset's skeleton, centimetres, Y up (bvh.py)

Prompts of equal length are sampled together, --batch_size motions per call, in file order; batch k uses seed
--seed + k, so the same file, --seed and --batch_size give the same motions. Bad input stops the run with one line
(checkpoint, prompt file, options); a bad line of the prompt file (empty prompt, bad or out-of-range '#length') is
reported and skipped, the other prompts still run, and the exit status is then 1.

A checkpoint is the model: it carries what sampling needs (LUMA's fine-tuned MoCLIP text tower included; the
packaged MiniLM base is referenced by name), so `python sample.py --ckpt any/path/ckpt.pt` works alone in a fresh clone.
`load_generator` is the one interface through which evaluate.py reaches every model the project trains: Generator
(the U-Net diffusion methods: baseline, LUMA, ATM) and LatentARGenerator (MoLingo's latent_ar), one generate() call.
"""
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import runtime
from data import DATASETS, feature_range, load_split
from diffusion import GaussianDiffusion
from latent_ar import NULL_PROMPT, MaskedLatentTransformer, sample_latents
from moclip import tower_for_checkpoint, tower_from_state
from motion import recover_from_ric
from motion_ae import MotionAE
from realism import clean_foot_contacts, describe
from render import render_animation, render_filmstrip
from text_encoder import TextEncoder, as_cached
from unet import CondUnet1D

SAMPLERS = ("sde-dpm++2m-karras", "dpm++2m", "ddpm")
PRECISIONS = ("fp32", "bf16")


class Generator:
    """A trained text-to-motion model behind one call: captions and lengths in, normalised features out.

    Attributes: dataset (str), data_root (str), info (data.DatasetInfo), mean, std (np.float32 (D,), the generator's
    normalisation, feat_bias included), config (the training config dict), device, precision ("fp32" | "bf16": the
    U-Net's autocast; default the training run's precision on CUDA, fp32 elsewhere; settable), method (train.py's
    --method), clamps_x0 (True: sampling can clamp x0 predictions, generate's clip_denoised)."""

    clamps_x0 = True

    def __init__(self, ckpt: dict, device: torch.device, use_ema: bool = True):
        self.config, self.device = ckpt["config"], device
        self.method = self.config.get("method", "baseline")
        self.precision = self.config.get("precision", "fp32") if device.type == "cuda" else "fp32"
        self.dataset, self.data_root = self.config["dataset"], ckpt["data_root"]
        self.info = DATASETS[self.dataset]
        self.mean, self.std = np.asarray(ckpt["mean"], np.float32), np.asarray(ckpt["std"], np.float32)
        self.model = CondUnet1D(**ckpt["model_args"]).to(device).eval()
        self.model.load_state_dict(ckpt["ema" if use_ema else "model"])
        if ckpt.get("text_tower") is not None:                                  # MoCLIP's fine-tuned tower (LUMA)
            self.text_encoder = tower_from_state(ckpt["text_tower"], self.config["text_max_length"]).to(device)
        elif self.config.get("method") in ("luma", "luma+atm") and self.config.get("moclip_text", True):
            self.text_encoder = tower_for_checkpoint(ckpt["moclip"], self.config["text_max_length"]).to(device)
        else:
            self.text_encoder = TextEncoder(ckpt["text_encoder"] or None,
                                            max_length=self.config["text_max_length"]).to(device)
        self.diffusion = GaussianDiffusion(num_timesteps=self.config["num_timesteps"]).to(device)
        # x0 predictions are clamped to the train split's per-dimension range (diffusion.sample's x0_range); a
        # checkpoint written before it stored the range gets it from its data root's train split when that exists.
        self.x0_range = ckpt.get("x0_range")
        if self.x0_range is None and (Path(self.data_root) / "train.txt").is_file():
            self.x0_range = torch.from_numpy(feature_range(load_split(self.data_root, "train", self.info),
                                                           self.mean, self.std))

    @torch.no_grad()
    def generate(self, captions: list[str], lengths: list[int], guidance: float | None = None,
                 steps: int | None = None, sampler: str | None = None, seed: int | None = None,
                 guidance_rescale: float | None = None, clip_denoised: bool | None = None) -> torch.Tensor:
        """Sample one motion per caption.

        captions: B strings; lengths: B ints in frames. The batch is sampled at T = max(lengths) and each motion is
        zeroed past its own length (StableMoFusion's protocol). guidance/steps/sampler default to the training
        config (CFG 2.5, 10 solver steps, SDE-DPM-Solver++(2M) Karras); guidance_rescale (CFG rescale phi, unet.py)
        to the config's, 0 (off) for checkpoints written before it existed; clip_denoised (clamp x0 predictions to
        the training range) to the config's, on for checkpoints written before it existed. Returns float32
        (B, T, D) on the CPU in the generator's normalised space. Raises ValueError on mismatched inputs or an
        unknown sampler."""
        if len(captions) != len(lengths) or not captions:
            raise ValueError(f"generate: need as many captions as lengths, got {len(captions)} and {len(lengths)}")
        sampler = sampler or self.config["sampler"]
        if sampler not in SAMPLERS:
            raise ValueError(f"generate: sampler must be one of {SAMPLERS}, got {sampler!r}")
        guidance = self.config["guidance"] if guidance is None else guidance
        rescale = self.config.get("guidance_rescale", 0.0) if guidance_rescale is None else guidance_rescale
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
                return self.model.forward_with_cfg(x_t, t, text, text_mask, guidance=guidance, rescale=rescale)

        clip = self.config.get("clip_denoised", True) if clip_denoised is None else clip_denoised
        x0 = self.diffusion.sample(model_fn, (B, T, self.info.feat_dim), sampler=sampler, steps=steps,
                                   generator=generator, x0_range=self.x0_range if clip else None)
        x0 = x0.float().cpu()
        valid = torch.arange(T)[None, :] < torch.as_tensor(lengths)[:, None]  # (B, T)
        return x0 * valid[..., None]

    @torch.no_grad()
    def encode_text(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Captions -> (text (B, L, C) float32, mask (B, L) bool) on self.device, as training read them: the live
        encoder's states through text_encoder.as_cached (float16 rounding, zero padding), equal to TextFeatureCache.get."""
        tokens, mask, _ = self.text_encoder(list(captions))                    # (B, L, C), (B, L)
        return as_cached(tokens, mask).to(self.device), mask.to(self.device)

    def denormalize(self, x: torch.Tensor | np.ndarray) -> np.ndarray:
        """Normalised features (..., D) -> the dataset's raw feature space (..., D), float32 numpy."""
        x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        return (x * self.std + self.mean).astype(np.float32)


class LatentARGenerator:
    """A latent_ar checkpoint behind sample.Generator's interface: captions and lengths in, normalised features out.

    Attributes: dataset, data_root, info, mean, std (np.float32 (D,), the SAE's normalisation), config, device,
    precision ("fp32" | "bf16": autocast of the transformer and flow head; default the run's on CUDA, else fp32),
    method ("latent_ar"), clamps_x0 (False: no x0 prediction to clamp; generate takes no clip_denoised)."""

    clamps_x0, method = False, "latent_ar"

    def __init__(self, ckpt: dict, device: torch.device, use_ema: bool = True):
        if ckpt.get("kind") != "latent_ar":
            raise KeyError(f"not a latent_ar checkpoint (kind {ckpt.get('kind')!r})")
        self.config, self.device = ckpt["config"], torch.device(device)
        self.precision = self.config.get("precision", "fp32") if self.device.type == "cuda" else "fp32"
        self.dataset, self.data_root = self.config["dataset"], ckpt["data_root"]
        self.info = DATASETS[self.dataset]
        self.mean, self.std = np.asarray(ckpt["mean"], np.float32), np.asarray(ckpt["std"], np.float32)
        self.ae = MotionAE(**ckpt["ae_args"]).to(self.device).eval()
        self.ae.load_state_dict(ckpt["ae"])
        self.model = MaskedLatentTransformer(**ckpt["model_args"]).to(self.device).eval()
        self.model.load_state_dict(ckpt["ema" if use_ema else "model"])
        self.latent_mean, self.latent_std = (ckpt[k].to(self.device) for k in ("latent_mean", "latent_std"))
        self.text_encoder = TextEncoder(ckpt["text_encoder"] or None, max_length=self.config["text_max_length"])
        self.text_encoder.to(self.device)
        self.null = self.text_states([NULL_PROMPT])

    def text_states(self, captions: list[str]):
        """Token states (B, L, C) as the training cache held them (float16-rounded, padding zeroed), mask (B, L)."""
        tokens, mask, _ = self.text_encoder(captions)
        return as_cached(tokens, mask), mask

    @torch.no_grad()
    def generate(self, captions: list[str], lengths: list[int], guidance: float | None = None,
                 steps: int | None = None, sampler: str | None = None, seed: int | None = None,
                 guidance_rescale: float | None = None) -> torch.Tensor:
        """Sample one motion per caption: float32 (B, max(lengths), D) on the CPU, normalised, zero past each length.

        steps: flow steps per token (default: the checkpoint's flow_steps); guidance: CFG scale on the velocity;
        sampler: None or "flow"; guidance_rescale: accepted for sample.Generator's interface, must be None or 0.
        Raises ValueError on mismatched inputs, another sampler or a CFG rescale."""
        if guidance_rescale:
            raise ValueError("generate: CFG rescale is defined for the diffusion models' x0, not for latent_ar")
        if len(captions) != len(lengths) or not captions:
            raise ValueError(f"generate: need as many captions as lengths, got {len(captions)} and {len(lengths)}")
        if sampler not in (None, "flow"):
            raise ValueError(f"generate: a latent_ar model samples with 'flow' (per-token Euler), got {sampler!r}")
        cfg = self.config
        generator = torch.Generator(self.device).manual_seed(seed) if seed is not None else None
        text, text_mask = self.text_states(list(captions))
        stride = self.ae.stride
        num_tokens = torch.tensor([-(-n // stride) for n in lengths], device=self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            z = sample_latents(self.model, text, text_mask, *(t.to(self.device) for t in self.null), num_tokens,
                               cfg["decode_iters"], steps or cfg["flow_steps"],
                               cfg["guidance"] if guidance is None else guidance, cfg["cfg_schedule"], generator,
                               cfg.get("decode_schedule", "mar"))          # checkpoints before the option: MAR's
        x = self.ae.decode(z * self.latent_std + self.latent_mean, max(lengths)).float().cpu()  # (B, T, D)
        valid = torch.arange(x.shape[1])[None] < torch.as_tensor(lengths)[:, None]  # (B, T)
        return x * valid[..., None]

    def denormalize(self, x) -> np.ndarray:
        """Normalised features (..., D) -> the dataset's raw feature space, float32 numpy."""
        x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        return (x * self.std + self.mean).astype(np.float32)



def load_generator(ckpt_path: str | Path, device: str | torch.device = "cpu", use_ema: bool = True) -> Generator:
    """Rebuild the model a checkpoint describes (train.py's ckpt.pt).

    Raises FileNotFoundError when the path is not a file, ValueError (one line, naming the file) when it is not a
    checkpoint of this project: not loadable by torch.load(weights_only=True), a missing field, or weights that do
    not fit the model its model_args describe."""
    ckpt_path = Path(ckpt_path)
    if not ckpt_path.is_file():
        raise FileNotFoundError(f"checkpoint {ckpt_path} not found; train one with `python train.py`")
    try:
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling, zip and EOF errors all mean the same thing here
        raise ValueError(f"{ckpt_path} is not a checkpoint of this project's train.py (or one written before "
                         f"statistics were stored as tensors): torch.load says {_first_line(err)}") from None
    if isinstance(ckpt, dict) and ckpt.get("kind") == "latent_ar":                  # MoLingo-style model
        try:
            return LatentARGenerator(ckpt, torch.device(device), use_ema=use_ema)
        except (RuntimeError, TypeError, KeyError) as err:
            raise ValueError(f"{ckpt_path}: its weights do not fit the model it describes: {_first_line(err)}") \
                from None
    fields = ("model", "ema", "config", "model_args", "mean", "std", "text_encoder")
    missing = [k for k in fields if k not in ckpt] if isinstance(ckpt, dict) else list(fields)
    if missing:
        raise ValueError(f"{ckpt_path} is not a train.py checkpoint: missing {missing}")
    device = torch.device(device)
    try:
        return Generator(ckpt, device, use_ema=use_ema)
    except (RuntimeError, TypeError, KeyError) as err:
        raise ValueError(f"{ckpt_path}: its weights do not fit the model it describes: {_first_line(err)}") from None


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def parse_length(value: str, fps: float) -> int:
    """'120' or '120f' -> 120 frames; '6s' / '6.0s' -> round(6 * fps) frames. Raises ValueError otherwise."""
    v = value.strip().lower()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|f)?", v)
    if not m or (m.group(2) != "s" and "." in m.group(1)):
        raise ValueError(f"length {value!r}: expected frames ('120') or seconds ('6s')")
    return round(float(m.group(1)) * fps) if m.group(2) == "s" else int(m.group(1))


def read_prompt_lines(args) -> list[tuple[str, str]]:
    """(where, line) for every non-blank line of --text_file, or the --text prompt. Raises SystemExit (one line) when
    the file is missing, unreadable or has no prompt. Checked before the model loads."""
    if not args.text_file:
        return [("--text", args.text)]
    try:
        lines = Path(args.text_file).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise SystemExit(f"sample.py: --text_file {args.text_file}: no such file")
    except (OSError, UnicodeDecodeError) as err:
        raise SystemExit(f"sample.py: --text_file {args.text_file}: cannot read it as UTF-8 text ({err})")
    entries = [(f"{args.text_file}:{n}", line) for n, line in enumerate(lines, 1) if line.strip()]
    if not entries:
        raise SystemExit(f"sample.py: --text_file {args.text_file} is empty; write one prompt a line")
    return entries


def parse_prompts(entries: list[tuple[str, str]], default: int, info) -> tuple[list[tuple[int, str, int]], list[str]]:
    """(index, prompt, length in frames) of the valid entries ("prompt#length" lines; default length in frames), and
    one message per skipped line: empty prompt, bad '#length', length outside the dataset's range."""
    lo, hi = info.min_len, info.max_motion_length
    prompts, skipped = [], []
    for i, (where, line) in enumerate(entries):
        text, _, length = line.partition("#")
        text = text.strip()
        try:
            if not text:
                raise ValueError("empty prompt; write what the person should do")
            frames = parse_length(length, info.fps) if length.strip() else default
            if not lo <= frames <= hi:
                raise ValueError(f"length {frames} frames is outside [{lo}, {hi}] for {info.name} "
                                 f"({lo / info.fps:.1f}-{hi / info.fps:.1f} s at {info.fps:g} fps); "
                                 f"give frames ('120') or seconds ('6s')")
        except ValueError as err:
            skipped.append(f"sample.py: {where}: {err}")
            continue
        prompts.append((i, text, frames))
    return prompts, skipped


def batches(prompts: list[tuple[int, str, int]], num_samples: int, batch_size: int) -> list[list[tuple]]:
    """Rows (prompt index, sample index, text, frames) grouped by length (a batch is sampled at one T, so no motion
    is a crop of a longer one) and cut into batches of at most batch_size, in file order."""
    by_length: dict[int, list] = {}
    for i, text, frames in prompts:
        by_length.setdefault(frames, []).extend((i, j, text, frames) for j in range(num_samples))
    return [rows[k:k + batch_size] for rows in by_length.values() for k in range(0, len(rows), batch_size)]


def write_sample(stem: Path, text: str, features: np.ndarray, joints: np.ndarray, kind: str, render: bool,
                 bvh: bool) -> list[Path]:
    """Write one motion's files (see the module docstring); all or nothing: on an error the files already written
    are removed and the error is raised again. features (T, D), joints (T, J, 3) float32."""
    if not np.isfinite(joints).all():
        raise ValueError("the generated motion has NaN/inf values")
    written = []
    try:
        for path, array in ((Path(f"{stem}.npy"), features), (Path(f"{stem}_joints.npy"), joints)):
            np.save(path, array)
            written.append(path)
        if render:
            written.append(render_filmstrip(joints, stem, text, kind=kind))
            written.append(render_animation(joints, stem, text, kind=kind))
        if bvh:
            from bvh import write_bvh  # needs the bvhio package only when asked for
            written.append(write_bvh(joints, stem, kind=kind))
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written


@dataclass
class SampleConfig:
    ckpt: str = ""                    # a checkpoint of train.py (any method); required
    text: str = ""                    # one prompt (or --text_file)
    text_file: str = ""               # one prompt a line, optional "#length" ("a man runs#6s")
    length: str = "6s"                # frames ("120") or seconds ("6s")
    num_samples: int = 1              # samples per prompt
    batch_size: int = 16              # motions sampled per model call
    guidance: float | None = None     # CFG scale (default: the checkpoint's)
    guidance_rescale: float | None = None  # CFG rescale phi, Lin et al. 2024 sec. 3.4 (default: the checkpoint's)
    steps: int | None = None          # solver steps (default: the checkpoint's, 10)
    sampler: str | None = None        # default: the checkpoint's (diffusion: one of SAMPLERS; latent_ar: flow)
    seed: int = 0                     # batch k uses seed + k
    out_dir: str = ""                 # '' -> <ckpt dir>/samples
    device: str = "auto"              # auto -> cuda, else cpu
    precision: str | None = None      # fp32 | bf16: U-Net autocast (default: the checkpoint's on CUDA, fp32 elsewhere)
    no_render: bool = False           # no filmstrip and animation
    bvh: bool = False                 # also write a .bvh per motion (needs: pip install bvhio)
    foot_cleanup: bool = True         # pin the feet the contact channels plant (realism.clean_foot_contacts) in the
                                      # joints, pictures and BVH; the features .npy stay the model's output. On by
                                      # default: GMD skating 0.23 -> 0.10 (results/planted_feet.csv), FID unchanged


def parse_config(argv: list[str]) -> SampleConfig:
    """SampleConfig from `--key=value` options (runtime.py); SystemExit (one line) for a bad or missing option."""
    args = runtime.parse(argv, SampleConfig(), prog="sample.py")
    if not args.ckpt:
        raise SystemExit("sample.py: --ckpt is required (a checkpoint of train.py)")
    if bool(args.text) == bool(args.text_file):
        raise SystemExit("sample.py: give exactly one of --text or --text_file")
    for name in ("num_samples", "batch_size", "steps"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise SystemExit(f"sample.py: --{name} must be >= 1, got {getattr(args, name)}")
    if args.sampler is not None and args.sampler not in SAMPLERS + ("flow",):
        raise SystemExit(f"sample.py: --sampler must be one of {SAMPLERS + ('flow',)}, got {args.sampler!r}")
    if args.precision is not None and args.precision not in PRECISIONS:
        raise SystemExit(f"sample.py: --precision must be one of {PRECISIONS}, got {args.precision!r}")
    return args


def main(argv: list[str]) -> None:
    args = parse_config(argv)
    if args.bvh:
        from bvh import require_bvhio
        require_bvhio()  # fail before sampling when bvhio is missing
    try:
        parse_length(args.length, 1.0)  # the syntax now; frames once the checkpoint gives the frame rate
    except ValueError as err:
        raise SystemExit(f"sample.py: --length: {err}")
    entries = read_prompt_lines(args)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except RuntimeError as err:
        raise SystemExit(f"sample.py: --device: {_first_line(err)}")
    try:
        gen = load_generator(args.ckpt, device)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"sample.py: --ckpt: {err}")
    gen.precision = args.precision or getattr(gen, "precision", "fp32")
    prompts, skipped = parse_prompts(entries, parse_length(args.length, gen.info.fps), gen.info)
    if args.text and skipped:
        raise SystemExit(skipped[0])
    for message in skipped:
        print(message + "; skipped", file=sys.stderr)
    out_dir = Path(args.out_dir or Path(args.ckpt).parent / "samples")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SystemExit(f"sample.py: --out_dir: {err}")
    kind = gen.info.kind
    failed, seconds = [], {"sampling": 0.0, "files and pictures": 0.0}
    progress = tqdm(total=len(prompts) * args.num_samples, unit="motion", desc="sample.py", disable=not prompts)
    for k, rows in enumerate(batches(prompts, args.num_samples, args.batch_size)):
        captions, lengths = [r[2] for r in rows], [r[3] for r in rows]
        start = time.perf_counter()
        x = gen.generate(captions, lengths, args.guidance, args.steps, args.sampler, seed=args.seed + k,
                         guidance_rescale=args.guidance_rescale)
        features = gen.denormalize(x)                                              # (B, T, D)
        joints = recover_from_ric(features, gen.info.joints_num)                   # (B, T, J, 3)
        if args.foot_cleanup:  # planted feet pinned, the legs by two-bone IK; the contacts are the last 4 channels
            joints = np.stack([clean_foot_contacts(j, f[:, -4:], kind=gen.info.kind) for j, f in zip(joints, features)]
                              ).astype(joints.dtype)
        seconds["sampling"] += time.perf_counter() - start
        for b, (i, j, text, frames) in enumerate(rows):
            slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "prompt"
            stem = out_dir / f"{i:02d}_{slug}_{j}"
            start = time.perf_counter()
            try:
                written = write_sample(stem, text, features[b], joints[b], kind, not args.no_render, args.bvh)
            except (ValueError, OSError) as err:
                failed.append(f"sample.py: [{text!r}, sample {j}]: {err}; nothing written")
                tqdm.write(failed[-1], file=sys.stderr)
            else:
                # per-sample report: length, distance, mean root speed, skating ratio (realism.describe)
                tqdm.write(f"[{text!r}, {frames} frames] {describe(joints[b], gen.info.fps, kind)} -> "
                           + ", ".join(str(w) for w in written))
            seconds["files and pictures"] += time.perf_counter() - start
            progress.update()
    progress.close()
    n = len(prompts) * args.num_samples
    if n:
        print(f"{n} motion(s): " + ", ".join(f"{k} {v:.1f} s ({v / n:.2f} s each)" for k, v in seconds.items()))
        print("joints, pictures and BVH: planted feet pinned (--foot_cleanup=False writes the raw joints)"
              if args.foot_cleanup else "joints, pictures and BVH: the model's raw output (no foot cleanup)")
    if skipped or failed:
        raise SystemExit(f"sample.py: {len(skipped)} prompt line(s) skipped and {len(failed)} motion(s) failed "
                         f"(messages above); the other {len(prompts) * args.num_samples - len(failed)} written")


if __name__ == "__main__":
    main(sys.argv[1:])
