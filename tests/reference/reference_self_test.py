"""Checks of the PyTorch reference itself (tests/reference/nightshift_ref.py), no engine involved:
each vectorised sub-layer against a literal loop transcription of its docs/model.md formula, the
chunked scan against the sequential one, every parameter's gradient against central finite
differences in float64, and float32 against float64. If these fail, the engine comparison
(model_reference_test.py) would be comparing against a wrong reference.
"""
import math
import os
import sys
import unittest

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nightshift_ref as R  # noqa: E402

torch.set_num_threads(1)

SMALL = {
    "vocab_size": 29, "d_model": 16, "d_embed": 12, "tied_embedding": False,
    "blocks": ["ssm", "attn+moe", "ssm+moe", "attn+mlp"],
    "attn": {"n_heads": 4, "n_kv_heads": 2, "window": 3, "rope_theta": 100.0},
    "mlp": {"d_ff": 24},
    "ssm": {"expand": 2, "d_state": 4, "d_conv": 3, "dt_rank": 2},
    "moe": {"n_experts": 4, "top_k": 2, "d_expert": 8, "shared_expert": True, "d_shared": 6,
            "aux_loss_weight": 0.05},
}


def small_model(dtype=torch.float64, seed=1, **over):
    t = dict(SMALL)
    t.update(over)
    m = R.Model(R.config_from_dict(t)).to(dtype)
    m.init_weights(seed)
    # Move every weight off its special initial value so that no term is trivially zero.
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=torch.float64).to(dtype))
            if name.endswith("dt_proj.bias"):
                p.add_(1.0)  # dt ~ 0.5..1: decays far from 1, the scan matters
    return m


def naive_attention(layer: R.Attention, x):
    """docs/model.md attn, one query / key / pair at a time."""
    B, T, _ = x.shape
    H, Hkv, Dh, w = layer.H, layer.Hkv, layer.Dh, layer.window
    a = layer.cfg_attn
    q = layer.q(x).view(B, T, H, Dh)  # with its bias when qkv_bias
    k = layer.k(x).view(B, T, Hkv, Dh)
    v = layer.v(x).view(B, T, Hkv, Dh)

    def head_norm(vec, w):  # one head vector at a time
        eps = layer.q_norm.eps
        return torch.stack([vec[d] / math.sqrt(sum(float(u) ** 2 for u in vec) / Dh + eps) * w[d] for d in range(Dh)])

    def freq(i):
        f = layer.theta ** (-2.0 * i / Dh)
        if a.rope_scale_factor <= 0:
            return f
        L, lo, hi, fac = a.rope_original_context, a.rope_low_freq_factor, a.rope_high_freq_factor, a.rope_scale_factor
        wavelen = 2 * math.pi / f
        if wavelen < L / hi:
            return f
        if wavelen > L / lo:
            return f / fac
        smooth = (L / wavelen - lo) / (hi - lo)
        return (1 - smooth) * f / fac + smooth * f

    def rope(vec, t):
        out = vec.clone()
        for i in range(Dh // 2):
            th = freq(i)
            c, s = math.cos(t * th), math.sin(t * th)
            x1, x2 = vec[i], vec[i + Dh // 2]
            out[i] = x1 * c - x2 * s
            out[i + Dh // 2] = x2 * c + x1 * s
        return out

    y = torch.zeros(B, T, H, Dh, dtype=x.dtype)
    for b in range(B):
        for h in range(H):
            kv = h // (H // Hkv)
            for t in range(T):
                qn = head_norm(q[b, t, h], layer.q_norm.weight) if a.qk_norm else q[b, t, h]
                qt = rope(qn, t)
                seen = [s for s in range(T) if s <= t and (w <= 0 or t - w < s)]
                kn = [head_norm(k[b, s, kv], layer.k_norm.weight) if a.qk_norm else k[b, s, kv] for s in range(T)]
                sc = torch.stack([qt @ rope(kn[s], s) / math.sqrt(Dh) for s in seen])
                pr = torch.softmax(sc, 0)
                y[b, t, h] = sum(pr[j] * v[b, s, kv] for j, s in enumerate(seen))
    return layer.o(y.reshape(B, T, H * Dh))


def naive_ssm(layer: R.SSM, x):
    """docs/model.md ssm, one timestep / channel at a time."""
    B, T, _ = x.shape
    Di, N, R_, K = layer.Di, layer.N, layer.R, layer.K
    xz = layer.in_proj(x)
    x_in, z = xz[..., :Di], xz[..., Di:]
    w, cb = layer.conv.weight, layer.conv.bias
    y = torch.zeros(B, T, Di, dtype=x.dtype)
    for b in range(B):
        s = torch.zeros(Di, N, dtype=x.dtype)
        for t in range(T):
            conv = cb.clone()
            for j in range(K):
                src = t - K + 1 + j
                if src >= 0:
                    conv = conv + w[:, j] * x_in[b, src]
            xc = conv * torch.sigmoid(conv)
            dbc = layer.x_proj(xc)
            dt = F.softplus(layer.dt_proj(dbc[:R_]))
            Bm, Cm = dbc[R_:R_ + N], dbc[R_ + N:]
            A = -torch.exp(layer.A_log)
            for d in range(Di):
                for n in range(N):
                    s[d, n] = math.exp(dt[d] * A[d, n]) * s[d, n] + dt[d] * xc[d] * Bm[n]
            y[b, t] = s @ Cm + layer.D * xc
    return layer.out_proj(y * F.silu(z))


def naive_moe(layer: R.MoE, x):
    """docs/model.md moe, one token at a time; also returns aux."""
    B, T, D = x.shape
    xf = x.reshape(B * T, D)
    p = torch.softmax(layer.router(xf), -1)
    out = torch.zeros_like(xf)
    counts = [0] * layer.X
    for i in range(B * T):
        top = sorted(range(layer.X), key=lambda e: (-float(p[i, e]), e))[:layer.k]
        tot = sum(p[i, e] for e in top)
        for e in top:
            out[i] += (p[i, e] / tot) * layer.experts[e](xf[i])
            counts[e] += 1
        if layer.shared is not None:
            out[i] += layer.shared(xf[i])
    f = torch.tensor(counts, dtype=x.dtype) / (B * T * layer.k)
    aux = layer.X * sum(f[e] * p[:, e].mean() for e in range(layer.X))
    return out.reshape(B, T, D), aux


class ReferenceSelfTest(unittest.TestCase):
    def test_sublayers_match_literal_formulas(self):
        m = small_model()
        blk_ssm, blk_attn_moe = m.blocks[0], m.blocks[1]
        x = torch.randn(2, 7, 16, dtype=torch.float64)
        with torch.no_grad():
            for window in (0, 3):
                blk_attn_moe.attn.window = window
                torch.testing.assert_close(blk_attn_moe.attn(x), naive_attention(blk_attn_moe.attn, x))
            torch.testing.assert_close(blk_ssm.ssm(x), naive_ssm(blk_ssm.ssm, x))
            y = blk_attn_moe.moe(x)
            y_ref, aux_ref = naive_moe(blk_attn_moe.moe, x)
            torch.testing.assert_close(y, y_ref)
            torch.testing.assert_close(blk_attn_moe.moe.last_aux, aux_ref)

    def test_attention_options_match_literal_formulas(self):
        """q/k/v biases, per-head q/k norms and llama3 RoPE scaling (all three bands hit: with
        theta 100 and Dh 8 the wavelengths are 6.3, 20, 63, 199; original_context 64, factors 1, 4)."""
        attn = {"n_heads": 2, "n_kv_heads": 1, "head_dim": 8, "window": 3, "rope_theta": 100.0,
                "qkv_bias": True, "qk_norm": True, "rope_scale_factor": 4.0, "rope_low_freq_factor": 1.0,
                "rope_high_freq_factor": 4.0, "rope_original_context": 64}
        m = small_model(attn=attn, blocks=["attn+mlp"])
        layer = m.blocks[0].attn
        names = {n for n, _ in m.named_parameters()}
        for n in ("q.bias", "k.bias", "v.bias", "q_norm.weight", "k_norm.weight"):
            self.assertIn("blocks.0.attn." + n, names)
        inv = R.llama3_inv_freq(100.0 ** (-torch.arange(4, dtype=torch.float64) / 4), 4.0, 1.0, 4.0, 64)
        plain = 100.0 ** (-torch.arange(4, dtype=torch.float64) / 4)
        self.assertEqual(inv[0], plain[0])              # wavelength 6.3 < 16: unchanged
        self.assertAlmostEqual(float(inv[3]), float(plain[3]) / 4, places=15)  # 199 > 64: divided
        self.assertTrue(plain[1] / 4 < inv[1] < plain[1])  # 20 in [16, 64]: blended
        x = torch.randn(2, 7, 16, dtype=torch.float64)
        with torch.no_grad():
            for window in (0, 3):
                layer.window = window
                torch.testing.assert_close(layer(x), naive_attention(layer, x))

    def test_moe_ties_go_to_lower_expert_index(self):
        m = small_model()
        moe = m.blocks[1].moe
        with torch.no_grad():
            moe.router.weight.zero_()  # p uniform: every expert ties
            moe(torch.randn(1, 5, 16, dtype=torch.float64))
        load = moe.last_load.tolist()
        self.assertEqual(load, [0.5, 0.5, 0.0, 0.0])

    def test_chunked_scan_equals_sequential_with_gradients(self):
        g = torch.Generator().manual_seed(3)
        for T, chunk in ((1, 4), (7, 4), (16, 4), (33, 8), (20, 64)):
            a = torch.rand(2, T, 3, 5, generator=g, dtype=torch.float64).requires_grad_()
            b = torch.randn(2, T, 3, 5, generator=g, dtype=torch.float64).requires_grad_()
            w = torch.randn(2, T, 3, 5, generator=g, dtype=torch.float64)
            s1 = R.scan_sequential(a, b)
            ga1, gb1 = torch.autograd.grad((s1 * w).sum(), (a, b), allow_unused=True)
            if ga1 is None:  # T == 1: a[0] multiplies the zero initial state
                ga1 = torch.zeros_like(a)
            for other in (lambda a, b: R.scan_chunked(a, b, chunk), R.scan_manual):
                s2 = other(a, b)
                ga2, gb2 = torch.autograd.grad((s2 * w).sum(), (a, b), allow_unused=True)
                if ga2 is None:
                    ga2 = torch.zeros_like(a)
                torch.testing.assert_close(s1, s2)
                torch.testing.assert_close(ga1, ga2)
                torch.testing.assert_close(gb1, gb2)
        a = torch.rand(2, 6, 2, 3, generator=g, dtype=torch.float64).requires_grad_()
        b = torch.randn(2, 6, 2, 3, generator=g, dtype=torch.float64).requires_grad_()
        self.assertTrue(torch.autograd.gradcheck(R.scan_manual, (a, b)))

    def test_model_scans_agree(self):
        m = small_model()
        tok = torch.randint(0, 29, (3, 13), generator=torch.Generator().manual_seed(4))
        results = []
        for kind in ("sequential", "chunked", "manual"):
            m.set_scan(kind, 4)
            m.zero_grad()
            loss = m.loss(tok, tok)[0]
            loss.backward()
            results.append((float(loss), [p.grad.clone() for p in m.parameters()]))
        for loss, grads in results[1:]:
            self.assertAlmostEqual(loss, results[0][0], places=12)
            for g0, g1 in zip(results[0][1], grads):
                torch.testing.assert_close(g1, g0)

    def test_every_gradient_matches_finite_differences(self):
        m = small_model()
        g = torch.Generator().manual_seed(5)
        tok = torch.randint(0, 29, (2, 9), generator=g)
        tgt = torch.randint(0, 29, (2, 9), generator=g)
        m.zero_grad()
        m.loss(tok, tgt)[0].backward()
        eps = 1e-6
        worst = 0.0
        for name, p in m.named_parameters():
            d = torch.randn(p.shape, generator=g, dtype=torch.float64)
            analytic = float((p.grad * d).sum())
            with torch.no_grad():
                p.add_(eps * d)
                lp = float(m.loss(tok, tgt)[0])
                p.sub_(2 * eps * d)
                lm = float(m.loss(tok, tgt)[0])
                p.add_(eps * d)
            numeric = (lp - lm) / (2 * eps)
            # float64 central differences: truncation ~eps^2, rounding ~1e-16 * loss / eps ~ 1e-9
            err = abs(analytic - numeric) / (abs(numeric) + 1e-4)
            worst = max(worst, err)
            self.assertLess(err, 1e-5, f"{name}: autograd {analytic:.10g} vs finite difference {numeric:.10g}")
        print(f"worst relative error of a directional derivative: {worst:.2e}")

    def test_float32_agrees_with_float64(self):
        m64 = small_model()
        m32 = small_model(torch.float32)
        m32.load_named({n: p.detach() for n, p in m64.named_parameters()})
        tok = torch.randint(0, 29, (2, 11), generator=torch.Generator().manual_seed(9))
        l64 = m64.loss(tok, tok)[0]
        l32 = m32.loss(tok, tok)[0]
        l64.backward()
        l32.backward()
        self.assertLess(abs(float(l32) - float(l64)) / float(l64), 1e-5)
        for (n, p64), p32 in zip(m64.named_parameters(), m32.parameters()):
            rel = float((p32.grad.double() - p64.grad).norm() / p64.grad.norm().clamp_min(1e-30))
            self.assertLess(rel, 1e-3, n)

    def test_config_resolution(self):
        cfg = R.preset_config("gpt-tiny")
        self.assertEqual((cfg.d_model, cfg.attn.n_heads, len(cfg.blocks)), (128, 4, 4))
        self.assertEqual(cfg.blocks[0], ["attn", "mlp"])
        cfg = R.config_from_dict({"preset": "gpt-tiny", "d_model": 64, "attn": {"window": 8}})
        self.assertEqual((cfg.d_model, cfg.attn.n_heads, cfg.attn.window, cfg.ff_dim), (64, 4, 8, 512))
        self.assertEqual((cfg.head_dim, cfg.dt_rank, cfg.expert_dim), (16, 4, 128))
        with self.assertRaises(ValueError):
            R.config_from_dict({"blocks": ["attn+conv"]})


if __name__ == "__main__":
    unittest.main(verbosity=2)
