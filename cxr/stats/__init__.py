"""Statistics for evaluation and comparison (NumPy/SciPy only, no torch).

* :mod:`.bootstrap` - patient-level bootstrap: resampling weights, weighted
  confusion / AUROC / AP / ECE per resample, percentile intervals (used by
  :mod:`cxr.classifier.metrics`);
* :mod:`.compare` - paired comparisons of two classifiers on the same test
  images (DeLong's AUC test, exact McNemar, paired patient bootstrap) and
  t-intervals over seeds (used by the sweep results);
* :mod:`.auroc` - AUROC with patient-bootstrap intervals: binary, macro
  one-vs-rest, and pooled vs within-source (used by the audits).
"""
