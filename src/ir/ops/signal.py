"""Op declarations: signal family."""
from __future__ import annotations
