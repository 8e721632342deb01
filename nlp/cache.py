"""Where nlp keeps the tables it derives from jieba's dictionary (rebuilt when missing).

`$MINYI_NLP_CACHE` when set; otherwise the user's cache folder (`$XDG_CACHE_HOME/minyi`, else
`~/.cache/minyi`), which outlives a reboot, where the temp dir is emptied by many systems and
the first start after that would rebuild the tables (~2.5 s instead of ~0.4 s); the temp dir
when the cache folder cannot be created (a read-only home only costs start-up time).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_folder() -> Path:
    chosen = os.environ.get("MINYI_NLP_CACHE")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "minyi"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return Path(tempfile.gettempdir())
    return folder
