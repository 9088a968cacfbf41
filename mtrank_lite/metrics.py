"""Metrics for the heads of a multi-task ranker, and the oracle's bounds.

AUC measures how well a score orders positives above negatives and ignores
calibration; log loss, normalized entropy and the expected calibration error
(ECE) also see whether the probabilities are right. Because the synthetic world
knows the true probabilities, :func:`oracle_metrics` gives the best any model
could reach on the same labels, and :func:`compare_to_oracle` puts the two side
by side for every task.

Degenerate inputs have a defined result: a metric that is undefined on a slice
with one class returns ``nan`` and emits an :class:`UndefinedMetricWarning`.
"""

import warnings

import numpy as np
import pandas as pd

from mtrank_lite._checks import (
    check_frame,
    check_frame_has_columns,
    check_labels,
    check_labels_and_scores,
    check_non_empty,
    check_positive_int,
    check_probabilities,
    check_real,
    check_same_length,
    describe,
)
from mtrank_lite.calibration import _bin_statistics

__all__ = [
    "UndefinedMetricWarning",
    "auc",
    "logloss",
    "normalized_entropy",
    "ece",
    "calibration_ratio",
    "evaluate",
    "oracle_metrics",
    "compare_to_oracle",
]

# The keys of evaluate() and oracle_metrics(), in order.
METRIC_NAMES = (
    "auc",
    "logloss",
    "normalized_entropy",
    "ece",
    "mean_predicted",
    "observed_rate",
)

# Metrics that compare_to_oracle() reports for both the model and the oracle.
_PAIRED_METRICS = ("auc", "logloss", "normalized_entropy", "ece", "mean_predicted")


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined on the given labels, and ``nan`` is returned.

    Raised, for example, by :func:`auc` when ``y_true`` holds one class only.
    Silence it with ``warnings.simplefilter("ignore", UndefinedMetricWarning)``.
    """


def _warn_undefined(message):
    """Emit an UndefinedMetricWarning.

    It is attributed to the caller of the function that calls this helper: the
    user's line for ``calibration_ratio``, a line of the public function for
    the private ones. Finding the user's frame at any depth would take frame
    inspection, which the package avoids.
    """
    warnings.warn(message, UndefinedMetricWarning, stacklevel=3)


def _auc(labels, scores):
    """AUC of checked arrays through the rank sum (Mann-Whitney U)."""
    n_positive = int(labels.sum())
    n_negative = len(labels) - n_positive
    if n_positive == 0 or n_negative == 0:
        _warn_undefined(
            f"auc is undefined when y_true holds one class only (all "
            f"{len(labels)} labels are {int(labels[0])}); returning nan"
        )
        return float("nan")

    # Sort once (O(n log n)); equal scores form runs, and each member of a run
    # gets the run's average 1-based rank, so a tied pair counts one half.
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    run_starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    run_ends = np.r_[run_starts[1:], len(scores)]
    run_of_position = np.repeat(np.arange(len(run_starts)), run_ends - run_starts)
    ranks = np.empty(len(scores))
    ranks[order] = ((run_starts + 1 + run_ends) / 2.0)[run_of_position]

    # U = R_pos - n_pos (n_pos + 1) / 2 counts the (positive, negative) pairs in
    # the right order, ties as one half (Mann and Whitney, 1947); AUC = U / pairs.
    rank_sum = ranks[labels == 1].sum()
    u_statistic = rank_sum - n_positive * (n_positive + 1) / 2.0
    return float(u_statistic / (n_positive * n_negative))


def auc(y_true, y_score):
    """Area under the ROC curve, with tied scores counted as one half.

    The probability that a random positive scores above a random negative,
    computed from the rank sum of the positives with average ranks for ties
    (the Mann-Whitney U statistic) in O(n log n) time.

    Parameters
    ----------
    y_true : array-like of {0, 1}, shape (n_samples,)
        Observed labels.
    y_score : array-like of float, shape (n_samples,)
        Scores, higher meaning more likely positive: probabilities, logits or
        any real numbers (infinities allowed, NaN not).

    Returns
    -------
    float
        AUC in [0, 1]; ``nan`` with an :class:`UndefinedMetricWarning` if
        ``y_true`` holds only one class.

    Raises
    ------
    TypeError
        If an input is not numeric.
    ValueError
        If the inputs are empty, of different lengths or not one-dimensional,
        ``y_true`` holds a value other than 0 and 1, or ``y_score`` holds NaN.

    Examples
    --------
    >>> auc([0, 1, 1], [0.5, 0.9, 0.5])
    0.75
    """
    labels, scores = check_labels_and_scores(
        y_true, y_score, "y_score", probabilities=False
    )

    return _auc(labels, scores)


def _logloss(labels, probabilities, eps):
    """Mean binary cross-entropy of checked arrays, clipped to [eps, 1 - eps]."""
    clipped = np.clip(probabilities, eps, 1.0 - eps)

    # -ln p for a positive, -ln(1 - p) for a negative; log1p keeps precision
    # for small p. Only eps = 0 can reach ln 0, and the loss is then inf.
    with np.errstate(divide="ignore"):
        losses = np.where(labels == 1, -np.log(clipped), -np.log1p(-clipped))
    return float(losses.mean())


def _check_eps(eps):
    """Return ``eps`` as a float after checking that it lies in [0, 0.5)."""
    value = check_real(eps, "eps")
    if not 0.0 <= value < 0.5:
        raise ValueError(f"eps must be in [0, 0.5), got {describe(eps)}")
    return value


def logloss(y_true, y_prob, eps=1e-15):
    """Mean binary cross-entropy (log loss) of predicted probabilities.

    ``-mean(y ln p + (1 - y) ln(1 - p))``, with ``p`` clipped to
    ``[eps, 1 - eps]`` so that a confident mistake costs a large but finite
    loss. It is defined for a slice with one class too.

    Parameters
    ----------
    y_true : array-like of {0, 1}, shape (n_samples,)
        Observed labels.
    y_prob : array-like of float, shape (n_samples,)
        Predicted probabilities in [0, 1].
    eps : float, default=1e-15
        Clipping bound, in [0, 0.5). With 0 a certain mistake gives ``inf``.

    Returns
    -------
    float
        The mean log loss in nats, at least 0.

    Raises
    ------
    TypeError
        If an input is not numeric or ``eps`` is not a real number.
    ValueError
        If the inputs are empty, of different lengths or not one-dimensional,
        ``y_true`` holds a value other than 0 and 1, ``y_prob`` a value outside
        [0, 1] or NaN, or ``eps`` is outside [0, 0.5).

    Examples
    --------
    >>> round(logloss([1, 1, 1], [0.9, 0.9, 0.9]), 4)
    0.1054
    """
    labels, probabilities = check_labels_and_scores(y_true, y_prob, "y_prob")
    eps = _check_eps(eps)

    return _logloss(labels, probabilities, eps)


def _normalized_entropy(labels, probabilities):
    """Log loss of checked arrays over the entropy of their base rate."""
    base_rate = labels.mean()
    if base_rate in (0.0, 1.0):
        _warn_undefined(
            f"normalized_entropy is undefined when y_true holds one class only "
            f"(base rate {describe(base_rate)}); returning nan"
        )
        return float("nan")

    # The entropy of the base rate is the log loss of always predicting it,
    # the baseline of normalized entropy (He et al., 2014, "Practical Lessons
    # from Predicting Clicks on Ads at Facebook").
    baseline = -(
        base_rate * np.log(base_rate) + (1.0 - base_rate) * np.log1p(-base_rate)
    )
    return float(_logloss(labels, probabilities, 1e-15) / baseline)


def normalized_entropy(y_true, y_prob):
    """Log loss divided by the entropy of the observed base rate.

    1 means no better than predicting the base rate for every sample; lower is
    better. Unlike log loss it can be compared across tasks whose base rates
    differ, such as click and share.

    Parameters
    ----------
    y_true : array-like of {0, 1}, shape (n_samples,)
        Observed labels.
    y_prob : array-like of float, shape (n_samples,)
        Predicted probabilities in [0, 1], clipped as in :func:`logloss`.

    Returns
    -------
    float
        The normalized entropy, at least 0; ``nan`` with an
        :class:`UndefinedMetricWarning` if ``y_true`` holds one class only
        (the base rate is 0 or 1 and its entropy is 0).

    Raises
    ------
    TypeError
        If an input is not numeric.
    ValueError
        If the inputs are empty, of different lengths or not one-dimensional,
        ``y_true`` holds a value other than 0 and 1, or ``y_prob`` a value
        outside [0, 1] or NaN.

    Examples
    --------
    >>> normalized_entropy([0, 1], [0.5, 0.5])
    1.0
    """
    labels, probabilities = check_labels_and_scores(y_true, y_prob, "y_prob")

    return _normalized_entropy(labels, probabilities)


def _ece(labels, probabilities, n_bins):
    """ECE of checked arrays over ``n_bins`` equal-width bins."""
    _, counts, predicted_sums, positive_sums = _bin_statistics(
        labels, probabilities, n_bins, "uniform"
    )

    # count_b * |mean predicted_b - fraction positive_b| equals
    # |sum of predictions_b - number of positives_b|; weight by count / n.
    return float(np.abs(predicted_sums - positive_sums).sum() / counts.sum())


def ece(y_true, y_prob, n_bins=10):
    """Expected calibration error over equal-width bins.

    ``sum over bins of (count_b / n) * |mean predicted_b - fraction positive_b|``
    (Naeini et al., 2015), with the bins of
    :func:`mtrank_lite.calibration.reliability_curve`: ``[i / n_bins,
    (i + 1) / n_bins)``, the last one closed, so that a probability of exactly
    1.0 counts in the last bin.

    Parameters
    ----------
    y_true : array-like of {0, 1}, shape (n_samples,)
        Observed labels.
    y_prob : array-like of float, shape (n_samples,)
        Predicted probabilities in [0, 1].
    n_bins : int, default=10
        Number of equal-width bins on [0, 1].

    Returns
    -------
    float
        The ECE, in [0, 1]; 0 for a perfectly calibrated model (per bin).

    Raises
    ------
    TypeError
        If an input is not numeric or ``n_bins`` is not an integer.
    ValueError
        If the inputs are empty, of different lengths or not one-dimensional,
        ``y_true`` holds a value other than 0 and 1, ``y_prob`` a value outside
        [0, 1] or NaN, or ``n_bins`` is below 1.

    Examples
    --------
    >>> round(ece([1, 0], [0.95, 1.0]), 4)
    0.475
    """
    labels, probabilities = check_labels_and_scores(y_true, y_prob, "y_prob")
    n_bins = check_positive_int(n_bins, "n_bins")

    return _ece(labels, probabilities, n_bins)


def calibration_ratio(y_true, y_prob):
    """Mean predicted probability divided by the observed positive rate.

    1 for a model calibrated on average; a model trained on downsampled
    negatives and not calibrated gives well above 1.

    Parameters
    ----------
    y_true : array-like of {0, 1}, shape (n_samples,)
        Observed labels.
    y_prob : array-like of float, shape (n_samples,)
        Predicted probabilities in [0, 1].

    Returns
    -------
    float
        The ratio; ``nan`` with an :class:`UndefinedMetricWarning` if ``y_true``
        holds no positive.

    Raises
    ------
    TypeError
        If an input is not numeric.
    ValueError
        If the inputs are empty, of different lengths or not one-dimensional,
        ``y_true`` holds a value other than 0 and 1, or ``y_prob`` a value
        outside [0, 1] or NaN.

    Examples
    --------
    >>> calibration_ratio([0, 1, 0, 0], [0.5, 0.5, 0.5, 0.5])
    2.0
    """
    labels, probabilities = check_labels_and_scores(y_true, y_prob, "y_prob")

    if labels.sum() == 0:
        _warn_undefined(
            "calibration_ratio is undefined when y_true holds no positive "
            "(observed rate 0); returning nan"
        )
        return float("nan")
    return float(probabilities.mean() / labels.mean())


def _evaluate(labels, probabilities):
    """The dictionary of :func:`evaluate` for checked arrays."""
    return {
        "auc": _auc(labels, probabilities),
        "logloss": _logloss(labels, probabilities, 1e-15),
        "normalized_entropy": _normalized_entropy(labels, probabilities),
        "ece": _ece(labels, probabilities, 10),
        "mean_predicted": float(probabilities.mean()),
        "observed_rate": float(labels.mean()),
    }


def evaluate(y_true, y_prob):
    """All metrics of one head on one set of labels.

    Parameters
    ----------
    y_true : array-like of {0, 1}, shape (n_samples,)
        Observed labels.
    y_prob : array-like of float, shape (n_samples,)
        Predicted probabilities in [0, 1].

    Returns
    -------
    dict of str to float
        Keys ``auc``, ``logloss``, ``normalized_entropy``, ``ece`` (10 bins),
        ``mean_predicted`` and ``observed_rate``, with the defaults of the
        functions of the same names. A one-class ``y_true`` gives ``nan`` for
        ``auc`` and ``normalized_entropy``, each with an
        :class:`UndefinedMetricWarning`.

    Raises
    ------
    TypeError
        If an input is not numeric.
    ValueError
        If the inputs are empty, of different lengths or not one-dimensional,
        ``y_true`` holds a value other than 0 and 1, or ``y_prob`` a value
        outside [0, 1] or NaN.

    Examples
    --------
    >>> evaluate([0, 1, 1, 0], [0.2, 0.8, 0.6, 0.4])["auc"]
    1.0
    """
    labels, probabilities = check_labels_and_scores(y_true, y_prob, "y_prob")

    return _evaluate(labels, probabilities)


def oracle_metrics(y_true, p_true):
    """The metrics of :func:`evaluate` for the true probabilities.

    In the synthetic world the labels are drawn from known probabilities, so
    these are the best values any model can expect on the same labels (up to
    sampling noise): the bound to hold a trained model against.

    Parameters
    ----------
    y_true : array-like of {0, 1}, shape (n_samples,)
        Observed labels.
    p_true : array-like of float, shape (n_samples,)
        The true probabilities the labels were drawn from, in [0, 1].

    Returns
    -------
    dict of str to float
        The keys of :func:`evaluate`.

    Raises
    ------
    TypeError
        If an input is not numeric.
    ValueError
        As :func:`evaluate`, naming ``p_true`` instead of ``y_prob``.

    Examples
    --------
    >>> oracle_metrics([0, 1, 1], [0.1, 0.8, 0.9])["auc"]
    1.0
    """
    labels, probabilities = check_labels_and_scores(y_true, p_true, "p_true")

    return _evaluate(labels, probabilities)


def _task_names(tasks):
    """Return ``tasks`` as a tuple of names; a single string is one task."""
    if isinstance(tasks, str):
        return (tasks,)
    names = tuple(tasks)
    if not names:
        raise ValueError(f"tasks must name at least one task, got {tasks!r}")
    return names


def compare_to_oracle(frame, predictions, tasks=("click", "like", "collect", "share")):
    """Model against oracle, metric by metric, one row per task.

    The click head predicts ``P(click | impression)`` and is evaluated on every
    row. Every other head (like, collect, share) predicts a rate given a click,
    so it is evaluated only on the rows where ``click`` is 1, against the truth
    column of the same meaning.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (n_rows, n_columns)
        An impression log with a label column per task and a truth column
        ``p_<task>`` per task (``p_click``, ``p_like``, ...), and a ``click``
        column whenever a task other than click is asked for.
    predictions : pandas.DataFrame, shape (n_rows, n_tasks)
        Predicted probabilities, a column per task, row ``i`` for row ``i`` of
        ``frame`` (matched by position, not by index).
    tasks : sequence of str, default=("click", "like", "collect", "share")
        The tasks to compare; a single string is one task.

    Returns
    -------
    pandas.DataFrame, shape (n_tasks, 2 + 2 * 5)
        Indexed by task, with columns ``n_samples`` (rows evaluated),
        ``observed_rate``, then ``model_<metric>`` and ``oracle_<metric>`` for
        ``auc``, ``logloss``, ``normalized_entropy``, ``ece`` and
        ``mean_predicted``. A conditional task with no clicked row gets ``nan``
        metrics and an :class:`UndefinedMetricWarning`.

    Raises
    ------
    TypeError
        If ``frame`` or ``predictions`` is not a DataFrame.
    ValueError
        If a column is missing, the frames are empty or of different lengths,
        ``tasks`` is empty, a label is not 0 or 1, or a probability is outside
        [0, 1] or NaN.

    Examples
    --------
    >>> log = pd.DataFrame({"click": [0, 1], "p_click": [0.2, 0.7]})
    >>> compare_to_oracle(log, pd.DataFrame({"click": [0.4, 0.9]}), "click").shape
    (1, 12)
    """
    task_names = _task_names(tasks)
    conditional = [task for task in task_names if task != "click"]
    needed = list(task_names) + [f"p_{task}" for task in task_names]
    if conditional and "click" not in task_names:
        needed.append("click")
    check_frame(frame, "frame")
    check_frame(predictions, "predictions")
    check_non_empty(frame, "frame")
    check_same_length(frame, predictions, "frame", "predictions")
    check_frame_has_columns(frame, needed, "frame")
    check_frame_has_columns(predictions, task_names, "predictions")

    # Rows the conditional heads are scored on: those with a click.
    if conditional:
        clicked = check_labels(frame["click"], "frame['click']") == 1
    rows = []
    for task in task_names:
        labels = check_labels(frame[task], f"frame[{task!r}]")
        truth = check_probabilities(frame[f"p_{task}"], f"frame['p_{task}']")
        predicted = check_probabilities(predictions[task], f"predictions[{task!r}]")
        if task != "click":
            labels, truth, predicted = (
                labels[clicked],
                truth[clicked],
                predicted[clicked],
            )
        rows.append(_comparison_row(task, labels, predicted, truth))

    return pd.DataFrame(rows).set_index("task")


def _comparison_row(task, labels, predicted, truth):
    """One row of :func:`compare_to_oracle` from checked, already sliced arrays."""
    row = {"task": task, "n_samples": len(labels)}
    if len(labels) == 0:
        _warn_undefined(
            f"task {task!r} has no clicked row to be evaluated on; "
            f"its metrics are nan"
        )
        row["observed_rate"] = float("nan")
        for metric in _PAIRED_METRICS:
            row[f"model_{metric}"] = float("nan")
            row[f"oracle_{metric}"] = float("nan")
        return row

    model = _evaluate(labels, predicted)
    oracle = _evaluate(labels, truth)
    row["observed_rate"] = model["observed_rate"]
    for metric in _PAIRED_METRICS:
        row[f"model_{metric}"] = model[metric]
        row[f"oracle_{metric}"] = oracle[metric]
    return row
