"""cxr demo: the whole pipeline on built-in phantoms, ending in the HTML report."""
