"""Static checks of the SLURM profile (slurm/), its test overrides and the helpers of .ci/slurm-e2e.sh.

Fast: nothing is submitted. The end-to-end run against a real SLURM controller is .ci/slurm-e2e.sh.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "slurm" / "config.yaml"
TEST_PROFILE = REPO / "slurm" / "testing" / "profile" / "config.yaml"
PARTITIONS = REPO / "slurm" / "partitions.yaml"

pytest.importorskip("snakemake_executor_plugin_slurm", reason="pip install snakemake-executor-plugin-slurm")

import importlib.util  # noqa: E402

from snakemake_executor_plugin_slurm.partitions import get_best_partition, read_partition_file  # noqa: E402

_spec = importlib.util.spec_from_file_location("check_slurm_run", REPO / "slurm" / "testing" / "check_slurm_run.py")
check_slurm_run = importlib.util.module_from_spec(_spec)
sys.modules["check_slurm_run"] = check_slurm_run  # dataclasses look their module up there
_spec.loader.exec_module(check_slurm_run)

# Keys whose values are mappings: profiles are merged per top-level key, so an override profile that sets one of
# these replaces the real profile's whole mapping (verified pitfall, ../shared/reference/slurm.md section 7).
MAPPING_KEYS = {"default-resources", "set-resources", "resources", "set-resource-scopes", "groups", "group-components",
                "set-threads", "config"}


def parsed_profile(path: Path) -> dict:
    """The profile as Snakemake reads it (YTE expanded, mappings turned into NAME=VALUE lists)."""
    from snakemake.profiles import ProfileConfigFileParser

    with open(path) as f:
        return dict(ProfileConfigFileParser().parse(f))


def raw(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def cli_options() -> set[str]:
    """Every long option of the snakemake command line, plugin options included."""
    from snakemake.cli import get_argument_parser

    parser = get_argument_parser()
    return {opt for action in parser._actions for opt in action.option_strings if opt.startswith("--")}


@pytest.fixture(scope="module")
def workflow():
    """The workflow's rules, loaded through the Snakemake API (no DAG is built)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings()) as api:
        wf = api.workflow(resource_settings=ResourceSettings(), snakefile=REPO / "Snakefile", workdir=REPO)._workflow
        yield wf


def declared(rule, name: str):
    """A rule's declared resource: None if absent, "function" if computed per job, else its constant value."""
    res = rule.resources.get(name) if rule.resources else None
    if res is None:
        return None
    if hasattr(res, "is_evaluable"):  # snakemake.resources.Resource (Snakemake 9)
        return "function" if res.is_evaluable() else res.value
    return "function" if callable(res) else res


def gpu_capable(rule) -> bool:
    """True when the rule declares a gpu resource that is not the constant 0 (a function counts: it may say 1)."""
    gpu = declared(rule, "gpu")
    return gpu is not None and (gpu == "function" or int(gpu) > 0)


class FakeResources(dict):
    def __getattr__(self, name):
        return self[name]


def fake_job(name: str, threads: int, **resources) -> SimpleNamespace:
    return SimpleNamespace(name=name, threads=threads, resources=FakeResources(resources))


def test_profile_parses_and_uses_the_slurm_executor():
    prof = parsed_profile(PROFILE)
    assert prof["executor"] == "slurm"
    assert int(prof["retries"]) >= 1
    assert prof["keep-going"] in ("True", "true", True)


def test_every_profile_key_is_a_snakemake_or_plugin_option():
    options = cli_options()
    for path in (PROFILE, TEST_PROFILE):
        unknown = [k for k in parsed_profile(path) if f"--{k}" not in options]
        assert not unknown, f"{path}: not snakemake/plugin options: {unknown}"


def test_account_and_partition_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("MOTIONSEG_SLURM_ACCOUNT", "proj42")
    monkeypatch.setenv("MOTIONSEG_SLURM_PARTITION", "short")
    defaults = parsed_profile(PROFILE)["default-resources"]
    assert "slurm_account=proj42" in defaults and "slurm_partition=short" in defaults
    monkeypatch.delenv("MOTIONSEG_SLURM_ACCOUNT")
    monkeypatch.delenv("MOTIONSEG_SLURM_PARTITION")
    defaults = parsed_profile(PROFILE)["default-resources"]
    assert "slurm_account=" in defaults and "slurm_partition=" in defaults  # empty: guessed / auto-selected


def test_no_accounting_variant_is_documented_not_hard_coded():
    text = PROFILE.read_text()
    assert "--slurm-status-command squeue" in text
    assert "slurm-status-command" not in raw(PROFILE)  # sacct (the plugin default) on clusters with accounting


def test_test_profile_only_overrides_scalars():
    test = raw(TEST_PROFILE)
    assert int(test["slurm-init-seconds-before-status-checks"]) < 40
    clash = MAPPING_KEYS & set(test)
    assert not clash, f"{TEST_PROFILE} would replace the real profile's {clash}"


def test_partition_file_routes_gpu_jobs_to_gpu_partitions():
    partitions = read_partition_file(PARTITIONS)
    gpu_parts = {p.name for p in partitions if p.limits.max_gpu > 0}
    cpu_parts = {p.name for p in partitions if p.limits.max_gpu == 0}
    assert gpu_parts and cpu_parts
    log = SimpleNamespace(info=lambda *a: None, debug=lambda *a: None, warning=lambda *a: None)
    assert get_best_partition(partitions, fake_job("x", 1, gpu=1, mem_mb=1000, runtime=10), log) in gpu_parts
    assert get_best_partition(partitions, fake_job("x", 1, gpu=0, mem_mb=1000, runtime=10), log) in cpu_parts


def test_profile_rule_names_exist_in_the_workflow(workflow):
    names = {r.name for r in workflow.rules}
    prof = raw(PROFILE)
    for key in ("set-resources", "groups"):
        unknown = set(prof.get(key, {})) - names
        assert not unknown, f"profile {key} names rules the workflow does not define: {unknown}"
    assert set(prof["group-components"]) <= set(prof["groups"].values())


def test_every_gpu_rule_is_routed_and_fits_a_partition(workflow):
    prof = raw(PROFILE)
    partitions = read_partition_file(PARTITIONS)
    gpu_parts = {p.name for p in partitions if p.limits.max_gpu > 0}
    log = SimpleNamespace(info=lambda *a: None, debug=lambda *a: None, warning=lambda *a: None)
    gpu_rules = [r for r in workflow.rules if gpu_capable(r)]
    assert "train" in {r.name for r in gpu_rules}
    for rule in gpu_rules:
        extra = prof["set-resources"].get(rule.name, {})
        assert int(extra.get("cpus_per_gpu", 0)) >= 1, f"GPU rule {rule.name} has no cpus_per_gpu in set-resources"
        res = {k: declared(rule, k) for k in rule.resources.keys() if not k.startswith("_")}
        res = {k: v for k, v in res.items() if isinstance(v, int)}
        res["gpu"] = 1
        threads = declared(rule, "_cores")
        job = fake_job(rule.name, threads if isinstance(threads, int) else 1, **res)
        assert get_best_partition(partitions, job, log) in gpu_parts, f"GPU rule {rule.name} is not routed to a GPU"


def test_aggregation_rules_are_local_and_not_grouped(workflow):
    groups = raw(PROFILE)["groups"]
    assert {"all", "report"} <= workflow._localrules
    assert not set(groups) & workflow._localrules, "a grouped rule is never local"
    assert "train" not in groups, "train runs once per model over all sequences: it must not be grouped"


@pytest.mark.parametrize("script", ["slurm/testing/local-cluster.sh", ".ci/slurm-e2e.sh"])
def test_shell_scripts_parse(script):
    subprocess.run(["bash", "-n", str(REPO / script)], check=True)


def test_cluster_templates_have_the_overwrite_marker():
    for name in ("slurm.conf.in", "gres.conf.in", "slurmdbd.conf.in"):
        assert (REPO / "slurm" / "testing" / name).read_text().startswith("# motionseg-local-cluster:")


def test_run_log_parser():
    text = (
        "localrule report:\n"
        "Job 22 has been submitted with SLURM jobid 8 (log: /w/logs/slurm/rule_train/8.log).\n"
        "Job 7c3 has been submitted with SLURM jobid 9 (log: /w/logs/slurm/group_prep_flow_ingest/s0/9.log).\n"
    )
    run = check_slurm_run.parse_run_log(text)
    assert [(s.slurm_id, s.name, s.is_group) for s in run.submissions] == [
        ("8", "train", False),
        ("9", "prep_flow_ingest", True),
    ]
    assert run.local_rules == {"report"}
    slurm_log = "    resources: tmpdir=/tmp, mem_mb=8000, gpu=0\n    resources: mem_mb=16000, gpu=2, cpus_per_gpu=2\n"
    assert check_slurm_run.requested_gpus(slurm_log) == 2
    assert check_slurm_run.requested_gpus("resources: mem_mb=1\n") == 0
    assert check_slurm_run.gres_gpu("billing=1,cpu=1,gres/gpu=1,mem=1000M,node=1") == 1
    assert check_slurm_run.gres_gpu("billing=1,cpu=1,gres/gpu:a100=2,mem=1000M") == 2
    assert check_slurm_run.gres_gpu("billing=1,cpu=2,mem=8000M,node=1") == 0


def test_failure_check_leaves_out_scores_that_wait_for_a_model(tmp_path):
    """The failure scenario's expectations: a combine whose component is trained (the shipped demo's gwm-boot) waits
    for the model, which cannot train without the failing sequence; per-sequence methods still finish."""
    shipped = check_slurm_run.load_config([str(REPO / "config" / "config.yaml")])
    assert "combine" in shipped["methods"] and "gwm-boot" in shipped["combine"]["methods"]
    assert check_slurm_run.combiners_of_trained(shipped) == {"combine"}
    override = tmp_path / "over.yaml"
    override.write_text("combine:\n  methods: [bgfit+prop, clusternet-online]\n")
    merged = check_slurm_run.load_config([str(REPO / "config" / "config.yaml"), str(override)])
    assert merged["combine"] == {"methods": ["bgfit+prop", "clusternet-online"], "rule": shipped["combine"]["rule"]}
    assert check_slurm_run.combiners_of_trained(merged) == set()

    ref = tmp_path / "ref"
    for rel in ("synth/models/dis/none/gwm-boot/model.pt", "synth/scores/dis/none/gwm-boot/s0.csv",
                "synth/prop/scores/dis/none/gwm-boot/s0.csv", "synth/scores/dis/none/bgfit/s0.csv",
                "synth/scores/dis/none/bgfit/s1.csv", "synth/scores/dis/none/combine/s0.csv"):
        (ref / rel).parent.mkdir(parents=True, exist_ok=True)
        (ref / rel).write_text("x")
    got = check_slurm_run.expected_scores(ref, "s1", {"combine"})
    assert [p.as_posix() for p in got] == ["synth/scores/dis/none/bgfit/s0.csv"]
    got = {p.as_posix() for p in check_slurm_run.expected_scores(ref, "s1", set())}
    assert got == {"synth/scores/dis/none/bgfit/s0.csv", "synth/scores/dis/none/combine/s0.csv"}
