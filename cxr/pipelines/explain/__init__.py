"""`cxr explain`: maps, regions and localization scores for images or a manifest
(:mod:`.run`), and per-patient progression over time (:mod:`.progression`)."""
