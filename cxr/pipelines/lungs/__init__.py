"""`cxr lungs ...`: train, evaluate and apply the lung segmenter (stage cxr.lungs)."""
