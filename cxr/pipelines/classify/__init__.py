"""`cxr classify`, `predict`, `export`: one training run (:mod:`.run`, data in :mod:`.data`,
files in :mod:`.outputs`), prediction on new images (:mod:`.predict`), ONNX / TorchScript
export (:mod:`.export`)."""
