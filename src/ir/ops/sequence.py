"""Op declarations: sequence family."""
from __future__ import annotations
