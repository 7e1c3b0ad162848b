"""Op declarations: nn_linalg family."""
from __future__ import annotations
