"""Calibration of a model trained on negatively downsampled data.

Keeping every positive and each negative with probability ``alpha`` divides the
number of negatives by ``1 / alpha`` and so multiplies the odds a model learns
by ``1 / alpha``:

    odds_sample = odds_true / alpha,  where  odds = p / (1 - p).

Solving for the true probability gives the formula of the calibration chapter,

    p_true = alpha * p / (1 - p + alpha * p),

implemented by :func:`calibrate`; :func:`inflate` goes the other way. On the
logit scale the same correction is a shift by ``ln(alpha)``
(:func:`calibrate_logit`), never a scaling. :func:`reliability_curve` bins
predictions to compare them with observed rates.

Only a head trained on downsampled negatives needs this. The like, collect and
share heads predict rates given a click and are trained on clicked impressions,
all of which downsampling keeps, so they need no correction.
"""

import numpy as np
import pandas as pd

from mtrank_lite._checks import (
    check_alpha,
    check_labels_and_scores,
    check_numbers,
    check_positive_int,
    check_probabilities,
)

__all__ = ["calibrate", "inflate", "calibrate_logit", "reliability_curve"]

_STRATEGIES = ("uniform", "quantile")


def _shaped_like(result, original):
    """Return ``result`` (an ndarray) in the form ``original`` came in.

    A number gives a Python float, a pandas Series gives a Series with the same
    index and name, and anything else gives an ndarray of the same shape.
    """
    if isinstance(original, pd.Series):
        return pd.Series(result, index=original.index, name=original.name)
    if result.ndim == 0:
        return float(result)
    return result


def calibrate(p, alpha):
    """Turn a probability learned on downsampled data into the true one.

    Implements ``p_true = alpha * p / (1 - p + alpha * p)``, the inverse of
    :func:`inflate`. The map is increasing in ``p``, so it never changes a
    ranking by this one score; it matters when the value itself is used, as in
    ads bidding or when several scores are fused.

    Parameters
    ----------
    p : float or array-like of float
        Probabilities predicted by a model trained with negatives kept at rate
        ``alpha``, in [0, 1], of any shape. A pandas Series keeps its index.
    alpha : float
        The keep rate of negatives during training, in (0, 1]. ``alpha = 1``
        means no downsampling and returns ``p`` unchanged.

    Returns
    -------
    float or numpy.ndarray or pandas.Series
        The calibrated probabilities, a float for a number and otherwise the
        shape of ``p``. 0 and 1 map to themselves, and the result never exceeds
        ``p``.

    Raises
    ------
    TypeError
        If ``p`` is not numeric or ``alpha`` is not a real number.
    ValueError
        If ``p`` holds NaN or a value outside [0, 1], or ``alpha`` is outside
        (0, 1].

    Examples
    --------
    >>> round(calibrate(100 / 190, alpha=0.1), 4)
    0.1
    """
    probabilities = check_probabilities(p, "p")
    keep_rate = check_alpha(alpha)

    if keep_rate == 1.0:
        return _shaped_like(probabilities, p)

    # p_true = 1 / (1 + 1 / odds_true) with 1 / odds_true = (1 - p) / (alpha * p):
    # each step is monotone in p even after rounding, and p = 0 gives
    # 1 / (1 + inf) = 0 with no 0 / 0 anywhere (alpha * p > 0 whenever 1 - p = 0).
    with np.errstate(divide="ignore", over="ignore"):
        inverse_odds = (1.0 - probabilities) / (keep_rate * probabilities)
    calibrated = 1.0 / (1.0 + inverse_odds)

    # p_true <= p holds exactly for alpha <= 1; the minimum only removes a
    # last-bit rounding excess and keeps the map monotone.
    return _shaped_like(np.minimum(calibrated, probabilities), p)


def inflate(p, alpha):
    """Turn a true probability into the one a downsampled model would learn.

    Implements ``p_sample = p / (p + alpha * (1 - p))``, the inverse of
    :func:`calibrate`: the odds are divided by ``alpha``. Use it to predict
    how far downsampling will push a model's outputs up.

    Parameters
    ----------
    p : float or array-like of float
        True probabilities in [0, 1], of any shape. A pandas Series keeps its
        index.
    alpha : float
        The keep rate of negatives, in (0, 1]. ``alpha = 1`` returns ``p``
        unchanged.

    Returns
    -------
    float or numpy.ndarray or pandas.Series
        The inflated probabilities, a float for a number and otherwise the
        shape of ``p``. 0 and 1 map to themselves, and the result is never
        below ``p``.

    Raises
    ------
    TypeError
        If ``p`` is not numeric or ``alpha`` is not a real number.
    ValueError
        If ``p`` holds NaN or a value outside [0, 1], or ``alpha`` is outside
        (0, 1].

    Examples
    --------
    >>> round(inflate(0.1, alpha=0.1), 4)
    0.5263
    """
    probabilities = check_probabilities(p, "p")
    keep_rate = check_alpha(alpha)

    if keep_rate == 1.0:
        return _shaped_like(probabilities, p)

    # p_sample = 1 / (1 + 1 / odds_sample) with
    # 1 / odds_sample = alpha * (1 - p) / p; monotone after rounding, as above.
    with np.errstate(divide="ignore", over="ignore"):
        inverse_odds = keep_rate * (1.0 - probabilities) / probabilities
    inflated = 1.0 / (1.0 + inverse_odds)

    # p_sample >= p holds exactly; the maximum removes a rounding shortfall.
    return _shaped_like(np.maximum(inflated, probabilities), p)


def calibrate_logit(logit, alpha):
    """Correct a downsampled model's logit by shifting it by ``ln(alpha)``.

    Since ``odds_true = alpha * odds_sample``, the true log-odds are
    ``logit + ln(alpha)``: a shift of the intercept, the same for every
    impression. Multiplying the logit (or the intercept) by ``alpha`` is a
    different map and gives wrong rates. ``sigmoid(calibrate_logit(z, alpha))``
    equals ``calibrate(sigmoid(z), alpha)``.

    Parameters
    ----------
    logit : float or array-like of float
        Log-odds ``ln(p / (1 - p))`` from a model trained with negatives kept
        at rate ``alpha``, of any shape; infinities are allowed, NaN is not. A
        pandas Series keeps its index.
    alpha : float
        The keep rate of negatives during training, in (0, 1].

    Returns
    -------
    float or numpy.ndarray or pandas.Series
        ``logit + ln(alpha)``, a float for a number and otherwise the shape of
        ``logit``.

    Raises
    ------
    TypeError
        If ``logit`` is not numeric or ``alpha`` is not a real number.
    ValueError
        If ``logit`` holds NaN or ``alpha`` is outside (0, 1].

    Examples
    --------
    >>> round(calibrate_logit(0.0, alpha=0.5), 4)
    -0.6931
    """
    logits = check_numbers(logit, "logit")
    keep_rate = check_alpha(alpha)

    return _shaped_like(logits + np.log(keep_rate), logit)


def _bin_edges(probabilities, n_bins, strategy):
    """Return increasing bin edges, ``n_bins + 1`` of them or fewer.

    "uniform" gives ``i / n_bins``, the floats nearest to the exact fractions.
    "quantile" gives quantiles of ``probabilities``; repeated quantiles (many
    equal predictions) merge, so fewer bins come back.
    """
    if strategy == "uniform":
        return np.arange(n_bins + 1) / n_bins

    edges = np.unique(np.quantile(probabilities, np.linspace(0.0, 1.0, n_bins + 1)))
    if len(edges) == 1:
        # Every prediction is the same: one bin of zero width holds them all.
        edges = np.repeat(edges, 2)
    return edges


def _bin_statistics(labels, probabilities, n_bins, strategy="uniform"):
    """Bin checked arrays; return edges, counts, and sums of predictions and labels.

    Each bin holds the probabilities ``lower <= p < upper``, except the last,
    which also holds ``p == upper`` so that a probability of exactly 1.0 is
    counted. Shared by :func:`reliability_curve` and ``metrics.ece``.
    """
    edges = _bin_edges(probabilities, n_bins, strategy)
    n_edges_inside = len(edges) - 2

    # side="right" puts a probability equal to an inner edge in the bin that
    # starts there; nothing is beyond the last inner edge but the last bin.
    bin_index = np.searchsorted(edges[1:-1], probabilities, side="right")
    size = n_edges_inside + 1
    counts = np.bincount(bin_index, minlength=size)
    predicted_sums = np.bincount(bin_index, weights=probabilities, minlength=size)
    positive_sums = np.bincount(bin_index, weights=labels, minlength=size)

    return edges, counts, predicted_sums, positive_sums


def reliability_curve(y_true, y_prob, n_bins=10, strategy="uniform"):
    """Mean prediction against observed positive rate, bin by bin.

    A calibrated model lies on the diagonal: in each bin, the mean predicted
    probability equals the fraction of positives. A model trained on
    downsampled negatives lies below it until :func:`calibrate` is applied.

    Parameters
    ----------
    y_true : array-like of {0, 1}, shape (n_samples,)
        Observed labels.
    y_prob : array-like of float, shape (n_samples,)
        Predicted probabilities in [0, 1].
    n_bins : int, default=10
        Number of bins asked for.
    strategy : {"uniform", "quantile"}, default="uniform"
        "uniform" cuts [0, 1] into bins of equal width; "quantile" cuts at
        quantiles of ``y_prob`` so that bins hold about equally many samples
        (equal quantiles merge, giving fewer bins).

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin, in increasing order, with columns
        ``bin_lower``, ``bin_upper``, ``mean_predicted``, ``fraction_positive``
        and ``count``. Bins are closed on the left and open on the right,
        except the last, which is closed: a probability of exactly 1.0 falls in
        the last bin. Empty bins are dropped.

    Raises
    ------
    TypeError
        If an input is not numeric, ``n_bins`` is not an integer or
        ``strategy`` is not a string.
    ValueError
        If the inputs are empty, of different lengths, not one-dimensional,
        ``y_true`` holds a value other than 0 and 1, ``y_prob`` a value outside
        [0, 1] or NaN, ``n_bins`` is below 1 or ``strategy`` is unknown.

    Examples
    --------
    >>> reliability_curve([0, 1, 1], [0.2, 0.9, 1.0], n_bins=2)["count"].tolist()
    [1, 2]
    """
    labels, probabilities = check_labels_and_scores(y_true, y_prob, "y_prob")
    n_bins = check_positive_int(n_bins, "n_bins")
    if not isinstance(strategy, str):
        raise TypeError(
            f"strategy must be 'uniform' or 'quantile', "
            f"got {strategy!r} ({type(strategy).__name__})"
        )
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")

    edges, counts, predicted_sums, positive_sums = _bin_statistics(
        labels, probabilities, n_bins, strategy
    )

    filled = counts > 0
    return pd.DataFrame(
        {
            "bin_lower": edges[:-1][filled],
            "bin_upper": edges[1:][filled],
            "mean_predicted": predicted_sums[filled] / counts[filled],
            "fraction_positive": positive_sums[filled] / counts[filled],
            "count": counts[filled].astype(np.int64),
        }
    )
