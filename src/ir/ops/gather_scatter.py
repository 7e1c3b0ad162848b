"""Op declarations: gather_scatter family."""
from __future__ import annotations
