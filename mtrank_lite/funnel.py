"""The four stages of a feed, simulated for one user of the synthetic world.

A feed cannot score every item with its best model, so it narrows the
catalogue in stages (the funnel chapter):

1. **Recall** gathers a few thousand candidates from the whole catalogue with
   several cheap channels and merges them. Its aim is to miss nothing good.
2. **Pre-ranking** keeps a few hundred with a small, fast scorer.
3. **Ranking** scores the survivors with the full model and fuses its four
   predictions into one score (:mod:`mtrank_lite.fusion`).
4. **Re-ranking** picks the page: a diversity method (MMR or a DPP) and a
   business rule (no two items of one category next to each other).

:func:`run_funnel` runs the four stages and reports, per stage, how many items
go in and out, what the stage cost, and how many of the truly best items (by
the world's truth, fused with the same weights) are still there. Because the
world's truth is known, the loss of each stage can be measured exactly.

The re-ranking functions are pure functions of their arguments, for the
diversity chapter's sliders: :func:`rerank_page`, :func:`dpp_page` and
:func:`diversity_tradeoff`, built on :func:`item_similarity`,
:func:`mmr_order`, :func:`dpp_order` and :func:`arrange_page`.
"""

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mtrank_lite._checks import (
    as_generator,
    check_frame,
    check_frame_has_columns,
    check_numbers,
    check_one_dimensional,
    check_positive_int,
    check_real,
    describe,
)
from mtrank_lite.fusion import DEFAULT_WEIGHTS, TASKS, fuse, ranking, truth_scores
from mtrank_lite.world import World

__all__ = [
    "STAGES",
    "RECALL_CHANNELS",
    "DEFAULT_RECALL_SIZES",
    "RERANK_METHODS",
    "FunnelResult",
    "Page",
    "truth_scorer",
    "statistics_scorer",
    "noisy_truth_scorer",
    "run_funnel",
    "funnel_summary",
    "item_similarity",
    "mmr_order",
    "dpp_order",
    "arrange_page",
    "rerank_page",
    "dpp_page",
    "diversity_tradeoff",
]

STAGES = ("recall", "pre_ranking", "ranking", "re_ranking")

RECALL_CHANNELS = ("popularity", "favourite_categories", "exploration", "embedding")

# How many items each recall channel returns by default. With the default world
# (2,000 items) the merged list holds about half of the catalogue; a world made
# with more items gives the same channel sizes a harder job.
DEFAULT_RECALL_SIZES = {
    "popularity": 250,
    "favourite_categories": 500,
    "exploration": 250,
    "embedding": 250,
}

RERANK_METHODS = ("mmr", "dpp")

_STATISTICS_COLUMNS = [
    "item_ctr",
    "item_like_rate",
    "item_collect_rate",
    "item_share_rate",
    "user_ctr",
    "user_category_ctr",
]

# Below this residual an item adds nothing new to a DPP's selection: its
# similarity row is (to rounding) a combination of the rows already picked.
_DPP_TOLERANCE = 1e-10


# ---------------------------------------------------------------- scorers
def truth_scorer(frame):
    """Score candidates with the world's true probabilities (the oracle).

    Parameters
    ----------
    frame : pandas.DataFrame of n rows
        Candidates as :meth:`World.features` builds them, with the truth
        columns ``p_click``, ``p_like``, ``p_collect`` and ``p_share``.

    Returns
    -------
    pandas.DataFrame of shape (n, 4)
        Columns ``click``, ``like``, ``collect``, ``share``.

    Examples
    --------
    >>> world = make_world(seed=0, n_users=50, n_items=40, warmup_impressions=2000)
    >>> truth_scorer(world.features([0], [3], 20, 0, 0)).shape
    (1, 4)
    """
    return truth_scores(frame)


def statistics_scorer(frame):
    """A cheap pre-ranking scorer built from statistics features alone.

    No training and one multiplication per item: the click probability is the
    item's historical click rate scaled by the user's lift in the item's
    category (``user_category_ctr / user_ctr``), and the rates given a click
    are the item's historical rates. It knows nothing of the hidden quality or
    clickbait beyond what the history shows, and nothing of new items.

    Parameters
    ----------
    frame : pandas.DataFrame of n rows
        Candidates with the statistics columns ``item_ctr``,
        ``item_like_rate``, ``item_collect_rate``, ``item_share_rate``,
        ``user_ctr`` and ``user_category_ctr``.

    Returns
    -------
    pandas.DataFrame of shape (n, 4)
        Columns ``click``, ``like``, ``collect``, ``share`` in [0, 1].

    Examples
    --------
    >>> world = make_world(seed=0, n_users=50, n_items=40, warmup_impressions=2000)
    >>> statistics_scorer(world.features([0, 0], [3, 4], 20, 0, 0)).shape
    (2, 4)
    """
    check_frame_has_columns(frame, _STATISTICS_COLUMNS, "frame")

    lift = frame["user_category_ctr"].to_numpy() / frame["user_ctr"].to_numpy()
    click = np.clip(frame["item_ctr"].to_numpy() * lift, 0.0, 1.0)
    return pd.DataFrame(
        {
            "click": click,
            "like": frame["item_like_rate"].to_numpy(),
            "collect": frame["item_collect_rate"].to_numpy(),
            "share": frame["item_share_rate"].to_numpy(),
        },
        index=frame.index,
    )


def noisy_truth_scorer(world, noise=0.5, seed=0):
    """Make a scorer that returns the truth blurred by noise on the logit scale.

    It stands in for a trained model of a given accuracy: each true
    probability ``p`` becomes ``sigmoid(logit(p) + noise * z)`` with ``z``
    standard normal. The draw depends only on ``seed``, the user and the item,
    so scoring the same pair twice, or in another order, gives the same value.

    Parameters
    ----------
    world : World
        The world whose items are scored (it fixes the catalogue size).
    noise : float, default 0.5
        Standard deviation of the logit noise, ``>= 0``; 0 gives the truth.
    seed : int or numpy.random.Generator, default 0

    Returns
    -------
    callable
        ``scorer(frame) -> pandas.DataFrame`` with columns ``click``,
        ``like``, ``collect``, ``share``; ``frame`` needs ``user_id``,
        ``item_id`` and the truth columns.

    Examples
    --------
    >>> world = make_world(seed=0, n_users=50, n_items=40, warmup_impressions=2000)
    >>> noisy_truth_scorer(world)(world.features([0], [3], 20, 0, 0)).shape
    (1, 4)
    """
    _check_world(world)
    spread = _check_non_negative(noise, "noise")
    # One integer from the seed, then one stream per user: order-free draws.
    base_seed = int(as_generator(seed).integers(2**63))
    n_items = len(world.items)

    def scorer(frame):
        check_frame_has_columns(
            frame, ["user_id", "item_id", *(f"p_{task}" for task in TASKS)], "frame"
        )
        user_ids = frame["user_id"].to_numpy()
        item_ids = frame["item_id"].to_numpy()

        # Shape (n, 4): one draw per row and task.
        draws = np.empty((len(frame), len(TASKS)))
        for user in np.unique(user_ids):
            rows = user_ids == user
            per_item = np.random.default_rng([base_seed, int(user)]).normal(
                size=(n_items, len(TASKS))
            )
            draws[rows] = per_item[item_ids[rows]]

        columns = {}
        for column, task in enumerate(TASKS):
            probability = np.clip(frame[f"p_{task}"].to_numpy(), 1e-12, 1 - 1e-12)
            logit = np.log(probability) - np.log1p(-probability)
            columns[task] = 1.0 / (1.0 + np.exp(-(logit + spread * draws[:, column])))
        return pd.DataFrame(columns, index=frame.index)

    return scorer


# ----------------------------------------------------------------- checks
def _check_world(world):
    if not isinstance(world, World):
        raise TypeError(
            f"world must be a World from make_world, got {type(world).__name__}"
        )


def _check_non_negative(value, name):
    number = check_real(value, name)
    if not (math.isfinite(number) and number >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0, got {describe(value)}")
    return number


def _check_unit_interval(value, name):
    number = check_real(value, name)
    # NaN fails the comparison, so it is refused here too.
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {describe(value)}")
    return number


def _check_choice(value, allowed, name):
    if value not in allowed:
        listed = ", ".join(repr(option) for option in allowed)
        raise ValueError(f"{name} must be one of {listed}, got {describe(value)}")


def _check_relevance(relevance, n_candidates):
    scores = check_numbers(relevance, "relevance")
    check_one_dimensional(scores, "relevance")
    if not np.isfinite(scores).all():
        bad = scores[~np.isfinite(scores)][0]
        raise ValueError(f"relevance must hold finite numbers, got {bad}")
    if n_candidates is not None and len(scores) != n_candidates:
        raise ValueError(
            "relevance and candidates must have the same length, "
            f"got {len(scores)} and {n_candidates}"
        )
    return scores


def _check_similarity(similarity, n_items):
    matrix = check_numbers(similarity, "similarity")
    if matrix.shape != (n_items, n_items):
        raise ValueError(
            f"similarity must have shape ({n_items}, {n_items}) to match relevance, "
            f"got {matrix.shape}"
        )
    return matrix


def _check_recall_sizes(recall_sizes):
    sizes = dict(DEFAULT_RECALL_SIZES)
    if recall_sizes is None:
        return sizes
    if not isinstance(recall_sizes, Mapping):
        raise TypeError(
            "recall_sizes must be a dict from channel name to a count, "
            f"got {type(recall_sizes).__name__}"
        )
    for channel, size in recall_sizes.items():
        if channel not in RECALL_CHANNELS:
            raise ValueError(
                f"recall_sizes has an unknown channel {describe(channel)}; "
                f"the channels are {', '.join(RECALL_CHANNELS)}"
            )
        if isinstance(size, (bool, np.bool_)) or not isinstance(
            size, (int, np.integer)
        ):
            raise TypeError(
                f"recall_sizes[{channel!r}] must be an integer >= 0, "
                f"got {describe(size)}"
            )
        if size < 0:
            raise ValueError(
                f"recall_sizes[{channel!r}] must be an integer >= 0, got {size}"
            )
        sizes[channel] = int(size)
    if sum(sizes.values()) == 0:
        raise ValueError("recall_sizes switches every channel off; keep one above 0")
    return sizes


def _rescaled(relevance):
    """Relevance mapped to [0, 1] by min-max; a constant relevance becomes 0."""
    spread = np.ptp(relevance) if len(relevance) else 0.0
    if spread == 0:
        return np.zeros(len(relevance))
    return (relevance - relevance.min()) / spread


def _best(score, relevance, usable):
    """Position of the best usable score; ties go to relevance, then position."""
    positions = np.flatnonzero(usable)
    top = score[positions].max()
    tied = positions[score[positions] == top]
    # argmax returns the first maximum, so the earliest position wins a tie.
    return int(tied[np.argmax(relevance[tied])])


# -------------------------------------------------------- diversity tools
def item_similarity(candidates, category_weight=1.0):
    """Similarity of every pair of candidates, from observed features only.

    ``S = category_weight * same_category + (1 - category_weight) * K`` where
    ``same_category`` is 1 for two items of one category and 0 otherwise, and
    ``K`` is a Gaussian kernel ``exp(-|x_i - x_j|^2 / 2)`` over the
    standardized log length and log age of the items. Both parts are
    similarity matrices of feature vectors (positive semi-definite, 1 on the
    diagonal), so ``S`` is one too, as a DPP kernel needs. Hidden traits are
    never used.

    Parameters
    ----------
    candidates : pandas.DataFrame of n_items rows
        With ``category``; with ``length_minutes`` and ``item_age_days`` too
        when ``category_weight < 1``.
    category_weight : float, default 1.0
        Share of the similarity that comes from the category, in [0, 1].

    Returns
    -------
    numpy.ndarray of shape (n_items, n_items)
        Symmetric, entries in [0, 1], ones on the diagonal.

    Examples
    --------
    >>> item_similarity(pd.DataFrame({"category": [0, 0, 1]}))[0].tolist()
    [1.0, 1.0, 0.0]
    """
    check_frame_has_columns(candidates, ["category"], "candidates")
    weight = _check_unit_interval(category_weight, "category_weight")

    categories = candidates["category"].to_numpy()
    same_category = (categories[:, None] == categories[None, :]).astype(np.float64)
    if weight == 1.0:
        return same_category

    check_frame_has_columns(
        candidates, ["length_minutes", "item_age_days"], "candidates"
    )
    features = np.column_stack(
        [
            np.log(candidates["length_minutes"].to_numpy(dtype=np.float64)),
            np.log1p(candidates["item_age_days"].to_numpy(dtype=np.float64)),
        ]
    )
    spread = features.std(axis=0)
    features = (features - features.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    # Shape (n_items, n_items): squared distances between standardized items.
    squared = ((features[:, None, :] - features[None, :, :]) ** 2).sum(axis=-1)
    kernel = np.exp(-0.5 * squared)
    return weight * same_category + (1.0 - weight) * kernel


def _order_inputs(relevance, similarity, lambda_, n_picks):
    """Check the inputs shared by MMR and the DPP; rescale the relevance."""
    scores = _check_relevance(relevance, None)
    matrix = _check_similarity(similarity, len(scores))
    trade_off = _check_unit_interval(lambda_, "lambda_")
    n_picks = _check_n_picks(n_picks, len(scores))
    return _rescaled(scores), matrix, trade_off, n_picks


def mmr_order(relevance, similarity, lambda_, n_picks=None):
    """Order items greedily by maximal marginal relevance (MMR).

    At each step MMR picks the item ``i`` that maximizes
    ``lambda_ * r_i - (1 - lambda_) * max_j S_ij`` over the items ``j``
    already picked (Carbonell and Goldstein, 1998; ``r`` and ``S`` are the
    letters of that formula). ``r`` is the relevance rescaled to [0, 1] by
    min-max over the candidates, so that ``lambda_`` means the same whatever
    the scale of the fused score. Ties go to the more relevant item, then to
    the earlier one. ``lambda_ = 1`` sorts by relevance; ``lambda_ = 0``
    ignores relevance after the first pick.

    Parameters
    ----------
    relevance : array-like of float, shape (n_items,)
        Higher is better; finite.
    similarity : array-like of float, shape (n_items, n_items)
        ``S``, for example from :func:`item_similarity`.
    lambda_ : float
        Trade-off in [0, 1]; 1 is relevance only.
    n_picks : int, optional
        How many items to order, ``>= 1``; all of them by default.

    Returns
    -------
    numpy.ndarray of int64, shape (n_picks,)
        Positions of the picked items, in the order picked.

    Examples
    --------
    >>> similarity = item_similarity(pd.DataFrame({"category": [0, 0, 1]}))
    >>> mmr_order([0.9, 0.8, 0.1], similarity, lambda_=0.5).tolist()
    [0, 2, 1]
    """
    r, matrix, trade_off, n_picks = _order_inputs(
        relevance, similarity, lambda_, n_picks
    )
    max_similarity = np.zeros(len(r))
    available = np.ones(len(r), dtype=bool)
    order = []
    for _ in range(n_picks):
        # MMR: relevance minus the redundancy with what is already on the page.
        marginal = trade_off * r - (1.0 - trade_off) * max_similarity
        pick = _best(marginal, r, available)
        order.append(pick)
        available[pick] = False
        max_similarity = np.maximum(max_similarity, matrix[pick])
    return np.array(order, dtype=np.int64)


def dpp_order(relevance, similarity, lambda_, n_picks=None):
    """Order items by greedy MAP inference for a determinantal point process.

    The DPP kernel is ``L = diag(q) S diag(q)`` with quality
    ``q_i = exp(lambda_ * r_i / (2 * (1 - lambda_)))`` and ``r`` the relevance
    rescaled to [0, 1], so that
    ``log det L_Y = lambda_ / (1 - lambda_) * sum_{i in Y} r_i + log det S_Y``
    (the trade-off of Chen, Zhang and Zhou, 2018, with their theta as
    ``lambda_``). ``det S_Y`` is the squared volume spanned by the picked
    items' similarity vectors: near-duplicates shrink it.

    The greedy step adds the item with the largest gain in ``log det L_Y``.
    The gain of item ``i`` is ``lambda_ / (1 - lambda_) * r_i + log d_i`` where
    ``d_i`` is the residual of ``S_ii`` after projecting out the items already
    picked; it is kept up to date by one Cholesky row per pick (Algorithm 1 of
    Chen, Zhang and Zhou, 2018), so ``L`` is never formed and large
    ``lambda_`` cannot overflow. Ties go to the more relevant item, then to the
    earlier one.

    When every remaining item has a zero residual (``S`` is singular: with the
    category similarity, once each category present has one item), the DPP has
    nothing left to prefer, and the rest of the order follows relevance.
    ``lambda_ = 1`` is relevance order, the limit of the kernel for a
    full-rank ``S``. With the category similarity alone
    (``item_similarity(..., category_weight=1.0)``) the first picks are one
    item per category at every ``lambda_ < 1``; blend in the other features
    (``category_weight < 1``) for a trade-off that moves with ``lambda_``.

    Parameters
    ----------
    relevance : array-like of float, shape (n_items,)
        Higher is better; finite.
    similarity : array-like of float, shape (n_items, n_items)
        ``S``: symmetric positive semi-definite with ones on the diagonal, for
        example from :func:`item_similarity`.
    lambda_ : float
        Trade-off in [0, 1]; 0 is diversity only, 1 relevance only.
    n_picks : int, optional
        How many items to order, ``>= 1``; all of them by default.

    Returns
    -------
    numpy.ndarray of int64, shape (n_picks,)
        Positions of the picked items, in the order picked; all distinct.

    Examples
    --------
    >>> similarity = item_similarity(pd.DataFrame({"category": [0, 0, 1]}))
    >>> dpp_order([0.9, 0.8, 0.1], similarity, lambda_=0.5).tolist()
    [0, 2, 1]
    """
    r, matrix, trade_off, n_picks = _order_inputs(
        relevance, similarity, lambda_, n_picks
    )
    by_relevance = np.argsort(-r, kind="stable")
    if trade_off == 1.0:
        return by_relevance[:n_picks].astype(np.int64)

    residual = np.diag(matrix).astype(np.float64).copy()
    # Row k holds the k-th row of the incremental Cholesky factor of S_Y.
    cholesky_rows = np.zeros((n_picks, len(r)))
    available = np.ones(len(r), dtype=bool)
    order = []
    while len(order) < n_picks:
        usable = available & (residual > _DPP_TOLERANCE)
        if not usable.any():
            break
        gain = np.full(len(r), -np.inf)
        # (1 - lambda_) times the gain in log det L_Y: same argmax, finite at 0.
        gain[usable] = trade_off * r[usable] + (1.0 - trade_off) * np.log(
            residual[usable]
        )
        pick = _best(gain, r, usable)
        step = len(order)
        order.append(pick)
        available[pick] = False

        # Chen, Zhang and Zhou (2018), Algorithm 1: e_i = (S_ji - <c_j, c_i>) / d_j
        # and d_i^2 <- d_i^2 - e_i^2, with the residual d^2 stored as `residual`.
        projection = cholesky_rows[:step, pick] @ cholesky_rows[:step]
        new_row = (matrix[pick] - projection) / math.sqrt(residual[pick])
        cholesky_rows[step] = new_row
        residual = residual - new_row**2

    # Whatever the DPP cannot tell apart follows relevance.
    rest = [position for position in by_relevance if available[position]]
    order.extend(rest[: n_picks - len(order)])
    return np.array(order, dtype=np.int64)


def _check_n_picks(n_picks, n_items):
    if n_picks is None:
        return n_items
    n_picks = check_positive_int(n_picks, "n_picks")
    if n_picks > n_items:
        raise ValueError(
            f"n_picks must be in [1, {n_items}] (the number of items), got {n_picks}"
        )
    return n_picks


def _page_is_feasible(counts, previous, n_slots):
    """Can ``n_slots`` items be drawn from ``counts`` with no neighbours alike?

    ``counts[c]`` is how many unused items of category code ``c`` are left and
    ``previous`` is the category in the slot before (-1 for none). A sequence
    of n items with no two equal neighbours exists iff no category fills more
    than ceil(n / 2) of them; the category of the slot before may fill at most
    floor(n / 2), since it cannot come first. So the page can be completed iff
    the capped counts add up to ``n_slots``.
    """
    caps = np.full(len(counts), (n_slots + 1) // 2)
    if previous >= 0:
        caps[previous] = n_slots // 2
    return np.minimum(counts, caps).sum() >= n_slots


def arrange_page(order, categories, page_size, category_rule=True):
    """Fill a page from a preference order, optionally keeping a category rule.

    Without the rule the page is the first ``page_size`` items of ``order``.
    With it, no two neighbouring slots hold items of one category: each slot
    takes the earliest item of ``order`` that differs in category from the
    slot before and still lets the rest of the page be completed. That is a
    counting check: ``n`` slots can be filled with no neighbours alike iff,
    counting at most ``ceil(n / 2)`` items of each category (``floor(n / 2)``
    of the category just placed), at least ``n`` items are left.

    When no page of this length can obey the rule (too few categories among
    the candidates), the page is still filled to full length, as close to the
    rule as a greedy pass gets, and the returned flag says the rule was
    broken. The page is never shortened.

    Parameters
    ----------
    order : array-like of int, shape (n_order,)
        Positions of the candidates, most preferred first, without repeats.
    categories : array-like, shape (n_candidates,)
        Category of each candidate, indexed by position.
    page_size : int
        Length of the page, in [1, n_order].
    category_rule : bool, default True
        Whether to enforce the rule.

    Returns
    -------
    positions : numpy.ndarray of int64, shape (page_size,)
        The page, top slot first.
    rule_satisfied : bool
        False only when the rule was on and could not be kept.

    Examples
    --------
    >>> arrange_page([0, 1, 2], ["a", "a", "b"], page_size=3)
    (array([0, 2, 1]), True)
    """
    positions = np.asarray(order)
    if positions.ndim != 1 or (positions.size and positions.dtype.kind not in "iu"):
        raise ValueError(
            f"order must be a 1-D array of integer positions, got {describe(order)}"
        )
    labels = np.asarray(categories)
    if positions.size and (positions.min() < 0 or positions.max() >= len(labels)):
        raise ValueError(
            f"order must hold positions in [0, {len(labels) - 1}] (rows of "
            f"categories), got {describe(order)}"
        )
    if len(np.unique(positions)) != len(positions):
        raise ValueError("order must not repeat a position")
    page_size = check_positive_int(page_size, "page_size")
    if page_size > len(positions):
        raise ValueError(
            f"page_size must be at most the number of candidates in order "
            f"({len(positions)}), got {page_size}"
        )
    if not isinstance(category_rule, (bool, np.bool_)):
        raise TypeError(f"category_rule must be True or False, got {category_rule!r}")

    if not category_rule:
        return positions[:page_size].astype(np.int64), True

    # Category codes 0..n_codes-1, one per position of `order`.
    _, codes = np.unique(labels[positions], return_inverse=True)
    codes = codes.reshape(-1)
    counts = np.bincount(codes)
    used = np.zeros(len(positions), dtype=bool)
    feasible = _page_is_feasible(counts, -1, page_size)
    page = []
    previous = -1
    for slot in range(page_size):
        remaining_slots = page_size - slot - 1
        choice = None
        for rank in np.flatnonzero(~used):
            if codes[rank] == previous:
                continue
            if feasible:
                counts[codes[rank]] -= 1
                keeps = _page_is_feasible(counts, codes[rank], remaining_slots)
                counts[codes[rank]] += 1
                if not keeps:
                    continue
            choice = rank
            break
        if choice is None:
            # Only reachable when the rule cannot be kept: take the next item.
            choice = int(np.flatnonzero(~used)[0])
        used[choice] = True
        counts[codes[choice]] -= 1
        previous = codes[choice]
        page.append(positions[choice])

    page = np.array(page, dtype=np.int64)
    repeats = np.any(labels[page][1:] == labels[page][:-1])
    return page, not bool(repeats)


@dataclass(frozen=True)
class Page:
    """A re-ranked page, as :func:`rerank_page` returns it.

    Attributes
    ----------
    items : pandas.DataFrame of page_size rows
        The page's candidates, top slot first, with two more columns:
        ``slot`` (1 for the top) and ``relevance``.
    positions : numpy.ndarray of int64, shape (page_size,)
        Row positions of the page's items in the candidates.
    rule_satisfied : bool
        False only when the category rule was on and could not be kept (the
        page is full length all the same).
    """

    items: pd.DataFrame
    positions: np.ndarray
    rule_satisfied: bool


def rerank_page(
    candidates,
    relevance,
    lambda_=0.7,
    *,
    method="mmr",
    page_size=10,
    category_rule=True,
    category_weight=1.0,
):
    """Pick a page of ``page_size`` items with a diversity method and a rule.

    The pure function behind the diversity chapter's slider: the candidates are
    ordered by :func:`mmr_order` or :func:`dpp_order` with the similarity of
    :func:`item_similarity`, then :func:`arrange_page` fills the page, with or
    without the rule that no two neighbours share a category.

    Parameters
    ----------
    candidates : pandas.DataFrame of n_items rows
        One row per candidate, with ``category`` (and ``length_minutes`` and
        ``item_age_days`` when ``category_weight < 1``).
    relevance : array-like of float, shape (n_items,)
        The fused score of each candidate; higher is better.
    lambda_ : float, default 0.7
        Trade-off in [0, 1]: 1 is relevance only, 0 is diversity only.
    method : {"mmr", "dpp"}, default "mmr"
    page_size : int, default 10
        Length of the page, in [1, n_items].
    category_rule : bool, default True
        Keep items of one category apart.
    category_weight : float, default 1.0
        Passed to :func:`item_similarity`.

    Returns
    -------
    Page
        ``items`` (the page as rows of ``candidates``), ``positions`` and
        ``rule_satisfied``.

    Examples
    --------
    >>> candidates = pd.DataFrame({"item_id": [4, 5, 6], "category": [0, 0, 1]})
    >>> page = rerank_page(candidates, [0.9, 0.8, 0.1], 1.0, page_size=2)
    >>> page.items["item_id"].tolist()
    [4, 6]
    """
    check_frame(candidates, "candidates")
    scores = _check_relevance(relevance, len(candidates))
    _check_choice(method, RERANK_METHODS, "method")
    page_size = check_positive_int(page_size, "page_size")
    if page_size > len(candidates):
        raise ValueError(
            f"page_size must be in [1, {len(candidates)}] (the number of "
            f"candidates), got {page_size}"
        )

    similarity = item_similarity(candidates, category_weight)
    if method == "mmr":
        order = mmr_order(scores, similarity, lambda_)
    else:
        order = dpp_order(scores, similarity, lambda_)
    positions, satisfied = arrange_page(
        order, candidates["category"].to_numpy(), page_size, category_rule
    )

    items = candidates.iloc[positions].reset_index(drop=True)
    items.insert(0, "slot", np.arange(1, page_size + 1))
    items["relevance"] = scores[positions]
    return Page(items=items, positions=positions, rule_satisfied=satisfied)


def dpp_page(
    candidates,
    relevance,
    lambda_=0.7,
    *,
    page_size=10,
    category_rule=True,
    category_weight=1.0,
):
    """Pick a page with a DPP: :func:`rerank_page` with ``method="dpp"``.

    Parameters
    ----------
    candidates, relevance, lambda_, page_size, category_rule, category_weight
        As in :func:`rerank_page`.

    Returns
    -------
    Page

    Examples
    --------
    >>> candidates = pd.DataFrame({"item_id": [4, 5, 6], "category": [0, 0, 1]})
    >>> page = dpp_page(candidates, [0.9, 0.8, 0.1], 0.5, page_size=2)
    >>> page.items["item_id"].tolist()
    [4, 6]
    """
    return rerank_page(
        candidates,
        relevance,
        lambda_,
        method="dpp",
        page_size=page_size,
        category_rule=category_rule,
        category_weight=category_weight,
    )


def diversity_tradeoff(
    candidates,
    relevance,
    lambdas,
    *,
    method="mmr",
    page_size=10,
    category_rule=False,
    category_weight=1.0,
):
    """Relevance kept against diversity gained, for each trade-off ``lambda_``.

    Parameters
    ----------
    candidates : pandas.DataFrame of n_items rows
        As in :func:`rerank_page`.
    relevance : array-like of float, shape (n_items,)
        Non-negative scores, such as fused scores; higher is better.
    lambdas : array-like of float, shape (n_lambdas,)
        Trade-offs in [0, 1].
    method : {"mmr", "dpp"}, default "mmr"
    page_size : int, default 10
    category_rule : bool, default False
        Off by default, so that only the diversity method is measured.
    category_weight : float, default 1.0
        Passed to :func:`item_similarity`; the diversity measures use the same
        similarity.

    Returns
    -------
    pandas.DataFrame of n_lambdas rows
        ``lambda_``; ``relevance_kept``, the page's total relevance over that
        of the ``page_size`` most relevant items (1 at ``lambda_ = 1``, nan if
        that total is 0); ``n_categories``, distinct categories on the page;
        ``mean_dissimilarity``, the mean of ``1 - S_ij`` over pairs on the page;
        ``adjacent_repeats``, neighbouring slots of one category; and
        ``rule_satisfied``.

    Examples
    --------
    >>> candidates = pd.DataFrame({"category": [0, 0, 1]})
    >>> diversity_tradeoff(candidates, [0.9, 0.8, 0.1], [0.0, 1.0], page_size=2).shape
    (2, 6)
    """
    check_frame(candidates, "candidates")
    scores = _check_relevance(relevance, len(candidates))
    if (scores < 0).any():
        raise ValueError(
            f"relevance must be >= 0 for diversity_tradeoff, got {scores.min()}"
        )
    grid = check_numbers(lambdas, "lambdas").reshape(-1)
    outside = grid[(grid < 0.0) | (grid > 1.0)]
    if len(outside):
        raise ValueError(f"lambdas must hold values in [0, 1], got {outside[0]}")
    page_size = check_positive_int(page_size, "page_size")

    similarity = item_similarity(candidates, category_weight)
    best_total = np.sort(scores)[::-1][:page_size].sum()
    categories = candidates["category"].to_numpy()
    rows = []
    for trade_off in grid:
        page = rerank_page(
            candidates,
            scores,
            float(trade_off),
            method=method,
            page_size=page_size,
            category_rule=category_rule,
            category_weight=category_weight,
        )
        picked = page.positions
        pairs = np.triu_indices(len(picked), k=1)
        page_similarity = similarity[np.ix_(picked, picked)][pairs]
        shown = categories[picked]
        rows.append(
            {
                "lambda_": float(trade_off),
                "relevance_kept": (
                    scores[picked].sum() / best_total if best_total > 0 else math.nan
                ),
                "n_categories": len(np.unique(shown)),
                "mean_dissimilarity": (
                    float(np.mean(1.0 - page_similarity)) if len(picked) > 1 else 0.0
                ),
                "adjacent_repeats": int(np.sum(shown[1:] == shown[:-1])),
                "rule_satisfied": page.rule_satisfied,
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- funnel
@dataclass(frozen=True)
class FunnelResult:
    """What :func:`run_funnel` returns.

    Attributes
    ----------
    stages : pandas.DataFrame of 4 rows
        One row per stage (``recall``, ``pre_ranking``, ``ranking``,
        ``re_ranking``): ``stage``, ``n_in``, ``n_out``, ``evaluations``,
        ``seconds``, ``true_top_kept`` and ``true_top_share``.
    items : dict of str to pandas.DataFrame
        Per stage, the items it passed on, best first (recall: in merge
        order), with ``item_id``, ``category``, the stage's ``score``,
        ``true_score`` and ``is_true_top``; recall adds ``channels``, ranking
        the four predicted probabilities, re-ranking ``slot``.
    true_top : numpy.ndarray of int64, shape (n_true_top,)
        Item ids of the truly best items, best first.
    page : pandas.DataFrame of page_size rows
        The final page (the same as ``items["re_ranking"]``).
    rule_satisfied : bool
        False only when the category rule was on and could not be kept.
    user_id : int
    """

    stages: pd.DataFrame
    items: dict
    true_top: np.ndarray
    page: pd.DataFrame
    rule_satisfied: bool
    user_id: int


def _scored(scorer, frame, name, method, weights):
    """Call a stage's scorer and fuse its four columns, checking what it returns."""
    if not callable(scorer):
        raise TypeError(f"{name} must be callable, got {type(scorer).__name__}")
    output = scorer(frame)
    if not isinstance(output, pd.DataFrame):
        raise TypeError(
            f"{name} must return a DataFrame, got {type(output).__name__}"
        )
    if len(output) != len(frame):
        raise ValueError(
            f"{name} must return one row per candidate ({len(frame)}), "
            f"got {len(output)} rows"
        )
    check_frame_has_columns(output, list(TASKS), f"the output of {name}")
    output = output[list(TASKS)].reset_index(drop=True)

    try:
        fused = fuse(output, method, weights)
    except ValueError as error:
        raise ValueError(f"{name} returned unusable scores: {error}") from error
    return output, fused


def _recall(catalogue, true_score, sizes, n_favourite_categories, noise, rng):
    """Run the recall channels; return merged positions and their channels."""
    n_items = len(catalogue)
    channels = {}

    # Popularity: the most shown items of the warm-up log, the same for everyone.
    popular = np.argsort(-catalogue["item_log_impressions"].to_numpy(), kind="stable")
    channels["popularity"] = popular[: sizes["popularity"]]

    # Favourite categories: the user's best categories by historical click
    # rate, and in them the items with the best historical click rate.
    categories = catalogue["category"].to_numpy()
    per_category = catalogue.groupby("category", sort=True)["user_category_ctr"].first()
    favourites = per_category.index.to_numpy()[
        np.argsort(-per_category.to_numpy(), kind="stable")[:n_favourite_categories]
    ]
    in_favourites = np.flatnonzero(np.isin(categories, favourites))
    by_item_ctr = np.argsort(
        -catalogue["item_ctr"].to_numpy()[in_favourites], kind="stable"
    )
    channels["favourite_categories"] = in_favourites[by_item_ctr][
        : sizes["favourite_categories"]
    ]

    # Exploration: a uniform draw, the only channel that reaches new items
    # without history.
    channels["exploration"] = rng.choice(
        n_items, size=min(sizes["exploration"], n_items), replace=False
    )

    # Embedding: stands in for a two-tower model's nearest neighbours. It sees
    # the true fused score through multiplicative log-normal noise; noise 0
    # makes it the oracle.
    blurred = np.log(np.maximum(true_score, 1e-300)) + noise * rng.normal(size=n_items)
    channels["embedding"] = np.argsort(-blurred, kind="stable")[: sizes["embedding"]]

    # Merge in channel order, keeping each item once (where it first appears).
    found_by = [[] for _ in range(n_items)]
    merged = []
    for name in RECALL_CHANNELS:
        for position in channels[name]:
            if not found_by[position]:
                merged.append(position)
            found_by[position].append(name)
    merged = np.array(merged, dtype=np.int64)
    labels = ["+".join(found_by[position]) for position in merged]
    return merged, labels


def _stage_items(catalogue, positions, score, true_score, true_top_mask):
    return pd.DataFrame(
        {
            "item_id": catalogue["item_id"].to_numpy()[positions],
            "category": catalogue["category"].to_numpy()[positions],
            "score": score,
            "true_score": true_score[positions],
            "is_true_top": true_top_mask[positions],
        }
    )


def run_funnel(
    world,
    user_id,
    *,
    weights=None,
    method="weighted_sum",
    pre_ranking_scorer=statistics_scorer,
    ranking_scorer=truth_scorer,
    recall_sizes=None,
    embedding_noise=1.0,
    n_favourite_categories=3,
    pre_ranking_size=200,
    ranking_size=50,
    page_size=10,
    n_true_top=10,
    rerank_method="mmr",
    lambda_=0.7,
    category_rule=True,
    category_weight=1.0,
    hour=20,
    device=0,
    seed=0,
):
    """Simulate recall, pre-ranking, ranking and re-ranking for one user.

    Every item of ``world.items`` is a candidate for recall; make the world
    with more items (``make_world(n_items=...)``) for a larger catalogue.
    Items are scored in the given context at the top slot (position 0).

    * Recall merges four channels (sizes in ``recall_sizes``) and removes
      duplicates: ``popularity`` (most shown in the warm-up log),
      ``favourite_categories`` (the user's ``n_favourite_categories`` best
      categories by ``user_category_ctr``, best items by ``item_ctr`` first),
      ``exploration`` (uniform at random) and ``embedding`` (the true fused
      score times log-normal noise of spread ``embedding_noise``, standing
      in for a two-tower model; it scores every item, as a brute-force
      nearest-neighbour search would).
    * Pre-ranking keeps the ``pre_ranking_size`` best by
      ``pre_ranking_scorer``, fused by ``method`` and ``weights``.
    * Ranking keeps the ``ranking_size`` best by ``ranking_scorer``, fused
      the same way.
    * Re-ranking picks ``page_size`` items with :func:`rerank_page`, its
      relevance the ranking stage's fused score.

    The truly best items are the ``n_true_top`` items of the whole catalogue
    with the highest true fused score (the truth columns fused by the same
    ``method`` and ``weights``). With the truth as every scorer,
    ``embedding_noise=0`` and ``lambda_=1`` without the category rule, the
    funnel keeps all of them, whatever the other channels do (for every
    method but ``"rank_based"``, whose score depends on the candidate list).

    Parameters
    ----------
    world : World
    user_id : int
        In [0, n_users - 1].
    weights : dict of str to float, optional
        Fusion weights; :data:`mtrank_lite.fusion.DEFAULT_WEIGHTS` by default.
    method : str, default "weighted_sum"
        One of :data:`mtrank_lite.fusion.METHODS`.
    pre_ranking_scorer : callable, default statistics_scorer
        ``scorer(frame) -> DataFrame`` with columns ``click``, ``like``,
        ``collect``, ``share`` and one row per row of ``frame``; ``frame`` is
        built by :meth:`World.features` (it holds the truth columns too, which
        only an oracle should read).
    ranking_scorer : callable, default truth_scorer
        The same contract; in the chapter, the trained model's prediction,
        ``lambda frame: predict(model, frame)``.
    recall_sizes : dict of str to int, optional
        Items per channel; a channel left out keeps its size in
        :data:`DEFAULT_RECALL_SIZES` and 0 switches a channel off.
    embedding_noise : float, default 1.0
        Spread ``>= 0`` of the embedding channel's log-normal noise.
    n_favourite_categories : int, default 3
    pre_ranking_size, ranking_size, page_size : int, default 200, 50 and 10
        Output sizes, with ``page_size <= ranking_size <= pre_ranking_size``.
    n_true_top : int, default 10
        How many truly best items to follow through the funnel.
    rerank_method : {"mmr", "dpp"}, default "mmr"
    lambda_ : float, default 0.7
        Re-ranking trade-off in [0, 1]; 1 is relevance only.
    category_rule : bool, default True
        No two neighbouring slots of one category.
    category_weight : float, default 1.0
        Passed to :func:`item_similarity`.
    hour, device : int, default 20 and 0
        The context of the request.
    seed : int or numpy.random.Generator, default 0
        Seeds the exploration and embedding channels.

    Returns
    -------
    FunnelResult
        ``stages`` (one row per stage: ``n_in``, ``n_out``, ``evaluations``
        (user-item scores computed; 0 in re-ranking, which only compares the
        candidates with each other), ``seconds`` (wall time, for reporting
        only), ``true_top_kept`` and ``true_top_share``), the items of each
        stage and the page.

    Examples
    --------
    >>> world = make_world(seed=0, n_users=50, n_items=400, warmup_impressions=20000)
    >>> run_funnel(world, user_id=3).stages["n_out"].tolist()
    [383, 200, 50, 10]
    """
    _check_world(world)
    n_users, n_items = len(world.users), len(world.items)
    if isinstance(user_id, (bool, np.bool_)) or not isinstance(
        user_id, (int, np.integer)
    ):
        raise TypeError(f"user_id must be an integer, got {describe(user_id)}")
    if not 0 <= user_id < n_users:
        raise ValueError(f"user_id must be in [0, {n_users - 1}], got {user_id}")
    weights = dict(DEFAULT_WEIGHTS) if weights is None else weights
    sizes = _check_recall_sizes(recall_sizes)
    noise = _check_non_negative(embedding_noise, "embedding_noise")
    n_favourite_categories = check_positive_int(
        n_favourite_categories, "n_favourite_categories"
    )
    pre_ranking_size = check_positive_int(pre_ranking_size, "pre_ranking_size")
    ranking_size = check_positive_int(ranking_size, "ranking_size")
    page_size = check_positive_int(page_size, "page_size")
    if ranking_size > pre_ranking_size:
        raise ValueError(
            f"ranking_size must be at most pre_ranking_size ({pre_ranking_size}), "
            f"got {ranking_size}"
        )
    if page_size > ranking_size:
        raise ValueError(
            f"page_size must be at most ranking_size ({ranking_size}), got {page_size}"
        )
    n_true_top = check_positive_int(n_true_top, "n_true_top")
    if n_true_top > n_items:
        raise ValueError(
            f"n_true_top must be in [1, {n_items}] (the number of items), "
            f"got {n_true_top}"
        )
    _check_choice(rerank_method, RERANK_METHODS, "rerank_method")
    lambda_ = _check_unit_interval(lambda_, "lambda_")
    rng = as_generator(seed)

    # The whole catalogue for this user and context, with the truth: the
    # simulation's bookkeeping, not a stage, so it is not timed.
    catalogue = world.features(
        np.full(n_items, user_id), np.arange(n_items), hour, device, 0
    )
    true_score = fuse(truth_scores(catalogue), method, weights)
    true_top = ranking(true_score)[:n_true_top]
    true_top_mask = np.zeros(n_items, dtype=bool)
    true_top_mask[true_top] = True
    rows, items = [], {}

    def record(stage, n_in, positions, evaluations, seconds):
        kept = int(true_top_mask[positions].sum())
        rows.append(
            {
                "stage": stage,
                "n_in": n_in,
                "n_out": len(positions),
                "evaluations": evaluations,
                "seconds": seconds,
                "true_top_kept": kept,
                "true_top_share": kept / n_true_top,
            }
        )

    start = time.perf_counter()
    recalled, found_by = _recall(
        catalogue, true_score, sizes, n_favourite_categories, noise, rng
    )
    seconds = time.perf_counter() - start
    if len(recalled) < page_size:
        raise ValueError(
            f"recall found {len(recalled)} items, fewer than page_size "
            f"({page_size}); raise recall_sizes"
        )
    items["recall"] = _stage_items(
        catalogue, recalled, np.full(len(recalled), np.nan), true_score, true_top_mask
    )
    items["recall"]["channels"] = found_by
    evaluations = n_items if sizes["embedding"] > 0 else 0
    record("recall", n_items, recalled, evaluations, seconds)

    start = time.perf_counter()
    frame = catalogue.iloc[recalled].reset_index(drop=True)
    _, fused = _scored(pre_ranking_scorer, frame, "pre_ranking_scorer", method, weights)
    keep = ranking(fused)[:pre_ranking_size]
    pre_ranked = recalled[keep]
    seconds = time.perf_counter() - start
    items["pre_ranking"] = _stage_items(
        catalogue, pre_ranked, fused[keep], true_score, true_top_mask
    )
    record("pre_ranking", len(recalled), pre_ranked, len(recalled), seconds)

    start = time.perf_counter()
    frame = catalogue.iloc[pre_ranked].reset_index(drop=True)
    predicted, fused = _scored(ranking_scorer, frame, "ranking_scorer", method, weights)
    keep = ranking(fused)[:ranking_size]
    ranked = pre_ranked[keep]
    seconds = time.perf_counter() - start
    items["ranking"] = _stage_items(
        catalogue, ranked, fused[keep], true_score, true_top_mask
    )
    for task in TASKS:
        items["ranking"][task] = predicted[task].to_numpy()[keep]
    record("ranking", len(pre_ranked), ranked, len(pre_ranked), seconds)

    start = time.perf_counter()
    page = rerank_page(
        catalogue.iloc[ranked].reset_index(drop=True),
        fused[keep],
        lambda_,
        method=rerank_method,
        page_size=page_size,
        category_rule=category_rule,
        category_weight=category_weight,
    )
    shown = ranked[page.positions]
    seconds = time.perf_counter() - start
    items["re_ranking"] = _stage_items(
        catalogue, shown, page.items["relevance"].to_numpy(), true_score, true_top_mask
    )
    items["re_ranking"].insert(0, "slot", np.arange(1, page_size + 1))
    record("re_ranking", len(ranked), shown, 0, seconds)

    return FunnelResult(
        stages=pd.DataFrame(rows),
        items=items,
        true_top=catalogue["item_id"].to_numpy()[true_top].astype(np.int64),
        page=items["re_ranking"],
        rule_satisfied=page.rule_satisfied,
        user_id=int(user_id),
    )


def funnel_summary(world, user_ids, *, seed=0, **options):
    """Run the funnel for several users and stack their stage tables.

    Parameters
    ----------
    world : World
    user_ids : array-like of int, shape (n_users,)
    seed : int or numpy.random.Generator, default 0
        One generator is made from it and used by the users in turn, so the
        whole table is reproducible.
    **options
        Keyword arguments of :func:`run_funnel`.

    Returns
    -------
    pandas.DataFrame of 4 * n_users rows
        ``user_id``, then the columns of :attr:`FunnelResult.stages` and
        ``rule_satisfied``.

    Examples
    --------
    >>> world = make_world(seed=0, n_users=50, n_items=400, warmup_impressions=20000)
    >>> funnel_summary(world, [1, 2]).shape
    (8, 9)
    """
    users = np.asarray(user_ids).reshape(-1)
    if users.size == 0:
        raise ValueError("user_ids must not be empty")
    rng = as_generator(seed)

    tables = []
    for user in users:
        result = run_funnel(world, user.item(), seed=rng, **options)
        table = result.stages.copy()
        table.insert(0, "user_id", result.user_id)
        table["rule_satisfied"] = result.rule_satisfied
        tables.append(table)
    return pd.concat(tables, ignore_index=True)
