"""The scale switch and the choice of device.

One environment variable, ``DISCGRAD_SCALE``, picks how big every experiment runs:

* ``smoke``: what the tests and CI run; every notebook finishes in under a minute on 2 CPU cores;
* ``cpu``: what the book build runs (the default without a GPU); a chapter takes minutes;
* ``gpu``: the reduced paper scale (the default when CUDA is present).

Each experiment keeps one config per scale and reads it with :func:`pick`; nothing else
changes between scales. ``DISCGRAD_DEVICE`` (for example ``cpu`` or ``cuda:1``) overrides
the device. Book: "How to use this book".
"""
from __future__ import annotations

import os
from typing import Mapping, TypeVar

import torch

SCALES = ("smoke", "cpu", "gpu")
T = TypeVar("T")


def get_scale() -> str:
    """Return the active scale: ``DISCGRAD_SCALE`` if set, else ``"gpu"`` with CUDA, else ``"cpu"``.

    Raises:
        ValueError: if ``DISCGRAD_SCALE`` is set to anything but ``smoke``, ``cpu`` or ``gpu``.

    Example:
        >>> get_scale() in SCALES
        True
    """
    value = os.environ.get("DISCGRAD_SCALE", "").strip().lower()
    if not value:
        return "gpu" if torch.cuda.is_available() else "cpu"
    if value not in SCALES:
        raise ValueError(
            f"DISCGRAD_SCALE={os.environ['DISCGRAD_SCALE']!r} is not a scale; "
            f"allowed values are {', '.join(SCALES)}"
        )
    return value


def get_device() -> torch.device:
    """Return ``DISCGRAD_DEVICE`` if set, else the first CUDA device if present, else the CPU.

    Example:
        >>> get_device().type in ("cpu", "cuda")
        True
    """
    name = os.environ.get("DISCGRAD_DEVICE", "").strip()
    if name:
        try:
            device = torch.device(name)
        except RuntimeError as err:
            raise ValueError(f"DISCGRAD_DEVICE={name!r} is not a torch device: {err}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"DISCGRAD_DEVICE={name!r} asks for CUDA, but CUDA is not available")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device: torch.device | str | None = None) -> str:
    """A human-readable name of ``device`` for results files (GPU model or CPU model)."""
    device = torch.device(device) if device is not None else get_device()
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return _cpu_model()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return f"CPU: {line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    import platform

    return f"CPU: {platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def pick(configs: Mapping[str, T], scale: str | None = None) -> T:
    """Return ``configs[scale]`` for the active scale, with a clear error if it is missing.

    Example:
        >>> pick({"smoke": 1, "cpu": 10, "gpu": 100}, scale="cpu")
        10
    """
    scale = scale or get_scale()
    if scale not in SCALES:
        raise ValueError(f"scale {scale!r} is not one of {', '.join(SCALES)}")
    missing = [s for s in SCALES if s not in configs]
    if missing:
        raise ValueError(f"configs must define every scale; missing: {', '.join(missing)}")
    return configs[scale]


def resolve_config(configs: Mapping[str, T], config: Mapping | str | None = None) -> T:
    """The config an experiment runs with: ``config`` itself when it is a mapping (a chapter's
    parameters cell, say), else ``configs[config]`` for a scale name, else the active scale's.

    Experiments call this once, so a config passed down is the config that runs.

    Example:
        >>> resolve_config({"smoke": {"n": 1}, "cpu": {"n": 10}, "gpu": {"n": 100}}, "cpu")
        {'n': 10}
        >>> resolve_config({"smoke": {}, "cpu": {}, "gpu": {}}, {"n": 3})
        {'n': 3}
    """
    if isinstance(config, Mapping):
        return config
    return pick(configs, config)

