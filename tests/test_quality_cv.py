"""The selection rule of bench/quality_cv.py (choose in-fold, score out-of-fold) on hand-made J tables."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "quality_cv.py"


@pytest.fixture(scope="module")
def qcv():
    spec = importlib.util.spec_from_file_location("quality_cv", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["quality_cv"] = mod
    spec.loader.exec_module(mod)
    return mod


SEQS = [f"s{i:02d}" for i in range(8)]


def test_folds_are_the_workflow_scheme_and_seeded_partitions_differ(qcv) -> None:
    order = qcv.folds_of(SEQS, 4, None)
    assert [order[s] for s in SEQS] == [0, 1, 2, 3, 0, 1, 2, 3]
    a, b = qcv.folds_of(SEQS, 4, 0), qcv.folds_of(SEQS, 4, 1)
    assert sorted(a.values()) == sorted(order.values()) and a != b
    assert a == qcv.folds_of(SEQS, 4, 0)


def test_a_setting_that_wins_on_one_sequence_only_loses_out_of_fold(qcv) -> None:
    """Candidate `lucky` is the in-sample best only because of one sequence; held out, that sequence is scored with
    the candidate chosen on the others, so the out-of-fold J is below the in-sample best."""
    j = pd.DataFrame({"steady": np.full(8, 0.60), "lucky": [0.95] + [0.58] * 7}, index=SEQS)
    assert j.mean().idxmax() == "lucky"
    fin, oof, held, chosen = qcv.cross_validate(j, qcv.folds_of(SEQS, 4, None))
    assert chosen[0] == "steady" and all(chosen[f] == "lucky" for f in (1, 2, 3))
    assert held["s00"] == pytest.approx(0.60)  # s00 is scored with the choice made without it
    assert oof == pytest.approx((0.60 + 0.60 + 6 * 0.58) / 8)
    assert oof < j["lucky"].mean() and oof < fin


def test_a_setting_that_helps_everywhere_is_kept_out_of_fold(qcv) -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.3, 0.8, 8)
    j = pd.DataFrame({"raw": base, "better": base + 0.03}, index=SEQS)
    fin, oof, held, chosen = qcv.cross_validate(j, qcv.folds_of(SEQS, 4, None))
    assert set(chosen.values()) == {"better"}
    assert oof == pytest.approx(j["better"].mean())
    np.testing.assert_allclose(held.to_numpy(), j["better"].to_numpy())


def test_summary_labels_oracle_and_supervised_apart(qcv, tmp_path: Path) -> None:
    rows = []
    kinds = (("bgfit", "none", False), ("clusternet-oracle", "oracle", True), ("mtnet", "supervised", False))
    for m, sup, orc in kinds:
        for i, s in enumerate(SEQS):
            for cand, bonus in (("davis2016", 0.0), ("davis2016+prop", 0.02)):
                rows.append({"method": m, "candidate": cand, "sequence": s, "J_mean": 0.5 + 0.01 * i + bonus,
                             "supervision": sup, "oracle": orc})
    res = qcv.summarise(pd.DataFrame(rows), 4, [0, 1], tmp_path).set_index("method")
    assert res.loc["clusternet-oracle", "label"] == "ORACLE" and res.loc["mtnet", "label"] == "SUPERVISED"
    assert res.loc["bgfit", "label"] == "GT-free" and res.loc["bgfit", "verdict"] == "gain"
    # the any-method row chooses among GT-free candidates only (bgfit's two here)
    assert res.loc[qcv.ANY, "n_candidates"] == 2
    assert (tmp_path / "per_sequence_oof.csv").exists() and (tmp_path / "choices.csv").exists()


def test_every_variant_is_a_valid_workflow_config(qcv) -> None:
    """Each variant's config (over config/config.yaml and config/davis2016.yaml) passes the schema and the plan's
    checks, with the shipped methods and propagation list: a variant that cannot run is caught here, not after the
    hours of the workflow runs before it."""
    import copy

    import jsonschema
    import yaml
    from snakemake.utils import update_config

    from motionseg.plan import Plan

    repo = BENCH.parents[1]
    schema = yaml.safe_load((repo / "config" / "schema.yaml").read_text())
    base = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    update_config(base, yaml.safe_load((repo / "config" / "davis2016.yaml").read_text()))
    for name, variant in qcv.VARIANTS.items():
        cfg, kept = qcv.variant_config(variant, qcv.shipped_methods(), qcv.PROP_METHODS)
        assert kept, f"variant {name} keeps the rows of no method of config/davis2016.yaml"
        full = copy.deepcopy(base)
        update_config(full, cfg)
        jsonschema.validate(full, schema)
        plan = Plan.from_config(full)
        assert set(kept) <= set(plan.methods), name
