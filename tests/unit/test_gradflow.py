"""Gradient flow: the norms are d(loss_T)/d(h_t) (checked against a hand-written recurrence), the
Elman net's fall faster than the LSTM's, and the diagnose command."""
import json

import torch
import torch.nn.functional as F

from rnnkit.cli import main
from rnnkit.gradflow import fresh_model, gradient_norms, probe


def test_norms_are_the_gradient_of_a_hand_written_elman_recurrence():
    model = fresh_model("rnn_tanh", hidden_size=5, vocab=7, seed=1)
    inputs, targets = torch.randint(0, 7, (3, 9), generator=torch.Generator().manual_seed(2)), torch.tensor([1, 4, 6])
    norms = gradient_norms(model, inputs, targets)
    rnn = model.encoder.rnn
    x = model.input(inputs).detach()
    h, hs = torch.zeros(3, 5), []
    for t in range(9):  # h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
        h = torch.tanh(x[:, t] @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0)
        hs.append(h)
    loss = F.cross_entropy(model.head(hs[-1]), targets, reduction="sum")
    grads = torch.autograd.grad(loss, hs)
    want = torch.stack([g.norm(dim=1).mean() for g in grads])
    torch.testing.assert_close(norms, want, rtol=1e-5, atol=1e-7)


def test_the_elman_gradient_fades_faster_than_the_lstm_gradient():
    steps = 60
    flow = {cell: probe(fresh_model(cell, seed=0), steps, batch=16).flip(0) for cell in ("rnn_tanh", "lstm")}
    reach = {cell: float(v[40] / v[0]) for cell, v in flow.items()}  # 40 steps back, relative to the last step
    assert reach["rnn_tanh"] < reach["lstm"] / 10, reach


def test_diagnose_command_prints_plots_and_refuses_bad_input(tmp_path, capsys):
    png = tmp_path / "flow.png"
    assert main(["diagnose", "gradient-flow", "--cell", "rnn_tanh,lstm", "--length", "30", "--json",
                 "--plot", str(png)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["steps_back"]) == {"rnn_tanh", "lstm"} and len(result["steps_back"]["lstm"]) == 30
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["diagnose", "gradient-flow", "--length", "12"]) == 0
    assert "steps back" in capsys.readouterr().out
    for argv, message in [(["--cell", "tdnn"], "unknown cell 'tdnn'"), (["--run", str(tmp_path / "nope")],
                                                                      "run folder not found"),
                          (["--cell", "none"], "nothing to measure")]:
        assert main(["diagnose", "gradient-flow", "--length", "5", *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
