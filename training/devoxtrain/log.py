"""Progress lines of the training scripts: one timestamped line on stdout, flushed."""
from __future__ import annotations

from datetime import datetime


def log(msg: str) -> None:
    print(f'[{datetime.now().strftime("%H:%M:%S")}] {msg}', flush=True)
