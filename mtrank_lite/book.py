"""Glue computed numbers into the book's prose, wherever the chapter runs.

The built website inserts numbers computed by a chapter into its text with
myst-nb's ``glue``. In Colab or a plain JupyterLab myst-nb may be missing; the
chapter must still run, so :func:`glue` then just returns the value.
"""

__all__ = ["glue"]


def glue(name, value, display=False):
    """Record ``value`` under ``name`` for the book.

    Parameters
    ----------
    name : str
        The key that the prose refers to, as in ``{glue:text}`name```.
    value : object
        A number, string, DataFrame or figure.
    display : bool, default False
        Whether to also show the value in the cell's output.

    Examples
    --------
    >>> glue("answer", 42)
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")

    # numpy scalars print as "np.float64(...)", which the book cannot format.
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()

    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # outside the book build: nothing to record
        myst_glue = None

    if myst_glue is not None:
        myst_glue(name, value, display=display)
    elif display:
        from IPython.display import display as show

        show(value)
