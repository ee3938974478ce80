"""A small mutation check: plant one bug at a time and see whether the tests catch it.

Each mutant replaces one exact snippet of one source file. The script copies ``discgrad/``,
``tests/``, ``conftest.py`` and ``pyproject.toml`` into a temporary directory, checks that the
selected tests pass on the unmutated copy, then for each mutant patches the copy, runs the
tests that should catch it (``pytest -x``, with doctests), and puts the original text back.
The working tree is never written to, so an interrupted run (Ctrl-C) leaves nothing behind.

Usage (from the repository root; about 2 minutes on 2 CPU cores)::

    .venv/bin/python tests/mutation_check.py            # every mutant
    .venv/bin/python tests/mutation_check.py tsp-last   # only the named ones

Exit status 0 when every planted bug is caught. Issue 19; the count is in tests/README.md.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTEST = ["-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:nbval", "-o",
          "addopts=--doctest-modules", "-o", "doctest_optionflags=NORMALIZE_WHITESPACE ELLIPSIS"]
SOLVERS, ESTIMATORS, BAD = "tests/test_solvers.py", "tests/test_estimators.py", "tests/test_bad_inputs.py"

#: (name, file, original snippet, planted bug, pytest arguments that must fail)
MUTANTS = [
    ("neighbour-order-up", "discgrad/solvers/shortest_path.py",
     "NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))",
     "NEIGHBOURS = ((-1, 0), (-1, -1), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))",
     [SOLVERS, "-k", "every_pair"]),
    ("neighbour-order-down", "discgrad/solvers/shortest_path.py",
     "NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))",
     "NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, 1), (1, 0), (1, -1))",
     [SOLVERS, "-k", "every_pair"]),
    ("settled-tie-ignored", "discgrad/solvers/shortest_path.py",
     "key = torch.where(nearest, settled.gather(1, nbrs), never)",
     "key = torch.where(nearest, 0 * settled.gather(1, nbrs), never)",
     [SOLVERS, "-k", "shortest_path or neighbour_order"]),
    ("tsp-last-city-tie", "discgrad/solvers/tsp.py",
     "last = (best[:, full] + dist[:, 1:, 0]).argmin(-1)",
     "last = m - 1 - (best[:, full] + dist[:, 1:, 0]).flip(-1).argmin(-1)",
     [SOLVERS, "-k", "tsp"]),
    ("tsp-predecessor-tie", "discgrad/solvers/tsp.py",
     "best[:, level], came_from[:, level] = lengths.min(-1)",
     "best[:, level], came_from[:, level] = lengths.flip(-1).min(-1).values, m - 1 - lengths.flip(-1).min(-1).indices",
     [SOLVERS, "-k", "tsp"]),
    ("topk-tie-last-index", "discgrad/solvers/topk.py",
     "(tied & (tied.cumsum(dim) <= missing))",
     "(tied & (tied.flip(dim).cumsum(dim).flip(dim) <= missing))",
     [SOLVERS, "-k", "topk"]),
    ("ranking-from-zero", "discgrad/solvers/ranking.py",
     "ranks = torch.arange(1, w.shape[-1] + 1,", "ranks = torch.arange(0, w.shape[-1],",
     [SOLVERS, "-k", "ranking"]),
    ("assignment-maximises", "discgrad/solvers/assignment.py",
     "linear_sum_assignment(costs[b])", "linear_sum_assignment(costs[b], maximize=True)",
     [SOLVERS, "-k", "assignment"]),
    ("heaviside-tie", "discgrad/solvers/signum.py",
     "return (w > 0).to(w.dtype)", "return (w >= 0).to(w.dtype)", ["tests/test_signum.py"]),
    ("blackbox-shift-sign", "discgrad/estimators/blackbox.py",
     "shifted = costs - s * lam * grad_y", "shifted = costs + s * lam * grad_y",
     [ESTIMATORS, "-k", "blackbox"]),
    ("blackbox-blames-w", "discgrad/estimators/blackbox.py",
     "check_finite(grad_y, UPSTREAM)  # else", "pass  # else", [BAD, "-k", "upstream"]),
    ("identity-no-sign", "discgrad/estimators/identity.py",
     "return ctx.sign * check_finite(grad_y, UPSTREAM), None", "return check_finite(grad_y, UPSTREAM), None",
     [ESTIMATORS, "-k", "identity"]),
    ("perturbed-sigma-squared", "discgrad/estimators/perturbed.py",
     "(inner * grad_nu).mean(dim=0) / ctx.sigma,", "(inner * grad_nu).mean(dim=0) / ctx.sigma ** 2,",
     [ESTIMATORS, "-k", "perturbed"]),
    ("perturbed-min-sign", "discgrad/estimators/perturbed.py",
     "costs = w.detach().unsqueeze(0) + layer.sign * layer.sigma * z",
     "costs = w.detach().unsqueeze(0) + layer.sigma * z",
     [ESTIMATORS, "-k", "perturbed or fenchel"]),
    ("fenchel-young-sign", "discgrad/estimators/perturbed.py",
     "return (f_sigma - linear).mean()", "return (f_sigma + linear).mean()",
     [ESTIMATORS, "-k", "fenchel"]),
    ("loo-biased-baseline", "discgrad/estimators/score_function.py",
     "b = (f_const.sum(dim=0, keepdim=True) - f_const) / (self.n_samples - 1)",
     "b = f_const.mean(dim=0, keepdim=True)",
     [ESTIMATORS, "-k", "score_function"]),
    ("imle-noise-sign", "discgrad/estimators/imle.py",
     "w = w + self.sign * eps", "w = w - self.sign * eps", [ESTIMATORS, "-k", "imle"]),
    ("straight-through-no-sign", "discgrad/estimators/straight_through.py",
     "torch.softmax(self.sign * w / self.tau, dim=-1)", "torch.softmax(w / self.tau, dim=-1)",
     [ESTIMATORS, "-k", "straight_through"]),
    ("relaxed-top-k-adds-back", "discgrad/estimators/gumbel_softmax.py",
     "scores = scores + torch.log((1 - a).clamp_min(tiny))", "scores = scores - torch.log((1 - a).clamp_min(tiny))",
     [ESTIMATORS, "-k", "gumbel or relaxed"]),
    ("gumbel-hard-ignores-noise", "discgrad/estimators/gumbel_softmax.py",
     "straight_through(soft, top_k_hot(scores.detach(), self.k))",
     "straight_through(soft, top_k_hot(logits.detach(), self.k))",
     [ESTIMATORS, "-k", "gumbel"]),
    ("dab-loss-per-entry", "discgrad/estimators/dab.py",
     "(fit - hard).pow(2).reshape(x.shape[0], -1).sum(dim=1).mean()", "(fit - hard).pow(2).mean()",
     [ESTIMATORS, "-k", "dab"]),
    ("relax-conditional-u", "discgrad/estimators/relax.py",
     "torch.where(b > 0.5, 1 - p + p * u_v, (1 - p) * u_v)", "torch.where(b > 0.5, p * u_v, (1 - p) * u_v)",
     ["tests/test_relax.py"]),
    ("eps-floor-back-to-1e-12", "discgrad/projections.py", "EPS = 1e-4", "EPS = 1e-12",
     ["tests/test_projections.py"]),
    ("plane-projection-sign", "discgrad/projections.py", "return w - coef * a", "return w + coef * a",
     ["tests/test_projections.py"]),
    ("gumbel-drawn-in-bfloat16", "discgrad/noise.py",
     "work = _draw_dtype(dtype)  # bfloat16", "work = dtype  # bfloat16", ["tests/test_noise.py"]),
    ("margin-accepts-inf", "discgrad/noise.py",
     'alpha = check_real(alpha, "alpha", low=0)', "alpha = float(alpha)",
     [BAD, "-k", "margin_noise"]),
    ("sum-of-gamma-no-log-s", "discgrad/noise.py",
     "eps = (tau / k) * (total - math.log(s))", "eps = (tau / k) * total", ["tests/test_noise.py"]),
    ("empty-dimension-accepted", "discgrad/solvers/base.py",
     "if x.numel() == 0:", "if False:", [BAD, "-k", "empty"]),
    ("meta-device-accepted", "discgrad/solvers/base.py",
     'if x.device.type == "meta":', "if False:", [BAD, "-k", "meta"]),
    ("counts-only-int", "discgrad/solvers/base.py",
     "not isinstance(value, numbers.Integral):", "not isinstance(value, int):", [BAD, "-k", "integral"]),
    ("finite-check-one-sided", "discgrad/solvers/base.py",
     "if not (math.isfinite(lo) and math.isfinite(hi)):", "if not (math.isfinite(lo) or math.isfinite(hi)):",
     [BAD, "-k", "inf"]),
    ("kl-sign", "discgrad/losses.py", "(log_q + math.log(n))", "(log_q - math.log(n))",
     ["tests/test_losses.py", "discgrad/losses.py"]),
    ("recall-strict", "discgrad/losses.py",
     "(ranks[:, None, :] <= ranks[:, :, None])", "(ranks[:, None, :] < ranks[:, :, None])",
     ["tests/test_losses.py", "discgrad/losses.py"]),
    ("hamming-formula", "discgrad/losses.py",
     "y_pred * (1 - y_true) + (1 - y_pred) * y_true", "y_pred * (1 - y_true) + (1 - y_pred) * (1 - y_true)",
     ["tests/test_losses.py"]),
]


def run_pytest(copy: Path, args: list[str], timeout: float) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(copy), "DISCGRAD_PROGRESS": "0", "DISCGRAD_SCALE": "smoke",
           "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        done = subprocess.run([sys.executable, *PYTEST, *args], cwd=copy, env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, "timeout"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode, lines[-1] if lines else ""


def main(names: list[str]) -> int:
    mutants = [m for m in MUTANTS if not names or m[0] in names]
    unknown = set(names) - {m[0] for m in MUTANTS}
    if unknown:
        print(f"unknown mutants: {sorted(unknown)}")
        return 2
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="discgrad-mutants-") as tmp:
        copy = Path(tmp)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(ROOT / "discgrad", copy / "discgrad", ignore=ignore)
        shutil.copytree(ROOT / "tests", copy / "tests", ignore=ignore)
        for name in ("conftest.py", "pyproject.toml"):
            shutil.copy(ROOT / name, copy / name)
        where = subprocess.run([sys.executable, "-c", "import discgrad; print(discgrad.__file__)"], cwd=copy,
                               env={**os.environ, "PYTHONPATH": str(copy)}, capture_output=True, text=True)
        if not where.stdout.strip().startswith(str(copy)):
            print(f"the copy is not what gets imported: {where.stdout.strip() or where.stderr.strip()}")
            return 2
        # the tests must pass before any bug is planted, or a failure would mean nothing
        targets = sorted({a for m in mutants for a in m[4] if a.endswith(".py")})
        rc, last = run_pytest(copy, targets, timeout=600)
        if rc != 0:
            print(f"the selected tests fail without any mutation: {last}")
            return 2
        caught = 0
        for name, file, old, new, args in mutants:
            path = copy / file
            original = path.read_text()
            if original.count(old) != 1:
                print(f"{name}: the snippet occurs {original.count(old)} times in {file}; fix the mutant")
                return 2
            try:
                path.write_text(original.replace(old, new))
                rc, last = run_pytest(copy, args, timeout=180)
            finally:
                path.write_text(original)
            caught += rc != 0
            print(f"{'caught  ' if rc != 0 else 'SURVIVED'} {name:28s} {file:40s} {last}", flush=True)
    print(f"{caught}/{len(mutants)} planted bugs caught in {time.time() - start:.0f} s")
    return 0 if caught == len(mutants) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
