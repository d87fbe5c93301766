"""Reading new data the way a saved model read its training data: :func:`read_like`."""

from __future__ import annotations

import os


def read_like(model, data, *, label_column=None):
    """Read ``data`` into the features of the model saved at ``model``, as the command line does.

    A model fitted on a folder of images or of text files records how it read it (the images'
    size and mode, or the vocabulary and idf of the tf-idf features); a new folder is read the same
    way, so its rows are the model's features. A model fitted on a table reads a table (.npy,
    .npz, .csv, .parquet, or a folder of .npy or parquet shards) and refuses a folder of images
    or text, whose features read afresh would not be the model's.

    Parameters
    ----------
    model : str or path-like
        The folder that ``deepclust fit --out`` wrote, or its ``model.pt`` (with the
        ``inputs.json`` beside it for a model of an older deepclust).
    data : str or path-like
        A data file or folder, as for ``deepclust predict``.
    label_column : str, optional
        A table's column of true labels to keep out of the features (a folder's labels are its
        subfolder names).

    Returns
    -------
    X : ndarray, sparse matrix or ShardedArray of shape (n_samples, n_features)
        The features, in the model's layout: ``load(model).predict(X)`` assigns them.
    y : ndarray or None
        The labels of the label column or of the subfolders, else None.

    Raises
    ------
    ValueError
        If the data is not of the kind the model was fitted on, or cannot be read.

    Examples
    --------
    >>> import deepclust
    >>> model = deepclust.load("model")                       # doctest: +SKIP
    >>> X, _ = deepclust.read_like("model", "new_photos/")     # doctest: +SKIP
    >>> labels = model.predict(X)                             # doctest: +SKIP
    """
    from .cli.files import _load_model, _model_path, _read_input

    model = os.fspath(model)
    _, inputs = _load_model(model, "cpu")  # how it read a folder or a table, checked against its features
    X, y, _, _, _, _, _ = _read_input(os.fspath(data), label_column, inputs, model=_model_path(model))
    return X, y
