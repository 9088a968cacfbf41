"""A seeded synthetic world whose true engagement probabilities are known.

The course generates its data so that every model can be measured against the
truth. A :class:`World` holds users, items and the logistic rules that turn a
(user, item, context) triple into four true probabilities:

* ``p_click``: the probability of a click per impression;
* ``p_like``, ``p_collect``, ``p_share``: the probability of each interaction
  **given a click**.

Hidden traits drive the truth but never appear as features: each user's taste
for each category, and each item's quality and clickbait-ness. Clickbait raises
the click rate and lowers every interaction rate; quality raises all of them.
Statistics features (historical rates and counts) are estimated from a seeded
warm-up log, so they are noisy for rarely shown ids and absent for new items.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mtrank_lite._checks import (
    as_generator,
    check_frame_has_columns,
    check_positive_int,
)

__all__ = ["World", "make_world", "TASKS", "FEATURE_GROUPS"]

TASKS = ("click", "like", "collect", "share")

# Which column belongs to which of the four feature groups of the course.
FEATURE_GROUPS = {
    "user": ["user_id", "age_group", "activity", "region"],
    "item": ["item_id", "category", "item_age_days", "length_minutes"],
    "statistics": [
        "item_ctr",
        "item_like_rate",
        "item_collect_rate",
        "item_share_rate",
        "item_log_impressions",
        "user_ctr",
        "user_like_rate",
        "user_log_impressions",
        "user_category_ctr",
    ],
    "context": ["hour", "device", "position"],
}

AGE_GROUPS = ("<18", "18-24", "25-34", "35-49", "50+")
ACTIVITY_LEVELS = ("low", "medium", "high")
DEVICES = ("phone", "tablet", "desktop")
N_REGIONS = 6
N_POSITIONS = 10

# Intercepts of the four logistic rules, chosen so that the base rates are
# realistic: about 7 % clicks, and given a click about 10 % likes, 3 %
# collects and 2 % shares (the synthetic world chapter measures them).
_INTERCEPTS = {"click": -2.6, "like": -2.85, "collect": -4.05, "share": -4.9}

# Weights of the hidden traits in each rule: (taste, quality, clickbait).
_TRAIT_WEIGHTS = {
    "click": (1.0, 0.45, 1.6),
    "like": (0.6, 0.9, -2.2),
    "collect": (0.4, 1.0, -1.6),
    "share": (0.4, 1.1, -1.3),
}

# Additive effects of observed features on the click logit.
_AGE_GROUP_CLICK = np.array([0.25, 0.15, 0.0, -0.1, -0.25])
_DEVICE_CLICK = np.array([0.1, 0.0, -0.3])
_POSITION_CLICK_SLOPE = -0.09
_EVENING_CLICK = 0.3

# Smoothing strength of the statistics features: a rate estimated from few
# impressions is pulled towards the global rate as if it had this many more.
_PRIOR_IMPRESSIONS = 30.0
_PRIOR_CLICKS = 10.0


def _sigmoid(logit):
    return 1.0 / (1.0 + np.exp(-logit))


def _smoothed_rate(successes, trials, prior_rate, prior_trials):
    # Beta-binomial posterior mean: rare ids stay close to the global rate.
    return (successes + prior_rate * prior_trials) / (trials + prior_trials)


@dataclass(frozen=True)
class _Hidden:
    """Hidden traits: drive the truth, never shown to a model."""

    taste: np.ndarray  # (n_users, n_categories)
    user_click_bias: np.ndarray  # (n_users,)
    user_like_bias: np.ndarray  # (n_users,)
    quality: np.ndarray  # (n_items,)
    clickbait: np.ndarray  # (n_items,)


class World:
    """Users, items and the rules that give true engagement probabilities.

    Build one with :func:`make_world`; the constructor is not public.

    Attributes
    ----------
    users : pandas.DataFrame of shape (n_users, 4)
        ``user_id``, ``age_group``, ``activity``, ``region``.
    items : pandas.DataFrame of shape (n_items, 5)
        ``item_id``, ``category``, ``item_age_days``, ``length_minutes`` and
        ``is_new`` (True for items absent from the warm-up log).
    hidden_users, hidden_items : pandas.DataFrame
        The hidden traits, for teaching and for the oracle only: per user the
        taste for each category; per item ``quality`` and ``clickbait``.
    feature_groups : dict of str to list of str
        The feature columns of an impression log, by group.
    n_categories : int
        Number of item categories.
    seed : int
        The seed the world was made with.
    """

    def __init__(self, seed, n_users, n_items, n_categories, new_item_share, rng):
        self.seed = seed
        self.n_categories = n_categories
        self.feature_groups = {
            group: list(columns) for group, columns in FEATURE_GROUPS.items()
        }

        # Users: observed features, then hidden traits.
        self.users = pd.DataFrame(
            {
                "user_id": np.arange(n_users),
                "age_group": rng.choice(5, size=n_users, p=[0.1, 0.3, 0.3, 0.2, 0.1]),
                "activity": rng.choice(3, size=n_users, p=[0.5, 0.35, 0.15]),
                "region": rng.integers(0, N_REGIONS, size=n_users),
            }
        )
        taste = rng.normal(0.0, 0.55, size=(n_users, n_categories))
        user_click_bias = rng.normal(0.0, 0.3, size=n_users)
        user_like_bias = rng.normal(0.0, 0.4, size=n_users)

        # Items: observed features, then hidden traits. Clickbait is rare but
        # strong: most items have little, a few have a lot.
        category = rng.integers(0, n_categories, size=n_items)
        self.items = pd.DataFrame(
            {
                "item_id": np.arange(n_items),
                "category": category,
                "item_age_days": np.round(rng.exponential(20.0, size=n_items), 1),
                "length_minutes": np.round(rng.lognormal(1.0, 0.6, size=n_items), 2),
                "is_new": np.arange(n_items) >= n_items - int(new_item_share * n_items),
            }
        )
        quality = rng.normal(0.0, 1.0, size=n_items)
        clickbait = rng.beta(0.6, 3.0, size=n_items)
        self._hidden = _Hidden(
            taste, user_click_bias, user_like_bias, quality, clickbait
        )

        # Impression propensities: active users and popular items are shown
        # more often, so the statistics of rare ids are noisy.
        activity_weight = np.array([1.0, 3.0, 8.0])[self.users["activity"].to_numpy()]
        self._user_weight = activity_weight * rng.lognormal(0.0, 0.5, size=n_users)
        self._user_weight /= self._user_weight.sum()
        self._item_weight = rng.lognormal(0.0, 1.0, size=n_items)
        self._item_weight[self.items["is_new"].to_numpy()] = 0.0
        self._item_weight /= self._item_weight.sum()
        hours = np.arange(24)
        hour_weight = 1.0 + 1.5 * np.exp(-0.5 * ((hours - 20) / 2.5) ** 2)
        hour_weight[:6] *= 0.3
        self._hour_weight = hour_weight / hour_weight.sum()

    # ------------------------------------------------------------------ truth
    @property
    def hidden_users(self):
        columns = [f"taste_{c}" for c in range(self.n_categories)]
        frame = pd.DataFrame(self._hidden.taste, columns=columns)
        frame.insert(0, "user_id", self.users["user_id"].to_numpy())
        return frame

    @property
    def hidden_items(self):
        return pd.DataFrame(
            {
                "item_id": self.items["item_id"].to_numpy(),
                "quality": self._hidden.quality,
                "clickbait": self._hidden.clickbait,
            }
        )

    def _logits(self, user_ids, item_ids, hour, device, position):
        """Logits of the four true probabilities, each of shape (n,)."""
        hidden = self._hidden
        category = self.items["category"].to_numpy()[item_ids]
        taste = hidden.taste[user_ids, category]
        quality = hidden.quality[item_ids]
        clickbait = hidden.clickbait[item_ids]

        logits = {}
        for task in TASKS:
            w_taste, w_quality, w_clickbait = _TRAIT_WEIGHTS[task]
            logits[task] = (
                _INTERCEPTS[task]
                + w_taste * taste
                + w_quality * quality
                + w_clickbait * clickbait
            )

        # Observed features move the click rate: who looks, when, on what
        # device, at which slot, and how fresh the item is.
        age_group = self.users["age_group"].to_numpy()[user_ids]
        item_age = self.items["item_age_days"].to_numpy()[item_ids]
        evening = np.exp(-0.5 * ((hour - 20) / 2.5) ** 2)
        logits["click"] += (
            hidden.user_click_bias[user_ids]
            + _AGE_GROUP_CLICK[age_group]
            + _DEVICE_CLICK[device]
            + _POSITION_CLICK_SLOPE * position
            + _EVENING_CLICK * evening
            - 0.15 * np.log1p(item_age)
        )

        # Interactions after a click: personal habits and item length.
        log_length = np.log(self.items["length_minutes"].to_numpy()[item_ids])
        logits["like"] += hidden.user_like_bias[user_ids]
        logits["collect"] += 0.5 * (log_length - 1.0)
        logits["share"] += 0.3 * hidden.user_like_bias[user_ids] - 0.2 * (
            log_length - 1.0
        )
        return logits

    def true_probabilities(self, frame):
        """True probabilities for the rows of a frame.

        Parameters
        ----------
        frame : pandas.DataFrame
            Must hold ``user_id``, ``item_id``, ``hour``, ``device`` and
            ``position`` for ``n`` rows.

        Returns
        -------
        pandas.DataFrame of shape (n, 4)
            ``p_click`` per impression; ``p_like``, ``p_collect`` and
            ``p_share`` given a click. Same index as ``frame``.

        Examples
        --------
        >>> world = make_world(seed=0, n_users=50, n_items=40, warmup_impressions=2000)
        >>> world.true_probabilities(world.impressions(3, seed=1)).shape
        (3, 4)
        """
        columns = ["user_id", "item_id", "hour", "device", "position"]
        check_frame_has_columns(frame, columns, "frame")
        ids = self._validated_ids(frame)
        logits = self._logits(*ids)
        return pd.DataFrame(
            {f"p_{task}": _sigmoid(logits[task]) for task in TASKS}, index=frame.index
        )

    # -------------------------------------------------------------- features
    def _validated_ids(self, frame):
        user_ids = frame["user_id"].to_numpy()
        item_ids = frame["item_id"].to_numpy()
        for name, values, size in [
            ("user_id", user_ids, len(self.users)),
            ("item_id", item_ids, len(self.items)),
            ("hour", frame["hour"].to_numpy(), 24),
            ("device", frame["device"].to_numpy(), len(DEVICES)),
            ("position", frame["position"].to_numpy(), N_POSITIONS),
        ]:
            if len(values) and (values.min() < 0 or values.max() >= size):
                bad = values[(values < 0) | (values >= size)][0]
                raise ValueError(
                    f"{name} must be in [0, {size - 1}] for this world, got {bad}"
                )
        return (
            user_ids,
            item_ids,
            frame["hour"].to_numpy(),
            frame["device"].to_numpy(),
            frame["position"].to_numpy(),
        )

    def _warm_up(self, n_impressions, rng):
        """Simulate a warm-up log and keep only its aggregate counts."""
        n_users, n_items = len(self.users), len(self.items)
        category = self.items["category"].to_numpy()
        counts = {
            "user": np.zeros((n_users, 3)),
            "item": np.zeros((n_items, 5)),
            "user_category": np.zeros((n_users * self.n_categories, 2)),
        }

        # Chunks keep the memory flat whatever the size of the log.
        chunk = 1_000_000
        for start in range(0, n_impressions, chunk):
            size = min(chunk, n_impressions - start)
            user_ids, item_ids, hour, device, position = self._draw_context(size, rng)
            logits = self._logits(user_ids, item_ids, hour, device, position)
            labels = _draw_labels(logits, rng)

            cell = user_ids * self.n_categories + category[item_ids]
            user_columns = [np.ones(size), labels["click"], labels["like"]]
            item_columns = [np.ones(size)] + [labels[task] for task in TASKS]
            for column, values in enumerate(user_columns):
                counts["user"][:, column] += np.bincount(
                    user_ids, weights=values, minlength=n_users
                )
            for column, values in enumerate(item_columns):
                counts["item"][:, column] += np.bincount(
                    item_ids, weights=values, minlength=n_items
                )
            for column, values in enumerate([np.ones(size), labels["click"]]):
                counts["user_category"][:, column] += np.bincount(
                    cell, weights=values, minlength=n_users * self.n_categories
                )
        self._set_statistics(counts)

    def _set_statistics(self, counts):
        user, item = counts["user"], counts["item"]
        click_rate = item[:, 1].sum() / max(item[:, 0].sum(), 1.0)
        rates_given_click = {
            task: item[:, column].sum() / max(item[:, 1].sum(), 1.0)
            for column, task in enumerate(TASKS[1:], start=2)
        }
        self.base_rates_warm_up = {"click": click_rate, **rates_given_click}

        def ctr(clicks, shown):
            return _smoothed_rate(clicks, shown, click_rate, _PRIOR_IMPRESSIONS)

        def given_click(successes, clicks, task):
            return _smoothed_rate(
                successes, clicks, rates_given_click[task], _PRIOR_CLICKS
            )

        self.item_statistics = pd.DataFrame(
            {
                "item_id": self.items["item_id"].to_numpy(),
                "item_ctr": ctr(item[:, 1], item[:, 0]),
                "item_like_rate": given_click(item[:, 2], item[:, 1], "like"),
                "item_collect_rate": given_click(item[:, 3], item[:, 1], "collect"),
                "item_share_rate": given_click(item[:, 4], item[:, 1], "share"),
                "item_log_impressions": np.log1p(item[:, 0]),
            }
        )
        self.user_statistics = pd.DataFrame(
            {
                "user_id": self.users["user_id"].to_numpy(),
                "user_ctr": ctr(user[:, 1], user[:, 0]),
                "user_like_rate": given_click(user[:, 2], user[:, 1], "like"),
                "user_log_impressions": np.log1p(user[:, 0]),
            }
        )
        # The user's rate in a category is pulled towards the user's own rate.
        cells = counts["user_category"].reshape(len(self.users), self.n_categories, 2)
        user_rate = self.user_statistics["user_ctr"].to_numpy()[:, None]
        self._user_category_ctr = _smoothed_rate(
            cells[..., 1], cells[..., 0], user_rate, _PRIOR_IMPRESSIONS
        )

    def _draw_context(self, n, rng, item_pool="known"):
        user_ids = rng.choice(len(self.users), size=n, p=self._user_weight)
        if item_pool == "known":
            item_ids = rng.choice(len(self.items), size=n, p=self._item_weight)
        else:
            is_new = self.items["is_new"].to_numpy()
            in_pool = is_new if item_pool == "new" else np.ones_like(is_new)
            pool = np.flatnonzero(in_pool)
            if len(pool) == 0:
                raise ValueError(
                    f"item_pool={item_pool!r} is empty: this world has no new items"
                )
            item_ids = rng.choice(pool, size=n)
        hour = rng.choice(24, size=n, p=self._hour_weight)
        device = rng.choice(len(DEVICES), size=n, p=[0.7, 0.2, 0.1])
        position = rng.integers(0, N_POSITIONS, size=n)
        return user_ids, item_ids, hour, device, position

    def features(self, user_ids, item_ids, hour, device, position):
        """Assemble feature and truth columns for given impressions.

        Parameters
        ----------
        user_ids, item_ids : array-like of int, shape (n,)
            Who sees what.
        hour, device, position : int or array-like of int, shape (n,)
            The context; a scalar applies to every row.

        Returns
        -------
        pandas.DataFrame of shape (n, 24)
            The 20 feature columns of :attr:`feature_groups` and the truth
            columns ``p_click``, ``p_like``, ``p_collect``, ``p_share``.

        Examples
        --------
        >>> world = make_world(seed=0, n_users=50, n_items=40, warmup_impressions=2000)
        >>> world.features([0, 1], [5, 6], hour=20, device=0, position=0).shape
        (2, 24)
        """
        user_ids = np.asarray(user_ids, dtype=np.int64).reshape(-1)
        item_ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)
        if len(user_ids) != len(item_ids):
            raise ValueError(
                "user_ids and item_ids must have the same length, got "
                f"{len(user_ids)} and {len(item_ids)}"
            )
        n = len(user_ids)
        context = {}
        for name, value in [("hour", hour), ("device", device), ("position", position)]:
            # A scalar context applies to every row.
            values = np.asarray(value, dtype=np.int64)
            context[name] = np.broadcast_to(values, (n,)).copy()
        frame = pd.DataFrame({"user_id": user_ids, "item_id": item_ids, **context})
        ids = self._validated_ids(frame)

        users = self.users.iloc[user_ids]
        items = self.items.iloc[item_ids]
        item_stats = self.item_statistics.iloc[item_ids]
        user_stats = self.user_statistics.iloc[user_ids]
        columns = {
            "user_id": user_ids,
            "age_group": users["age_group"].to_numpy(),
            "activity": users["activity"].to_numpy(),
            "region": users["region"].to_numpy(),
            "item_id": item_ids,
            "category": items["category"].to_numpy(),
            "item_age_days": items["item_age_days"].to_numpy(),
            "length_minutes": items["length_minutes"].to_numpy(),
        }
        for name in FEATURE_GROUPS["statistics"]:
            if name == "user_category_ctr":
                values = self._user_category_ctr[user_ids, columns["category"]]
            elif name.startswith("item_"):
                values = item_stats[name].to_numpy()
            else:
                values = user_stats[name].to_numpy()
            columns[name] = values
        columns.update(context)
        logits = self._logits(*ids)
        for task in TASKS:
            columns[f"p_{task}"] = _sigmoid(logits[task])
        return pd.DataFrame(columns)

    def impressions(self, n, seed=0, item_pool="known"):
        """Draw an impression log with labels and the truth behind them.

        Parameters
        ----------
        n : int
            Number of impressions (rows), at least 1.
        seed : int or numpy.random.Generator, default 0
            Seeds every random draw; the same seed gives the same log.
        item_pool : {"known", "new", "all"}, default "known"
            ``"known"`` draws items by popularity among those with a warm-up
            history; ``"new"`` draws uniformly among new items, whose
            statistics features hold only the global prior; ``"all"`` draws
            uniformly among every item.

        Returns
        -------
        pandas.DataFrame of shape (n, 28)
            Feature columns, labels ``click``, ``like``, ``collect``,
            ``share`` (the last three are 1 only where ``click`` is 1), and
            truth columns ``p_click`` (per impression) and ``p_like``,
            ``p_collect``, ``p_share`` (given a click).

        Examples
        --------
        >>> world = make_world(seed=0, n_users=50, n_items=40, warmup_impressions=2000)
        >>> world.impressions(5, seed=1)[["click", "like"]].shape
        (5, 2)
        """
        n = check_positive_int(n, "n")
        if item_pool not in ("known", "new", "all"):
            raise ValueError(
                f"item_pool must be 'known', 'new' or 'all', got {item_pool!r}"
            )
        rng = as_generator(seed)

        context = self._draw_context(n, rng, item_pool=item_pool)
        frame = self.features(*context)
        logits = {
            task: np.log(frame[f"p_{task}"]) - np.log1p(-frame[f"p_{task}"])
            for task in TASKS
        }
        labels = _draw_labels(logits, rng)
        for task in TASKS:
            frame.insert(frame.columns.get_loc("p_click"), task, labels[task])
        return frame

    def __repr__(self):
        return (
            f"World(seed={self.seed}, n_users={len(self.users)}, "
            f"n_items={len(self.items)}, n_categories={self.n_categories})"
        )


def _draw_labels(logits, rng):
    """Bernoulli labels; interactions can happen only after a click."""
    n = len(logits["click"])
    click = rng.random(n) < _sigmoid(np.asarray(logits["click"]))
    labels = {"click": click.astype(np.int64)}
    for task in TASKS[1:]:
        happened = rng.random(n) < _sigmoid(np.asarray(logits[task]))
        labels[task] = (click & happened).astype(np.int64)
    return labels


def make_world(
    seed=0,
    n_users=3000,
    n_items=2000,
    n_categories=12,
    warmup_impressions=8_000_000,
    new_item_share=0.1,
):
    """Make a seeded synthetic world.

    Parameters
    ----------
    seed : int or numpy.random.Generator, default 0
        Seeds the users, the items and the warm-up log.
    n_users, n_items : int, default 3000 and 2000
        Population sizes.
    n_categories : int, default 12
        Number of item categories; each user has a hidden taste for each.
    warmup_impressions : int, default 8_000_000
        Size of the warm-up log from which the statistics features are
        estimated. Smaller is faster and noisier.
    new_item_share : float, default 0.1
        Share of items that are new: absent from the warm-up log and from
        ``impressions(item_pool="known")``.

    Returns
    -------
    World

    Examples
    --------
    >>> world = make_world(seed=0, n_users=50, n_items=40, warmup_impressions=2000)
    >>> world
    World(seed=0, n_users=50, n_items=40, n_categories=12)
    """
    n_users = check_positive_int(n_users, "n_users")
    n_items = check_positive_int(n_items, "n_items")
    if n_items < 2:
        raise ValueError(f"n_items must be at least 2, got {n_items}")
    n_categories = check_positive_int(n_categories, "n_categories")
    warmup_impressions = check_positive_int(warmup_impressions, "warmup_impressions")
    if not 0.0 <= new_item_share < 1.0:
        raise ValueError(f"new_item_share must be in [0, 1), got {new_item_share}")
    rng = as_generator(seed)

    world = World(seed, n_users, n_items, n_categories, new_item_share, rng)
    world._warm_up(warmup_impressions, rng)
    return world
