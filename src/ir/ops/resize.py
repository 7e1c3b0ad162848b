"""Op declarations: resize family."""
from __future__ import annotations
