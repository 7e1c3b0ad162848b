"""Op declarations: nn_pool family."""
from __future__ import annotations
