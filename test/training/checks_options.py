"""train.py's training-time and front-end options, measured (dispatched by checks.py): the source adversary, mixup,
--fmin, --pool asp and VTLP."""
from __future__ import annotations

import numpy as np

from devoxtrain.constants import SR


def cmd_adversary() -> dict:
    """The source adversary: gradient reversal is the identity forward and -lambda x the gradient backward; the head
    is conditional on the label (genuine rows never train the synthetic softmax); lambda ramps from 0 to ~1."""
    import torch
    from devoxtrain.adversary import SourceAdversary, dann_lambda, reverse_grad
    torch.manual_seed(3)
    e = torch.randn(8, 16, requires_grad=True)
    w = torch.randn(8, 16)
    (reverse_grad(e, 0.7) * w).sum().backward()
    reversal_err = float((e.grad + 0.7 * w).abs().max())
    forward_err = float((reverse_grad(e, 0.7) - e).detach().abs().max())

    head = SourceAdversary(16, 3)
    ce, _ = head.loss(e.detach(), torch.zeros(8), torch.randint(0, 3, (8,)), 1.0)
    ce.backward()
    last = head.net[-1].weight.grad.view(2, 3, -1)
    genuine_rows_grad = float(last[0].abs().sum())
    synthetic_rows_grad = float(last[1].abs().sum())
    return {'reversal_err': reversal_err, 'forward_err': forward_err, 'genuine_rows_grad': genuine_rows_grad,
            'synthetic_rows_grad': synthetic_rows_grad, 'lambda': [dann_lambda(p) for p in (0.0, 0.5, 1.0)]}


def cmd_mixup() -> dict:
    """Mixup of a batch: each row a convex mix of itself and one other row, with the label mixed by the same
    weight; the same seed replays the same mix; the inputs are left as they were."""
    import torch
    from devoxtrain.mixup import Mixup
    b, n = 16, 32
    x = torch.arange(b, dtype=torch.float32)[:, None].repeat(1, n)      # row i is the constant i
    y = (torch.arange(b) % 2).float()
    x0, y0 = x.clone(), y.clone()
    xm, ym = Mixup(0.4, 7)(x, y)
    xm2, ym2 = Mixup(0.4, 7)(x, y)
    # row r = lam * r + (1 - lam) * p: recover (lam, p) from the constant and check the label against them
    rows = []
    for r in range(b):
        v = float(xm[r, 0])
        fits = [(p, (v - p) / (r - p)) for p in range(b) if p != r and 0.0 <= (v - p) / (r - p) <= 1.0]
        lam_ok = any(abs(float(ym[r]) - (lam * float(y[r]) + (1 - lam) * float(y[p]))) < 1e-5 for p, lam in fits) \
            or abs(v - r) < 1e-4
        rows.append({'constant': bool(torch.all(xm[r] == xm[r, 0])), 'label_matches_mix': lam_ok,
                     'in_range': 0.0 <= float(ym[r]) <= 1.0})
    soft = int(((ym > 0.01) & (ym < 0.99)).sum())
    return {'rows': rows, 'soft_labels': soft, 'replays': bool(torch.equal(xm, xm2) and torch.equal(ym, ym2)),
            'inputs_untouched': bool(torch.equal(x, x0) and torch.equal(y, y0)),
            'other_seed_differs': not torch.equal(Mixup(0.4, 8)(x, y)[0], xm)}


def cmd_fmin() -> dict:
    """--fmin 300 --fmax 3400 on the narrowband front-end: no filter weight below 300 Hz or above 3.4 kHz, a
    200-Hz tone under a 1-kHz one leaves the features as they were (it is not read), the config and the card's
    front-end text carry it, and an ensemble does not share a front-end across different fmin."""
    import torch
    from devoxtrain.ensemble import front_key
    from devoxtrain.model import DevoxNet
    from devoxtrain.report import frontend_text
    kw = dict(widths=(16, 24, 32, 48, 64), n_mels=48, fmax=3400.0, n_fft=400, norm='global', backbone='plain', decimate=2)
    net, plain = DevoxNet(fmin=300.0, **kw), DevoxNet(**kw)
    fb = net.front.fb.numpy()
    freqs = np.linspace(0, 4000, 101)[:fb.shape[1]]
    t = np.arange(SR) / SR
    tones = [torch.tensor(x, dtype=torch.float32)[None] for x in
             (0.3 * np.sin(2 * np.pi * 1000 * t), 0.3 * np.sin(2 * np.pi * 1000 * t) + 0.3 * np.sin(2 * np.pi * 200 * t))]
    with torch.no_grad():
        f = [net.front(x) for x in tones]
        g = [plain.front(x) for x in tones]
    try:
        DevoxNet(fmin=4000.0, **kw)
        bad = None
    except ValueError as e:
        bad = str(e)
    return {'weight_below_300': float(fb[:, freqs < 300].sum()), 'weight_above_3400': float(fb[:, freqs > 3400].sum()),
            'low_tone_feature_change': float((f[1] - f[0]).abs().max()),
            'low_tone_feature_change_fmin0': float((g[1] - g[0]).abs().max()),
            'config_fmin': net.config.get('fmin'), 'config_fmin_default_absent': 'fmin' not in plain.config,
            'frontend_text': frontend_text(net.config),
            'front_keys_differ': front_key(net.config) != front_key(plain.config),
            'old_card_key_equals_fmin0': front_key(plain.config) == front_key({**plain.config, 'fmin': 0.0}),
            'bad_fmin_error': bad}


def cmd_asp() -> dict:
    """Attentive statistics pooling: with the scorer's output layer zeroed every frame weighs the same and the
    embedding is that of mean/std pooling with the same weights; a scorer that favours some frames moves it; the
    frame weights sum to 1."""
    import torch
    from devoxtrain.model import DevoxNet
    kw = dict(widths=(16, 24, 32, 48, 64), n_mels=48, fmax=4000.0, n_fft=400, norm='global', backbone='plain', decimate=2)
    torch.manual_seed(3)
    asp, stats = DevoxNet(pool='asp', **kw), DevoxNet(**kw)
    stats.load_state_dict({k: v for k, v in asp.state_dict().items() if not k.startswith('attn.')})
    asp.eval(), stats.eval()
    x = torch.tensor(np.random.default_rng(1).standard_normal((4, SR)) * 0.1, dtype=torch.float32)
    with torch.no_grad():
        asp.attn[2].weight.zero_(), asp.attn[2].bias.zero_()
        uniform = float((asp(x)[1] - stats(x)[1]).abs().max())
        asp.attn[0].weight.normal_(0, 1.0)
        asp.attn[2].weight.normal_(0, 10.0)
        moved = float((asp(x)[1] - stats(x)[1]).abs().max())
        z = asp.blocks(asp.stem(asp.front(x))).mean(dim=2)
        w = torch.softmax(asp.attn(z.transpose(1, 2)), dim=1)
    return {'uniform_vs_stats': uniform, 'scored_vs_stats': moved, 'weight_sums': w.sum(dim=1).squeeze(1).tolist(),
            'weight_spread': float(w.max() / w.min()), 'config_pool': asp.config.get('pool'),
            'stats_config_has_no_pool': 'pool' not in stats.config}


def cmd_vtlp() -> dict:
    """VTLP (vtlp.py) on the narrowband front-end: the warp is monotonic and keeps 0 and Nyquist; a filterbank warped
    by alpha reads a tone at f where the plain one reads a tone at f / alpha (below the knee); about p of the rows
    are warped, every factor is drawn, a seed replays; in eval mode (what is exported) a net with VTLP set gives the
    plain features."""
    import torch
    from devoxtrain.model import DevoxNet
    from devoxtrain.vtlp import KNEE, VTLP_ALPHAS, Vtlp, warp_hz
    net = DevoxNet(widths=(16, 24, 32, 48, 64), n_mels=48, fmax=4000.0, n_fft=400, norm='global', backbone='plain',
                   decimate=2)
    nyq = net.front.fb_args['sr'] / 2
    grid = np.linspace(0, nyq, 401)
    warp = {str(a): {'ends': [float(warp_hz(0.0, a, nyq)), float(warp_hz(nyq, a, nyq))],
                     'monotonic': bool(np.all(np.diff(warp_hz(grid, a, nyq)) > 0))} for a in VTLP_ALPHAS}

    def centroid(x: np.ndarray, fb) -> float:      # the energy-weighted band index of a tone (finer than argmax)
        with torch.no_grad():
            f = net.front(torch.tensor(x, dtype=torch.float32)[None], fb)[0, 0].mean(dim=1).numpy()
        w = np.exp(f - f.max()) ** 4
        return float((w * np.arange(len(w))).sum() / w.sum())

    v = Vtlp(net.front, 0.5, 11)
    t = np.arange(SR) / SR
    shifts = {}
    for i, a in enumerate(v.alphas[1:], start=1):
        f0 = 1000.0
        warped = centroid(0.3 * np.sin(2 * np.pi * f0 * t), v.bank[i:i + 1])
        plain = centroid(0.3 * np.sin(2 * np.pi * f0 / a * t), None)
        shifts[str(a)] = {'warped_band': round(warped, 2), 'plain_band_at_f_over_alpha': round(plain, 2)}
    idx = v.draw(20000)
    again = Vtlp(net.front, 0.5, 11).draw(20000)
    pv = Vtlp(net.front, 1.0, 12, paired_rows=16)
    paired = np.stack([pv.draw(64) for _ in range(200)])               # 200 batches of 64, the first 8 pairs matched
    x = torch.tensor(np.random.default_rng(5).standard_normal((2, SR)) * 0.1, dtype=torch.float32)
    net.eval()
    with torch.no_grad():
        plain_logit = net(x)[0]
        net.vtlp = v
        eval_same = bool(torch.equal(net(x)[0], plain_logit))
    try:
        Vtlp(net.front, 0.0, 1)
        bad_p = None
    except ValueError as e:
        bad_p = str(e)
    return {'knee': KNEE, 'warp': warp, 'shifts': shifts, 'bank_plain_equals_fb': bool(torch.equal(v.bank[0], net.front.fb)),
            'warped_fraction': float((idx > 0).mean()), 'factors_drawn': sorted({v.alphas[i] for i in idx[idx > 0]}),
            'alphas': list(VTLP_ALPHAS), 'replays': bool(np.array_equal(idx, again)),
            'eval_mode_plain': eval_same, 'bad_p_error': bad_p,
            'pairs_same_warp': bool(np.all(paired[:, 0:16:2] == paired[:, 1:16:2])),
            'unpaired_neighbours_differ': float((paired[:, 16::2] != paired[:, 17::2]).mean()),
            'paired_unpaired_draws_equal': bool(np.array_equal(Vtlp(net.front, 0.5, 11, paired_rows=0).draw(20000), idx))}
