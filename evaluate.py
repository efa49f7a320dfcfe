"""The standard text-to-motion evaluation (Guo et al. 2022): R-Precision, FID, MM-Dist, Diversity, MultiModality.

    python evaluate.py --ckpt out/synthetic/ckpt.pt                        # 20 replications, as in the papers
    python evaluate.py --ckpt out/synthetic/ckpt.pt --replication_times=3 --mm_num_samples=20 --mm_num_repeats=10
    python evaluate.py --dataset=synthetic --compare_split=train          # real motions only: checks an evaluator
    python -m lab.train_evaluator --dataset=synthetic           # train an evaluator first (~20-40 min, 2 cores)
    python evaluate.py --ckpt out/humanml3d/ckpt.pt --evaluator_dir=./checkpoints/evaluator   # official t2m one

Metric functions carry the names of T2M's utils/metrics.py (identical in StableMoFusion, MoMask); the
protocol is T2M's final_evaluations.py (batches of 32, diversity over 300 pairs, MultiModality over 100 texts x 30
samples with 10 pairs, 20 replications, mean +/- 1.96 std / sqrt(R) with the population std). Generated motions are
de-normalised with the generator's statistics and re-normalised with the evaluator's own (StableMoFusion
motion_loader/model_motion_loaders.py); each uses the caption and the unit-length-cropped ground-truth length of a test
item. Every model the project trains is reached through sample.load_generator. Writes
<out_dir>/eval_<dataset>_<split>.md (a table laid out like the papers' Table 1) and eval_<dataset>_<split>.json (every
replication). The evaluator itself lives in evaluator.py.

Beside these, every row (real motion included: its values are the noise floor) gets realism figures computed on the
recovered joints (realism.py: GMD's skating ratio, PhysDiff-style penetration and floating, mean root speed; for
generated rows the root speed ratio and MAE against the real motion of the same caption), and, on datasets with
frame_labels (the embedded one), the success rate of the per-action kinematic checks of
synthetic/action_checks.py on the single-action test motions, overall and per action. lab/sweep_guidance.py runs
this protocol over guidance scales.

CPU note: the evaluator's GRUs step through time with small matrix products; on a machine busy with other work,
two OpenMP threads wait on each other at every step (4-10x slower). `OMP_NUM_THREADS=1 python evaluate.py ...`
is then faster. One replication on the embedded test split (450 motions) takes ~1 min without MultiModality and
~4 min with the full 100 x 30 MultiModality on 2 cores.

Test: python -m pytest tests/test_evaluate.py -q
"""
import hashlib
import json
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import linalg
from tqdm import tqdm

import runtime
from data import DATASETS, load_split
from evaluator import EvalDataset, calculate_top_k, eval_loader, evaluator_name, evaluator_paths, load_evaluator
from motion import recover_from_ric
from realism import clean_foot_contacts, realism_figures, root_speed, root_speed_fidelity
from synthetic.action_checks import check_action, single_action_label


@dataclass
class EvalConfig:
    ckpt: str = ""                    # train.py checkpoint; '' evaluates real motions only
    dataset: str = ""                 # '' -> the checkpoint's dataset (synthetic without --ckpt)
    data_root: str = ""               # '' -> the checkpoint's data root, else the dataset's default root
    split: str = "test"               # real motions and captions come from this split
    compare_split: str = ""           # also score real motions of this split (train: FID real test vs real train)
    evaluator_dir: str = "./checkpoints/evaluator"  # <dir>/<t2m|kit|synthetic>/text_mot_match/model/finest.tar, ...
    replication_times: int = 20       # full repetitions (new crops, captions, batches, samples); papers report 20
    batch_size: int = 32              # R-precision is defined within batches of 32
    diversity_times: int = 300        # random pairs for Diversity
    mm_num_samples: int = 100         # texts for MultiModality (0 skips it)
    mm_num_repeats: int = 30          # motions generated per MultiModality text
    mm_num_times: int = 10            # random pairs per text for MultiModality
    guidance: float = -1.0            # classifier-free guidance; < 0 -> the checkpoint's (2.5)
    guidance_rescale: float = -1.0    # CFG rescale phi (Lin et al. 2024 sec. 3.4); < 0 -> the checkpoint's (0, off)
    clip_denoised: str = ""           # '' -> the checkpoint's (on); on | off: clamp x0 to the training range (sample.py)
    steps: int = 0                    # solver steps; 0 -> the checkpoint's (10)
    sampler: str = ""                 # '' -> the checkpoint's
    out_dir: str = ""                 # '' -> the checkpoint's directory, else <evaluator_dir>/<name>
    seed: int = 0                     # replication r uses seed * 1000 + r
    device: str = "cpu"               # cpu | cuda | mps
    foot_cleanup: bool = False        # the generated joints (skating, penetration, floating, actions) after
                                      # realism.clean_foot_contacts (sample.py's default); FID and R-Precision read
                                      # the features unchanged. Off: method comparisons read the models' own output


def parse_config(argv: list[str]) -> EvalConfig:
    """EvalConfig from `--key=value` options (runtime.py); SystemExit naming an unknown key or a value that does not
    parse."""
    return runtime.parse(argv, EvalConfig(), prog="evaluate.py", hints={
        "train_evaluator": "an evaluator is trained by python -m lab.train_evaluator --dataset=<name>"})


# ----------------------------------------------------------------------------------------------------------------
# Metrics (T2M utils/metrics.py)
# ----------------------------------------------------------------------------------------------------------------
def euclidean_distance_matrix(matrix1: np.ndarray, matrix2: np.ndarray) -> np.ndarray:
    """(N1, C), (N2, C) -> (N1, N2) Euclidean distances, sqrt(|a|^2 - 2 a.b + |b|^2), unclamped as in T2M."""
    assert matrix1.shape[1] == matrix2.shape[1], (matrix1.shape, matrix2.shape)
    d1 = -2 * np.dot(matrix1, matrix2.T)                         # (N1, N2)
    d2 = np.sum(np.square(matrix1), axis=1, keepdims=True)       # (N1, 1)
    d3 = np.sum(np.square(matrix2), axis=1)                      # (N2,)
    return np.sqrt(d1 + d2 + d3)


def calculate_activation_statistics(activations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, C) embeddings -> mean (C,), unbiased covariance (C, C) (np.cov, rowvar=False)."""
    return np.mean(activations, axis=0), np.cov(activations, rowvar=False)


def calculate_frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """FID = |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr(sqrtm(S1 S2)) (Heusel et al. 2017; T2M's copy of pytorch-fid).

    If sqrtm gives non-finite values, eps * I is added to both covariances; a complex result with diagonal imaginary
    parts within 1e-3 of zero is made real, larger ones raise ValueError."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    assert mu1.shape == mu2.shape and sigma1.shape == sigma2.shape, (mu1.shape, mu2.shape, sigma1.shape, sigma2.shape)
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))  # scipy >= 1.16 deprecates disp=False; same square root
    if not np.isfinite(covmean).all():
        print(f"fid calculation produces singular product; adding {eps} to diagonal of cov estimates")
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"calculate_frechet_distance: imaginary component {np.max(np.abs(covmean.imag))}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def calculate_diversity(activation: np.ndarray, diversity_times: int) -> float:
    """Mean L2 distance between two independent random draws (without replacement) of `diversity_times` rows of
    activation (N, C), N > diversity_times. Uses numpy's global RNG, as T2M."""
    assert activation.ndim == 2 and activation.shape[0] > diversity_times, (activation.shape, diversity_times)
    first = np.random.choice(activation.shape[0], diversity_times, replace=False)
    second = np.random.choice(activation.shape[0], diversity_times, replace=False)
    return float(np.linalg.norm(activation[first] - activation[second], axis=1).mean())


def calculate_multimodality(activation: np.ndarray, multimodality_times: int) -> float:
    """activation (N_texts, R, C), R motions per text -> mean L2 distance over N_texts x multimodality_times pairs
    drawn as two independent choices of columns (without replacement)."""
    assert activation.ndim == 3 and activation.shape[1] > multimodality_times, (activation.shape, multimodality_times)
    first = np.random.choice(activation.shape[1], multimodality_times, replace=False)
    second = np.random.choice(activation.shape[1], multimodality_times, replace=False)
    return float(np.linalg.norm(activation[:, first] - activation[:, second], axis=2).mean())


def get_metric_statistics(values, replication_times: int) -> tuple[float, float]:
    """(mean, 95% confidence half-width 1.96 * std / sqrt(R)) with the population std (np.std, ddof=0), as T2M.
    The protocol reports it over R = 20 replications; with fewer, format_table shows the range instead."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean(axis=0)), float(1.96 * values.std(axis=0) / np.sqrt(replication_times))


PROTOCOL_REPLICATIONS = 20  # T2M's final_evaluations.py: the 95% interval 1.96 std / sqrt(R) is reported over R = 20


# ----------------------------------------------------------------------------------------------------------------
# Protocol (T2M final_evaluations.py / StableMoFusion eval)
# ----------------------------------------------------------------------------------------------------------------
# single-action labels whose clips step: GMD's skating ratio is reported per action for these (issue 20)
LOCOMOTION = ("walk", "walk_backward", "jog", "run", "side_step_left", "side_step_right")


class _Row:
    """Accumulates one table row over the batches of one replication."""

    def __init__(self):
        self.top_k, self.matching, self.n, self.acts = np.zeros(3), 0.0, 0, []
        self.physical, self.speed_pairs, self.actions = [], [], []  # realism dicts, (speed, real speed), (label, ok)
        self.skating = []                                            # (locomotion label, GMD skating ratio)

    def add_joints(self, joints: list, labels: list, real_joints: list | None, fps: float) -> None:
        """Realism figures of each motion (T_i, 22, 3) metres; action checks where labels[i] is not None; root speed
        paired with real_joints[i] (the ground-truth motion of the same caption) when given."""
        for i, j in enumerate(joints):
            fig = realism_figures(j, fps)
            self.physical.append(fig)
            if real_joints is not None:
                self.speed_pairs.append((fig["root_speed"], root_speed(real_joints[i], fps)))
            if labels[i] is not None:
                self.actions.append((labels[i], check_action(j, labels[i], fps)))
                if labels[i] in LOCOMOTION:
                    self.skating.append((labels[i], fig["skating_ratio"]))

    def add(self, text_emb: torch.Tensor, motion_emb: torch.Tensor) -> None:
        t, m = text_emb.cpu().numpy(), motion_emb.cpu().numpy()
        dist = euclidean_distance_matrix(t, m)  # (B, B)
        self.matching += dist.trace()
        self.top_k += calculate_top_k(np.argsort(dist, axis=1), 3).sum(axis=0)
        self.n += len(t)
        self.acts.append(m)

    def metrics(self, gt_mu, gt_cov, diversity_times: int) -> dict:
        acts = np.concatenate(self.acts)
        mu, cov = calculate_activation_statistics(acts)
        out = {"R_precision_top1": self.top_k[0] / self.n, "R_precision_top2": self.top_k[1] / self.n,
               "R_precision_top3": self.top_k[2] / self.n, "FID": calculate_frechet_distance(gt_mu, gt_cov, mu, cov),
               "MM_Dist": self.matching / self.n,
               "Diversity": calculate_diversity(acts, min(diversity_times, len(acts) - 1))}
        for key in self.physical[0] if self.physical else ():
            out[key] = np.mean([p[key] for p in self.physical])
        if self.speed_pairs and np.mean([r for _, r in self.speed_pairs]) > 0:
            out.update(root_speed_fidelity(*zip(*self.speed_pairs)))
        if self.actions:
            out["action_success"] = np.mean([ok for _, ok in self.actions])
            for label in sorted({lab for lab, _ in self.actions}):
                out[f"action/{label}"] = np.mean([ok for lab, ok in self.actions if lab == label])
        for label in sorted({lab for lab, _ in self.skating}):
            out[f"skating/{label}"] = np.mean([r for lab, r in self.skating if lab == label])
        return {k: float(v) for k, v in out.items()}


def generated_for_evaluator(gen, evaluator, captions: list[str], m_lens: torch.Tensor, seed: int, cfg: EvalConfig):
    """Generate one motion per (caption, ground-truth length) and bring it into the evaluator's space (StableMoFusion
    model_motion_loaders.py).

    Lengths are clamped to [info.min_len, max_motion_length] frames. Returns (motions (B, 196, D) float32 normalised
    with the evaluator's mean/std and zero-padded, lengths (B,) long, raw (B, T, D) float32 de-normalised features).
    guidance_rescale (>= 0) and clip_denoised (on | off) are passed only when set, so generators without them work.
    Raises ValueError for another clip_denoised value."""
    info = gen.info
    lengths = m_lens.clamp(info.min_len, info.max_motion_length)  # (B,)
    extra = {} if cfg.guidance_rescale < 0 else {"guidance_rescale": cfg.guidance_rescale}
    if cfg.clip_denoised:
        if cfg.clip_denoised not in ("on", "off"):
            raise ValueError(f"evaluate.py: --clip_denoised must be on or off, got {cfg.clip_denoised!r}")
        extra["clip_denoised"] = cfg.clip_denoised == "on"
    x = gen.generate(list(captions), lengths.tolist(), guidance=None if cfg.guidance < 0 else cfg.guidance,
                     steps=cfg.steps or None, sampler=cfg.sampler or None, seed=seed, **extra)  # (B, T, D)
    raw = x.float().cpu().numpy() * gen.std + gen.mean  # de-normalise with the generator's statistics
    normed = (raw - evaluator.mean) / evaluator.std     # re-normalise with the evaluator's
    valid = (np.arange(x.shape[1])[None, :] < lengths.numpy()[:, None])[..., None]  # (B, T, 1)
    out = np.zeros((len(captions), info.max_motion_length, x.shape[2]), np.float32)  # (B, 196, D)
    out[:, :x.shape[1]] = normed * valid
    return torch.from_numpy(out), lengths, raw.astype(np.float32)


def joints_of(raw: np.ndarray, lengths, joints_num: int) -> list:
    """Raw features (B, T, D) and lengths (B,) -> list of B joint arrays (length_i, J, 3) (motion.recover_from_ric)."""
    return [recover_from_ric(raw[i, :int(n)].astype(np.float64), joints_num) for i, n in enumerate(lengths)]


def generator_settings(cfg: EvalConfig, gen) -> dict:
    """{"method", "guidance", "clip_denoised"} the generated row was sampled with (the checkpoint's unless overridden;
    clip_denoised "n/a" for generators without the x0 clamp, as latent_ar); {} without a generator."""
    if gen is None:
        return {}
    conf = getattr(gen, "config", {})
    clamps = getattr(gen, "clamps_x0", False)
    clip = cfg.clip_denoised or ("on" if conf.get("clip_denoised", True) else "off") if clamps else "n/a"
    return {"method": getattr(gen, "method", ""), "guidance": cfg.guidance if cfg.guidance >= 0 else
            conf.get("guidance", ""), "clip_denoised": clip}


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes (the evaluator checkpoint a result row was measured with)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _seed(*keys: int) -> int:
    """An independent sampling seed for each (replication, stream, index)."""
    return int(np.random.SeedSequence(keys).generate_state(1)[0])


def evaluate_replication(evaluator, dataset: EvalDataset, seed: int, cfg: EvalConfig, gen=None,
                         compare: EvalDataset | None = None, model_name: str = "Model") -> dict:
    """One replication: returns {row name: {metric: value}} for "Real motion", the compare split and the model."""
    np.random.seed(seed)
    torch.manual_seed(seed)
    rows, texts = {"Real motion": _Row()}, []
    if gen is not None:
        rows[model_name] = _Row()
    dataset.set_seed(seed)
    info = dataset.info
    physical = info.kind == "t2m" and dataset.with_index  # realism and action checks read 22 joints
    labels = getattr(dataset, "labels", None) or [None] * len(dataset)
    for b, batch in enumerate(tqdm(eval_loader(dataset, cfg.batch_size, seed), desc="matching", leave=False)):
        words, pos_ohot, captions, cap_lens, motions, m_lens, _, *index = batch
        text_emb, motion_emb = evaluator.get_co_embeddings(words, pos_ohot, cap_lens, motions, m_lens)
        rows["Real motion"].add(text_emb, motion_emb)
        if physical:
            real = joints_of(motions.numpy() * evaluator.std + evaluator.mean, m_lens, info.joints_num)
            batch_labels = [labels[i] for i in index[0].tolist()]
            rows["Real motion"].add_joints(real, batch_labels, None, info.fps)
        if gen is not None:
            gen_motions, gen_lens, raw = generated_for_evaluator(gen, evaluator, captions, m_lens, _seed(seed, 0, b),
                                                                 cfg)
            rows[model_name].add(text_emb, evaluator.get_motion_embeddings(gen_motions, gen_lens))
            texts += list(zip(captions, gen_lens.tolist()))
            if physical:
                joints = joints_of(raw, gen_lens, info.joints_num)
                if cfg.foot_cleanup:  # planted feet pinned by the generated contact channels (sample.py's default)
                    joints = [clean_foot_contacts(j, raw[i, :len(j), -4:]) for i, j in enumerate(joints)]
                rows[model_name].add_joints(joints, batch_labels, real, info.fps)
    if compare is not None:
        rows[f"Real motion ({cfg.compare_split} split)"] = row = _Row()
        compare.set_seed(seed)
        for batch in tqdm(eval_loader(compare, cfg.batch_size, seed), desc="compare split", leave=False):
            words, pos_ohot, _, cap_lens, motions, m_lens, _ = batch
            row.add(*evaluator.get_co_embeddings(words, pos_ohot, cap_lens, motions, m_lens))

    # FID reference: a second pass over the real motions with fresh crops and batches (T2M's evaluate_fid).
    dataset.set_seed(seed + 7919)
    gt_acts = np.concatenate([evaluator.get_motion_embeddings(m, l).cpu().numpy() for _, _, _, _, m, l, *_ in
                              tqdm(eval_loader(dataset, cfg.batch_size, seed + 7919), desc="FID reference",
                                   leave=False)])
    gt_mu, gt_cov = calculate_activation_statistics(gt_acts)
    out = {name: row.metrics(gt_mu, gt_cov, cfg.diversity_times) for name, row in rows.items()}

    if gen is not None and cfg.mm_num_samples > 0:  # MultiModality: several motions for the same caption and length
        picks = np.random.choice(len(texts), min(cfg.mm_num_samples, len(texts)), replace=False)
        acts = []
        for j, k in enumerate(tqdm(picks, desc="multimodality", leave=False)):
            caption, length = texts[k]
            motions, lens, _ = generated_for_evaluator(gen, evaluator, [caption] * cfg.mm_num_repeats,
                                                       torch.full((cfg.mm_num_repeats,), length), _seed(seed, 1, j),
                                                       cfg)
            acts.append(evaluator.get_motion_embeddings(motions, lens).cpu().numpy())  # (R, 512)
        out[model_name]["MultiModality"] = calculate_multimodality(np.stack(acts), cfg.mm_num_times)  # (N, R, 512)
    return out


METRICS = [("R_precision_top1", "R Precision Top 1 ↑"), ("R_precision_top2", "Top 2 ↑"),
           ("R_precision_top3", "Top 3 ↑"), ("FID", "FID ↓"), ("MM_Dist", "MM Dist ↓"), ("Diversity", "Diversity →"),
           ("MultiModality", "MultiModality ↑")]  # (JSON key, table header)


REALISM = [("skating_ratio", "Skating ratio ↓"), ("penetration_mm", "Penetration (mm) ↓"),
           ("floating_mm", "Floating (mm) ↓"),
           ("root_speed", "Root speed (m/s)"), ("root_speed_ratio", "Root speed ratio →1"),
           ("root_speed_MAE", "Root speed MAE (m/s) ↓"), ("action_success", "Action success ↑")]


def summarize(replications: list[dict], replication_times: int) -> dict:
    """{row: {metric: (mean, ci95, min, max)}} over replications (ci95: get_metric_statistics, T2M's), for every
    metric present in all of them (an action absent from one replication's crop of the split is skipped)."""
    def stats(values):
        return (*get_metric_statistics(values, replication_times), float(np.min(values)), float(np.max(values)))
    return {row: {m: stats([r[row][m] for r in replications]) for m in vals if all(m in r[row] for r in replications)}
            for row, vals in replications[0].items()}


def interval_note(replication_times: int) -> str:
    """What the cells of format_table mean for R replications."""
    if replication_times >= PROTOCOL_REPLICATIONS:
        return f"mean ± 95% interval 1.96 σ/√R over R = {replication_times} replications (T2M)"
    return (f"mean [min, max] over R = {replication_times} replication{'s' * (replication_times > 1)}; fewer than the "
            f"protocol's {PROTOCOL_REPLICATIONS}, so no 95% interval")


def format_table(summary: dict, title: str = "", columns=METRICS, replication_times: int = PROTOCOL_REPLICATIONS,
                 digits: dict | None = None) -> str:
    """Markdown table laid out like Table 1 of the papers: mean±CI with R >= 20 replications (the protocol's), else
    mean [min, max] (interval_note); '-' where a metric does not apply. digits: decimals per metric (default 3)."""
    lines = ([f"**{title}** ({interval_note(replication_times)})", ""] if title else []) + [
        "| Methods | " + " | ".join(h for _, h in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row, vals in summary.items():
        cells = []
        for m, _ in columns:
            d = (digits or {}).get(m, 3)
            if m not in vals:
                cells.append("-")
            elif replication_times >= PROTOCOL_REPLICATIONS:
                cells.append(f"{vals[m][0]:.{d}f}±{vals[m][1]:.{d}f}")
            else:
                cells.append(f"{vals[m][0]:.{d}f}" + (f" [{vals[m][2]:.{d}f}, {vals[m][3]:.{d}f}]"
                                                      if replication_times > 1 else ""))
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def format_actions(summary: dict) -> str:
    """Per-action success rate (synthetic/action_checks.py) of each row: one line per action label, one column per
    row."""
    rows = [r for r, vals in summary.items() if "action_success" in vals]
    actions = sorted({m[7:] for r in rows for m in summary[r] if m.startswith("action/")})
    if not rows:
        return ""
    lines = ["| action | " + " | ".join(rows) + " |", "|---" * (len(rows) + 1) + "|"]
    for a in actions + ["all"]:
        key = "action_success" if a == "all" else f"action/{a}"
        cells = [f"{summary[r][key][0]:.2f}" if key in summary[r] else "-" for r in rows]
        lines.append(f"| {'**all single-action motions**' if a == 'all' else a} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_evaluation(cfg: EvalConfig, gen=None) -> dict:
    """Evaluate real motions (and `gen`, a sample.Generator, when given) over cfg.replication_times replications;
    writes eval_<dataset>_<split>.md / .json to the output directory and returns the JSON dict."""
    dataset_name = gen.dataset if gen is not None else (cfg.dataset or "synthetic")
    if dataset_name not in DATASETS:
        raise SystemExit(f"evaluate.py: --dataset must be one of {list(DATASETS)}, got {dataset_name!r}")
    info = DATASETS[dataset_name]
    root = Path(cfg.data_root or (gen.data_root if gen is not None else info.default_root))
    if gen is not None and cfg.dataset and cfg.dataset != gen.dataset:
        raise SystemExit(f"evaluate.py: --dataset={cfg.dataset} but {cfg.ckpt} was trained on {gen.dataset}")
    if cfg.replication_times < 1 or (cfg.mm_num_samples > 0 and cfg.mm_num_repeats <= cfg.mm_num_times):
        raise SystemExit(f"evaluate.py: need replication_times >= 1 and mm_num_repeats > mm_num_times (pairs are drawn "
                         f"without replacement), got {cfg.replication_times}, {cfg.mm_num_repeats}, {cfg.mm_num_times}")
    name = evaluator_name(info)
    evaluator = load_evaluator(cfg.evaluator_dir, name, info.feat_dim, cfg.device)
    sha = file_sha256(evaluator_paths(cfg.evaluator_dir, name)["finest"])  # which evaluator produced the figures
    dataset = EvalDataset(load_split(root, cfg.split, info), info, evaluator.mean, evaluator.std,
                          evaluator.word_vectorizer, with_index=True)
    label_files = [root / "frame_labels" / f"{it['name']}.json" for it in dataset.items]
    dataset.labels = [single_action_label(f) if f.is_file() else None for f in label_files]
    if gen is not None and gen.info.feat_dim != evaluator.feat_dim:
        raise SystemExit(f"evaluate.py: the generator makes D={gen.info.feat_dim} features, evaluator {name} takes "
                         f"D={evaluator.feat_dim}")
    if len(dataset) // cfg.batch_size * cfg.batch_size <= cfg.diversity_times:
        warnings.warn(f"evaluate.py: {len(dataset)} {cfg.split} items (whole batches of {cfg.batch_size}) are too few "
                      f"for {cfg.diversity_times} Diversity pairs; using one pair fewer than the number of motions")
    compare = None
    if cfg.compare_split:
        compare = EvalDataset(load_split(root, cfg.compare_split, info), info, evaluator.mean, evaluator.std,
                              evaluator.word_vectorizer)
    model_name = Path(cfg.ckpt).parent.name or "Model"  # the run directory names the row
    print(f"evaluating on {root} ({cfg.split}: {len(dataset)} items) with evaluator {cfg.evaluator_dir}/{name}, "
          f"{cfg.replication_times} replications")
    replications, times = [], []
    for r in tqdm(range(cfg.replication_times), desc="replications"):
        t0 = time.time()
        replications.append(evaluate_replication(evaluator, dataset, cfg.seed * 1000 + r, cfg, gen, compare,
                                                 model_name))
        times.append(time.time() - t0)
        print(f"replication {r}: " + " | ".join(f"{row}: R@3 {m['R_precision_top3']:.3f} FID {m['FID']:.3f}" + (
            f" skating {m['skating_ratio']:.3f}" if "skating_ratio" in m else "") + (
            f" actions {m['action_success']:.2f}" if "action_success" in m else "")
            for row, m in replications[-1].items()) + f" | {times[-1]:.1f} s")
    summary = summarize(replications, cfg.replication_times)
    title = f"{dataset_name} {cfg.split} split, evaluator {name} (sha256 {sha[:12]})"
    table = format_table(summary, title, replication_times=cfg.replication_times)
    if any("skating_ratio" in v for v in summary.values()):
        table += "\n" + format_table(summary, "Realism (realism.py) and instruction following (action_checks.py)",
                                     REALISM, cfg.replication_times, {"penetration_mm": 1, "floating_mm": 1})
    if any("action_success" in v for v in summary.values()):
        n = sum(lab is not None for lab in dataset.labels)
        table += f"\n**Action success per action ({n} single-action {cfg.split} motions; mean over " \
                 f"{cfg.replication_times} replications)**\n\n" + format_actions(summary)
    out_dir = Path(cfg.out_dir or (Path(cfg.ckpt).parent if gen is not None else Path(cfg.evaluator_dir) / name))
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {"config": asdict(cfg), "dataset": dataset_name, "data_root": str(root), "evaluator": name,
              "evaluator_sha256": sha, "generator": generator_settings(cfg, gen),
              "multimodality": [cfg.mm_num_samples, cfg.mm_num_repeats, cfg.mm_num_times],
              "summary": {row: {m: {"mean": v[0], "ci95": v[1], "min": v[2], "max": v[3]} for m, v in vals.items()}
                          for row, vals in summary.items()},
              "replications": replications, "seconds_per_replication": times}
    stem = f"eval_{dataset_name}_{cfg.split}"                                 # one file pair per test split
    (out_dir / f"{stem}.md").write_text(table)
    (out_dir / f"{stem}.json").write_text(json.dumps(result, indent=2))
    print(table + f"written: {out_dir / stem}.md and .json")
    return result


def main(argv: list[str]) -> None:
    cfg = parse_config(argv)
    torch.manual_seed(cfg.seed)
    gen = None
    if cfg.ckpt:
        from sample import load_generator  # the one interface to every model the project trains
        gen = load_generator(cfg.ckpt, cfg.device)
    run_evaluation(cfg, gen)


if __name__ == "__main__":
    main(sys.argv[1:])
