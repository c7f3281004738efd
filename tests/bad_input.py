"""Shared pieces of the fuzz-style bad-input suite (``tests/test_bad_input_*.py``).

Generated bad folders (3 classes x 8 tiny PNGs, plus one fault each), a cheap decompression
bomb, the CLI run in-process, and the checks every probe makes: exit status 2, exactly one
stderr line starting ``dissim: error:``, no traceback, and no new file anywhere it looks.
"""

from __future__ import annotations

import io
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
WATCHED = (REPO / "book" / "results", REPO / "_build")


def make_tree(root: Path, classes: str = "abc", per_class: int = 8, side: int = 16) -> Path:
    rng = np.random.default_rng(0)
    for ci, c in enumerate(classes):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            img = (rng.integers(0, 90, (side, side)) + 70 * ci).astype(np.uint8)
            Image.fromarray(img).save(root / c / f"{i}.png")
    return root


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A valid 1-bit PNG header of ``width x height`` with one compressed row: a few hundred
    bytes that Pillow refuses at open as a decompression bomb (900 M pixels)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + (width + 7) // 8))
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
            + _chunk(b"IEND", b""))


def truncated_jpeg() -> bytes:
    buf = io.BytesIO()
    img = np.random.default_rng(1).integers(0, 255, (64, 64, 3)).astype(np.uint8)
    Image.fromarray(img).save(buf, "JPEG")
    return buf.getvalue()[: len(buf.getvalue()) // 2]


def make_bad_folders(base: Path) -> dict[str, Path]:
    """One good tree and one tree per data fault, under ``base``."""
    good = make_tree(base / "good")
    out = {"good": good}
    for name in ("bomb", "trunc", "single", "split", "macosx", "link"):
        out[name] = Path(shutil.copytree(good, base / name))
    (out["bomb"] / "a" / "big.png").write_bytes(bomb_png())
    (out["trunc"] / "a" / "cut.jpg").write_bytes(truncated_jpeg())
    shutil.rmtree(out["single"] / "c")
    (out["single"] / "c").mkdir()
    shutil.copy(good / "c" / "0.png", out["single"] / "c" / "0.png")
    shutil.rmtree(out["split"])
    for part in ("train", "test"):
        shutil.copytree(good, out["split"] / part)
    (out["macosx"] / "__MACOSX").mkdir()
    (out["link"] / "a" / "gone.png").symlink_to(base / "nowhere.png")
    out["tampered"] = base / "tampered.zip"
    with zipfile.ZipFile(out["tampered"], "w") as z:
        z.writestr("manifest.json", "[1, 2]")
    return out


def snapshot(*roots: Path) -> set[Path]:
    """Every file and folder under ``roots`` (and the repository's book outputs)."""
    seen: set[Path] = set()
    for root in (*roots, *WATCHED):
        if root.exists():
            seen.add(root)
            seen.update(root.rglob("*"))
    return seen


def fails_once(code: int, err: str) -> str:
    """Assert exit status 2 and one ``dissim: error:`` line (warnings aside); return it."""
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("dissim: error: ")]
    assert code == 2, err
    assert len(errors) == 1 and errors[0] == lines[-1], err  # progress bars may precede it
    assert "Traceback" not in err, err
    return errors[0].removeprefix("dissim: error: ")
