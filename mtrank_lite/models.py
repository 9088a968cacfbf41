"""The torch models of the course: a shared-bottom model and a single-task one.

Both read the same inputs, described by a :class:`FeatureSpec`: categorical
columns (ids, age group, category, hour, ...) go through embeddings, numeric
columns (statistics, item age, length) are standardized with the mean and
standard deviation of the training frame, and everything is concatenated.

* :class:`SharedBottom` passes the concatenation through one MLP shared by all
  tasks, then through one small tower per task (click, like, collect, share).
* :class:`SingleTask` is one MLP for one task, for comparison.

``forward`` returns raw logits, which the training loss uses (a sigmoid
followed by a binary cross-entropy is computed stably from logits). Scoring
goes through :meth:`predict_proba` (or :func:`mtrank_lite.training.predict`),
which applies the sigmoid and, by default, the calibration of the click head.

The click keep rate ``alpha`` (the rate at which impressions without a click
were kept in the training data) is stored in the model as a buffer, so that it
travels with ``state_dict`` and a saved or served model never forgets the
correction. Only the click head is corrected, by shifting its logit by
``ln(alpha)``; the like, collect and share heads predict rates given a click,
trained on clicked impressions, all of which downsampling keeps.
"""

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mtrank_lite._checks import (
    check_alpha,
    check_frame,
    check_frame_has_columns,
    check_non_empty,
    check_positive_int,
    check_real,
    describe,
)
from mtrank_lite.calibration import calibrate_logit
from mtrank_lite.world import (
    ACTIVITY_LEVELS,
    AGE_GROUPS,
    DEVICES,
    FEATURE_GROUPS,
    N_POSITIONS,
    N_REGIONS,
    TASKS,
)

__all__ = [
    "FeatureSpec",
    "SharedBottom",
    "SingleTask",
    "CATEGORICAL_COLUMNS",
    "ID_COLUMNS",
]

# Columns of an impression log that hold codes rather than quantities.
CATEGORICAL_COLUMNS = (
    "user_id",
    "item_id",
    "age_group",
    "activity",
    "region",
    "category",
    "hour",
    "device",
    "position",
)

# The id columns, which a chapter includes or leaves out as a whole.
ID_COLUMNS = ("user_id", "item_id")


@dataclass(frozen=True)
class FeatureSpec:
    """Which columns a model reads, and how.

    Build one with :meth:`from_frame` or :meth:`from_world` rather than by
    hand. It is immutable, so a model and its copies share it safely.

    Attributes
    ----------
    categorical : tuple of (str, int)
        Categorical columns and their vocabulary sizes; a column holds the
        codes ``0, ..., size - 1``.
    numeric : tuple of (str, float, float)
        Numeric columns with the mean and standard deviation of the training
        frame, used to standardize them.

    Examples
    --------
    >>> spec = FeatureSpec(categorical=(("device", 3),), numeric=(("x", 0.0, 1.0),))
    >>> spec.columns
    ['device', 'x']
    """

    categorical: tuple
    numeric: tuple

    @property
    def categorical_columns(self):
        """list of str: the categorical columns, in model input order."""
        return [name for name, _ in self.categorical]

    @property
    def vocabulary_sizes(self):
        """list of int: the vocabulary size of each categorical column."""
        return [size for _, size in self.categorical]

    @property
    def numeric_columns(self):
        """list of str: the numeric columns, in model input order."""
        return [name for name, _, _ in self.numeric]

    @property
    def columns(self):
        """list of str: every column the model reads."""
        return self.categorical_columns + self.numeric_columns

    @classmethod
    def from_frame(
        cls,
        frame,
        *,
        groups=None,
        include_ids=True,
        exclude=(),
        feature_groups=None,
        vocabulary_sizes=None,
    ):
        """Choose feature columns and learn their scaling from a training frame.

        Parameters
        ----------
        frame : pandas.DataFrame, shape (n_rows, n_columns)
            The training frame. Numeric columns are standardized with its mean
            and (population) standard deviation; a constant column gets a
            standard deviation of 1.
        groups : sequence of str or None, default None
            Feature groups to use, keys of ``feature_groups`` (for the world:
            "user", "item", "statistics", "context"). None uses all.
        include_ids : bool, default True
            Whether to embed ``user_id`` and ``item_id``. Without them a model
            treats a new item like a known one with the same features.
        exclude : sequence of str, default ()
            Further columns to leave out.
        feature_groups : dict of str to list of str or None, default None
            The columns of each group; None uses the world's
            :data:`mtrank_lite.world.FEATURE_GROUPS`.
        vocabulary_sizes : dict of str to int or None, default None
            Vocabulary size per categorical column. A column not given gets
            its largest code in ``frame`` plus one, so codes that appear only
            later (new items) are refused when encoded; :meth:`from_world`
            sets every size from the world instead.

        Returns
        -------
        FeatureSpec

        Raises
        ------
        TypeError
            If ``frame`` is not a DataFrame or a categorical column does not
            hold integers.
        ValueError
            If ``frame`` is empty, lacks a chosen column, a group is unknown,
            no column is left, or a code is negative.

        Examples
        --------
        >>> log = pd.DataFrame({"device": [0, 2], "length": [1.0, 3.0]})
        >>> FeatureSpec.from_frame(log, feature_groups={"all": ["device", "length"]})
        FeatureSpec(categorical=(('device', 3),), numeric=(('length', 2.0, 1.0),))
        """
        check_frame(frame, "frame")
        check_non_empty(frame, "frame")
        if feature_groups is None:
            feature_groups = FEATURE_GROUPS
        if groups is None:
            groups = list(feature_groups)
        if isinstance(groups, str):
            groups = [groups]
        for group in groups:
            if group not in feature_groups:
                raise ValueError(
                    f"groups must hold names among {sorted(feature_groups)}, "
                    f"got {group!r}"
                )
        if not isinstance(include_ids, (bool, np.bool_)):
            raise TypeError(f"include_ids must be True or False, got {include_ids!r}")
        excluded = {exclude} if isinstance(exclude, str) else set(exclude)
        if not include_ids:
            excluded.update(ID_COLUMNS)
        sizes = dict(vocabulary_sizes or {})

        columns = [
            column
            for group in groups
            for column in feature_groups[group]
            if column not in excluded
        ]
        if not columns:
            raise ValueError(
                f"no feature column is left with groups={list(groups)}, "
                f"include_ids={include_ids} and exclude={sorted(excluded)}"
            )
        check_frame_has_columns(frame, columns, "frame")

        categorical, numeric = [], []
        for column in columns:
            values = frame[column].to_numpy()
            if column in CATEGORICAL_COLUMNS:
                _check_codes(values, column)
                size = sizes.get(column, int(values.max()) + 1)
                categorical.append((column, check_positive_int(size, column)))
            else:
                values = values.astype(np.float64)
                std = float(values.std())
                numeric.append((column, float(values.mean()), std if std > 0 else 1.0))
        return cls(categorical=tuple(categorical), numeric=tuple(numeric))

    @classmethod
    def from_world(cls, world, frame, *, groups=None, include_ids=True, exclude=()):
        """Like :meth:`from_frame`, with vocabulary sizes taken from a world.

        Every user and item of the world has an embedding row, new items
        included, so that a model can score impressions of items that never
        appeared in training (their rows keep their initial values).

        Parameters
        ----------
        world : mtrank_lite.world.World
            The world the frame comes from.
        frame : pandas.DataFrame, shape (n_rows, n_columns)
            The training frame, for the scaling of the numeric columns.
        groups, include_ids, exclude
            As in :meth:`from_frame`.

        Returns
        -------
        FeatureSpec

        Examples
        --------
        >>> world = make_world(seed=0, n_users=50, n_items=40, warmup_impressions=2000)
        >>> FeatureSpec.from_world(world, world.impressions(100)).vocabulary_sizes[4]
        40
        """
        sizes = {
            "user_id": len(world.users),
            "item_id": len(world.items),
            "age_group": len(AGE_GROUPS),
            "activity": len(ACTIVITY_LEVELS),
            "region": N_REGIONS,
            "category": world.n_categories,
            "hour": 24,
            "device": len(DEVICES),
            "position": N_POSITIONS,
        }
        return cls.from_frame(
            frame,
            groups=groups,
            include_ids=include_ids,
            exclude=exclude,
            feature_groups=world.feature_groups,
            vocabulary_sizes=sizes,
        )

    def encode(self, frame):
        """Turn the feature columns of a frame into two tensors.

        Numeric columns are returned as they are; the model standardizes them
        with the statistics it holds.

        Parameters
        ----------
        frame : pandas.DataFrame, shape (n_rows, n_columns)
            Must hold every column of :attr:`columns`.

        Returns
        -------
        categorical : torch.Tensor of int64, shape (n_rows, n_categorical)
        numeric : torch.Tensor of float32, shape (n_rows, n_numeric)

        Raises
        ------
        TypeError
            If ``frame`` is not a DataFrame or a categorical column does not
            hold integers.
        ValueError
            If a column is missing, a code is outside its vocabulary or a
            numeric value is NaN.

        Examples
        --------
        >>> spec = FeatureSpec(categorical=(("device", 3),), numeric=())
        >>> spec.encode(pd.DataFrame({"device": [0, 2]}))[0].shape
        torch.Size([2, 1])
        """
        check_frame_has_columns(frame, self.columns, "frame")

        n_rows = len(frame)
        categorical = np.empty((n_rows, len(self.categorical)), dtype=np.int64)
        for position, (column, size) in enumerate(self.categorical):
            values = frame[column].to_numpy()
            _check_codes(values, column, size)
            categorical[:, position] = values

        numeric = np.empty((n_rows, len(self.numeric)), dtype=np.float32)
        for position, column in enumerate(self.numeric_columns):
            values = frame[column].to_numpy(dtype=np.float64)
            if np.isnan(values).any():
                row = frame.index[np.flatnonzero(np.isnan(values))[0]]
                raise ValueError(
                    f"frame[{column!r}] must not hold NaN, got NaN at index "
                    f"{describe(row)}"
                )
            numeric[:, position] = values
        return torch.from_numpy(categorical), torch.from_numpy(numeric)


def _check_codes(values, column, size=None):
    """Refuse a categorical column that is not integer codes in [0, size)."""
    if values.dtype.kind not in "iub":
        raise TypeError(
            f"frame[{column!r}] must hold integer codes, got dtype {values.dtype}"
        )
    if len(values) == 0:
        return
    low, high = values.min(), values.max()
    if low < 0 or (size is not None and high >= size):
        bad = low if low < 0 else high
        allowed = "[0, ...)" if size is None else f"[0, {size - 1}]"
        raise ValueError(
            f"frame[{column!r}] must hold codes in {allowed}, got {describe(bad)}"
        )


def _check_layer_sizes(sizes, name):
    """Return hidden layer sizes as a tuple of positive ints."""
    if isinstance(sizes, (int, np.integer)):
        sizes = (sizes,)
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise TypeError(
            f"{name} must be a sequence of positive integers, got {sizes!r}"
        ) from None
    return tuple(
        check_positive_int(size, f"{name}[{position}]")
        for position, size in enumerate(sizes)
    )


def _multilayer_perceptron(input_size, hidden_sizes):
    """Linear layers with ReLU after each; an empty list gives the identity."""
    layers = []
    for size in hidden_sizes:
        layers += [nn.Linear(input_size, size), nn.ReLU()]
        input_size = size
    return nn.Sequential(*layers)


class _TabularModel(nn.Module):
    """Embeddings and scaling shared by the models of this module.

    Every categorical column gets ``embedding_dim`` numbers from one table
    holding all vocabularies one after the other (a single lookup per batch is
    faster than one per column). Numeric columns are standardized with the
    statistics of the spec, kept as buffers.
    """

    def __init__(self, spec, tasks, embedding_dim, embedding_std):
        super().__init__()
        if not isinstance(spec, FeatureSpec):
            raise TypeError(f"spec must be a FeatureSpec, got {type(spec).__name__}")
        self.spec = spec
        self.tasks = tuple(tasks)
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
        self.embedding_std = check_real(embedding_std, "embedding_std")
        if not self.embedding_std > 0:
            raise ValueError(
                f"embedding_std must be positive, got {describe(embedding_std)}"
            )

        sizes = spec.vocabulary_sizes
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.register_buffer("offsets", torch.from_numpy(offsets), persistent=False)
        self.embedding = nn.Embedding(max(int(sum(sizes)), 1), self.embedding_dim)
        means = [mean for _, mean, _ in spec.numeric]
        stds = [std for _, _, std in spec.numeric]
        self.register_buffer("numeric_mean", torch.tensor(means, dtype=torch.float32))
        self.register_buffer("numeric_std", torch.tensor(stds, dtype=torch.float32))
        # The keep rate of impressions without a click in the training data;
        # a buffer, so it is saved and loaded with the weights.
        self.register_buffer("keep_rate", torch.tensor(1.0, dtype=torch.float64))
        self.input_size = len(sizes) * self.embedding_dim + len(spec.numeric)
        nn.init.normal_(self.embedding.weight, mean=0.0, std=self.embedding_std)

    def _inputs(self, categorical, numeric):
        """Concatenate embeddings and standardized numbers.

        categorical (batch_size, n_categorical) and numeric
        (batch_size, n_numeric) give (batch_size, input_size).
        """
        parts = []
        if categorical.shape[1]:
            # (batch_size, n_categorical, embedding_dim), then flattened.
            embedded = self.embedding(categorical + self.offsets)
            parts.append(embedded.reshape(len(categorical), -1))
        if numeric.shape[1]:
            parts.append((numeric - self.numeric_mean) / self.numeric_std)
        return torch.cat(parts, dim=1)

    def output_biases(self):
        """The bias of each task's output unit, in task order.

        Returns
        -------
        list of torch.nn.Parameter, each of shape (1,)
        """
        return [layer.bias for layer in self._output_layers()]

    def set_keep_rate(self, alpha):
        """Record the keep rate of impressions without a click in training.

        Parameters
        ----------
        alpha : float
            In (0, 1]; 1 means the training data was not downsampled.

        Examples
        --------
        >>> model = SharedBottom(FeatureSpec(categorical=(("device", 3),), numeric=()))
        >>> model.set_keep_rate(0.1); float(model.keep_rate)
        0.1
        """
        self.keep_rate.fill_(check_alpha(alpha, "alpha"))

    def predict_proba(self, categorical, numeric, calibrated=True):
        """Probabilities of every task, the click head calibrated by default.

        Parameters
        ----------
        categorical : torch.Tensor of int64, shape (batch_size, n_categorical)
        numeric : torch.Tensor of float32, shape (batch_size, n_numeric)
            As returned by :meth:`FeatureSpec.encode`.
        calibrated : bool, default True
            Shift the click logit by ``ln(keep_rate)`` before the sigmoid, so
            that a model trained on downsampled data predicts true click
            rates. False returns the raw, inflated ones. Other heads are never
            changed.

        Returns
        -------
        numpy.ndarray of float64, shape (batch_size, n_tasks)
            Columns in the order of :attr:`tasks`.

        Examples
        --------
        >>> model = SharedBottom(FeatureSpec(categorical=(("device", 3),), numeric=()))
        >>> model.predict_proba(torch.tensor([[0], [2]]), torch.zeros(2, 0)).shape
        (2, 4)
        """
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                logits = self(categorical, numeric).double().numpy()
        finally:
            self.train(was_training)
        return self._probabilities(logits, calibrated)

    def _probabilities(self, logits, calibrated):
        """Sigmoid of logits (batch_size, n_tasks), the click one corrected."""
        if calibrated and "click" in self.tasks:
            column = self.tasks.index("click")
            alpha = float(self.keep_rate)
            logits[:, column] = calibrate_logit(logits[:, column], alpha)
        # The sigmoid written through exp(-|z|) never overflows.
        exponential = np.exp(-np.abs(logits))
        return np.where(logits >= 0, 1.0, exponential) / (1.0 + exponential)


class SharedBottom(_TabularModel):
    """A shared MLP under one tower per task.

    The input (embeddings of the categorical columns and the standardized
    numeric columns, concatenated) goes through a shared MLP with ReLU
    activations, then through one tower per task, each ending in one output.
    ``forward`` returns the logits; the sigmoid that ends each tower is
    applied by :meth:`predict_proba` and, inside the loss, by
    ``BCEWithLogitsLoss``.

    Parameters
    ----------
    spec : FeatureSpec
        The input columns.
    tasks : sequence of str, default ("click", "like", "collect", "share")
        One tower per task, in this order.
    embedding_dim : int, default 16
        Length of the embedding of every categorical column.
    bottom : sequence of int, default (128, 64)
        Hidden sizes of the shared MLP.
    towers : sequence of int, default (32,)
        Hidden sizes of each tower, before its single output.
    embedding_std : float, default 0.05
        Standard deviation of the initial embeddings. Rows never seen in
        training (new items) keep these small values.
    seed : int, default 0
        Seeds the initial weights; global random state is left as it was.

    Attributes
    ----------
    keep_rate : torch.Tensor, shape ()
        A buffer holding the keep rate of impressions without a click in the
        training data; set by :func:`mtrank_lite.training.fit`.

    Examples
    --------
    >>> spec = FeatureSpec(categorical=(("device", 3),), numeric=(("size", 3.0, 2.0),))
    >>> SharedBottom(spec)(torch.tensor([[2]]), torch.tensor([[5.0]])).shape
    torch.Size([1, 4])
    """

    def __init__(
        self,
        spec,
        *,
        tasks=TASKS,
        embedding_dim=16,
        bottom=(128, 64),
        towers=(32,),
        embedding_std=0.05,
        seed=0,
    ):
        tasks = _check_tasks(tasks)
        seed = _check_seed(seed)
        bottom = _check_layer_sizes(bottom, "bottom")
        towers = _check_layer_sizes(towers, "towers")

        with _seeded(seed):
            super().__init__(spec, tasks, embedding_dim, embedding_std)
            self.bottom = _multilayer_perceptron(self.input_size, bottom)
            bottom_size = bottom[-1] if bottom else self.input_size
            tower_size = towers[-1] if towers else bottom_size
            self.towers = nn.ModuleList(
                nn.Sequential(
                    _multilayer_perceptron(bottom_size, towers),
                    nn.Linear(tower_size, 1),
                )
                for _ in tasks
            )

    def forward(self, categorical, numeric):
        """Logits of every task.

        Parameters
        ----------
        categorical : torch.Tensor of int64, shape (batch_size, n_categorical)
        numeric : torch.Tensor of float32, shape (batch_size, n_numeric)

        Returns
        -------
        torch.Tensor of float32, shape (batch_size, n_tasks)
            Raw logits, never calibrated.

        Examples
        --------
        >>> model = SharedBottom(FeatureSpec(categorical=(("device", 3),), numeric=()))
        >>> model(torch.tensor([[0], [1], [2]]), torch.zeros(3, 0)).shape
        torch.Size([3, 4])
        """
        shared = self.bottom(self._inputs(categorical, numeric))
        # Each tower gives (batch_size, 1); side by side (batch_size, n_tasks).
        return torch.cat([tower(shared) for tower in self.towers], dim=1)

    def _output_layers(self):
        return [tower[-1] for tower in self.towers]


class SingleTask(_TabularModel):
    """One MLP for one task, to compare with :class:`SharedBottom`.

    Parameters
    ----------
    spec : FeatureSpec
        The input columns.
    task : str, default "click"
        The task to predict. For "like", "collect" or "share" the model is
        trained on clicked impressions only, like the heads of
        :class:`SharedBottom`.
    embedding_dim : int, default 16
        Length of the embedding of every categorical column.
    hidden : sequence of int, default (128, 64, 32)
        Hidden sizes of the MLP (the bottom and one tower of the default
        :class:`SharedBottom`).
    embedding_std : float, default 0.05
        Standard deviation of the initial embeddings.
    seed : int, default 0
        Seeds the initial weights; global random state is left as it was.

    Examples
    --------
    >>> spec = FeatureSpec(categorical=(("device", 3),), numeric=(("size", 3.0, 2.0),))
    >>> SingleTask(spec, task="like")(torch.tensor([[2]]), torch.tensor([[5.0]])).shape
    torch.Size([1, 1])
    """

    def __init__(
        self,
        spec,
        *,
        task="click",
        embedding_dim=16,
        hidden=(128, 64, 32),
        embedding_std=0.05,
        seed=0,
    ):
        tasks = _check_tasks((task,), name="task")
        seed = _check_seed(seed)
        hidden = _check_layer_sizes(hidden, "hidden")

        with _seeded(seed):
            super().__init__(spec, tasks, embedding_dim, embedding_std)
            last_size = hidden[-1] if hidden else self.input_size
            self.network = nn.Sequential(
                _multilayer_perceptron(self.input_size, hidden), nn.Linear(last_size, 1)
            )

    def forward(self, categorical, numeric):
        """Logits of the one task.

        Parameters
        ----------
        categorical : torch.Tensor of int64, shape (batch_size, n_categorical)
        numeric : torch.Tensor of float32, shape (batch_size, n_numeric)

        Returns
        -------
        torch.Tensor of float32, shape (batch_size, 1)
            Raw logits, never calibrated.

        Examples
        --------
        >>> model = SingleTask(FeatureSpec(categorical=(("device", 3),), numeric=()))
        >>> model(torch.tensor([[0], [1], [2]]), torch.zeros(3, 0)).shape
        torch.Size([3, 1])
        """
        return self.network(self._inputs(categorical, numeric))

    def _output_layers(self):
        return [self.network[-1]]


def _check_tasks(tasks, name="tasks"):
    """Return tasks as a tuple of distinct names among the world's tasks."""
    if isinstance(tasks, str):
        tasks = (tasks,)
    tasks = tuple(tasks)
    if not tasks:
        raise ValueError(f"{name} must name at least one of {list(TASKS)}, got ()")
    for task in tasks:
        if task not in TASKS:
            raise ValueError(f"{name} must be among {list(TASKS)}, got {task!r}")
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"{name} must not repeat a task, got {tasks!r}")
    return tasks


@contextlib.contextmanager
def _seeded(seed):
    """Seed torch's global generator inside the block and restore it after.

    Layers draw their initial weights from the global generator; forking it
    makes the weights depend on ``seed`` only and leaves the caller's random
    numbers as they were.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _check_seed(seed):
    """Return a non-negative int seed for torch."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"seed must be a non-negative integer, got {seed!r} "
            f"({type(seed).__name__})"
        )
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return int(seed)
