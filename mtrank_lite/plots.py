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
from mtrank_lite.funnel import rerank_page
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
    left.legend(loc="center right", fontsize=8)

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


# ------------------------------------------------- funnel and diversity figures
# Figures of the funnel chapter and the diversity chapter, built on
# :mod:`mtrank_lite.funnel`.

__all__ += ["funnel_figure", "rerank_figure", "tradeoff_figure"]

_STAGE_LABELS = {
    "recall": "recall",
    "pre_ranking": "pre-ranking",
    "ranking": "ranking",
    "re_ranking": "re-ranking",
}


def _category_colours(categories):
    """One colour per category code, the same code always the same colour."""
    palette = [
        "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple",
        "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan",
        "gold", "navy", "lime", "maroon", "teal", "salmon",
    ]  # fmt: skip
    return [palette[int(code) % len(palette)] for code in categories]


def funnel_figure(stages):
    """The funnel as centred bars, one per stage, as wide as log10 of its count.

    The top bar is the catalogue (the ``n_in`` of recall); each stage below it
    is as wide as the log10 of the number of items it passes on. The text on
    the right gives the share of the truly best items still there.

    Parameters
    ----------
    stages : pandas.DataFrame of 4 rows
        ``stage``, ``n_in``, ``n_out`` and ``true_top_share``, as in
        :attr:`mtrank_lite.funnel.FunnelResult.stages` or the per-stage means
        of :func:`mtrank_lite.funnel.funnel_summary`.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> stages = pd.DataFrame({"stage": ["recall", "ranking"], "n_in": [100, 20],
    ...                        "n_out": [20, 5], "true_top_share": [1.0, 0.8]})
    >>> figure = funnel_figure(stages)
    """
    check_frame_has_columns(stages, ["stage", "n_in", "n_out", "true_top_share"],
                            "stages")
    if len(stages) == 0:
        raise ValueError("stages must hold at least one stage, got 0 rows")
    counts = np.concatenate([[stages["n_in"].iloc[0]], stages["n_out"].to_numpy()])
    if not (np.isfinite(counts).all() and (counts >= 1).all()):
        raise ValueError(f"stages must hold counts >= 1, got {counts.min()}")

    names = ["catalogue"] + [_STAGE_LABELS.get(s, str(s)) for s in stages["stage"]]
    shares = np.concatenate([[1.0], stages["true_top_share"].to_numpy()])
    widths = np.log10(counts)
    rows = np.arange(len(counts))[::-1]

    figure = Figure(figsize=(8, 0.6 + 0.55 * len(counts)))
    ax = figure.subplots()
    shades = [(0.12, 0.47, 0.71, alpha)
              for alpha in np.linspace(0.3, 0.9, len(counts))]
    ax.barh(rows, widths, left=-widths / 2, height=0.75, color=shades)
    half = widths.max() / 2
    for row, name, count, share in zip(rows, names, counts, shares):
        ax.text(-half - 0.15, row, name, ha="right", va="center")
        ax.text(0, row, f"{count:,.0f}", ha="center", va="center",
                fontweight="bold")
        ax.text(half + 0.15, row, f"{share:.0%} of the best", ha="left",
                va="center", color="tab:green")
    ax.set_xlim(-half - 2.2, half + 2.2)
    ax.set_ylim(-0.6, len(counts) - 0.4)
    ax.set_axis_off()
    ax.set_title("items per stage (bar width: log10 of the count)", fontsize=10)
    figure.tight_layout()
    return figure


def rerank_figure(
    candidates,
    relevance,
    lambda_,
    method="mmr",
    *,
    page_size=10,
    category_rule=False,
    category_weight=1.0,
):
    """The page that re-ranking picks at one trade-off, and where it came from.

    Left: the relevance of the item in each slot, coloured by category and
    labelled with it. Right: every candidate by its relevance rank, grey, with
    the picked ones in their category's colour, to show how far down the list
    the page reaches.

    Parameters
    ----------
    candidates : pandas.DataFrame of n_items rows
        With ``category`` (and ``length_minutes`` and ``item_age_days`` when
        ``category_weight < 1``).
    relevance : array-like of float, shape (n_items,)
        Non-negative scores; higher is better.
    lambda_ : float
        Trade-off in [0, 1]; 1 is relevance only.
    method : {"mmr", "dpp"}, default "mmr"
    page_size : int, default 10
    category_rule : bool, default False
        No two neighbouring slots of one category.
    category_weight : float, default 1.0
        Passed to :func:`mtrank_lite.funnel.item_similarity`.

    Returns
    -------
    figure : matplotlib.figure.Figure
    summary : str
        HTML: the share of the top ``page_size`` items' relevance that the
        page keeps, its number of distinct categories and of neighbouring
        slots of one category.

    Examples
    --------
    >>> candidates = pd.DataFrame({"category": [0, 0, 1, 2]})
    >>> figure, summary = rerank_figure(candidates, [4, 3, 2, 1], 0.5, page_size=2)
    """
    page = rerank_page(
        candidates,
        relevance,
        lambda_,
        method=method,
        page_size=page_size,
        category_rule=category_rule,
        category_weight=category_weight,
    )
    scores = np.asarray(relevance, dtype=np.float64)
    if (scores < 0).any():
        raise ValueError(f"relevance must be >= 0, got {scores.min()}")
    best_total = np.sort(scores)[::-1][:page_size].sum()
    kept = scores[page.positions].sum() / best_total if best_total > 0 else np.nan
    shown = candidates["category"].to_numpy()[page.positions]
    n_distinct = len(np.unique(shown))
    repeats = int(np.sum(shown[1:] == shown[:-1]))

    figure = Figure(figsize=(9.5, 3.4))
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.2]})
    slots = np.arange(1, page_size + 1)
    left.bar(slots, scores[page.positions], color=_category_colours(shown))
    for slot, height, category in zip(slots, scores[page.positions], shown):
        left.text(slot, height, str(category), ha="center", va="bottom",
                  fontsize=8)
    left.set_xticks(slots)
    left.set_xlabel("slot on the page (label: category)")
    left.set_ylabel("relevance")
    left.set_ylim(0, scores.max() * 1.12)

    rank = np.empty(len(scores), dtype=np.int64)
    rank[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    right.scatter(rank, scores, s=10, color="lightgrey", label="candidates")
    right.scatter(rank[page.positions], scores[page.positions], s=40,
                  color=_category_colours(shown), edgecolor="black",
                  zorder=3, label="on the page")
    right.axvline(page_size + 0.5, color="grey", linestyle="--", linewidth=1)
    right.set_xlabel("rank by relevance among the candidates")
    right.set_ylabel("relevance")
    right.legend(fontsize=8, loc="upper right")
    figure.suptitle(f"{method.upper()}, lambda = {float(lambda_):g}")
    figure.tight_layout()

    summary = (
        f"{method.upper()}, lambda = {float(lambda_):g}: relevance kept "
        f"<b>{kept:.1%}</b>, <b>{n_distinct}</b> distinct categories, "
        f"neighbouring pairs of one category: {repeats}"
    )
    return figure, summary


def tradeoff_figure(tables, diversity="mean_dissimilarity", annotate=(0.0, 1.0)):
    """Relevance kept against diversity, one curve per re-ranking method.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        Per method name, the output of
        :func:`mtrank_lite.funnel.diversity_tradeoff`.
    diversity : {"mean_dissimilarity", "n_categories"}, default
        "mean_dissimilarity"
        The column drawn on the horizontal axis.
    annotate : sequence of float, default (0.0, 1.0)
        Values of ``lambda_`` written beside their points.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> table = pd.DataFrame({"lambda_": [0.0, 1.0], "relevance_kept": [0.8, 1.0],
    ...                       "mean_dissimilarity": [1.0, 0.6]})
    >>> figure = tradeoff_figure({"mmr": table})
    """
    if not tables:
        raise ValueError("tables must hold at least one named table, got {}")
    if diversity not in ("mean_dissimilarity", "n_categories"):
        raise ValueError(
            "diversity must be 'mean_dissimilarity' or 'n_categories', "
            f"got {diversity!r}"
        )
    labels = {"mean_dissimilarity": "mean dissimilarity of the page",
              "n_categories": "distinct categories on the page"}

    figure = Figure(figsize=(6, 3.8))
    ax = figure.subplots()
    for (name, table), marker in zip(tables.items(), "osD^v<>"):
        check_frame_has_columns(table, ["lambda_", "relevance_kept", diversity],
                                f"tables[{name!r}]")
        ax.plot(table[diversity], table["relevance_kept"], marker=marker,
                label=name, alpha=0.8)
        for _, row in table.iterrows():
            if np.isclose(row["lambda_"], annotate).any():
                ax.annotate(f"lambda {row['lambda_']:g}",
                            (row[diversity], row["relevance_kept"]),
                            textcoords="offset points", xytext=(5, 4),
                            fontsize=8)
    ax.set_xlabel(labels[diversity])
    ax.set_ylabel("relevance kept")
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure
