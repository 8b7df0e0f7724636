"""Loading real files written in the test: formats, rates, channels, sample types, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from wav2vec2_conformer.audio import AudioError, list_audio_files, load_audio, resample, to_mono


def sine(freq: float, sr: int, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return amp * np.sin(2 * np.pi * freq * t)


def peak(x: np.ndarray, sr: int) -> tuple[float, float]:
    """(frequency of the strongest component in Hz, its amplitude), measured away from the ends."""
    x = x[len(x) // 10 : -len(x) // 10]
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    k = int(spectrum.argmax())
    return k * sr / len(x), 2 * spectrum[k] / np.hanning(len(x)).sum()


@pytest.mark.parametrize(
    "ext, subtype",
    [
        ("wav", "PCM_16"),
        ("wav", "PCM_32"),
        ("wav", "FLOAT"),
        ("flac", "PCM_16"),
        ("flac", "PCM_24"),
        ("ogg", "VORBIS"),
    ],
)
@pytest.mark.parametrize("sr", [8000, 16000, 44100])
def test_formats_and_rates_give_the_sine_at_16k(tmp_path, ext, subtype, sr):
    path = tmp_path / f"a.{ext}"
    sf.write(path, sine(440, sr), sr, subtype=subtype)
    x = load_audio(path)
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) - 16000) <= 1
    freq, amp = peak(x, 16000)
    assert abs(freq - 440) < 2
    assert abs(amp - 0.5) < (0.03 if ext == "ogg" else 0.005)


def test_other_target_rate(tmp_path):
    sf.write(tmp_path / "a.wav", sine(1000, 44100), 44100)
    x = load_audio(tmp_path / "a.wav", sampling_rate=8000)
    assert abs(len(x) - 8000) <= 1 and abs(peak(x, 8000)[0] - 1000) < 2


def test_int16_scaled_to_unit_range(tmp_path):
    pcm = np.array([0, 16384, -32768, 32767] * 100, dtype=np.int16)
    sf.write(tmp_path / "a.wav", pcm, 16000)
    x = load_audio(tmp_path / "a.wav")
    np.testing.assert_allclose(x[:4], [0, 0.5, -1, 32767 / 32768], atol=1e-7)


def test_stereo_is_averaged(tmp_path):
    sr = 16000
    stereo = np.stack([sine(300, sr, amp=0.6), sine(1200, sr, amp=0.2)], axis=1)
    sf.write(tmp_path / "s.flac", stereo, sr)
    x = load_audio(tmp_path / "s.flac")
    np.testing.assert_allclose(x, stereo.mean(axis=1), atol=1e-4)  # 16-bit FLAC rounding
    sf.write(tmp_path / "s44.wav", np.stack([sine(500, 44100)] * 2, axis=1), 44100)
    freq, amp = peak(load_audio(tmp_path / "s44.wav"), 16000)
    assert abs(freq - 500) < 2 and abs(amp - 0.5) < 0.005


def test_mp3_if_libsndfile_supports_it(tmp_path):
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile has no MP3")
    sf.write(tmp_path / "a.mp3", sine(440, 16000), 16000)
    freq, _ = peak(load_audio(tmp_path / "a.mp3"), 16000)
    assert abs(freq - 440) < 2


def test_to_mono_and_resample():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    np.testing.assert_array_equal(to_mono(x), [0.5, 2.5, 4.5, 6.5, 8.5, 10.5])
    np.testing.assert_array_equal(to_mono(x[:, 0]), x[:, 0])
    with pytest.raises(ValueError, match="shape"):
        to_mono(np.zeros((2, 2, 2)))
    y = resample(sine(100, 8000).astype(np.float32), 8000, 16000)
    assert y.dtype == np.float32 and len(y) == 16000
    mono = x[:, 0]
    assert resample(mono, 16000, 16000) is mono


def _one_line(err: pytest.ExceptionInfo, path) -> str:
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg
    return msg


@pytest.mark.parametrize(
    "name, make, expected",
    [
        ("text.wav", lambda p: p.write_text("this is not audio\n" * 20), "cannot decode"),
        ("zero_bytes.wav", lambda p: p.write_bytes(b""), "empty file"),
        ("empty.wav", lambda p: sf.write(p, np.zeros(0), 16000), "no audio samples"),
        ("nan.wav", lambda p: sf.write(p, [0.1, np.nan, 0.2] * 10, 16000, "FLOAT"), "NaN or inf"),
        ("inf.flac", None, "NaN or inf"),  # FLAC cannot hold inf: written below as float WAV
        ("missing.wav", lambda p: None, "no such file"),
    ],
)
def test_bad_files_raise_one_line_audio_error(tmp_path, name, make, expected):
    path = tmp_path / name
    if make is None:
        path = tmp_path / "inf.wav"
        sf.write(path, [0.1, np.inf] * 10, 16000, "FLOAT")
    else:
        make(path)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert expected in _one_line(err, path)
    assert isinstance(err.value, ValueError)


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(AudioError, match="is a directory"):
        load_audio(tmp_path)


def test_ten_samples_load(tmp_path):
    sf.write(tmp_path / "short.wav", np.full(10, 0.25), 16000)
    np.testing.assert_allclose(load_audio(tmp_path / "short.wav"), 0.25, atol=1e-4)


@pytest.mark.parametrize("ext, keep", [("wav", 44 + 1000), ("wav", 44 + 1001), ("wav", 30)])
def test_truncated_wav(tmp_path, ext, keep):
    sf.write(tmp_path / "full.wav", sine(440, 16000), 16000, subtype="PCM_16")
    path = tmp_path / f"cut.{ext}"
    path.write_bytes((tmp_path / "full.wav").read_bytes()[:keep])
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert ("truncated" if keep > 44 else "cannot decode") in _one_line(err, path)


@pytest.mark.parametrize("ext", ["flac", "ogg"])
def test_truncated_compressed(tmp_path, ext):
    sf.write(tmp_path / f"full.{ext}", sine(440, 16000, seconds=2), 16000)
    data = (tmp_path / f"full.{ext}").read_bytes()
    path = tmp_path / f"cut.{ext}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError) as err:
        load_audio(path)
    _one_line(err, path)


def test_list_audio_files(tmp_path):
    for rel in ["b.wav", "a.flac", "sub/c.ogg", "sub/deeper/d.WAV", "notes.txt", ".hidden.wav"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    single = tmp_path / "notes.txt"
    found = list_audio_files([single, tmp_path, tmp_path / "missing.wav"])
    rel = [p.relative_to(tmp_path).as_posix() for p in found]
    assert rel == ["notes.txt", "a.flac", "b.wav", "sub/c.ogg", "sub/deeper/d.WAV", "missing.wav"]
    assert list_audio_files(str(tmp_path / "b.wav")) == [tmp_path / "b.wav"]
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("no audio")
    with pytest.raises(AudioError, match="no audio files"):
        list_audio_files(tmp_path / "empty")
