"""Op declarations: loss family."""
from __future__ import annotations
