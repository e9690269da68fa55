"""An ensemble of trained DevoxNets as ONE graph with the runtime's contract: audio [B, 16000] -> (logit, embedding).

The score is the mean of the members' logits (the verdict engine already averages window log-odds, so this is the
same kind of evidence pooling), the embedding the members' embeddings side by side ([B, sum of D]). Because every
member's head is linear in its own embedding, the ensemble's logit stays linear in that concatenated embedding: a
head learned on it (`devox learn`) can start from the ensemble's own head exactly.

Members whose front-ends are configured alike (the front-end has no trained weights: its buffers follow from the
config) share one front-end, so a second narrowband member costs only its network.

model.pt of an ensemble: {'ensemble': [{'config': ..., 'state_dict': ...}, ...]}; `load_model` reads either kind.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .model import DevoxNet, build, count_macs

# The config keys that define a front-end (FrontEnd's arguments as DevoxNet passes them).
FRONT_KEYS = ('n_fft', 'n_mels', 'norm', 'floor_db', 'scale', 'fmin', 'fmax', 'phase', 'decimate')
FRONT_DEFAULTS = {'phase': False, 'decimate': 1, 'fmin': 0.0}     # what an older card's missing key means


def front_key(config: dict) -> tuple:
    return tuple(config.get(k, FRONT_DEFAULTS.get(k)) for k in FRONT_KEYS)


class EnsembleNet(nn.Module):
    def __init__(self, members: list[DevoxNet]):
        super().__init__()
        if len(members) < 2:
            raise ValueError('an ensemble needs at least two members')
        self.members = nn.ModuleList(members)
        keys = [front_key(m.config) for m in members]
        firsts: dict[tuple, int] = {}
        # member i reads the front-end output of member front_of[i] (the first member with its front-end config)
        self.front_of = [firsts.setdefault(k, i) for i, k in enumerate(keys)]
        self.config = {'ensemble': [m.config for m in members], 'combine': 'mean logit',
                       'shared_front_ends': len(firsts)}
        self.emb_dim = sum(m.emb_dim for m in members)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fronts: dict[int, torch.Tensor] = {}
        logits, embs = [], []
        for i, m in enumerate(self.members):
            j = self.front_of[i]
            if j not in fronts:
                fronts[j] = self.members[j].front(audio)
            e = m.embed(fronts[j])
            logits.append(m.logit(e))
            embs.append(e)
        return torch.stack(logits, dim=0).mean(dim=0), torch.cat(embs, dim=1)


def load_model(model_dir: str | Path) -> DevoxNet | EnsembleNet:
    """The network a model folder's model.pt holds (one DevoxNet, or an ensemble of them), in eval mode."""
    saved = torch.load(Path(model_dir) / 'model.pt', map_location='cpu', weights_only=True)
    if 'ensemble' in saved:
        net: nn.Module = EnsembleNet([_member(m) for m in saved['ensemble']])
    else:
        net = _member(saved)
    net.eval()
    return net


def _member(saved: dict) -> DevoxNet:
    net = build(saved['config'])
    net.load_state_dict(saved['state_dict'])
    return net


def save_ensemble(net: EnsembleNet, path: str | Path) -> None:
    torch.save({'ensemble': [{'config': m.config, 'state_dict': m.state_dict()} for m in net.members]}, path)


def ensemble_macs(net: EnsembleNet) -> dict:
    """count_macs over the members, each distinct front-end counted once; FLOPs = 2 x MACs."""
    parts = [count_macs(m) for m in net.members]
    front = sum(p['frontend_macs'] for i, p in enumerate(parts) if net.front_of[i] == i)
    network = sum(p['network_macs'] for p in parts)
    total = front + network
    return {'macs': total, 'flops': 2 * total, 'frontend_macs': front, 'network_macs': network,
            'mflops': round(2 * total / 1e6, 2)}
