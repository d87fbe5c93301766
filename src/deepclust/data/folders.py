"""Reading the command line's folder inputs: a folder of images or a folder of text files.

Files are taken from the folder itself or from its subfolders (one level); a
subfolder's name is then the label of its files, kept aside for evaluation
only. Images become rows of pixels in [0, 1] (Pillow reads them); text files
become tf-idf rows as in the DEC paper's REUTERS experiment: the 2,000 most
frequent terms, sublinear term frequency times idf, each row scaled to unit
length, kept sparse. What a fit learned of its input (the image shape, the
vocabulary and idf) is saved in the model file and beside it (``inputs.json``),
so that ``predict`` and ``report`` read a new folder exactly the same way;
:func:`check_inputs` checks such a record when it is read back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

__all__ = ["check_inputs", "describe", "folder_kind", "image_shape_of", "read_folder", "terms_of"]

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"})
TEXT_SUFFIXES = frozenset({".txt"})
MAX_TERMS = 2000
# Pillow modes without colour; "P" (a palette) may hold colours, so it is read as RGB.
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
# Modes whose values are not 8-bit: read as floats and scaled by the range of their type.
_WIDE_MODES = {"I": 65535.0, "I;16": 65535.0, "I;16L": 65535.0, "I;16B": 65535.0, "I;16N": 65535.0,
               "F": 1.0}


def _files(folder: Path) -> tuple[list[Path], list[str] | None]:
    """The data files of ``folder`` in a stable order, and their subfolder labels (or None)."""
    direct = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if direct and subfolders:
        known = [p for p in direct if p.suffix.lower() in IMAGE_SUFFIXES | TEXT_SUFFIXES]
        if known:
            raise ValueError(
                f"{str(folder)!r} holds both files ({known[0].name}, ...) and subfolders "
                f"({subfolders[0].name}, ...); put every file in a subfolder (one per label) or "
                "none."
            )
    if not subfolders:
        return direct, None
    files, labels = [], []
    for sub in subfolders:
        for p in sorted(q for q in sub.iterdir() if q.is_file() and not q.name.startswith(".")):
            files.append(p)
            labels.append(sub.name)
    return files, labels


def folder_kind(folder) -> str:
    """``"images"`` or ``"text"``: what the folder holds, by the files' suffixes."""
    folder = Path(folder)
    files, _ = _files(folder)
    suffixes = {p.suffix.lower() for p in files}
    if not files:
        raise ValueError(f"{str(folder)!r} holds no files.")
    if suffixes <= IMAGE_SUFFIXES:
        return "images"
    if suffixes <= TEXT_SUFFIXES:
        return "text"
    other = sorted(suffixes - IMAGE_SUFFIXES - TEXT_SUFFIXES) or sorted(suffixes)
    raise ValueError(
        f"{str(folder)!r} mixes or holds unsupported files ({', '.join(other)}); a data folder holds "
        f"either images ({', '.join(sorted(IMAGE_SUFFIXES))}) or text files (.txt), directly or in "
        "subfolders."
    )


def read_folder(folder, inputs: dict | None = None, *, image_size=None, return_files: bool = False):
    """``(X, labels or None, inputs)`` of a folder of images or text files.

    ``inputs`` is what a fit learned of its input (from an earlier call);
    without it the folder defines it (the images' shape, or the vocabulary
    and idf). ``image_size=(height, width)`` resizes every image to it.
    ``return_files=True`` adds a fourth item: each row's file, relative to
    ``folder`` (as read, so the rows and names cannot disagree).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{str(folder)!r} is not a folder.")
    kind = folder_kind(folder)
    if image_size is not None and kind != "images":
        raise ValueError(f"--image-size applies to a folder of images; {str(folder)!r} holds {kind}.")
    if inputs is not None and inputs.get("kind") != kind:
        raise ValueError(f"The model was fitted on {inputs.get('kind')} but {str(folder)!r} holds {kind}.")
    files, labels = _files(folder)
    if kind == "images":
        X, inputs = _read_images(files, inputs, image_size)
    else:
        X, inputs = _read_texts(files, inputs)
    y = None if labels is None else np.asarray(labels)
    if return_files:
        return X, y, inputs, [p.relative_to(folder).as_posix() for p in files]
    return X, y, inputs


def _read_images(files: list[Path], inputs: dict | None, image_size):
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:
        raise ValueError("Reading a folder of images needs Pillow: pip install pillow "
                         "(or deepclust[plot]).") from exc
    def unreadable(path, exc):
        return ValueError(f"{str(path)!r} is not a readable image: {exc}")

    if inputs is not None:
        mode, size = inputs["mode"], tuple(inputs["resize"]) if inputs.get("resize") else None
        shape = tuple(inputs["image_shape"])
    else:
        size = shape = None
        if image_size is not None:
            size = (int(image_size[1]), int(image_size[0]))  # Pillow's (width, height)
        # Colour if any image has colour: a grey image then becomes three equal channels.
        mode = "L"
        for path in files:
            try:
                with Image.open(path) as image:
                    if image.mode not in _GREY_MODES:
                        mode = "RGB"
                        break
            except (UnidentifiedImageError, OSError, ValueError) as exc:
                raise unreadable(path, exc) from exc
    rows = []
    for path in files:
        try:
            with Image.open(path) as image:
                if image.mode in _WIDE_MODES:
                    # 16-bit and float greys: scaled by their type's range, not clipped to 8 bits.
                    scale = _WIDE_MODES[image.mode]
                    image = image.convert("F")
                    if size is not None and image.size != size:
                        image = image.resize(size, Image.Resampling.BILINEAR)
                    pixels = np.asarray(image, dtype=np.float32) / scale
                    if mode == "RGB":
                        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
                else:
                    image = image.convert(mode)
                    if size is not None and image.size != size:
                        image = image.resize(size, Image.Resampling.BILINEAR)
                    pixels = np.asarray(image, dtype=np.float32) / 255.0
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise unreadable(path, exc) from exc
        if shape is None:
            shape = pixels.shape
            first = path
        if pixels.shape != shape:
            if inputs is not None:
                raise ValueError(
                    f"{str(path)!r} is {' x '.join(map(str, pixels.shape))} but the model reads "
                    f"{' x '.join(map(str, shape))} images.")
            raise ValueError(
                f"The images differ in size: {first.name} is {' x '.join(map(str, shape))}, "
                f"{path.name} is {' x '.join(map(str, pixels.shape))}. Resize them all with "
                "--image-size HEIGHT WIDTH."
            )
        rows.append(pixels.reshape(-1))
    X = np.stack(rows)
    learned = {"kind": "images", "mode": mode, "image_shape": list(shape),
               "resize": list(size) if size is not None else None}
    return X, learned


def _read_texts(files: list[Path], inputs: dict | None):
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    documents = []
    for path in files:
        try:
            documents.append(path.read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            raise ValueError(f"{str(path)!r} cannot be read: {exc}") from exc
    # Sublinear term frequency times smooth idf, log((1 + n) / (1 + df)) + 1, rows of unit length.
    tfidf = TfidfTransformer(sublinear_tf=True)
    if inputs is None:
        vectorizer = CountVectorizer(max_features=MAX_TERMS, dtype=np.float32)
        try:
            counts = vectorizer.fit_transform(documents)
        except ValueError as exc:  # e.g. every document empty
            raise ValueError(f"No terms found in the text files: {exc}") from exc
        tfidf.fit(counts)
        vocabulary = [str(t) for t in vectorizer.get_feature_names_out()]
        inputs = {"kind": "text", "vocabulary": vocabulary, "idf": tfidf.idf_.astype(np.float32).tolist()}
    else:
        vectorizer = CountVectorizer(vocabulary=inputs["vocabulary"], dtype=np.float32)
        counts = vectorizer.transform(documents)
        tfidf.idf_ = np.asarray(inputs["idf"], dtype=np.float32)  # the fit's, as the model recorded it
    return sp.csr_matrix(tfidf.transform(counts), dtype=np.float32), inputs


def _positive_ints(value, length) -> bool:
    return (isinstance(value, list) and len(value) in length
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value))


def check_inputs(inputs, source: str, n_features: int | None = None,
                 mismatch: str = "it belongs to another model. Keep each model's files together, or fit again") -> dict:
    """Check what a fit learned of a folder (as :func:`read_folder` returns it and ``fit`` saves
    it), read back from ``source`` (a file name, for messages); return it.

    An image reading needs ``mode`` ("L" or "RGB"), ``image_shape`` ([height, width] for "L",
    [height, width, 3] for "RGB") and ``resize`` (None or [width, height], the image shape's);
    a text reading a ``vocabulary`` of distinct terms and an ``idf`` of as many positive numbers.
    With ``n_features``, the reading must give that many features (the model's); ``mismatch``
    says what it means when it does not.

    Raises
    ------
    ValueError
        Naming ``source`` and what is wrong, when anything is.
    """
    def damaged(what):
        return ValueError(f"{source} is damaged: {what}. Fit the model again to rewrite it.")

    if isinstance(inputs, dict) and inputs.get("kind") == "table":  # a table's columns and scaling
        from .tables import check_record

        return check_record(inputs, damaged, n_features, mismatch)
    if not isinstance(inputs, dict) or inputs.get("kind") not in ("images", "text"):
        raise damaged('it is not a record of a folder\'s reading (a JSON object whose "kind" is "images" or '
                      '"text"), nor of a table\'s ("kind" "table")')
    if inputs["kind"] == "images":
        missing = [key for key in ("mode", "image_shape", "resize") if key not in inputs]
        if missing:
            raise damaged(f"an image reading needs {', '.join(missing)}")
        mode, shape, resize = inputs["mode"], inputs["image_shape"], inputs["resize"]
        if mode not in ("L", "RGB"):
            raise damaged(f'mode is {mode!r}, not "L" (grey) or "RGB"')
        if not _positive_ints(shape, (2,) if mode == "L" else (3,)) or (mode == "RGB" and shape[2] != 3):
            expected = "[height, width]" if mode == "L" else "[height, width, 3]"
            raise damaged(f"image_shape {shape!r} is not {expected} in positive ints (mode {mode})")
        if resize is not None and (not _positive_ints(resize, (2,)) or resize != [shape[1], shape[0]]):
            raise damaged(f"resize {resize!r} is not null or [width, height] of the image_shape {shape}")
        features = int(np.prod(shape))
    else:
        missing = [key for key in ("vocabulary", "idf") if key not in inputs]
        if missing:
            raise damaged(f"a text reading needs {', '.join(missing)}")
        vocabulary, idf = inputs["vocabulary"], inputs["idf"]
        if (not isinstance(vocabulary, list) or not vocabulary
                or not all(isinstance(t, str) and t for t in vocabulary)):
            raise damaged("vocabulary is not a non-empty list of terms (strings)")
        if len(set(vocabulary)) != len(vocabulary):
            raise damaged("vocabulary repeats terms")
        if not isinstance(idf, list) or len(idf) != len(vocabulary):
            raise damaged(f"idf is not a list of {len(vocabulary)} numbers, one for each term of the "
                          "vocabulary")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v > 0
                   for v in idf):
            raise damaged("idf holds values that are not finite positive numbers")
        features = len(vocabulary)
    if n_features is not None and features != n_features:
        raise ValueError(f"{source} reads a folder of {inputs['kind']} into {features} features, but the "
                         f"model takes {n_features}: {mismatch}.")
    return inputs


def terms_of(inputs: dict | None):
    """The feature names of a text model, else None."""
    return inputs.get("vocabulary") if inputs and inputs.get("kind") == "text" else None


def image_shape_of(inputs: dict | None):
    """The image shape of an image model, without a trailing channel of 1, else None."""
    if not inputs or inputs.get("kind") != "images":
        return None
    shape = tuple(inputs["image_shape"])
    return shape if len(shape) == 2 or shape[-1] != 1 else shape[:2]


def describe(inputs: dict | None, n: int) -> str:
    if not inputs or inputs["kind"] == "table":
        return f"{n} rows"
    if inputs["kind"] == "images":
        return f"{n} images of {' x '.join(map(str, inputs['image_shape']))}"
    return f"{n} documents, {len(inputs['vocabulary'])} tf-idf terms"


