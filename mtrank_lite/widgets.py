"""Sliders wired to pure figure functions, live in a kernel and static on the web.

An :class:`Explorer` takes a function that draws a matplotlib figure from a few
parameters, and a grid of values for each parameter. In JupyterLab, Binder and
Colab it shows ipywidgets sliders over the grids and the figure for the current
values. In the built website, where no kernel runs, the same output carries a
static form: the figures for every point of the grids, precomputed as PNG
images, and a few lines of JavaScript that swap them as a range input moves.
"""

import base64
import functools
import html
import inspect
import io
import json
import math
import numbers
import sys
import uuid
from collections.abc import Iterable, Mapping

import ipywidgets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

__all__ = ["Explorer", "Grid"]

_UNSET = object()


def _describe(value):
    """Return a short text naming a value and its type, for error messages."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _format_value(value):
    """Return the label that a slider shows for one grid value."""
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return format(float(value), "g")
    return str(value)


def _show_labels(labels):
    """Return grid labels as a bracketed list for error messages."""
    return "[" + ", ".join(labels) + "]"


def _position_of(values, value):
    """Return the index of ``value`` in ``values``, or None if it is not there."""
    for position, candidate in enumerate(values):
        try:
            # Arrays compare elementwise; bool() of such a result raises, and
            # those values simply do not match.
            if candidate is value or bool(candidate == value):
                return position
        except (TypeError, ValueError):
            continue
    return None


class Grid:
    """The values one slider steps through, its starting value and its label.

    Parameters
    ----------
    values : sequence
        The grid, in slider order, with at least one value. Values must have
        distinct labels (floats are shown with the ``g`` format, others with
        ``str``).
    default : object, optional
        The value the slider starts at; it must be one of ``values``. Defaults
        to the first value.
    label : str, optional
        The text beside the slider. Defaults to the parameter name.

    Attributes
    ----------
    values : tuple
        The grid values, in slider order.
    labels : tuple of str
        What the slider shows for each value.
    default_position : int
        Index of the starting value in ``values``.

    Examples
    --------
    >>> grid = Grid([0.01, 0.1, 1.0], default=0.1, label="keep rate alpha")
    >>> grid.default, grid.labels
    (0.1, ('0.01', '0.1', '1'))
    """

    def __init__(self, values, default=_UNSET, label=None):
        # Arrays and ranges are fine; a string would be a grid of characters.
        text_like = isinstance(values, (str, bytes, Mapping))
        if text_like or not isinstance(values, Iterable):
            raise TypeError(
                f"values must be a sequence of grid values, got {_describe(values)}"
            )
        values = tuple(values)
        if len(values) == 0:
            raise ValueError("values must hold at least one grid value, got ()")
        labels = [_format_value(value) for value in values]
        for position, text in enumerate(labels):
            if text in labels[:position]:
                raise ValueError(
                    f"values must have distinct labels, got {text} twice "
                    f"in {_show_labels(labels)}"
                )
        if label is not None and not isinstance(label, str):
            raise TypeError(f"label must be a str or None, got {_describe(label)}")

        if default is _UNSET:
            default_position = 0
        else:
            default_position = _position_of(values, default)
            if default_position is None:
                raise ValueError(
                    f"default must be one of the grid values {_show_labels(labels)}, "
                    f"got {_describe(default)}"
                )

        self.values = values
        self.labels = tuple(labels)
        self.default_position = default_position
        self.label = label

    @property
    def default(self):
        """The value the slider starts at."""
        return self.values[self.default_position]

    def __len__(self):
        return len(self.values)

    def __repr__(self):
        return (
            f"Grid([{', '.join(self.labels)}], "
            f"default={self.labels[self.default_position]}, label={self.label!r})"
        )


_SCRIPT = """\
(function () {
  var root = document.getElementById("%(root)s");
  var data = JSON.parse(document.getElementById("%(root)s-data").textContent);
  var inputs = root.querySelectorAll("input[type=range]");
  var image = root.querySelector("img");
  var summary = root.querySelector(".mtrank-explorer-summary");
  function show() {
    var frame = 0;
    inputs.forEach(function (input, axis) {
      var position = Number(input.value);
      var label = data.labels[axis][position];
      frame = frame * data.labels[axis].length + position;
      root.querySelector("output[for='" + input.id + "']").textContent = label;
      input.setAttribute("aria-valuetext", label);
    });
    image.src = "data:image/png;base64," + data.frames[frame];
    summary.innerHTML = data.summaries[frame];
  }
  inputs.forEach(function (input) { input.addEventListener("input", show); });
})();
"""


class Explorer:
    """Sliders over parameter grids, wired to a pure function that draws a figure.

    Displaying an explorer shows, in a Jupyter kernel, one ipywidgets slider
    per parameter above the figure for the current values; moving a slider
    replaces the figure (and the summary, if any), so exactly one figure is
    ever shown. The same output also carries a static HTML form with every
    frame of the grids precomputed, which the course website shows where no
    kernel runs. Frames are cached by their parameters, so displaying an
    explorer costs one call of ``render`` per frame, and every slider move
    after that only swaps an image.

    Parameters
    ----------
    render : callable
        ``render(**params)`` returns a matplotlib ``Figure``, or a pair
        ``(figure, summary)`` where ``summary`` is a short HTML string of the
        numbers the figure shows. It must be a pure function of its
        parameters; the explorer closes each figure once it is drawn. Figures
        made with ``layout="constrained"`` give frames of one size; others are
        cropped to their content, as Jupyter's inline figures are.
    controls : mapping of str to Grid or sequence
        One slider per entry: the parameter name, and either a :class:`Grid`
        or a plain sequence of grid values (which starts at its first value).
    description : str, optional
        A sentence shown above the sliders, as plain text.
    dpi : float, default 100
        Resolution at which figures are turned into PNG images.
    max_frames : int, default 200
        Largest number of frames (the product of the grid sizes) the static
        form may precompute.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The live control: description, sliders, figure image and summary.
    params : dict
        The current value of every parameter.

    Raises
    ------
    TypeError
        If ``render`` is not callable, ``controls`` is not a mapping, or
        ``render`` cannot be called with the control names.
    ValueError
        If a control name is not an identifier, a grid is empty or its default
        is not in it, or the grids give more than ``max_frames`` frames.

    Examples
    --------
    With ``draw(alpha)`` returning a figure, as the last line of a cell:

    >>> Explorer(draw, {"alpha": Grid([0.01, 0.1, 1.0], default=0.1)})
    Explorer(alpha=0.1)
    """

    def __init__(self, render, controls, *, description=None, dpi=100, max_frames=200):
        if not callable(render):
            raise TypeError(f"render must be callable, got {_describe(render)}")
        if not isinstance(controls, Mapping):
            raise TypeError(
                f"controls must map parameter names to grids, got {_describe(controls)}"
            )
        if len(controls) == 0:
            raise ValueError("controls must name at least one parameter, got {}")
        grids = {}
        for name, grid in controls.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(
                    f"control names must be Python identifiers, got {_describe(name)}"
                )
            if not isinstance(grid, Grid):
                try:
                    grid = Grid(grid)
                except (TypeError, ValueError) as error:
                    raise type(error)(f"controls[{name!r}]: {error}") from None
            grids[name] = grid
        if description is not None and not isinstance(description, str):
            raise TypeError(
                f"description must be a str or None, got {_describe(description)}"
            )
        if not isinstance(dpi, numbers.Real) or not dpi > 0:
            raise ValueError(f"dpi must be a positive number, got {_describe(dpi)}")
        if not isinstance(max_frames, numbers.Integral) or max_frames < 1:
            raise ValueError(
                f"max_frames must be a positive integer, got {_describe(max_frames)}"
            )
        n_frames = math.prod(len(grid) for grid in grids.values())
        if n_frames > max_frames:
            sizes = " x ".join(str(len(grid)) for grid in grids.values())
            if len(grids) > 1:
                sizes = f"{sizes} = {n_frames}"
            raise ValueError(
                f"the grids give {sizes} frames, more than max_frames={max_frames};"
                " use coarser grids, fewer controls or a larger max_frames"
            )
        try:
            signature = inspect.signature(render)
        except (TypeError, ValueError):
            signature = None  # some builtins have no signature; calls will tell
        if signature is not None:
            try:
                signature.bind(**{name: grid.default for name, grid in grids.items()})
            except TypeError as error:
                raise TypeError(
                    f"render cannot be called with the parameters {list(grids)}: "
                    f"{error}"
                ) from None

        self._render = render
        self._grids = grids
        self._positions = {name: grid.default_position for name, grid in grids.items()}
        self._frames = {}
        self._syncing = False
        self.description = description
        self.dpi = dpi
        self.max_frames = max_frames
        self.widget = self._build_widget()
        self._show()

    @property
    def params(self):
        """The current value of every parameter, as a dict."""
        return {
            name: grid.values[self._positions[name]]
            for name, grid in self._grids.items()
        }

    def update(self, **params):
        """Move sliders to new values and show the figure for them.

        Parameters
        ----------
        **params
            New values for some or all parameters; each must be a value of its
            grid. Parameters left out keep their current values.

        Raises
        ------
        ValueError
            If a name is not one of the controls or a value is not in its grid.

        Examples
        --------
        >>> explorer.update(alpha=0.5)
        >>> explorer.params["alpha"]
        0.5
        """
        positions = self._positions_for(params)

        self._positions.update(positions)
        # Setting a slider fires its observer; the flag keeps that from drawing
        # a frame per slider when several parameters change at once.
        self._syncing = True
        try:
            for name, position in positions.items():
                self._sliders[name].value = position
        finally:
            self._syncing = False
        self._show()

    def frame(self, **params):
        """Return the PNG image and summary for some parameter values.

        Parameters
        ----------
        **params
            Values for some or all parameters, each in its grid; the others
            take their current values. The sliders do not move.

        Returns
        -------
        png : bytes
            The figure as a PNG image.
        summary : str
            The summary HTML returned by ``render``, or ``""``.

        Examples
        --------
        >>> png, summary = explorer.frame(alpha=0.1)
        >>> png[:4]
        b'\\x89PNG'
        """
        positions = dict(self._positions)
        positions.update(self._positions_for(params))
        return self._frame_at(tuple(positions[name] for name in self._grids))

    def to_html(self):
        """Return the static form: range inputs that swap precomputed frames.

        The HTML is self-contained (images are inline, the script is a few
        lines of plain JavaScript) and needs no kernel and no network. Each
        call uses new element ids, so several explorers can share one page.

        Returns
        -------
        str
            An HTML fragment holding every frame of the grids.

        Examples
        --------
        >>> page = explorer.to_html()
        >>> page.count('type="range"')
        1
        """
        names = list(self._grids)
        grids = [self._grids[name] for name in names]
        frames = []
        summaries = []
        for positions in _grid_positions([len(grid) for grid in grids]):
            png, summary = self._frame_at(positions)
            frames.append(base64.b64encode(png).decode("ascii"))
            summaries.append(summary)
        current = _flat_index(
            [self._positions[name] for name in names], [len(grid) for grid in grids]
        )
        root = f"mtrank-explorer-{uuid.uuid4().hex[:12]}"
        data = {"labels": [list(grid.labels) for grid in grids]}
        data["frames"] = frames
        data["summaries"] = summaries
        # "<" escaped as \u003c keeps "</script>" in a summary from ending the
        # data block early; JSON.parse reads it back unchanged.
        payload = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")

        parts = [f'<div class="mtrank-explorer" id="{root}">']
        if self.description is not None:
            parts.append(
                '<p class="mtrank-explorer-description">'
                f"{html.escape(self.description)}</p>"
            )
        # One grid row per control keeps the sliders aligned under each other.
        parts.append(
            '<div class="mtrank-explorer-controls" style="display:grid;'
            "grid-template-columns:max-content minmax(8em,24em) max-content;"
            'align-items:center;gap:0.25em 0.75em;margin:0.5em 0">'
        )
        for axis, (name, grid) in enumerate(zip(names, grids)):
            input_id = f"{root}-{axis}"
            position = self._positions[name]
            value = html.escape(grid.labels[position])
            parts.append(
                f'<label for="{input_id}">{html.escape(_label_of(name, grid))}</label>'
                f'<input type="range" id="{input_id}" name="{html.escape(name)}" '
                f'min="0" max="{len(grid) - 1}" step="1" value="{position}" '
                f'aria-valuetext="{value}">'
                f'<output for="{input_id}">{value}</output>'
            )
        parts.append("</div>")
        alt = html.escape(self.description or f"Figure for {', '.join(names)}")
        parts.append(
            f'<img src="data:image/png;base64,{frames[current]}" alt="{alt}" '
            'style="max-width:100%;height:auto;display:block">'
        )
        parts.append(
            f'<div class="mtrank-explorer-summary">{summaries[current]}</div>'
        )
        parts.append(
            f'<script type="application/json" id="{root}-data">{payload}</script>'
        )
        parts.append(f"<script>\n{_SCRIPT % {'root': root}}</script>")
        parts.append("</div>")
        return "\n".join(parts)

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Return the live widget's output bundle plus the static form.

        Jupyter frontends with a widget manager show the widget view; the
        book's HTML builder ranks ``text/html`` first and shows the static form.
        """
        bundle = _widget_bundle(self.widget) or {}
        bundle["text/plain"] = repr(self)
        bundle["text/html"] = self.to_html()
        return bundle

    def __repr__(self):
        values = ", ".join(
            f"{name}={grid.labels[self._positions[name]]}"
            for name, grid in self._grids.items()
        )
        return f"Explorer({values})"

    def _positions_for(self, params):
        """Check parameter values against their grids and return their indices."""
        positions = {}
        for name, value in params.items():
            if name not in self._grids:
                raise ValueError(
                    f"unknown parameter {name!r}; the controls are {list(self._grids)}"
                )
            grid = self._grids[name]
            position = _position_of(grid.values, value)
            if position is None:
                raise ValueError(
                    f"{name} must be one of the grid values "
                    f"{_show_labels(grid.labels)}, got {_describe(value)}"
                )
            positions[name] = position
        return positions

    def _frame_at(self, positions):
        """Return the cached (png, summary) for a tuple of grid indices."""
        if positions not in self._frames:
            params = {
                name: grid.values[position]
                for (name, grid), position in zip(self._grids.items(), positions)
            }
            self._frames[positions] = _draw(self._render, params, self.dpi)
        return self._frames[positions]

    def _build_widget(self):
        """Create the sliders, image and summary, and wire the sliders."""
        self._sliders = {}
        # A common label width keeps the sliders aligned under each other.
        widest = max(len(_label_of(name, grid)) for name, grid in self._grids.items())
        for name, grid in self._grids.items():
            slider = ipywidgets.SelectionSlider(
                # Options carry grid indices, so any value, even an array, can
                # sit on the grid; the slider shows the labels.
                options=[(text, position) for position, text in enumerate(grid.labels)],
                value=self._positions[name],
                description=_label_of(name, grid),
                continuous_update=True,
                style={"description_width": f"{widest + 1}ch"},
                layout=ipywidgets.Layout(width="100%", max_width="36em"),
            )
            slider.observe(functools.partial(self._on_slider, name), names="value")
            self._sliders[name] = slider
        self._image = ipywidgets.Image(
            format="png", layout=ipywidgets.Layout(max_width="100%")
        )
        self._summary = ipywidgets.HTML()

        children = []
        if self.description is not None:
            children.append(ipywidgets.HTML(f"<p>{html.escape(self.description)}</p>"))
        children.extend(self._sliders.values())
        children.extend([self._image, self._summary])
        return ipywidgets.VBox(children)

    def _on_slider(self, name, change):
        """Show the frame for a slider that a reader moved."""
        if self._syncing:
            return
        self._positions[name] = change.new
        self._show()

    def _show(self):
        """Replace the shown image and summary with the current frame's."""
        png, summary = self._frame_at(tuple(self._positions.values()))
        self._image.value = png
        self._summary.value = summary


def _draw(render, params, dpi):
    """Call ``render(**params)`` and return its figure as PNG bytes and summary."""
    result = render(**params)

    try:
        figure, summary = result, ""
        if isinstance(result, tuple):
            if len(result) != 2:
                raise TypeError(
                    "render must return a Figure or a (Figure, summary) pair, got "
                    f"a tuple of {len(result)} items"
                )
            figure, summary = result
        if not isinstance(figure, Figure):
            raise TypeError(
                f"render must return a matplotlib Figure, got {_describe(figure)}"
            )
        if not isinstance(summary, str):
            raise TypeError(
                f"render's summary must be an HTML str, got {_describe(summary)}"
            )
        # A transparent figure shows black text on a dark page; PNGs for the
        # page get a white background unless the figure chose a colour.
        facecolor = figure.get_facecolor()
        if to_rgba(facecolor)[3] == 0:
            facecolor = "white"
        # A figure with a layout engine fits its own canvas, and every frame
        # keeps that size, so the page does not jump as the slider moves. One
        # without is cropped to what it draws, as Jupyter's inline figures are,
        # so that tick labels outside the axes are not cut off.
        crop = "tight" if figure.get_layout_engine() is None else None
        buffer = io.BytesIO()
        # Drawing on a fresh Agg canvas leaves pyplot's backend and rcParams
        # alone and works the same with or without a display.
        FigureCanvasAgg(figure).print_figure(
            buffer, format="png", dpi=dpi, facecolor=facecolor, bbox_inches=crop
        )
    finally:
        _close(result)
    return buffer.getvalue(), summary


def _close(figure):
    """Forget a figure in pyplot, so the inline backend never displays it."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return  # without pyplot no figure can be registered with it
    if isinstance(figure, tuple):
        for item in figure:
            if isinstance(item, Figure):
                pyplot.close(item)
    elif isinstance(figure, Figure):
        pyplot.close(figure)


def _label_of(name, grid):
    """Return the text beside a slider: the grid's label or the parameter name."""
    return grid.label if grid.label is not None else name


def _grid_positions(sizes):
    """Yield every tuple of grid indices, the last axis varying fastest."""
    if not sizes:
        yield ()
        return
    for first in range(sizes[0]):
        for rest in _grid_positions(sizes[1:]):
            yield (first, *rest)


def _flat_index(positions, sizes):
    """Return the row-major index of a tuple of grid indices."""
    index = 0
    for position, size in zip(positions, sizes):
        index = index * size + position
    return index


def _widget_bundle(widget):
    """Return the widget-view output bundle of a widget, or None if closed."""
    # ipywidgets 8 gives widgets a _repr_mimebundle_; ipywidgets 7, which Colab
    # ships, displays them through _ipython_display_ with the same view data.
    make_bundle = getattr(widget, "_repr_mimebundle_", None)
    if callable(make_bundle):
        return make_bundle()
    if getattr(widget, "comm", None) is None:
        return None
    return {
        "application/vnd.jupyter.widget-view+json": {
            "version_major": 2,
            "version_minor": 0,
            "model_id": widget.model_id,
        }
    }
