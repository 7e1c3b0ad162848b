"""Op declarations: cast family."""
from __future__ import annotations
