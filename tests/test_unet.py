"""Tests for unet.py: StableMoFusion's parameter count, zero init, padding, text masks, CFG, features.

Run: python -m pytest tests/test_unet.py -q
"""
import math

import pytest
import torch

import unet

# 64 channels = 8 per GroupNorm group. With only 2 per group the per-frame norm (StableMoFusion quirk) turns the
# 1e-6 noise of batch-size-dependent conv kernels into O(1) differences and the equalities below stop holding.
TINY = dict(base_dim=64, dim_mults=(1, 1, 1, 1), time_dim=32, text_latent_dim=32, text_layers=1, num_heads=8)


def make(zero_init=False, attention="linear", seed=0, **kw):
    torch.manual_seed(seed)
    return unet.CondUnet1D(263, 48, **dict(TINY, zero_init=zero_init, attention=attention, **kw)).eval()


def inputs(B=3, T=37, L=9, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, 263, generator=g)
    t = torch.randint(0, 1000, (B,), generator=g)
    text = torch.randn(B, L, 48, generator=g)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[0, 5:] = False
    mask[1, 2:] = False
    return x, t, text, mask


def test_paper_parameter_count():
    with torch.device("meta"):
        model = unet.CondUnet1D(263, 512, **unet.PRESETS["paper"])
    counts = model.parameter_counts()
    assert counts["unet"] == 293_654_279          # StableMoFusion CondUnet1D, paper size
    assert counts["text_adapter"] == 5_392_128    # Linear 512->256 + 4 post-norm layers (ff 2048) + LayerNorm


def test_zero_init_output_is_exactly_zero():
    torch.manual_seed(0)
    model = unet.CondUnet1D(263, 384, **unet.PRESETS["cpu"]).eval()
    x = torch.randn(2, 37, 263)
    out = model(x, torch.tensor([3, 900]), torch.randn(2, 7, 384))
    assert torch.equal(out, torch.zeros_like(x))


@pytest.mark.parametrize("T", [1, 37, 196])
def test_output_shape_odd_lengths(T):
    model = make()
    x, t, text, mask = inputs(B=2, T=T)
    out = model(x, t, text[:2], mask[:2])
    assert out.shape == x.shape and torch.isfinite(out).all() and out.abs().sum() > 0


def test_return_features_shapes():
    torch.manual_seed(0)
    model = unet.CondUnet1D(263, 384, **unet.PRESETS["cpu"]).eval()
    x = torch.randn(2, 196, 263)
    out, feats = model(x, torch.tensor([1, 2]), torch.randn(2, 5, 384), return_features=True)
    assert out.shape == x.shape
    assert [tuple(f.shape) for f in feats] == [(2, 32, 208), (2, 64, 104), (2, 64, 52), (2, 64, 26), (2, 64, 13)]


@pytest.mark.parametrize("attention", ["linear", "softmax"])
def test_masked_text_tokens_do_not_matter(attention):
    model = make(attention=attention)
    x, t, text, mask = inputs()
    out = model(x, t, text, mask)
    noisy = torch.where(mask[..., None], text, 100 * torch.randn_like(text))
    assert torch.allclose(model(x, t, noisy, mask), out, atol=1e-6)
    # ...while a real token does
    real = text.clone()
    real[0, 0] += 1.0
    assert not torch.allclose(model(x, t, real, mask)[0], out[0], atol=1e-4)
    # all-True mask == no mask (StableMoFusion)
    assert torch.allclose(model(x, t, text), model(x, t, text, torch.ones_like(mask)), atol=0)


def test_linear_attention_matches_stablemofusion_formula():
    torch.manual_seed(0)
    layer = unet.ResidualCrossAttentionLayer(64, 32, num_heads=8, attention="linear").eval()
    x, text = torch.randn(2, 11, 64), torch.randn(2, 5, 32)
    # StableMoFusion / MotionDiffuse LinearCrossAttention, written out
    B, T, C, H = 2, 11, 64, 8
    q = torch.softmax(layer.query(layer.norm(x)).view(B, T, H, -1), dim=-1)
    k = torch.softmax(layer.key(layer.text_norm(text)).view(B, 5, H, -1), dim=1)
    v = layer.value(layer.text_norm(text)).view(B, 5, H, -1)
    ref = x + torch.einsum("bnhd,bhdl->bnhl", q, torch.einsum("bnhd,bnhl->bhdl", k, v)).reshape(B, T, C)
    out = layer.attend(x, text, torch.ones(2, 5, dtype=torch.bool))
    assert torch.allclose(out, ref, atol=1e-6)
    # softmax variant against torch's scaled_dot_product_attention
    layer.attention = "softmax"
    qs = layer.query(layer.norm(x)).view(B, T, H, -1).transpose(1, 2)
    ks = layer.key(layer.text_norm(text)).view(B, 5, H, -1).transpose(1, 2)
    vs = layer.value(layer.text_norm(text)).view(B, 5, H, -1).transpose(1, 2)
    ref = x + torch.nn.functional.scaled_dot_product_attention(qs, ks, vs).transpose(1, 2).reshape(B, T, C)
    assert torch.allclose(layer.attend(x, text, torch.ones(2, 5, dtype=torch.bool)), ref, atol=1e-5)


def test_force_uncond_ignores_text():
    model = make()
    x, t, text, mask = inputs()
    a = model(x, t, text, mask, force_uncond=True)
    b = model(x, t, torch.randn_like(text), mask, force_uncond=True)
    assert torch.equal(a, b) and torch.equal(a, model(x, t, None))
    cond = model(x, t, text, mask)
    assert not torch.allclose(a, cond, atol=1e-4)
    # per-row flag: row 1 unconditional, rows 0 and 2 conditional
    mixed = model(x, t, text, mask, force_uncond=torch.tensor([False, True, False]))
    assert torch.allclose(mixed[1], a[1], atol=1e-5)
    assert torch.allclose(mixed[[0, 2]], cond[[0, 2]], atol=1e-5)


def test_forward_with_cfg_matches_manual():
    model = make()
    x, t, text, mask = inputs()
    cond = model(x, t, text, mask)
    uncond = model(x, t, text, mask, force_uncond=True)
    guided = model.forward_with_cfg(x, t, text, mask, guidance=2.5)
    assert torch.allclose(guided, uncond + 2.5 * (cond - uncond), atol=1e-4)
    assert torch.allclose(model.forward_with_cfg(x, t, text, mask, guidance=1.0), cond, atol=1e-4)


def test_condition_dropout_rate():
    model = make()
    assert model.cond_indices(1000).numel() == 1000          # eval: all conditional
    model.train()
    torch.manual_seed(0)
    kept = model.cond_indices(20000).numel()
    assert abs(1 - kept / 20000 - 0.1) < 0.01                 # cond_mask_prob 0.1
    # a dropped row gets exactly the unconditional output (dropout off to compare)
    model = make(dropout=0.0).train()
    x, t, text, mask = inputs(B=64, T=16)
    torch.manual_seed(5)
    out = model(x, t, text, mask)
    torch.manual_seed(5)
    dropped = torch.ones(64, dtype=torch.bool)
    dropped[model.cond_indices(64)] = False
    assert 0 < dropped.sum() < 64
    uncond = model(x, t, text, mask, force_uncond=True)
    assert torch.allclose(out[dropped], uncond[dropped], atol=1e-5)


def test_gradients_reach_text_adapter_and_timestep_mlp():
    model = make(dropout=0.0).train()
    x, t, text, mask = inputs()
    model(x, t, text, mask).square().mean().backward()
    for name in ("text_adapter.proj.weight", "time_mlp.0.weight", "downs.0.0.res.block1.conv.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_bad_inputs_raise():
    model = make()
    x, t, text, mask = inputs()
    with pytest.raises(TypeError, match="integer"):
        model(x, t.float(), text, mask)
    with pytest.raises(ValueError, match="input_dim=263"):
        model(x[..., :100], t, text, mask)


def test_timestep_table_values():
    table = unet.sinusoidal_table(1000, 8)
    t, i = 7, 1
    assert math.isclose(table[t, 2 * i].item(), math.sin(t * 10000 ** (-2 * i / 8)), abs_tol=1e-6)
    assert math.isclose(table[t, 2 * i + 1].item(), math.cos(t * 10000 ** (-2 * i / 8)), abs_tol=1e-6)


def test_written_out_mish_equals_torch_mish():
    x = torch.linspace(-20, 20, 4001)
    assert torch.allclose(unet.mish(x), torch.nn.functional.mish(x), atol=1e-6)


def test_cpu_preset_matches_its_comment():
    """The comment above unet.PRESETS states the cpu preset's widths and counts; train.py's default uses it."""
    model = unet.CondUnet1D(263, 384, **unet.PRESETS["cpu"])
    assert [down[0].res.block1.conv.out_channels for down in model.downs] == [32, 64, 64, 64]
    assert model.parameter_counts() == {"unet": 1_586_855, "text_adapter": 709_248, "total": 2_296_103}


def test_groupnorm_groups_follow_stablemofusion():
    """StableMoFusion: GroupNorm(8) in the AdaGN block and the second block, GroupNorm(4) in the plain first block
    used when adagn=False (its Conv1dBlock default n_groups=4), and then an additive time embedding."""
    for adagn, groups in ((True, 8), (False, 4)):
        block = unet.ResidualTemporalBlock(16, 32, time_dim=8, adagn=adagn)
        assert (block.block1.norm.num_groups, block.block2.norm.num_groups) == (groups, 8)
        assert block.time_proj.out_features == (64 if adagn else 32)
    model = make(adagn=False)
    x, t, text, mask = inputs()
    assert model(x, t, text, mask).shape == x.shape


def test_cond_indices_drawn_on_the_host():
    """The condition dropout uses the CPU generator (no GPU read-back in a training step)."""
    model = make().train()
    torch.manual_seed(3)
    idx = model.cond_indices(64, device="cpu")
    torch.manual_seed(3)
    expected = (torch.rand(64) >= model.cond_mask_prob).nonzero().squeeze(1)
    assert torch.equal(idx, expected)
    model.eval()
    assert torch.equal(model.cond_indices(4, force_uncond=torch.tensor([True, False, True, False])),
                       torch.tensor([1, 3]))


def test_guidance_combination_runs_in_fp32_under_bf16_autocast():
    model = make()
    x, t, text, mask = inputs()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        guided = model.forward_with_cfg(x, t, text, mask, guidance=2.5)
        out = model._unet(torch.cat([x, x]), torch.cat([t, t]), torch.arange(3), text, mask, False)
    assert guided.dtype == torch.float32 and out.dtype == torch.bfloat16
    cond, uncond = out[:3].float(), out[3:].float()
    assert torch.equal(guided, uncond + 2.5 * (cond - uncond))             # combined from the bf16 outputs, in fp32
    reference = model.forward_with_cfg(x, t, text, mask, guidance=2.5)      # all fp32
    assert (guided - reference).norm() / reference.norm() < 0.1


def channel_major(x):
    return x.contiguous()


def time_major(x):
    return x.transpose(1, 2).contiguous().transpose(1, 2)


CONVS = {"k5": torch.nn.Conv1d(16, 24, 5, padding=2), "down": torch.nn.Conv1d(16, 16, 3, stride=2, padding=1),
         "1x1": torch.nn.Conv1d(16, 8, 1), "up": torch.nn.ConvTranspose1d(16, 16, 4, stride=2, padding=1)}


@pytest.mark.parametrize("conv", CONVS.values(), ids=CONVS.keys())
@pytest.mark.parametrize("layout", [channel_major, time_major])
def test_conv_time_major_is_the_module_and_keeps_the_layout(conv, layout):
    torch.manual_seed(0)
    x = layout(torch.randn(3, 16, 26))
    y = unet.conv_time_major(conv, x)
    assert torch.allclose(y, conv(x.contiguous()), atol=1e-5)
    assert (y.stride(1) == 1) == (layout is time_major)                   # time-major in, time-major out
    with pytest.raises(ValueError, match="padding_mode"):
        unet.conv_time_major(torch.nn.Conv1d(16, 8, 3, padding=1, padding_mode="reflect"), x)


def test_activations_stay_time_major_and_the_layout_does_not_change_the_function(monkeypatch):
    """Every block's output is stored time-major (no copy around the per-frame norm and the attention); computing the
    same network with torch's conv1d (channel-major outputs, copied back around every norm and attention, as
    StableMoFusion's code does) gives the same x0 and features up to float rounding."""
    model = make(seed=4)
    for p in model.final_conv.parameters():
        torch.nn.init.normal_(p, std=0.1)
    x, t, text, mask = inputs(T=50)
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(o.stride(1) == 1))
             for m in model.modules() if isinstance(m, unet.CondBlock)]
    out, feats = model(x, t, text, mask, return_features=True)
    for h in hooks:
        h.remove()
    assert len(seen) == 18 and all(seen)
    monkeypatch.setattr(unet, "conv_time_major", lambda conv, h: conv(h.contiguous()))   # channel-major everywhere
    ref, ref_feats = model(x, t, text, mask, return_features=True)
    assert out.abs().max() > 0.1 and torch.allclose(out, ref, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(feats, ref_feats))
