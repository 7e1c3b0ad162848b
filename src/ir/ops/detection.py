"""Op declarations: detection family."""
from __future__ import annotations
