"""The typed config spine (motionseg.settings): built from every shipped config, strict, frozen, and in step with
config/schema.yaml."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config, validate

from motionseg import settings as st
from motionseg.io.errors import ConfigError
from motionseg.plan import Plan
from motionseg.train.config import infer_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
EXAMPLES = sorted(p.name for p in (REPO / "config").glob("*.yaml") if p.name not in ("schema.yaml", "config.yaml"))

# section class -> its path of "properties" in config/schema.yaml
SCHEMA_PATHS: dict[type[st.Section], tuple[str, ...]] = {
    st.Settings: (),
    st.DatasetSettings: ("datasets", "items"),
    st.SyntheticSettings: ("datasets", "items", "synthetic"),
    st.IngestSettings: ("ingest",),
    st.ResourceSettings: ("resources", "patternProperties", "^.*$"),
    st.FlowSettings: ("flow",),
    st.DisSettings: ("flow", "dis"),
    st.FarnebackSettings: ("flow", "farneback"),
    st.RaftSettings: ("flow", "raft_large"),
    st.PtlflowSettings: ("flow", "ptlflow"),
    st.TracksSettings: ("tracks",),
    st.EvidenceSettings: ("evidence",),
    st.RefineSettings: ("refine",),
    st.BgfitSettings: ("bgfit",),
    st.TrajsegSettings: ("trajseg",),
    st.KMeansSettings: ("kmeans",),
    st.ClusterSettings: ("cluster",),
    st.ColourMemorySettings: ("cluster", "colour_memory"),
    st.TrainSettings: ("train",),
    st.LossWeights: ("train", "loss_weights"),
    st.EvaluationSettings: ("evaluation",),
    st.ReportSettings: ("report",),
    st.PlotSettings: ("report", "plots"),
    st.OverlaySettings: ("report", "overlay"),
    st.FlowStripSettings: ("report", "flow_strip"),
    st.ExportSettings: ("export",),
    st.MultiObjectSettings: ("multiobject",),
    st.CrfSettings: ("crf",),
    st.MtnetSettings: ("mtnet",),
    st.MtnetStageSettings: ("mtnet", "pre_train"),
    st.ExternalSettings: ("external",),
    st.PropagationSettings: ("propagation",),
    st.SemisupSettings: ("semisup",),
    st.DulSettings: ("dul",),
    st.GtfreePropagationSettings: ("gtfree_propagation",),
    st.CombineSettings: ("combine",),
}


def schema_node(path: tuple[str, ...]) -> dict:
    """The schema object at ``path`` (property names, ``items`` and ``patternProperties`` keys)."""
    node = SCHEMA
    for i, part in enumerate(path):
        node = node[part] if part in ("items", "patternProperties") or (i and path[i - 1] == "patternProperties") \
            else node["properties"][part]
    return node


def validated(example: str | None = None) -> dict:
    """config/config.yaml (with ``example`` merged over it), schema-validated with the defaults filled in."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    if example:
        update_config(cfg, yaml.safe_load((REPO / "config" / example).read_text()))
    validate(cfg, str(REPO / "config" / "schema.yaml"), set_default=True)
    return cfg


@pytest.mark.parametrize("example", [None, *EXAMPLES])
def test_every_shipped_config_builds_settings_and_round_trips(example: str | None) -> None:
    cfg = validated(example)
    settings = st.Settings.from_dict(cfg)
    assert settings.to_dict() == cfg
    assert repr(settings.to_dict()) == repr(cfg)  # same key order: Snakemake compares params by repr
    assert isinstance(settings.flow.dis, st.DisSettings) and isinstance(settings.datasets[0], st.DatasetSettings)


def test_every_section_mirrors_the_schema() -> None:
    """Field names equal the schema's properties, and a field may be absent exactly where the schema neither
    requires it nor gives a default (so schema and spine cannot drift)."""
    sections = {c for c in vars(st).values() if isinstance(c, type) and issubclass(c, st.Section)}
    assert sections - set(SCHEMA_PATHS) == {st.Section, st.InferSettings}  # InferSettings: a derived slice
    for cls, path in SCHEMA_PATHS.items():
        node = schema_node(path)
        props = node["properties"]
        assert set(cls.field_names()) == set(props), cls.__name__
        optional = {k for k, v in props.items() if k not in node.get("required", []) and "default" not in v}
        assert set(cls._OPTIONAL) == optional, cls.__name__
    assert set(st.RaftSettings.field_names()) == set(schema_node(("flow", "raft_small"))["properties"])


@pytest.mark.parametrize(("edit", "key", "problem"), [
    (lambda c: c["kmeans"].pop("k"), "kmeans.k", "missing key"),
    (lambda c: c["train"]["loss_weights"].pop("flow"), "train.loss_weights.flow", "missing key"),
    (lambda c: c.pop("evaluation"), "evaluation", "missing key"),
    (lambda c: c["datasets"][0]["synthetic"].pop("seed"), "datasets[0].synthetic.seed", "missing key"),
    (lambda c: c["evidence"].update(grid_stpe=4), "evidence.grid_stpe", "unknown key"),
    (lambda c: c["flow"]["dis"].update(presets="fast"), "flow.dis.presets", "unknown key"),
    (lambda c: c.update(extra=1), "extra", "unknown key"),
    (lambda c: c["resources"]["flow"].update(gpus=1), "resources.flow.gpus", "unknown key"),
])
def test_a_missing_or_unknown_key_is_named(edit, key: str, problem: str) -> None:
    cfg = validated()
    edit(cfg)
    with pytest.raises(ConfigError, match=problem) as err:
        st.Settings.from_dict(cfg)
    assert err.value.key == key


def test_an_optional_key_is_none_when_absent_and_stays_absent() -> None:
    cfg = validated()
    del cfg["train"]["loss_weights"]["pseudo"]
    settings = st.Settings.from_dict(cfg)
    assert settings.train.loss_weights.pseudo is None and settings.datasets[0].sequences is None
    assert "pseudo" not in settings.to_dict()["train"]["loss_weights"] and settings.to_dict() == cfg


def test_settings_are_frozen() -> None:
    settings = st.Settings.from_dict(validated())
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.kmeans.k = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.seed = 1  # type: ignore[misc]
    assert isinstance(settings.flow.backends, tuple) and isinstance(settings.to_dict()["flow"]["backends"], list)


def test_the_plan_builds_settings_once_and_slices_params_from_them() -> None:
    cfg = validated()
    plan = Plan.from_config(copy.deepcopy(cfg))
    assert isinstance(plan.settings, st.Settings) and plan.settings == st.Settings.from_dict(cfg)
    assert plan.method_config("kmeans") == cfg["kmeans"]
    assert plan.flow_config("dis")["dis"] == cfg["flow"]["dis"]
    assert plan.infer_config("gwm") == infer_config(cfg, "gwm")
    infer = st.InferSettings.from_dict(infer_config(cfg, "gwm-boot"))
    assert infer.refine == plan.settings.refine


def test_a_section_takes_its_own_dict_with_its_key_in_errors() -> None:
    cfg = validated()
    km = st.KMeansSettings.from_dict(cfg["kmeans"])
    assert km.k == cfg["kmeans"]["k"] and st.typed(st.KMeansSettings, km) is km
    with pytest.raises(ConfigError, match="config key 'kmeans.k'"):
        st.KMeansSettings.from_dict({k: v for k, v in cfg["kmeans"].items() if k != "k"})


def test_an_integer_for_a_float_field_is_read_as_a_float_and_written_back_as_given() -> None:
    cfg = validated()
    cfg["kmeans"]["min_spread_px"] = 1
    cfg["report"]["display_scale"] = 100
    settings = st.Settings.from_dict(cfg)
    assert isinstance(settings.kmeans.min_spread_px, float) and settings.kmeans.k == cfg["kmeans"]["k"]
    assert settings.report.display_scale == 100.0 and isinstance(settings.report.display_scale, float)
    assert repr(settings.to_dict()) == repr(cfg)  # params keep the YAML's 1 and 100


def test_a_method_given_a_section_it_does_not_read_names_it() -> None:
    from motionseg.methods.kmeans import kmeans_sequence

    cfg = validated()
    with pytest.raises(ConfigError, match="config key 'kmeans.evidence': unknown key"):
        kmeans_sequence(None, {**cfg["kmeans"], "evidence": cfg["evidence"]}, seed=0)  # type: ignore[arg-type]
