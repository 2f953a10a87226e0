"""`cxr evaluate`: score a trained classifier on any manifest (scoring: classify.score)."""
