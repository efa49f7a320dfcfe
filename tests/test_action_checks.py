"""action_checks.py: every check passes >= 95% of the real clips of its action in each split of the embedded dataset
that the present synthetic/build.py builds, fails constructed counterexamples (the other hand, the other foot, the other
way, mirrored motions), and fails every body that only moves its root: a real standing pose held rigid and slid
forward, backward and sideways at the data's locomotion speeds, lifted rigidly for a few frames, floated up, held
still (tests that need the real HumanML3D sample skip when it is absent)."""
import numpy as np
import pytest

from synthetic import action_checks
from synthetic.action_checks import CHECKS, SIDES, calibrate, check_action, parse_label, real_clips
from synthetic.kinematics import facing
from motion import mirror_joints, recover_from_ric, uniform_skeleton
from synthetic.build import ensure_dataset

OTHER = {"left": "right", "right": "left"}
FPS = 20.0
SPEEDS = (0.5, 0.6, 1.0, 1.4, 2.2, 3.2)     # m/s: walk_backward, side steps, walks, jogs and runs of the data


@pytest.fixture(scope="module")
def split_clips(tmp_path_factory):
    """{split: single-action clips (label, joints recovered from features)} of a 600-clip build."""
    root = ensure_dataset(tmp_path_factory.mktemp("synth") / "Synthetic", num_motions=600, workers=2, progress=False)
    return {split: real_clips(root, (split,)) for split in ("train", "val", "test", "test_novel")}


@pytest.fixture(scope="module")
def clips(split_clips):
    return [c for split in ("train", "val", "test") for c in split_clips[split]]


def every_label() -> list[str]:
    """Every label check_action accepts: each primitive, with each of left / right / both where it has a side."""
    return [n if CHECKS[n].__defaults__ is not None else f"{n}_{s}" for n in CHECKS
            for s in ([None] if CHECKS[n].__defaults__ is not None else SIDES)]


@pytest.mark.parametrize("split", ["train", "val", "test", "test_novel"])
def test_every_check_passes_95_percent_of_its_real_clips(split_clips, split):
    clips = split_clips[split]
    if split == "test_novel":                                  # chains of 2-3 actions only: no single-action clip
        assert not clips
        return
    table = calibrate(clips)
    if split == "train":
        assert {parse_label(label)[0] for label in table} == set(CHECKS), "every primitive needs real clips here"
    low = {label: v for label, v in table.items() if v["TPR"] < 0.95}
    assert not low, f"{split}: checks below 95% TPR on real clips: {low}"
    assert max(v["FPR"] for v in table.values()) < 0.1, action_checks.format_calibration(table)


def test_checks_fail_the_other_side_the_mirror_and_a_still_body(clips):
    seen = set()
    for label, joints in clips:
        name, side = parse_label(label)
        if label in seen:
            continue
        seen.add(label)
        assert check_action(joints, label), label
        still = np.repeat(joints[:1], 60, axis=0)              # the first pose held for 3 s does no action
        assert not check_action(still, label), f"{label} passes a body standing still"
        if side in OTHER:                                      # wave with the other hand, turn the other way, ...
            assert not check_action(joints, f"{name}_{OTHER[side]}"), f"{label} clip passes {name}_{OTHER[side]}"
            mirrored = uniform_skeleton(mirror_joints(joints))  # the same motion, left and right swapped
            assert check_action(mirrored, f"{name}_{OTHER[side]}") and not check_action(mirrored, label), label
    assert len(seen) >= 30


def test_time_reversed_walks_and_turns_go_the_other_way(clips):
    walk = next(j for label, j in clips if label == "walk")
    assert check_action(walk, "walk") and not check_action(walk[::-1], "walk")
    assert check_action(walk[::-1], "walk_backward")            # played backwards, a walk walks backwards
    turn = next(j for label, j in clips if label == "turn_left")
    assert not check_action(turn[::-1], "turn_left") and check_action(turn[::-1], "turn_right")


def test_a_real_walk_dragged_along_slides_and_fails(clips):
    """The same steps with the whole body dragged forward at 0.8 m/s: the planted feet slide (no contacts, GMD
    skating), so neither walk nor jog (whose speed band the dragged walk now reaches) passes."""
    for walk in [j for label, j in clips if label == "walk"][:5]:
        f = facing(walk[:1])[0]
        drag = np.arange(len(walk))[:, None] * 0.8 / FPS * np.array([f[0], 0.0, f[1]])  # (T, 3)
        dragged = walk + drag[:, None]
        assert check_action(walk, "walk") and not any(check_action(dragged, a) for a in ("walk", "jog", "run"))


# ----------------------------------------------------------------------------------------------------------------
# Adversarial bodies: a real pose moved rigidly does no action
# ----------------------------------------------------------------------------------------------------------------
def rigid_bodies(pose: np.ndarray) -> dict:
    """{name: joints (T, 22, 3)} of one pose (22, 3) moved rigidly: slid along / against / across its facing at each
    locomotion speed of the data (3 s, with and without 0.5 s still at both ends), lifted 5-20 cm for 4-12 frames
    (parabolic, once or three times, in place or 0.5 m forward each), floated slowly up by 30 cm (and back), still."""
    f = facing(pose[None])[0]                                   # (2,) x, z
    left = np.array([f[1], -f[0]])
    out = {}
    for way, d in (("forward", f), ("backward", -f), ("left", left), ("right", -left)):
        for v in SPEEDS:
            for pad in (0, 10):
                t = np.concatenate([np.zeros(pad), np.arange(61), np.full(pad, 60)]) / FPS  # (T,) s travelled
                out[f"slid {way} {v} m/s, still {pad} frames"] = np.stack([d[0] * v * t, 0 * t, d[1] * v * t], -1)
    for h in (0.05, 0.1, 0.2):
        for n in (4, 8, 12):
            for reps in (1, 3):
                for fwd in (0.0, 0.5):
                    u = np.arange(1, n + 1) / (n + 1)
                    y = np.concatenate([np.zeros(20)] + [np.r_[4 * h * u * (1 - u), np.zeros(15)]] * reps)
                    x = np.concatenate([np.zeros(20)] + [np.r_[r * fwd + fwd * u, np.full(15, (r + 1) * fwd)]
                                                         for r in range(reps)])
                    out[f"lifted {h} m for {n} frames x{reps}, {fwd} m forward"] = np.stack([f[0] * x, y, f[1] * x], -1)
    rise = np.r_[np.zeros(10), np.linspace(0.0, 0.3, 60), np.full(10, 0.3)]
    for name, y in (("floated up 0.3 m", rise), ("floated up 0.3 m and down", np.r_[rise, rise[::-1]])):
        out[name] = np.stack([0 * y, y, 0 * y], -1)
    out["held still"] = np.zeros((60, 3))
    return {name: pose[None] + offset[:, None] for name, offset in out.items()}  # (T, 22, 3) each


def assert_every_body_fails_every_check(pose):
    bodies = rigid_bodies(pose)
    assert len(bodies) == 4 * len(SPEEDS) * 2 + 36 + 3
    passed = [(name, label) for name, joints in bodies.items() for label in every_label()
              if check_action(joints, label)]
    assert not passed, f"{len(passed)} rigid bodies pass a check: {passed[:10]}"


def test_rigid_bodies_from_a_real_standing_pose_fail_every_check(clips):
    walk = next(j for label, j in clips if label == "walk")     # clips open standing, arms down
    assert abs(walk[0, 20, 1] - walk[0, 16, 1] + 0.49) < 0.1 and len(every_label()) == 38
    assert_every_body_fails_every_check(walk[0])


def test_rigid_bodies_from_a_real_humanml3d_pose_fail_every_check(hml3d_sample):
    joints = recover_from_ric(np.load(hml3d_sample / "new_joint_vecs" / "000000.npy").astype(np.float64), 22)
    assert_every_body_fails_every_check(joints[0])              # "a man kicks ...": frame 0 stands, arms down


def test_labels_and_input_errors():
    assert parse_label("kick_left") == ("kick", "left") and parse_label("walk_backward") == ("walk_backward", None)
    assert parse_label("punch_both") == ("punch", "both") and parse_label("side_step_right") == ("side_step", "right")
    for bad in ("moonwalk", "kick", "walk_left"):
        with pytest.raises(ValueError, match=f"no check for action label '{bad}'"):
            parse_label(bad)
    with pytest.raises(ValueError, match="joints must be"):
        check_action(np.zeros((10, 3)), "walk")
