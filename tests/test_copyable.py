"""The concept files copy out: each one, with only the siblings the README names beside it, imports and runs in a
folder that holds nothing else of the project. unet.py, dct.py, atm_losses.py and latent_ar.py import no project file;
anchors.py needs dct.py; motion_ae.py needs motion.py (recover_from_ric for its joint losses); moclip.py's model needs
text_encoder.py (its training imports data.py, evaluator.py and synthetic/ inside its functions)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GROUPS = {  # the file under test -> what is copied beside it
    "unet": ["unet.py"],
    "dct": ["dct.py"],
    "anchors": ["anchors.py", "dct.py"],
    "atm_losses": ["atm_losses.py"],
    "latent_ar": ["latent_ar.py"],
    "motion_ae": ["motion_ae.py", "motion.py"],
    "moclip": ["moclip.py", "text_encoder.py"],
}
# One interpreter for every folder (torch imports once): each folder alone on sys.path, its modules forgotten after.
CHECK = """
import importlib, json, sys
import torch
torch.manual_seed(0)
project = {p.stem for p in __import__("pathlib").Path(sys.argv[1]).glob("*.py")} | {"synthetic", "lab"}
for name, folder in json.loads(sys.argv[2]).items():
    sys.path.insert(0, folder)
    module = importlib.import_module(name)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in project)
    assert all(m + ".py" in __import__("os").listdir(folder) for m in loaded), (name, loaded)
    if name == "unet":
        net = module.CondUnet1D(12, 8, base_dim=16, dim_mults=(1, 1, 1, 1), time_dim=16, text_latent_dim=16,
                                text_layers=1, num_heads=2)
        out = net(torch.randn(2, 20, 12), torch.tensor([3, 500]), torch.randn(2, 4, 8), torch.ones(2, 4, dtype=bool))
        assert out.shape == (2, 20, 12)
    if name == "dct":
        x = torch.randn(2, 20, 3, dtype=torch.float64)
        assert torch.allclose(module.idct(module.dct(x, dim=1), dim=1), x)
    if name == "anchors":
        a = module.DualAnchors(16, 26, 8, 11, 8, 6, 32)
        terms = a(torch.randn(2, 16, 26), torch.tensor([3, 500]), torch.randn(2, 196, 11), torch.tensor([196, 120]),
                  torch.randn(2, 6))
        assert set(terms) >= {"fre", "tem"}
    if name == "latent_ar":
        m = module.MaskedLatentTransformer(4, 6, d_model=16, num_layers=1, num_heads=2, flow_width=16, flow_depth=1)
        valid = torch.ones(2, 5, dtype=bool)
        loss = module.training_loss(m, torch.randn(2, 5, 4), valid, torch.randn(2, 3, 6), torch.ones(2, 3, dtype=bool))
        assert loss.ndim == 0
    if name == "motion_ae":
        ae = module.MotionAE(263, width=16, depth=1, latent_dim=4)
        mu, logvar = ae.encode(torch.randn(2, 20, 263))
        assert mu.shape == (2, 5, 4) and ae.decode(mu, 20).shape == (2, 20, 263)
    for m in loaded:
        del sys.modules[m]
    sys.path.remove(folder)
print("copied and ran:", ", ".join(json.loads(sys.argv[2])))
"""


def test_concept_files_import_and_run_in_folders_holding_only_them(tmp_path):
    folders = {}
    for name, files in GROUPS.items():
        folder = tmp_path / name
        folder.mkdir()
        for f in files:
            shutil.copy(ROOT / f, folder / f)
        folders[name] = str(folder)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", CHECK, str(ROOT), json.dumps(folders)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "copied and ran: unet, dct, anchors, atm_losses, latent_ar, motion_ae, moclip" in proc.stdout
