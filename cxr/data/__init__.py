"""Data layer: the manifest contract, dataset adapters, splits, image I/O, cache, phantoms."""
