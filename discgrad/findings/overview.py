"""Every method on every task in one table, built from ``results/`` only.

Neither paper compares with the other: Sahoo et al. (2023) never try a learned bridge and
Ramapuram and Webb (2019) never try the identity. The book ran both families (and the
earlier estimators) on every task of Part III and on chapter 18's predict-then-optimize
problems; this module gathers the recorded runs into

* :func:`overview`: rows = tasks (:data:`TASKS`), columns = method families
  (:data:`COLUMNS`), a cell = the task metric's mean, standard deviation and seed count, with
  the method and variant that fill it and the results file it came from;
* :func:`findings`: the chapter's readings, paired verdicts by seed between the columns of
  each row;
* :func:`cost_overview`: the same grid with the solver calls per training step and the
  training wall time relative to Identity;
* :func:`html_overview`, :func:`html_cost`, :func:`plot_overview` and :func:`plot_guide`: the
  chapter's tables and figures.

Every experiment is recorded under the comparison protocol (design section 11: runs with
``settings["variant"]``, a validation and a test metric). A column may list several methods
of one experiment, or several variants of one method (Identity with P_norm and P_std, say):
the candidate with the best mean **validation** metric fills the cell, and its test metric is
shown, with how many candidates it was chosen from. Each cell's file must exist and each of
its runs carry provenance: a missing file, a run without provenance or a file recorded
before the protocol raises, naming it (the book build then fails).

Book: Part IV, "Results across tasks and a guide to choosing" (chapter 17).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Mapping, Sequence

from discgrad.chapter import display_name
from discgrad.experiments.summary import by_seed, mean_std, paired_difference
from discgrad.results import load_results, recorded_path, results_path

from . import protocol

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

#: Column titles short enough for nine columns on a book page; the table and the figure
#: use the same titles.
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


@dataclass(frozen=True)
class Task:
    """A row of the overview: one experiment, one metric, one setting.

    Attributes:
        label: the row's title.
        experiment: the results file's name, ``results/<scale>/<experiment>.json``.
        metric: the test metric compared, ``test_<name>`` (a key of each run's
            ``metrics``; ``val_<name>`` chooses the variant).
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
        if not self.metric.startswith("test_"):
            raise ValueError(f"task {self.label!r}: the metric {self.metric!r} must be a test metric, test_<name>")


@dataclass(frozen=True)
class Cell:
    """One filled cell: the chosen candidate's test metric over seeds, its cost, and its source.

    ``variant`` is the chosen variant's knobs, ``n_variants`` how many candidates the cell
    was chosen from (on the validation metric), ``by_seed`` the test metric per seed (for
    the paired comparisons), ``still_moving`` whether the chosen variant's mean validation
    curve had not flattened by the end of the budget
    (:func:`discgrad.findings.protocol.still_moving`), and ``beats_untrained`` whether its
    test metric beats the untrained network's, paired by seed.
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
    by_seed: Mapping[int, float] = field(default_factory=dict)
    still_moving: bool = False
    beats_untrained: bool = True

    @property
    def name(self) -> str:
        """The method and its chosen knobs, e.g. ``identity (projection=std)``."""
        knobs = ", ".join(f"{k}={v}" for k, v in self.variant.items())
        return f"{self.method} ({knobs})" if knobs else self.method


def _runs_of(task: Task, runs: Sequence[Mapping], method: str) -> list[Mapping]:
    return [r for r in runs if r["method"] == method
            and all(r["settings"].get(k) == v for k, v in task.where.items())]


def _groups(runs: Sequence[Mapping], knobs: Mapping) -> dict[str, list[Mapping]]:
    """The runs of one method by variant, keeping the variants with the given knob values."""
    out: dict[str, list[Mapping]] = {}
    for run in runs:
        variant = run["settings"]["variant"]
        if any(variant.get(k) != v for k, v in knobs.items()):
            continue
        out.setdefault(repr(sorted(variant.items())), []).append(run)
    return out


def _cell(task: Task, method: str, members: Sequence[Mapping], path: Path, n_variants: int) -> Cell:
    missing = [r["seed"] for r in members if task.metric not in r["metrics"]]
    if missing:
        raise ValueError(f"{task.label}: {path} method {method!r} seeds {missing} lack {task.metric!r}")
    name = task.metric.removeprefix("test_")
    mean, std = mean_std([r["metrics"][task.metric] for r in members])
    calls = [r["metrics"]["solver_calls_per_step"] for r in members if "solver_calls_per_step" in r["metrics"]]
    wall = sum(r["provenance"]["wall_time_s"] for r in members) / len(members)
    untrained = all(f"untrained_{task.metric}" in r["metrics"] for r in members)
    return Cell(method, mean, std, len(members), wall, sum(calls) / len(calls) if calls else None, path,
                variant=dict(members[0]["settings"]["variant"]), n_variants=n_variants,
                by_seed=by_seed(members, task.metric),
                still_moving=protocol.still_moving(members, name),
                beats_untrained=not untrained or protocol.beats_untrained(members, name, not task.lower_is_better))


def task_cells(task: Task, scale: str = "cpu", root: Path | str | None = None) -> dict[str, Cell]:
    """The filled cells of one row: ``{column: Cell}`` (columns without candidates are absent).

    Among a column's candidates, the variant with the best mean ``val_<name>`` over its seeds
    fills the cell (``task.metric`` is ``test_<name>``; the first of equals). The file is
    ``<root>/<scale>/<experiment>.json``; without ``root``, the book's recorded file
    (:func:`discgrad.results.recorded_path`: the checkout's or the installed package's).

    Raises:
        FileNotFoundError: the task's results file is missing (named).
        ValueError: a run lacks provenance (from :func:`discgrad.results.load_results`), the
            file was not recorded under the comparison protocol, a listed method has no run
            in the file, or a run lacks the metric.
    """
    path = recorded_path(task.experiment, scale) if root is None else results_path(task.experiment, scale, root)
    if not path.exists():
        raise FileNotFoundError(f"{task.label}: results file {path} is missing")
    runs = load_results(path)["runs"]
    old = sorted({r["method"] for r in runs if "variant" not in r["settings"]})
    if old:
        raise ValueError(f"{task.label}: {path} was not recorded under the comparison protocol "
                         f"(no settings['variant'] in the runs of {old}); rerun its experiment")
    chooser = "val_" + task.metric.removeprefix("test_")
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
        cells[column] = _cell(task, best[1], best[2], path, len(scored))
    return cells


def overview(tasks: Sequence[Task], scale: str = "cpu", root: Path | str | None = None) -> dict[str, dict[str, Cell]]:
    """``{task label: {column: Cell}}`` for every task (see :func:`task_cells`)."""
    return {task.label: task_cells(task, scale, root) for task in tasks}


def best_columns(task: Task, cells: Mapping[str, Cell]) -> list[str]:
    """The columns whose mean is the row's best (several when tied exactly).

    Example:
        >>> t = Task("t", "x", "test_loss", True, {"Blackbox": ("b",), "DAB": ("d",)})
        >>> c = lambda m: Cell("m", m, 0.0, 3, 1.0, None, Path("x"))
        >>> best_columns(t, {"Blackbox": c(1.0), "DAB": c(2.0)})
        ['Blackbox']
    """
    if not cells:
        return []
    sign = 1.0 if task.lower_is_better else -1.0
    best = min(sign * c.mean for c in cells.values())
    return [name for name, c in cells.items() if sign * c.mean == best]


def versus(task: Task, cells: Mapping[str, Cell], a: str, b: str) -> str | None:
    """Column ``a`` against column ``b`` of one row: the verdict of the 95% paired t interval
    of the test metric's difference over the seeds both ran (``"better"``, ``"worse"`` or
    ``"on par"``, for ``a``), or ``None`` where either column is empty."""
    if a not in cells or b not in cells:
        return None
    return paired_difference(cells[a].by_seed, cells[b].by_seed, not task.lower_is_better).verdict


def against_best(task: Task, cells: Mapping[str, Cell]) -> dict[str, str]:
    """``{column: "best" | "on par" | "worse"}``: each filled cell against the row's best mean,
    paired by seed (the best is the first of :func:`best_columns`)."""
    best = best_columns(task, cells)
    if not best:
        return {}
    return {c: "best" if c == best[0] else versus(task, cells, c, best[0]) for c in COLUMNS if c in cells}


def decimals(cells: Mapping[str, Cell]) -> int:
    """The decimals one row is printed with: three significant digits of its largest mean (at
    least one decimal), so that a row reads with one precision.

    Example:
        >>> c = lambda m: Cell("m", m, 0.0, 3, 1.0, None, Path("x"))
        >>> decimals({"a": c(0.961), "b": c(0.5)}), decimals({"a": c(13.66)}), decimals({"a": c(107.3)})
        (3, 1, 1)
    """
    largest = max((abs(c.mean) for c in cells.values()), default=0.0)
    return 3 if largest == 0 else max(1, 2 - math.floor(math.log10(largest)))


def method_name(task: Task, method: str) -> str:
    """The book's name of a method (:func:`discgrad.chapter.display_name`); a method named
    after its row's setting (``path_identity`` where ``problem == "path"``,
    ``dab_bounded`` where ``network == "bounded"``) takes its family's name.

    Example:
        >>> t = Task("t", "own_solver", "test_regret", True, {}, where={"problem": "path"})
        >>> method_name(t, "path_fenchel_young"), method_name(t, "blackbox")
        ('Fenchel-Young (perturbed)', 'Blackbox')
    """
    names = [method]
    for value in task.where.values():
        if isinstance(value, str):
            names += [method.removeprefix(f"{value}_"), method.removesuffix(f"_{value}")]
    for name in names:
        try:
            return display_name(name)
        except ValueError:
            continue
    return display_name(method)  # raises, naming the method


def knobs_text(variant: Mapping) -> str:
    """A variant's knobs as the book writes them.

    Example:
        >>> knobs_text({"projection": "std", "alpha": 0.5}), knobs_text({"projection": None}), knobs_text({})
        ('P_std, alpha=0.5', 'no projection', '')
    """
    parts = []
    for k, v in variant.items():
        if k == "projection":
            parts.append(f"P_{v}" if v else "no projection")
        else:
            parts.append(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}")
    return ", ".join(parts)


def cell_note(task: Task, cell: Cell) -> str:
    """What a cell says under its number: the method and variant, and how many variants the
    validation metric chose it from.

    Example:
        >>> t = Task("t", "x", "test_loss", True, {})
        >>> cell_note(t, Cell("imle", 1.0, 0.1, 10, 1.0, 2.0, Path("x"), {"lam": 100.0}, 3))
        'I-MLE (lam=100); 1 of 3'
    """
    knobs = knobs_text(cell.variant)
    name = method_name(task, cell.method)
    return f"{name} ({knobs}); 1 of {cell.n_variants}" if knobs else f"{name}; 1 of {cell.n_variants}"


_TABLE = '<table style="font-size: 0.8em; line-height: 1.25; min-width: 46em">'
_PAD = ' style="padding: 3px 8px 3px 0; text-align: left; vertical-align: top"'


def _note(text: str) -> str:
    """A second line in small grey type; long names may break after an underscore."""
    return f'<br><span style="font-size: 0.85em; opacity: 0.75">{escape(text).replace("_", "_<wbr>")}</span>'


def _head(first: str) -> str:
    return "".join(f"<th{_PAD}>{escape(h)}</th>" for h in (first, *(SHORT[c] for c in COLUMNS)))


def _wrap(table: str, caption: str) -> str:
    """A table that scrolls sideways on a narrow screen instead of being cut off, with its
    caption below it."""
    return (f'<div style="overflow-x: auto; max-width: 100%">{table}</div>'
            f'<p style="font-size: 0.85em; margin-top: 0.4em">{caption}</p>')


def html_overview(tasks: Sequence[Task], table: Mapping[str, Mapping[str, Cell]], caption: str = "") -> str:
    """The metric table as HTML: mean ± std per cell with one precision per row (:func:`decimals`),
    the best mean of each row in bold, the chosen method and its variant count in small grey
    type, a dagger where the chosen curve was still moving; scrolls on a narrow screen.

    Example:
        >>> t = Task("t", "x", "test_loss", True, {"DAB": ("dab",)})
        >>> page = html_overview([t], {"t": {"DAB": Cell("dab", 1.25, 0.5, 5, 1.0, 1.0, Path("x"))}}, "Table 1.")
        >>> "<b>1.25<br>± 0.50</b>" in page and "overflow-x: auto" in page and "Table 1." in page
        True
    """
    rows = []
    for task in tasks:
        cells = table[task.label]
        best, digits = set(best_columns(task, cells)), decimals(cells)
        arrow = "lower" if task.lower_is_better else "higher"
        metric = task.metric.removeprefix("test_")
        out = [f"<td{_PAD}>{escape(task.label)}{_note(f'ch. {task.chapter}: {metric}, {arrow} is better')}</td>"]
        for column in COLUMNS:
            cell = cells.get(column)
            if cell is None:
                out.append(f"<td{_PAD}>&mdash;</td>")
                continue
            value = f"{cell.mean:.{digits}f}<br>± {cell.std:.{digits}f}"
            if column in best:
                value = f"<b>{value}</b>"
            if cell.still_moving:
                value += "&thinsp;†"
            out.append(f"<td{_PAD}>{value}{_note(cell_note(task, cell))}</td>")
        rows.append("<tr>" + "".join(out) + "</tr>")
    body = f"{_TABLE}<thead><tr>{_head('task (metric)')}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return _wrap(body, caption)


def provenance_line(path: Path | str) -> str:
    """One line about a results file: runs, seeds, commits, whether the tree was clean, device,
    torch and dates (the chapter's caption, not a dump)."""
    path = Path(path)
    runs = load_results(path)["runs"]
    prov = [r["provenance"] for r in runs]
    commits = ", ".join(sorted({p["git_commit"][:7] for p in prov}))
    dirty = any(p.get("git_dirty") for p in prov)
    dates = sorted(p["date"][:10] for p in prov)
    when = dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
    return (f"{path.name}: {len(runs)} runs, {len({r['seed'] for r in runs})} seeds, commit {commits}"
            f"{' (uncommitted changes: a pilot)' if dirty else ''}, {sorted({p['device'] for p in prov})[0]}, "
            f"torch {sorted({p['torch_version'] for p in prov})[0]}, {when}")


def is_official(path: Path | str) -> bool:
    """Whether every run of a results file was recorded from a clean tree (``git_dirty`` false)."""
    return not any(r["provenance"].get("git_dirty", True) for r in load_results(path)["runs"])


def identity_column(cells: Mapping[str, Cell]) -> str | None:
    """The Identity column of a row: the best projection where it ran, else none (``None``
    where Identity did not run)."""
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
        ref = cells.get(identity_column(cells))
        out[task.label] = {
            column: (cell.solver_calls_per_step,
                     cell.wall_time_s / ref.wall_time_s if ref is not None else None)
            for column, cell in cells.items()}
    return out


def html_cost(tasks: Sequence[Task], costs: Mapping[str, Mapping[str, tuple]], caption: str = "") -> str:
    """The cost table as HTML: solver calls per step and time relative to Identity per cell."""
    rows = []
    for task in tasks:
        out = [f"<td{_PAD}>{escape(task.label)}</td>"]
        for column in COLUMNS:
            if column not in costs[task.label]:
                out.append(f"<td{_PAD}>&mdash;</td>")
                continue
            calls, ratio = costs[task.label][column]
            parts = [f"{calls:g} call{'s' if calls != 1 else ''}" if calls is not None else "calls n/r",
                     f"{ratio:.1f}× time" if ratio is not None else "time n/a"]
            out.append(f"<td{_PAD}>{'<br>'.join(parts)}</td>")
        rows.append("<tr>" + "".join(out) + "</tr>")
    body = f"{_TABLE}<thead><tr>{_head('task')}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return _wrap(body, caption)


def _identity_columns(projections: Sequence[str], method: str = "identity") -> dict:
    """Identity's two columns: the variants with one of ``projections``, and those without."""
    return {"Identity, best projection": tuple((method, {"projection": p}) for p in projections),
            "Identity, no projection": ((method, {"projection": None}),)}


def _pto_task(problem: str, label: str, projections: Sequence[str]) -> Task:
    """A row of chapter 18's predict-then-optimize problems (normalised regret, lower is better).
    SPO+ and the two-stage baseline have no column: no other task runs them (chapter 18
    compares them)."""
    return Task(label, "own_solver", "test_normalised_regret", True, {
        **_identity_columns(projections, f"{problem}_identity"),
        "Blackbox": (f"{problem}_blackbox",),
        "Perturbed": (f"{problem}_fenchel_young",),
    }, where={"problem": problem}, chapter=18)


#: The rows of chapter 17, one per task of Part III and chapter 18, with the candidates of each
#: column. A family's variants with a noise margin count as Identity with a projection where
#: the margin's method projects (graph matching, retrieval, Warcraft; the globe TSP's Identity
#: always projects with P_std).
TASKS = (
    Task("Discrete VAE, top-k (digits)", "dvae", "test_nelbo", True, {
        **_identity_columns(("mean", "norm", "std")),
        "I-MLE": ("imle",),
        "Gumbel / straight-through": ("gumbel_st",),
        "Score function": ("score_function",),
        "DAB": ("dab",),
    }, chapter=6),
    Task("Learning to explain, k = 10", "l2x", "test_mse", True, {
        **_identity_columns(("norm", "std")),
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
        "Identity, best projection": ("identity",),
        "Blackbox": ("blackbox",),
        "Perturbed": ("fenchel_young",),
        "DAB": ("dab",),
    }, where={"corruption": "none"}, chapter=10),
    Task("Warcraft-like shortest path, 12x12", "warcraft", "test_cost_ratio", True, {
        "Identity, best projection": (("identity", {"projection": "norm"}), ("identity", {"projection": "std"}),
                                      "identity_noise"),
        "Identity, no projection": (("identity", {"projection": None}),),
        "Blackbox": ("blackbox",),
        "Perturbed": ("fenchel_young",),
        "DAB": ("dab",),
    }, where={"loss": "absolute"}, chapter=11),
    Task("Sequence sorting, L = 5", "sorting", "test_accuracy", False, {
        **_identity_columns(("norm",)),
        "Gumbel / straight-through": ("straight_through",),
        "DAB": ("dab",),
    }, where={"network": "plain", "hard": "exact"}, chapter=12),
    Task("Sequence sorting, L = 5, ml-dab-like network", "sorting", "test_accuracy", False, {
        "Gumbel / straight-through": ("straight_through_bounded",),
        "DAB": ("dab_bounded",),
    }, where={"network": "bounded"}, chapter=12),
    Task("Classification through top-k", "dab_classification", "test_accuracy", False, {
        **_identity_columns(("mean", "std")),
        "Gumbel / straight-through": ("straight_through",),
        "DAB": ("dab",),
    }, chapter=13),
    Task("Autoencoder, binary code", "dab_autoencoder", "test_reconstruction", True, {
        **_identity_columns(("norm", "std")),
        "Gumbel / straight-through": ("gumbel_st", "straight_through"),
        "DAB": ("dab",),
    }, where={"code": "binary"}, chapter=14),
    Task("Autoencoder, one-hot code", "dab_autoencoder", "test_reconstruction", True, {
        **_identity_columns(("norm", "std")),
        "Gumbel / straight-through": ("gumbel_st", "straight_through"),
        "DAB": ("dab",),
    }, where={"code": "onehot"}, chapter=14),
    Task("Bernoulli VAE (density)", "dab_vae", "test_nelbo", True, {
        "Gumbel / straight-through": ("gumbel_st",),
        "Score function": ("reinforce", "relax"),
        "DAB": ("dab",),
    }, chapter=15),
    _pto_task("path", "Predict-then-optimize, shortest path 5x5", ("norm", "std")),
    _pto_task("knapsack", "Predict-then-optimize, knapsack", ("norm",)),
)

#: The pairs of columns whose per-row verdicts :func:`findings` reports: ``{key: (a, b)}``,
#: a verdict for ``a``; ``None`` is the row's Identity column (:func:`identity_column`).
PAIRS = {
    "projection_vs_none": ("Identity, best projection", "Identity, no projection"),
    "identity_vs_blackbox": (None, "Blackbox"),
    "identity_vs_perturbed": (None, "Perturbed"),
    "perturbed_vs_blackbox": ("Perturbed", "Blackbox"),
    "identity_vs_imle": (None, "I-MLE"),
    "identity_vs_straight_through": (None, "Gumbel / straight-through"),
    "identity_vs_dab": (None, "DAB"),
    "dab_vs_straight_through": ("DAB", "Gumbel / straight-through"),
}


def findings(tasks: Sequence[Task], table: Mapping[str, Mapping[str, Cell]]) -> dict[str, object]:
    """What chapter 17 states about the table; the chapter and a unit test assert it.

    * one key per :data:`PAIRS` entry: ``{row label: verdict}`` over the rows where both
      columns ran, the verdict of :func:`versus` (the 95% paired t interval of the test
      metric's difference over seeds excludes 0: "better" or "worse" for the first column;
      else "on par");
    * ``best_column``: ``{row: the column with the best mean}`` (a list on an exact tie);
    * ``against_best``: ``{row: {column: "best" | "on par" | "worse"}}`` (:func:`against_best`;
      the colours of figure 17.1);
    * ``still_moving``: ``{row: [columns]}`` whose chosen variant's mean validation curve had
      not flattened at the end of the budget (rows without any are left out): a verdict that
      rests on such a cell is not final, and a claim it fails is "not testable at this
      budget", not "not held";
    * ``not_beating_untrained``: ``{row: [columns]}`` whose test metric does not beat the
      untrained network's, paired by seed (rows without any are left out);
    * ``n_variants``: ``{row: {column: how many variants the cell was chosen from}}``.
    """
    out: dict[str, object] = {}
    for key, (a, b) in PAIRS.items():
        verdicts = {}
        for task in tasks:
            cells = table[task.label]
            first = a or identity_column(cells)
            verdict = versus(task, cells, first, b) if first else None
            if verdict is not None:
                verdicts[task.label] = verdict
        out[key] = verdicts
    bests = {task.label: best_columns(task, table[task.label]) for task in tasks}
    out["best_column"] = {label: b[0] if len(b) == 1 else b for label, b in bests.items()}
    out["against_best"] = {task.label: against_best(task, table[task.label]) for task in tasks}
    for key, flag in (("still_moving", lambda c: c.still_moving), ("not_beating_untrained",
                                                                    lambda c: not c.beats_untrained)):
        out[key] = {task.label: [c for c in COLUMNS if c in table[task.label] and flag(table[task.label][c])]
                    for task in tasks}
        out[key] = {label: columns for label, columns in out[key].items() if columns}
    out["n_variants"] = {task.label: {c: cell.n_variants for c, cell in table[task.label].items()} for task in tasks}
    return out


#: What chapter 17 states about the committed cpu-scale table (``findings(TASKS, overview(TASKS))``
#: on the eleven files recorded under the protocol). No gpu run has been recorded, and no reading
#: of the table holds by construction, so the chapter reads the cpu table at every scale;
#: ``FINDINGS["gpu"]`` holds the reading it states at any scale (where a projection helps
#: Identity), which the chapter checks on the table it reads.
FINDINGS: dict[str, dict] = {
    "cpu": {
        "projection_vs_none": {
            "Discrete VAE, top-k (digits)": "better",
            "Learning to explain, k = 10": "better",
            "Keypoint matching": "better",
            "Retrieval, digits": "better",
            "Warcraft-like shortest path, 12x12": "better",
            "Sequence sorting, L = 5": "better",
            "Classification through top-k": "better",
            "Autoencoder, binary code": "better",
            "Autoencoder, one-hot code": "better",
            "Predict-then-optimize, shortest path 5x5": "worse",
            "Predict-then-optimize, knapsack": "on par",
        },
        "identity_vs_blackbox": {
            "Keypoint matching": "better",
            "Retrieval, digits": "better",
            "Globe TSP, k = 5": "on par",
            "Warcraft-like shortest path, 12x12": "better",
            "Predict-then-optimize, shortest path 5x5": "better",
            "Predict-then-optimize, knapsack": "better",
        },
        "identity_vs_perturbed": {
            "Keypoint matching": "better",
            "Globe TSP, k = 5": "worse",
            "Warcraft-like shortest path, 12x12": "on par",
            "Predict-then-optimize, shortest path 5x5": "worse",
            "Predict-then-optimize, knapsack": "worse",
        },
        "perturbed_vs_blackbox": {
            "Keypoint matching": "better",
            "Globe TSP, k = 5": "better",
            "Warcraft-like shortest path, 12x12": "on par",
            "Predict-then-optimize, shortest path 5x5": "better",
            "Predict-then-optimize, knapsack": "better",
        },
        "identity_vs_imle": {
            "Discrete VAE, top-k (digits)": "better",
            "Learning to explain, k = 10": "on par",
        },
        "identity_vs_straight_through": {
            "Discrete VAE, top-k (digits)": "better",
            "Learning to explain, k = 10": "better",
            "Sequence sorting, L = 5": "worse",
            "Classification through top-k": "better",
            "Autoencoder, binary code": "better",
            "Autoencoder, one-hot code": "better",
        },
        "identity_vs_dab": {
            "Discrete VAE, top-k (digits)": "on par",
            "Learning to explain, k = 10": "better",
            "Keypoint matching": "on par",
            "Retrieval, digits": "on par",
            "Globe TSP, k = 5": "better",
            "Warcraft-like shortest path, 12x12": "better",
            "Sequence sorting, L = 5": "worse",
            "Classification through top-k": "on par",
            "Autoencoder, binary code": "better",
            "Autoencoder, one-hot code": "better",
        },
        "dab_vs_straight_through": {
            "Discrete VAE, top-k (digits)": "better",
            "Learning to explain, k = 10": "better",
            "Sequence sorting, L = 5": "better",
            "Sequence sorting, L = 5, ml-dab-like network": "on par",
            "Classification through top-k": "better",
            "Autoencoder, binary code": "better",
            "Autoencoder, one-hot code": "worse",
            "Bernoulli VAE (density)": "on par",
        },
        "best_column": {
            "Discrete VAE, top-k (digits)": "DAB",
            "Learning to explain, k = 10": "Identity, best projection",
            "Keypoint matching": "Identity, best projection",
            "Retrieval, digits": "DAB",
            "Globe TSP, k = 5": "Perturbed",
            "Warcraft-like shortest path, 12x12": "Identity, best projection",
            "Sequence sorting, L = 5": "DAB",
            "Sequence sorting, L = 5, ml-dab-like network": "DAB",
            "Classification through top-k": "DAB",
            "Autoencoder, binary code": "Identity, best projection",
            "Autoencoder, one-hot code": "Identity, best projection",
            "Bernoulli VAE (density)": "Score function",
            "Predict-then-optimize, shortest path 5x5": "Perturbed",
            "Predict-then-optimize, knapsack": "Perturbed",
        },
        "against_best": {
            "Discrete VAE, top-k (digits)": {
                "Identity, best projection": "on par",
                "Identity, no projection": "worse",
                "I-MLE": "worse",
                "Gumbel / straight-through": "worse",
                "Score function": "worse",
                "DAB": "best",
            },
            "Learning to explain, k = 10": {
                "Identity, best projection": "best",
                "Identity, no projection": "worse",
                "I-MLE": "on par",
                "Gumbel / straight-through": "worse",
                "DAB": "worse",
            },
            "Keypoint matching": {
                "Identity, best projection": "best",
                "Identity, no projection": "worse",
                "Blackbox": "worse",
                "Perturbed": "worse",
                "DAB": "on par",
            },
            "Retrieval, digits": {
                "Identity, best projection": "on par",
                "Identity, no projection": "worse",
                "Blackbox": "worse",
                "DAB": "best",
            },
            "Globe TSP, k = 5": {
                "Identity, best projection": "worse",
                "Blackbox": "worse",
                "Perturbed": "best",
                "DAB": "worse",
            },
            "Warcraft-like shortest path, 12x12": {
                "Identity, best projection": "best",
                "Identity, no projection": "worse",
                "Blackbox": "worse",
                "Perturbed": "on par",
                "DAB": "worse",
            },
            "Sequence sorting, L = 5": {
                "Identity, best projection": "worse",
                "Identity, no projection": "worse",
                "Gumbel / straight-through": "worse",
                "DAB": "best",
            },
            "Sequence sorting, L = 5, ml-dab-like network": {"Gumbel / straight-through": "on par", "DAB": "best"},
            "Classification through top-k": {
                "Identity, best projection": "on par",
                "Identity, no projection": "worse",
                "Gumbel / straight-through": "worse",
                "DAB": "best",
            },
            "Autoencoder, binary code": {
                "Identity, best projection": "best",
                "Identity, no projection": "worse",
                "Gumbel / straight-through": "worse",
                "DAB": "worse",
            },
            "Autoencoder, one-hot code": {
                "Identity, best projection": "best",
                "Identity, no projection": "worse",
                "Gumbel / straight-through": "worse",
                "DAB": "worse",
            },
            "Bernoulli VAE (density)": {"Gumbel / straight-through": "worse", "Score function": "best", "DAB": "worse"},
            "Predict-then-optimize, shortest path 5x5": {
                "Identity, best projection": "worse",
                "Identity, no projection": "worse",
                "Blackbox": "worse",
                "Perturbed": "best",
            },
            "Predict-then-optimize, knapsack": {
                "Identity, best projection": "worse",
                "Identity, no projection": "worse",
                "Blackbox": "worse",
                "Perturbed": "best",
            },
        },
        "still_moving": {
            "Discrete VAE, top-k (digits)": ["Identity, no projection"],
            "Retrieval, digits": ["Identity, best projection", "Identity, no projection", "DAB"],
            "Globe TSP, k = 5": ["DAB"],
            "Warcraft-like shortest path, 12x12": ["DAB"],
            "Predict-then-optimize, shortest path 5x5": ["Blackbox"],
        },
        "not_beating_untrained": {
            "Keypoint matching": ["Identity, no projection"],
            "Retrieval, digits": ["Identity, no projection"],
        },
        "n_variants": {
            "Discrete VAE, top-k (digits)": {
                "Identity, best projection": 3,
                "Identity, no projection": 1,
                "I-MLE": 4,
                "Gumbel / straight-through": 3,
                "Score function": 1,
                "DAB": 4,
            },
            "Learning to explain, k = 10": {
                "Identity, best projection": 2,
                "Identity, no projection": 1,
                "I-MLE": 3,
                "Gumbel / straight-through": 9,
                "DAB": 4,
            },
            "Keypoint matching": {
                "Identity, best projection": 11,
                "Identity, no projection": 1,
                "Blackbox": 5,
                "Perturbed": 3,
                "DAB": 6,
            },
            "Retrieval, digits": {"Identity, best projection": 6, "Identity, no projection": 1, "Blackbox": 6, "DAB": 3},
            "Globe TSP, k = 5": {"Identity, best projection": 4, "Blackbox": 3, "Perturbed": 3, "DAB": 4},
            "Warcraft-like shortest path, 12x12": {
                "Identity, best projection": 6,
                "Identity, no projection": 1,
                "Blackbox": 4,
                "Perturbed": 4,
                "DAB": 4,
            },
            "Sequence sorting, L = 5": {
                "Identity, best projection": 1,
                "Identity, no projection": 1,
                "Gumbel / straight-through": 1,
                "DAB": 4,
            },
            "Sequence sorting, L = 5, ml-dab-like network": {"Gumbel / straight-through": 1, "DAB": 4},
            "Classification through top-k": {
                "Identity, best projection": 2,
                "Identity, no projection": 1,
                "Gumbel / straight-through": 3,
                "DAB": 4,
            },
            "Autoencoder, binary code": {
                "Identity, best projection": 2,
                "Identity, no projection": 1,
                "Gumbel / straight-through": 6,
                "DAB": 4,
            },
            "Autoencoder, one-hot code": {
                "Identity, best projection": 2,
                "Identity, no projection": 1,
                "Gumbel / straight-through": 6,
                "DAB": 4,
            },
            "Bernoulli VAE (density)": {"Gumbel / straight-through": 4, "Score function": 2, "DAB": 6},
            "Predict-then-optimize, shortest path 5x5": {
                "Identity, best projection": 4,
                "Identity, no projection": 2,
                "Blackbox": 3,
                "Perturbed": 4,
            },
            "Predict-then-optimize, knapsack": {
                "Identity, best projection": 2,
                "Identity, no projection": 2,
                "Blackbox": 3,
                "Perturbed": 4,
            },
        },
    },
}
#: The reading stated at every scale: the cpu table's projection verdicts (see above).
FINDINGS["gpu"] = {"projection_vs_none": FINDINGS["cpu"]["projection_vs_none"]}



#: The colours of figure 17.1: a cell's paired verdict against its row's best mean.
VERDICT_COLOURS = {"best": "#1b7837", "on par": "#a6dba0", "worse": "#e7d4e8"}


def plot_overview(ax, tasks: Sequence[Task], table: Mapping[str, Mapping[str, Cell]]):
    """Figure 17.1: the table as a heat map. Rows are tasks, columns the families
    (:data:`SHORT`); a cell's colour is its paired verdict against the row's best mean
    (:func:`against_best`, :data:`VERDICT_COLOURS`), its text the test mean with the row's
    precision (:func:`decimals`) and a dagger where the chosen curve was still moving; an
    empty cell is a family that did not run on the task. Returns the ``{(row, column):
    verdict}`` it coloured."""
    import matplotlib.colors as mcolors
    import numpy as np
    from matplotlib.patches import Patch

    order = list(VERDICT_COLOURS)
    codes = np.full((len(tasks), len(COLUMNS)), np.nan)
    drawn = {}
    for i, task in enumerate(tasks):
        cells, verdicts = table[task.label], against_best(task, table[task.label])
        digits = decimals(cells)
        for j, column in enumerate(COLUMNS):
            if column not in cells:
                continue
            codes[i, j] = order.index(verdicts[column])
            drawn[(task.label, column)] = verdicts[column]
            cell = cells[column]
            ax.text(j, i, f"{cell.mean:.{digits}f}{'†' if cell.still_moving else ''}", ha="center", va="center",
                    fontsize=7, color="white" if verdicts[column] == "best" else "black")
    cmap = mcolors.ListedColormap([VERDICT_COLOURS[v] for v in order]).with_extremes(bad="white")
    ax.imshow(np.ma.masked_invalid(codes), cmap=cmap, vmin=-0.5, vmax=len(order) - 0.5, aspect="auto")
    ax.set_xticks(range(len(COLUMNS)), [SHORT[c] for c in COLUMNS], rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(tasks)), [f"{t.label} ({'↓' if t.lower_is_better else '↑'})" for t in tasks],
                  fontsize=8)
    ax.set_xticks(np.arange(-0.5, len(COLUMNS)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(tasks)), minor=True)
    ax.grid(False)
    ax.grid(which="minor", color="white", linewidth=1.5)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(which="minor", length=0)
    ax.legend(handles=[Patch(color=VERDICT_COLOURS[v], label=f"{v} (vs the row's best)" if v != "best" else v)
                       for v in order], loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return drawn


def plot_guide(ax, questions: Sequence[tuple[str, str]], otherwise: str):
    """Figure 17.2: the guide as a flow chart. Each ``(question, answer)`` is a box on the
    left whose "yes" leads right to its answer and whose "no" leads down to the next
    question; ``otherwise`` ends the last "no". Returns the texts it drew, in order."""
    from matplotlib.patches import FancyArrowPatch

    ax.set_axis_off()
    n = len(questions)
    ax.set_xlim(0, 10)
    ax.set_ylim(-n - 0.6, 0.6)
    box = dict(boxstyle="round,pad=0.4", linewidth=0.8)
    drawn = []

    def arrow(start, end, label):
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, color="0.35", linewidth=0.9))
        ax.text((start[0] + end[0]) / 2 + 0.08, (start[1] + end[1]) / 2 + 0.06, label, fontsize=7, color="0.3")

    for i, (question, answer) in enumerate(questions):
        y = -i
        ax.text(2.2, y, question, ha="center", va="center", fontsize=7.5, wrap=True,
                bbox={**box, "facecolor": "#f0f0f0", "edgecolor": "0.5"})
        ax.text(7.3, y, answer, ha="center", va="center", fontsize=7.5,
                bbox={**box, "facecolor": "#d9f0d3", "edgecolor": "#1b7837"})
        arrow((4.45, y), (5.0, y), "yes")
        arrow((2.2, y - 0.3), (2.2, y - 0.7), "no")
        drawn += [question, answer]
    ax.text(2.2, -n, otherwise, ha="center", va="center", fontsize=7.5,
            bbox={**box, "facecolor": "#fee0b6", "edgecolor": "#b35806"})
    drawn.append(otherwise)
    return drawn


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, Cell]]:
    """``python -m discgrad.findings.overview [--scale cpu] [--root DIR]``: print chapter 17's
    table, from the recorded results (or a results folder of your own), as plain text."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m discgrad.findings.overview",
        description="Print chapter 17's table of every method on every task, read from the recorded runs "
                    "(each cell: the variant chosen on validation, its test metric mean +- std over seeds, "
                    "and how many variants it was chosen from).")
    parser.add_argument("--scale", default="cpu", choices=("smoke", "cpu", "gpu"), help="the results' scale (default cpu)")
    parser.add_argument("--root", default=None, help="a results folder of your own (default: the recorded results)")
    args = parser.parse_args(argv)
    table = overview(TASKS, args.scale, args.root)
    for task in TASKS:
        cells = table[task.label]
        digits, verdicts = decimals(cells), against_best(task, cells)
        print(f"{task.label} ({task.metric}, {'lower' if task.lower_is_better else 'higher'} is better)")
        for column, cell in cells.items():
            print(f"  {column:26s} {cell.mean:.{digits}f} +- {cell.std:.{digits}f}  {verdicts[column]:7s} "
                  f"{cell_note(task, cell)} variants, {cell.seeds} seeds"
                  f"{', still moving' if cell.still_moving else ''}")
    return table


if __name__ == "__main__":
    main()
