"""The scheduler examples the README links, checked for what they are (nothing is scheduled)."""

from __future__ import annotations

import ast
import subprocess

import yaml
from examples_support import ROOT, check_shopper_chat_options

EXAMPLES = ROOT / "examples"


def test_the_github_actions_workflow_is_valid_yaml_with_valid_steps() -> None:
    path = EXAMPLES / "github-actions-smoke.yml"
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert True in workflow or "on" in workflow  # YAML 1.1 reads the key `on` as true
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    runs = [step["run"] for step in steps if "run" in step]
    assert runs
    for script in runs:
        syntax = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
        assert syntax.returncode == 0, f"{path.name}: not valid shell:\n{script}\n{syntax.stderr}"
    smoke = [script for script in runs if "shopper-chat run" in script]
    assert smoke
    for script in smoke:
        check_shopper_chat_options(script, path.name)
    secrets = {name for step in steps for name in (step.get("env") or {})}
    assert secrets == {"CONNECT_BASE_URL", "CONNECT_CLIENT_ID", "CONNECT_CLIENT_SECRET"}


def test_the_airflow_dags_parse_and_run_shopper_chat() -> None:
    path = EXAMPLES / "airflow_dag.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    texts = [node.value for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    assert any("shopper-chat run" in text for text in texts)
    dag_ids = [kw.value.value for node in ast.walk(tree) if isinstance(node, ast.Call)
               for kw in node.keywords
               if kw.arg == "dag_id" and isinstance(kw.value, ast.Constant)]
    assert dag_ids == ["shopper_chat_scenarios", "shopper_chat_smoke",
                       "shopper_chat_smoke_papermill"]
    assert any(isinstance(node, ast.Attribute) and node.attr == "expand"
               for node in ast.walk(tree)), "the scenario matrix maps one task per scenario"
