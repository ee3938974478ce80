"""The committed cpu results of every experiment: there, complete, with provenance, made with
the current cpu config, and saying what the chapter says (``findings(runs) == FINDINGS["cpu"]``).

One parametrized test replaces a near-identical copy per experiment. Nothing passes
vacuously: an empty ``results/cpu/``, a listed experiment without its file, a file without
runs, or a file for an experiment missing from :data:`EXPERIMENTS` fails.
"""
import importlib
import json
from collections import Counter
from pathlib import Path

import pytest

from discgrad.results import PROVENANCE_FIELDS, load_results

ROOT = Path(__file__).resolve().parent.parent
CPU = ROOT / "results" / "cpu"
#: every experiment of Part III and chapter 18, in chapter order; each must have results/cpu/<name>.json
EXPERIMENTS = ("dvae", "l2x", "graph_matching", "retrieval", "globe_tsp", "warcraft", "sorting",
               "dab_classification", "dab_autoencoder", "dab_vae", "own_solver")
MIN_SEEDS = 3
#: under the comparison protocol (design section 11): at least 5 seeds, 10 where a run
#: takes under 15 s
PROTOCOL_SEEDS, QUICK_SEEDS, QUICK_RUN_S = 5, 10, 15.0


def findings_module(name: str):
    """``discgrad.findings.<name>``: ``FINDINGS`` and ``findings(runs)`` of the chapter."""
    return importlib.import_module(f"discgrad.findings.{name}")


def expected_runs(experiment, config, seeds) -> tuple[Counter, dict]:
    """The (method, variant, seed) triples a complete file holds, and each method's variant keys."""
    own = getattr(experiment, "method_variants", lambda method: [{}])
    variants = [(m, {**task, **o}) for task in experiment.variants(config)
                for m in experiment.methods for o in own(m)]
    names = {m: set() for m in experiment.methods}
    for m, v in variants:
        names[m] |= set(v)
    expected = Counter((m, _key(v, names[m]), s) for m, v in variants for s in seeds)
    return expected, names


def _key(values, names) -> str:
    return json.dumps({k: values.get(k) for k in sorted(names)}, sort_keys=True)


def test_every_committed_experiment_is_listed_and_every_listed_one_is_committed():
    committed = {p.stem for p in CPU.glob("*.json")}
    assert committed, f"no results file in {CPU}"
    assert committed == set(EXPERIMENTS), (
        f"missing: {sorted(set(EXPERIMENTS) - committed)}; not listed here: {sorted(committed - set(EXPERIMENTS))}")


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_committed_cpu_results_are_complete_with_provenance_and_agree_with_the_chapter(name):
    module = importlib.import_module(f"discgrad.experiments.{name}")
    experiment = module.EXPERIMENT
    path = CPU / f"{name}.json"
    assert path.is_file(), f"{path} is missing: run python -m discgrad.experiments.{name} --scale cpu"
    data = load_results(path)  # validates every run and its provenance
    runs = data["runs"]
    assert runs, f"{path} holds no runs"
    assert data["experiment"] == name and data["scale"] == "cpu"
    seeds = sorted({r["seed"] for r in runs})
    assert len(seeds) >= MIN_SEEDS, f"{name}: only the seeds {seeds}"
    cpu = experiment.configs["cpu"]
    expected, names = expected_runs(experiment, cpu, seeds)
    recorded = Counter((r["method"], _key(r["settings"], names.get(r["method"], ())), r["seed"]) for r in runs)
    assert recorded == expected, (f"{name}: missing {sorted(expected - recorded)}, "
                                  f"unexpected or repeated {sorted(recorded - expected)}")
    for run in runs:
        provenance = run["provenance"]
        assert set(PROVENANCE_FIELDS) <= set(provenance)
        assert provenance["scale"] == "cpu"
        assert provenance["command"].startswith(f"python -m discgrad.experiments.{name} --scale cpu")
        # made with the current cpu config (less the lists the variants come from), all steps
        varied = names[run["method"]]
        config = {k: v for k, v in cpu.items() if k not in varied and k[:-1] not in varied}
        assert {k: run["settings"].get(k) for k in config} == config, (run["method"], run["seed"])
        assert run["settings"]["steps"] > 0 and len(run["history"]["epoch_time_s"]) == cpu["epochs"]
    if all("variant" in r["settings"] for r in runs):  # recorded under the comparison protocol
        mean_wall = sum(r["provenance"]["wall_time_s"] for r in runs) / len(runs)
        needed = QUICK_SEEDS if mean_wall < QUICK_RUN_S else PROTOCOL_SEEDS
        assert len(seeds) >= needed, f"{name}: {len(seeds)} seeds, the protocol asks for {needed}"
        assert all(any(m.startswith("val_") for m in r["metrics"]) for r in runs), f"{name}: a run lacks val_*"
        for run in runs:  # honest provenance: a clean commit
            assert run["provenance"].get("git_dirty") is False and "+" not in run["provenance"]["git_commit"]
    chapter = findings_module(name)
    assert chapter.findings(runs) == chapter.FINDINGS["cpu"]
