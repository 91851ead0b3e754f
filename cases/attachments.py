"""Photos and PDFs of case steps: checked by content (never by file name), limited in size and number,
stored through Django's storage API with a thumbnail for images.

``check_files`` runs before any write, so a refused file leaves nothing half-saved; ``save_attachments`` runs
inside the caller's transaction and removes what it stored if that transaction rolls back.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

try:  # HEIC photos from phones, when the library is there
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIC = True
except ImportError:  # pragma: no cover - the requirement is pinned
    HEIC = False

# Decompression bombs: Pillow only raises above twice its limit, so the size is checked here from the header,
# before any decoding. Photos are decoded at a reduced scale (JPEG's DCT scaling), so a full-size decode of a
# phone photo never happens in the request; formats without that (PNG, WebP, HEIC) are also held to a budget of
# decoded bytes. Together they keep one upload's memory well under 300 MB.
MAX_PIXELS = 50_000_000
FULL_DECODE_BUDGET = 120 * 1024 * 1024  # bytes of decoded pixels for formats that must be decoded whole
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
_BYTES_PER_PIXEL = {
    "1": 1,
    "L": 1,
    "P": 1,
    "LA": 2,
    "I;16": 2,
    "RGB": 3,
    "YCbCr": 3,
    "RGBA": 4,
    "CMYK": 4,
    "I": 4,
    "F": 4,
}

IMAGE_FORMATS = {"JPEG": ("image/jpeg", ".jpg"), "PNG": ("image/png", ".png"), "WEBP": ("image/webp", ".webp")}
if HEIC:
    IMAGE_FORMATS["HEIF"] = ("image/heic", ".heic")
THUMB_SIZE = (320, 320)
_stored: ContextVar[list[str] | None] = ContextVar("govgrid_stored_attachments", default=None)


def max_bytes() -> int:
    return getattr(settings, "GOVGRID_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)


def max_files() -> int:
    return getattr(settings, "GOVGRID_ATTACHMENT_MAX_FILES", 9)


@dataclass(frozen=True)
class CheckedFile:
    name: str
    content_type: str
    extension: str
    data: bytes
    sha256: str

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


def _too_large(name: str) -> ValidationError:
    return ValidationError(
        _("%(name)s is too large an image (at most %(mp)d megapixels).") % {"name": name, "mp": MAX_PIXELS // 1_000_000}
    )


def _check_dimensions(name: str, img: Image.Image) -> None:
    """Refuse by the header alone: nothing has been decoded yet."""
    width, height = img.size
    pixels = width * height
    if pixels > MAX_PIXELS:
        raise _too_large(name)
    if img.format != "JPEG" and pixels * _BYTES_PER_PIXEL.get(img.mode, 4) > FULL_DECODE_BUDGET:
        raise _too_large(name)


def _decode_small(img: Image.Image, size: tuple[int, int]) -> None:
    """Decode ``img`` at the smallest scale the format allows for ``size`` (JPEG: 1/2 to 1/8), reading the whole
    file, so a truncated or corrupt image still fails here."""
    if img.format == "JPEG":
        img.draft("RGB", size)
    img.load()


def _sniff(name: str, data: bytes) -> tuple[str, str]:
    """(content type, extension) from the bytes; ValidationError for anything else."""
    if data.startswith(b"%PDF-"):
        if b"%%EOF" not in data[-2048:]:
            raise ValidationError(_("%(name)s is a damaged PDF.") % {"name": name})
        return "application/pdf", ".pdf"
    try:
        with warnings.catch_warnings():
            # Pillow warns between its limit and twice it; the size is refused just below, with a message.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
        with probe:
            fmt = probe.format
            _check_dimensions(name, probe)
            probe.verify()  # structure check without decoding everything
        with Image.open(io.BytesIO(data)) as img:
            _decode_small(img, (max(1, img.width // 8), max(1, img.height // 8)))
    except ValidationError:
        raise
    except Image.DecompressionBombError as exc:
        raise _too_large(name) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, MemoryError) as exc:
        raise ValidationError(
            _("%(name)s is not a photo (JPEG, PNG, WebP, HEIC) or a PDF, or it is damaged.") % {"name": name}
        ) from exc
    if fmt not in IMAGE_FORMATS:
        raise ValidationError(
            _("%(name)s: %(fmt)s images are not accepted; use JPEG, PNG or WebP.") % {"name": name, "fmt": fmt}
        )
    return IMAGE_FORMATS[fmt]


def check_files(files: Sequence) -> list[CheckedFile]:
    """Read and check every upload; all problems at once, as a ValidationError on "files"."""
    files = [f for f in files or [] if f]
    if len(files) > max_files():
        raise ValidationError({"files": _("At most %(n)d files per step.") % {"n": max_files()}})
    checked, problems = [], []
    for upload in files:
        name = getattr(upload, "name", "file")[:150]
        size = getattr(upload, "size", None)
        if size is not None and size > max_bytes():
            problems.append(
                _("%(name)s is larger than %(mb)d MB.") % {"name": name, "mb": max_bytes() // (1024 * 1024)}
            )
            continue
        data = upload.read(max_bytes() + 1)
        if len(data) > max_bytes():
            problems.append(
                _("%(name)s is larger than %(mb)d MB.") % {"name": name, "mb": max_bytes() // (1024 * 1024)}
            )
            continue
        if not data:
            problems.append(_("%(name)s is empty.") % {"name": name})
            continue
        try:
            content_type, extension = _sniff(name, data)
        except ValidationError as exc:
            problems.extend(exc.messages)
            continue
        checked.append(CheckedFile(name, content_type, extension, data, hashlib.sha256(data).hexdigest()))
    if problems:
        raise ValidationError({"files": problems})
    return checked


def _strip_location(data: bytes) -> bytes:
    """Re-encode a JPEG without its GPS tags (when the setting asks for it), keeping orientation."""
    with Image.open(io.BytesIO(data)) as img:
        exif = img.getexif()
        if 0x8825 not in exif:  # no GPS IFD
            return data
        del exif[0x8825]
        out = io.BytesIO()
        img.save(out, format="JPEG", quality=92, exif=exif.tobytes())
        return out.getvalue()


def _thumbnail(data: bytes) -> bytes:
    """A small JPEG, decoded at reduced scale and turned upright after shrinking (never at full size)."""
    with Image.open(io.BytesIO(data)) as img:
        _decode_small(img, THUMB_SIZE)
        img.thumbnail(THUMB_SIZE)
        img = ImageOps.exif_transpose(img)
        out = io.BytesIO()
        img.convert("RGB").save(out, format="JPEG", quality=80)
        return out.getvalue()


def save_attachments(*, case, event, checked: list[CheckedFile], actor) -> list:
    """Store checked files and their rows (inside the caller's transaction)."""
    from .models import Attachment

    saved, stored_names = [], []
    strip = getattr(settings, "GOVGRID_STRIP_PHOTO_LOCATION", False)
    for item in checked:
        data = _strip_location(item.data) if strip and item.content_type == "image/jpeg" else item.data
        attachment = Attachment(
            case=case,
            event=event,
            original_name=item.name,
            content_type=item.content_type,
            extension=item.extension,
            size=len(data),
            sha256=item.sha256,
            uploaded_by=actor if getattr(actor, "pk", None) else None,
        )
        attachment.file.save(f"{item.sha256}{item.extension}", ContentFile(data), save=False)
        stored_names.append(attachment.file.name)
        if item.is_image:
            attachment.thumbnail.save(f"{item.sha256}.jpg", ContentFile(_thumbnail(data)), save=False)
            stored_names.append(attachment.thumbnail.name)
        attachment.save()
        saved.append(attachment)

    pending = _stored.get()
    if pending is not None:
        pending.extend(stored_names)
    return saved


@contextmanager
def removed_on_error() -> Iterator[None]:
    """Wrap a transaction that saves attachments: if it fails, the stored files go too (files are not
    transactional; rows roll back by themselves)."""
    names: list[str] = []
    token = _stored.set(names)
    try:
        yield
    except BaseException:
        for name in names:
            default_storage.delete(name)
        raise
    finally:
        _stored.reset(token)
