"""Audio -> spectrogram images (dissim.data.spectrogram; SPEC section 8, CAT and BIRDz)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from dissim import data
from dissim.data.spectrogram import cached_wav_image, default_n_fft, read_wav, wav_to_image
from dissim.errors import DataError

SHARED = Path(os.environ.get("DISSIM_SHARED_DATASETS",
                             Path(__file__).resolve().parents[2] / "shared" / "datasets"))


def _tone(freq=1000.0, rate=8000, seconds=0.5):
    t = np.arange(int(rate * seconds)) / rate
    return 0.5 * np.sin(2 * np.pi * freq * t), rate


def test_pure_tone_is_a_bright_row_at_its_bin():
    x, rate = _tone(1000.0)
    img = wav_to_image((x, rate), n_fft=256, hop=64)
    assert img.dtype == np.uint8 and img.shape == (129, (len(x) - 256) // 64 + 1)
    expected_bin = round(1000.0 / (rate / 256))           # 32, an independent oracle
    assert img.mean(axis=1).argmax() == img.shape[0] - 1 - expected_bin  # low freq at bottom
    assert img.max() == 255 and img.min() == 0             # 80 dB range fills 0-255


def test_higher_tone_is_higher_in_the_image():
    low = wav_to_image(_tone(500.0), n_fft=256).mean(axis=1).argmax()
    high = wav_to_image(_tone(3000.0), n_fft=256).mean(axis=1).argmax()
    assert high < low


def test_mel_fmax_and_size_options():
    x, rate = _tone(1000.0)
    assert wav_to_image((x, rate), n_fft=256, n_mels=40).shape[0] == 40
    assert wav_to_image((x, rate), n_fft=256, fmax=2000).shape[0] == 65  # bins 0..2000 Hz
    assert wav_to_image((x, rate), size=(50, 60)).shape == (50, 60)
    assert wav_to_image((np.zeros(1000), rate)).max() == 0


def test_default_window_is_about_25_ms():
    assert [default_n_fft(r) for r in (8000, 16000, 22050, 44100)] == [256, 512, 512, 1024]


def test_wav_io_stereo_int16_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DISSIM_CACHE", str(tmp_path / "cache"))
    x, rate = _tone(1000.0)
    stereo = (np.stack([x, x], axis=1) * 32767).astype(np.int16)
    wavfile.write(tmp_path / "t.wav", rate, stereo)
    y, r = read_wav(tmp_path / "t.wav")
    assert r == rate and y.ndim == 1 and abs(y.max() - 0.5) < 1e-3
    img = cached_wav_image(tmp_path / "t.wav")
    assert list((tmp_path / "cache" / "spectrograms").glob("*.png"))
    np.testing.assert_array_equal(img, cached_wav_image(tmp_path / "t.wav"))
    (tmp_path / "bad.wav").write_bytes(b"RIFFnope")
    with pytest.raises(DataError, match="bad.wav.*remove or replace it"):
        read_wav(tmp_path / "bad.wav")


def test_audio_manifest_loads_wavs_as_spectrograms(tmp_path, monkeypatch):
    monkeypatch.setenv("DISSIM_CACHE", str(tmp_path / "cache"))
    x, rate = _tone(700.0, seconds=0.2)
    for c in data.manifest("cat")["classes"]:
        (tmp_path / "cat" / c["name"]).mkdir(parents=True)
        wavfile.write(tmp_path / "cat" / c["name"] / "clip.wav", rate, (x * 3e4).astype(np.int16))
    ds = data.load("cat", tmp_path / "cat", progress=False)
    assert len(ds) == 10 and ds.images[0].dtype == np.uint8 and ds.images[0].shape[0] == 129
    assert ds.paths[0].endswith("clip.wav")


def test_fsdd_real_clips():
    root = SHARED / "fsdd_spoken_digits"
    if not root.is_dir():
        pytest.skip(f"shared data sets not found at {SHARED}")
    clips = sorted((root / "0").glob("*.wav"))[:3]
    for clip in clips:
        img = wav_to_image(clip)
        _, rate = read_wav(clip)
        assert rate == 8000 and img.shape[0] == 129 and img.shape[1] > 5
        assert img.max() == 255 and img.dtype == np.uint8
