"""Negative downsampling of an impression log.

Clicks are rare (around 5-10 % of impressions), so most of a training set is
impressions without a click. Keeping every positive and each negative with
probability ``alpha`` makes training faster at the price of inflated
predictions, which :func:`mtrank_lite.calibration.calibrate` undoes. Weighting
each kept negative by ``1 / alpha`` (:func:`sample_weights`) is the other
remedy: the weighted sample then has the class balance of the full log.
"""

import numpy as np
import pandas as pd

from mtrank_lite._checks import (
    as_generator,
    check_alpha,
    check_frame,
    check_frame_has_columns,
    check_labels,
    check_non_empty,
)

__all__ = ["downsample_negatives", "sample_weights"]


def _checked_labels(frame, label):
    """Check ``frame`` and its ``label`` column; return the labels as an ndarray."""
    check_frame(frame, "frame")
    check_non_empty(frame, "frame")
    check_frame_has_columns(frame, [label], "frame")

    return check_labels(frame[label], f"frame[{label!r}]")


def downsample_negatives(frame, alpha, label="click", seed=0):
    """Keep every positive row and each negative row with probability ``alpha``.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (n_rows, n_columns)
        An impression log with a binary ``label`` column. It is not modified.
    alpha : float
        Keep rate of negatives, in (0, 1]. ``alpha = 1`` keeps every row.
    label : str, default="click"
        The column whose 1s are kept. The conditional labels (like, collect,
        share) can be 1 only on clicked rows, so downsampling on "click" keeps
        all their positives and leaves the rates given a click unchanged.
    seed : int or numpy.random.Generator, default=0
        An integer seeds a stream of numbers of this function's own, so seed 0
        here draws other numbers than seed 0 in ``world.impressions``, whose
        log this usually samples (the same numbers would keep negatives by
        user id). A Generator is drawn from as it is, which advances it.
        Global random state is never touched.

    Returns
    -------
    pandas.DataFrame, shape (n_kept, n_columns)
        A new frame holding the kept rows in their original order, with their
        original index, so that they can be joined back to the full log (call
        ``reset_index(drop=True)`` for positions 0, 1, ...).

    Raises
    ------
    TypeError
        If ``frame`` is not a DataFrame, ``alpha`` is not a real number or
        ``seed`` is neither an integer nor a Generator.
    ValueError
        If ``alpha`` is outside (0, 1] or NaN, ``frame`` has no column
        ``label`` or no rows, or the labels are not all 0 or 1.

    Notes
    -----
    One uniform number is drawn per row, positives included, and a negative is
    kept when its number is below ``alpha``. So the same seed keeps the same
    rows, and with one seed the sample for a smaller ``alpha`` is contained in
    the sample for a larger one: moving a slider over ``alpha`` only adds or
    removes rows.

    Examples
    --------
    >>> log = pd.DataFrame({"click": [1, 0, 0, 0]})
    >>> len(downsample_negatives(log, alpha=1.0))
    4
    """
    labels = _checked_labels(frame, label)
    keep_rate = check_alpha(alpha)
    generator = as_generator(seed, stream="downsample_negatives")

    draws = generator.random(len(frame))
    # random() lies in [0, 1), so alpha = 1 keeps every row.
    keep = (labels == 1) | (draws < keep_rate)

    return frame.loc[keep].copy()


def sample_weights(frame, alpha, label="click"):
    """Importance weights that undo negative downsampling in a loss or a rate.

    Each kept negative stands for ``1 / alpha`` negatives of the full log, each
    positive for itself. A loss or a mean weighted this way estimates the one
    on the full log, so a model trained with these weights needs no
    calibration.

    Parameters
    ----------
    frame : pandas.DataFrame, shape (n_rows, n_columns)
        A frame returned by :func:`downsample_negatives`. It is not modified.
    alpha : float
        The keep rate that was used, in (0, 1].
    label : str, default="click"
        The column that was downsampled on.

    Returns
    -------
    pandas.Series of float64, shape (n_rows,)
        Named "weight", with the index of ``frame``: ``1 / alpha`` where the
        label is 0 and 1 where it is 1.

    Raises
    ------
    TypeError
        If ``frame`` is not a DataFrame or ``alpha`` is not a real number.
    ValueError
        If ``alpha`` is outside (0, 1] or NaN, ``frame`` has no column
        ``label`` or no rows, or the labels are not all 0 or 1.

    Examples
    --------
    >>> sample = pd.DataFrame({"click": [1, 0]})
    >>> sample_weights(sample, alpha=0.25).tolist()
    [1.0, 4.0]
    """
    labels = _checked_labels(frame, label)
    keep_rate = check_alpha(alpha)

    weights = np.where(labels == 1, 1.0, 1.0 / keep_rate)
    return pd.Series(weights, index=frame.index, name="weight")
