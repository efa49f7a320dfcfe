"""The embedded dataset: procedural human motion with captions, in the HumanML3D layout (EricGuo5513/HumanML3D).

So that a fresh machine trains with no download, this file synthesises ~3000 short clips (1500 + mirrored "M" copies)
of 20 action primitives (walk, run, jump, wave, kick, sit down, ...) chained 1-3 at a time, 2-10 s at 20 fps, on the
HumanML3D 22-joint target skeleton with its real bone lengths (motion.SKELETONS["t2m"]). Poses come from forward
kinematics: a yaw-rotated pelvis integrated from a commanded velocity, spine/neck rotations composed down the chain,
and two-link analytic IK for legs (ankle targets from a footstep planner: planted feet stay fixed, swing feet arc
to where the hip will be early in the next stance) and arms (wrist targets in the chest frame): bone lengths are exact.
The features are motion.extract_features of those positions, exactly as HumanML3D's process_file; mirrored copies
are motion.mirror_joints + motion.uniform_skeleton (HumanML3D's swap_left_right, then retargeting) with left/right
and clockwise/counterclockwise swapped in the text.

Each primitive has per-clip style parameters (step length and cadence, arm swing, jump height and crouch depth,
wave amplitude and speed, squat depth, tempo of repetitions, torso lean: synthetic.actions.PARAMS); a caption may
name a style ("quickly", "a high jump", "a small wave") and then the motion has it, or leave it unnamed, so two
clips of one caption differ. Captions (synthetic/captions.py, words and tokens in synthetic/text.py) come in ~70
subjects, many phrasings, manner/context modifiers and temporal glue, ~700 distinct words.

Splits (synthetic/splits.py): train / val / test (i.i.d.) / test_novel, about 68 / 5 / 15 / 12 % of the base clips,
a mirrored copy in its base clip's split. test_novel holds compositions never seen in training: every test_novel
chain does some action A and later some B of a held-out pair (10 % of the ordered pairs of actions with their
sides and directions, closed under mirroring), no other motion contains a held-out pair, and test_novel captions
use held-out sentence structures built from words that also occur in training captions (so the evaluator, whose
word vectors are learned on train, can read them). `--stats` prints the overlap figures of test and test_novel
with train (vocabulary, verbatim captions, motions with a caption seen in train, action sequences seen in train).

    python -m synthetic --root ./dataset/Synthetic --num_motions 1500 --seed 0 --stats   # ~30-60 s on 2 cores
    python -m pytest -q tests/test_synthetic.py
"""
import json
import multiprocessing
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d
from tqdm import tqdm

import runtime
from motion import SKELETONS, extract_features, feature_slices, mirror_joints, recover_from_ric, uniform_skeleton
from realism import runs
from synthetic.actions import (CHANNELS, FPS, LOCKING, MOVING, NEUTRAL_ARM, PRIMITIVES, WEIGHTS, Controls,
                               action_label, sample_params, smoothstep, write_primitive)
from synthetic.captions import describe, segment_text
from synthetic.splits import chain_keys, has_held_out, held_out_pairs, overlap_stats, split_ids
from synthetic.text import caption_line, mirror_text

VERSION = 2
SK = SKELETONS["t2m"]
BONE = SK.bone_lengths                                   # (22,) metres, 0 for the root
# Rest (standing) bone directions of the joints placed by forward kinematics, left side; the right side mirrors x.
# Rounded from frame 0 of a standing HumanML3D sample (raw_offsets are cruder: they put the head in front of the neck).
REST = {1: (0.55, -0.83, -0.05), 3: (0, 0.95, -0.3), 6: (0, 0.97, 0.2), 9: (0, 0.99, 0.12), 10: (0.25, -0.3, 0.92),
        12: (0, 0.99, -0.1), 13: (0.53, 0.85, -0.05), 15: (0, 0.8, 0.55), 16: (0.93, -0.35, -0.1)}
OFF = np.zeros((22, 3))
for _j, _d in REST.items():
    for _k in {_j, int(SK.mirror_perm[_j])}:
        _v = np.array(_d) * ([-1, 1, 1] if _k != _j else 1)
        OFF[_k] = _v / np.linalg.norm(_v) * BONE[_k]
LEGS = [(1, 4, 7, 10), (2, 5, 8, 11)]                    # (hip, knee, ankle, toe), left then right
ARMS = [(16, 18, 20), (17, 19, 21)]                      # (shoulder, elbow, wrist)
TOE_H = 0.008                                            # toe joint height with the foot flat on the floor (m)
ANKLE_H = TOE_H - OFF[10, 1]
STAND_H = ANKLE_H + 0.985 * (BONE[5] + BONE[8]) - OFF[1, 1]   # pelvis height standing, knees barely bent (~0.94 m)
RUN_ARM = (0.06, -0.3, 0.12)
SMOOTH_WINDOW = 3                                        # frames on each side of a boundary blended (0.3 s in all)


# ----------------------------------------------------------------------------------------------------------------
# Geometry helpers
# ----------------------------------------------------------------------------------------------------------------

def _rot(axis, a):
    """(T, 3, 3) rotations by angles a (T,) radians about axis 0=x, 1=y, 2=z (right-handed)."""
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    m = {0: [o, z, z, z, c, -s, z, s, c], 1: [c, z, s, z, o, z, -s, z, c], 2: [c, -s, z, s, c, z, z, z, o]}[axis]
    return np.stack(m, -1).reshape(a.shape + (3, 3))                       # (T, 3, 3)


def _apply(R, v):
    return np.einsum("tij,tj->ti", R, np.broadcast_to(v, R.shape[:-1]))   # (T, 3)


def _unit(v):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def two_link_ik(root, target, l1, l2, hint):
    """Analytic two-bone IK: (mid, end) joint positions (T, 3) with |mid-root| = l1 and |end-mid| = l2 exactly.

    root, target, hint (T, 3) metres; the joint bends towards `hint` (knee forward, elbow back). An unreachable
    target is pulled onto the reachable shell along root->target (the limb then stops short of it).
    """
    d = target - root
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    u = d / np.maximum(dist, 1e-9)
    dist = np.clip(dist, abs(l1 - l2) + 1e-3, 0.9995 * (l1 + l2))
    a = (l1 ** 2 - l2 ** 2 + dist ** 2) / (2 * dist)                       # along u, from root to the mid joint
    n = _unit(hint - (hint * u).sum(-1, keepdims=True) * u + 1e-6)        # bend direction, orthogonal to u
    mid = root + a * u + np.sqrt(np.maximum(l1 ** 2 - a ** 2, 0.0)) * n
    return mid, root + dist * u


# ----------------------------------------------------------------------------------------------------------------
# Controls -> joint positions: root integration, footstep planner, leg/arm IK, spine FK
# ----------------------------------------------------------------------------------------------------------------

def _plan_feet(c, root, yaw, phase):
    """Flat-foot ankle paths (2, N, 3) (y = height above the planted height), foot yaw (2, N), swing progress
    s (2, N) (0 when planted) and the (lift-off, landing) frame of each swing frame (2, N, 2).

    A swing window of foot k is where frac(phase + k/2) < 1 - duty; the foot lands where its hip will be 40% into
    the next stance (Raibert-style placement on the precomputed root path). Windows are skipped when the
    foot is already there (standing) or the foot is driven by an explicit event/override (jumps, kicks, kneeling).
    """
    N = c.n
    lock = np.zeros(N, bool)
    for k in range(2):
        for a, b, *_ in c.events[k]:
            lock[max(a - 2, 0):b + 2] = True
        for s0, w, *_ in c.overrides[k]:
            lock[s0:s0 + len(w)] = True

    def neutral(t, k, lateral=None, forward=0.0):
        side = 1.0 if k == 0 else -1.0
        off = np.array([side * (c.width if lateral is None else lateral), 0.0, forward])
        return root[t] + _rot(1, np.array([yaw[t]]))[0] @ off

    paths, fyaw, prog, ends = np.zeros((2, N, 3)), np.zeros((2, N)), np.zeros((2, N)), np.zeros((2, N, 2), int)
    for k in range(2):
        swing = ((phase + 0.5 * k) % 1.0) < (1.0 - c.duty)
        cand = []
        for a, b in runs(swing):                # a window that starts in a locked stretch keeps its unlocked tail
            a = max(1, a if not lock[a:b].any() else a + np.flatnonzero(lock[a:b])[-1] + 1)
            if b - a >= 3:
                cand.append((a, b, "gait", None))
        cand += [(a, b, "event", ev) for a, b, *ev in ((e[0], min(e[1], N - 1), *e[2:]) for e in c.events[k])]
        pos, fy, cur = neutral(0, k), yaw[0], 0
        for a, b, kind, ev in sorted(cand, key=lambda x: x[:2]):
            b = min(b, N - 1)
            if a < cur + 1 or b <= a:
                continue
            if kind == "gait":
                tt = min(N - 1, b + int(round(0.4 * c.duty[b] / c.freq[b] * FPS)))   # lands a bit ahead
                land, ly = neutral(tt, k), yaw[tt]
                dist, dy = np.linalg.norm(land - pos), abs(ly - fy)
                if not (c.step_on[a:b].max() > 0.5 and (dist > 0.03 or dy > 0.08) or dist > 0.08 or dy > 0.3):
                    continue
                height = c.clear[a:b] * np.sin(np.pi * (np.arange(a, b) - a + 1) / (b - a + 1))
            else:
                land, ly = neutral(b, k, ev[1], ev[2]), yaw[b]
                height = ev[0][:b - a]
            paths[k, cur:a], fyaw[k, cur:a] = pos, fy
            sp = (np.arange(a, b) - (a - 1)) / (b - (a - 1))
            w = smoothstep(sp)[:, None]
            paths[k, a:b] = pos + (land - pos) * w
            paths[k, a:b, 1] = height
            fyaw[k, a:b] = fy + (ly - fy) * w[:, 0]
            prog[k, a:b], ends[k, a:b] = sp, (a - 1, b)
            pos, fy, cur = land, ly, b
        paths[k, cur:], fyaw[k, cur:] = pos, fy
    return paths, fyaw, prog, ends


def build_positions(c, yaw0=0.0):
    """Global joint positions (N, 22, 3) float64 (metres, y up, floor y=0) from Controls `c` (N frames).

    Integrates heading and root path, plans the footsteps, sets the pelvis height (lowered where a leg could not
    reach its foot), then places legs and arms by two-link IK and spine/head by FK. yaw0: initial heading (rad).
    """
    N, side = c.n, np.array([1.0, -1.0])
    yaw = yaw0 + np.concatenate([[0.0], np.cumsum(c.yaw_rate[:-1])]) / FPS
    Ry = _rot(1, yaw)                                                      # (N, 3, 3) heading
    vel = _apply(Ry, np.stack([c.vel[:, 0], 0 * yaw, c.vel[:, 1]], -1))
    root = np.concatenate([np.zeros((1, 3)), np.cumsum(vel[:-1], 0)]) / FPS   # (N, 3) ground point under pelvis
    phase = np.cumsum(c.freq) / FPS
    feet, fyaw, prog, ends = _plan_feet(c, root, yaw, phase)
    pelvis = root + _apply(Ry, np.stack([c.shift[:, 0], 0 * yaw, c.shift[:, 1]], -1))
    bounce = c.bounce * (0.5 + 0.5 * np.cos(4 * np.pi * (phase - 0.25 + c.duty / 2)))  # peaks in the flight phases
    pelvis[:, 1] = STAND_H + c.h_off + c.lift + bounce

    # Heel lift: a planted foot behind the hip rolls over its toe (the toe stays put, the ankle rises), which lets
    # the trailing leg reach; during a swing the pitch blends from its lift-off to its landing value.
    fwd = np.stack([np.sin(yaw), 0 * yaw, np.cos(yaw)], -1)
    ankles, pitch, over_w = np.zeros((2, N, 3)), np.zeros((2, N)), np.zeros((2, N))
    for k, (hip, _, _, toe) in enumerate(LEGS):
        hip_xz = pelvis + _apply(Ry, OFF[hip])
        rel = ((feet[k] - hip_xz) * fwd)[:, [0, 2]].sum(-1)
        heel = np.clip((-rel - 0.12) * 2.5, 0.0, 0.8)
        sw = prog[k] > 0
        p = heel.copy()
        p[sw] = heel[ends[k, sw, 0]] * (1 - prog[k, sw]) ** 2 + heel[ends[k, sw, 1]] * prog[k, sw] ** 2
        pitch[k] = p + c.pitch[:, k]
        Rf = _rot(1, fyaw[k])
        ankles[k] = feet[k] + [0, ANKLE_H, 0] + _apply(Rf, OFF[toe]) - _apply(Rf @ _rot(0, pitch[k]), OFF[toe])
        for s0, w, _, _ in c.overrides[k]:
            over_w[k, s0:s0 + len(w)] = np.maximum(over_w[k, s0:s0 + len(w)], w)

    # Pelvis height: as commanded, but never so high that a supporting leg (not lifted by an override) can't reach.
    # The (negative) correction is spread smoothly: max-filter over +-4 frames, then a kernel of radius 4, which
    # keeps it at least as deep as needed at every frame.
    corr = np.zeros(N)
    for k, (hip, knee, ankle, _) in enumerate(LEGS):
        hip_xz = pelvis + _apply(Ry, OFF[hip])
        r2 = ((ankles[k] - hip_xz)[:, [0, 2]] ** 2).sum(-1)
        reach = ankles[k, :, 1] + np.sqrt(np.maximum((0.995 * (BONE[knee] + BONE[ankle])) ** 2 - r2, 0)) - OFF[hip, 1]
        corr = np.where(over_w[k] < 0.5, np.minimum(corr, reach - pelvis[:, 1]), corr)
    corr = -gaussian_filter1d(maximum_filter1d(-corr, 9, mode="nearest"), 1.5, mode="nearest", truncate=4 / 1.5)
    pelvis[:, 1] += corr

    J = np.zeros((N, 22, 3))
    J[:, 0] = pelvis
    for k, (hip, knee, ankle, toe) in enumerate(LEGS):
        J[:, hip] = pelvis + _apply(Ry, OFF[hip])
        target, fy = ankles[k].copy(), fyaw[k].copy()
        for s0, w, tgt, pt in c.overrides[k]:                              # body-relative leg targets (kick, ...)
            sl, w = slice(s0, s0 + len(w)), w[:, None]
            body = J[sl, hip] + _apply(Ry[sl], tgt) + np.outer(0.12 * 4 * w[:, 0] * (1 - w[:, 0]), [0, 1, 0])
            target[sl] = (1 - w) * target[sl] + w * body
            pitch[k, sl] = (1 - w[:, 0]) * pitch[k, sl] + w[:, 0] * pt
            fy[sl] = (1 - w[:, 0]) * fy[sl] + w[:, 0] * yaw[sl]
        hint = _apply(Ry, (0.15 * side[k], 0.0, 1.0))
        J[:, knee], J[:, ankle] = two_link_ik(J[:, hip], target, BONE[knee], BONE[ankle], hint)
        J[:, toe] = J[:, ankle] + _apply(_rot(1, fy) @ _rot(0, pitch[k]), OFF[toe])

    # Spine, neck and head by forward kinematics: the lean and twist angles are spread over the three spine joints.
    R_sp = _rot(0, c.lean / 3) @ _rot(1, c.twist / 3)
    G = Ry
    J[:, 3] = pelvis + _apply(G, OFF[3])
    for j, parent in ((6, 3), (9, 6), (12, 9)):
        G = G @ R_sp
        J[:, j] = J[:, parent] + _apply(G, OFF[j])
    chest = G                                                              # global rotation of spine3 (N, 3, 3)
    J[:, 15] = J[:, 12] + _apply(chest @ _rot(0, c.head - 0.5 * c.lean), OFF[15])

    # Arms: wrist targets relative to the shoulder in the chest frame (x outward), plus the locomotion arm swing.
    swing = c.swing * np.cos(2 * np.pi * (phase - (1 - c.duty)))           # + = left arm forward
    for k, (sh, el, wr) in enumerate(ARMS):
        collar = sh - 3
        J[:, collar] = J[:, 9] + _apply(chest, OFF[collar])
        J[:, sh] = J[:, collar] + _apply(chest, OFF[sh])
        tgt = c.arm[:, k] + c.run[:, None] * (np.subtract(RUN_ARM, NEUTRAL_ARM))   # elbows bent when running
        tgt[:, 2] -= side[k] * swing
        tgt = tgt * [side[k], 1, 1]
        hint = c.hint[:, k] * [side[k], 1, 1]
        J[:, el], J[:, wr] = two_link_ik(J[:, sh], J[:, sh] + _apply(chest, tgt), BONE[el], BONE[wr],
                                         _apply(chest, hint))
    return J


# ----------------------------------------------------------------------------------------------------------------
# One clip: primitive chain -> controls -> positions, captions, per-frame labels
# ----------------------------------------------------------------------------------------------------------------

def plan_clip(rng, chain=None, accept=None):
    """Sample 1-3 primitives [(name, params), ...] and frame boundaries (len + 3,) incl. idle pads, 2-9.8 s.
    `chain` (optional) fixes the primitives: names or (name, {param: value}) pairs overriding sampled params.
    `accept` (optional): predicate on chain_keys(prims); chains are resampled until it holds (the split rule).
    Raises RuntimeError if no accepted chain is found in 5000 draws."""
    w = np.array([WEIGHTS.get(nm, 1.0) for nm in PRIMITIVES])
    for attempt in range(5000):
        names = []
        for _ in range(rng.choice([1, 2, 3], p=[0.35, 0.4, 0.25])):
            nm = PRIMITIVES[rng.choice(len(PRIMITIVES), p=w / w.sum())]
            names.append(nm if not names or nm != names[-1] else "walk" if nm != "walk" else "jump")
        chosen = [(x, {}) if isinstance(x, str) else x for x in chain] if chain else [(nm, {}) for nm in names]
        prims = [(nm, sample_params(nm, rng, **over)) for nm, over in chosen]
        if accept is not None and not accept(chain_keys(prims)):
            continue
        for i in range(len(prims) - 1, 0, -1):                             # feet must be under the body before
            if prims[i - 1][0] in MOVING and prims[i][0] in LOCKING:         # the legs are scripted
                prims.insert(i, ("settle", dict(dur=0.7)))
        pads = rng.uniform(0.0, 0.6, 2)
        total = pads.sum() + sum(p["dur"] for _, p in prims)
        if total <= 9.8:
            break
        if chain and attempt >= 99:                                        # a fixed chain that is too long: keep one
            prims, pads, total = prims[:1], np.zeros(2), prims[0][1]["dur"]
            break
    else:
        raise RuntimeError(f"synthetic/build.py: no chain accepted by the split rule in 5000 draws (chain={chain})")
    pads[1] += max(0.0, 2.05 - total)                                      # at least 41 position frames
    times = np.cumsum([0.0, pads[0]] + [p["dur"] for _, p in prims] + [pads[1]])
    return prims, np.round(times * FPS).astype(int)


def make_clip(rng, chain=None, held=None, novel=False):
    """One random clip: positions (N, 22, 3) float64 metres, captions list[str], segments list[dict] (frames).
    rng: numpy Generator; chain: optional fixed primitives, e.g. ["walk", ("jump", {"reps": 1})] (see plan_clip).
    held: held-out action pairs (held_out_pairs) or None (no split rule); novel: make a test_novel clip (a chain
    containing a held-out pair, captions in held-out phrasings) instead of one that avoids every held-out pair.
    Segments: {"start", "end", "action", "text", "params"} (params: the primitive's sampled style parameters)."""
    accept = None if held is None else (lambda k: len(k) >= 2 and has_held_out(k, held)) if novel else \
        (lambda k: not has_held_out(k, held))
    prims, bounds = plan_clip(rng, chain, accept)
    c = Controls(int(bounds[-1]) + 1)
    c.width = rng.uniform(0.08, 0.12)                                      # lateral ankle offset from the root (m)
    pieces = [("stand", {})] + prims + [("stand", {})]
    for (name, p), s, e in zip(pieces, bounds[:-1], bounds[1:]):
        if e > s:
            write_primitive(c, name, p, int(s), int(e - s))
    m = SMOOTH_WINDOW                                                      # ~0.3 s crossfade at every boundary
    for b in bounds[1:-1]:
        if m <= b < c.n - m - 1:
            for name in CHANNELS:
                if name != "lift":
                    x = getattr(c, name)
                    w = smoothstep(np.arange(2 * m + 1) / (2 * m)).reshape((-1,) + (1,) * (x.ndim - 1))
                    x[b - m:b + m + 1] = (1 - w) * x[b - m] + w * x[b + m]
    for name, amp in (("lean", 0.03), ("twist", 0.04), ("head", 0.06), ("arm", 0.025)):   # individual variation
        x = getattr(c, name)
        x += amp * 4 * gaussian_filter1d(rng.standard_normal(x.shape), 6.0, axis=0)
    c.lean += rng.uniform(-0.03, 0.08)                                     # posture of this person (rad)
    c.head += rng.uniform(-0.12, 0.12)
    positions = build_positions(c, yaw0=rng.uniform(-np.pi, np.pi))
    captions = describe(rng, [x for x in prims if x[0] != "settle"], int(rng.integers(3, 5)), novel=novel)
    pieces = [("stand", {}) if nm == "settle" else (nm, p) for nm, p in pieces]
    segments = [dict(start=int(s), end=int(e), action=action_label(nm, p), text=segment_text(nm, p),
                     params={k: round(v, 3) if isinstance(v, float) else v for k, v in p.items()})
                for (nm, p), s, e in zip(pieces, bounds[:-1], bounds[1:]) if e > s]
    return positions, captions, segments


# ----------------------------------------------------------------------------------------------------------------
# Dataset in the HumanML3D layout
# ----------------------------------------------------------------------------------------------------------------

def _write_motion(job):
    """Generate base motion i (of split `split`) and its mirror, write their files; return per-id (F, feature sum,
    sum of squares, ...)."""
    root, seed, i, split, held = job
    rng = np.random.default_rng([seed, i])                                 # per-motion seed: order-independent
    positions, captions, segments = make_clip(rng, held=held, novel=split == "test_novel")
    mirror_params = lambda p: {k: mirror_text(v) if isinstance(v, str) else v for k, v in p.items()}  # noqa: E731
    out = []
    for mid, pos, texts, segs in [
        (f"{i:06d}", positions, captions, segments),
        (f"M{i:06d}", uniform_skeleton(mirror_joints(positions)), [mirror_text(t) for t in captions],
         [dict(s, action=mirror_text(s["action"].replace("_", " ")).replace(" ", "_"), text=mirror_text(s["text"]),
               params=mirror_params(s["params"])) for s in segments]),
    ]:
        feats = extract_features(pos)                                      # (F, 263) float32, F = N - 1
        np.save(root / "new_joint_vecs" / f"{mid}.npy", feats)
        np.save(root / "new_joints" / f"{mid}.npy", recover_from_ric(feats, 22).astype(np.float32))  # (F, 22, 3)
        (root / "texts" / f"{mid}.txt").write_text("".join(caption_line(t) + "\n" for t in texts))
        segs = [dict(s, end=min(s["end"], len(feats))) for s in segs if s["start"] < len(feats)]
        (root / "frame_labels" / f"{mid}.json").write_text(json.dumps({"fps": FPS, "segments": segs}))
        f64 = feats.astype(np.float64)
        out.append((mid, len(feats), len(texts), f64.sum(0), (f64 ** 2).sum(0), [s["action"] for s in segs]))
    return out


def generate(root, num_motions=1500, seed=0, workers=2, progress=True):
    """Write `num_motions` clips and their mirrored "M" copies into `root` in the HumanML3D layout (HumanML3D README):
    new_joint_vecs/<id>.npy (F, 263) float32, new_joints/<id>.npy (F, 22, 3) float32, texts/<id>.txt,
    frame_labels/<id>.json ({"fps": 20, "segments": [{"start", "end", "action", "text", "params"}]}, feature
    frames, end exclusive), Mean.npy / Std.npy (263,) over the train split with the group-averaged std (HumanML3D
    cal_mean_variance.ipynb), train/val/test/test_novel/train_val/all.txt, README.txt and meta.json (written last: its
    presence marks completion; it lists the held-out action pairs). test_novel holds the chains with a held-out pair
    (see the module docstring). Same seed -> byte-identical files on one machine (any number of workers), not across
    machines: a GPU machine with numpy 2.5.2 and Python 3.12 built other bytes than the 2-core development machine
    with numpy 2.4.6 and Python 3.11 (2026-12-04; which files differ is not known).
    Returns stats (counts, frames, seconds).
    Raises ValueError for num_motions < 4 (one per split).
    """
    if num_motions < 4:
        raise ValueError(f"synthetic/build.py: num_motions must be >= 4 (one per split), got {num_motions}")
    root, t0 = Path(root), time.time()
    for sub in ("new_joint_vecs", "new_joints", "texts", "frame_labels"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    split = split_ids(num_motions, seed)
    held = held_out_pairs(seed)
    jobs = [(root, seed, i, split[i], held) for i in range(num_motions)]
    D = SK.feat_dim
    total, total_sq, n_frames = np.zeros(D), np.zeros(D), 0
    lists, counts, actions = {"train": [], "val": [], "test": [], "test_novel": []}, dict(frames=0, captions=0), {}
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pool = multiprocessing.get_context(method).Pool(workers) if workers > 1 and num_motions >= 8 else None
    results = pool.imap(_write_motion, jobs, chunksize=8) if pool else map(_write_motion, jobs)
    try:
        for i, res in enumerate(tqdm(results, total=num_motions, desc="synthetic", disable=not progress)):
            for mid, F, n_cap, s1, s2, acts in res:                       # in id order -> deterministic sums
                lists[split[i]].append(mid)
                counts["frames"] += F
                counts["captions"] += n_cap
                for a in acts:
                    actions[a] = actions.get(a, 0) + 1
                if split[i] == "train":
                    total, total_sq, n_frames = total + s1, total_sq + s2, n_frames + F
    finally:
        if pool:
            pool.close()
            pool.join()
    mean = total / n_frames
    std = np.sqrt(np.maximum(total_sq / n_frames - mean ** 2, 0.0))
    for sl in feature_slices("t2m").values():                             # one std per group (cal_mean_variance.ipynb)
        std[sl] = std[sl].mean()
    if (std <= 0).any():                                                   # a tiny build can miss a whole group
        warnings.warn(f"synthetic.py: a feature group is constant over the {n_frames} train frames; its std is set "
                      f"to 1 (use more --num_motions)")
        std[std <= 0] = 1.0
    np.save(root / "Mean.npy", mean.astype(np.float32))
    np.save(root / "Std.npy", std.astype(np.float32))
    for name, ids in [*lists.items(), ("train_val", lists["train"] + lists["val"]),
                      ("all", lists["train"] + lists["val"] + lists["test"] + lists["test_novel"])]:
        (root / f"{name}.txt").write_text("".join(f"{m}\n" for m in sorted(ids)))
    counts.update(motions=2 * num_motions, **{k: len(v) for k, v in lists.items()})
    meta = dict(generator="synthetic.py", version=VERSION, seed=seed, num_motions=num_motions, fps=FPS,
                counts=counts, actions=dict(sorted(actions.items())),
                held_out_pairs=sorted(map(list, held)), complete=True)
    (root / "README.txt").write_text(
        f"Synthetic text-to-motion data in the HumanML3D layout, made by synthetic.py (version {VERSION}, seed {seed})"
        f".\n{num_motions} procedural clips + mirrored M copies, 20 fps, 22-joint HumanML3D skeleton, 263-dim "
        f"features.\ntest_novel.txt: chains of actions no training motion contains, in held-out phrasings.\n"
        f"Not motion capture: use it to check that code runs and learns, not to report benchmark "
        f"numbers.\nframe_labels/<id>.json: per-segment action labels in feature frames (end exclusive).\n")
    (root / "meta.json").write_text(json.dumps(meta, indent=1))
    return dict(counts, seconds=round(time.time() - t0, 1), root=str(root))


def _meta(root):
    try:
        return json.loads((root / "meta.json").read_text())
    except (OSError, ValueError):
        return {}


def _complete(root, num_motions, seed):
    """True if `root` holds a finished build of this version with these settings (meta.json and every file)."""
    meta = _meta(root)
    if not meta.get("complete") or (meta.get("version"), meta.get("seed"), meta.get("num_motions")) != \
            (VERSION, seed, num_motions) or not (root / "all.txt").is_file():
        return False
    ids = (root / "all.txt").read_text().split()
    return len(ids) == 2 * num_motions and all(
        {f"{m}.{ext}" for m in ids} <= set(os.listdir(root / sub))
        for sub, ext in (("new_joint_vecs", "npy"), ("new_joints", "npy"), ("texts", "txt"), ("frame_labels", "json")))


def ensure_dataset(root, num_motions=1500, seed=0, **kw):
    """Return Path(root), building the dataset first unless a complete build with the same settings is there.

    Builds into the sibling folder .<name>.building and renames it into place, so an interrupted build is never
    taken for a finished one. A synthetic build with other settings (its meta.json says generator "synthetic.py",
    the name this builder was first written under) is replaced; any other non-empty folder raises FileExistsError:
    we never delete data we did not make.
    kw: workers, progress (see generate()).
    """
    root = Path(root)
    if _complete(root, num_motions, seed):
        return root
    if root.exists() and any(root.iterdir()) and _meta(root).get("generator") != "synthetic.py":
        raise FileExistsError(f"synthetic/build.py: {root} is not empty and is not a synthetic build (no meta.json from "
                              f"synthetic.py); refusing to overwrite it. Pass another root or move it away.")
    tmp = root.parent / f".{root.name}.building"
    shutil.rmtree(tmp, ignore_errors=True)                                 # leftovers of a killed build
    stats = generate(tmp, num_motions=num_motions, seed=seed, **kw)
    if root.exists():
        shutil.rmtree(root)
    os.replace(tmp, root)
    print(f"synthetic/build.py: built {stats['motions']} motions ({stats['frames'] / FPS / 3600:.2f} h, "
          f"{stats['captions']} captions) in {stats['seconds']} s -> {root}")
    return root


@dataclass
class BuildConfig:
    root: str = "./dataset/Synthetic"  # output folder (HumanML3D layout)
    num_motions: int = 1500           # base clips; mirrored copies double it
    seed: int = 0                     # same seed -> byte-identical dataset (on one machine)
    workers: int = 2                  # processes
    stats: bool = False               # print the overlap of test and test_novel with train


def main(argv: list[str] | None = None) -> None:
    """python -m synthetic [--root=...] [--num_motions=...] [--seed=...] [--workers=...] [--stats]"""
    args = runtime.parse(sys.argv[1:] if argv is None else argv, BuildConfig(), prog="python -m synthetic")
    if args.num_motions < 4:
        raise SystemExit(f"synthetic/build.py: --num_motions must be >= 4 (one per split), got {args.num_motions}")
    root = ensure_dataset(args.root, num_motions=args.num_motions, seed=args.seed, workers=args.workers)
    if args.stats:
        print(json.dumps(overlap_stats(root), indent=1))


if __name__ == "__main__":
    main()
