"""Op declarations: control family."""
from __future__ import annotations
