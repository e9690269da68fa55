"""devoxtrain oracles for generated training data (vocoders, Debian TTS voices, source-filter copies, extra synthetic
files): each cmd_* returns a JSON-able dict for test/training/checks.py to print."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from devoxtrain import augment, channel
from devoxtrain import cache as cachemod
from devoxtrain.constants import SR
from devoxtrain.data import Item, read_manifest

from checks_signals import speechlike as _speechlike


def cmd_vocoder(tmp: str) -> dict:
    """training/devoxtrain/vocoder.py and resynth_vocoder.py on untrained nets (seconds): every family and hop maps a
    mel of T frames to T x hop samples; Vocos' inverse STFT inverts the mel front-end's own STFT framing exactly; the
    chunked whole-file vocoding equals one pass; the resynthesis writes one paired row per genuine file, same length."""
    import torch
    from devoxtrain import vocoder as V
    from devoxtrain.resynth import resynthesise
    sys.path.insert(0, str(Path(V.__file__).resolve().parents[1]))     # training/: the scripts import as modules
    from resynth_vocoder import combine, level_match
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    out: dict = {'shapes': {}}
    for kind in ('hifigan', 'vocos'):
        for hop in (256, 160):
            net, mel = V.build(kind, hop, 32, 2), V.Mel(hop)
            x = torch.from_numpy(_speechlike(rng, 20 * hop / SR).astype(np.float32))[None]
            m = mel(x)
            y = net(m)
            out['shapes'][f'{kind}-h{hop}'] = {'samples': x.shape[1], 'frames': m.shape[2], 'mels': m.shape[1],
                                               'out': y.shape[1], 'finite': bool(torch.isfinite(y).all())}
    voc = V.Vocos(256, 32, 2)
    x = torch.from_numpy(_speechlike(rng, 1.0).astype(np.float32)[:62 * 256])[None]
    pad = (voc.n_fft - voc.hop) // 2
    xp = torch.nn.functional.pad(x[:, None], (pad, pad), mode='reflect')[:, 0]
    spec = torch.stft(xp, voc.n_fft, voc.hop, window=voc.win, center=False, return_complex=True)
    out['istft_max_err'] = float((voc.istft(spec) - x).abs().max())
    net, mel = V.build('hifigan', 160, 32), V.Mel(160)
    net.eval()
    sig = _speechlike(rng, 3.0).astype(np.float32)[:47_999]
    with torch.no_grad():
        whole = net(mel(torch.from_numpy(np.pad(sig, (0, 1)))[None]))[0].numpy()[:len(sig)]
    chunked = V.vocode(net, mel, sig, chunk_s=0.5)
    out['chunked'] = {'len_in': len(sig), 'len_out': len(chunked), 'max_diff': float(np.abs(chunked - whole).max())}
    import contextlib
    root = Path(tmp)
    items = []
    for i, sec in enumerate((1.3, 2.0)):
        p = root / f'g{i}.wav'
        sf.write(p, _speechlike(rng, sec) * 0.3, SR)
        items.append(Item(id=f'audio/g{i}.wav', path=str(p), label='genuine', speaker=f's{i}', source='page',
                          duration_s=sec))
    with contextlib.redirect_stdout(sys.stderr):      # progress lines: stdout is the JSON
        for name, kind in (('h', 'hifigan'), ('v', 'vocos')):
            net, mel = V.build(kind, 256, 32, 2), V.Mel(256)
            net.eval()
            resynthesise(items, root / 'voc' / name, name, lambda it, n=name: ('voc', f'vocoder-{n}'),
                         lambda x, it, net=net, mel=mel: level_match(V.vocode(net, mel, x), x))
        rows = read_manifest(combine(root / 'voc', ['h', 'v']))
    lens = [sf.info(r.path).frames for r in rows]
    out['manifest'] = {'rows': len(rows), 'labels': sorted({r.label for r in rows}),
                       'generators': sorted({r.generator for r in rows}),
                       'pair_keys': sorted({r.extra['pair_key'] for r in rows}),
                       'lengths_match': lens == [sf.info(it.path).frames for it in items] * 2,
                       'rms_ratio_db': [round(20 * np.log10(np.sqrt(np.mean(sf.read(r.path)[0] ** 2)) /
                                                            np.sqrt(np.mean(sf.read(it.path)[0] ** 2))), 2)
                                        for r, it in zip(rows, items * 2)]}
    out['gan'] = _gan_check(rng)
    return out


def _gan_check(rng) -> dict:
    """train_vocoder.py --gan's discriminator and losses (devoxtrain/vocoder.py): one logit map and its feature maps
    per sub-discriminator (periods 2, 3, 5, 7, 11 + three STFT resolutions), any length; the least-squares losses are
    0 at their targets; feature matching is 0 for identical input and passes no gradient to the real side; one
    adversarial step moves both the generator and the discriminator."""
    import torch
    from devoxtrain import vocoder as V
    disc = V.Discriminator(4)
    net, mel = V.build('hifigan', 160, 32), V.Mel(160)
    x = torch.from_numpy(np.stack([_speechlike(rng, 20 * 160 / SR) for _ in range(2)]).astype(np.float32))
    y = net(mel(x))
    real, fr = disc(x)
    fake, fg = disc(y)
    res = {'subdiscs': len(real), 'fmap_counts': [len(f) for f in fr], 'batch_rows': sorted({int(r.shape[0]) for r in real}),
           'fmaps_match': all(a.shape == b.shape for u, v in zip(fr, fg) for a, b in zip(u, v)),
           'odd_length_ok': len(disc(x[:, :3199])[0]) == len(real)}
    ones, zeros = [torch.ones_like(r) for r in real], [torch.zeros_like(r) for r in real]
    res['d_loss_at_target'] = float(V.d_loss(ones, zeros))
    res['d_loss_swapped'] = float(V.d_loss(zeros, ones))
    res['g_adv_at_target'] = float(V.g_adv_loss(ones))
    res['fm_identical'] = float(V.feature_loss(fr, fr))
    xr = x.clone().requires_grad_(True)
    _, fr2 = disc(xr)
    V.feature_loss(fr2, fg).backward()
    res['fm_grad_to_real'] = xr.grad is not None and float(xr.grad.abs().sum()) > 0
    losses = {'d': V.d_loss(real, [f.detach() for f in fake]), 'adv': V.g_adv_loss(fake), 'fm': V.feature_loss(fr, fg)}
    res['losses_scalar_finite'] = all(v.dim() == 0 and bool(torch.isfinite(v)) for v in losses.values())
    g0 = [p.detach().clone() for p in net.parameters()]
    d0 = [p.detach().clone() for p in disc.parameters()]
    od, og = torch.optim.Adam(disc.parameters(), 1e-3), torch.optim.Adam(net.parameters(), 1e-3)
    y = net(mel(x))
    od.zero_grad()
    V.d_loss(disc(x)[0], disc(y.detach())[0]).backward()
    od.step()
    res['gen_untouched_by_d_step'] = all(torch.equal(a, b) for a, b in zip(g0, net.parameters()))
    fake, fg = disc(y)
    with torch.no_grad():
        _, fr = disc(x)
    og.zero_grad()
    od.zero_grad()
    (V.g_adv_loss(fake) + 2 * V.feature_loss(fr, fg)).backward()
    og.step()
    res['gen_moved'] = not all(torch.equal(a, b) for a, b in zip(g0, net.parameters()))
    res['disc_moved'] = not all(torch.equal(a, b) for a, b in zip(d0, disc.parameters()))
    return res


def cmd_extra_synthetic() -> dict:
    """CropStream(synthetic_shares={'tts': F}): the synthetic draws come from the named source a fraction F of the
    time (exactly, in the weights; about, in 4000 draws), the genuine draws never; bad shares are refused."""
    from devoxtrain.augment import AugConfig
    from devoxtrain.cache import OPUS_BITRATES, Store
    from devoxtrain.sampler import CropStream
    rng = np.random.default_rng(7)
    items, parts, index, off = [], [], {}, 0
    for iid, lab, src, sec in (('g1', 'genuine', 'pageA', 3.0), ('s1', 'synthetic', 'pageA', 9.0),
                               ('s2', 'synthetic', 'pageB', 4.0), ('t1', 'synthetic', 'tts', 2.0),
                               ('t2', 'synthetic', 'tts', 2.0)):
        items.append(Item(id=iid, path=iid, label=lab, speaker=iid, source=src))
        sig = channel.to_int16(augment.normalize_loudness(_speechlike(rng, sec)))
        parts.append(sig)
        index[iid] = (off, len(sig))
        off += len(sig)
    clean = np.concatenate(parts)
    store = Store(arrays={'clean': clean, **{f'opus{b}': clean for b in OPUS_BITRATES}}, index=index)
    out: dict = {}
    for share in (0.0, 0.2, 0.5):
        st = CropStream(items, store, AugConfig(), batch=8, seed=1,
                        synthetic_shares={'tts': share} if share else None)
        draws = [st._pick(rng, 1) for _ in range(4000)]
        out[str(share)] = {'weight_share': round(st.synthetic_share('tts'), 6),
                           'drawn_share': sum(d.startswith('t') for d in draws) / len(draws),
                           'genuine_from_tts': sum(st._pick(rng, 0).startswith('t') for _ in range(200))}
    errors = {}
    for name, shares in (('unknown', {'nope': 0.2}), ('all', {'pageA': 0.3, 'pageB': 0.3, 'tts': 0.3}),
                         ('too_big', {'tts': 1.0})):
        try:
            CropStream(items, store, AugConfig(), batch=8, seed=1, synthetic_shares=shares)
            errors[name] = None
        except ValueError as e:
            errors[name] = str(e)
    out['errors'] = errors
    return out


def cmd_debian_tts(tmp: str) -> dict:
    """training/synth_debian_tts.py --n 4: one file per engine (espeak-ng, flite, festival diphone, festival HTS),
    16 kHz mono at the planned level, and a manifest of unpaired synthetic rows naming the Debian package."""
    import contextlib
    import shutil
    sys.path.insert(0, str(Path(cachemod.__file__).resolve().parents[1]))
    import synth_debian_tts as T
    tools = sorted({t for t in T.TOOLS.values() if not shutil.which(t)})
    if tools:
        return {'missing': tools}
    with contextlib.redirect_stdout(sys.stderr):
        T.main(['--n', '4', '--out', tmp])
    rows = read_manifest(Path(tmp) / 'manifest.csv')
    files = []
    for k, r in enumerate(rows):
        x, sr = sf.read(r.path)
        files.append({'generator': r.generator, 'sr': sr, 'mono': x.ndim == 1, 'sec': round(len(x) / sr, 2),
                      'level_err_db': round(20 * np.log10(np.sqrt(np.mean(x ** 2))) - T.plan(k)['level_dbfs'], 2)})
    with open(Path(tmp) / 'manifest.csv') as fh:
        import csv
        packages = [r['package'] for r in csv.DictReader(fh)]
    return {'missing': [], 'files': files, 'labels': sorted({r.label for r in rows}),
            'sources': sorted({r.source for r in rows}), 'pair_keys': sorted({r.extra['pair_key'] for r in rows}),
            'packages': packages, 'deterministic': T.plan(3) == T.plan(3) and T.plan(3) != T.plan(7)}


def cmd_sourcefilter(tmp: str) -> dict:
    """training/resynth_sourcefilter.py: the mel-cepstral bases reproduce an envelope that is a low-order cosine
    series on the warped axis; the minimum-phase response has the envelope's magnitude; the excitation puts one pulse
    per F0 period; pyin finds a 140-Hz harmonic tone; the copy keeps the length, level and timing (envelope lag 0) of
    its original, and the manifest pairs it with the original."""
    import contextlib
    sys.path.insert(0, str(Path(cachemod.__file__).resolve().parents[1]))
    import resynth_sourcefilter as S
    from resynth_codec2 import envelope_lag
    from devoxtrain.resynth import resynthesise
    analysis, synthesis = S.mcep_bases(24)
    c = np.zeros(25)
    c[[0, 1, 3, 7]] = [-2.0, 0.8, -0.3, 0.2]
    env = synthesis @ c
    w = np.linspace(0, np.pi, S.N_FFT // 2 + 1)
    out: dict = {'mcep_roundtrip_err': float(np.abs(analysis @ env - c).max()),
                 'warp_monotone': bool(np.all(np.diff(S.warp(w)) > 0)), 'warp_ends': [float(S.warp(w)[0]),
                                                                                       float(S.warp(w)[-1])],
                 'min_phase_mag_err': float(np.abs(np.log(np.abs(S.min_phase(env[None]))) - env).max())}
    e = S.excitation(np.full(100, 125.0), 100 * S.HOP, np.random.default_rng(0))
    gaps = np.diff(np.flatnonzero(e))
    out['pulse_gaps'] = sorted({int(g) for g in gaps})
    out['excitation_power'] = float(np.mean(e ** 2))
    rng = np.random.default_rng(1)
    t = np.arange(int(2.0 * SR)) / SR
    tone = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 25))
    tone = (0.1 * tone * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) + 0.003 * rng.standard_normal(len(t))).astype(np.float32)
    f0 = S.f0_track(tone, len(tone) // S.HOP + 1)
    out['f0_median'] = float(np.median(f0[f0 > 0])) if (f0 > 0).any() else 0.0
    out['voiced_share'] = float((f0 > 0).mean())
    root = Path(tmp)
    items = []
    for i, x in enumerate((_speechlike(rng, 2.3), tone)):
        path = root / f'g{i}.wav'
        sf.write(path, x, SR)
        items.append(Item(id=f'audio/g{i}.wav', path=str(path), label='genuine', speaker=f's{i}', source='page',
                          duration_s=len(x) / SR))
    with contextlib.redirect_stdout(sys.stderr):
        man = resynthesise(items, root / 'sf', 'source-filter', lambda it: (f'sf_m{S.order_of(it)}', 'sourcefilter'),
                           lambda x, it: S.sourcefilter(x, S.order_of(it)))
    rows = read_manifest(man)
    copies = []
    for r, it in zip(rows, items):
        x, _ = sf.read(it.path, dtype='float32')
        y, _ = sf.read(r.path, dtype='float32')
        copies.append({'same_length': len(x) == len(y), 'pair_key': r.extra['pair_key'],
                       'rms_ratio_db': round(float(20 * np.log10(np.sqrt(np.mean(y ** 2)) / np.sqrt(np.mean(x ** 2)))), 2),
                       'lag_ms': envelope_lag(x, y) / 16, 'lag_back_ms': envelope_lag(y, x) / 16,
                       'differs': bool(np.abs(x - y).max() > 1e-3)})
    out['copies'] = copies
    out['labels'] = sorted({r.label for r in rows})
    return out
