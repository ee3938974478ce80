"""What the chapters state about their recorded runs, apart from the code that trains them.

One module per experiment of Part III, named as in ``discgrad.experiments``, each with
``FINDINGS`` (per scale: the claims the chapter makes, with their expected values) and
``findings(runs)`` (the same claims computed from one results file's runs); a chapter asserts
``findings(runs) == FINDINGS[scale]``, and ``tests/test_committed_results.py`` checks every
committed cpu file. ``overview`` gathers every task into chapter 17's table and its
readings. Chapter 16's benchmarks have one module each, ``bench_<name>`` for
``results/bench/<name>.json``, with ``FINDINGS`` and ``findings(record)`` (``bench_notebooks``:
the chapters and their totals); the scripts in the repository's ``benchmarks/`` write the files.

A findings module may import its experiment (for ``METHODS`` and the like); an experiment
never imports its findings. Nothing is imported here: ``import discgrad.findings.dvae``
loads only what that chapter needs.
"""
