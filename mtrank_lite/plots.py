"""Figures the chapters draw, as pure functions of their inputs.

Each function builds a new matplotlib ``Figure`` without touching pyplot's
global state or rcParams, so a slider can call it again and again (see
:mod:`mtrank_lite.widgets`) and a test can call it without a display.
"""

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mtrank_lite._checks import check_alpha, check_frame_has_columns
from mtrank_lite.calibration import inflate, reliability_curve
from mtrank_lite.fusion import fusion_table
from mtrank_lite.sampling import downsample_negatives

__all__ = ["downsampling_figure", "fusion_figure", "reliability_figure"]


def _segments(frame, probability_column, n_segments):
    """Segment rows by quantiles of their true probability."""
    ranks = frame[probability_column].rank(method="first")
    return np.ceil(ranks * n_segments / len(frame)).astype(int) - 1


def downsampling_figure(frame, alpha, seed=0, n_segments=10, label="click"):
    """What negative downsampling at keep rate ``alpha`` does to a log.

    Left: in segments of rows with similar true probability, the observed
    rate of the downsampled log against the true rate, beside the curve
    ``inflate(p, alpha)`` that theory predicts. Right: how many rows are left.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (n_rows, n_columns)
        An impression log with the label column and its truth ``p_<label>``.
    alpha : float
        Keep rate of negatives, in (0, 1].
    seed : int, default 0
        Seed of the downsampling draw.
    n_segments : int, default 10
        Number of equal-size segments by true probability.
    label : str, default "click"
        The label that is downsampled.

    Returns
    -------
    figure : matplotlib.figure.Figure
    summary : str
        HTML with the numbers the figure shows: rows kept, observed, predicted
        and true rates.

    Examples
    --------
    >>> from mtrank_lite import make_world
    >>> log = make_world(seed=0, n_users=50, n_items=40,
    ...                  warmup_impressions=2000).impressions(5000, seed=1)
    >>> figure, summary = downsampling_figure(log, alpha=0.1)
    """
    truth = f"p_{label}"
    check_frame_has_columns(frame, [label, truth], "frame")
    alpha = check_alpha(alpha)

    sample = downsample_negatives(frame, alpha, label=label, seed=seed)
    segment = _segments(frame, truth, n_segments)
    table = pd.DataFrame(
        {
            "true": frame[truth].groupby(segment).mean(),
            "observed": sample[label].groupby(segment.loc[sample.index]).mean(),
        }
    )
    true_rate = float(frame[truth].mean())
    observed_rate = float(sample[label].mean())
    predicted_rate = float(inflate(true_rate, alpha))

    figure = Figure(figsize=(9.5, 3.6))
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
    grid = np.linspace(0, max(0.3, table["true"].max() * 1.1), 200)
    left.plot(grid, grid, color="grey", linewidth=1, label="no downsampling")
    left.plot(grid, inflate(grid, alpha), color="tab:orange",
              label=f"inflate(p, {alpha:g})")
    left.scatter(table["true"], table["observed"], color="tab:blue", zorder=3,
                 label="observed in the sample")
    left.set_xlabel(f"true {label} rate of a segment")
    left.set_ylabel(f"{label} rate in the downsampled log")
    left.set_ylim(0, 1)
    left.legend(loc="upper left", fontsize=8)

    alphas = np.linspace(0.01, 1, 100)
    positives = int(frame[label].sum())
    negatives = len(frame) - positives
    right.plot(alphas, (positives + alphas * negatives) / 1e3, color="tab:green")
    right.scatter([alpha], [len(sample) / 1e3], color="black", zorder=3)
    right.axhline(positives / 1e3, color="grey", linestyle="--", linewidth=1)
    right.text(0.02, positives / 1e3, " every positive", va="bottom", fontsize=8)
    right.set_xlabel("keep rate alpha")
    right.set_ylabel("rows left (thousands)")
    right.set_ylim(0, len(frame) * 1.05 / 1e3)
    figure.suptitle(f"alpha = {alpha:g}")
    figure.tight_layout()

    summary = (
        f"alpha = {alpha:g}: {len(sample):,} of {len(frame):,} rows kept "
        f"({len(sample) / len(frame):.1%}); observed {label} rate "
        f"<b>{observed_rate:.2%}</b>, inflate(true rate) predicts "
        f"{predicted_rate:.2%}, true rate {true_rate:.2%}"
    )
    return figure, summary


def fusion_figure(candidates, like=2.0, collect=4.0, share=8.0, click=1.0, k=10):
    """The top of one user's feed under a weighted sum of the four heads.

    Each bar is one of the ``k`` best items, split into the four terms
    ``w_t p_t`` of its fused score, so the figure shows which task put the
    item there.

    Parameters
    ----------
    candidates : pandas.DataFrame, shape (n_items, n_columns)
        One row per candidate with ``item_id``, ``category`` and the predicted
        ``click``, ``like``, ``collect`` and ``share`` probabilities.
    like, collect, share, click : float, default 2, 4, 8 and 1
        The fusion weights, each at least 0.
    k : int, default 10
        Number of items shown.

    Returns
    -------
    figure : matplotlib.figure.Figure
    summary : str
        HTML: Kendall's tau with the click-only order and the top-``k`` table.

    Examples
    --------
    >>> frame = pd.DataFrame({"item_id": [1, 2], "category": [0, 3],
    ...     "click": [0.2, 0.1], "like": [0.0, 0.5], "collect": 0.0, "share": 0.0})
    >>> figure, summary = fusion_figure(frame, k=2)
    """
    weights = {"click": click, "like": like, "collect": collect, "share": share}
    table, tau = fusion_table(candidates, weights, k=k)

    figure = Figure(figsize=(7.5, 3.6))
    ax = figure.subplots()
    labels = [f"item {item}" for item in table["item_id"]]
    left = np.zeros(len(table))
    for task, color in zip(weights, ["tab:blue", "tab:orange", "tab:green",
                                     "tab:red"]):
        term = weights[task] * table[task].to_numpy()
        label = f"{weights[task]:g} x {task}"
        ax.barh(labels, term, left=left, color=color, label=label)
        left += term
    ax.invert_yaxis()
    ax.set_xlabel("fused score, split into its terms")
    ax.legend(fontsize=8, loc="lower right")
    figure.tight_layout()

    shown = table[["rank", "item_id", "category", "click", "like", "fused_score",
                   "click_rank"]]
    summary = (
        f"Kendall's tau with the click-only order: <b>{tau:.3f}</b>"
        + shown.to_html(index=False, float_format=lambda value: f"{value:.3f}")
    )
    return figure, summary


def reliability_figure(y_true, predictions, n_bins=15, strategy="quantile"):
    """Reliability diagrams of several predictions of the same labels.

    Parameters
    ----------
    y_true : array-like of {0, 1}, shape (n_samples,)
        Observed labels.
    predictions : mapping of str to array-like, each of shape (n_samples,)
        Named predicted probabilities, drawn side by side.
    n_bins : int, default 15
        Number of bins of :func:`mtrank_lite.calibration.reliability_curve`.
    strategy : {"uniform", "quantile"}, default "quantile"
        How the bins are cut.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> figure = reliability_figure([0, 1, 1, 0], {"model": [0.2, 0.7, 0.9, 0.4]},
    ...                             n_bins=2)
    """
    if not predictions:
        raise ValueError("predictions must hold at least one named prediction, got {}")

    figure = Figure(figsize=(4.2 * len(predictions), 3.6))
    axes = np.atleast_1d(figure.subplots(1, len(predictions), squeeze=False)[0])
    for ax, (name, y_prob) in zip(axes, predictions.items()):
        curve = reliability_curve(y_true, y_prob, n_bins=n_bins, strategy=strategy)
        top = max(curve["mean_predicted"].max(), curve["fraction_positive"].max())
        ax.plot([0, top], [0, top], color="grey", linewidth=1)
        ax.plot(curve["mean_predicted"], curve["fraction_positive"], marker="o")
        ax.set_title(name)
        ax.set_xlabel("mean predicted probability")
        ax.set_ylabel("observed rate")
    figure.tight_layout()
    return figure

