"""Op declarations: shape family."""
from __future__ import annotations
