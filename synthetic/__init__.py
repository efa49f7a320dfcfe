"""The embedded dataset: procedural human motion with captions in the HumanML3D layout, so that a fresh clone trains
with no download. Not a lesson of the papers: the workshop that makes the data the lessons run on.

    build.py          forward kinematics, two-link IK and a footstep planner turn action scripts into joints and
                      HumanML3D features; generate() and ensure_dataset() write dataset/Synthetic
    actions.py        the 20 action primitives: keyframed control channels, sides, repetitions, style parameters
    captions.py       caption templates, style and context phrases, training and held-out sentence structures
    text.py           the lexicon, HumanML3D word/POS tokens without spaCy, mirroring of text
    splits.py         train / val / test / test_novel, the held-out-composition rule, overlap figures
    action_checks.py  one kinematic check per primitive: does the body do what its label says

    python -m synthetic --stats               # build dataset/Synthetic (once) and print the splits' overlap figures
    python -m synthetic.action_checks         # each check's true / false positive rates on the real test clips
    python -m pytest -q tests/test_synthetic.py tests/test_action_checks.py
"""
