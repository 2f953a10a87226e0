"""cxr data: phantoms, indexing, patient-level splits and the image cache, with their tables."""
