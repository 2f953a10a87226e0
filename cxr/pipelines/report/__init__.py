"""`cxr report`: one self-contained HTML page (:mod:`.build`) from what a folder holds
(:mod:`.discover`), assembled from sections (:mod:`.sections`, :mod:`.gan_explain`)
with figures (:mod:`.plots`) into ``templates/``."""
