"""Citizens' photos: sniffed, size-checked and re-encoded, so no EXIF (GPS, camera) is kept."""

from __future__ import annotations

import io
import secrets
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from minyi.errors import ValidationFailed

# Photos are scaled down to this longest side: enough to see a broken lamp, small to store.
MAX_SIDE = 2560
MAX_PIXELS = 50_000_000
SIGNATURES = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG"}


def _not_an_image() -> ValidationFailed:
    return ValidationFailed("照片只能是 JPEG 或 PNG 图片", "the photo must be a JPEG or PNG image")


def clean_photo(data: bytes, *, max_bytes: int) -> tuple[bytes, str]:
    """The photo re-encoded without metadata, and its extension; ValidationFailed otherwise."""
    if len(data) > max_bytes:
        raise ValidationFailed(
            f"照片太大（{len(data) / 1e6:.1f} MB），最大 {max_bytes / 1e6:.1f} MB",
            f"the photo is too large ({len(data) / 1e6:.1f} MB, at most {max_bytes / 1e6:.1f} MB)",
        )
    kind = next((k for sig, k in SIGNATURES.items() if data.startswith(sig)), None)
    if kind is None:
        raise _not_an_image()
    try:
        with warnings.catch_warnings():
            # A decompression bomb is refused below, not reported as a warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format != kind or image.width * image.height > MAX_PIXELS:
                    raise _not_an_image()
                image.load()
                # Turn the picture upright before its orientation tag goes with the metadata.
                upright = ImageOps.exif_transpose(image)
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ):
        raise _not_an_image() from None
    upright.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    if kind == "PNG":
        upright.save(out, "PNG", optimize=True)  # no text chunks: pnginfo is not passed on
        return out.getvalue(), "png"
    if upright.mode not in ("RGB", "L"):
        upright = upright.convert("RGB")
    upright.save(out, "JPEG", quality=85)  # no exif= given: nothing of the original's is kept
    return out.getvalue(), "jpg"


def store_photo(data: bytes, extension: str, upload_dir: str | Path) -> str:
    """Write a cleaned photo under a random name in `upload_dir`; returns the name."""
    folder = Path(upload_dir)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{extension}"
    partial = folder / f".{name}.part"
    partial.write_bytes(data)
    partial.replace(folder / name)  # readers never see half a file
    return name


def discard_photo(name: str, upload_dir: str | Path) -> None:
    """Remove a stored photo that no complaint ended up referring to."""
    (Path(upload_dir) / name).unlink(missing_ok=True)
