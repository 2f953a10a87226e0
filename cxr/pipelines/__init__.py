"""Experiments: the only place that combines stages, one sub-package per command group.

``gan/`` (train, synth, evaluate), ``classify/`` (run, predict, export),
``sweep/`` (ablate), ``report/``, ``explain/``, and ``demo.py`` chaining them.
"""
