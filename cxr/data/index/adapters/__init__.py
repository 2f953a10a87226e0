"""Adapters for published chest X-ray layouts, registered by decorator.

Importing this package registers every layout; see :mod:`.registry` for the
interface and one module per layout for its citation and quirks.
"""

from cxr.data.index.adapters import (  # noqa: F401  (import registers the adapters)
    coronahack,
    covid_chestxray,
    covid_qu_ex,
    folder_per_class,
    hannover,
    kaggle_pneumonia,
)
from cxr.data.index.adapters.layout_registry import (
    Adapter,
    Candidate,
    LayoutError,
    LayoutOptions,
    LeftOut,
    Notice,
    Record,
    adapter_descriptions,
    compile_patient_regex,
    detect_adapter,
    get_adapter,
    list_adapters,
    patient_from_regex,
    pick_layout,
    register_adapter,
)

__all__ = [
    "Adapter",
    "Candidate",
    "LayoutError",
    "LayoutOptions",
    "LeftOut",
    "Notice",
    "Record",
    "adapter_descriptions",
    "compile_patient_regex",
    "detect_adapter",
    "get_adapter",
    "list_adapters",
    "patient_from_regex",
    "pick_layout",
    "register_adapter",
]
