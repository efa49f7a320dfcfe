"""The split rule of the synthetic dataset: an i.i.d. test split and a held-out-composition test split (test_novel),
and the overlap figures of both with train (python -m synthetic --stats).

Rule. An action key is a primitive with its side and direction ("kick_left", "walk", "walk@clockwise", "turn_right").
A fixed set of ordered key pairs (A, B) is held out: HELD_OUT = 10 % of all pairs, drawn with the dataset seed,
closed under mirroring (a pair goes with its left/right-swapped twin, so a motion and its "M" copy are both held
out or both not). A test_novel motion is a chain of 2-3 primitives that does some A and later some B of a
held-out pair; every other motion (train, val, test) is resampled until it contains no held-out pair. So no
training motion contains the action sequence of a test_novel motion, not even as a sub-sequence. Its captions use
only the held-out sentence structures (synthetic.captions.NOVEL_GLUE), which are new orders and combinations of
words the training structures use: none equals a training caption, and every word is one the train split knows
(so the evaluator, whose word vectors are learned on train, can read them). test (i.i.d.) is drawn like train.

    python -m synthetic --stats        # builds dataset/Synthetic if needed, prints the overlap figures
"""
import json
import re
from pathlib import Path

import numpy as np

from synthetic.actions import PARAMS, PRIMITIVES, action_label
from synthetic.text import mirror_text, tokens

SPLITS = {"val": 0.05, "test": 0.15, "test_novel": 0.12}   # fractions of the base clips; the rest is train
HELD_OUT = 0.1                                            # fraction of ordered action pairs held out for test_novel


def step_key(name, p):
    """An action with its side and direction, as the held-out rule sees it: "kick_left", "walk", "walk@clockwise"."""
    return action_label(name, p) + (f"@{p['curve']}" if name == "walk" and p["curve"] != "straight" else "")


def chain_keys(prims):
    """The ordered action sequence of a chain [(name, params), ...] (settling steps left out), e.g. ("walk", "jump")."""
    return tuple(step_key(nm, p) for nm, p in prims if nm not in ("settle", "stand"))


def _mirror_key(k):
    return mirror_text(k.replace("_", " ").replace("@", " @")).replace(" @", "@").replace(" ", "_")


def held_out_pairs(seed, fraction=HELD_OUT):
    """The held-out ordered pairs (A, B) of action keys: a motion doing A and later B is test_novel, and no other
    motion may do so. A fraction of the pairs, drawn with `seed`, closed under mirroring (a pair is held out with its
    left/right-swapped twin). Returns a frozenset of (key, key) tuples."""
    keys = set()
    for nm in PRIMITIVES:                                  # every side / direction a primitive can take
        opts = [dict(side=sd, curve=cv) for sd in ("left", "right", "both") for cv in
                ("straight", "left", "right", "clockwise", "counterclockwise")]
        keys |= {step_key(nm, {k: v for k, v in o.items() if k in PARAMS[nm]}) for o in opts
                 if "side" not in PARAMS[nm] or o["side"] != "both" or nm in ("wave", "raise_arms", "punch")}
    keys = sorted(keys)
    orbits = sorted({tuple(sorted({(a, b), (_mirror_key(a), _mirror_key(b))})) for a in keys for b in keys if a != b})
    rng = np.random.default_rng([seed, 6])
    chosen = rng.permutation(len(orbits))[:round(fraction * len(orbits))]
    return frozenset(pair for i in chosen for pair in orbits[i])


def has_held_out(keys, held):
    """True if the action sequence `keys` does some A and later some B with (A, B) in `held`."""
    return any((keys[i], keys[j]) in held for i in range(len(keys)) for j in range(i + 1, len(keys)))


def split_ids(num_motions, seed):
    """Base ids -> split: SPLITS fractions of val / test / test_novel (at least one each), the rest (about 68 %)
    train, shuffled with `seed`. The mirrored "M" copy of an id is in the same split."""
    perm = np.random.default_rng(seed).permutation(num_motions)
    edges = np.cumsum([max(1, round(f * num_motions)) for f in SPLITS.values()])
    return {int(i): ([*SPLITS, "train"])[int(np.searchsorted(edges, r, side="right"))] for r, i in enumerate(perm)}


# ----------------------------------------------------------------------------------------------------------------
# Overlap of the test splits with train (python -m synthetic --stats)
# ----------------------------------------------------------------------------------------------------------------

def _split_texts(root, split):
    """{id: ([caption, ...], action sequence)} of one split: captions from texts/, the sequence from frame_labels/."""
    out = {}
    for m in (root / f"{split}.txt").read_text().split():
        caps = [ln.split("#")[0] for ln in (root / "texts" / f"{m}.txt").read_text().splitlines()]
        segs = json.loads((root / "frame_labels" / f"{m}.json").read_text())["segments"]
        out[m] = caps, tuple(step_key(s["action"].rsplit("_", 1)[0] if "side" in s["params"] else s["action"],
                                      s["params"]) for s in segs if s["action"] != "stand")
    return out


def overlap_stats(root, splits=("test", "test_novel")):
    """Overlap of each split with the train split: {split: {motions, captions, vocabulary (distinct words of the
    split's captions), lemmas (distinct HumanML3D token lemmas), unseen_words_pct (the split's word occurrences
    absent from train captions), verbatim_pct (captions equal to a train caption), verbatim_no_period_pct (the
    same ignoring a final period), motion_caption_seen_pct (motions with >= 1 such caption), sequence_seen_pct
    (motions whose ordered action sequence, sides and directions included, is that of a train motion)}}, plus
    "train" with its vocabulary and lemma counts. Percentages in %."""
    root = Path(root)
    train = _split_texts(root, "train")
    train_caps = {c for caps, _ in train.values() for c in caps}
    train_caps_np = {c.rstrip(".") for c in train_caps}
    train_seqs = {seq for _, seq in train.values()}

    def words(caps):
        return [w for c in caps for w in re.findall(r"[a-z]+", c.lower())]

    def lemmas(caps):
        return {t.rpartition("/")[0] for c in caps for t in tokens(c)}

    train_words = set(words(train_caps))
    out = {"train": dict(motions=len(train), captions=sum(len(c) for c, _ in train.values()),
                         vocabulary=len(train_words), lemmas=len(lemmas(train_caps)))}
    for split in splits:
        items = _split_texts(root, split)
        caps = [c for cs, _ in items.values() for c in cs]
        ws = words(caps)
        pct = lambda k, n: round(100.0 * k / max(n, 1), 1)  # noqa: E731
        out[split] = dict(
            motions=len(items), captions=len(caps), vocabulary=len(set(ws)), lemmas=len(lemmas(caps)),
            unseen_words_pct=pct(sum(w not in train_words for w in ws), len(ws)),
            verbatim_pct=pct(sum(c in train_caps for c in caps), len(caps)),
            verbatim_no_period_pct=pct(sum(c.rstrip(".") in train_caps_np for c in caps), len(caps)),
            motion_caption_seen_pct=pct(sum(any(c.rstrip(".") in train_caps_np for c in cs)
                                            for cs, _ in items.values()), len(items)),
            sequence_seen_pct=pct(sum(seq in train_seqs for _, seq in items.values()), len(items)))
    return out
