"""Op declarations: nn_conv family."""
from __future__ import annotations
