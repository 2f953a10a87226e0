"""`cxr study`: the seed paper's question on real public radiographs, as one resumable run."""
