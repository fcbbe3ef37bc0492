"""Writing a file so that readers never see half of it: a synced temporary file and one rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_text_atomic(path: str | Path, text: str, *, parents: bool = False, newline: str | None = None) -> Path:
    """Write ``text`` to ``path`` through a temporary file beside it and one rename.

    Parameters
    ----------
    path : str or Path
        The file to write; an existing one is replaced only once the new text is complete.
    text : str
        The whole content (UTF-8).
    parents : bool
        Create missing parent folders; otherwise a missing folder is an OSError.
    newline : str, optional
        As for :func:`open` (``""`` writes line ends exactly as given, e.g. CSV's ``\\r\\n``).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OSError
        When the file cannot be written; no temporary file is left behind.
    """
    path = Path(path)
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(handle, 0o644)  # mkstemp makes it private; a written file is read by the team too
        with os.fdopen(handle, "w", encoding="utf-8", newline=newline) as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
