"""cxr serve: a local web page over a finished classify run."""
