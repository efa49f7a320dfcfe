"""The text-motion evaluator of Guo et al. 2022 ("Generating Diverse and Natural 3D Human Motions from Text"):
its three networks, the GloVe word vectorizer, the official checkpoint's layout and loading, the evaluation dataset
and the retrieval R@k its embeddings are scored by.

Networks and vectorizer follow EricGuo5513/text-to-motion networks/modules.py and utils/word_vectorizer.py,
with the official parameter names, so the released `finest.tar` loads as is. Layout of an evaluator directory:

    <dir>/<name>/text_mot_match/model/finest.tar   keys movement_encoder, text_encoder, motion_encoder (+ epoch)
    <dir>/<name>/meta/{mean,std}.npy               the evaluator's OWN normalisation (never recomputed)
                                                   (for the official ones: t2m_mean.npy -> t2m/meta/mean.npy,
                                                   t2m_std.npy -> t2m/meta/std.npy; kit_* likewise; the layout
                                                   <dir>/evaluator_meta/<name>/{mean,std}.npy is accepted too)
    <dir>/glove/our_vab_{data.npy,words.pkl,idx.pkl}  GloVe vocabulary (4,199 words x 300)
    <dir>/<name>/glove/our_vab_*                   a learned vocabulary (evaluators trained here without GloVe)

<name> is "t2m" (HumanML3D), "kit" (KIT-ML) or the dataset's name ("synthetic"). Where no released evaluator exists (the
embedded dataset), lab/train_evaluator.py trains one of this architecture and writes it in this layout. The GRUs pack
with enforce_sorted=False (as T2M-GPT's copy): the same result as sorting by length, and pairs keep batch order.

Used by evaluate.py; test: python -m pytest tests/test_evaluate.py -q
"""
import hashlib
import pickle
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils.data import DataLoader, Dataset

from data import DatasetInfo, unit_length_crop

# Released HumanML3D evaluator (t2m/text_mot_match/model/finest.tar of the T2M / MDM / StableMoFusion downloads).
T2M_FINEST_SIZE = 245_580_211
T2M_FINEST_SHA256 = "881e45bea6fb84b15eca6e7cdd75d602b58a72f2038c223ee96ab75d4f684ada"
MAX_TEXT_LEN = 20  # tokens kept per caption, before 'sos'/'eos' are added (22 positions in all)

# ----------------------------------------------------------------------------------------------------------------
# GloVe word vectorizer (T2M utils/word_vectorizer.py)
# ----------------------------------------------------------------------------------------------------------------
POS_enumerator = {"VERB": 0, "NOUN": 1, "DET": 2, "ADP": 3, "NUM": 4, "AUX": 5, "PRON": 6, "ADJ": 7, "ADV": 8,
                  "Loc_VIP": 9, "Body_VIP": 10, "Obj_VIP": 11, "Act_VIP": 12, "Desc_VIP": 13, "OTHER": 14}
VIP_dict = {  # word membership overrides spaCy's tag; 'dance' is listed twice in the original, kept
    "Loc_VIP": ("left", "right", "clockwise", "counterclockwise", "anticlockwise", "forward", "back", "backward",
                "up", "down", "straight", "curve"),
    "Body_VIP": ("arm", "chin", "foot", "feet", "face", "hand", "mouth", "leg", "waist", "eye", "knee", "shoulder",
                 "thigh"),
    "Obj_VIP": ("stair", "dumbbell", "chair", "window", "floor", "car", "ball", "handrail", "baseball", "basketball"),
    "Act_VIP": ("walk", "run", "swing", "pick", "bring", "kick", "put", "squat", "throw", "hop", "dance", "jump",
                "turn", "stumble", "dance", "stop", "sit", "lift", "lower", "raise", "wash", "stand", "kneel",
                "stroll", "rub", "bend", "balance", "flap", "jog", "shuffle", "lean", "rotate", "spin", "spread",
                "climb"),
    "Desc_VIP": ("slowly", "carefully", "fast", "careful", "slow", "quickly", "happy", "angry", "sad", "happily",
                 "angrily", "sadly"),
}


class WordVectorizer:
    """token "word/POS" -> (word vector (300,) float32, POS one-hot (15,) float32).

    Loads <glove_dir>/<prefix>_{data.npy (V, 300), words.pkl (list, rows 0,1,2 = sos, eos, unk), idx.pkl (word ->
    row)}. A known word gets its row and its POS one-hot, overridden by the VIP class when the word is in a VIP
    list; an unknown word gets the 'unk' row and OTHER; an unknown tag gets OTHER. Raises FileNotFoundError.
    """

    def __init__(self, glove_dir, prefix: str = "our_vab"):
        glove_dir = Path(glove_dir)
        paths = [glove_dir / f"{prefix}_{s}" for s in ("data.npy", "words.pkl", "idx.pkl")]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"WordVectorizer: missing {missing} (T2M's glove/ folder)")
        self.vectors = np.load(paths[0]).astype(np.float32)  # (V, 300)
        with open(paths[1], "rb") as f:
            self.words = pickle.load(f)
        with open(paths[2], "rb") as f:
            self.word2idx = pickle.load(f)
        if len(self.vectors) != len(self.words) or "unk" not in self.word2idx:
            raise ValueError(f"WordVectorizer: {paths[0]} has {len(self.vectors)} rows for {len(self.words)} words "
                             f"(need one row per word and an 'unk' entry)")
        self.vip = {w: key for key, words in VIP_dict.items() for w in words}

    @staticmethod
    def pos_ohot(pos: str) -> np.ndarray:
        vec = np.zeros(len(POS_enumerator), dtype=np.float32)
        vec[POS_enumerator.get(pos, POS_enumerator["OTHER"])] = 1.0
        return vec

    def index(self, token: str) -> tuple[int, np.ndarray]:
        """token -> (row in the vocabulary, POS one-hot (15,)). rsplit keeps words containing '/' whole."""
        word, _, pos = token.rpartition("/")
        if word not in self.word2idx:
            return self.word2idx["unk"], self.pos_ohot("OTHER")
        return self.word2idx[word], self.pos_ohot(self.vip.get(word, pos))

    def __getitem__(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        row, pos = self.index(token)
        return self.vectors[row], pos


def save_vocabulary(glove_dir, words: list[str], vectors: np.ndarray, prefix: str = "our_vab") -> None:
    """Write a vocabulary in GloVe's layout: <prefix>_words.pkl (list), _idx.pkl (dict), _data.npy (V, 300)."""
    glove_dir = Path(glove_dir)
    glove_dir.mkdir(parents=True, exist_ok=True)
    np.save(glove_dir / f"{prefix}_data.npy", vectors.astype(np.float32))
    with open(glove_dir / f"{prefix}_words.pkl", "wb") as f:
        pickle.dump(list(words), f)
    with open(glove_dir / f"{prefix}_idx.pkl", "wb") as f:
        pickle.dump({w: i for i, w in enumerate(words)}, f)


# ----------------------------------------------------------------------------------------------------------------
# Networks (T2M networks/modules.py): parameter names are the official ones
# ----------------------------------------------------------------------------------------------------------------
def init_weight(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv1d, nn.Linear, nn.ConvTranspose1d)):
        nn.init.xavier_normal_(m.weight)
        if m.bias is not None:
            nn.init.constant_(m.bias, 0)


class MovementConvEncoder(nn.Module):
    """(B, T, D-4) normalised motion without foot contacts -> (B, T/4, 512) movement features (two stride-2 convs)."""

    def __init__(self, input_size: int, hidden_size: int = 512, output_size: int = 512):
        super().__init__()
        self.main = nn.Sequential(nn.Conv1d(input_size, hidden_size, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2),
                                  nn.Conv1d(hidden_size, output_size, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2))
        self.out_net = nn.Linear(output_size, output_size)
        self.apply(init_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.main(x.permute(0, 2, 1)).permute(0, 2, 1)  # (B, T, C) -> (B, C, T) -> (B, T/4, C)
        return self.out_net(h)


class MovementConvDecoder(nn.Module):
    """(B, T/4, 512) -> (B, T, D): the auto-encoder half used only to pre-train MovementConvEncoder."""

    def __init__(self, input_size: int = 512, hidden_size: int = 512, output_size: int = 263):
        super().__init__()
        self.main = nn.Sequential(nn.ConvTranspose1d(input_size, hidden_size, 4, 2, 1), nn.LeakyReLU(0.2),
                                  nn.ConvTranspose1d(hidden_size, output_size, 4, 2, 1), nn.LeakyReLU(0.2))
        self.out_net = nn.Linear(output_size, output_size)
        self.apply(init_weight)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = self.main(h.permute(0, 2, 1)).permute(0, 2, 1)  # (B, T/4, C) -> (B, C, T/4) -> (B, T, D)
        return self.out_net(x)


class MotionEncoderBiGRUCo(nn.Module):
    """(B, T/4, 512) movement features + lengths (B,) in units of 4 frames -> (B, 512) motion embedding."""

    def __init__(self, input_size: int = 512, hidden_size: int = 1024, output_size: int = 512):
        super().__init__()
        self.input_emb = nn.Linear(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = nn.Sequential(nn.Linear(hidden_size * 2, hidden_size), nn.LayerNorm(hidden_size),
                                        nn.LeakyReLU(0.2), nn.Linear(hidden_size, output_size))
        self.apply(init_weight)
        self.hidden = nn.Parameter(torch.randn((2, 1, hidden_size)))  # learnable h0, (directions, 1, C)

    def forward(self, inputs: torch.Tensor, m_lens: torch.Tensor) -> torch.Tensor:
        h0 = self.hidden.repeat(1, inputs.shape[0], 1)  # (2, B, C)
        packed = pack_padded_sequence(self.input_emb(inputs), m_lens.cpu(), batch_first=True, enforce_sorted=False)
        _, h_last = self.gru(packed, h0)  # (2, B, C), in batch order
        return self.output_net(torch.cat([h_last[0], h_last[1]], dim=-1))  # (B, 2C) -> (B, 512)


class TextEncoderBiGRUCo(nn.Module):
    """word vectors (B, L, 300) + POS one-hots (B, L, 15) + lengths (B,) -> (B, 512) text embedding (L = 22)."""

    def __init__(self, word_size: int = 300, pos_size: int = 15, hidden_size: int = 512, output_size: int = 512):
        super().__init__()
        self.pos_emb = nn.Linear(pos_size, word_size)
        self.input_emb = nn.Linear(word_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = nn.Sequential(nn.Linear(hidden_size * 2, hidden_size), nn.LayerNorm(hidden_size),
                                        nn.LeakyReLU(0.2), nn.Linear(hidden_size, output_size))
        self.apply(init_weight)
        self.hidden = nn.Parameter(torch.randn((2, 1, hidden_size)))

    def forward(self, word_embs: torch.Tensor, pos_ohot: torch.Tensor, cap_lens: torch.Tensor) -> torch.Tensor:
        x = self.input_emb(word_embs + self.pos_emb(pos_ohot))  # (B, L, C)
        h0 = self.hidden.repeat(1, x.shape[0], 1)  # (2, B, C)
        packed = pack_padded_sequence(x, cap_lens.cpu(), batch_first=True, enforce_sorted=False)
        _, h_last = self.gru(packed, h0)
        return self.output_net(torch.cat([h_last[0], h_last[1]], dim=-1))  # (B, 2C) -> (B, 512)


class Evaluator(nn.Module):
    """The three encoders plus the evaluator's normalisation and vocabulary (T2M's EvaluatorModelWrapper).

    mean, std: np.float32 (D,) — motions given to the embedding methods must already be normalised with them."""

    def __init__(self, feat_dim: int, mean=None, std=None, word_vectorizer: WordVectorizer | None = None,
                 unit_length: int = 4):
        super().__init__()
        self.movement_encoder = MovementConvEncoder(feat_dim - 4, 512, 512)
        self.text_encoder = TextEncoderBiGRUCo(300, len(POS_enumerator), 512, 512)
        self.motion_encoder = MotionEncoderBiGRUCo(512, 1024, 512)
        self.feat_dim, self.unit_length, self.word_vectorizer = feat_dim, unit_length, word_vectorizer
        self.mean = None if mean is None else np.asarray(mean, np.float32)
        self.std = None if std is None else np.asarray(std, np.float32)

    @torch.no_grad()
    def get_motion_embeddings(self, motions: torch.Tensor, m_lens: torch.Tensor) -> torch.Tensor:
        """motions (B, T, D) evaluator-normalised, zero-padded; m_lens (B,) frames -> (B, 512), batch order."""
        device = next(self.parameters()).device
        movements = self.movement_encoder(motions[..., :-4].to(device).float())  # foot contacts dropped
        return self.motion_encoder(movements, torch.div(m_lens, self.unit_length, rounding_mode="floor"))

    @torch.no_grad()
    def get_co_embeddings(self, word_embs, pos_ohot, cap_lens, motions, m_lens) -> tuple[torch.Tensor, torch.Tensor]:
        """(text (B, 512), motion (B, 512)) embeddings of a batch of pairs, row i of both = pair i."""
        device = next(self.parameters()).device
        text = self.text_encoder(word_embs.to(device).float(), pos_ohot.to(device).float(), cap_lens)
        return text, self.get_motion_embeddings(motions, m_lens)


# ----------------------------------------------------------------------------------------------------------------
# Loading an evaluator directory
# ----------------------------------------------------------------------------------------------------------------
def evaluator_name(info: DatasetInfo) -> str:
    """Sub-directory of the evaluator for a dataset: 't2m' for HumanML3D, 'kit' for KIT-ML, else the dataset name."""
    return {"humanml3d": "t2m", "kit": "kit"}.get(info.name, info.name)


def evaluator_paths(evaluator_dir, name: str) -> dict:
    """Where each evaluator file is looked for: {"finest", "mean", "std", "glove"} (first existing candidate)."""
    d = Path(evaluator_dir)
    meta = next((m for m in (d / name / "meta", d / "evaluator_meta" / name) if (m / "mean.npy").is_file()),
                d / name / "meta")
    glove = d / name / "glove" if (d / name / "glove" / "our_vab_data.npy").is_file() else d / "glove"
    return {"finest": d / name / "text_mot_match" / "model" / "finest.tar", "mean": meta / "mean.npy",
            "std": meta / "std.npy", "glove": glove}


def check_official_checkpoint(path, size: int = T2M_FINEST_SIZE, sha256: str = T2M_FINEST_SHA256) -> bool:
    """Compare a user-supplied t2m finest.tar with the released file; warn (UserWarning) and return False if the
    size or sha256 differs, since numbers from another evaluator are not comparable with published tables."""
    path = Path(path)
    actual = path.stat().st_size
    if actual == size:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() == sha256:
            return True
        what = f"sha256 {h.hexdigest()} != released {sha256}"
    else:
        what = f"size {actual} bytes != released {size}"
    warnings.warn(f"evaluator.py: {path} is not the released T2M evaluator ({what}); FID / R-precision computed "
                  f"with it are NOT comparable with published tables", stacklevel=2)
    return False


def load_evaluator(evaluator_dir, name: str, feat_dim: int, device="cpu") -> Evaluator:
    """Build the evaluator <evaluator_dir>/<name> (layout in the module docstring), eval mode, on `device`.

    Raises FileNotFoundError listing every missing file and what to place there; RuntimeError if finest.tar does not
    fit the networks for feat_dim (D=263 t2m, 251 kit); ValueError for mean/std of the wrong shape."""
    paths = evaluator_paths(evaluator_dir, name)
    glove = paths["glove"]
    need = {paths["finest"]: "evaluator weights (text_mot_match/model/finest.tar of T2M's released evaluator)",
            paths["mean"]: f"evaluator mean ({name}_mean.npy of MDM dataset/ or StableMoFusion data/, renamed)",
            paths["std"]: f"evaluator std ({name}_std.npy of MDM dataset/ or StableMoFusion data/, renamed)"}
    need.update({glove / f"our_vab_{s}": "GloVe vocabulary (text-to-motion's glove/ folder)"
                 for s in ("data.npy", "words.pkl", "idx.pkl")})
    missing = [f"  {p}  <- {what}" for p, what in need.items() if not p.is_file()]
    if missing:
        hint = ("" if name in ("t2m", "kit") else
                f"\ntrain one with: python -m lab.train_evaluator --dataset={name} "
                f"--evaluator_dir={evaluator_dir}")
        raise FileNotFoundError(f"evaluator.py: evaluator {name!r} is incomplete; place these files:\n"
                                + "\n".join(missing) + hint)
    if name == "t2m":
        check_official_checkpoint(paths["finest"])
    mean, std = np.load(paths["mean"]).astype(np.float32), np.load(paths["std"]).astype(np.float32)
    if mean.shape != (feat_dim,) or std.shape != (feat_dim,):
        raise ValueError(f"evaluator.py: {paths['mean']} / {paths['std']} have shapes {mean.shape} / {std.shape}, "
                         f"expected ({feat_dim},)")
    if name == "t2m" and std[0] > 2e-3:
        warnings.warn(f"evaluator.py: {paths['std']}[0] = {std[0]:.3g}; the released t2m_std.npy has 5.15e-4 there. "
                      f"Is this HumanML3D's Std.npy instead of the evaluator's t2m_std.npy? (Std/25 on root and "
                      f"contact dims)", stacklevel=2)
    ev = Evaluator(feat_dim, mean, std, WordVectorizer(glove))
    state = torch.load(paths["finest"], map_location="cpu", weights_only=True)
    for key in ("movement_encoder", "text_encoder", "motion_encoder"):
        if key not in state:
            raise RuntimeError(f"evaluator.py: {paths['finest']} has no {key!r} (keys: {sorted(state)})")
        try:
            getattr(ev, key).load_state_dict(state[key])
        except RuntimeError as err:
            raise RuntimeError(f"evaluator.py: {paths['finest']}[{key!r}] does not fit the evaluator for D={feat_dim} "
                               f"(263 t2m, 251 kit): {err}") from None
    return ev.to(device).eval()


# ----------------------------------------------------------------------------------------------------------------
# Evaluation items (T2M data/dataset.py Text2MotionDatasetV2 in 'eval' mode)
# ----------------------------------------------------------------------------------------------------------------
class EvalDataset(Dataset):
    """item i -> (word_embs (22, 300) float32, pos_ohot (22, 15) float32, caption str, sent_len int,
    motion (196, D) float32 normalised with the evaluator's mean/std and zero-padded, m_length int, tokens str).

    A random caption of the item; tokens wrapped in sos/eos and padded with unk to 22 (cropped to 20 first);
    the motion gets the unit-length crop. With word_ids=True the first field holds vocabulary rows (22,) int64
    instead of vectors (for learning word embeddings). Randomness: numpy Generator seeded by (seed, index);
    set_seed(s) draws new captions and crops."""

    def __init__(self, items: list[dict], info: DatasetInfo, mean, std, word_vectorizer: WordVectorizer,
                 seed: int = 0, word_ids: bool = False, with_index: bool = False):
        self.items, self.info, self.wv, self.seed, self.word_ids = items, info, word_vectorizer, seed, word_ids
        self.with_index = with_index  # append the item index (evaluate.py looks up the item's action label)
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)

    def set_seed(self, seed: int) -> None:
        self.seed = seed

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int):
        item = self.items[idx]
        rng = np.random.default_rng([self.seed, idx])
        text = item["captions"][rng.integers(len(item["captions"]))]
        tokens = ["sos/OTHER"] + list(text["tokens"][:MAX_TEXT_LEN]) + ["eos/OTHER"]
        sent_len = len(tokens)
        tokens += ["unk/OTHER"] * (MAX_TEXT_LEN + 2 - sent_len)
        rows, pos = zip(*(self.wv.index(t) for t in tokens))
        words = np.array(rows, np.int64) if self.word_ids else self.wv.vectors[list(rows)]  # (22,) or (22, 300)
        motion = unit_length_crop(item["motion"], self.info.unit_length, rng)[:self.info.max_motion_length]
        m_length = len(motion)
        out = np.zeros((self.info.max_motion_length, self.info.feat_dim), np.float32)  # (T, D), zeros = padding
        out[:m_length] = (motion - self.mean) / self.std
        out = words, np.stack(pos), text["caption"], sent_len, out, m_length, "_".join(tokens)
        return out + (idx,) if self.with_index else out


def eval_collate(batch: list) -> list:
    """Sort by sent_len, longest first (T2M's collate_fn, needed by its packed GRU), then stack each field:
    [words (B, 22, 300) or (B, 22), pos_ohot (B, 22, 15), captions list, sent_len (B,), motion (B, 196, D),
    m_length (B,), tokens list] (+ item indices (B,) with EvalDataset(with_index=True)). np.stack: torch.stack of
    32 x (196, 263) is ~30x slower on a busy 2-core CPU."""
    words, pos, captions, sent_len, motion, m_length, tokens, *index = zip(*sorted(batch, key=lambda b: b[3],
                                                                                  reverse=True))
    return [torch.from_numpy(np.stack(words)), torch.from_numpy(np.stack(pos)), list(captions), torch.tensor(sent_len),
            torch.from_numpy(np.stack(motion)), torch.tensor(m_length), list(tokens)] + [torch.tensor(i) for i in index]


def eval_loader(dataset: EvalDataset, batch_size: int = 32, seed: int = 0, shuffle: bool = True) -> DataLoader:
    """Batches of 32, shuffled, last partial batch dropped (R-precision is defined within batches of 32)."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=True, collate_fn=eval_collate,
                      generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------------------------------------------
# Retrieval R@k: what the evaluator's embeddings (evaluate.py) and MoCLIP's (moclip.py) are scored by
# ----------------------------------------------------------------------------------------------------------------
def calculate_top_k(mat: np.ndarray, top_k: int) -> np.ndarray:
    """mat (N, N): row i = candidate indices sorted by distance to query i -> (N, top_k) bool, column k-1 = "the
    paired index i is among the first k"."""
    size = mat.shape[0]
    bool_mat = mat == np.arange(size)[:, None]  # (N, N)
    return np.cumsum(bool_mat[:, :top_k], axis=1) > 0  # cumulative OR over ranks


def retrieval_metrics(text_emb, motion_emb, chunk: int = 32, metric: str = "euclidean") -> dict:
    """Text-to-motion retrieval R@1/2/3 within consecutive chunks of `chunk` pairs (Guo's R-precision protocol, LUMA
    Table 5). text_emb, motion_emb: (N, C) arrays or tensors, row i of both = pair i; metric 'euclidean' (Guo's
    evaluator) or 'cosine' (CLIP-style encoders). A last partial chunk is dropped unless N < chunk.
    Returns {"R@1", "R@2", "R@3"} fractions in [0, 1]."""
    text = torch.as_tensor(text_emb).detach().cpu().double().numpy()
    motion = torch.as_tensor(motion_emb).detach().cpu().double().numpy()
    if metric not in ("euclidean", "cosine") or text.shape != motion.shape:
        raise ValueError(f"retrieval_metrics: metric must be euclidean | cosine (got {metric!r}) and the two "
                         f"embeddings the same shape (got {text.shape}, {motion.shape})")
    if metric == "cosine":
        text = text / np.linalg.norm(text, axis=1, keepdims=True)
        motion = motion / np.linalg.norm(motion, axis=1, keepdims=True)
    chunk = min(chunk, len(text))
    counts, n = np.zeros(3), 0
    for s in range(0, len(text) - chunk + 1, chunk):
        t, m = text[s:s + chunk], motion[s:s + chunk]
        if metric == "euclidean":  # clamped, unlike evaluate.euclidean_distance_matrix: identical rows give 0, not nan
            dist = np.sqrt(np.maximum((t ** 2).sum(1)[:, None] - 2 * t @ m.T + (m ** 2).sum(1)[None], 0))
        else:
            dist = -t @ m.T  # (chunk, chunk)
        counts, n = counts + calculate_top_k(np.argsort(dist, axis=1), 3).sum(0), n + chunk
    return {f"R@{k}": float(counts[k - 1] / n) for k in (1, 2, 3)}
