"""Product pictures uploaded in the admin: checked, stored under `<media>/products/`
(BAYAR_MEDIA_DIR, default `<var>/media`: one directory for every process of a fleet) by content
hash (so a URL never changes meaning and can be cached forever) and served publicly at
`/media/products/{file}` for the shop and the kiosks."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from bayar.i18n import _

MAX_BYTES = 1024 * 1024
URL_PREFIX = "/media/products"
TYPES = {"png": "image/png", "jpg": "image/jpeg", "svg": "image/svg+xml"}
FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}-[0-9a-f]{16}\.(png|jpg|svg)$")
# Served pictures can never run anything, even opened directly (an SVG is a document).
HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
}
SVG_NS = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
FORBIDDEN_SVG_TAGS = {"script", "foreignobject", "iframe", "embed", "object", "audio", "video"}


class PictureError(ValueError):
    """Why an upload is refused, in words for the admin."""


@dataclass(frozen=True)
class Picture:
    kind: str  # png | jpg | svg
    data: bytes


def media_dir(media_root: Path) -> Path:
    """Where the product pictures are, under the media root (`Settings.media_path()`)."""
    return media_root / "products"


def check_picture(data: bytes) -> Picture:
    """A PNG, JPEG or SVG of at most 1 MB, recognised by its content (never by its name)."""
    if not data:
        raise PictureError(_("the file is empty"))
    if len(data) > MAX_BYTES:
        raise PictureError(_("the picture is larger than 1 MB"))
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return Picture("png", data)
    if data.startswith(b"\xff\xd8\xff"):
        return Picture("jpg", data)
    _check_svg(data)
    return Picture("svg", data)


def _check_svg(data: bytes) -> None:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PictureError(_("not a PNG, JPEG or SVG picture")) from None
    lowered = text.lower()
    if "<svg" not in lowered:
        raise PictureError(_("not a PNG, JPEG or SVG picture"))
    if "<!doctype" in lowered or "<!entity" in lowered:
        raise PictureError("SVG pictures with a DOCTYPE are not accepted")
    squeezed = re.sub(r"\s+", "", lowered)
    if "javascript:" in squeezed or "@import" in squeezed:
        raise PictureError("SVG pictures may not contain scripts or imports")
    try:
        root = ET.fromstring(text)  # noqa: S314 (no DOCTYPE, so no entity expansion)
    except ET.ParseError:
        raise PictureError("the SVG is not well-formed XML") from None
    if root.tag not in (f"{SVG_NS}svg", "svg"):
        raise PictureError(_("not an SVG picture"))
    for element in root.iter():
        tag = str(element.tag).rsplit("}", 1)[-1].lower()
        if tag in FORBIDDEN_SVG_TAGS:
            raise PictureError(f"SVG pictures may not contain <{tag}>")
        for name, value in element.attrib.items():
            local = name.rsplit("}", 1)[-1].lower()
            if local.startswith("on"):
                raise PictureError("SVG pictures may not contain event handlers")
            if (name == XLINK_HREF or local == "href") and not (
                value.startswith("#") or value.startswith("data:image/")
            ):
                raise PictureError("SVG pictures may not link to other files")


def slug(product_id: str) -> str:
    cleaned = re.sub(r"[^a-z0-9]+", "-", product_id.lower()).strip("-")[:40].strip("-")
    return cleaned or "product"


def store_picture(media_root: Path, product_id: str, picture: Picture) -> str:
    """Write the picture (atomically; the same content is the same file); its public URL."""
    digest = hashlib.sha256(picture.data).hexdigest()[:16]
    name = f"{slug(product_id)}-{digest}.{picture.kind}"
    folder = media_dir(media_root)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if not target.is_file():
        fd, staging = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(picture.data)
            os.chmod(staging, 0o644)
            os.replace(staging, target)
        except BaseException:
            Path(staging).unlink(missing_ok=True)
            raise
    return f"{URL_PREFIX}/{name}"


def stored_file(media_root: Path, name: str) -> tuple[Path, str] | None:
    """The stored file of a public name and its content type; None for anything else."""
    match = FILE_NAME.match(name)
    if match is None:
        return None
    path = media_dir(media_root) / name
    if not path.is_file():
        return None
    return path, TYPES[match.group(1)]
