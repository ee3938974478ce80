"""Build step that ships the book's recorded results inside the package.

The metadata is in ``pyproject.toml``; this file only adds to ``build_py`` a copy of
``results/cpu``, ``results/gpu`` and ``results/bench`` (``*.json``) into the built package as
``discgrad/_recorded/<kind>/``, so that a wheel (``pip wheel .``, ``pip install .``, or an
install from the sdist, which carries ``results/`` by ``MANIFEST.in``) holds them and the
chapters run from the installed package (``discgrad.results.recorded_root``). The checkout's
``results/`` stays where it is; an editable install reads it there and gets no copy.
"""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RESULTS = Path(__file__).resolve().parent / "results"
#: the folders of results/ that ship, as discgrad/_recorded/<kind>/*.json
RECORDED_KINDS = ("cpu", "gpu", "bench")


class BuildPyWithRecordedResults(build_py):
    """``build_py``, then copy ``results/<kind>/*.json`` into ``<build_lib>/discgrad/_recorded/<kind>/``."""

    def _recorded(self):
        """``(source, destination)`` of every recorded results file."""
        target = Path(self.build_lib) / "discgrad" / "_recorded"
        return [(path, target / kind / path.name) for kind in RECORDED_KINDS
                for path in sorted((RESULTS / kind).glob("*.json"))]

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads the checkout's results/
            return
        for source, destination in self._recorded():
            self.mkpath(str(destination.parent))
            self.copy_file(str(source), str(destination))

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        return outputs + [str(destination) for _, destination in self._recorded()]


setup(cmdclass={"build_py": BuildPyWithRecordedResults})
