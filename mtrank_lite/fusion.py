"""Score fusion: four predicted probabilities become one ranking score.

The ranking model predicts, for each candidate item, ``p_click`` per
impression and ``p_like``, ``p_collect``, ``p_share`` **given a click**. The
feed needs one number per item to sort by. This module holds the fusion forms
of the fusion chapter:

* :func:`weighted_sum`: the lecture's ``w1 p_click + w2 p_like + w3 p_collect
  + w4 p_share``;
* :func:`expected_interactions`: the same weights applied to the expected
  number of each interaction per impression, ``p_click * p_like`` and so on;
* :func:`product_of_powers`: ``prod_t (p_t + epsilon) ** a_t``, a weighted sum
  of log-probabilities in disguise;
* :func:`rank_based`: ``sum_t w_t / (k + rank_t)``, which uses only the order
  each head gives and so ignores calibration.

:func:`fuse` picks one by name, :func:`ranking` and :func:`top_k` turn a fused
score into an order, :func:`rank_correlation` compares two orders, and
:func:`fusion_table` is the pure function behind the chapter's weight sliders.

Scores are given as a pandas DataFrame with columns ``click``, ``like``,
``collect`` and ``share`` (the output of ``predict``) or as a dict of arrays
with those keys. Weights are a dict from task name to a number >= 0; a task
left out of the dict has weight 0 and its column is not needed.
"""

import math
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from mtrank_lite._checks import (
    check_frame,
    check_frame_has_columns,
    check_numbers,
    check_one_dimensional,
    check_positive_int,
    check_probabilities,
    check_real,
    check_same_length,
    describe,
)
from mtrank_lite.world import TASKS

__all__ = [
    "TASKS",
    "METHODS",
    "DEFAULT_WEIGHTS",
    "UndefinedCorrelationWarning",
    "weighted_sum",
    "expected_interactions",
    "product_of_powers",
    "rank_based",
    "fuse",
    "ranking",
    "top_k",
    "rank_correlation",
    "truth_scores",
    "fusion_table",
]

METHODS = ("weighted_sum", "expected_interactions", "product_of_powers", "rank_based")

# The course's default weights for the weighted sum. Rarer, stronger signals get
# larger weights, so that each term moves the score by a similar amount (in the
# synthetic world p_click is about 0.1 and p_share about 0.01). A real feed sets
# them by A/B tests; the fusion chapter moves them with sliders.
DEFAULT_WEIGHTS = {"click": 1.0, "like": 2.0, "collect": 4.0, "share": 8.0}

_TASK_LIST = ", ".join(TASKS)


class UndefinedCorrelationWarning(RuntimeWarning):
    """Warned when a rank correlation is undefined and ``nan`` is returned."""


# ----------------------------------------------------------------- checks
def _check_weights(weights, name):
    """Return ``weights`` as a dict of floats, refusing what is not allowed."""
    if not isinstance(weights, Mapping):
        raise TypeError(
            f"{name} must be a dict from task name to a number, "
            f"got {type(weights).__name__}"
        )
    if len(weights) == 0:
        raise ValueError(f"{name} must name at least one of the tasks {_TASK_LIST}")

    checked = {}
    for task, value in weights.items():
        if task not in TASKS:
            raise ValueError(
                f"{name} has an unknown task {describe(task)}; "
                f"the tasks are {_TASK_LIST}"
            )
        number = check_real(value, f"{name}[{task!r}]")
        if not (math.isfinite(number) and number >= 0.0):
            raise ValueError(
                f"{name}[{task!r}] must be a finite number >= 0, got {describe(value)}"
            )
        checked[task] = number
    return checked


def _task_arrays(scores, tasks, name="scores"):
    """Return the probabilities of ``tasks`` as float arrays of one length.

    ``scores`` is a DataFrame (other columns are ignored) or a dict of arrays
    (other keys must be task names).
    """
    if isinstance(scores, pd.DataFrame):
        check_frame_has_columns(scores, list(tasks), name)
        columns = {task: scores[task] for task in tasks}
    elif isinstance(scores, Mapping):
        for key in scores:
            if key not in TASKS:
                raise ValueError(
                    f"{name} has an unknown task {describe(key)}; "
                    f"the tasks are {_TASK_LIST}"
                )
        missing = [task for task in tasks if task not in scores]
        if missing:
            raise ValueError(
                f"{name} has no scores for {', '.join(missing)}; "
                f"it holds {', '.join(map(str, scores)) or 'nothing'}"
            )
        columns = {task: scores[task] for task in tasks}
    else:
        raise TypeError(
            f"{name} must be a DataFrame or a dict of arrays, "
            f"got {type(scores).__name__}"
        )

    arrays = {}
    for task, values in columns.items():
        array = check_probabilities(values, f"{name}[{task!r}]")
        check_one_dimensional(array, f"{name}[{task!r}]")
        arrays[task] = array

    first = tasks[0]
    for task in tasks[1:]:
        check_same_length(
            arrays[first], arrays[task], f"{name}[{first!r}]", f"{name}[{task!r}]"
        )
    return arrays


def _check_method(method):
    if method not in METHODS:
        raise ValueError(
            f"method must be one of {', '.join(METHODS)}, got {describe(method)}"
        )


def _ordered(tasks):
    """The tasks in the course's order (click, like, collect, share)."""
    return [task for task in TASKS if task in tasks]


# --------------------------------------------------------------- formulas
def weighted_sum(scores, weights):
    """Fuse the four predictions by the lecture's weighted sum.

    ``score = w1 p_click + w2 p_like + w3 p_collect + w4 p_share`` (fusion
    chapter). The terms mix units on purpose, as the lecture does: ``p_click``
    is per impression, the others are given a click. :func:`expected_interactions`
    puts every term per impression.

    Parameters
    ----------
    scores : pandas.DataFrame or dict of array-like, each of shape (n_items,)
        Probabilities in [0, 1] under the task names ``click``, ``like``,
        ``collect``, ``share``. Only the tasks named in ``weights`` are read.
    weights : dict of str to float
        Weight ``w_t >= 0`` per task; a task left out has weight 0.

    Returns
    -------
    numpy.ndarray of shape (n_items,)
        The fused score of each item.

    Examples
    --------
    >>> weighted_sum({"click": [0.1, 0.2], "like": [0.5, 0.0]}, {"click": 1, "like": 2})
    array([1.1, 0.2])
    """
    weights = _check_weights(weights, "weights")
    tasks = _ordered(weights)
    arrays = _task_arrays(scores, tasks)

    fused = np.zeros(len(arrays[tasks[0]]))
    for task in tasks:
        fused += weights[task] * arrays[task]
    return fused


def expected_interactions(scores, weights):
    """Fuse by the expected weighted number of interactions per impression.

    ``score = w_click p_click + p_click (w_like p_like + w_collect p_collect +
    w_share p_share)``. Each per-click rate is multiplied by the click rate, so
    ``p_click * p_like`` is the probability of a like per impression (DESIGN,
    "What each head predicts"). ``p_click`` is always needed, even when its
    own weight is 0.

    Parameters
    ----------
    scores : pandas.DataFrame or dict of array-like, each of shape (n_items,)
        Probabilities in [0, 1]; ``click`` and the tasks named in ``weights``.
    weights : dict of str to float
        Value ``w_t >= 0`` of one interaction of each kind; a task left out
        has weight 0.

    Returns
    -------
    numpy.ndarray of shape (n_items,)

    Examples
    --------
    >>> expected_interactions({"click": [0.1, 0.2], "like": [0.5, 0.0]}, {"like": 2})
    array([0.1, 0. ])
    """
    weights = _check_weights(weights, "weights")
    tasks = _ordered(set(weights) | {"click"})
    arrays = _task_arrays(scores, tasks)

    # Interactions after a click, weighted: the bracket of the formula above.
    after_click = np.zeros(len(arrays["click"]))
    for task in tasks:
        if task != "click":
            after_click += weights[task] * arrays[task]
    return weights.get("click", 0.0) * arrays["click"] + arrays["click"] * after_click


def product_of_powers(scores, exponents, epsilon=1e-6):
    """Fuse by a product of powers, ``prod_t (p_t + epsilon) ** a_t``.

    Taking logs shows what it is: ``log score = sum_t a_t log(p_t + epsilon)``,
    a weighted sum of log-probabilities, so it ranks exactly as that sum does.
    A factor that is ten times larger multiplies the score by ``10 ** a_t``
    whatever the other factors are, so the weights act on ratios, not on
    differences.

    ``epsilon`` keeps a prediction of exactly 0 from zeroing the whole product
    (and its log from being minus infinity). A larger offset also flattens the
    influence of a head near zero: ``(p + epsilon) ** a`` barely changes while
    ``p`` is much smaller than ``epsilon``.

    Parameters
    ----------
    scores : pandas.DataFrame or dict of array-like, each of shape (n_items,)
        Probabilities in [0, 1]; only the tasks named in ``exponents`` are read.
    exponents : dict of str to float
        Exponent ``a_t >= 0`` per task; a task left out has exponent 0
        (a factor of 1).
    epsilon : float, default 1e-6
        Offset added to each probability, ``>= 0``.

    Returns
    -------
    numpy.ndarray of shape (n_items,)

    Examples
    --------
    >>> product_of_powers({"click": [0.25, 0.04], "like": [0.5, 1.0]},
    ...                   {"click": 0.5, "like": 1.0}, epsilon=0.0)
    array([0.25, 0.2 ])
    """
    exponents = _check_weights(exponents, "exponents")
    offset = check_real(epsilon, "epsilon")
    if not (math.isfinite(offset) and offset >= 0.0):
        raise ValueError(
            f"epsilon must be a finite number >= 0, got {describe(epsilon)}"
        )
    tasks = _ordered(exponents)
    arrays = _task_arrays(scores, tasks)

    fused = np.ones(len(arrays[tasks[0]]))
    for task in tasks:
        fused *= (arrays[task] + offset) ** exponents[task]
    return fused


def rank_based(scores, weights, k=60):
    """Fuse by ranks, ``score = sum_t w_t / (k + rank_t)``.

    ``rank_t`` is the rank of an item among the candidates when sorted by
    ``p_t`` from high to low (1 for the highest); tied probabilities share the
    average of their ranks. This is reciprocal-rank fusion: only the order each
    head gives matters, so a head's calibration, or its scale, cannot distort
    the result. The price: the score of an item depends on which other items
    are in the list, and a large gap in probability counts the same as a small
    one.

    Parameters
    ----------
    scores : pandas.DataFrame or dict of array-like, each of shape (n_items,)
        Probabilities in [0, 1]; only the tasks named in ``weights`` are read.
    weights : dict of str to float
        Weight ``w_t >= 0`` per task; a task left out has weight 0.
    k : float, default 60
        Smoothing constant ``>= 0``: the larger it is, the less the first
        places dominate.

    Returns
    -------
    numpy.ndarray of shape (n_items,)

    Examples
    --------
    >>> scores = {"click": [0.3, 0.1], "like": [0.1, 0.2]}
    >>> rank_based(scores, {"click": 1, "like": 1}, k=0)
    array([1.5, 1.5])
    """
    weights = _check_weights(weights, "weights")
    smoothing = check_real(k, "k")
    if not (math.isfinite(smoothing) and smoothing >= 0.0):
        raise ValueError(f"k must be a finite number >= 0, got {describe(k)}")
    tasks = _ordered(weights)
    arrays = _task_arrays(scores, tasks)

    fused = np.zeros(len(arrays[tasks[0]]))
    for task in tasks:
        # Negate so that the highest probability gets rank 1.
        ranks = stats.rankdata(-arrays[task], method="average")
        fused += weights[task] / (smoothing + ranks)
    return fused


def fuse(scores, method, weights, *, epsilon=1e-6, k=60):
    """Fuse the four predictions with the formula named by ``method``.

    Parameters
    ----------
    scores : pandas.DataFrame or dict of array-like, each of shape (n_items,)
        Probabilities in [0, 1] under the task names.
    method : str
        One of :data:`METHODS`, naming the formula: :func:`weighted_sum`,
        :func:`expected_interactions`, :func:`product_of_powers` (``weights``
        are its exponents) or :func:`rank_based`.
    weights : dict of str to float
        Weight (or exponent) ``>= 0`` per task; a task left out has weight 0.
    epsilon : float, default 1e-6
        Offset of :func:`product_of_powers`; ignored by the other methods.
    k : float, default 60
        Smoothing constant of :func:`rank_based`; ignored by the others.

    Returns
    -------
    numpy.ndarray of shape (n_items,)

    Examples
    --------
    >>> fuse({"click": [0.1, 0.2]}, "weighted_sum", {"click": 2.0})
    array([0.2, 0.4])
    """
    _check_method(method)

    if method == "weighted_sum":
        return weighted_sum(scores, weights)
    if method == "expected_interactions":
        return expected_interactions(scores, weights)
    if method == "product_of_powers":
        return product_of_powers(scores, weights, epsilon=epsilon)
    return rank_based(scores, weights, k=k)


# ----------------------------------------------------------------- orders
def _check_scores_1d(values, name):
    array = check_numbers(values, name)
    check_one_dimensional(array, name)
    return array


def ranking(fused_score):
    """Return the positions of the items from the best score to the worst.

    Ties keep the input order (a stable sort), so the result is reproducible.

    Parameters
    ----------
    fused_score : array-like of float, shape (n_items,)
        Any numbers but NaN; higher is better.

    Returns
    -------
    numpy.ndarray of int64, shape (n_items,)
        ``order[0]`` is the position of the best item.

    Examples
    --------
    >>> ranking([0.2, 0.9, 0.2, 0.5])
    array([1, 3, 0, 2])
    """
    score = _check_scores_1d(fused_score, "fused_score")

    return np.argsort(-score, kind="stable")


def top_k(frame, fused_score, k=10):
    """Return the ``k`` best rows of ``frame`` by ``fused_score``, best first.

    Parameters
    ----------
    frame : pandas.DataFrame of n_items rows
        The candidates, one row per item.
    fused_score : array-like of float, shape (n_items,)
        Higher is better; ties keep the input order.
    k : int, default 10
        How many rows to return, ``>= 1``; all rows if there are fewer.

    Returns
    -------
    pandas.DataFrame of min(k, n_items) rows
        The rows of ``frame`` with two more columns, ``fused_score`` and
        ``rank`` (1 for the best), and a fresh index.

    Examples
    --------
    >>> best = top_k(pd.DataFrame({"item_id": [7, 8, 9]}), [0.1, 0.3, 0.2], k=2)
    >>> best["item_id"].tolist()
    [8, 9]
    """
    check_frame(frame, "frame")
    score = _check_scores_1d(fused_score, "fused_score")
    check_same_length(frame, score, "frame", "fused_score")
    k = check_positive_int(k, "k")

    order = ranking(score)[:k]
    best = frame.iloc[order].reset_index(drop=True)
    best["fused_score"] = score[order]
    best["rank"] = np.arange(1, len(order) + 1)
    return best


def rank_correlation(first, second, method="kendall"):
    """Rank correlation of two scorings of the same items.

    A thin, checked wrapper of :func:`scipy.stats.kendalltau` (tau-b, which
    accounts for ties) and :func:`scipy.stats.spearmanr`. 1 means the same
    order, -1 the reverse order.

    Parameters
    ----------
    first, second : array-like of float, shape (n_items,)
        Two scores of the same items, in the same item order; no NaN.
    method : {"kendall", "spearman"}, default "kendall"

    Returns
    -------
    float
        The correlation. ``nan`` with an :class:`UndefinedCorrelationWarning`
        when it is undefined: fewer than two items or a constant score.

    Examples
    --------
    >>> round(rank_correlation([0.1, 0.2, 0.3], [1.0, 3.0, 2.0]), 4)
    0.3333
    """
    first_array = _check_scores_1d(first, "first")
    second_array = _check_scores_1d(second, "second")
    check_same_length(first_array, second_array, "first", "second")
    if method not in ("kendall", "spearman"):
        raise ValueError(
            f"method must be 'kendall' or 'spearman', got {describe(method)}"
        )

    constant = len(first_array) < 2 or np.ptp(first_array) == 0 or np.ptp(
        second_array
    ) == 0
    if constant:
        warnings.warn(
            "the rank correlation is undefined for fewer than two items or a "
            "constant score; returning nan",
            UndefinedCorrelationWarning,
            stacklevel=2,
        )
        return math.nan

    if method == "kendall":
        result = stats.kendalltau(first_array, second_array)
    else:
        result = stats.spearmanr(first_array, second_array)
    return float(result.statistic)


# ------------------------------------------------------ the chapter's table
def truth_scores(frame):
    """Return the truth columns of a frame under the task names.

    Parameters
    ----------
    frame : pandas.DataFrame
        Holds ``p_click``, ``p_like``, ``p_collect`` and ``p_share``, as an
        impression log or ``world.features`` does.

    Returns
    -------
    pandas.DataFrame of shape (n, 4)
        Columns ``click``, ``like``, ``collect``, ``share``; same index as
        ``frame``.

    Examples
    --------
    >>> truth_scores(pd.DataFrame({f"p_{t}": [0.5] for t in TASKS})).columns.tolist()
    ['click', 'like', 'collect', 'share']
    """
    check_frame_has_columns(frame, [f"p_{task}" for task in TASKS], "frame")

    return pd.DataFrame(
        {task: frame[f"p_{task}"].to_numpy() for task in TASKS}, index=frame.index
    )


def fusion_table(candidates, weights, k=10, method="weighted_sum", prefix=""):
    """The top of the feed for one set of weights, and its distance from click order.

    This is the pure function behind the fusion chapter's sliders: the widget
    only passes the slider values as ``weights``.

    Parameters
    ----------
    candidates : pandas.DataFrame of n_items rows
        One row per candidate item, with ``item_id``, ``category`` and the
        probability columns ``{prefix}click``, ``{prefix}like``,
        ``{prefix}collect`` and ``{prefix}share``.
    weights : dict of str to float
        Passed to :func:`fuse`.
    k : int, default 10
        Length of the returned table, ``>= 1``.
    method : str, default "weighted_sum"
        One of :data:`METHODS`; ``"rank_based"`` uses its default smoothing
        ``k=60`` (this function's ``k`` is the table length).
    prefix : str, default ""
        ``""`` reads the predictions (``click``, ...); ``"p_"`` reads the
        truth columns of the synthetic world (``p_click``, ...).

    Returns
    -------
    table : pandas.DataFrame of min(k, n_items) rows
        Columns ``rank`` (1 for the best under the fused score), ``item_id``,
        ``category``, ``click``, ``like``, ``collect``, ``share``,
        ``fused_score`` and ``click_rank``: the item's rank among all
        candidates when sorted by the click probability alone.
    tau : float
        Kendall's tau between the fused score and the click probability over
        all candidates (1: fusion keeps the click-only order).

    Examples
    --------
    >>> frame = pd.DataFrame({"item_id": [1, 2], "category": [0, 3],
    ...     "click": [0.2, 0.1], "like": [0.0, 0.5], "collect": 0.0, "share": 0.0})
    >>> fusion_table(frame, {"click": 1, "like": 1})[0]["item_id"].tolist()
    [2, 1]
    """
    check_frame_has_columns(candidates, ["item_id", "category"], "candidates")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    check_frame_has_columns(
        candidates, [f"{prefix}{task}" for task in TASKS], "candidates"
    )
    k = check_positive_int(k, "k")
    _check_method(method)

    scores = pd.DataFrame(
        {task: candidates[f"{prefix}{task}"].to_numpy() for task in TASKS}
    )
    fused = fuse(scores, method, weights)
    click_order = ranking(scores["click"].to_numpy())
    click_rank = np.empty(len(scores), dtype=np.int64)
    click_rank[click_order] = np.arange(1, len(scores) + 1)

    table = scores.assign(
        item_id=candidates["item_id"].to_numpy(),
        category=candidates["category"].to_numpy(),
        click_rank=click_rank,
    )
    table = top_k(table, fused, k=k)
    tau = rank_correlation(fused, scores["click"].to_numpy())

    columns = ["rank", "item_id", "category", *TASKS, "fused_score", "click_rank"]
    return table[columns], tau
