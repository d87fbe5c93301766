"""Reading folders of images (any mode) and of text files, as the command line does."""

import numpy as np
import pytest
import scipy.sparse as sp

from deepclust.data.folders import read_folder

Image = pytest.importorskip("PIL.Image")


def test_colour_anywhere_makes_every_image_rgb(tmp_path):
    Image.fromarray(np.full((4, 4), 100, np.uint8), "L").save(tmp_path / "a_grey.png")
    Image.fromarray((np.zeros((4, 4, 3)) + [200, 0, 0]).astype(np.uint8), "RGB").save(tmp_path / "b_red.png")
    palette = Image.fromarray(np.zeros((4, 4), np.uint8), "P")
    palette.putpalette([0, 255, 0] * 256)  # every index is green
    palette.save(tmp_path / "c_palette.png")
    X, y, inputs = read_folder(tmp_path)
    assert y is None and inputs["mode"] == "RGB" and inputs["image_shape"] == [4, 4, 3]
    first_pixels = X.reshape(3, 4, 4, 3)[:, 0, 0]
    np.testing.assert_allclose(first_pixels, [[100 / 255] * 3, [200 / 255, 0, 0], [0, 1, 0]], atol=1e-6)


def test_sixteen_bit_greys_are_scaled_not_clipped(tmp_path):
    values = (np.arange(16).reshape(4, 4) * 4000).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    Image.fromarray(np.full((4, 4), 255, np.uint8), "L").save(tmp_path / "white.png")
    X, _, inputs = read_folder(tmp_path)
    assert inputs["mode"] == "L"
    np.testing.assert_allclose(X[0], values.ravel() / 65535, rtol=1e-6)
    np.testing.assert_allclose(X[1], 1.0)


def test_subfolders_are_labels_and_new_folders_are_read_the_same_way(tmp_path):
    for label in ("cat", "dog"):
        (tmp_path / "train" / label).mkdir(parents=True)
        for i in range(2):
            image = Image.fromarray(np.full((6, 5), 50 * i, np.uint8), "L")
            image.save(tmp_path / "train" / label / f"{i}.png")
    X, y, inputs = read_folder(tmp_path / "train")
    assert X.shape == (4, 30) and list(y) == ["cat", "cat", "dog", "dog"]
    (tmp_path / "new").mkdir()
    Image.fromarray(np.zeros((12, 10, 3), np.uint8), "RGB").save(tmp_path / "new" / "big.png")
    with pytest.raises(ValueError, match="is 12 x 10 but the model reads 6 x 5 images"):
        read_folder(tmp_path / "new", inputs)
    resized, _, resized_inputs = read_folder(tmp_path / "train", image_size=(3, 3))
    assert resized.shape == (4, 9) and resized_inputs["resize"] == [3, 3]
    X_new, _, _ = read_folder(tmp_path / "new", resized_inputs)  # resized like the fit, and made grey
    assert X_new.shape == (1, 9)


def test_text_vocabulary_and_idf_carry_over(tmp_path):
    (tmp_path / "a.txt").write_text("apple apple banana")
    (tmp_path / "b.txt").write_text("banana cherry")
    (tmp_path / "c.txt").write_text("")
    X, _, inputs = read_folder(tmp_path)
    assert sp.issparse(X) and X.shape == (3, 3) and inputs["vocabulary"] == ["apple", "banana", "cherry"]
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms, [1, 1, 0], atol=1e-6)  # unit rows; an empty document stays 0
    # sublinear tf: apple (tf 2, rarer) weighs (1 + ln 2) * idf(apple) against banana's idf(banana)
    idf = np.asarray(inputs["idf"])
    row = X[0].toarray().ravel()
    assert row[0] / row[1] == pytest.approx((1 + np.log(2)) * idf[0] / idf[1], rel=1e-5)
    new = tmp_path / "new"
    new.mkdir()
    (new / "d.txt").write_text("cherry durian durian")
    X_new, _, _ = read_folder(new, inputs)
    assert X_new.shape == (1, 3) and X_new.toarray()[0].tolist() == pytest.approx([0, 0, 1])


def test_check_inputs_accepts_every_reading_read_folder_makes(tmp_path):
    from deepclust.data.folders import check_inputs

    Image.fromarray(np.full((4, 6), 10, np.uint8), "L").save(tmp_path / "grey.png")
    _, _, grey = read_folder(tmp_path)
    _, _, resized = read_folder(tmp_path, image_size=(3, 5))
    Image.fromarray(np.zeros((4, 6, 3), np.uint8), "RGB").save(tmp_path / "red.png")
    _, _, colour = read_folder(tmp_path)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.txt").write_text("alpha beta beta gamma")
    _, _, text = read_folder(tmp_path / "t")
    assert resized["resize"] == [5, 3] and colour["image_shape"] == [4, 6, 3]
    for inputs, n_features in ((grey, 24), (resized, 15), (colour, 72), (text, 3)):
        assert check_inputs(inputs, "x", n_features) is inputs
    with pytest.raises(ValueError, match="'x' reads a folder of images into 24 features, but the model "
                                         "takes 25"):
        check_inputs(grey, "'x'", 25)


@pytest.mark.parametrize("inputs, detail", [
    ([1, 2], "not a record of a folder's reading"),
    ({"kind": "audio"}, "not a record of a folder's reading"),
    ({"kind": "images"}, "an image reading needs mode, image_shape, resize"),
    ({"kind": "images", "mode": "CMYK", "image_shape": [2, 2], "resize": None}, "mode is 'CMYK'"),
    ({"kind": "images", "mode": "L", "image_shape": 5, "resize": None}, "image_shape 5 is not [height, width]"),
    ({"kind": "images", "mode": "L", "image_shape": [2, 2, 3], "resize": None}, "is not [height, width]"),
    ({"kind": "images", "mode": "RGB", "image_shape": [2, 2, 4], "resize": None}, "[height, width, 3]"),
    ({"kind": "images", "mode": "L", "image_shape": [2, 0], "resize": None}, "positive ints"),
    ({"kind": "images", "mode": "L", "image_shape": [2, 3], "resize": [2, 3]}, "resize [2, 3] is not null or"),
    ({"kind": "text"}, "a text reading needs vocabulary, idf"),
    ({"kind": "text", "vocabulary": "ab", "idf": [1.0]}, "vocabulary is not a non-empty list"),
    ({"kind": "text", "vocabulary": ["a", "a"], "idf": [1.0, 1.0]}, "vocabulary repeats terms"),
    ({"kind": "text", "vocabulary": ["a", "b"], "idf": [1.0]}, "idf is not a list of 2 numbers"),
    ({"kind": "text", "vocabulary": ["a", "b"], "idf": [1.0, "2"]}, "not finite positive numbers"),
    ({"kind": "text", "vocabulary": ["a", "b"], "idf": [1.0, float("nan")]}, "not finite positive numbers"),
])
def test_check_inputs_names_the_source_and_the_fault(inputs, detail):
    from deepclust.data.folders import check_inputs

    with pytest.raises(ValueError, match="^'dir/inputs.json' is damaged: ") as raised:
        check_inputs(inputs, "'dir/inputs.json'")
    assert detail in str(raised.value)
