"""Fitting the models of :mod:`mtrank_lite.models` and scoring with them.

:func:`fit` trains a model on an impression log with Adam and returns a
history, one row per epoch; :func:`predict` scores a log. The loss is the
weighted sum of one binary cross-entropy per task:

* the click loss is the mean over every row of the batch;
* the like, collect and share losses are means over the **clicked** rows of
  the batch only, since those heads predict rates given a click. A batch
  without a click gives them exactly zero loss and zero gradient.

A frame whose impressions without a click were kept at rate ``alpha`` is
trained on as it is; ``fit(..., keep_rate=alpha)`` stores ``alpha`` in the
model, and :func:`predict` then returns calibrated click probabilities.
"""

import math
import time

import numpy as np
import pandas as pd
import torch
from torch.nn import functional
from tqdm.auto import tqdm

from mtrank_lite import metrics
from mtrank_lite._checks import (
    check_alpha,
    check_frame,
    check_frame_has_columns,
    check_labels,
    check_non_empty,
    check_positive_int,
    check_real,
    describe,
)
from mtrank_lite.models import SharedBottom, SingleTask, _check_seed

__all__ = ["fit", "predict", "task_losses"]

# Rows scored at once by predict: large batches are faster, and memory stays
# small (a batch of 65536 rows needs a few megabytes).
_PREDICT_BATCH_SIZE = 65_536


def _check_model(model):
    if not isinstance(model, (SharedBottom, SingleTask)):
        raise TypeError(
            f"model must be a SharedBottom or a SingleTask, got {type(model).__name__}"
        )


def _check_learning_rate(learning_rate):
    value = check_real(learning_rate, "learning_rate")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(
            f"learning_rate must be a positive finite number, got "
            f"{describe(learning_rate)}"
        )
    return value


def _check_task_weights(task_weights, tasks):
    """Return the loss weight of each task of ``tasks`` as a float tensor."""
    if task_weights is None:
        return torch.ones(len(tasks))
    if not isinstance(task_weights, dict):
        raise TypeError(
            f"task_weights must be a dict of task to weight or None, got "
            f"{type(task_weights).__name__}"
        )

    for task, weight in task_weights.items():
        if task not in tasks:
            raise ValueError(
                f"task_weights must have keys among the model's tasks "
                f"{list(tasks)}, got {task!r}"
            )
        value = check_real(weight, f"task_weights[{task!r}]")
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(
                f"task_weights[{task!r}] must be a finite number >= 0, got "
                f"{describe(weight)}"
            )
    weights = [float(task_weights.get(task, 1.0)) for task in tasks]
    if not any(weights):
        raise ValueError(
            f"task_weights must give at least one task a positive weight, got "
            f"{task_weights!r}"
        )
    return torch.tensor(weights)


def _labels_and_masks(frame, tasks, name):
    """Label and mask tensors, each of shape (n_rows, n_tasks), from a frame.

    The mask is 1 where a row counts in a task's loss: every row for click,
    the clicked rows for the tasks defined given a click.
    """
    conditional = [task for task in tasks if task != "click"]
    needed = list(tasks) + (["click"] if conditional else [])
    check_frame_has_columns(frame, list(dict.fromkeys(needed)), name)

    labels = np.empty((len(frame), len(tasks)), dtype=np.float32)
    masks = np.ones((len(frame), len(tasks)), dtype=np.float32)
    clicked = check_labels(frame["click"], f"{name}['click']") if conditional else None
    for position, task in enumerate(tasks):
        labels[:, position] = check_labels(frame[task], f"{name}[{task!r}]")
        if task != "click":
            masks[:, position] = clicked
    return torch.from_numpy(labels), torch.from_numpy(masks)


def task_losses(logits, labels, masks):
    """Per-task binary cross-entropy, each the mean over the rows its mask keeps.

    Parameters
    ----------
    logits : torch.Tensor of float, shape (batch_size, n_tasks)
        Raw model outputs.
    labels : torch.Tensor of float, shape (batch_size, n_tasks)
        0 or 1.
    masks : torch.Tensor of float, shape (batch_size, n_tasks)
        1 where a row counts in a task's loss, 0 elsewhere.

    Returns
    -------
    losses : torch.Tensor of float, shape (n_tasks,)
        A task with no row kept gets exactly 0, and its logits get a zero
        gradient (never NaN).
    counts : torch.Tensor of float, shape (n_tasks,)
        Rows kept per task.

    Examples
    --------
    >>> ones = torch.ones(2, 1)
    >>> task_losses(torch.zeros(2, 1), ones, 0 * ones)[0]
    tensor([0.])
    """
    # (batch_size, n_tasks); computed from logits for numerical stability.
    elementwise = functional.binary_cross_entropy_with_logits(
        logits, labels, reduction="none"
    )
    counts = masks.sum(dim=0)

    # A sum over no row is 0; dividing by at least 1 keeps it 0, where a mean
    # over an empty selection would give 0 / 0 = NaN.
    losses = (elementwise * masks).sum(dim=0) / counts.clamp(min=1.0)
    return losses, counts


def fit(
    model,
    frame,
    *,
    epochs=3,
    batch_size=2048,
    learning_rate=3e-3,
    task_weights=None,
    keep_rate=1.0,
    validation=None,
    seed=0,
    progress=True,
    match_rates=True,
):
    """Train a model on an impression log with Adam; return the history.

    The model is trained in place, starting from its current weights. The
    loss of a batch is ``sum over tasks of weight * loss``, where the click
    loss is the mean binary cross-entropy over the batch and every other
    task's loss the mean over the batch's clicked rows (0, with zero gradient,
    when the batch has no click).

    Parameters
    ----------
    model : SharedBottom or SingleTask
        The model to train.
    frame : pandas.DataFrame, shape (n_rows, n_columns)
        Training impressions: the model's feature columns, a label column per
        task of the model, and ``click`` if a task other than click is
        trained. Converted to tensors once, before the first epoch.
    epochs : int, default 3
        Passes over ``frame``.
    batch_size : int, default 2048
        Rows per optimization step; the last batch of an epoch may be
        smaller, down to one row.
    learning_rate : float, default 3e-3
        Adam's first step size, positive; it falls linearly to 0 over the
        run, so that the last steps settle.
    task_weights : dict of str to float or None, default None
        Loss weight per task, at least 0; tasks not given weigh 1.
    keep_rate : float, default 1.0
        The rate, in (0, 1], at which impressions without a click were kept
        in ``frame`` (see :func:`mtrank_lite.sampling.downsample_negatives`).
        Stored in the model, so that :func:`predict` returns calibrated click
        probabilities.
    validation : pandas.DataFrame or None, default None
        A held-out log, not downsampled. After each epoch the AUC and log
        loss of every task are computed on it: the click head on every row
        (calibrated), the other heads on the clicked rows.
    seed : int, default 0
        Seeds the order of the rows, through a ``torch.Generator``; global
        random state is left as it was.
    progress : bool, default True
        Show a progress bar (``tqdm.auto``) over the batches.
    match_rates : bool, default True
        After the last epoch, shift each head's output bias so that its mean
        raw prediction over the rows that count for its task equals their
        label rate. A cross-entropy optimum satisfies this exactly (the
        derivative of the loss with respect to an output bias is the mean of
        prediction minus label); stochastic steps only come close, and a
        per-cent of error in the mean click rate is what calibration is
        judged by. The shift is part of the last epoch: its time and
        validation scores include it; its training losses do not.

    Returns
    -------
    pandas.DataFrame, shape (epochs, n_columns)
        One row per epoch: ``epoch`` (from 1), ``loss_<task>`` per task (the
        mean over the rows that count for the task during the epoch; NaN for
        a task with no such row), ``loss_total`` (the weighted sum of the
        task losses), ``seconds`` (training time of the epoch, validation
        excluded) and, with ``validation``, ``validation_auc_<task>`` and
        ``validation_logloss_<task>`` per task.

    Raises
    ------
    TypeError
        If ``model`` is not a SharedBottom or SingleTask, a frame is not a
        DataFrame, or an argument has the wrong type.
    ValueError
        If a frame is empty or lacks a column, a label is not 0 or 1, or an
        argument is out of range (``epochs``, ``batch_size`` below 1;
        ``learning_rate`` not positive; ``keep_rate`` outside (0, 1]).

    Examples
    --------
    >>> model = SharedBottom(FeatureSpec.from_world(world, train))
    >>> fit(model, train, epochs=2, progress=False)["epoch"].tolist()
    [1, 2]
    """
    _check_model(model)
    check_frame(frame, "frame")
    check_non_empty(frame, "frame")
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    learning_rate = _check_learning_rate(learning_rate)
    weights = _check_task_weights(task_weights, model.tasks)
    keep_rate = check_alpha(keep_rate, "keep_rate")
    seed = _check_seed(seed)
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    if not isinstance(match_rates, (bool, np.bool_)):
        raise TypeError(f"match_rates must be True or False, got {match_rates!r}")

    # Every conversion happens once, here: the loop only indexes tensors.
    categorical, numeric = model.spec.encode(frame)
    labels, masks = _labels_and_masks(frame, model.tasks, "frame")
    if validation is not None:
        check_frame(validation, "validation")
        check_non_empty(validation, "validation")
        held_out = model.spec.encode(validation)
        held_out_labels, held_out_masks = _labels_and_masks(
            validation, model.tasks, "validation"
        )

    model.set_keep_rate(keep_rate)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    n_rows = len(frame)
    n_batches = math.ceil(n_rows / batch_size)
    # The step size falls linearly to 0 over the run: the last steps then
    # settle instead of jittering, and the mean prediction matches the data.
    n_steps = epochs * n_batches
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 1.0 - step / n_steps
    )
    generator = torch.Generator().manual_seed(seed)
    rows = []

    model.train()
    with tqdm(total=epochs * n_batches, disable=not progress, unit="batch") as bar:
        for epoch in range(1, epochs + 1):
            started = time.perf_counter()
            loss_sums = torch.zeros(len(model.tasks), dtype=torch.float64)
            row_counts = torch.zeros(len(model.tasks), dtype=torch.float64)
            order = torch.randperm(n_rows, generator=generator)
            for start in range(0, n_rows, batch_size):
                index = order[start : start + batch_size]
                logits = model(categorical[index], numeric[index])
                losses, counts = task_losses(logits, labels[index], masks[index])
                total = (weights * losses).sum()

                optimizer.zero_grad(set_to_none=True)
                total.backward()
                optimizer.step()
                schedule.step()

                loss_sums += (losses.detach() * counts).double()
                row_counts += counts.double()
                bar.update(1)
            if match_rates and epoch == epochs:
                _match_rates(model, categorical, numeric, labels, masks)
            seconds = time.perf_counter() - started

            # Epoch means over the rows that counted; NaN where none did.
            means = (loss_sums / row_counts).tolist()
            row = {"epoch": epoch}
            row.update({f"loss_{task}": mean for task, mean in zip(model.tasks, means)})
            row["loss_total"] = float(np.nansum(weights.double().numpy() * means))
            row["seconds"] = seconds
            if validation is not None:
                row.update(_validate(model, held_out, held_out_labels, held_out_masks))
                model.train()
            rows.append(row)
            bar.set_postfix(loss=f"{row['loss_total']:.4f}")

    return pd.DataFrame(rows)


def _match_rates(model, categorical, numeric, labels, masks):
    """Shift output biases so that mean raw predictions equal label rates."""
    logits = _logits(model, categorical, numeric, _PREDICT_BATCH_SIZE)
    labels, masks = labels.double().numpy(), masks.numpy() == 1

    for position, bias in enumerate(model.output_biases()):
        counted = masks[:, position]
        rate = labels[counted, position].mean() if counted.any() else np.nan
        if not 0.0 < rate < 1.0:
            # No rows, or one class only: no finite shift matches the rate.
            continue
        task_logits = logits[counted, position]

        # Newton's method on the shift: the mean of sigmoid(logit + shift)
        # is increasing in the shift, so the root is unique.
        shift = 0.0
        for _ in range(50):
            probabilities = 1.0 / (1.0 + np.exp(-(task_logits + shift)))
            excess = probabilities.mean() - rate
            slope = (probabilities * (1.0 - probabilities)).mean()
            step = excess / slope
            shift -= step
            if abs(step) < 1e-12:
                break
        with torch.no_grad():
            bias += shift


def _validate(model, inputs, labels, masks):
    """AUC and log loss per task on held-out tensors; NaN where undefined."""
    probabilities = _probabilities(model, *inputs, _PREDICT_BATCH_SIZE, True)
    labels, masks = labels.numpy(), masks.numpy() == 1

    scores = {}
    for position, task in enumerate(model.tasks):
        kept_labels = labels[masks[:, position], position]
        kept = probabilities[masks[:, position], position]
        if len(kept_labels) == 0:
            scores[f"validation_auc_{task}"] = float("nan")
            scores[f"validation_logloss_{task}"] = float("nan")
            continue
        scores[f"validation_auc_{task}"] = metrics.auc(kept_labels, kept)
        scores[f"validation_logloss_{task}"] = metrics.logloss(kept_labels, kept)
    return scores


def _probabilities(model, categorical, numeric, batch_size, calibrated):
    """Score encoded rows in batches; return (n_rows, n_tasks) probabilities."""
    logits = _logits(model, categorical, numeric, batch_size)
    return model._probabilities(logits, calibrated)


def _logits(model, categorical, numeric, batch_size):
    """Raw logits of encoded rows, scored in batches: (n_rows, n_tasks)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = [
                model(categorical[start : start + batch_size],
                      numeric[start : start + batch_size])
                for start in range(0, len(categorical), batch_size)
            ]
    finally:
        model.train(was_training)

    if logits:
        return torch.cat(logits).double().numpy()
    return np.empty((0, len(model.tasks)))


def predict(model, frame, *, batch_size=_PREDICT_BATCH_SIZE, calibrated=True):
    """Score impressions: one probability per task and row.

    Parameters
    ----------
    model : SharedBottom or SingleTask
        A trained model.
    frame : pandas.DataFrame, shape (n_rows, n_columns)
        Impressions holding the model's feature columns. An empty frame
        gives an empty result.
    batch_size : int, default 65536
        Rows scored at once; it changes the speed, not the result.
    calibrated : bool, default True
        Return calibrated click probabilities: the click logit is shifted by
        ``ln(keep_rate)``, the keep rate the model was trained with (see
        :func:`fit`). False returns the raw ones, inflated when the training
        data was downsampled. The like, collect and share heads predict
        rates given a click and are never changed.

    Returns
    -------
    pandas.DataFrame, shape (n_rows, n_tasks)
        A column per task of the model (``click``, ``like``, ``collect``,
        ``share`` for a SharedBottom), with the index of ``frame``.

    Raises
    ------
    TypeError
        If ``model`` is not a SharedBottom or SingleTask, ``frame`` is not a
        DataFrame, or ``calibrated`` is not a bool.
    ValueError
        If ``frame`` lacks a feature column or holds an unknown code, or
        ``batch_size`` is below 1.

    Examples
    --------
    >>> model = SharedBottom(FeatureSpec.from_world(world, train))
    >>> predict(model, train).columns.tolist()
    ['click', 'like', 'collect', 'share']
    """
    _check_model(model)
    check_frame(frame, "frame")
    batch_size = check_positive_int(batch_size, "batch_size")
    if not isinstance(calibrated, (bool, np.bool_)):
        raise TypeError(f"calibrated must be True or False, got {calibrated!r}")

    categorical, numeric = model.spec.encode(frame)
    probabilities = _probabilities(model, categorical, numeric, batch_size, calibrated)

    return pd.DataFrame(probabilities, columns=list(model.tasks), index=frame.index)
