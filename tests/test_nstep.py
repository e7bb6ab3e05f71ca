"""n-step returns per env: full windows, terminations and truncations inside a window."""

from pathlib import Path

import numpy as np
import pytest
from test_replay import save_and_load

from dqnlab.replay.nstep import NStepBuilder, Transitions, discounted_returns

GAMMA = 0.5


def step(
    builder: NStepBuilder,
    env_ids: list[int],
    t: int,
    terminated: list[bool] | None = None,
    truncated: list[bool] | None = None,
) -> Transitions:
    """One real step of `env_ids` at time t: obs = [env, t], reward = t + 1, next = [env, t+1]."""
    ids = np.array(env_ids, dtype=np.int64)
    n = len(ids)
    obs = np.stack([ids, np.full(n, t)], axis=1).astype(np.float32)
    return builder.push(
        ids,
        obs,
        ids.copy(),  # action = env id, to trace rows
        np.full(n, t + 1.0, dtype=np.float32),
        obs + np.array([0, 1], dtype=np.float32),
        np.array(terminated or [False] * n),
        np.array(truncated or [False] * n),
    )


def rows(transitions: Transitions) -> list[tuple[float, ...]]:
    """(env, t, return, next t, terminated, discount) per row, sorted."""
    return sorted(
        (o[0], o[1], round(float(r), 6), n[1], float(d), round(float(g), 6))
        for o, r, n, d, g in zip(
            transitions.obs,
            transitions.rewards,
            transitions.next_obs,
            transitions.terminated,
            transitions.discounts,
            strict=True,
        )
    )


def test_discounted_returns_by_hand() -> None:
    # rewards 1, 2, 4 with gamma 0.5: G2 = 4, G1 = 2 + 2 = 4, G0 = 1 + 0.5 * 4 = 3
    assert discounted_returns(np.array([1.0, 2.0, 4.0]), 0.5).tolist() == [3.0, 4.0, 4.0]


def test_full_window_emits_oldest_step_with_n_rewards_and_gamma_to_the_n() -> None:
    builder = NStepBuilder(3, GAMMA, 1, (2,))
    assert len(step(builder, [0], 0).rewards) == 0
    assert len(step(builder, [0], 1).rewards) == 0
    out = step(builder, [0], 2)
    # From t=0: rewards 1, 2, 3 -> 1 + 0.5*2 + 0.25*3 = 2.75; next state t=3; gamma^3.
    assert rows(out) == [(0, 0, 2.75, 3, 0.0, 0.125)]
    out = step(builder, [0], 3)
    assert rows(out) == [(0, 1, 2 + 1.5 + 1.0, 4, 0.0, 0.125)]


def test_termination_inside_a_window_flushes_without_bootstrap() -> None:
    builder = NStepBuilder(3, GAMMA, 1, (2,))
    step(builder, [0], 0)
    out = step(builder, [0], 1, terminated=[True])
    # t=0: 1 + 0.5*2 = 2 over 2 rewards; t=1: 2 over 1 reward; both end at t=2, terminal.
    assert rows(out) == [(0, 0, 2.0, 2, 1.0, 0.25), (0, 1, 2.0, 2, 1.0, 0.5)]
    assert builder.count[0] == 0


def test_truncation_inside_a_window_bootstraps_from_the_last_real_state() -> None:
    builder = NStepBuilder(3, GAMMA, 1, (2,))
    step(builder, [0], 0)
    step(builder, [0], 1)
    out = step(builder, [0], 2, truncated=[True])
    # Full window at the end: t=0 keeps gamma^3; t=1 sums 2 rewards, t=2 one; not terminal.
    assert rows(out) == [
        (0, 0, 2.75, 3, 0.0, 0.125),
        (0, 1, 2 + 1.5, 3, 0.0, 0.25),
        (0, 2, 3.0, 3, 0.0, 0.5),
    ]


def test_parallel_envs_keep_separate_windows() -> None:
    builder = NStepBuilder(2, GAMMA, 3, (2,))
    step(builder, [0, 1, 2], 0)
    out = step(builder, [0, 2], 1, terminated=[True, False])  # env 1 resets: no real step
    # env 0 ends: both its steps flush as terminal; env 2's full window emits t=0.
    assert rows(out) == [
        (0, 0, 1 + 0.5 * 2, 2, 1.0, 0.25),
        (0, 1, 2.0, 2, 1.0, 0.5),
        (2, 0, 1 + 0.5 * 2, 2, 0.0, 0.25),
    ]
    out = step(builder, [1, 2], 1)
    # env 1's window kept its t=0 through the step it skipped; env 2 emits its t=1.
    assert rows(out) == [(1, 0, 1 + 0.5 * 2, 2, 0.0, 0.25), (2, 1, 2 + 0.5 * 2, 2, 0.0, 0.25)]
    assert sorted(out.actions.tolist()) == [1, 2]


def test_one_step_passes_transitions_through_with_gamma() -> None:
    builder = NStepBuilder(1, GAMMA, 2, (2,))
    out = step(builder, [0, 1], 4, terminated=[False, True])
    assert rows(out) == [(0, 4, 5.0, 5, 0.0, 0.5), (1, 4, 5.0, 5, 1.0, 0.5)]


def test_state_round_trip_emits_the_same_transitions(tmp_path: Path) -> None:
    builder = NStepBuilder(3, GAMMA, 3, (2,))
    # Windows left part full, full, and just flushed by a termination.
    step(builder, [0, 1, 2], 0)
    step(builder, [1, 2], 1, terminated=[False, True])
    step(builder, [1], 2)
    restored = NStepBuilder(3, GAMMA, 3, (2,))
    restored.load_state_dict(save_and_load(builder.state_dict(), tmp_path))
    for t, ids, truncated in [(3, [0, 1, 2], [False, True, False]), (4, [0, 2], None)]:
        for a, b in zip(
            step(builder, ids, t, truncated=truncated),
            step(restored, ids, t, truncated=truncated),
            strict=True,
        ):
            assert np.array_equal(a, b)
    assert np.array_equal(builder.count, restored.count)


def test_state_for_another_number_of_envs_is_refused() -> None:
    with pytest.raises(ValueError, match="n-step obs"):
        NStepBuilder(3, GAMMA, 2, (2,)).load_state_dict(
            NStepBuilder(3, GAMMA, 3, (2,)).state_dict()
        )


def test_clear_drops_every_pending_step() -> None:
    builder = NStepBuilder(3, GAMMA, 2, (2,))
    step(builder, [0, 1], 0)
    step(builder, [0, 1], 1)
    builder.clear()
    assert builder.count.tolist() == [0, 0]
    step(builder, [0, 1], 7)
    out = step(builder, [0, 1], 8, terminated=[True, False])
    assert rows(out) == [(0, 7, 8 + 0.5 * 9, 9, 1.0, 0.25), (0, 8, 9.0, 9, 1.0, 0.5)]
