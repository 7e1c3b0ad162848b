"""Op declarations: quant family."""
from __future__ import annotations
