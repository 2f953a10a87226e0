"""Audits of what a data set or a GAN lets a classifier learn.

* :mod:`.shortcuts` - `cxr audit shortcuts`: source probe, confounding tables,
  masking probes, Grad-CAM energy and the within-source gap, with a
  ``high | medium | low`` verdict (:mod:`.verdict`).
"""
