"""Words/s of a plain PyTorch 2-layer LSTM word model's training step (forward, backward, Adam) at a
few shapes: what this CPU can do for the word LM, with nothing of rnnkit in the loop.

    python3 benchmarks/word_lstm_speed.py

10,000-word vocabulary, embedding = hidden size, untied; random ids; 2 warm-up steps, 4 timed.
The last column is the minutes one pass over Penn Treebank's 929k training words would take.
"""
import time

import torch
from torch import nn
torch.manual_seed(0)
V=10000
def run(H, L, B, T, emb=None):
    emb = emb or H
    e = nn.Embedding(V, emb); lstm = nn.LSTM(emb, H, L, batch_first=True); head = nn.Linear(H, V)
    params = list(e.parameters()) + list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, 1e-3)
    x = torch.randint(0, V, (B, T)); y = torch.randint(0, V, (B, T))
    for i in range(6):
        if i == 2: t0 = time.time()
        out, _ = lstm(e(x)); loss = nn.functional.cross_entropy(head(out).view(-1, V), y.view(-1))
        opt.zero_grad(); loss.backward(); opt.step()
    dt = (time.time()-t0)/4
    print(f"H={H} L={L} B={B} T={T}: {B*T/dt:.0f} tok/s  ({dt*1000:.0f} ms/step); epoch {929e3/(B*T/dt)/60:.1f} min", flush=True)
SHAPES = [(650, 2, 20, 35), (650, 2, 64, 70), (650, 2, 32, 70), (400, 2, 64, 70)]  # (hidden, layers, batch, bptt)
for H, L, B, T in SHAPES:
    run(H,L,B,T)
