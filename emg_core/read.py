"""Read a GHOSTLY C3D recording from a path or from bytes, safely.

Order matters: validate the structure in Python (`c3d_format`), then let the parser library read
the file in a supervised worker (`parser_pool`), then check that it returned what the header
declared (the library silently returns fewer frames for a truncated data section).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from emg_core.c3d_format import validate_c3d
from emg_core.errors import C3DFormatError, InputError
from emg_core.parser_pool import ParserPool
from emg_core.recording import Recording, pair_channels, recording_info


def read_c3d(
    source: str | os.PathLike[str] | bytes,
    pool: ParserPool,
    *,
    filename: str | None = None,
    sha256: str | None = None,
) -> Recording:
    """Read a recording.

    Parameters
    ----------
    source : path or bytes
        The C3D file, or its content (for uploads).
    pool : ParserPool
        Supervised parser workers; the parse never runs in this process.
    filename : str, optional
        Name to report (and to read the recording time from) when ``source`` is bytes.
    sha256 : str, optional
        The content's hex SHA-256 when the caller has already computed it (uploads up to
        100 MiB are hashed once, not twice).

    Raises
    ------
    InputError
        The file is not a complete, readable C3D recording with analog channels.
    """
    if isinstance(source, bytes):
        data, path = source, None
        name = Path(filename or "upload.c3d").name
    else:
        path = Path(source)
        name = filename or path.name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    layout = validate_c3d(data)
    if path is None:
        with tempfile.NamedTemporaryFile(suffix=".c3d") as tmp:
            tmp.write(data)
            tmp.flush()
            parsed = pool.parse_file(tmp.name)
    else:
        parsed = pool.parse_file(path)
    n_channels = len(layout.analog_labels)
    if parsed.analogs.shape != (n_channels, layout.analog_samples):
        raise C3DFormatError(
            f"file is truncated or inconsistent: the header declares {n_channels} analog channels "
            f"× {layout.analog_samples} samples, the data section holds "
            f"{parsed.analogs.shape[0]} × {parsed.analogs.shape[1]}"
        )
    return Recording(
        filename=name,
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        info=recording_info(name, parsed.parameters, layout.analog_rate_hz, layout.analog_samples),
        channels=pair_channels(list(layout.analog_labels), parsed.analogs),
    )
