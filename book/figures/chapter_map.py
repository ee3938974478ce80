"""Draw the book's map (book/figures/chapter_map.svg): the chapters by part, and what each
builds on. Run ``python book/figures/chapter_map.py`` after changing the chapters or
``BUILDS_ON``; ``tests/test_chapter_map.py`` checks that every numbered chapter of _toc.yml
is on the map and that each arrow is backed by a link in the later chapter's text.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

HERE = Path(__file__).resolve().parent

#: Short titles, by chapter number.
TITLES = {
    1: "Zero gradients", 2: "The estimator zoo",
    3: "The negative identity", 4: "Projections & collapse", 5: "DAB bridges",
    6: "Discrete VAE", 7: "Learning to explain", 8: "Graph matching", 9: "Retrieval",
    10: "Globe TSP", 11: "Warcraft paths",
    12: "DAB sorting", 13: "DAB classification", 14: "DAB representations", 15: "DAB density",
    16: "Performance", 17: "Results and guide", 18: "Your own solver",
}
#: The parts, left to right: (label, chapters).
PARTS = [("Part I\nFoundations", [1, 2]), ("Part II\nMethods", [3, 4, 5]),
         ("Part III\nExperiments", list(range(6, 16))), ("Part IV\nPractice", [16, 17, 18])]
#: chapter -> the earlier chapters it builds on; chapter 17 gathers all of Part III. Each
#: chapter names them in its "Builds on" line, which tests/test_chapter_map.py checks.
BUILDS_ON = {
    2: [1], 3: [1], 4: [3], 5: [1],
    6: [2, 4, 5], 7: [2, 4], 8: [4], 9: [4], 10: [4], 11: [4],
    12: [5], 13: [5], 14: [5], 15: [5],
    16: [2], 17: list(range(6, 16)), 18: [3],
}
#: The height of each chapter's box centre. Part III's Identity experiments (6-11) sit above
#: its DAB experiments (12-15), DAB (5) beside them, and chapters 16 and 18 in the band
#: between the two groups, so that their arrows cross Part III without crossing a box.
HEIGHTS = {1: 0.0, 2: -0.6, 3: 0.0, 4: -0.6, 5: -5.5,
           **{c: -0.6 * (c - 6) for c in range(6, 12)},
           **{c: -4.6 - 0.6 * (c - 12) for c in range(12, 16)},
           16: -3.5, 17: -1.5, 18: -4.1}
COLOURS = ["#dbe9f6", "#fde2c8", "#d9f0d3", "#f6f0c8"]
WIDTH, HEIGHT, GAP = 3.4, 0.42, 0.7    # box size and the space between parts, in axis units


def positions() -> dict[int, tuple[float, float, int]]:
    """Each chapter's box: (left x, centre y, part)."""
    return {chapter: (part * (WIDTH + GAP), HEIGHTS[chapter], part)
            for part, (_, chapters) in enumerate(PARTS) for chapter in chapters}


def _arrow(ax, points):
    """A grey arrow along a polyline of (x, y) points, the head at the last one."""
    xs, ys = zip(*points)
    ax.plot(xs[:-1], ys[:-1], color="#999999", linewidth=0.5)
    ax.add_patch(FancyArrowPatch(points[-2], points[-1], arrowstyle="-|>", mutation_scale=7,
                                 color="#999999", linewidth=0.5, shrinkA=0, shrinkB=1))


def draw(path: Path = HERE / "chapter_map.svg") -> Path:
    plt.rcParams["svg.hashsalt"] = "discgrad"
    plt.rcParams["svg.fonttype"] = "none"     # text stays text: searchable, sharp
    where = positions()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    ax.set_xlim(-0.1, 4 * WIDTH + 3 * GAP + 0.1)
    ax.set_ylim(-6.8, 0.95)
    ax.axis("off")
    for part, (label, _) in enumerate(PARTS):
        ax.text(part * (WIDTH + GAP) + WIDTH / 2, 0.62, label, ha="center", va="center",
                fontsize=8, style="italic", color="#444444")
    for chapter, (x, y, part) in where.items():
        ax.add_patch(FancyBboxPatch((x, y - HEIGHT / 2), WIDTH, HEIGHT,
                                    boxstyle="round,pad=0.02,rounding_size=0.1",
                                    facecolor=COLOURS[part], edgecolor="#666666", linewidth=0.7))
        ax.text(x + 0.12, y, f"{chapter}  {TITLES[chapter]}", ha="left", va="center", fontsize=7)
    for chapter, earlier in BUILDS_ON.items():
        x1, y1, p1 = where[chapter]
        for source in earlier:
            x0, y0, p0 = where[source]
            if p0 == p1:                 # the same part: down its left side
                _arrow(ax, [(x0 + 0.2, y0 - HEIGHT / 2), (x1 + 0.2, y1 + HEIGHT / 2)])
            elif p1 - p0 == 1:           # the next part: straight across the gap
                _arrow(ax, [(x0 + WIDTH, y0), (x1, y1)])
            else:                        # over a part: down the gap, then along the band
                turn = x0 + WIDTH + GAP / 2
                _arrow(ax, [(x0 + WIDTH, y0), (turn, y0), (turn, y1), (x1, y1)])
    fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return path


if __name__ == "__main__":
    print(draw())
