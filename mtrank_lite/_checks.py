"""Input checks shared by the modules of :mod:`mtrank_lite`.

Every public function of the package checks its arguments at the boundary with
these helpers. A wrong value raises ``ValueError`` and a wrong type raises
``TypeError``; either message names the argument, what it allows and the value
it got, for example ``alpha must be in (0, 1], got 0``.

The helpers are private: their names and messages may change.
"""

import numbers
import zlib

import numpy as np
import pandas as pd

# numpy dtype kinds that hold numbers: bool, signed int, unsigned int, float.
_NUMERIC_KINDS = "biuf"

# How many column names an error message lists before it shortens the list.
_SHOWN_COLUMNS = 10


def describe(value):
    """Return a short, readable form of ``value`` for an error message.

    Integers print without a decimal point, other real numbers as Python
    floats (so ``np.float64(1.2)`` prints as ``1.2``), and anything else
    through ``repr``, shortened to 60 characters.
    """
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))

    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return text


def _describe_with_type(value):
    """Return ``describe(value)`` followed by the type name in parentheses."""
    return f"{describe(value)} ({type(value).__name__})"


def check_real(value, name):
    """Return ``value`` as a Python float, or raise ``TypeError``.

    Booleans are refused: ``True`` as a keep rate is a mistake, not 1.
    NaN passes this check; range checks reject it afterwards.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a real number, got {_describe_with_type(value)}"
        )
    return float(value)


def check_alpha(alpha, name="alpha"):
    """Return a keep rate as a float after checking that it lies in (0, 1].

    Raises ``TypeError`` for a non-number (such as the string ``"0.5"``) and
    ``ValueError`` for 0, a negative value, a value above 1 or NaN.
    """
    keep_rate = check_real(alpha, name)

    # NaN fails both comparisons, so it is rejected here too.
    if not 0.0 < keep_rate <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {describe(alpha)}")
    return keep_rate


def check_positive_int(value, name):
    """Return ``value`` as a Python int after checking that it is at least 1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be a positive integer, got {_describe_with_type(value)}"
        )
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {describe(value)}")
    return int(value)


def as_generator(seed, name="seed", stream=None):
    """Return a ``numpy.random.Generator`` built from ``seed``.

    Parameters
    ----------
    seed : int, numpy.random.Generator or None
        A non-negative integer gives the same numbers on every run. A
        ``Generator`` is returned as it is, so drawing from the result advances
        the caller's generator. ``None`` draws fresh entropy from the operating
        system, so results then differ between runs; the package never uses it
        as a default. Global random state is never touched.
    name : str, default="seed"
        The argument name used in error messages.
    stream : str or None, default=None
        A label giving this random step its own numbers for an integer seed:
        the generator is seeded with ``SeedSequence([crc32(stream), seed])``
        instead of ``seed``. Without it, two steps seeded with the same integer
        draw the same uniforms: ``world.impressions(n, seed=0)`` draws user ids
        with ``rng.choice(..., p=...)``, which starts with ``rng.random(n)``,
        so a downsampling step also seeded with 0 would keep negatives by user
        id. The label does nothing to a Generator or to None.

    Returns
    -------
    numpy.random.Generator
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()

    allowed = "a non-negative integer or a numpy.random.Generator"
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be {allowed}, got {_describe_with_type(seed)}")
    if seed < 0:
        raise ValueError(f"{name} must be {allowed}, got {describe(seed)}")
    if stream is None:
        return np.random.default_rng(int(seed))
    # crc32 (not hash()) so that the label maps to the same number every run.
    return np.random.default_rng([zlib.crc32(stream.encode("utf-8")), int(seed)])


def _element(values, position):
    """Return the element of ``values`` at flat ``position`` and where it is.

    For a pandas Series the place is its index label, so that a reader can find
    the row with ``.loc``; for anything else it is the numpy position.
    """
    if isinstance(values, pd.Series):
        return values.iloc[position], describe(values.index[position])

    array = np.asarray(values)
    if array.ndim == 0:
        return array.item(), None
    index = np.unravel_index(position, array.shape)
    element = array[index]
    # A numpy scalar becomes a Python one; an object array holds Python objects.
    if isinstance(element, np.generic):
        element = element.item()
    if array.ndim == 1:
        return element, str(int(index[0]))
    return element, str(tuple(int(entry) for entry in index))


def _got(values, position):
    """Return the tail of an error message: ``got 1.2 at index 3``."""
    value, place = _element(values, position)
    if place is None:
        return f"got {describe(value)}"
    return f"got {describe(value)} at index {place}"


def as_float_array(values, name):
    """Return ``values`` as a new float64 ndarray of the same shape.

    Accepts a number, a sequence, an ndarray or a pandas Series (including the
    nullable dtypes, whose missing values become NaN). Raises ``TypeError`` for
    a DataFrame, for strings and for anything else that is not numeric. NaN
    passes this check; the callers decide whether it is allowed.
    """
    if isinstance(values, pd.DataFrame):
        # A whole frame of predictions is refused: only some heads need a given
        # correction (DESIGN: only the click head is calibrated), so the caller
        # picks the column.
        raise TypeError(
            f"{name} must be a number or an array of numbers, got a DataFrame "
            f"with columns {_column_list(values)}; pass one of its columns"
        )
    if isinstance(values, pd.Series):
        if values.dtype.kind not in _NUMERIC_KINDS:
            _refuse_non_numbers(values, values.to_numpy(dtype=object), name)
        return values.to_numpy(dtype=np.float64, na_value=np.nan)

    array = np.asarray(values)
    if array.dtype.kind == "O":
        _refuse_non_numbers(values, array, name)
    elif array.dtype.kind not in _NUMERIC_KINDS:
        _refuse_non_numbers(values, array.astype(object), name)
    return array.astype(np.float64)


def _refuse_non_numbers(values, objects, name):
    """Raise ``TypeError`` at the first entry of ``objects`` that is no number.

    ``objects`` is ``values`` as an object ndarray: an array of strings, or a
    list mixing numbers with None or strings. When every entry is a number,
    or there is none, nothing is raised and the caller converts to float.
    """
    if objects.ndim == 0:
        if not isinstance(objects.item(), numbers.Real):
            raise TypeError(
                f"{name} must be a number or an array of numbers, "
                f"got {_describe_with_type(objects.item())}"
            )
        return

    for position, element in enumerate(objects.ravel()):
        if not isinstance(element, numbers.Real):
            raise TypeError(
                f"{name} must hold numbers, "
                f"{_got(values, position)} ({type(element).__name__})"
            )


def _first(mask):
    """Return the flat position of the first true entry of ``mask``."""
    return int(np.flatnonzero(mask.ravel())[0])


def _require_no_nan(values, array, name):
    """Raise ``ValueError`` if ``array``, converted from ``values``, holds NaN."""
    missing = np.isnan(array)
    if missing.any():
        raise ValueError(f"{name} must not hold NaN, {_got(values, _first(missing))}")


def _require_probabilities(values, array, name):
    """Raise ``ValueError`` unless every entry of ``array`` lies in [0, 1]."""
    # NaN fails both comparisons, so test for the allowed range and negate.
    outside = ~((array >= 0.0) & (array <= 1.0))
    if outside.any():
        if array.ndim == 0:
            message = f"{name} must be a probability in [0, 1]"
        else:
            message = f"{name} must hold probabilities in [0, 1]"
        raise ValueError(f"{message}, {_got(values, _first(outside))}")


def _require_labels(values, array, name):
    """Raise ``ValueError`` unless every entry of ``array`` is 0 or 1."""
    bad = ~((array == 0.0) | (array == 1.0))
    if bad.any():
        raise ValueError(
            f"{name} must hold labels in {{0, 1}}, {_got(values, _first(bad))}"
        )


def check_numbers(values, name):
    """Return ``values`` as a float64 ndarray, refusing NaN (infinities pass)."""
    array = as_float_array(values, name)
    _require_no_nan(values, array, name)
    return array


def check_probabilities(values, name):
    """Return ``values`` as a float64 ndarray of probabilities in [0, 1].

    Parameters
    ----------
    values : float or array-like of float
        Any shape. Entries of a pandas Series are located by index label in
        messages, entries of anything else by position.
    name : str
        The argument name used in error messages.

    Returns
    -------
    numpy.ndarray of float64
        A new array with the shape of ``values`` (0-d for a number).

    Raises
    ------
    TypeError
        If ``values`` is not numeric.
    ValueError
        If an entry is NaN or outside [0, 1]; the message gives the first such
        entry and where it is, such as ``got 1.2 at index 3``.
    """
    array = as_float_array(values, name)
    _require_probabilities(values, array, name)
    return array


def check_labels(values, name):
    """Return binary labels as an int64 ndarray, refusing anything but 0 and 1.

    Booleans and floats equal to 0 or 1 are accepted. The message of the
    ``ValueError`` gives the first bad entry and where it is.
    """
    array = as_float_array(values, name)
    _require_labels(values, array, name)
    return array.astype(np.int64)


def check_one_dimensional(array, name):
    """Raise ``ValueError`` unless ``array`` (an ndarray) is one-dimensional."""
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be one-dimensional, got shape {tuple(array.shape)}"
        )


def check_non_empty(values, name):
    """Raise ``ValueError`` if ``values`` (an array or a DataFrame) is empty."""
    if isinstance(values, pd.DataFrame):
        if len(values) == 0:
            raise ValueError(f"{name} must not be empty, got 0 rows")
        return
    if np.size(values) == 0:
        raise ValueError(
            f"{name} must not be empty, got shape {tuple(np.shape(values))}"
        )


def check_same_length(first, second, first_name, second_name):
    """Raise ``ValueError`` unless ``first`` and ``second`` have the same length."""
    if len(first) != len(second):
        raise ValueError(
            f"{first_name} and {second_name} must have the same length, "
            f"got {len(first)} and {len(second)}"
        )


def check_labels_and_scores(y_true, y_score, score_name, probabilities=True):
    """Check a pair of labels and scores as every metric needs them.

    Both must be one-dimensional, non-empty and of the same length; ``y_true``
    must hold 0 and 1; ``y_score`` must hold probabilities in [0, 1] when
    ``probabilities`` is true and otherwise any numbers but NaN.

    Returns
    -------
    labels : numpy.ndarray of int64, shape (n_samples,)
    scores : numpy.ndarray of float64, shape (n_samples,)
    """
    labels = as_float_array(y_true, "y_true")
    scores = as_float_array(y_score, score_name)

    check_one_dimensional(labels, "y_true")
    check_one_dimensional(scores, score_name)
    check_non_empty(labels, "y_true")
    check_same_length(labels, scores, "y_true", score_name)

    _require_labels(y_true, labels, "y_true")
    if probabilities:
        _require_probabilities(y_score, scores, score_name)
    else:
        _require_no_nan(y_score, scores, score_name)
    return labels.astype(np.int64), scores


def check_frame(frame, name):
    """Raise ``TypeError`` unless ``frame`` is a pandas DataFrame."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame, got {type(frame).__name__}"
        )


def _column_list(frame):
    """Return the column names of ``frame`` for a message, shortened if long."""
    names = [describe(column) for column in frame.columns[:_SHOWN_COLUMNS]]
    if len(frame.columns) > _SHOWN_COLUMNS:
        names.append(f"... ({len(frame.columns)} in all)")
    return "[" + ", ".join(names) + "]"


def check_frame_has_columns(frame, columns, name):
    """Raise unless ``frame`` is a DataFrame holding every name in ``columns``.

    Raises ``TypeError`` for a non-DataFrame and ``ValueError`` naming the
    missing columns and the ones that are there.
    """
    check_frame(frame, name)

    missing = [column for column in columns if column not in frame.columns]
    if missing:
        listed = ", ".join(describe(column) for column in missing)
        noun = "column" if len(missing) == 1 else "columns"
        raise ValueError(
            f"{name} has no {noun} {listed}; its columns are {_column_list(frame)}"
        )
