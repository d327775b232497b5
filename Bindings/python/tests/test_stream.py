"""Streams: chunking, flush, state save/restore, early decision, errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import swiftlet


def whole(stream: swiftlet.Stream, frames: np.ndarray) -> np.ndarray:
    return np.concatenate([stream.push(frames), stream.flush()])


def test_widths(model: swiftlet.Model) -> None:
    with model.stream() as stream:
        assert (stream.frame_width, stream.output_width, stream.pcm) == (4, 3, False)


def test_one_push_then_flush(model: swiftlet.Model, frames: np.ndarray) -> None:
    with model.stream() as stream:
        rows = stream.push(frames)
        assert rows.shape == (9, 3) and rows.dtype == np.float32  # one frame of look-ahead
        last = stream.flush()
        assert last.shape == (1, 3)
        report = stream.report
        assert report.frames_used == 10 and not report.decided and report.completed
        np.testing.assert_array_equal(report.values["rows_emitted"], [10.0])
        np.testing.assert_array_equal(stream.report_values("rows_emitted"), [10.0])
        assert stream.flush().shape == (0, 3)


def test_stream_agrees_with_whole_input_runs(model: swiftlet.Model, frames: np.ndarray) -> None:
    # The test model's row t is the running mean of the full model on (x_t + x_{t+1}) / 2, with a
    # zero frame after the last one: check that through model.run, a different code path.
    with model.stream() as stream:
        rows = whole(stream, frames)
    ahead = np.vstack([frames[1:], np.zeros((1, 4), np.float32)])
    (per_frame,), _ = model.run((frames + ahead) / 2)
    running_mean = np.cumsum(per_frame.astype(np.float64), axis=0) / np.arange(1, 11)[:, None]
    np.testing.assert_allclose(rows, running_mean, rtol=0, atol=1e-5)


@pytest.mark.parametrize("chunks", [[1] * 10, [3, 3, 4], [7, 0, 3], [2, 5, 1, 2]])
def test_chunked_push_equals_one_push(model: swiftlet.Model, frames: np.ndarray, chunks: list) -> None:
    with model.stream() as stream:
        reference = whole(stream, frames)
        stream.reset()
        parts, start = [], 0
        for n in chunks:
            parts.append(stream.push(frames[start:start + n]))
            start += n
        parts.append(stream.flush())
    np.testing.assert_array_equal(np.concatenate(parts), reference)


def test_single_frame_and_leading_dims(model: swiftlet.Model, frames: np.ndarray) -> None:
    with model.stream() as a, model.stream() as b:
        ref = whole(a, frames)
        first = b.push(frames[0])          # one [4] frame
        rest = b.push(frames[None, 1:])    # [1, 9, 4]
        np.testing.assert_array_equal(np.concatenate([first, rest, b.flush()]), ref)


def test_state_save_and_restore(model: swiftlet.Model, frames: np.ndarray) -> None:
    with model.stream() as first, model.stream() as second:
        reference = whole(first, frames)
        first.reset()
        head = first.push(frames[:5])
        state = first.state
        assert isinstance(state, bytes) and 0 < len(state) < 1024
        second.state = state
        tail = np.concatenate([second.push(frames[5:]), second.flush()])
        np.testing.assert_array_equal(np.concatenate([head, tail]), reference)
        # the original stream, untouched by the save, continues identically
        np.testing.assert_array_equal(np.concatenate([first.push(frames[5:]), first.flush()]), tail)


def test_bad_state(model: swiftlet.Model, frames: np.ndarray) -> None:
    with model.stream() as stream:
        stream.push(frames[:3])
        state = bytearray(stream.state)
        with pytest.raises(swiftlet.InvalidArgumentError):
            stream.state = bytes(state[:-1])
        state[0] ^= 0xFF
        with pytest.raises(swiftlet.InvalidArgumentError):
            stream.state = bytes(state)


def test_early_decision(model: swiftlet.Model, frames: np.ndarray) -> None:
    budget = swiftlet.Budget(early_fraction=0.5, expected_frames=10)
    with model.stream(budget=budget) as stream:
        stream.push(frames)
        report = stream.report
        assert report.decided and report.frames_used == 5 and not report.completed
        stream.reset()  # keeps the budget
        stream.push(frames)
        assert stream.report.frames_used == 5
        stream.set_budget(None)
        stream.reset()
        stream.push(frames)
        assert not stream.report.decided
        with pytest.raises(swiftlet.BudgetError):
            stream.set_budget(swiftlet.Budget(early_fraction=2.0, expected_frames=10))
    with pytest.raises(swiftlet.BudgetError):
        model.stream(budget=swiftlet.Budget(early_fraction=0.5))  # needs expected_frames


def test_stream_errors(model: swiftlet.Model, frames: np.ndarray) -> None:
    with model.stream() as stream:
        bad = frames.copy()
        bad[0, 2] = np.nan
        with pytest.raises(swiftlet.NumericError):
            stream.push(bad)
        with pytest.raises(swiftlet.ShapeError, match="4 values"):
            stream.push(np.ones((2, 5), np.float32))
        with pytest.raises(swiftlet.UnsupportedError):
            stream.push_pcm(np.zeros(160, np.int16))
        with pytest.raises(swiftlet.ShapeError):
            stream.push_pcm(np.array([40000]))
    with pytest.raises(swiftlet.UnsupportedError, match="PCM"):
        model.stream(pcm=True)


def test_matches_the_cli(model_path: Path, model: swiftlet.Model, frames: np.ndarray, cli: Path,
                         tmp_path: Path) -> None:
    np.save(tmp_path / "frames.npy", frames)
    subprocess.run([str(cli), "stream", str(model_path), "--input", str(tmp_path / "frames.npy"), "--chunk", "3",
                    "--output", str(tmp_path / "rows.npy")], check=True, capture_output=True)
    with model.stream() as stream:
        np.testing.assert_array_equal(whole(stream, frames), np.load(tmp_path / "rows.npy").reshape(10, 3))


def test_detection_options_and_errors(model: swiftlet.Model, frames: np.ndarray) -> None:
    with model.stream() as stream:
        assert not stream.detecting
        with pytest.raises(swiftlet.StateError, match="detector"):
            stream.detections
    with model.stream(detect=swiftlet.Detector(threshold=0.34)) as stream:
        assert stream.detecting
        words = []
        for frame in np.full((50, 4), 0.3, np.float32):
            stream.push(frame)
            words += stream.detections
        stream.flush()
        words += stream.detections
        assert words and all(isinstance(w, swiftlet.Detection) for w in words)
        assert all(w.word in ("low", "middle", "high") or w.word.startswith("class ") for w in words)
        assert [w.seconds for w in words] == sorted(w.seconds for w in words)
        with pytest.raises(swiftlet.BudgetError):
            stream.set_budget(swiftlet.Budget(early_margin=0.5))
    for bad in (swiftlet.Detector(threshold=0), swiftlet.Detector(window=-1), swiftlet.Detector(background=[7]),
                swiftlet.Detector(background=[0, 1, 2])):
        with pytest.raises(swiftlet.InvalidArgumentError):
            model.stream(detect=bad)
    with pytest.raises(swiftlet.InvalidArgumentError):
        model.stream(detect="yes")


def kws_model(cli: Path, tmp_path: Path) -> Path:
    fixture = Path(__file__).resolve().parents[3] / "Tests" / "Fixtures" / "kws-detect"
    out = tmp_path / "kws.swl"
    subprocess.run([str(cli), "convert", "--quiet", "--family", "lmuformer", "--config", str(fixture / "config.json"),
                    "--checkpoint", str(fixture / "checkpoint.safetensors"), "--labels", str(fixture / "labels.txt"),
                    "--output", str(out)], check=True, capture_output=True)
    return out


def test_spoken_words_are_detected(cli: Path, tmp_path: Path) -> None:
    import json
    import wave

    fixture = Path(__file__).resolve().parents[3] / "Tests" / "Fixtures" / "kws-detect"
    expected = json.loads((fixture / "sentence.json").read_text())["words"]
    with wave.open(str(fixture / "sentence.wav")) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    with swiftlet.Model(kws_model(cli, tmp_path)) as model:
        with model.stream(pcm=True, detect=True) as stream:
            found = []
            for piece in np.array_split(pcm, len(pcm) // 1600):
                stream.push_pcm(piece)
                found += stream.detections
            stream.flush()
            found += stream.detections
    assert [d.word for d in found] == [w["word"] for w in expected]
    for d, w in zip(found, expected):
        assert w["start"] - 0.1 < d.seconds < w["end"] + 0.4 and d.score >= 0.5
