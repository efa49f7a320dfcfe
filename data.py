"""HumanML3D / KIT-ML text-to-motion data: caption parsing, split loading, normalisation, crops, batching.

Implements the common loader of Guo et al. 2022 (EricGuo5513/text-to-motion data/dataset.py
`Text2MotionDatasetV2`), as copied by MDM and StableMoFusion (datasets/t2m_dataset.py). On disk (HumanML3D
README):

    <root>/new_joint_vecs/<id>.npy   (F, D) features, D = 263 (HumanML3D) or 251 (KIT)
    <root>/texts/<id>.txt            one line per caption: `caption#word/POS word/POS ...#start_sec#end_sec`
    <root>/Mean.npy, Std.npy         (D,) dataset statistics
    <root>/{train,val,test}.txt      one id per line

Choices that differ from the reference code (each is deliberate):
- Sub-segment captions are cut at the dataset's own fps (`DatasetInfo.fps`: 20 HumanML3D, 12.5 KIT). Guo's code
  hard-codes 20 fps, which cuts KIT sub-segments at the wrong frames.
- Sub-segment item names `<letter A-W>_<id>` are drawn from a seeded numpy Generator, not global `random`, so a
  split always loads with the same names.
- A malformed caption line drops only that line (Guo's bare `try/except` dropped the whole clip), and every
  skipped input is counted in one `warnings.warn` summary per load instead of being passed over silently.

Test: python -m pytest tests/test_data.py -q
"""
import math
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from motion import feature_slices

LAYOUT = "<root>/{new_joint_vecs/, texts/, Mean.npy, Std.npy, train.txt, val.txt, test.txt}"
SUBSEGMENT_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVW"  # Guo's 23 letters for sub-segment item names


@dataclass(frozen=True)
class DatasetInfo:
    name: str                    # key in DATASETS
    kind: str                    # skeleton kind in motion.SKELETONS: "t2m" or "kit"
    default_root: str            # where the dataset lives by default (relative to the working directory)
    feat_dim: int                # D: 263 (HumanML3D) or 251 (KIT)
    joints_num: int              # J: 22 or 21; D = 8 + 9(J-1) + 3J
    fps: float                   # frames per second: 20 HumanML3D, 12.5 KIT (used to cut sub-segment captions)
    min_len: int                 # clips shorter than this (frames) are skipped: 40 HumanML3D, 24 KIT
    max_len: int = 200           # clips with length >= max_len (frames) are skipped
    max_motion_length: int = 196  # training/eval sequences are cropped/zero-padded to this many frames
    unit_length: int = 4         # evaluator down-sampling unit (frames), used by unit_length_crop

    def __post_init__(self):
        expected = 8 + 9 * (self.joints_num - 1) + 3 * self.joints_num
        if self.feat_dim != expected:
            raise ValueError(f"DatasetInfo {self.name!r}: feat_dim {self.feat_dim} does not match joints_num "
                             f"{self.joints_num} (expected 8 + 9(J-1) + 3J = {expected})")


DATASETS = {
    "humanml3d": DatasetInfo("humanml3d", "t2m", "./dataset/HumanML3D", 263, 22, 20.0, 40),
    "kit": DatasetInfo("kit", "kit", "./dataset/KIT-ML", 251, 21, 12.5, 24),
    "synthetic": DatasetInfo("synthetic", "t2m", "./dataset/Synthetic", 263, 22, 20.0, 40),
}


# ----------------------------------------------------------------------------------------------------------------
# Loading a split
# ----------------------------------------------------------------------------------------------------------------

def _require(path: Path, what: str) -> None:
    if not path.exists():
        raise FileNotFoundError(f"data.py: {what} not found: {path}; expected the layout {LAYOUT} (HumanML3D "
                                f"README; `python -m synthetic --root ./dataset/Synthetic` builds a small one)")


def parse_caption_line(line: str) -> tuple[str, list[str], float, float]:
    """Parse one texts/<id>.txt line `caption#word/POS ...#start#end` (HumanML3D text_process.py format).

    Returns (caption, tokens ["word/POS", ...], start_sec, end_sec); a `nan` start/end becomes 0.0 as in Guo's
    loader. Raises ValueError for an empty caption, a wrong number of '#' fields, a token without '/', or times that
    are not finite non-negative numbers with start <= end.
    """
    parts = line.strip().rsplit("#", 3)  # from the right: a '#' inside the caption text stays in the caption
    if len(parts) != 4:
        raise ValueError(f"expected 4 '#'-separated fields, got {len(parts)}")
    caption, token_str, start_str, end_str = parts
    caption = caption.strip()
    if not caption:
        raise ValueError("empty caption")
    tokens = token_str.split()
    if any("/" not in tok for tok in tokens):
        raise ValueError(f"token without '/POS' in {token_str!r}")
    start, end = float(start_str), float(end_str)  # ValueError if not numbers
    start = 0.0 if math.isnan(start) else start
    end = 0.0 if math.isnan(end) else end
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
        raise ValueError(f"bad segment times {start_str!r}, {end_str!r}")
    return caption, tokens, start, end


def _examples(ids: list[str]) -> str:
    return ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")


def _counts(skips: dict) -> str:
    return ", ".join(f"{kind} {len(ids)} ({_examples(ids)})" for kind, ids in skips.items())


def load_split(root, split: str, info: DatasetInfo, seed: int = 0) -> list[dict]:
    """Load every usable clip of `<root>/<split>.txt` into memory (Guo's Text2MotionDatasetV2.__init__).

    Returns a list of items {"name": str, "motion": np.float32 (F, D) raw (unnormalised) features, "length": F,
    "captions": [{"caption": str, "tokens": ["word/POS", ...]}, ...]}, sorted by length (stable).
    A caption line with start/end != 0 becomes its own item `<letter A-W>_<id>` holding motion[int(start*fps):
    int(end*fps)] (a view, fps = info.fps) if its length is in [info.min_len, info.max_len); a clip whose only
    captions are sub-segments is not added itself. Letters come from numpy default_rng(seed).

    Skipped (one warnings.warn summary per call, counting each kind with up to 3 example ids): a split id without
    a motion file, an unreadable motion, a wrong feature width, NaN/Inf values, a clip outside [min_len, max_len),
    a missing text file, malformed or empty caption lines, out-of-range sub-segments, a clip with no usable caption.
    Raises FileNotFoundError (missing root, split file, new_joint_vecs/ or texts/, naming the expected layout) and
    ValueError if no item survives (naming root, split and the skip counts).
    """
    root = Path(root)
    _require(root, "dataset root")
    split_file = root / f"{split}.txt"
    _require(split_file, f"split file for split {split!r}")
    _require(root / "new_joint_vecs", "motion folder")
    _require(root / "texts", "text folder")
    ids = [line.strip() for line in split_file.read_text().splitlines() if line.strip()]

    rng = np.random.default_rng(seed)
    lo, hi = info.min_len, info.max_len
    skipped: dict[str, list[str]] = {}  # kind -> ids of clips that produced no item
    dropped: dict[str, list[str]] = {}  # kind -> "id:line" of caption lines that were dropped
    items: dict[str, dict] = {}  # insertion order = Guo's new_name_list order before the length sort

    for clip_id in tqdm(ids, desc=f"loading {split}", disable=len(ids) < 2000, leave=False):
        motion_path = root / "new_joint_vecs" / f"{clip_id}.npy"
        text_path = root / "texts" / f"{clip_id}.txt"
        if not motion_path.is_file():
            skipped.setdefault("missing motion file", []).append(clip_id)
            continue
        try:
            motion = np.load(motion_path).astype(np.float32, copy=False)  # some HumanML3D files are float64
        except (OSError, ValueError) as err:
            skipped.setdefault(f"unreadable motion file ({type(err).__name__})", []).append(clip_id)
            continue
        if motion.ndim != 2 or motion.shape[1] != info.feat_dim:
            skipped.setdefault(f"wrong feature width (expected (F, {info.feat_dim}))", []).append(clip_id)
            continue
        if not np.isfinite(motion).all():
            skipped.setdefault("NaN/Inf in motion", []).append(clip_id)
            continue
        if len(motion) < lo:
            skipped.setdefault(f"too short (< {lo} frames)", []).append(clip_id)
            continue
        if len(motion) >= hi:
            skipped.setdefault(f"too long (>= {hi} frames)", []).append(clip_id)
            continue
        if not text_path.is_file():
            skipped.setdefault("missing text file", []).append(clip_id)
            continue
        try:
            lines = text_path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            skipped.setdefault("unreadable text file", []).append(clip_id)
            continue

        full, n_segments = [], 0
        for lineno, line in enumerate(lines, 1):
            where = f"{clip_id}:{lineno}"
            try:
                caption, tokens, start, end = parse_caption_line(line)
            except ValueError as err:
                kind = "empty caption line" if str(err) == "empty caption" or not line.strip() else \
                    "malformed caption line"
                dropped.setdefault(kind, []).append(where)
                continue
            text = {"caption": caption, "tokens": tokens}
            if start == 0.0 and end == 0.0:
                full.append(text)
                continue
            segment = motion[int(start * info.fps):int(end * info.fps)]  # (F', D) view; Guo: fps hard-coded 20
            if not lo <= len(segment) < hi:
                dropped.setdefault(f"sub-segment outside [{lo}, {hi}) frames", []).append(where)
                continue
            free = [c for c in SUBSEGMENT_LETTERS if f"{c}_{clip_id}" not in items]  # = Guo's re-draw until unique
            if not free:
                dropped.setdefault(f"more than {len(SUBSEGMENT_LETTERS)} sub-segments", []).append(where)
                continue
            name = f"{free[rng.integers(len(free))]}_{clip_id}"
            items[name] = {"name": name, "motion": segment, "length": len(segment), "captions": [text]}
            n_segments += 1
        if full:
            items[clip_id] = {"name": clip_id, "motion": motion, "length": len(motion), "captions": full}
        elif n_segments == 0:
            skipped.setdefault("no usable caption", []).append(clip_id)

    if skipped or dropped:
        n_skipped = sum(len(v) for v in skipped.values())
        msg = f"data.py: skipped {n_skipped} of {len(ids)} motions in {split_file}"
        msg += f": {_counts(skipped)}" if skipped else ""
        msg += f"; dropped {sum(len(v) for v in dropped.values())} caption lines: {_counts(dropped)}" if dropped else ""
        warnings.warn(msg, stacklevel=2)
    if not items:
        raise ValueError(f"data.py: no usable item in split {split!r} of {root} ({len(ids)} ids in {split_file}); "
                         f"skipped: {_counts(skipped) or 'none'}; dropped lines: {_counts(dropped) or 'none'}")
    return sorted(items.values(), key=lambda item: item["length"])


# ----------------------------------------------------------------------------------------------------------------
# Normalisation statistics (HumanML3D cal_mean_variance.ipynb; feat_bias: StableMoFusion datasets/t2m_dataset.py)
# ----------------------------------------------------------------------------------------------------------------

def load_stats(root, info: DatasetInfo, feat_bias: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """Generator normalisation statistics: (mean, std), both np.float32 (D,), from <root>/Mean.npy and Std.npy.

    As in StableMoFusion datasets/t2m_dataset.py (train mode), the std of root_rot_vel, root_lin_vel, root_y and
    foot_contact is divided by `feat_bias` (default 5), so those few dims get 5x larger magnitude after z-scoring.
    feat_bias=1 returns the raw statistics (MDM). Not for the evaluator: it ships its own t2m_mean/t2m_std
    (evaluator.py).
    Raises FileNotFoundError for missing files, ValueError for a wrong shape or a non-positive / non-finite std.
    """
    root = Path(root)
    _require(root / "Mean.npy", "Mean.npy")
    _require(root / "Std.npy", "Std.npy")
    mean = np.load(root / "Mean.npy").astype(np.float32)
    std = np.load(root / "Std.npy").astype(np.float32)
    for name, arr in (("Mean.npy", mean), ("Std.npy", std)):
        if arr.shape != (info.feat_dim,):
            raise ValueError(f"data.py: {root / name} has shape {arr.shape}, expected ({info.feat_dim},) for dataset "
                             f"{info.name!r} (D = {info.feat_dim}, J = {info.joints_num})")
    bad = np.flatnonzero(~(np.isfinite(std) & (std > 0)))
    if len(bad):
        raise ValueError(f"data.py: {root / 'Std.npy'} must be finite and > 0; bad dims {bad[:10].tolist()}")
    if feat_bias <= 0:
        raise ValueError(f"data.py: feat_bias must be > 0, got {feat_bias}")
    groups = feature_slices(info.kind)
    for group in ("root_rot_vel", "root_lin_vel", "root_y", "foot_contact"):
        std[groups[group]] /= np.float32(feat_bias)
    return mean, std


# ----------------------------------------------------------------------------------------------------------------
# Crops (T2M data/dataset.py Text2MotionDatasetV2.__getitem__)
# ----------------------------------------------------------------------------------------------------------------

def unit_length_crop(motion, unit_length: int, rng: np.random.Generator):
    """Evaluator-style crop (Guo's Text2MotionDatasetV2.__getitem__): with unit_length < 10 draw a coin from
    ['single', 'single', 'double']; single keeps (F // u) * u frames, double (F // u - 1) * u; the window starts at
    a uniform offset in [0, F - m]. motion (F, D) array or tensor -> (m, D) view. A 'double' that would leave 0
    frames falls back to 'single'; raises ValueError if F < unit_length.
    """
    length = len(motion)
    if length < unit_length:
        raise ValueError(f"unit_length_crop: motion has {length} frames, fewer than unit_length {unit_length}")
    coin = ("single", "single", "double")[rng.integers(3)] if unit_length < 10 else "single"
    m = (length // unit_length - (coin == "double")) * unit_length
    m = m if m > 0 else (length // unit_length) * unit_length
    start = int(rng.integers(0, length - m + 1))
    return motion[start:start + m]


def random_crop(motion, max_motion_length: int, rng: np.random.Generator):
    """StableMoFusion train crop: a uniformly placed `max_motion_length`-frame window if the motion is longer,
    else the motion unchanged. motion (F, D) -> (min(F, max_motion_length), D) view."""
    if len(motion) <= max_motion_length:
        return motion
    start = int(rng.integers(0, len(motion) - max_motion_length + 1))
    return motion[start:start + max_motion_length]


# ----------------------------------------------------------------------------------------------------------------
# Dataset and batching
# ----------------------------------------------------------------------------------------------------------------

class Text2MotionDataset(Dataset):
    """Text-motion pairs for training a generator (StableMoFusion datasets/t2m_dataset.py, train mode).

    item i -> {"caption": str (one of the clip's captions, drawn at random), "tokens": ["word/POS", ...],
    "motion": torch.float32 (max_motion_length, D) z-normalised with (mean, std) then zero-padded, "length": int
    valid frames, "name": str}. Crop: random max_motion_length window if longer (StableMoFusion), after the
    evaluator's unit-length crop when unit_length_crop=True (Guo / MDM). Randomness (caption, crop) comes from one
    numpy Generator per process seeded by (seed, DataLoader worker seed): the draws continue from epoch to epoch
    (persistent workers included, no set_epoch needed) and repeat exactly after torch.manual_seed(s) with the same
    loader settings, because torch derives each worker's seed from its global RNG. Raises like load_split, and
    ValueError for mean/std of the wrong shape.
    """

    def __init__(self, root, split: str, info: DatasetInfo, mean, std, max_motion_length: int = 196,
                 unit_length_crop: bool = False, seed: int = 0):
        self.root, self.split, self.info = Path(root), split, info
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        for name, arr in (("mean", self.mean), ("std", self.std)):
            if arr.shape != (info.feat_dim,):
                raise ValueError(f"Text2MotionDataset: {name} has shape {arr.shape}, expected ({info.feat_dim},)")
        self.max_motion_length = max_motion_length
        self.unit_length_crop = unit_length_crop
        self.seed = seed
        self._rng, self._rng_key = None, None  # built lazily in each process, see _generator
        self.items = load_split(root, split, info, seed=seed)

    def _generator(self) -> np.random.Generator:
        # DataLoader workers hold copies of this object; each gets its own stream from its torch worker seed
        # (base_seed drawn from the main torch RNG + worker id) instead of sharing the parent's state.
        worker = torch.utils.data.get_worker_info()
        key = None if worker is None else worker.seed
        if self._rng is None or key != self._rng_key:
            self._rng = np.random.default_rng([self.seed] if key is None else [self.seed, key])
            self._rng_key = key
        return self._rng

    def __len__(self) -> int:
        return len(self.items)

    def captions(self) -> list[str]:
        """Every distinct caption string of the split, in item order (for precomputing text features once)."""
        return list(dict.fromkeys(c["caption"] for item in self.items for c in item["captions"]))

    def lengths(self) -> list[int]:
        """Frames each item is served with (its length capped by the window; the evaluator-style unit-length crop may
        take up to two units fewer): the sort key of EpochSampler's length buckets."""
        return [min(len(item["motion"]), self.max_motion_length) for item in self.items]

    def __getitem__(self, idx) -> dict:
        """idx: an int (caption and crop from the dataset's running generator, see the class docstring), or a key
        (epoch, i): then they come from numpy default_rng([seed, epoch, i]), a pure function of the key, so a
        resumed run draws exactly what the uninterrupted one drew (train.py's sampler yields such keys)."""
        if isinstance(idx, tuple):
            epoch, idx = idx
            rng = np.random.default_rng([self.seed, int(epoch), range(len(self.items))[idx]])
        else:
            rng = self._generator()
        idx = range(len(self.items))[idx]  # IndexError if out of range; negative indices allowed
        item = self.items[idx]
        text = item["captions"][rng.integers(len(item["captions"]))]
        motion = item["motion"]  # (F, D) raw
        if self.unit_length_crop:
            motion = unit_length_crop(motion, self.info.unit_length, rng)
        motion = random_crop(motion, self.max_motion_length, rng)
        length = len(motion)
        out = np.zeros((self.max_motion_length, self.info.feat_dim), dtype=np.float32)  # (T, D) zeros = padding
        out[:length] = (motion - self.mean) / self.std
        return {"caption": text["caption"], "tokens": list(text["tokens"]), "motion": torch.from_numpy(out),
                "length": length, "name": item["name"]}

    @staticmethod
    def collate_fn(batch: list[dict]) -> dict:
        return collate_fn(batch)


def collate_fn(batch: list[dict]) -> dict:
    """Stack Text2MotionDataset items: {"caption": list[str], "tokens": list[list[str]], "name": list[str],
    "motion": float32 (B, T, D), "length": long (B,), "mask": bool (B, T), True on valid frames}."""
    motion = torch.stack([b["motion"] for b in batch])  # (B, T, D)
    length = torch.tensor([b["length"] for b in batch], dtype=torch.long)  # (B,)
    mask = torch.arange(motion.shape[1])[None, :] < length[:, None]  # (B, T)
    return {"caption": [b["caption"] for b in batch], "tokens": [b["tokens"] for b in batch],
            "name": [b["name"] for b in batch], "motion": motion, "length": length, "mask": mask}


def feature_range(items: list[dict], mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Per-dimension [min, max] of the normalised features (x - mean) / std over every frame of `items`
    (load_split's dicts): float32 (2, D). Sampling clamps each x0 prediction to it (diffusion.sample's x0_range,
    "static thresholding", Saharia et al. 2022 sec. 2.3, the per-dimension form of DDPM's clip to [-1, 1])."""
    lo = np.min([item["motion"].min(0) for item in items], axis=0)
    hi = np.max([item["motion"].max(0) for item in items], axis=0)
    return ((np.stack([lo, hi]) - mean) / std).astype(np.float32)


def batches_per_epoch(num_items: int, batch_size: int, world: int) -> tuple[int, bool]:
    """(batches each process runs per epoch, drop_last) for `num_items` shared by `world` processes.

    Every process gets ceil(num_items / world) items (DistributedSampler's padding). Incomplete batches are dropped
    unless the whole dataset is smaller than one batch. Raises SystemExit naming the numbers when a process would
    get no batch at all (its loop would otherwise spin without ever taking a step)."""
    per_rank = math.ceil(num_items / world)
    drop_last = num_items >= batch_size
    n = per_rank // batch_size if drop_last else math.ceil(per_rank / batch_size)
    if n == 0:
        sys.exit(f"train.py: {num_items} training items over {world} processes give {per_rank} per process, fewer "
                 f"than --batch_size={batch_size}: every process would get 0 batches; use --batch_size<={per_rank} "
                 f"or at most {max(num_items // batch_size, 1)} processes")
    return n, drop_last


class EpochSampler(torch.utils.data.Sampler):
    """One process's share of an epoch as (epoch, index) keys; the order is a pure function of (seed, epoch, rank).

    Epoch e shuffles with torch.randperm under a generator seeded with seed + e (DistributedSampler's rule), pads
    by wrapping to a multiple of `world`, and rank r takes positions r, r + world, ... The first `skip` keys are
    left out: the items a resumed run already consumed. The keys carry the epoch to the dataset, whose caption and
    crop draws then depend on the key only (data.Text2MotionDataset.__getitem__), so resume repeats them exactly.

    Length buckets (lengths given, pool > 0): the rank's shuffled keys are cut into pools of pool * batch_size, each
    pool is sorted by length (longest first) and cut into batches, and the pool's full batches are shuffled
    (a generator seeded by seed, epoch and rank); an incomplete batch can only come last. A batch then holds clips of
    similar length, so cropping it to its longest clip (train.py) drops most of the padding. lengths: frames of each
    item as it will be served (at most the training window); batch_size must be the DataLoader's. As transformers'
    get_length_grouped_indices (shuffle, mega-batches of up to 50 batches, each sorted longest first), plus the
    shuffle of each pool's batches, so the lengths do not fall in a saw-tooth through the epoch.
    """

    def __init__(self, num_items: int, rank: int = 0, world: int = 1, seed: int = 0,
                 lengths: list[int] | None = None, batch_size: int = 1, pool: int = 0):
        if lengths is not None and len(lengths) != num_items:
            raise ValueError(f"EpochSampler: {len(lengths)} lengths for {num_items} items")
        self.num_items, self.rank, self.world, self.seed = num_items, rank, world, seed
        self.lengths, self.batch_size, self.pool = lengths, batch_size, pool
        self.per_rank = math.ceil(num_items / world)
        self.epoch, self.skip = 0, 0

    def bucket(self, mine: list[int]) -> list[int]:
        """The rank's keys regrouped into length-sorted batches (see the class docstring); a permutation of `mine`."""
        g = torch.Generator().manual_seed((self.seed + self.epoch) * 100_003 + self.rank)
        size, out = self.pool * self.batch_size, []
        for start in range(0, len(mine), size):
            chunk = sorted(mine[start:start + size], key=lambda i: -self.lengths[i])     # stable: ties keep order
            batches = [chunk[b:b + self.batch_size] for b in range(0, len(chunk), self.batch_size)]
            full = [b for b in batches if len(b) == self.batch_size]
            out += [i for j in torch.randperm(len(full), generator=g).tolist() for i in full[j]]
            out += [i for b in batches if len(b) < self.batch_size for i in b]          # the last pool's remainder
        return out

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def __iter__(self):
        order = torch.randperm(self.num_items, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        order = order.repeat(math.ceil(self.per_rank * self.world / self.num_items))[:self.per_rank * self.world]
        mine = order[self.rank::self.world].tolist()
        if self.lengths is not None and self.pool > 0:
            mine = self.bucket(mine)
        return iter([(self.epoch, i) for i in mine[self.skip:]])

    def __len__(self) -> int:
        return self.per_rank - self.skip
