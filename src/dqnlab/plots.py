"""Figures logged as MLflow artifacts."""

import matplotlib

matplotlib.use("Agg")  # no display on training machines
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def learning_curve(
    episode_steps: np.ndarray,
    episode_returns: np.ndarray,
    eval_steps: np.ndarray,
    eval_means: np.ndarray,
    eval_stds: np.ndarray,
    title: str,
) -> Figure:
    """Training episode returns (raw and smoothed) and greedy eval mean ± std against env step."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    if len(episode_returns):
        ax.plot(episode_steps, episode_returns, color="tab:blue", alpha=0.25, lw=0.8)
        window = max(1, len(episode_returns) // 50)
        smooth = np.convolve(episode_returns, np.ones(window) / window, mode="valid")
        ax.plot(episode_steps[window - 1 :], smooth, color="tab:blue", label="train episode return")
    if len(eval_means):
        ax.plot(eval_steps, eval_means, "o-", color="tab:orange", label="greedy eval mean")
        ax.fill_between(
            eval_steps,
            eval_means - eval_stds,
            eval_means + eval_stds,
            color="tab:orange",
            alpha=0.2,
        )
    ax.set_xlabel("env step")
    ax.set_ylabel("return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig
