"""Every method on every task in one table, built from ``results/`` only.

Neither paper compares with the other: Sahoo et al. (2023) never try a learned bridge and
Ramapuram and Webb (2019) never try the identity. The book ran both families (and the
earlier estimators) on every task of Part III; this module gathers the recorded runs into

* :func:`overview`: rows = tasks, columns = method families (:data:`COLUMNS`), a cell =
  the task metric's mean, standard deviation and seed count, with the method that fills
  it and the results file it came from;
* :func:`cost_overview`: the same grid with the solver calls per training step (where the
  experiment recorded them) and the training wall time relative to Identity.

A column may list several methods of one experiment (Identity with P_mean, P_norm and
P_std, say); the cell shows the best of them by mean, and names it, so the choice is
visible. Each cell's file must exist and each of its runs carry provenance: a missing file
or a run without provenance raises, naming it (the book build then fails).

Book: Part IV, "Results across tasks and a guide to choosing" (chapter 17).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Mapping, Sequence

from discgrad.experiments.runner import mean_std
from discgrad.results import load_results, results_path

#: The method families, in the order of the table's columns.
COLUMNS = (
    "Identity, best projection",
    "Identity, no projection",
    "Blackbox",
    "I-MLE",
    "Perturbed",
    "Gumbel / straight-through",
    "Score function",
    "DAB",
)


@dataclass(frozen=True)
class Task:
    """A row of the overview: one experiment, one metric, one setting.

    Attributes:
        label: the row's title.
        experiment: the results file's name, ``results/<scale>/<experiment>.json``.
        metric: the final metric compared (a key of each run's ``metrics``).
        lower_is_better: the metric's direction.
        columns: ``{column: (method, ...)}``: the experiment's methods that may fill each
            column of :data:`COLUMNS`; the best of them by mean fills the cell.
        where: settings every run of the row must have (``{"k": 10}``, say).
        chapter: the chapter that runs the experiment.
    """

    label: str
    experiment: str
    metric: str
    lower_is_better: bool
    columns: Mapping[str, tuple[str, ...]]
    where: Mapping[str, object] = field(default_factory=dict)
    chapter: int = 0

    def __post_init__(self):
        unknown = [c for c in self.columns if c not in COLUMNS]
        if unknown:
            raise ValueError(f"task {self.label!r}: unknown columns {unknown}; use {list(COLUMNS)}")


@dataclass(frozen=True)
class Cell:
    """One filled cell: the chosen method's metric over seeds, its cost, and its source."""

    method: str
    mean: float
    std: float
    seeds: int
    wall_time_s: float
    solver_calls_per_step: float | None
    source: Path


def _runs_of(task: Task, runs: Sequence[Mapping], method: str) -> list[Mapping]:
    return [r for r in runs if r["method"] == method
            and all(r["settings"].get(k) == v for k, v in task.where.items())]


def task_cells(task: Task, scale: str = "cpu", root: Path | str | None = None) -> dict[str, Cell]:
    """The filled cells of one row: ``{column: Cell}`` (columns without runs are absent).

    Raises:
        FileNotFoundError: the task's results file is missing (named).
        ValueError: a run lacks provenance (from :func:`discgrad.results.load_results`),
            a listed method has no run in the file, or a run lacks the metric.
    """
    path = results_path(task.experiment, scale, root)
    if not path.exists():
        raise FileNotFoundError(f"{task.label}: results file {path} is missing")
    runs = load_results(path)["runs"]
    cells = {}
    for column, methods in task.columns.items():
        candidates = []
        for method in methods:
            chosen = _runs_of(task, runs, method)
            if not chosen:
                raise ValueError(f"{task.label}: {path} has no run of method {method!r}"
                                 f" with settings {dict(task.where)}")
            missing = [r["seed"] for r in chosen if task.metric not in r["metrics"]]
            if missing:
                raise ValueError(f"{task.label}: {path} method {method!r} seeds {missing} lack {task.metric!r}")
            mean, std = mean_std([r["metrics"][task.metric] for r in chosen])
            calls = [r["metrics"]["solver_calls_per_step"] for r in chosen
                     if "solver_calls_per_step" in r["metrics"]]
            wall = sum(r["provenance"]["wall_time_s"] for r in chosen) / len(chosen)
            candidates.append(Cell(method, mean, std, len(chosen), wall,
                                   sum(calls) / len(calls) if calls else None, path))
        sign = 1.0 if task.lower_is_better else -1.0
        cells[column] = min(candidates, key=lambda c: sign * c.mean)
    return cells


def overview(tasks: Sequence[Task], scale: str = "cpu", root: Path | str | None = None) -> dict[str, dict[str, Cell]]:
    """``{task label: {column: Cell}}`` for every task (see :func:`task_cells`)."""
    return {task.label: task_cells(task, scale, root) for task in tasks}


def best_columns(task: Task, cells: Mapping[str, Cell]) -> list[str]:
    """The columns whose mean is the row's best (several when tied exactly).

    Example:
        >>> t = Task("t", "x", "loss", True, {"Blackbox": ("b",), "DAB": ("d",)})
        >>> c = lambda m: Cell("m", m, 0.0, 3, 1.0, None, Path("x"))
        >>> best_columns(t, {"Blackbox": c(1.0), "DAB": c(2.0)})
        ['Blackbox']
    """
    if not cells:
        return []
    sign = 1.0 if task.lower_is_better else -1.0
    best = min(sign * c.mean for c in cells.values())
    return [name for name, c in cells.items() if sign * c.mean == best]


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if math.isnan(x) else f"{x:.{digits}g}"


def html_overview(tasks: Sequence[Task], table: Mapping[str, Mapping[str, Cell]]) -> str:
    """The metric table as HTML: best per row in bold, the chosen method in small type."""
    pad = ' style="padding: 3px 10px 3px 0; text-align: left; vertical-align: top"'
    head = "".join(f"<th{pad}>{escape(h)}</th>" for h in ("task (metric)", *COLUMNS))
    rows = []
    for task in tasks:
        cells = table[task.label]
        best = set(best_columns(task, cells))
        arrow = "lower" if task.lower_is_better else "higher"
        out = [f"<td{pad}>{escape(task.label)}<br><small>{escape(task.metric)}, {arrow} is better"
               f" (ch. {task.chapter})</small></td>"]
        for column in COLUMNS:
            cell = cells.get(column)
            if cell is None:
                out.append(f"<td{pad}>&mdash;</td>")
                continue
            value = f"{_fmt(cell.mean)} ± {_fmt(cell.std, 2)}"
            if column in best:
                value = f"<b>{value}</b>"
            out.append(f"<td{pad}>{value}<br><small>{escape(cell.method)}</small></td>")
        rows.append("<tr>" + "".join(out) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def cost_overview(tasks: Sequence[Task], table: Mapping[str, Mapping[str, Cell]],
                  reference: str = "Identity, best projection") -> dict[str, dict[str, tuple[float | None, float | None]]]:
    """``{task: {column: (solver calls per step, wall time / reference's)}}``.

    The time ratio is ``None`` where the row has no ``reference`` cell; the calls are
    ``None`` where the experiment did not record ``solver_calls_per_step``.
    """
    out = {}
    for task in tasks:
        cells = table[task.label]
        ref = cells.get(reference)
        out[task.label] = {
            column: (cell.solver_calls_per_step,
                     cell.wall_time_s / ref.wall_time_s if ref is not None else None)
            for column, cell in cells.items()}
    return out


def html_cost(tasks: Sequence[Task], costs: Mapping[str, Mapping[str, tuple]]) -> str:
    """The cost table as HTML: ``calls/step · time ×`` per cell."""
    pad = ' style="padding: 3px 10px 3px 0; text-align: left"'
    head = "".join(f"<th{pad}>{escape(h)}</th>" for h in ("task", *COLUMNS))
    rows = []
    for task in tasks:
        out = [f"<td{pad}>{escape(task.label)}</td>"]
        for column in COLUMNS:
            if column not in costs[task.label]:
                out.append(f"<td{pad}>&mdash;</td>")
                continue
            calls, ratio = costs[task.label][column]
            parts = [f"{calls:.3g} calls" if calls is not None else "calls n/r",
                     f"{ratio:.2g}× time" if ratio is not None else "time n/a"]
            out.append(f"<td{pad}>{' · '.join(parts)}</td>")
        rows.append("<tr>" + "".join(out) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _identity_margins(prefix: str) -> tuple[str, ...]:
    return (prefix, f"{prefix}_noise0.1", f"{prefix}_noise0.5", f"{prefix}_informed")


#: The rows of chapter 17, one per task of Part III, with the methods each column may use.
TASKS = (
    Task("Discrete VAE, top-k (digits)", "dvae", "test_nelbo", True, {
        "Identity, best projection": ("identity_mean", "identity_norm", "identity_std"),
        "Identity, no projection": ("identity",),
        "I-MLE": ("imle",),
        "Gumbel / straight-through": ("gumbel_st",),
        "Score function": ("score_function",),
    }, chapter=6),
    Task("Learning to explain, k = 10", "l2x", "test_mse", True, {
        "Identity, best projection": ("identity_std",),
        "Identity, no projection": ("identity",),
        "I-MLE": ("imle",),
        "Gumbel / straight-through": ("l2x", "softsub"),
    }, where={"k": 10}, chapter=7),
    Task("Keypoint matching", "graph_matching", "test_accuracy", False, {
        "Identity, best projection": _identity_margins("identity_norm"),
        "Identity, no projection": _identity_margins("identity_none"),
        "Blackbox": ("blackbox",),
    }, chapter=8),
    Task("Retrieval, digits", "retrieval", "recall@1", False, {
        "Identity, best projection": ("identity_mean", "identity_mean_margin", "identity_norm",
                                      "identity_norm_margin", "identity_std", "identity_std_margin"),
        "Identity, no projection": ("identity_none", "identity_none_margin"),
        "Blackbox": ("blackbox",),
    }, chapter=9),
    Task("Globe TSP, k = 5", "globe_tsp", "test_accuracy", False, {
        "Identity, best projection": ("identity_0", "identity_0.1", "identity_0.2", "identity_0.5"),
        "Blackbox": ("blackbox", "blackbox_0.5"),
    }, chapter=10),
    Task("Warcraft-like shortest path, 12x12", "warcraft", "test_cost_ratio", True, {
        "Identity, best projection": ("identity_norm",),
        "Identity, no projection": ("identity", "identity_noise"),
        "Blackbox": ("blackbox",),
    }, chapter=11),
)
