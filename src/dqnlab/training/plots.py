"""Figures logged as MLflow artifacts."""

import matplotlib

matplotlib.use("Agg")  # no display on training machines
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from dqnlab.training.loop import TrainResult


def smoothed(values: np.ndarray, points: int = 50) -> tuple[np.ndarray, int]:
    """A running mean over about 1/`points` of the series, and its window."""
    window = max(1, len(values) // points)
    return np.convolve(values, np.ones(window) / window, mode="valid"), window


def draw_returns(ax: Axes, result: TrainResult) -> None:
    """Training episode returns (raw and smoothed) and greedy eval mean ± std."""
    steps, returns = np.array(result.episode_steps), np.array(result.episode_returns)
    if len(returns):
        ax.plot(steps, returns, color="tab:blue", alpha=0.25, lw=0.8)
        smooth, window = smoothed(returns)
        ax.plot(steps[window - 1 :], smooth, color="tab:blue", label="train episode return")
    if result.evals:
        eval_steps = np.array([e.step for e in result.evals])
        means = np.array([e.mean for e in result.evals])
        stds = np.array([e.std for e in result.evals])
        ax.plot(eval_steps, means, "o-", color="tab:orange", label="greedy eval mean")
        ax.fill_between(eval_steps, means - stds, means + stds, color="tab:orange", alpha=0.2)
    ax.set_ylabel("return")
    ax.legend(loc="lower right")


def draw_update_stat(ax: Axes, result: TrainResult, name: str, label: str) -> None:
    """One `train/…` update statistic against env step, raw and smoothed, on a log scale."""
    steps = np.array([step for step, _ in result.update_stats])
    values = np.array([stats[name] for _, stats in result.update_stats])
    if len(values):
        ax.plot(steps, values, color="tab:green", alpha=0.3, lw=0.8)
        smooth, window = smoothed(values, points=20)
        ax.plot(steps[window - 1 :], smooth, color="tab:green", label=f"{label} (smoothed)")
        ax.set_yscale("log")
        ax.legend(loc="upper right")
    ax.set_ylabel(label)


def draw_initial_q(ax: Axes, result: TrainResult) -> None:
    """The net's estimate of the discounted return from the eval episodes' first states."""
    steps = [e.step for e in result.evals]
    ax.plot(steps, [e.initial_q for e in result.evals], "o-", color="tab:red")
    ax.set_ylabel("max_a Q(s0, a), eval episodes")


def learning_curve(result: TrainResult, title: str) -> Figure:
    """Returns against env step."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    draw_returns(ax, result)
    ax.set_xlabel("env step")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def diagnostics(result: TrainResult, title: str) -> Figure:
    """The four panels people look at: returns, TD loss, Q of initial states, gradient norm."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5), dpi=90, sharex=True)
    draw_returns(axes[0, 0], result)
    draw_update_stat(axes[0, 1], result, "train/loss", "TD loss")
    draw_initial_q(axes[1, 0], result)
    draw_update_stat(axes[1, 1], result, "train/grad_norm", "gradient norm (before clipping)")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("env step")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
