"""Audio clips to spectrogram images, for the two vocalisation sets CAT and BIRDz (Section 3).

The paper classifies animal sounds "represented as spectrograms" [P] but the group's spectrogram
parameters are [UNKNOWN] (Section 3). ``dissim`` chooses, and documents here:

* mono signal (channels averaged), no resampling;
* Hann window of ``n_fft`` samples, the power of two nearest to 25 ms of signal (256 at 8 kHz,
  512 at 16-22.05 kHz, 1024 at 44.1-48 kHz), hop ``n_fft // 4`` (75 % overlap);
* magnitude STFT (:class:`scipy.signal.ShortTimeFFT`) in dB, ``20 log10(|X| / max|X|)``, clipped
  to a dynamic range of ``top_db = 80`` dB and mapped linearly to 0-255 (0 = 80 dB below the
  loudest bin, 255 = the loudest bin);
* optional triangular mel filter bank (``n_mels``, HTK mel scale) and an upper frequency limit
  ``fmax``; linear frequency by default;
* low frequencies at the bottom row (image convention of a plotted spectrogram);
* native size unless ``size=(height, width)`` is given (resizing to the network input happens
  later in the pipeline, Section 2).

Converted images are cached on disk as PNG under ``$DISSIM_CACHE`` (default ``~/.cache/dissim``),
keyed by the clip's bytes and the parameters.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import wavfile
from scipy.signal import ShortTimeFFT
from scipy.signal.windows import hann

from dissim.errors import DataError

TOP_DB = 80.0


def cache_dir() -> Path:
    """The on-disk cache folder: ``$DISSIM_CACHE`` or ``~/.cache/dissim``."""
    return Path(os.environ.get("DISSIM_CACHE", "~/.cache/dissim")).expanduser()


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a WAV file as mono float64 in [-1, 1] and its sample rate."""
    try:
        rate, x = wavfile.read(path)
    except (ValueError, OSError, EOFError) as err:
        raise DataError(
            f"cannot read audio {path} ({err.__class__.__name__}); remove or replace it"
        ) from None
    if x.dtype.kind == "u":  # 8-bit WAV is unsigned
        bits = 8 * x.dtype.itemsize
        x = (x.astype(np.float64) - 2 ** (bits - 1)) / 2 ** (bits - 1)
    elif x.dtype.kind == "i":
        x = x.astype(np.float64) / float(np.iinfo(x.dtype).max)
    else:
        x = x.astype(np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    return x, int(rate)


def default_n_fft(rate: int) -> int:
    """Power of two nearest to 25 ms at ``rate`` (a ``dissim`` choice, see module doc)."""
    return int(2 ** round(np.log2(0.025 * rate)))


def mel_filterbank(n_mels: int, n_fft: int, rate: int, fmax: float | None = None) -> np.ndarray:
    """Triangular filters on the HTK mel scale, shape ``(n_mels, n_fft // 2 + 1)``."""
    fmax = rate / 2 if fmax is None else float(fmax)

    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    freqs = np.linspace(0.0, rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(0.0, hz_to_mel(fmax), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs - lo) / np.maximum(mid - lo, 1e-12)
    down = (hi - freqs) / np.maximum(hi - mid, 1e-12)
    return np.maximum(0.0, np.minimum(up, down))


def wav_to_image(
    source,
    *,
    n_fft: int | None = None,
    hop: int | None = None,
    n_mels: int | None = None,
    fmax: float | None = None,
    size: tuple[int, int] | None = None,
    top_db: float = TOP_DB,
) -> np.ndarray:
    """Spectrogram image of a clip: ``uint8`` ``HxW``, low frequencies at the bottom.

    Parameters
    ----------
    source : str, Path or (numpy.ndarray, int)
        A WAV file, or a ``(signal, rate)`` pair (mono or ``(n, channels)``).
    n_fft, hop : int, optional
        Window length and hop in samples (defaults: :func:`default_n_fft`, ``n_fft // 4``).
    n_mels : int, optional
        Number of mel bands (None: linear frequency, ``n_fft // 2 + 1`` rows).
    fmax : float, optional
        Highest frequency kept, in Hz (None: Nyquist).
    size : (int, int), optional
        Resize the image to ``(height, width)`` (bilinear).
    top_db : float
        Dynamic range kept below the loudest bin, in dB.

    Returns
    -------
    numpy.ndarray
        ``uint8`` image; row 0 is the highest frequency, column ``t`` the ``t``-th frame.
    """
    if isinstance(source, (str, Path)):
        x, rate = read_wav(source)
    else:
        x, rate = source
        x = np.asarray(x, dtype=np.float64)
        x = x.mean(axis=1) if x.ndim == 2 else x
    n_fft = default_n_fft(rate) if n_fft is None else int(n_fft)
    hop = max(1, n_fft // 4) if hop is None else int(hop)
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    sft = ShortTimeFFT(hann(n_fft, sym=False), hop=hop, fs=rate, scale_to="magnitude")
    mag = np.abs(sft.stft(x, p0=0, p1=(len(x) - n_fft) // hop + 1))
    if n_mels:
        mag = mel_filterbank(int(n_mels), n_fft, rate, fmax) @ mag
    elif fmax is not None:
        mag = mag[sft.f <= float(fmax)]
    ref = float(mag.max())
    if ref <= 0.0:
        img = np.zeros(mag.shape, dtype=np.uint8)
    else:
        db = 20.0 * np.log10(np.maximum(mag, ref * 10.0 ** (-top_db / 20.0)) / ref)
        img = np.rint((db + top_db) / top_db * 255.0).astype(np.uint8)
    img = img[::-1].copy()
    if size is not None:
        h, w = size
        img = np.asarray(Image.fromarray(img).resize((int(w), int(h)), Image.BILINEAR))
    return img


def cached_wav_image(path: str | Path, **params) -> np.ndarray:
    """:func:`wav_to_image` with an on-disk PNG cache keyed by the clip's bytes and ``params``."""
    path = Path(path)
    h = hashlib.sha256(path.read_bytes())
    h.update(repr(sorted(params.items())).encode())
    target = cache_dir() / "spectrograms" / f"{h.hexdigest()[:32]}.png"
    if target.is_file():
        try:
            with Image.open(target) as img:
                return np.asarray(img, dtype=np.uint8).copy()
        except OSError:
            pass  # a broken cache entry is simply recomputed
    img = wav_to_image(path, **params)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    Image.fromarray(img).save(tmp, format="PNG")
    os.replace(tmp, target)
    return img
