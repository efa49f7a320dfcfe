"""action_checks.py: every check passes >= 95% of the real clips of its action in the embedded dataset that the present
synthetic.py builds, and fails constructed counterexamples (the other hand, the other foot, the other way, mirrored
motions, a body standing still)."""
import numpy as np
import pytest

import action_checks
from action_checks import CHECKS, calibrate, check_action, parse_label, real_clips
from motion import mirror_joints, uniform_skeleton
from synthetic import ensure_dataset

OTHER = {"left": "right", "right": "left"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Single-action clips (label, joints recovered from features) of a 600-clip build of the embedded dataset."""
    root = ensure_dataset(tmp_path_factory.mktemp("synth") / "Synthetic", num_motions=600, workers=2, progress=False)
    return real_clips(root)


def test_every_check_passes_95_percent_of_its_real_clips(clips):
    table = calibrate(clips)
    assert {parse_label(label)[0] for label in table} == set(CHECKS), "every primitive needs real clips here"
    low = {label: v for label, v in table.items() if v["TPR"] < 0.95}
    assert not low, f"checks below 95% TPR on real clips: {low}"
    worst_fpr = max(v["FPR"] for v in table.values())
    assert worst_fpr < 0.1, action_checks.format_calibration(table)


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


def test_labels_and_input_errors():
    assert parse_label("kick_left") == ("kick", "left") and parse_label("walk_backward") == ("walk_backward", None)
    assert parse_label("punch_both") == ("punch", "both") and parse_label("side_step_right") == ("side_step", "right")
    for bad in ("moonwalk", "kick", "walk_left"):
        with pytest.raises(ValueError, match=f"no check for action label '{bad}'"):
            parse_label(bad)
    with pytest.raises(ValueError, match="joints must be"):
        check_action(np.zeros((10, 3)), "walk")
