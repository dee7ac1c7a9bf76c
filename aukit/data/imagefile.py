"""Reading one image file the way `prepare` and `predict` both need: BGR, or None and why.

OpenCV hides the two ways a JPEG loses pixels: libjpeg decodes it anyway, fills what is
missing with grey or garbage, and prints a warning without the file's name. Such a face
would be detected, aligned and scored as if it were whole.
- Cut short (an interrupted copy, a half-synced folder): the end-of-image marker FF D9 is
  missing and libjpeg, in strict mode, reaches the end of the data first. A file whose last
  bytes are not FF D9 but that decodes whole is kept: a phone's motion photo (Google's
  ``PXL_...MP.jpg``, Samsung's) appends a short video after the picture.
- Damaged inside (a zeroed or overwritten block, bytes dropped mid-file): libjpeg warns
  "Corrupt JPEG data: premature end of data segment" or "bad Huffman code". JPEGs are
  decoded by simplejpeg (libjpeg-turbo, the same pixels as OpenCV) in strict mode, which
  raises on such warnings; the ones that lose no pixels are let through. A fatal libjpeg
  error (a bad marker) is refused too, where OpenCV returns the rows decoded before it.
A flipped bit inside the entropy data decodes without any warning: no decoder can see it.
A phone photo's EXIF orientation is applied, as OpenCV's imread does (a portrait photo stored
landscape would otherwise reach the detector on its side).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np
import simplejpeg

JPEG_SUFFIXES = (".jpg", ".jpeg")
CUT_SHORT = "JPEG cut short (no end-of-image marker)"
SOI = b"\xff\xd8"                # a JPEG's first two bytes
EOI = b"\xff\xd9"                # and its last two (zero padding may follow)


def _ends_whole(tail: bytes) -> bool:
    """Whether a JPEG's last bytes hold its end-of-image marker."""
    return tail.rstrip(b"\0").endswith(EOI)


def jpeg_complete(path: str | Path) -> bool:
    """False for a JPEG that starts with its start-of-image marker FF D8 but lacks the end-of-image
    marker FF D9 (cut short), or a file that cannot be opened.

    Reads the first 2 bytes and the last 4 KiB: about 5 us a frame, against ~8 ms to decode a
    1040x1392 frame. Zero padding after the marker is allowed. A file that is no JPEG at all, and
    other formats, pass: their decoders refuse them."""
    path = Path(path)
    if path.suffix.lower() not in JPEG_SUFFIXES:
        return True
    try:
        with open(path, "rb") as f:
            if f.read(2) != SOI:
                return True
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            return _ends_whole(f.read())
    except OSError:
        return False


# libjpeg's warnings (jerror.h, JWRN_*): decoding goes on after each. Those that lose pixels:
LOSSY = ("premature end of data segment", "premature end of jpeg file", "bad huffman code",
         "bad arithmetic code", "instead of rst")
# ... and those that do not (an ICC profile or a JFIF version is not a pixel):
HARMLESS = ("extraneous bytes", "unknown adobe color transform", "inconsistent progression sequence",
            "unknown jfif revision", "invalid sos parameters", "too many scanlines", "bad icc marker")


def lost_pixels(warning: str) -> bool:
    """Whether a libjpeg warning means pixels were not decoded, or decoded from garbage.

    Damage inside the entropy data makes the decoder run out of data, misread a code, or
    finish before the data does: "N extraneous bytes before marker 0xd9" (the end of image) or
    0xd0-0xd7 (a restart). In 200 simulated damages of SynthAU frames that case never left fewer
    than 4 bytes, while the 1-2 byte padding some webcam encoders leave before the end is
    harmless, so up to 2 are let through; so are extraneous bytes before a header marker."""
    w = warning.lower()
    extra = re.search(r"(\d+) extraneous bytes before marker 0xd[0-9]", w)
    return any(s in w for s in LOSSY) or (extra is not None and int(extra.group(1)) > 2)


def decode_jpeg(data: bytes) -> tuple[np.ndarray | None, str]:
    """(BGR image, "") for the bytes of one JPEG, or (None, libjpeg's reason): a warning that
    lost pixels, or an error (a bad marker, say) after which OpenCV, on the same libjpeg, would
    still return the rows decoded so far with the rest filled in."""
    try:
        return simplejpeg.decode_jpeg(data, colorspace="BGR", strict=True), ""
    except ValueError as e:
        why = str(e).rstrip(".")
    if lost_pixels(why) or not any(s in why.lower() for s in HARMLESS):
        return None, why
    # a harmless warning: libjpeg decodes past it (simplejpeg raises on one in the header even
    # when not strict, so OpenCV, on the same libjpeg, decodes it; the caller applies EXIF)
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION), ""


# EXIF orientation (tag 0x0112) -> the array operation that shows the picture upright
_ORIENT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
           7: lambda a: a[::-1, ::-1].transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1)}


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation of a JPEG's bytes, 1 (upright) when it has none. The Exif block
    sits in the first APP segments; Pillow reads the tag without decoding pixels (~35 us)."""
    if b"Exif\x00\x00" not in data[:65536]:
        return 1
    import io

    from PIL import Image
    try:
        return int(Image.open(io.BytesIO(data)).getexif().get(0x0112, 1))
    except Exception:                           # noqa: BLE001 - a malformed Exif block: no orientation
        return 1


def upright(img: np.ndarray, orientation: int) -> np.ndarray:
    """``img`` turned as EXIF ``orientation`` (1-8) says; other values leave it as it is."""
    turn = _ORIENT.get(orientation)
    return img if turn is None else np.ascontiguousarray(turn(img))


def read_bgr(path: str | Path) -> tuple[np.ndarray | None, str]:
    """(BGR uint8 image, "") or (None, the reason) for one image file."""
    path = Path(path)
    if not path.is_file():
        return None, f"missing file {path.name}"
    try:
        data = path.read_bytes()                # once: the marker check below reads these bytes too
    except OSError as e:
        return None, f"unreadable image {path.name} ({e.strerror})"
    if not data:                                # OpenCV raises on an empty buffer
        return None, f"empty file {path.name}"
    if data[:2] == SOI:
        img, why = decode_jpeg(data)
        if img is None:
            if not _ends_whole(data[-4096:]) and "premature end" in why.lower():
                return None, f"{CUT_SHORT}: {path.name}"
            return None, f"damaged JPEG ({why}): {path.name}"
        return upright(img, exif_orientation(data)), ""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return (img, "") if img is not None else (None, f"unreadable image {path.name} ({not_decoded(data)})")


# first bytes of formats OpenCV may fail on: named so a damaged one is not mistaken for another kind
_SIGNATURES = ((b"\x89PNG", "a PNG"), (b"GIF8", "a GIF"), (b"BM", "a BMP"), (b"II*\x00", "a TIFF"),
               (b"MM\x00*", "a TIFF"))
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif")


def not_decoded(data: bytes) -> str:
    """What a file OpenCV could not decode seems to be, from its first bytes: a web page saved under an
    image's name (a failed download), a HEIC/AVIF photo (no decoder here), a damaged PNG, text."""
    head = data[:512]
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml", b"<!--")) or b"<html" in text[:256]:
        return "an HTML or XML page, not an image: a download that failed, saved under the image's name"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return f"a {'AVIF' if head[8:12] == b'avif' else 'HEIC/HEIF'} image, which OpenCV does not decode: " \
               "convert it to JPEG or PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image, damaged or cut short"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):       # before "BM": a text may start so
        return "a text file, not an image"
    for magic, kind in _SIGNATURES:
        if head.startswith(magic):
            return f"{kind} image, damaged or cut short"
    return f"not an image format OpenCV decodes (first bytes {head[:8].hex(' ')})"
