"""`cxr gan ...`: train a CycleGAN (:mod:`.train`), synthesise images (:mod:`.synth`),
evaluate them (:mod:`.evaluate`, figures in :mod:`.figures`)."""
