"""Update modes: a graph-ready (static-tensor) update and a compiled one learn exactly what
the eager update does; on a GPU the graph is captured and replayed."""

from functools import partial

import pytest
import torch

from dqnlab.agent.learner import DQNLearner
from dqnlab.agent.networks import MLPQNetwork
from dqnlab.replay.buffer import ReplaySample

CUDA = pytest.param(
    "cuda",
    marks=[
        pytest.mark.cuda,
        pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible"),
    ],
)


def batches(n: int, weighted: bool, device: str) -> list[ReplaySample]:
    """`n` random batches of 32 transitions, with terminations, n-step discounts and, if
    `weighted`, importance weights."""
    g = torch.Generator().manual_seed(1)
    out = []
    for _ in range(n):
        fields = (
            torch.randn(32, 4, generator=g),
            torch.randint(0, 3, (32,), generator=g),
            torch.randn(32, generator=g),
            torch.randn(32, 4, generator=g),
            (torch.rand(32, generator=g) < 0.2).float(),
            torch.where(torch.rand(32, generator=g) < 0.5, 0.99, 0.99**3),
            torch.rand(32, generator=g) if weighted else None,
        )
        out.append(ReplaySample(*(f if f is None else f.to(device) for f in fields)))
    return out


def train(mode: str, device: str, weighted: bool = False, updates: int = 12) -> tuple:
    """`updates` updates (lr changed midway, as a schedule does); the losses, TD errors and
    final weights."""
    torch.manual_seed(0)
    net = MLPQNetwork((4,), 3, hidden_sizes=(32, 32)).to(device)
    learner = DQNLearner(net, partial(torch.optim.Adam, lr=1e-2), double=True, update_mode=mode)
    losses, errors = [], []
    for i, batch in enumerate(batches(updates, weighted, device)):
        if i == updates // 2:
            learner.set_lr(3e-3)
        stats = learner.update(batch)
        losses.append(stats.loss)
        errors.append(stats.td_error)
        if i % 4 == 3:
            learner.sync_target()
    assert learner.num_updates == updates
    weights = [p.detach().cpu() for p in net.parameters()]
    return torch.stack(losses).cpu(), torch.stack(errors).cpu(), weights


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize("weighted", [False, True], ids=["uniform", "prioritized"])
def test_graph_update_learns_what_the_eager_update_learns(device: str, weighted: bool) -> None:
    eager = train("eager", device, weighted)
    graph = train("graph", device, weighted)
    # Each update's own outputs, not the static tensors the next update overwrites.
    assert len(set(eager[0].tolist())) == len(eager[0])
    exact = device == "cpu"  # a captured Adam step keeps its step count on the GPU
    tolerance = {"rtol": 0, "atol": 0} if exact else {"rtol": 1e-5, "atol": 1e-6}
    torch.testing.assert_close(graph[0], eager[0], **tolerance)
    torch.testing.assert_close(graph[1], eager[1], **tolerance)
    for g, e in zip(graph[2], eager[2], strict=True):
        torch.testing.assert_close(g, e, **tolerance)


@pytest.mark.slow
@pytest.mark.parametrize("device", ["cpu", CUDA])
def test_compiled_update_learns_what_the_eager_update_learns(device: str) -> None:
    eager = train("eager", device, weighted=True, updates=6)
    compiled = train("compile", device, weighted=True, updates=6)
    torch.testing.assert_close(compiled[0], eager[0], rtol=1e-4, atol=1e-5)
    for c, e in zip(compiled[2], eager[2], strict=True):
        torch.testing.assert_close(c, e, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("device", ["cpu", CUDA])
def test_checkpoints_move_between_update_modes(device: str) -> None:
    torch.manual_seed(0)
    graph = DQNLearner(
        MLPQNetwork((4,), 3, hidden_sizes=(8,)).to(device),
        partial(torch.optim.Adam, lr=1e-2),
        update_mode="graph",
    )
    for batch in batches(5, False, device):
        graph.update(batch)
    graph.set_lr(2e-3)
    state = graph.state_dict()
    assert [group["lr"] for group in state["optimizer"]["param_groups"]] == [2e-3]

    eager = DQNLearner(
        MLPQNetwork((4,), 3, hidden_sizes=(8,)).to(device), partial(torch.optim.Adam, lr=1e-2)
    )
    eager.load_state_dict(state)
    again = DQNLearner(
        MLPQNetwork((4,), 3, hidden_sizes=(8,)).to(device),
        partial(torch.optim.Adam, lr=1e-2),
        update_mode="graph",
    )
    again.load_state_dict(eager.state_dict())
    batch = batches(1, False, device)[0]
    torch.testing.assert_close(again.update(batch).loss, eager.update(batch).loss)
