"""Op declarations: nn_norm family."""
from __future__ import annotations
