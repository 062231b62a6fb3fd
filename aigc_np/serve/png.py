"""A grayscale PNG encoder from the standard library (zlib, struct), for the images the server sends.

A PNG file is an 8-byte signature and a list of chunks; each chunk is its
length, a 4-letter type, its data and a CRC-32 of type and data. Three are
enough for a grayscale image: IHDR (width, height, 8 bits, colour type 0),
IDAT (the zlib-compressed rows, each led by a filter byte: 0, "none") and
IEND. The rows are built as one array, never pixel by pixel.
"""
from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

__all__ = ["encode_png", "png_data_url"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(image: np.ndarray) -> bytes:
    """image: (H, W) floats in [0, 1] (0 black, 1 white) or uint8 -> the bytes of an 8-bit grayscale PNG."""
    image = np.asarray(image)
    if image.ndim != 2 or min(image.shape) < 1:
        raise ValueError(f"encode_png: expected an image (H, W) with H, W >= 1, got shape {image.shape}")
    if image.dtype != np.uint8:
        image = np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    height, width = image.shape
    rows = np.concatenate([np.zeros((height, 1), np.uint8), image], axis=1)   # filter byte 0 before each row
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)            # 8 bits, gray, deflate, no interlace
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) \
        + _chunk(b"IEND", b"")


def png_data_url(image: np.ndarray) -> str:
    """The image as a ``data:image/png;base64,...`` URL, which an <img> shows without another request."""
    return "data:image/png;base64," + base64.b64encode(encode_png(image)).decode("ascii")
