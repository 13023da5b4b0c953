"""The one method registry (motionseg.registry): the schema, README, plan, report and dispatch all follow from it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from motionseg import registry
from motionseg.registry import METHODS, names, pseudo_label_choices, spec

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "motionseg"
SCHEMA = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())


def test_schema_method_enums_are_the_registry() -> None:
    props = SCHEMA["properties"]
    assert props["methods"]["items"]["enum"] == list(METHODS)
    train = props["train"]["properties"]
    assert train["pseudo_labels"]["enum"] == [*pseudo_label_choices(), None]
    refine_list = next(o for o in train["refine_masks"]["oneOf"] if o.get("type") == "array")
    # the `train` section's GrabCut refinement applies to the self-supervised networks (mtnet reads `mtnet`)
    assert refine_list["items"]["enum"] == [n for n in names(kind="trained") if not METHODS[n].supervised]


def test_readme_and_architecture_method_tables_follow_the_registry() -> None:
    readme = (REPO / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| methods (`methods`) |"))
    assert re.findall(r"`([\w-]+)`", row.split("|")[2]) == list(METHODS)
    arch = (REPO / "docs" / "architecture.md").read_text()
    assert registry.markdown_table() in arch, "docs/architecture.md's method table differs: paste markdown_table()"


def test_entries_are_consistent() -> None:
    for name, m in METHODS.items():
        assert m.name == name and m.kind in registry.KINDS and m.supervision in registry.SUPERVISIONS
        assert m.oracle == (m.supervision == "oracle"), name
        assert (m.mode == "trained") == m.trained, name
        # the self-supervised networks name their loss set; every trained method names its training function
        assert (m.losses is not None) == (m.trained and not m.supervised) and (not m.pseudo_labels or m.trained), name
        assert (m.train is not None) == m.trained, name
        assert all(s in SCHEMA["properties"] for s in m.settings.sections), name
        for ref in filter(None, (m.run, m.train)):
            module, func = ref.split(":")
            assert (SRC.parent / (module.replace(".", "/") + ".py")).exists(), ref
            tree = ast.parse((SRC.parent / (module.replace(".", "/") + ".py")).read_text())
            assert func in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, ref
    from motionseg.train.loop import LOSS_SETS

    assert {m.losses for m in METHODS.values() if m.trained and not m.supervised} == set(LOSS_SETS)
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        spec("nope")


def test_registry_and_plan_import_neither_torch_nor_numpy() -> None:
    code = "import sys, motionseg.registry, motionseg.paths, motionseg.plan; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _imports(path: Path) -> set[str]:
    """Every motionseg module a file imports, at any level (function-local imports included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("motionseg"):
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("motionseg")}
    return out


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_no_import_cycle_between_methods_and_cluster_nor_through_the_registry() -> None:
    edges: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        pkg = path.relative_to(SRC).parts[0].removesuffix(".py")
        edges.setdefault(pkg, set()).update(_package(m) for m in _imports(path) if _package(m) != pkg)
    # ClusterNet uses the shared motion helpers of methods/; methods/ never imports cluster/
    assert "methods" in edges["cluster"] and "cluster" not in edges["methods"]
    # the registry names run functions as strings: it imports no package
    assert edges["registry"] == set() and edges["paths"] == set()


def test_dispatch_refuses_unknown_and_routes_trained_methods_to_inference(tmp_path: Path) -> None:
    from motionseg.io.errors import InputError
    from motionseg.methods import run_method as per_sequence

    with pytest.raises(ValueError, match="unknown method"):
        registry.run_method("nope", {}, tmp_path / "m", {}, 0)
    with pytest.raises(ValueError, match="trained method"):
        per_sequence("gwm", tmp_path / "f.npz", tmp_path, tmp_path / "m", {}, 0)
    assert registry.run_function("gwm").__module__ == "motionseg.train.api"
    assert registry.run_function("clusternet-online").__module__ == "motionseg.cluster.run"
    # a trained method's dispatch reads the model of its inputs
    with pytest.raises(InputError, match="model.pt"):
        registry.run_method("gwm", {"model": tmp_path / "model.pt", "frames": tmp_path / "f.npz"}, tmp_path / "m",
                            {}, 0)


def test_report_legend_and_published_columns_follow_the_registry() -> None:
    from motionseg.report.published import PUBLISHED, PUBLISHED_METHODS
    from motionseg.report.table import method_legend

    assert PUBLISHED_METHODS["ClusterNet"] == ("clusternet-online", "clusternet-offline", "clusternet-oracle")
    assert PUBLISHED_METHODS["GWM"] == ("gwm",) and "MG" not in PUBLISHED_METHODS
    assert set(PUBLISHED_METHODS) <= {p.method for p in PUBLISHED}
    legend = "\n".join(method_legend(["lrtl", "clusternet-oracle", "bgfit", "other"]))
    assert "- `bgfit`: per-sequence, supervision none, GT-free:" in legend
    assert "- `clusternet-oracle`: per-sequence, supervision oracle, ORACLE" in legend
    assert "- `lrtl`: trained, supervision self-supervised, GT-free, reads point tracks" in legend
    assert "- `other`: not a registered method." in legend
    assert legend.index("`bgfit`") < legend.index("`clusternet-oracle`") < legend.index("`lrtl`")
    # the rows' supervision wins where the config decides it (combine: its components'; external: declared)
    legend = "\n".join(method_legend(["combine", "external"], {"combine": "self-supervised", "external": "none"}))
    assert "- `combine`: per-sequence, supervision self-supervised, GT-free:" in legend
    assert "- `external`: per-sequence, supervision none, GT-free:" in legend


def test_one_name_per_mode() -> None:
    """The ClusterNet mode names are the method suffixes (no second spelling such as paper-oracle)."""
    from motionseg.cluster.run import MODES

    assert set(MODES) == {METHODS[n].mode for n in METHODS if n.startswith("clusternet-")}
    hits = [str(p) for p in SRC.rglob("*.py") if "paper-oracle" in p.read_text()]
    assert not hits
