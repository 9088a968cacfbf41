"""Benchmark of the shared-bottom model: quality, speed, downsampling, a reference.

Run with ``python benchmarks/bench_training.py``. It prints ratios and gaps, not
pass or fail:

1. per task, the model against the oracle (AUC and log loss) on a large test
   log, with standard errors;
2. training throughput in samples per second;
3. for each keep rate alpha, the time per epoch as a ratio to alpha = 1, and
   the mean predicted click rate, calibrated and raw, against the true mean;
4. DeepCTR-Torch's SharedBottom trained on the same data with the same layer
   sizes: its throughput and click AUC beside ours. The package is installed
   into the running environment (without its dependencies, so that no other
   torch is pulled) if it is missing.
"""

import importlib
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mtrank_lite.metrics import auc, compare_to_oracle  # noqa: E402
from mtrank_lite.models import FeatureSpec, SharedBottom  # noqa: E402
from mtrank_lite.sampling import downsample_negatives  # noqa: E402
from mtrank_lite.training import fit, predict  # noqa: E402
from mtrank_lite.world import TASKS, make_world  # noqa: E402

N_TRAIN = 1_000_000
N_TEST = 2_000_000
EPOCHS = 3
BATCH_SIZE = 2048
LEARNING_RATE = 3e-3
EMBEDDING_DIM = 16
BOTTOM = (128, 64)
TOWERS = (32,)
ALPHAS = (0.05, 0.1, 0.2, 0.5, 1.0)
BOOTSTRAP_REPLICATES = 20


def auc_standard_error(labels, scores):
    """Standard error of an AUC (Hanley and McNeil, 1982, equation 2)."""
    area = auc(labels, scores)
    n_positive = int(np.sum(labels))
    n_negative = len(labels) - n_positive
    q1 = area / (2 - area)
    q2 = 2 * area**2 / (1 + area)
    variance = (
        area * (1 - area)
        + (n_positive - 1) * (q1 - area**2)
        + (n_negative - 1) * (q2 - area**2)
    ) / (n_positive * n_negative)
    return float(np.sqrt(variance))


def gap_standard_error(labels, predicted, truth, seed=0):
    """Bootstrap standard error of the paired gap oracle AUC - model AUC."""
    rng = np.random.default_rng(seed)
    gaps = []
    for _ in range(BOOTSTRAP_REPLICATES):
        rows = rng.integers(0, len(labels), size=len(labels))
        gaps.append(auc(labels[rows], truth[rows]) - auc(labels[rows], predicted[rows]))
    return float(np.std(gaps, ddof=1))


def quality_table(test, predictions):
    """Model against oracle per task, with standard errors."""
    table = compare_to_oracle(test, predictions)
    clicked = test["click"].to_numpy() == 1
    rows = []
    for task in TASKS:
        keep = slice(None) if task == "click" else clicked
        labels = test[task].to_numpy()[keep]
        predicted = predictions[task].to_numpy()[keep]
        truth = test[f"p_{task}"].to_numpy()[keep]
        row = table.loc[task]
        rows.append(
            {
                "task": task,
                "rows": int(row["n_samples"]),
                "positives": int(labels.sum()),
                "model_auc": row["model_auc"],
                "oracle_auc": row["oracle_auc"],
                "auc_gap": row["oracle_auc"] - row["model_auc"],
                "auc_se": auc_standard_error(labels, truth),
                "gap_se": gap_standard_error(labels, predicted, truth),
                "model_logloss": row["model_logloss"],
                "oracle_logloss": row["oracle_logloss"],
                "logloss_excess_%": 100
                * (row["model_logloss"] / row["oracle_logloss"] - 1),
                "mean_predicted": row["model_mean_predicted"],
                "observed_rate": row["observed_rate"],
            }
        )
    return pd.DataFrame(rows).set_index("task")


def train_ours(world, train, include_ids, alpha=1.0):
    spec = FeatureSpec.from_world(world, train, include_ids=include_ids)
    model = SharedBottom(
        spec, embedding_dim=EMBEDDING_DIM, bottom=BOTTOM, towers=TOWERS
    )
    started = time.perf_counter()
    history = fit(
        model,
        train,
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        learning_rate=LEARNING_RATE,
        keep_rate=alpha,
        progress=False,
    )
    return model, history, time.perf_counter() - started


def deepctr_module():
    """Import deepctr_torch, installing it without dependencies if missing."""
    try:
        return importlib.import_module("deepctr_torch.models")
    except ImportError:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
             "deepctr-torch"],
            check=True,
        )
        return importlib.import_module("deepctr_torch.models")


def train_deepctr(spec, train, test):
    """DeepCTR-Torch's SharedBottom on the same columns, sizes and batches."""
    models = deepctr_module()
    from deepctr_torch.inputs import DenseFeat, SparseFeat

    columns = [
        SparseFeat(name, vocabulary_size=size, embedding_dim=EMBEDDING_DIM)
        for name, size in spec.categorical
    ] + [DenseFeat(name, 1) for name in spec.numeric_columns]

    def inputs(frame):
        # The same standardization as ours, done beforehand.
        data = {name: frame[name].to_numpy() for name in spec.categorical_columns}
        for name, mean, std in spec.numeric:
            data[name] = ((frame[name].to_numpy() - mean) / std).astype(np.float32)
        return data

    model = models.SharedBottom(
        columns,
        bottom_dnn_hidden_units=BOTTOM,
        tower_dnn_hidden_units=TOWERS,
        task_types=("binary",) * len(TASKS),
        task_names=TASKS,
    )
    model.compile(torch.optim.Adam(model.parameters(), lr=LEARNING_RATE),
                  loss="binary_crossentropy")
    train_inputs = inputs(train)
    labels = train[list(TASKS)].to_numpy().astype(np.float32)
    started = time.perf_counter()
    model.fit(train_inputs, labels, batch_size=BATCH_SIZE, epochs=EPOCHS, verbose=0)
    seconds = time.perf_counter() - started
    predictions = model.predict(inputs(test), batch_size=65_536)
    return seconds, auc(test["click"].to_numpy(), predictions[:, 0])


def main():
    pd.set_option("display.width", 160)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    started = time.perf_counter()
    world = make_world(seed=0)
    train = world.impressions(N_TRAIN, seed=1)
    test = world.impressions(N_TEST, seed=2)
    print(f"world and logs: {time.perf_counter() - started:.1f} s "
          f"(train {N_TRAIN:,}, test {N_TEST:,} impressions)")

    print("\n1. Model against oracle on the test log (per-click heads on clicked rows)")
    for include_ids in (False, True):
        model, history, seconds = train_ours(world, train, include_ids)
        started = time.perf_counter()
        predictions = predict(model, test)
        predict_seconds = time.perf_counter() - started
        print(f"\ninclude_ids={include_ids}: fit {seconds:.1f} s "
              f"({EPOCHS} epochs), predict {predict_seconds:.1f} s")
        print(quality_table(test, predictions).round(4).to_string())
        if not include_ids:
            throughput = N_TRAIN * EPOCHS / history["seconds"].sum()
            ours_model, ours_click_auc = model, auc(test["click"], predictions["click"])

    print(f"\n2. Training throughput: {throughput:,.0f} samples/s")

    print("\n3. Negative downsampling, keep rate alpha (true mean click rate "
          f"{test['p_click'].mean():.5f}, observed {test['click'].mean():.5f})")
    rows = []
    for alpha in ALPHAS:
        sample = downsample_negatives(train, alpha, seed=0)
        model, history, seconds = train_ours(world, sample, False, alpha)
        calibrated = predict(model, test)["click"].mean()
        raw = predict(model, test, calibrated=False)["click"].mean()
        rows.append(
            {
                "alpha": alpha,
                "rows": len(sample),
                "seconds_per_epoch": history["seconds"].mean(),
                "calibrated_mean": calibrated,
                "calibrated_vs_true": calibrated / test["p_click"].mean(),
                "raw_mean": raw,
                "raw_vs_true": raw / test["p_click"].mean(),
                "click_auc": auc(test["click"], predict(model, test)["click"]),
            }
        )
    sweep = pd.DataFrame(rows).set_index("alpha")
    sweep["epoch_time_vs_alpha_1"] = (
        sweep["seconds_per_epoch"] / sweep.loc[1.0, "seconds_per_epoch"]
    )
    print(sweep.round(4).to_string())

    print("\n4. DeepCTR-Torch SharedBottom, same data, sizes, batch, epochs, lr")
    theirs_seconds, theirs_click_auc = train_deepctr(ours_model.spec, train, test)
    theirs_throughput = N_TRAIN * EPOCHS / theirs_seconds
    print(f"ours:          {throughput:>10,.0f} samples/s, "
          f"click AUC {ours_click_auc:.4f}")
    print(f"DeepCTR-Torch: {theirs_throughput:>10,.0f} samples/s, "
          f"click AUC {theirs_click_auc:.4f}")
    ratio = throughput / theirs_throughput
    print(f"throughput ratio ours / DeepCTR-Torch: {ratio:.2f}")
    print(f"click AUC difference ours - DeepCTR-Torch: "
          f"{ours_click_auc - theirs_click_auc:+.4f}")


if __name__ == "__main__":
    main()
