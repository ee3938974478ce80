"""Every method on every task in one table, built from ``results/`` only.

Neither paper compares with the other: Sahoo et al. (2023) never try a learned bridge and
Ramapuram and Webb (2019) never try the identity. The book ran both families (and the
earlier estimators) on every task of Part III; this module gathers the recorded runs into

* :func:`overview`: rows = tasks, columns = method families (:data:`COLUMNS`), a cell =
  the task metric's mean, standard deviation and seed count, with the method that fills
  it and the results file it came from;
* :func:`cost_overview`: the same grid with the solver calls per training step (where the
  experiment recorded them) and the training wall time relative to Identity.

A column may list several methods of one experiment, or several variants of one method
(Identity with P_norm and P_std, say). For an experiment recorded under the comparison
protocol (design section 11: runs with ``settings["variant"]`` and a validation metric), the
cell's variant is chosen on the **validation** metric and its test metric is shown; for an
experiment not yet rerun under the protocol, the best *test* mean is taken, as before, and
the cell says so. Every cell names its method, how many variants it was chosen from and on
which split. Each cell's file must exist and each of its runs carry provenance: a missing
file or a run without provenance raises, naming it (the book build then fails).

Book: Part IV, "Results across tasks and a guide to choosing" (chapter 17).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from html import escape
from pathlib import Path
from typing import Mapping, Sequence

from discgrad.experiments.summary import by_seed, compare, mean_std, paired_difference
from discgrad.results import load_results, recorded_path, results_path

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
        columns: ``{column: (candidate, ...)}``: what may fill each column of
            :data:`COLUMNS`; a candidate is a method name (all its variants) or
            ``(method, {knob: value})`` (the variants with those knob values).
        where: settings every run of the row must have (``{"k": 10}``, say).
        chapter: the chapter that runs the experiment.
    """

    label: str
    experiment: str
    metric: str
    lower_is_better: bool
    columns: Mapping[str, tuple]
    where: Mapping[str, object] = field(default_factory=dict)
    chapter: int = 0

    def __post_init__(self):
        unknown = [c for c in self.columns if c not in COLUMNS]
        if unknown:
            raise ValueError(f"task {self.label!r}: unknown columns {unknown}; use {list(COLUMNS)}")


@dataclass(frozen=True)
class Cell:
    """One filled cell: the chosen method's metric over seeds, its cost, and its source.

    ``variant`` is the chosen variant's knobs (empty for an experiment not under the
    protocol), ``n_variants`` how many candidates the cell was chosen from, ``chosen_on``
    ``"validation"`` or ``"test"``, and ``by_seed`` the test metric per seed (for the
    paired comparison).
    """

    method: str
    mean: float
    std: float
    seeds: int
    wall_time_s: float
    solver_calls_per_step: float | None
    source: Path
    variant: Mapping = field(default_factory=dict)
    n_variants: int = 1
    chosen_on: str = "test"
    by_seed: Mapping[int, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The method and its chosen knobs, e.g. ``identity (projection=std)``."""
        knobs = ", ".join(f"{k}={v}" for k, v in self.variant.items())
        return f"{self.method} ({knobs})" if knobs else self.method


def _runs_of(task: Task, runs: Sequence[Mapping], method: str) -> list[Mapping]:
    return [r for r in runs if r["method"] == method
            and all(r["settings"].get(k) == v for k, v in task.where.items())]


def _groups(runs: Sequence[Mapping], knobs: Mapping) -> dict[str, list[Mapping]]:
    """The runs of one method by variant (one group when not under the protocol)."""
    out: dict[str, list[Mapping]] = {}
    for run in runs:
        variant = run["settings"].get("variant")
        if variant is not None and any(variant.get(k) != v for k, v in knobs.items()):
            continue
        out.setdefault(repr(sorted((variant or {}).items())), []).append(run)
    return out


def _cell(task: Task, method: str, members: Sequence[Mapping], path: Path) -> Cell:
    missing = [r["seed"] for r in members if task.metric not in r["metrics"]]
    if missing:
        raise ValueError(f"{task.label}: {path} method {method!r} seeds {missing} lack {task.metric!r}")
    mean, std = mean_std([r["metrics"][task.metric] for r in members])
    calls = [r["metrics"]["solver_calls_per_step"] for r in members if "solver_calls_per_step" in r["metrics"]]
    wall = sum(r["provenance"]["wall_time_s"] for r in members) / len(members)
    return Cell(method, mean, std, len(members), wall, sum(calls) / len(calls) if calls else None, path,
                variant=dict(members[0]["settings"].get("variant") or {}),
                by_seed=by_seed(members, task.metric))


def task_cells(task: Task, scale: str = "cpu", root: Path | str | None = None) -> dict[str, Cell]:
    """The filled cells of one row: ``{column: Cell}`` (columns without runs are absent).

    Under the protocol the candidate with the best mean ``val_<metric>`` fills a cell
    (``task.metric`` is ``test_<metric>``); otherwise the best mean test metric does. The
    file is ``<root>/<scale>/<experiment>.json``; without ``root``, the book's recorded file
    (:func:`discgrad.results.recorded_path`: the checkout's or the installed package's).

    Raises:
        FileNotFoundError: the task's results file is missing (named).
        ValueError: a run lacks provenance (from :func:`discgrad.results.load_results`),
            a listed method has no run in the file, or a run lacks the metric.
    """
    path = recorded_path(task.experiment, scale) if root is None else results_path(task.experiment, scale, root)
    if not path.exists():
        raise FileNotFoundError(f"{task.label}: results file {path} is missing")
    runs = load_results(path)["runs"]
    protocol = all("variant" in r["settings"] for r in runs)
    chooser = "val_" + task.metric.removeprefix("test_") if protocol else task.metric
    sign = 1.0 if task.lower_is_better else -1.0
    cells = {}
    for column, candidates in task.columns.items():
        scored = []
        for candidate in candidates:
            method, knobs = (candidate, {}) if isinstance(candidate, str) else candidate
            groups = _groups(_runs_of(task, runs, method), knobs)
            if not groups:
                raise ValueError(f"{task.label}: {path} has no run of method {method!r} {dict(knobs)}"
                                 f" with settings {dict(task.where)}")
            for members in groups.values():
                if any(chooser not in r["metrics"] for r in members):
                    raise ValueError(f"{task.label}: {path} method {method!r} lacks {chooser!r}")
                score = mean_std([r["metrics"][chooser] for r in members])[0]
                scored.append((sign * score, method, members))
        best = min(scored, key=lambda item: item[0])  # the first of equals
        cell = _cell(task, best[1], best[2], path)
        cells[column] = replace(cell, n_variants=len(scored), chosen_on="validation" if protocol else "test")
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


#: Column titles short enough for nine columns on a book page.
SHORT = {
    "Identity, best projection": "Identity + proj.",
    "Identity, no projection": "Identity",
    "Blackbox": "Blackbox",
    "I-MLE": "I-MLE",
    "Perturbed": "Perturbed",
    "Gumbel / straight-through": "Gumbel / ST",
    "Score function": "Score fn.",
    "DAB": "DAB",
}

_TABLE = '<table style="font-size: 0.8em; line-height: 1.25">'
_PAD = ' style="padding: 3px 8px 3px 0; text-align: left; vertical-align: top"'


def _note(text: str) -> str:
    """A second line in small grey type; long method names may break after an underscore."""
    return f'<br><span style="font-size: 0.85em; opacity: 0.75">{escape(text).replace("_", "_<wbr>")}</span>'


def _head(first: str) -> str:
    return "".join(f"<th{_PAD}>{escape(h)}</th>" for h in (first, *(SHORT[c] for c in COLUMNS)))


def html_overview(tasks: Sequence[Task], table: Mapping[str, Mapping[str, Cell]]) -> str:
    """The metric table as HTML: best per row in bold, the chosen method in small grey type."""
    rows = []
    for task in tasks:
        cells = table[task.label]
        best = set(best_columns(task, cells))
        arrow = "lower" if task.lower_is_better else "higher"
        out = [f"<td{_PAD}>{escape(task.label)}{_note(f'ch. {task.chapter}: {task.metric}, {arrow} is better')}</td>"]
        for column in COLUMNS:
            cell = cells.get(column)
            if cell is None:
                out.append(f"<td{_PAD}>&mdash;</td>")
                continue
            value = f"{_fmt(cell.mean)}<br>± {_fmt(cell.std, 2)}"
            if column in best:
                value = f"<b>{value}</b>"
            out.append(f"<td{_PAD}>{value}{_note(cell_note(cell))}</td>")
        rows.append("<tr>" + "".join(out) + "</tr>")
    return f"{_TABLE}<thead><tr>{_head('task (metric)')}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def cell_note(cell: Cell) -> str:
    """What a cell says under its number: the method, how many variants, chosen on what.

    Example:
        >>> cell_note(Cell("imle", 1.0, 0.1, 10, 1.0, 2.0, Path("x"), {"lam": 100.0}, 3, "validation"))
        'imle (lam=100.0); 1 of 3, val.'
    """
    return f"{cell.name}; 1 of {cell.n_variants}, {'val.' if cell.chosen_on == 'validation' else 'test'}"


def _identity(cells: Mapping[str, Cell]) -> str | None:
    """The Identity column of a row: the best projection where it ran, else none."""
    for column in ("Identity, best projection", "Identity, no projection"):
        if column in cells:
            return column
    return None


def cost_overview(tasks: Sequence[Task], table: Mapping[str, Mapping[str, Cell]]
                  ) -> dict[str, dict[str, tuple[float | None, float | None]]]:
    """``{task: {column: (solver calls per step, wall time / Identity's)}}``.

    The reference is the row's Identity cell: with its best projection where one ran, else
    without. The time ratio is ``None`` where the row has no Identity cell; the calls are
    ``None`` where the experiment did not record ``solver_calls_per_step``.
    """
    out = {}
    for task in tasks:
        cells = table[task.label]
        ref = cells.get(_identity(cells))
        out[task.label] = {
            column: (cell.solver_calls_per_step,
                     cell.wall_time_s / ref.wall_time_s if ref is not None else None)
            for column, cell in cells.items()}
    return out


def html_cost(tasks: Sequence[Task], costs: Mapping[str, Mapping[str, tuple]]) -> str:
    """The cost table as HTML: solver calls per step and time relative to Identity per cell."""
    rows = []
    for task in tasks:
        out = [f"<td{_PAD}>{escape(task.label)}</td>"]
        for column in COLUMNS:
            if column not in costs[task.label]:
                out.append(f"<td{_PAD}>&mdash;</td>")
                continue
            calls, ratio = costs[task.label][column]
            parts = [f"{calls:.3g} call{'s' if calls != 1 else ''}" if calls is not None else "calls n/r",
                     f"{ratio:.2g}× time" if ratio is not None else "time n/a"]
            out.append(f"<td{_PAD}>{'<br>'.join(parts)}</td>")
        rows.append("<tr>" + "".join(out) + "</tr>")
    return f"{_TABLE}<thead><tr>{_head('task')}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _dab_task(label: str, experiment: str, metric: str, lower_is_better: bool,
              chapter: int, where: Mapping[str, object] | None = None) -> Task:
    """A row of the DAB paper's tasks: the hard layer is a signum, a top-k or a sample."""
    return Task(label, experiment, metric, lower_is_better, {
        "Identity, no projection": ("identity",),
        "Gumbel / straight-through": ("straight_through",),
        "DAB": ("dab",),
    }, where=where or {}, chapter=chapter)


#: The rows of chapter 17, one per task of Part III, with the methods each column may use.
TASKS = (
    Task("Discrete VAE, top-k (digits)", "dvae", "test_nelbo", True, {
        "Identity, best projection": ("identity_mean", "identity_norm", "identity_std"),
        "Identity, no projection": ("identity",),
        "I-MLE": ("imle",),
        "Gumbel / straight-through": ("gumbel_st",),
        "Score function": ("score_function",),
        "DAB": ("dab",),
    }, chapter=6),
    Task("Learning to explain, k = 10", "l2x", "test_mse", True, {
        "Identity, best projection": (("identity", {"projection": "norm"}), ("identity", {"projection": "std"})),
        "Identity, no projection": (("identity", {"projection": None}),),
        "I-MLE": ("imle",),
        "Gumbel / straight-through": ("l2x", "softsub"),
        "DAB": ("dab",),
    }, where={"k": 10}, chapter=7),
    Task("Keypoint matching", "graph_matching", "test_accuracy", False, {
        "Identity, best projection": (("identity", {"projection": "norm"}), ("identity", {"projection": "std"}),
                                      "identity_noise", "identity_informed"),
        "Identity, no projection": (("identity", {"projection": None}),),
        "Blackbox": ("blackbox",),
        "Perturbed": ("fenchel_young",),
        "DAB": ("dab",),
    }, where={"loss": "absolute"}, chapter=8),
    Task("Retrieval, digits", "retrieval", "test_recall@1", False, {
        "Identity, best projection": (("identity", {"projection": "mean"}), ("identity", {"projection": "norm"}),
                                      ("identity", {"projection": "std"}), "identity_noise"),
        "Identity, no projection": (("identity", {"projection": None}),),
        "Blackbox": ("blackbox", "blackbox_std"),
        "DAB": ("dab",),
    }, chapter=9),
    Task("Globe TSP, k = 5", "globe_tsp", "test_accuracy", False, {
        "Identity, best projection": ("identity_0", "identity_0.1", "identity_0.2", "identity_0.5"),
        "Blackbox": ("blackbox", "blackbox_0.5"),
        "Perturbed": ("perturbed",),
        "DAB": ("dab",),
    }, chapter=10),
    Task("Warcraft-like shortest path, 12x12", "warcraft", "test_cost_ratio", True, {
        "Identity, best projection": ("identity_norm",),
        "Identity, no projection": ("identity", "identity_noise"),
        "Blackbox": ("blackbox",),
        "Perturbed": ("perturbed",),
        "DAB": ("dab",),
    }, chapter=11),
    _dab_task("Sequence sorting, L = 5", "sorting", "test_accuracy", False, chapter=12),
    _dab_task("Classification through top-k", "dab_classification", "test_accuracy", False, chapter=13),
    Task("Autoencoder, binary code", "dab_autoencoder", "test_reconstruction", True, {
        "Identity, no projection": ("identity",),
        "Gumbel / straight-through": ("gumbel_st", "straight_through"),
        "DAB": ("dab",),
    }, where={"code": "binary"}, chapter=14),
    Task("Autoencoder, one-hot code", "dab_autoencoder", "test_reconstruction", True, {
        "Identity, no projection": ("identity",),
        "Gumbel / straight-through": ("gumbel_st", "straight_through"),
        "DAB": ("dab",),
    }, where={"code": "onehot"}, chapter=14),
    Task("Bernoulli VAE (density)", "dab_vae", "test_nelbo", True, {
        "Gumbel / straight-through": ("gumbel_st",),
        "Score function": ("reinforce", "relax"),
        "DAB": ("dab",),
    }, chapter=15),
)


def _compare(task: Task, cells: Mapping[str, Cell], a: str, b: str) -> str | None:
    """Paired by seed (95% paired t interval) where both cells were chosen on validation;
    else the older unpaired rule, until the row's experiment is rerun under the protocol."""
    if a not in cells or b not in cells:
        return None
    first, second = cells[a], cells[b]
    if first.chosen_on == second.chosen_on == "validation":
        return paired_difference(first.by_seed, second.by_seed, not task.lower_is_better).verdict
    pick = lambda c: (c.mean, c.std, c.seeds)  # noqa: E731
    return compare(pick(first), pick(second), task.lower_is_better)


def findings(tasks: Sequence[Task], table: Mapping[str, Mapping[str, Cell]]) -> dict[str, object]:
    """What chapter 17 states about the table; the chapter and a unit test assert it.

    "better", "worse" and "on par" are, for rows recorded under the protocol, the verdicts
    of :func:`~discgrad.experiments.summary.paired_difference` (the 95% paired t interval of
    the test metric's difference over seeds excludes 0, or not), and for the other rows
    :func:`~discgrad.experiments.summary.compare`'s (the intervals mean ± std over seeds do
    not overlap, or do). Per-row verdicts
    are ``{experiment or row label: verdict}`` for the rows where both methods ran.
    """
    def per_row(a: str | None, b: str, rows=tasks) -> dict[str, str]:
        out = {}
        for task in rows:
            cells = table[task.label]
            first = a or _identity(cells)
            verdict = _compare(task, cells, first, b) if first else None
            if verdict is not None:
                out[task.label] = verdict
        return out

    bests = {task.label: best_columns(task, table[task.label]) for task in tasks}
    dab_paper = [t for t in tasks if t.experiment in ("sorting", "dab_classification", "dab_autoencoder", "dab_vae")]
    return {
        "projection_vs_none": per_row("Identity, best projection", "Identity, no projection"),
        "identity_vs_blackbox": per_row(None, "Blackbox"),
        "perturbed_vs_blackbox": per_row("Perturbed", "Blackbox"),
        "perturbed_best_where_it_ran": all("Perturbed" in bests[t.label] for t in tasks
                                           if "Perturbed" in table[t.label]),
        "identity_vs_dab": per_row(None, "DAB"),
        "dab_best_nowhere": not any("DAB" in b for b in bests.values()),
        "identity_vs_dab_on_dab_paper_tasks": per_row("Identity, no projection", "DAB", dab_paper),
        "best_column": {label: b[0] if len(b) == 1 else b for label, b in bests.items()},
    }


#: What chapter 17 states about the committed cpu-scale table (``findings(TASKS, overview(TASKS))``).
#: No gpu run has been recorded, and no reading of the table holds by construction, so the
#: chapter reads the cpu table at every scale. ``FINDINGS["gpu"]`` holds the reading it states
#: at any scale (a projection helps Identity on every task where both ran); the chapter checks
#: it on the cpu table, and on a gpu table when ``table_scale`` is ``"gpu"``.
FINDINGS = {
    "cpu": {
        "projection_vs_none": {
            "Discrete VAE, top-k (digits)": "better", "Learning to explain, k = 10": "better",
            "Keypoint matching": "better", "Retrieval, digits": "better",
            "Warcraft-like shortest path, 12x12": "better"},
        "identity_vs_blackbox": {
            "Keypoint matching": "better", "Retrieval, digits": "better",
            "Globe TSP, k = 5": "on par", "Warcraft-like shortest path, 12x12": "worse"},
        "perturbed_vs_blackbox": {
            "Keypoint matching": "better", "Globe TSP, k = 5": "on par",
            "Warcraft-like shortest path, 12x12": "better"},
        "perturbed_best_where_it_ran": False,
        "identity_vs_dab": {
            "Discrete VAE, top-k (digits)": "on par", "Learning to explain, k = 10": "better",
            "Keypoint matching": "on par", "Retrieval, digits": "on par", "Globe TSP, k = 5": "better",
            "Warcraft-like shortest path, 12x12": "on par", "Sequence sorting, L = 5": "on par",
            "Classification through top-k": "better", "Autoencoder, binary code": "better",
            "Autoencoder, one-hot code": "better"},
        "dab_best_nowhere": False,
        "identity_vs_dab_on_dab_paper_tasks": {
            "Sequence sorting, L = 5": "on par", "Classification through top-k": "better",
            "Autoencoder, binary code": "better", "Autoencoder, one-hot code": "better"},
        "best_column": {
            "Discrete VAE, top-k (digits)": "Identity, best projection",
            "Learning to explain, k = 10": "Identity, best projection",
            "Keypoint matching": "Identity, best projection", "Retrieval, digits": "DAB",
            "Globe TSP, k = 5": "Perturbed", "Warcraft-like shortest path, 12x12": "Perturbed",
            "Sequence sorting, L = 5": "Gumbel / straight-through",
            "Classification through top-k": "Gumbel / straight-through",
            "Autoencoder, binary code": "Identity, no projection",
            "Autoencoder, one-hot code": "Identity, no projection",
            "Bernoulli VAE (density)": "Score function"},
    },
    "gpu": {
        "projection_vs_none": {
            "Discrete VAE, top-k (digits)": "better", "Learning to explain, k = 10": "better",
            "Keypoint matching": "better", "Retrieval, digits": "better",
            "Warcraft-like shortest path, 12x12": "better"},
    },
}


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, Cell]]:
    """``python -m discgrad.findings.overview [--scale cpu] [--root DIR]``: print chapter 17's
    table, from the recorded results (or a results folder of your own), as plain text."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m discgrad.findings.overview",
        description="Print chapter 17's table of every method on every task, read from the recorded runs "
                    "(each cell: the method chosen on validation, its test metric mean +- std over seeds, "
                    "and how many variants it was chosen from).")
    parser.add_argument("--scale", default="cpu", choices=("smoke", "cpu", "gpu"), help="the results' scale (default cpu)")
    parser.add_argument("--root", default=None, help="a results folder of your own (default: the recorded results)")
    args = parser.parse_args(argv)
    table = overview(TASKS, args.scale, args.root)
    for task in TASKS:
        print(f"{task.label} ({task.metric}, {'lower' if task.lower_is_better else 'higher'} is better)")
        for column, cell in table[task.label].items():
            print(f"  {column:28s} {_fmt(cell.mean)} +- {_fmt(cell.std)}  {cell.name}, "
                  f"{cell.n_variants} variant(s), chosen on {cell.chosen_on}, {cell.seeds} seeds")
    return table


if __name__ == "__main__":
    main()
