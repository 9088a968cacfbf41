"""Benchmark of the explorer: how long a slider move takes, and the static form.

Run with ``python benchmarks/bench_widgets.py``. It prints times and their
ratio to a budget of 100 ms per slider move (about where a reader stops
feeling that the figure follows the slider), not pass or fail:

1. ``update`` for a frame not yet drawn: the figure function, the PNG and the
   widget assignment, on the negative-downsampling chapter's figure over a log
   of 1,000,000 impressions, and on a plain two-line figure;
2. ``update`` for a frame already drawn (the cache);
3. ``to_html``, the static form the website shows: the time it adds to a
   build for one explorer, and its size in the page.
"""

import statistics
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mtrank_lite import make_world  # noqa: E402
from mtrank_lite.plots import downsampling_figure  # noqa: E402
from mtrank_lite.widgets import Explorer, Grid  # noqa: E402

BUDGET_S = 0.100
ALPHAS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
N_IMPRESSIONS = 1_000_000
CACHED_REPEATS = 50


def draw_lines(alpha):
    """A plain figure: two curves, a title and a one-line summary."""
    figure = Figure(figsize=(6, 3.5), layout="constrained")
    axes = figure.add_subplot()
    p_true = np.linspace(0.001, 0.999, 200)
    axes.plot(p_true, p_true, color="grey")
    axes.plot(p_true, p_true / (p_true + (1 - p_true) * alpha))
    axes.set_title(f"alpha = {alpha}")
    return figure, f"alpha = {alpha}"


def time_moves(explorer, values):
    """Return the seconds each ``update`` takes, in order."""
    seconds = []
    for alpha in values:
        start = time.perf_counter()
        explorer.update(alpha=alpha)
        seconds.append(time.perf_counter() - start)
    return seconds


def report(name, render):
    """Print move times and static-form cost for one figure function."""
    start = time.perf_counter()
    explorer = Explorer(render, {"alpha": Grid(ALPHAS, default=0.1)})
    first = time.perf_counter() - start

    others = [alpha for alpha in ALPHAS if alpha != 0.1]
    uncached = time_moves(explorer, others)
    revisits = [ALPHAS[step % len(ALPHAS)] for step in range(CACHED_REPEATS)]
    cached = time_moves(explorer, revisits)

    fresh = Explorer(render, {"alpha": Grid(ALPHAS, default=0.1)})
    start = time.perf_counter()
    page = fresh.to_html()
    static = time.perf_counter() - start

    uncached_median = statistics.median(uncached)
    cached_median = statistics.median(cached)
    print(f"\n{name}")
    print(f"  first frame, at construction   {first * 1e3:8.1f} ms")
    print(
        f"  move, frame not drawn yet      {uncached_median * 1e3:8.1f} ms median, "
        f"{max(uncached) * 1e3:.1f} ms worst of {len(uncached)}; "
        f"{uncached_median / BUDGET_S:.2f} x the 100 ms budget"
    )
    print(
        f"  move, frame in the cache       {cached_median * 1e3:8.3f} ms median, "
        f"{max(cached) * 1e3:.3f} ms worst of {len(cached)}; "
        f"{cached_median / BUDGET_S:.4f} x the budget"
    )
    print(
        f"  static form, {len(ALPHAS)} frames         {static * 1e3:8.1f} ms added to "
        f"the build, {len(page) / 1024:.0f} KiB in the page"
    )


def main():
    print(f"Explorer slider moves against a budget of {BUDGET_S * 1e3:.0f} ms")
    report("plain figure (two curves)", draw_lines)

    start = time.perf_counter()
    log = make_world(seed=0).impressions(N_IMPRESSIONS, seed=1)
    made = time.perf_counter() - start
    print(f"\n(log of {len(log):,} impressions made in {made:.1f} s)")
    report(
        "chapter figure: downsampling_figure over the log",
        partial(downsampling_figure, log, seed=0),
    )


if __name__ == "__main__":
    main()
