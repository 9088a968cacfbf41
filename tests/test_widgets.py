"""Tests of mtrank_lite.widgets: the live explorer, its cache and its static form."""

import base64
import io
import json
import re
import warnings
from html.parser import HTMLParser

import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imread

from mtrank_lite.widgets import Explorer, Grid

ALPHAS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.8, 1.0]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def draw_inflation(alpha):
    """A small pure figure function: inflated against true click rate."""
    figure = Figure(figsize=(3, 2), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    p_true = np.linspace(0.01, 0.99, 50)
    p_inflated = p_true / (p_true + (1 - p_true) * alpha)
    axes.plot(p_true, p_inflated)
    axes.set_title(f"alpha = {alpha}")
    return figure, f"mean inflated rate <b>{p_inflated.mean():.3f}</b>"


def draw_weights(w_click, w_like):
    """A two-parameter figure drawn with pyplot, as chapters often do."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(3, 2))
    axes.bar(["click", "like"], [w_click, w_like])
    axes.set_ylim(0, 1)
    return figure


def png_of(figure, dpi=100):
    """Draw a figure to PNG independently of the explorer."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_figure(
        buffer, format="png", dpi=dpi, facecolor="white"
    )
    return buffer.getvalue()


class Counter:
    """Wraps a render function and counts its calls per parameter set."""

    def __init__(self, render):
        self.render = render
        self.calls = []

    def __call__(self, **params):
        self.calls.append(params)
        return self.render(**params)


class StaticForm(HTMLParser):
    """Collects the elements of an explorer's static form."""

    def __init__(self):
        super().__init__()
        self.elements = []
        self.scripts = []
        self._in_script = None

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = dict(attrs)
            self.scripts.append([dict(attrs), ""])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            self.scripts[-1][1] += data

    def find(self, tag, **wanted):
        return [
            attrs
            for name, attrs in self.elements
            if name == tag
            and all(attrs.get(key) == value for key, value in wanted.items())
        ]

    def data(self):
        (payload,) = [
            text
            for attrs, text in self.scripts
            if attrs.get("type") == "application/json"
        ]
        return json.loads(payload)


def parse(page):
    form = StaticForm()
    form.feed(page)
    return form


@pytest.fixture
def explorer():
    return Explorer(draw_inflation, {"alpha": Grid(ALPHAS, default=0.1)})


# Grids


def test_grid_defaults_to_first_value_and_formats_labels():
    grid = Grid([0.5, 1, "top"])

    assert grid.default == 0.5
    assert grid.labels == ("0.5", "1", "top")
    assert grid.label is None
    assert len(grid) == 3


def test_grid_accepts_arrays_and_numpy_scalars():
    grid = Grid(np.array([0.1, 0.25]), default=np.float64(0.25), label="alpha")

    assert grid.default_position == 1
    assert grid.labels == ("0.1", "0.25")


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (([],), ValueError, "values must hold at least one grid value, got ()"),
        (("abc",), TypeError, "values must be a sequence of grid values, got 'abc'"),
        ((5,), TypeError, "values must be a sequence of grid values, got 5 (int)"),
        (([0.1, 0.2], 0.3), ValueError,
         "default must be one of the grid values [0.1, 0.2], got 0.3 (float)"),
        (([0.1, 0.10000000001],), ValueError, "values must have distinct labels"),
        (([1, 2], 1, 3), TypeError, "label must be a str or None, got 3 (int)"),
    ],
)
def test_grid_rejects_bad_input(arguments, error, message):
    with pytest.raises(error, match=re.escape(message)):
        Grid(*arguments)


# Construction


@pytest.mark.parametrize(
    ("render", "controls", "keywords", "error", "message"),
    [
        (3, {"alpha": ALPHAS}, {}, TypeError, "render must be callable, got 3 (int)"),
        (draw_inflation, [("alpha", ALPHAS)], {}, TypeError,
         "controls must map parameter names to grids, got [('alpha'"),
        (draw_inflation, {}, {}, ValueError,
         "controls must name at least one parameter, got {}"),
        (draw_inflation, {"alpha": []}, {}, ValueError,
         "controls['alpha']: values must hold at least one grid value, got ()"),
        (draw_inflation, {"alpha": 0.1}, {}, TypeError,
         "controls['alpha']: values must be a sequence of grid values, got 0.1"),
        (draw_inflation, {"alpha": Grid(ALPHAS, default=0.1)}, {"dpi": 0},
         ValueError, "dpi must be a positive number, got 0 (int)"),
        (draw_inflation, {"not a name": ALPHAS}, {}, ValueError,
         "control names must be Python identifiers, got 'not a name' (str)"),
        (draw_inflation, {"beta": ALPHAS}, {}, TypeError,
         "render cannot be called with the parameters ['beta']"),
        (draw_inflation, {"alpha": ALPHAS}, {"description": 7}, TypeError,
         "description must be a str or None, got 7 (int)"),
        (draw_weights, {"w_click": range(20), "w_like": range(11)}, {}, ValueError,
         "the grids give 20 x 11 = 220 frames, more than max_frames=200"),
        (draw_inflation, {"alpha": ALPHAS}, {"max_frames": 5}, ValueError,
         "the grids give 8 frames, more than max_frames=5"),
    ],
)
def test_explorer_rejects_bad_input(render, controls, keywords, error, message):
    with pytest.raises(error, match=re.escape(message)):
        Explorer(render, controls, **keywords)


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ("a figure", "render must return a matplotlib Figure, got 'a figure' (str)"),
        ((Figure(), 3), "render's summary must be an HTML str, got 3 (int)"),
        ((Figure(), "a", "b"), "a tuple of 3 items"),
    ],
)
def test_explorer_rejects_bad_render_results(result, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        Explorer(lambda alpha: result, {"alpha": ALPHAS})


def test_explorer_starts_at_the_defaults(explorer):
    assert explorer.params == {"alpha": 0.1}
    assert repr(explorer) == "Explorer(alpha=0.1)"
    children = explorer.widget.children
    (slider,) = [child for child in children if hasattr(child, "options")]
    assert slider.label == "0.1"


# Live updates


def test_second_update_leaves_exactly_one_figure_the_last_one(explorer):
    """Case 8: alpha 0.2 then 0.8 shows one figure, the one for 0.8."""
    explorer.update(alpha=0.2)
    explorer.update(alpha=0.8)

    images = [child for child in explorer.widget.children if hasattr(child, "format")]
    assert len(images) == 1
    figure, summary = draw_inflation(alpha=0.8)
    assert images[0].value == png_of(figure)
    assert images[0].value != png_of(draw_inflation(alpha=0.2)[0])
    assert explorer._summary.value == summary
    assert explorer.params == {"alpha": 0.8}
    assert explorer._sliders["alpha"].label == "0.8"


def test_moving_a_slider_shows_its_frame(explorer):
    slider = explorer._sliders["alpha"]

    slider.value = ALPHAS.index(0.5)

    assert explorer.params == {"alpha": 0.5}
    assert explorer._image.value == explorer.frame(alpha=0.5)[0]
    assert explorer._summary.value == draw_inflation(alpha=0.5)[1]


def test_update_moves_several_sliders_and_renders_once():
    render = Counter(draw_weights)
    explorer = Explorer(render, {"w_click": [0.0, 0.5, 1.0], "w_like": [0.0, 1.0]})
    render.calls.clear()

    explorer.update(w_click=1.0, w_like=1.0)

    assert render.calls == [{"w_click": 1.0, "w_like": 1.0}]
    assert explorer._sliders["w_click"].value == 2
    assert explorer._sliders["w_like"].value == 1


def test_frames_are_cached_by_parameters():
    render = Counter(draw_inflation)
    explorer = Explorer(render, {"alpha": ALPHAS})

    for alpha in [0.2, 0.8, 0.2, 0.8, 0.01]:
        explorer.update(alpha=alpha)

    assert render.calls == [{"alpha": 0.01}, {"alpha": 0.2}, {"alpha": 0.8}]


def test_frame_does_not_move_the_sliders(explorer):
    png, summary = explorer.frame(alpha=1.0)

    assert png.startswith(PNG_SIGNATURE)
    assert summary == draw_inflation(alpha=1.0)[1]
    assert explorer.params == {"alpha": 0.1}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"beta": 0.1}, "unknown parameter 'beta'; the controls are ['alpha']"),
        ({"alpha": 0.3},
         "alpha must be one of the grid values [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, "
         "0.8, 1], got 0.3 (float)"),
    ],
)
def test_update_rejects_names_and_values_off_the_grid(explorer, params, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        explorer.update(**params)
    assert explorer.params == {"alpha": 0.1}


def test_figures_are_closed_and_settings_untouched():
    import matplotlib.pyplot as plt

    plt.close("all")
    settings = dict(matplotlib.rcParams)
    backend = matplotlib.get_backend()

    explorer = Explorer(draw_weights, {"w_click": [0.0, 1.0], "w_like": [0.0, 1.0]})
    explorer.update(w_click=1.0)
    explorer.to_html()

    assert plt.get_fignums() == []
    assert dict(matplotlib.rcParams) == settings
    assert matplotlib.get_backend() == backend


def test_explorer_is_quiet(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explorer = Explorer(draw_inflation, {"alpha": ALPHAS})
        explorer.update(alpha=0.5)
        explorer._repr_mimebundle_()

    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("layout", "fits_canvas"), [("constrained", True), (None, False)]
)
def test_frames_keep_the_canvas_size_or_are_cropped_like_inline_figures(
    layout, fits_canvas
):
    def draw_with_outside_text(alpha):
        figure = Figure(figsize=(3, 2), layout=layout)
        figure.add_subplot().plot([0, alpha])
        # Text left of the canvas: cropping to the drawing takes it in.
        figure.text(-0.3, 0.5, "outside the canvas")
        return figure

    explorer = Explorer(draw_with_outside_text, {"alpha": [0.5, 1.0]})

    pngs = [explorer.frame(alpha=alpha)[0] for alpha in [0.5, 1.0]]
    heights, widths = zip(*(imread(io.BytesIO(png)).shape[:2] for png in pngs))
    if fits_canvas:
        assert set(widths) == {300} and set(heights) == {200}
    else:
        assert min(widths) > 300


def test_transparent_figures_get_a_white_background():
    def draw_transparent(alpha):
        figure = Figure(figsize=(1, 1), facecolor=(1, 1, 1, 0))
        figure.add_subplot().plot([0, alpha])
        return figure

    explorer = Explorer(draw_transparent, {"alpha": [0.5]})
    png = explorer.frame()[0]

    image = imread(io.BytesIO(png))
    assert image[0, 0, 3] == 1.0


# Output bundle and static form


def test_bundle_holds_the_widget_view_and_the_static_form(explorer):
    bundle = explorer._repr_mimebundle_()

    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == explorer.widget.model_id
    assert view["version_major"] == 2
    assert bundle["text/plain"] == "Explorer(alpha=0.1)"
    assert 'class="mtrank-explorer"' in bundle["text/html"]


def test_static_form_holds_every_frame_in_grid_order():
    explorer = Explorer(
        draw_weights,
        {"w_click": [0.0, 0.5, 1.0], "w_like": Grid([0.0, 1.0], label="like weight")},
        description="Weights <of> tasks",
    )

    form = parse(explorer.to_html())
    data = form.data()

    ranges = form.find("input", type="range")
    assert [(r["name"], r["min"], r["max"], r["value"]) for r in ranges] == [
        ("w_click", "0", "2", "0"),
        ("w_like", "0", "1", "0"),
    ]
    assert data["labels"] == [["0", "0.5", "1"], ["0", "1"]]
    expected = [
        base64.b64encode(explorer.frame(w_click=click, w_like=like)[0]).decode()
        for click in [0.0, 0.5, 1.0]
        for like in [0.0, 1.0]
    ]
    assert data["frames"] == expected
    assert data["summaries"] == [""] * 6
    (image,) = form.find("img")
    assert image["src"] == "data:image/png;base64," + expected[0]
    labels = [text for tag, text in _texts(explorer.to_html(), "label")]
    assert labels == ["w_click", "like weight"]
    assert "Weights &lt;of&gt; tasks" in explorer.to_html()


def test_static_form_starts_at_the_current_values(explorer):
    explorer.update(alpha=0.8)

    form = parse(explorer.to_html())

    (slider,) = form.find("input", type="range")
    assert slider["value"] == str(ALPHAS.index(0.8))
    assert slider["aria-valuetext"] == "0.8"
    (image,) = form.find("img")
    png = base64.b64decode(image["src"].removeprefix("data:image/png;base64,"))
    assert png == png_of(draw_inflation(alpha=0.8)[0])


def test_static_form_loads_nothing_and_keeps_its_data_block_closed():
    def draw_with_tricky_summary(alpha):
        return draw_inflation(alpha)[0], f"</script><b>{alpha}</b>"

    explorer = Explorer(draw_with_tricky_summary, {"alpha": [0.1, 0.2]})
    page = explorer.to_html()

    form = parse(page)
    assert form.data()["summaries"] == ["</script><b>0.1</b>", "</script><b>0.2</b>"]
    sources = [attrs.get("src", "") for _, attrs in form.elements]
    assert all(source == "" or source.startswith("data:") for source in sources)
    assert "http" not in page


def test_each_static_form_has_its_own_ids(explorer):
    first, second = parse(explorer.to_html()), parse(explorer.to_html())

    first_ids = {attrs["id"] for _, attrs in first.elements if "id" in attrs}
    second_ids = {attrs["id"] for _, attrs in second.elements if "id" in attrs}
    assert len(first_ids) == 3  # the root, the range input and the data block
    assert first_ids.isdisjoint(second_ids)


def _texts(page, tag):
    return re.findall(rf"<({tag})[^>]*>([^<]*)</{tag}>", page)


# In a kernel, as JupyterLab and Colab run it


@pytest.mark.slow
def test_in_a_kernel_updates_display_nothing_and_end_on_the_last_frame(tmp_path):
    """Case 8 in a real kernel with the inline backend and pyplot figures."""
    import nbformat
    from nbclient import NotebookClient

    cells = [
        "%matplotlib inline\n"
        "import matplotlib.pyplot as plt\n"
        "from mtrank_lite.widgets import Explorer\n"
        "def draw(alpha):\n"
        "    figure, axes = plt.subplots(figsize=(2, 2))\n"
        "    axes.plot([0, 1], [0, alpha])\n"
        "    return figure, f'alpha {alpha}'\n"
        "explorer = Explorer(draw, {'alpha': [0.1, 0.2, 0.8]})\n"
        "explorer",
        "explorer.update(alpha=0.2)\nexplorer.update(alpha=0.8)",
        "print(plt.get_fignums())\n"
        "import base64\n"
        "print(base64.b64encode(explorer.frame(alpha=0.8)[0]).decode())",
    ]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]

    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()

    shown, moved, checked = (cell.outputs for cell in notebook.cells)
    assert [output.output_type for output in shown] == ["execute_result"]
    assert set(shown[0].data) == {
        "text/plain",
        "text/html",
        "application/vnd.jupyter.widget-view+json",
    }
    assert moved == []
    open_figures, frame = checked[0].text.splitlines()
    assert open_figures == "[]"

    # The kernel's last word to the frontend about the image: the 0.8 frame.
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]
    images = [
        model
        for model in state["state"].values()
        if model["model_name"] == "ImageModel"
    ]
    assert len(images) == 1
    (buffer,) = images[0]["buffers"]
    assert buffer["path"] == ["value"]
    assert buffer["data"] == frame
