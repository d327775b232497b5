"""Image input: RGB8 arrays through a vit converted with --preprocess, against timm's goldens
(Tests/Fixtures/image-preprocess, made by its make.py: Pillow's decoding of each photo, timm's
transform of it and the reference model's logits)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

import swiftlet
from conftest import REPO

FIXTURES = REPO / "Tests" / "Fixtures"
IMAGES = FIXTURES / "image-preprocess"
PHOTOS = ["photo.jpg", "photo.png"]
# One 8-bit level of the model input, for each channel: 1 / (255 · std).
LEVEL = 1 / (255 * np.array([0.229, 0.224, 0.225], np.float32))[None, :, None, None]


def _convert(cli: Path, out: Path, *flags: str) -> Path:
    vit = FIXTURES / "vit-tiny-test"
    subprocess.run([str(cli), "convert", "--quiet", "--force", "--family", "vit", "--config", str(vit / "config.json"),
                    "--checkpoint", str(vit / "checkpoint.safetensors"), "--output", str(out), *flags],
                   check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def image_model_path(cli: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _convert(cli, tmp_path_factory.mktemp("vit") / "vit-image.swl",
                    "--preprocess", str(IMAGES / "pretrained_cfg.json"), "--labels", str(IMAGES / "labels.txt"))


@pytest.fixture
def image_model(image_model_path: Path) -> Iterator[swiftlet.Model]:
    with swiftlet.Model(image_model_path) as m:
        yield m


def pixels(photo: str) -> np.ndarray:
    return np.load(IMAGES / f"e2e_{photo}_pixels.npy")


@pytest.mark.parametrize("photo", PHOTOS)
def test_preprocess_matches_timm(image_model: swiftlet.Model, photo: str) -> None:
    x = image_model.preprocess(pixels(photo))
    want = np.load(IMAGES / f"e2e_{photo}_input.npy")
    assert x.dtype == np.float32 and x.shape == want.shape == (1, 3, 32, 32)
    levels = np.abs(x - want) / LEVEL
    assert levels.max() <= 1, f"max difference {levels.max()} levels"
    np.testing.assert_array_equal(x, want)  # the same pixels, then the same float32 arithmetic


@pytest.mark.parametrize("photo", PHOTOS)
def test_run_image_matches_reference(image_model: swiftlet.Model, photo: str) -> None:
    (logits, tokens, sizes), report = image_model.run_image(pixels(photo))
    want = np.load(IMAGES / f"e2e_{photo}_logits.npy")
    np.testing.assert_allclose(logits, want, atol=1e-4, rtol=1e-4)
    assert report.completed and report.tokens_kept == 65 and tokens.shape[:2] == sizes.shape
    assert image_model.labels[int(logits[0].argmax())] in (IMAGES / "labels.txt").read_text().split()
    # the same as running the preprocessed tensor; a budget applies as for run()
    (direct, *_), _ = image_model.run(image_model.preprocess(pixels(photo)))
    np.testing.assert_array_equal(direct, logits)
    with image_model.session() as s:
        _, merged = s.run_image(pixels(photo), budget=swiftlet.Budget(merge_r=[4]))
    assert merged.tokens_kept < report.tokens_kept and merged.choice == "r=4"


def test_layouts(image_model: swiftlet.Model) -> None:
    rgb = pixels("photo.png")
    x = image_model.preprocess(rgb)
    # a crop of a larger array (rows further apart than the pixels) is read in place
    wide = np.zeros((rgb.shape[0], rgb.shape[1] + 7, 3), np.uint8)
    wide[:, 3:3 + rgb.shape[1]] = rgb
    np.testing.assert_array_equal(image_model.preprocess(wide[:, 3:3 + rgb.shape[1]]), x)
    # other layouts are copied: Fortran order, flipped twice
    np.testing.assert_array_equal(image_model.preprocess(np.asfortranarray(rgb)), x)
    np.testing.assert_array_equal(image_model.preprocess(rgb[::-1][::-1]), x)
    # RGBA drops alpha; grey (H, W) and (H, W, 1) become R = G = B
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 9, np.uint8)], axis=2)
    np.testing.assert_array_equal(image_model.preprocess(rgba), x)
    grey = rgb[:, :, 1]
    np.testing.assert_array_equal(image_model.preprocess(grey), image_model.preprocess(np.stack([grey] * 3, 2)))
    np.testing.assert_array_equal(image_model.preprocess(grey[:, :, None]), image_model.preprocess(grey))


def test_bad_images_are_refused(image_model: swiftlet.Model) -> None:
    rgb = pixels("photo.jpg")
    with pytest.raises(swiftlet.ShapeError, match="uint8"):
        image_model.preprocess(rgb.astype(np.float32))
    with pytest.raises(swiftlet.ShapeError, match="shape"):
        image_model.preprocess(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(swiftlet.ShapeError, match="at least one pixel"):
        image_model.run_image(np.zeros((0, 5, 3), np.uint8))
    with pytest.raises(swiftlet.ShapeError, match="65535"):
        image_model.preprocess(np.zeros((1, 70000, 3), np.uint8))


def test_models_without_preprocessing_refuse(cli: Path, tmp_path: Path, model: swiftlet.Model) -> None:
    rgb = pixels("photo.jpg")
    with swiftlet.Model(_convert(cli, tmp_path / "plain.swl")) as plain:
        with pytest.raises(swiftlet.UnsupportedError, match="--preprocess"):
            plain.run_image(rgb)
        with pytest.raises(swiftlet.UnsupportedError, match="--preprocess"):
            plain.preprocess(rgb)
    with pytest.raises(swiftlet.UnsupportedError, match="does not take images"):
        model.run_image(rgb)  # the built-in test model: another family


def test_load_image_with_pillow(image_model: swiftlet.Model) -> None:
    # Optional: Pillow is not among the bindings' dependencies.
    pytest.importorskip("PIL")
    for photo in PHOTOS:
        np.testing.assert_array_equal(swiftlet.load_image(IMAGES / photo), pixels(photo))
