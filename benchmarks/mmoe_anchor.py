"""An expert's hand-written MMoE training loop on the Criteo shape with 3 domains × 2 objectives.

The multi-domain multi-objective counterpart of ``../shared/bench/gpu_anchor_sparse.py``, written
the same way (one fused embedding table with per-feature offsets, sparse gradients with row-wise
Adagrad on the coalesced gradient, dense part under ``torch.compile``, bf16 autocast, fused Adam,
one resident batch) for the model of ``benchmarks/mmoe_criteo.json``: input [13 dense ‖ 26 × 16],
8 experts 429→512→256 (ReLU), one softmax gate per (domain, objective) unit, per-unit towers
256→64→1, each example reading its domain's two units; BCE on both objectives.

    python benchmarks/mmoe_anchor.py [batch] [steps]
"""
import json
import sys
import time

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

B = int(sys.argv[1]) if len(sys.argv) > 1 else 65536
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 50
EMB, NS, ND, VOCAB, DOMAINS, OBJ, E, dev = 16, 26, 13, 1_000_000, 3, 2, 8, "cuda"
U = DOMAINS * OBJ


class Dense(nn.Module):
    def __init__(self, d=ND + NS * EMB, hidden=512, width=256, tower=64):
        super().__init__()
        self.e1 = nn.Linear(d, E * hidden)
        self.e2 = nn.Parameter(torch.randn(E, hidden, width) / hidden ** 0.5)
        self.b2 = nn.Parameter(torch.zeros(E, width))
        self.gates = nn.Linear(d, U * E)
        self.t1 = nn.Parameter(torch.randn(U, width, tower) / width ** 0.5)
        self.tb1 = nn.Parameter(torch.zeros(U, tower))
        self.t2 = nn.Parameter(torch.randn(U, tower) / tower ** 0.5)
        self.tb2 = nn.Parameter(torch.zeros(U))
        self.hidden = hidden

    def forward(self, dense, e, domain):
        x = torch.cat([dense, e.flatten(1)], 1)
        h = torch.relu(self.e1(x)).view(-1, E, self.hidden)
        experts = torch.relu(torch.einsum("beh,ehw->bew", h, self.e2) + self.b2)
        g = torch.softmax(self.gates(x).view(-1, U, E), -1)
        mixed = torch.einsum("bue,bew->buw", g, experts)
        t = torch.relu(torch.einsum("buw,uwt->but", mixed, self.t1) + self.tb1)
        logits = (t * self.t2).sum(-1) + self.tb2                     # [B, U]
        mine = domain.unsqueeze(1) * OBJ + torch.arange(OBJ, device=x.device)
        return logits.gather(1, mine)                                 # [B, OBJ]


def bench(emb_opt="rowwise_adagrad"):
    torch.manual_seed(0)
    table = nn.Embedding(NS * VOCAB, EMB, sparse=True).to(dev)
    nn.init.uniform_(table.weight, -0.01, 0.01)
    dense_net = Dense().to(dev)
    f = torch.compile(dense_net)
    opt_d = torch.optim.Adam(dense_net.parameters(), lr=1e-3, fused=True)
    opt_e = torch.optim.SparseAdam(table.parameters(), lr=1e-3) if emb_opt == "sparse_adam" else None
    state = torch.zeros(NS * VOCAB, device=dev) if emb_opt == "rowwise_adagrad" else None
    offs = (torch.arange(NS, device=dev) * VOCAB).unsqueeze(0)
    dense = torch.randn(B, ND, device=dev)
    ids = torch.randint(0, VOCAB, (B, NS), device=dev) + offs
    domain = torch.randint(0, DOMAINS, (B,), device=dev)
    y = torch.randint(0, 2, (B, OBJ), device=dev).float()

    def step():
        with torch.autocast("cuda", torch.bfloat16):
            loss = nn.functional.binary_cross_entropy_with_logits(f(dense, table(ids), domain).float(), y)
        opt_d.zero_grad(set_to_none=True)
        table.weight.grad = None
        loss.backward()
        opt_d.step()
        if opt_e is not None:
            opt_e.step()
        else:  # row-wise Adagrad on the coalesced sparse gradient
            g = table.weight.grad.coalesce()
            rows, vals = g.indices()[0], g.values()
            state.index_add_(0, rows, vals.pow(2).mean(1))
            table.weight.data.index_add_(0, rows, -0.01 * vals / (state[rows].sqrt() + 1e-8).unsqueeze(1))

    for _ in range(10):
        step()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(STEPS):
        step()
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t) / STEPS
    with FlopCounterMode(display=False) as fc:
        with torch.autocast("cuda", torch.bfloat16):
            loss = nn.functional.binary_cross_entropy_with_logits(dense_net(dense, table(ids), domain).float(), y)
        loss.backward()
    flops = fc.get_total_flops()
    return {"anchor": "hand-written MMoE", "emb_opt": emb_opt, "batch": B,
            "examples_per_s": round(B / dt), "step_ms": round(dt * 1e3, 2),
            "train_mflops_per_example": round(flops / B / 1e6, 2),
            "achieved_tflops": round(flops / dt / 1e12, 1)}


if __name__ == "__main__":
    print(torch.cuda.get_device_name(), torch.__version__)
    print(json.dumps(bench("rowwise_adagrad")), flush=True)
