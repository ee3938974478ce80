"""What chapters import: the setup line, a chapter's recorded cost, the methods' display names.

Every chapter's setup cell prints :func:`describe`; its results table names methods with
:func:`display_name`, one map for the whole book ("Identity + P_norm", never
``identity_norm``). Book: "How to use this book"; chapter 16 (recorded run times).
"""
from __future__ import annotations

from pathlib import Path

import torch

from .results import read_json, recorded_root
from .scale import SCALES, device_name, get_device, get_scale

__all__ = ["describe", "describe_config", "chapter_cost", "DISPLAY_NAMES", "display_name"]

#: The book's name of each method, the one map that every results table and figure uses.
DISPLAY_NAMES: dict[str, str] = {
    "identity": "Identity",
    "identity_mean": "Identity + P_mean",
    "identity_norm": "Identity + P_norm",
    "identity_std": "Identity + P_std",
    "identity_noise": "Identity + noise margin",
    "identity_informed": "Identity + informed margin",
    "identity_linear": "Identity, linear loss",
    "identity_noise_linear": "Identity + noise margin, linear loss",
    "blackbox": "Blackbox",
    "blackbox_std": "Blackbox + P_std",
    "perturbed": "Perturbed (Fenchel-Young)",
    "fenchel_young": "Fenchel-Young (perturbed)",
    "imle": "I-MLE",
    "gumbel_st": "Gumbel straight-through",
    "score_function": "Score function",
    "straight_through": "Straight-through",
    "dab": "DAB",
    "relax": "RELAX",
    "reinforce": "REINFORCE",
    "l2x": "L2X relaxation",
    "softsub": "SoftSub",
    "tanh": "tanh network (no discrete layer)",
    "spo_plus": "SPO+",
    "two_stage": "two-stage (MSE on the costs)",
    "identity_grad_noise": "Identity, noisy gradient",
    "blackbox_grad_noise": "Blackbox, noisy gradient",
    "identity_flip": "Identity, corrupted labels",
    "blackbox_flip": "Blackbox, corrupted labels",
    "perturbed_3": "Perturbed, 3 samples",
    "perturbed_10": "Perturbed, 10 samples",
    "gumbel_softmax": "Gumbel-softmax",
}


def display_name(method: str) -> str:
    """The name a method has in the book's tables and figures (the map :data:`DISPLAY_NAMES`).

    Raises:
        ValueError: naming ``method`` when the map lacks it.

    Example:
        >>> display_name("identity_norm")
        'Identity + P_norm'
    """
    try:
        return DISPLAY_NAMES[method]
    except (KeyError, TypeError):
        raise ValueError(f"no display name for the method {method!r}; add it to "
                         f"discgrad.chapter.DISPLAY_NAMES") from None


def describe(chapter: str | None = None) -> str:
    """The scale, the device and the torch version, for a chapter's setup cell.

    With ``chapter`` (the notebook's file stem), a second line gives the chapter's recorded
    execution time at each scale (:func:`chapter_cost`), so a reader knows what running it
    costs before running it. Book: "How to use this book".

    Example:
        >>> describe().startswith("scale=")
        True
    """
    device = get_device()
    line = f"scale={get_scale()}  device={device} ({device_name(device)})  torch={torch.__version__}"
    if chapter is None:
        return line
    return line + "\n" + chapter_cost(chapter)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def chapter_cost(notebook: str, root: Path | str | None = None) -> str:
    """One line with a chapter's recorded execution time at each scale, for its first page.

    The times come from ``results/bench/notebooks.json``, written by
    ``python benchmarks/notebooks.py --scale <scale>`` (chapter 16), which executes every
    chapter from a fresh kernel and records the wall time with the machine it ran on.

    Args:
        notebook: the chapter's file stem, e.g. ``"06_discrete_vae"``.
        root: the results root (default: ``discgrad.results.recorded_root()``, the recorded
            results of the checkout or of the installed package).

    Example:
        >>> import json, tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> (root / "bench").mkdir()
        >>> entry = {"notebook": "notebooks/06_vae", "scale": "cpu", "seconds": 125.4, "cpu_count": 2}
        >>> _ = (root / "bench" / "notebooks.json").write_text(json.dumps({"entries": [entry]}))
        >>> print(chapter_cost("06_vae", root))
        recorded run time of this chapter (2 CPU cores, chapter 16):
          2 min 05 s at cpu scale
        >>> chapter_cost("07_other", root)
        'no recorded run time for 07_other in results/bench/notebooks.json'
    """
    path = Path(root or recorded_root()) / "bench" / "notebooks.json"
    if not path.exists():
        return ("no recorded run times here (results/bench/notebooks.json comes with the book's "
                "repository and its package)")
    entries = [e for e in read_json(path).get("entries", []) if e.get("notebook", "").endswith("/" + notebook)]
    by_scale = {e["scale"]: e for e in entries}
    parts = [f"{_duration(by_scale[s]['seconds'])} at {s} scale" for s in SCALES if s in by_scale]
    if not parts:
        return f"no recorded run time for {notebook} in results/bench/notebooks.json"
    cores = sorted({e.get("cpu_count") for e in entries if e.get("cpu_count")})
    machine = f"{'/'.join(str(c) for c in cores)} CPU cores, " if cores else ""
    return f"recorded run time of this chapter ({machine}chapter 16):\n  {', '.join(parts)}"


def describe_config(config: dict, width: int = 88) -> str:
    """An experiment's sizes as ``name = value`` pairs wrapped to the code box, for a
    chapter's parameters cell (a reader sees the sizes, not a JSON dump).

    Example:
        >>> print(describe_config({"n_train": 256, "hidden": [32], "lr": 0.001}))
        n_train = 256,  hidden = [32],  lr = 0.001
    """
    lines, line = [], ""
    for name, value in config.items():   # a pair is never split across lines
        pair = f"{name} = {value}"
        if line and len(line) + 3 + len(pair) > width:
            lines.append(line + ",")
            line = pair
        else:
            line = f"{line},  {pair}" if line else pair
    return "\n".join(lines + [line])
