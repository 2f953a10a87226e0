"""`cxr ablate`: a resumable grid of classify runs with paired statistics.

:mod:`.run` drives it; :mod:`.grid` holds the cells and their shared types,
:mod:`.inputs` the per-split manifests and GANs, :mod:`.cells` one cell's classify
config and run, :mod:`.executors` local or Ray execution, :mod:`.results` and
:mod:`.summary` the tables and paired tests.
"""
