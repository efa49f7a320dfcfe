"""Instruction following, measured: one kinematic check per action primitive of the embedded dataset.

FID and R-Precision are aggregates: they cannot say that a model never waves or kicks with the wrong foot. Each
check here reads recovered joints (T, 22, 3) (metres, y up, 20 fps, HumanML3D skeleton) and answers "does the body
do what its label says". A motion that only moves its root does not: a pose held rigid and slid along the floor,
lifted, or floated fails every check (tests/test_action_checks.py builds such bodies from a real pose).

- Locomotion (walk, walk_backward, jog, run, side_step) needs steps: single-foot contacts (a foot low and still)
  that alternate left/right at least min_steps times at a cadence of at least min_cadence, the feet sweeping
  relative to the pelvis, and planted feet that do not slide: GMD's skating ratio (realism.py) over the moving
  segment at most skate_max of that action (1.5 times the 95th percentile of its real train/val clips). Then the
  root speed along (or against, or across) the facing picks the action.
- Jumps and hops (jump, jump_forward, hop, jumping_jacks) need a flight the body makes: both feet above the floor
  for min_air_frames to max_air, and the knees (hip-knee-ankle angle) flexing by knee_flex within flex_window
  before every take-off and after every landing, as the data's jumps do.
- The other primitives read the limbs: waves raise that wrist above the shoulder and swing it, kicks lift that foot
  while the other one stands, turns change the facing towards the stated side, squats bend the knees as the pelvis
  drops, bows lean the trunk forward from upright and back, and so on for every primitive in
  synthetic.actions.PRIMITIVES. Labels are those of the dataset's frame_labels/<id>.json ("walk", "kick_left",
  "wave_both", ...); sides are the person's own.

The floor is y = 0 of the representation (HumanML3D's preprocessing puts the clip's lowest joint there and
recover_from_ric keeps the root height); a foot's height is the lower of its toe joint and its ankle joint minus
ankle_rest (the ankle's height when the foot is flat), so a foot is "up" when its lowest point is above `air`.
Thresholds (CHECK_THRESHOLDS) are set on the real train and val single-action clips of the default build (python
synthetic/build.py); on the real test clips `calibrate` then measures each check's true-positive rate (its action's
clips; the project asks >= 95%) and false-positive rate (the clips of every other action).

    python -m synthetic.action_checks                          # TPR / FPR on the embedded dataset's real test clips
    python -m synthetic.action_checks --splits=train,val       # ... on the clips the thresholds were set on
    python -m pytest -q tests/test_action_checks.py

Source: this project (the per-primitive checks); the kinematic conventions (facing from hips and shoulders, floor at
y = 0) are HumanML3D's (Guo et al. 2022, motion_representation.ipynb); the skating ratio is GMD's
(Karunratanakul et al. 2023, utils/metrics.py calculate_skating_ratio, via realism.py).
"""
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import find_peaks

import runtime
from realism import runs
from synthetic.kinematics import FLOOR, airborne, flights, kinematics, longest_run, moving_segment, steps

SIDES = ("left", "right", "both")

# Every threshold of every check (metres, seconds, radians, m/s). Data ranges in the comments are those of the real
# train + val single-action clips of the default build (python -m synthetic; 1004 clips), as `python
# synthetic/action_checks.py --splits=train,val` measures them; the test clips were not looked at to set them.
CHECK_THRESHOLDS = dict(
    **FLOOR,                    # feet and floor (y = 0): air, ankle_rest, contact_speed (synthetic/kinematics.py)
    # -- locomotion
    moving_speed=0.2,           # m/s: root speed (0.5 s mean) that makes a frame part of the moving segment
    min_steps=3,                # alternating single-foot contact onsets (data: walk >= 4, backward 4, jog 5, run 5,
                                #   side steps 4)
    min_cadence=1.0,            # steps/s between the first and last step (data >= 1.25)
    foot_sweep=0.15,            # m: each foot's offset from the pelvis spans this along or across the facing while
                                #   moving (5-95th percentile; data >= 0.24 side steps, 0.32 walks; a rigid body 0)
    skate_max=dict(walk=0.55, walk_backward=0.55, jog=0.35, run=0.1, side_step=0.75),  # GMD skating ratio of
                                #   the moving segment: 1.5 x the 95th percentile of the action's clips (walk 0.37,
                                #   backward 0.36, jog 0.24, run 0.016 -> floor 0.1, side steps 0.50); a glide ~1
    walk_speed=(0.4, 1.9),      # m/s cruise speed along the facing (data 0.8-1.8)
    backward_speed=0.25,        # m/s cruise speed against the facing (data 0.5-0.9)
    jog_speed=(1.9, 2.8),       # m/s (data 2.0-2.6)
    run_speed=2.8,              # m/s (data 3.0-3.8)
    side_speed=0.15,            # m/s sideways towards the stated side (data 0.35-0.5)
    # -- turns
    turn_angle=np.deg2rad(50),  # net facing change towards the stated side (data 90 or 180 deg)
    spin_angle=np.deg2rad(270), # (data 360 deg)
    travel_turn=0.6,            # m: turns/spins/jumps in place stay within this of where they started
    # -- jumps and hops
    min_air_frames=3,           # frames of both feet up for a flight (data: jacks >= 3, hops >= 4, jumps >= 5)
    max_air=0.9,                # s: a longer flight is not a jump (the ballistic time of a 1 m jump; data <= 0.6)
    knee_flex=np.deg2rad(8),    # rad: range of a knee angle within flex_window before each take-off and after each
    flex_window=0.4,            # s   landing (data: jacks >= 9.9 deg, hops >= 21, jumps >= 32; a rigid body 0)
    jump_forward=0.3,           # m of net travel along the facing for jump_forward (data >= 0.37; jumps 0)
    hop_lift=0.12,              # m: the held foot is this much higher than the standing foot ...
    hop_frac=0.4,               # ... for this fraction of the clip
    jacks_spread=0.45,          # m between the ankles at the widest (jacks hop out 0.3 m each side)
    # -- arms
    wrist_up=0.0,               # m: a wrist is raised when above its shoulder (neutral -0.49, wave +0.12, raise >= 0)
    raise_up=-0.1,              # m: raised arms (raise_arms "side" holds the wrist at shoulder height, clap -0.12)
    arm_hold=0.5,               # s a raised wrist stays up
    swing=0.03,                 # m: prominence of a sideways turn-around of a raised wrist (small waves swing
                                #   +-0.045 m: 0.08-0.09 peak to peak; held raised arms drift once at most)
    wave_swings=3,              # turn-arounds while raised: waves 3-13 in the data, raised arms 0-1
    clap_gap=0.15,              # m: wrists this close count as a clap ...
    clap_count=2,               # ... at least this many times
    punch_reach=0.4,            # m a punching wrist reaches in front of its shoulder (guard 0.22, jab 0.54) ...
    guard=0.12,                 # ... from a guard that holds both wrists this far in front for arm_hold
    # -- legs and trunk
    kick_lift=0.22,             # m the kicking foot rises above the floor (data ankle target ~0.6 m)
    squat_drop=0.2,             # m the pelvis drops below its standing height (squat 0.33-0.45, sit 0.45)
    squat_knee=np.deg2rad(30),  # rad both knees bend meanwhile (from the clip's 90th percentile; data >= 63 deg)
    sit_hold=2.0,               # s the pelvis stays down for sit_stand (2.4-3.8); a squat comes up sooner (1.0-1.5)
    kneel_knee=0.2,             # m: the kneeling knee comes within this of the floor ...
    kneel_gap=0.15,             # ... and this far below the other knee
    bow_lean=0.12,              # rad the pelvis-to-neck line leans forward (95th percentile: slight bows 0.18,
                                #   deep 0.6; runs lean up to 0.16 but travel; squats and sit-downs lean with the
                                #   pelvis down)
    bow_rise=0.1,               # rad the lean rises above the clip's most upright frame (data >= 0.21; still 0)
    bow_hold=0.5,               # s the bow's lean is held (sit_stand and squat hold it <= 0.35 s with the pelvis up)
    bow_drop=0.15,              # m: a bow keeps the pelvis within this of standing height
)


def _sides(side: str) -> tuple[list[int], list[int]]:
    """'left' | 'right' | 'both' -> (indices that must act, indices that must not) into (left, right) pairs."""
    return {"left": ([0], [1]), "right": ([1], [0]), "both": ([0, 1], [])}[side]


# ----------------------------------------------------------------------------------------------------------------
# Travelling and jumping with the body: steps and flights (synthetic/kinematics.py) made by the legs
# ----------------------------------------------------------------------------------------------------------------
def _stepping(k, th, name):
    """The body walks, jogs or runs on its feet: >= min_steps alternating steps at >= min_cadence, both feet sweep
    >= foot_sweep relative to the pelvis while moving, and GMD skating over the moving segment <= skate_max[name]."""
    s0, s1 = moving_segment(k, th)
    st = steps(k)
    if s1 - s0 < 4 or len(st) < th["min_steps"]:
        return False
    cadence = (len(st) - 1) * k["fps"] / max(st[-1][0] - st[0][0], 1)
    sw = k["sweep"][s0:s1]                                          # (S, side, fwd/left)
    span = (np.percentile(sw, 95, axis=0) - np.percentile(sw, 5, axis=0)).max(-1)  # (2,) per foot
    skate = k["skate"][s0:s1 - 1].mean()
    return cadence >= th["min_cadence"] and span.min() >= th["foot_sweep"] and skate <= th["skate_max"][name]


def _powered(k, th, a, b):
    """A flight (a, b) made by the legs: it takes off and lands inside the clip within max_air, and a knee angle
    spans >= knee_flex in the flex_window before take-off and in the one after landing (a body lifted rigidly or
    levitating keeps its knees as they are)."""
    w, kn = round(th["flex_window"] * k["fps"]), k["knee"]
    pre, post = kn[max(0, a - w):a + 1], kn[b - 1:b + w]            # (<= w + 1, 2) each
    return (b - a) <= th["max_air"] * k["fps"] and a > 0 and b < k["T"] and \
        np.ptp(pre, 0).max() >= th["knee_flex"] and np.ptp(post, 0).max() >= th["knee_flex"]


def _jumps(k, th):
    """Number of flights, or 0 if any flight is not made by the legs (_powered)."""
    fl = flights(k, th)
    return len(fl) if all(_powered(k, th, a, b) for a, b in fl) else 0


# ----------------------------------------------------------------------------------------------------------------
# The checks: check_<primitive>(k = kinematics(joints), th = CHECK_THRESHOLDS, side = the label's suffix, None for
# primitives without one) -> bool. Sides are the person's own; + yaw / + v_side = towards the person's left.
# ----------------------------------------------------------------------------------------------------------------
def _signed(side):
    return 1.0 if side == "left" else -1.0


def check_walk(k, th, side=None):
    """Walks forward on its feet (_stepping): cruise speed along the facing in the walking band, never both feet
    off the floor for min_air_frames."""
    lo, hi = th["walk_speed"]
    return lo <= k["cruise"] < hi and longest_run(airborne(k, th)) < th["min_air_frames"] and \
        _stepping(k, th, "walk")


def check_walk_backward(k, th, side=None):
    """Walks backward on its feet: cruise speed against the facing, more backward than sideways."""
    return k["cruise"] <= -th["backward_speed"] and abs(k["v_side"]) < -k["v_fwd"] and \
        _stepping(k, th, "walk_backward")


def check_jog(k, th, side=None):
    """Jogs on its feet: cruise speed along the facing in the jogging band."""
    lo, hi = th["jog_speed"]
    return lo <= k["cruise"] < hi and _stepping(k, th, "jog")


def check_run(k, th, side=None):
    """Runs on its feet: cruise speed along the facing above the running threshold."""
    return k["cruise"] >= th["run_speed"] and _stepping(k, th, "run")


def check_side_step(k, th, side):
    """Side steps: moves towards the stated side faster than forward or back, on its feet."""
    return _signed(side) * k["v_side"] >= th["side_speed"] and abs(k["v_fwd"]) < abs(k["v_side"]) and \
        _stepping(k, th, "side_step")


def check_turn(k, th, side):
    """Turns: the facing changes by turn_angle..spin_angle towards the stated side, without walking away."""
    a = _signed(side) * k["turn"]
    return th["turn_angle"] <= a < th["spin_angle"] and k["travel"] < th["travel_turn"] and \
        abs(k["cruise"]) < th["walk_speed"][0]


def check_spin(k, th, side):
    """Spins: the facing changes by >= spin_angle towards the stated side, without walking away."""
    return _signed(side) * k["turn"] >= th["spin_angle"] and k["travel"] < th["travel_turn"] and \
        abs(k["cruise"]) < th["walk_speed"][0]


def _two_footed(k, th):
    """Both feet leave the floor together in flights the legs make (_jumps), and land together: no leg held up
    (hop), feet not spread (jacks)."""
    fh = k["foot_h"]
    held = (np.abs(fh[:, 0] - fh[:, 1]) > th["hop_lift"]).mean() >= th["hop_frac"]
    return _jumps(k, th) > 0 and not held and k["ankle_gap"].max() < th["jacks_spread"]


def check_jump(k, th, side=None):
    """Jumps in place: both feet leave the floor together; the body lands within jump_forward of where it took off
    (so a jump forward is not also a jump in place)."""
    return _two_footed(k, th) and k["travel"] < th["jump_forward"]


def check_jump_forward(k, th, side=None):
    """Jumps forward: two-footed flight and >= jump_forward m of travel along the facing."""
    return _two_footed(k, th) and k["fwd_travel"] >= th["jump_forward"] and k["cruise"] < th["jog_speed"][0]


def check_hop(k, th, side):
    """Hops on the stated foot (synthetic.actions: side = the standing leg): the other foot held up, flights the
    legs make."""
    stand, held = (0, 1) if side == "left" else (1, 0)
    fh = k["foot_h"]
    held_up = (fh[:, held] - fh[:, stand] > th["hop_lift"]).mean() >= th["hop_frac"]
    return held_up and _jumps(k, th) > 0


def check_jumping_jacks(k, th, side=None):
    """Jumping jacks: both wrists above the shoulders, flights the legs make, feet spread wide."""
    arms_up = (k["wrist_up"] > th["wrist_up"]).all(-1).any()
    return arms_up and _jumps(k, th) > 0 and k["ankle_gap"].max() >= th["jacks_spread"]


def _low(k, th):
    """Longest time (s) the pelvis stays squat_drop below standing with the knees bent squat_knee below their
    straightest (90th percentile), both feet down and no knee on the floor."""
    if airborne(k, th).any() or k["knee_h"].min() <= th["kneel_knee"]:
        return 0.0
    bent = (np.percentile(k["knee"], 90, axis=0) - k["knee"] >= th["squat_knee"]).all(-1)  # (T,)
    return longest_run((k["pelvis_drop"] >= th["squat_drop"]) & bent) / k["fps"]


def check_squat(k, th, side=None):
    """Squats: the pelvis goes down on bent knees (feet on the floor, no knee down) and comes up within sit_hold."""
    return 0 < _low(k, th) < th["sit_hold"]


def check_sit_stand(k, th, side=None):
    """Sits down and stands up: the pelvis stays down on bent knees for >= sit_hold."""
    return _low(k, th) >= th["sit_hold"]


def check_kneel(k, th, side):
    """Kneels on the stated knee: it comes to the floor, well below the other knee."""
    down, other = (0, 1) if side == "left" else (1, 0)
    knee = k["knee_h"]                                              # (T, 2) above the floor
    return bool(((knee[:, down] <= th["kneel_knee"]) & (knee[:, other] - knee[:, down] >= th["kneel_gap"])).any())


def _arm_up(k, th, level, i):
    return longest_run(k["wrist_up"][:, i] > level) >= th["arm_hold"] * k["fps"]


def _swings(k, th, level, i):
    """Sideways turn-arounds of wrist i while it is above `level`: maxima and minima of its outward position with a
    prominence of at least th["swing"] metres. A wave swings back and forth; a raised arm moves out once."""
    up, x = k["wrist_up"][:, i] > level, k["wrist_side"][:, i]
    turns = np.concatenate([find_peaks(x, prominence=th["swing"])[0], find_peaks(-x, prominence=th["swing"])[0]])
    return int(up[turns].sum())


def _arms(k, th, side, level, waving):
    """The `side` arms are held above `level` (swaying if waving, still if not), the others are not raised; feet
    on the floor and hands apart (not jumping jacks, not a clap)."""
    on, off = _sides(side)
    ok = all(_arm_up(k, th, level, i) and (_swings(k, th, level, i) >= th["wave_swings"]) == waving for i in on)
    return ok and not any(_arm_up(k, th, th["raise_up"], i) for i in off) and not airborne(k, th).any() and \
        k["wrist_gap"].min() > th["clap_gap"]


def check_wave(k, th, side):
    """Waves with the stated hand(s): wrist above the shoulder, swaying sideways; the other arm stays down."""
    return _arms(k, th, side, th["wrist_up"], True)


def check_raise_arms(k, th, side):
    """Raises the stated arm(s): wrist at or above shoulder height and still; the other arm stays down."""
    return _arms(k, th, side, th["raise_up"], False)


def check_clap(k, th, side=None):
    """Claps: the wrists come together at least clap_count times."""
    return len(runs(k["wrist_gap"] < th["clap_gap"])) >= th["clap_count"]


def check_punch(k, th, side):
    """Punches with the stated fist(s) from a guard: the wrist reaches punch_reach in front of the shoulder, the
    other does not; punch_both: a guard with both fists and at least one jab (one repetition throws only one)."""
    on, off = _sides(side)
    reach = k["wrist_fwd"].max(0)                                   # (2,)
    guard = longest_run((k["wrist_fwd"][:, on] > th["guard"]).all(-1)) >= th["arm_hold"] * k["fps"]
    jabs = any(reach[i] >= th["punch_reach"] for i in on) if side == "both" else \
        all(reach[i] >= th["punch_reach"] for i in on) and not any(reach[i] >= th["punch_reach"] for i in off)
    return guard and jabs and not airborne(k, th).any() and k["pelvis_drop"].max() < th["squat_drop"]


def check_kick(k, th, side):
    """Kicks with the stated foot: it rises >= kick_lift while the other foot stays on the floor."""
    kick, stand = (0, 1) if side == "left" else (1, 0)
    fh = k["foot_h"]
    return bool(((fh[:, kick] >= th["kick_lift"]) & (fh[:, stand] < th["air"])).any()) and not airborne(k, th).any()


def check_bow(k, th, side=None):
    """Bows: the trunk leans forward >= bow_lean, and bow_rise above its most upright frame, with the pelvis near
    standing height for bow_hold, in place."""
    lean = k["lean"]
    ok = (lean >= th["bow_lean"]) & (lean - lean.min() >= th["bow_rise"]) & (k["pelvis_drop"] < th["bow_drop"])
    return longest_run(ok) >= th["bow_hold"] * k["fps"] and k["travel"] < th["travel_turn"]


CHECKS = {"walk": check_walk, "walk_backward": check_walk_backward, "jog": check_jog, "run": check_run,
          "side_step": check_side_step, "turn": check_turn, "spin": check_spin, "jump": check_jump,
          "jump_forward": check_jump_forward, "hop": check_hop, "jumping_jacks": check_jumping_jacks,
          "squat": check_squat, "sit_stand": check_sit_stand, "kneel": check_kneel, "wave": check_wave,
          "raise_arms": check_raise_arms, "clap": check_clap, "punch": check_punch, "kick": check_kick,
          "bow": check_bow}


def parse_label(label: str) -> tuple[str, str | None]:
    """'kick_left' -> ('kick', 'left'); 'walk_backward' -> ('walk_backward', None). Raises ValueError for a label
    whose primitive has no check or whose side is missing where the check needs one."""
    name, _, side = label.rpartition("_")
    if side in SIDES and name in CHECKS and CHECKS[name].__defaults__ is None:  # checks with a side take no default
        return name, side
    if label in CHECKS and CHECKS[label].__defaults__ is not None:
        return label, None
    raise ValueError(f"action_checks.py: no check for action label {label!r}; primitives: {sorted(CHECKS)} "
                     f"(+ _left/_right/_both where the primitive has a side)")


def check_action(joints: np.ndarray, label: str, fps: float = 20.0, thresholds: dict | None = None) -> bool:
    """True if joints (T, 22, 3) (metres, y up) perform the action `label` (frame_labels' naming, e.g. "wave_left").
    thresholds: overrides of CHECK_THRESHOLDS. Raises ValueError for an unknown label or malformed joints."""
    name, side = parse_label(label)
    th = {**CHECK_THRESHOLDS, **(thresholds or {})}
    return bool(CHECKS[name](kinematics(joints, fps, th), th, side))


def single_action_label(label_file: str | Path) -> str | None:
    """frame_labels/<id>.json -> the action of a single-action clip (one segment that is not "stand", standing
    before/after allowed), else None."""
    segs = [s for s in json.loads(Path(label_file).read_text())["segments"] if s["action"] != "stand"]
    return segs[0]["action"] if len(segs) == 1 else None


# ----------------------------------------------------------------------------------------------------------------
# Calibration on real clips
# ----------------------------------------------------------------------------------------------------------------
def real_clips(root: str | Path, splits=("train", "val", "test")) -> list[tuple[str, np.ndarray]]:
    """(label, joints (T, 22, 3) float64 recovered from the features, as evaluate.py recovers them) of every
    single-action clip of `splits` in an embedded-dataset build at `root`."""
    from motion import recover_from_ric
    root, out = Path(root), []
    for split in splits:
        f = root / f"{split}.txt"
        if not f.is_file():
            continue
        for cid in f.read_text().split():
            label = single_action_label(root / "frame_labels" / f"{cid}.json")
            if label is not None:
                feats = np.load(root / "new_joint_vecs" / f"{cid}.npy").astype(np.float64)
                out.append((label, recover_from_ric(feats, 22)))
    return out


def calibrate(clips: list[tuple[str, np.ndarray]], fps: float = 20.0, thresholds: dict | None = None) -> dict:
    """Per label: {"n", "TPR" (fraction of its own clips the check passes), "FPR" (fraction of the clips of every
    other label it passes; labels of the same primitive with another side count as others), "worst" (the other
    label whose clips it passes most often, and that rate)}. thresholds: overrides of CHECK_THRESHOLDS."""
    th = {**CHECK_THRESHOLDS, **(thresholds or {})}
    labels = sorted({lab for lab, _ in clips})
    kin = [(lab, kinematics(j, fps, th)) for lab, j in clips]
    out = {}
    for label in labels:
        name, side = parse_label(label)
        hits = np.array([bool(CHECKS[name](k, th, side)) for _, k in kin])
        own = np.array([lab == label for lab, _ in kin])
        rate = {o: float(hits[[lab == o for lab, _ in kin]].mean()) for o in labels if o != label}
        worst = max(rate, key=rate.get) if rate else "-"
        out[label] = {"n": int(own.sum()), "TPR": float(hits[own].mean()), "FPR": float(hits[~own].mean()),
                      "worst": (worst, rate.get(worst, 0.0))}
    return out


def format_calibration(table: dict) -> str:
    """Markdown table of calibrate()'s result."""
    lines = ["| action | real clips | TPR | FPR on other actions | most passed other action |", "|---|---|---|---|---|"]
    lines += [f"| {a} | {v['n']} | {v['TPR']:.3f} | {v['FPR']:.3f} | "
              + (f"{v['worst'][0]} {v['worst'][1]:.2f} |" if v["worst"][1] > 0 else "- |") for a, v in table.items()]
    return "\n".join(lines) + "\n"


@dataclass
class CalibrationConfig:
    data_root: str = "./dataset/Synthetic"  # an embedded-dataset build (built if absent)
    splits: str = "test"              # comma-separated splits whose clips are checked (thresholds: set on train,val)


def main(argv: list[str]) -> None:
    args = runtime.parse(argv, CalibrationConfig(), prog="synthetic/action_checks.py")
    root = Path(args.data_root)
    if not (root / "frame_labels").is_dir():
        if root.exists():
            raise SystemExit(f"action_checks.py: {root} has no frame_labels/; give an embedded-dataset build")
        from synthetic.build import ensure_dataset
        ensure_dataset(root)
    clips = real_clips(root, tuple(args.splits.split(",")))
    if not clips:
        raise SystemExit(f"action_checks.py: no single-action clips in {root} splits {args.splits}")
    print(f"{len(clips)} single-action clips of {root} ({args.splits})")
    print(format_calibration(calibrate(clips)))


if __name__ == "__main__":
    main(sys.argv[1:])
