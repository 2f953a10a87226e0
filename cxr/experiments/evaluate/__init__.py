"""`cxr evaluate` and external validation: score trained classifiers on any manifest."""
