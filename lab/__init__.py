"""The lab: the research tools that produce the result tables, apart from the methods they measure.

    experiments.py     miniature versions of the papers' tables and convergence curve (train, evaluate, append rows)
    results.py         the one result-row format of results/*.csv, python -m lab.results
    tables.py          results/RESULTS.md, the README summary and the convergence plot generated from the rows
    sweep_guidance.py  the classifier-free guidance scale chosen on the validation split
    benchmark.py       training-step time of the methods, interleaved runs
    unet_step.py       the U-Net's training step alone per preset, batch and precision (no data, no weights)
    gradient_flow.py   per-block gradient norms of checkpoints (LUMA sec. 4.3)
    dct_spectrum.py    the mean DCT spectrum of a split, the energy of its first k coefficients (LUMA Fig. 7)

Each runs from the repository root as a module: `python -m lab.experiments --table=luma_table2 --dry_run`,
`python -m lab.results --check`, ...
"""
