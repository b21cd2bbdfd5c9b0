"""The GitHub workflows: valid (schema and actionlint, offline), pinned, least-privileged, their
matrices equal to the stacks the render tool knows, and the scripts they run work."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.rendering import PROJECT_ROOT
from tools import stacks
from tools.render import known_stacks

GITHUB_DIR = PROJECT_ROOT / ".github"
WORKFLOWS = sorted((GITHUB_DIR / "workflows").glob("*.yml"))
ACTIONS = sorted((GITHUB_DIR / "actions").glob("*/action.yml"))
SCAN_BIN = PROJECT_ROOT / ".venv-scan" / "bin"

STACK_WORKFLOWS = ("pulumi-preview.yml", "pulumi-deploy.yml", "pulumi-drift.yml")
"""Workflows with one job per cloud stack."""

PIN = re.compile(r"^(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40}) # (?P<version>v\d+\.\d+\.\d+)$")

# Which permission each kind of step uses. A job must declare exactly the union of its steps'
# needs: nothing more (least privilege), nothing less (it would fail at run time).
LOCAL_CREDENTIALS = "./.github/actions/cloud-credentials"


def step_needs(step: dict[str, Any]) -> dict[str, str]:
    uses = str(step.get("uses", "")).split("@")[0]
    with_ = step.get("with") or {}
    run = str(step.get("run", ""))
    needs: dict[str, str] = {}
    if uses == "actions/checkout":
        needs["contents"] = "read"
    if uses == LOCAL_CREDENTIALS:  # exchanges GitHub's OIDC token for cloud credentials
        needs["id-token"] = "write"
    if uses == "pulumi/actions" and str(with_.get("comment-on-pr", "false")).lower() == "true":
        needs["pull-requests"] = "write"
    if uses == "actions/download-artifact" and "run-id" in with_:  # another run's artifact
        needs["actions"] = "read"
    if "tools/pr_comment.py post" in run:
        needs["pull-requests"] = "write"
    return needs


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    if True in document:  # YAML 1.1 reads the key `on` as a boolean
        document["on"] = document.pop(True)
    return document


def workflow(name: str) -> dict[str, Any]:
    return load(GITHUB_DIR / "workflows" / name)


def all_steps() -> list[tuple[str, dict[str, Any]]]:
    found = [
        (path.name, step) for path in WORKFLOWS for job in load(path)["jobs"].values() for step in job.get("steps", [])
    ]
    found += [(str(path.relative_to(GITHUB_DIR)), step) for path in ACTIONS for step in load(path)["runs"]["steps"]]
    return found


def _run(*command: str, cwd: Path = PROJECT_ROOT, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def _tool(name: str) -> str:
    tool = SCAN_BIN / name
    assert tool.exists(), f"{name} is missing: run ./scripts/test, which installs it into .venv-scan"
    return str(tool)


# --- Valid --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_githubs_schema(path):
    result = _run(_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_local_action_matches_githubs_schema(path):
    result = _run(_tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_pass_actionlint():
    """Expressions, contexts, matrix keys, local actions' inputs, script injection."""
    result = _run(_tool("actionlint"), "-oneline", *(str(p) for p in WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_action_inputs_exist_in_the_pinned_major_version(tmp_path):
    """actionlint knows popular actions' inputs by tag, not by commit: lint a copy whose pins are
    rewritten to the major version in their comment, with each local composite action's steps as
    a workflow of their own (actionlint reads action.yml only for its inputs)."""
    copy = tmp_path / ".github"
    shutil.copytree(GITHUB_DIR, copy)
    _run("git", "init", "-q", str(tmp_path))
    files = [*sorted((copy / "workflows").glob("*.yml")), *sorted((copy / "actions").glob("*/action.yml"))]
    for path in files:
        text = re.sub(r"@[0-9a-f]{40} # (v\d+)[.\d]*", r"@\1", path.read_text())
        path.write_text(text)
    for path in sorted((copy / "actions").glob("*/action.yml")):
        action = yaml.safe_load(path.read_text())
        inputs = {name: {"type": "string", "required": False} for name in action.get("inputs", {})}
        synthetic = {
            "name": f"steps of {path.parent.name}",
            "on": {"workflow_dispatch": {"inputs": inputs}},
            "permissions": {},
            "jobs": {"steps": {"runs-on": "ubuntu-24.04", "steps": action["runs"]["steps"]}},
        }
        (copy / "workflows" / f"action-{path.parent.name}.yml").write_text(yaml.safe_dump(synthetic, sort_keys=False))
    result = _run(_tool("actionlint"), "-oneline", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# --- Pinned -------------------------------------------------------------------------------------


def test_third_party_actions_are_pinned_by_commit_with_their_version():
    """`owner/repo@<40-hex commit> # vX.Y.Z`, one commit per action across every file (docs/ci.md
    lists where each commit was checked)."""
    pinned: dict[str, set[str]] = {}
    for where, step in all_steps():
        uses = step.get("uses")
        if uses is None or uses.startswith("./"):
            continue
        raw = _raw_uses_line(where, uses)
        match = PIN.match(raw)
        assert match, f"{where}: {raw!r} is not pinned as owner/repo@<sha> # vX.Y.Z"
        pinned.setdefault(match["action"], set()).add(f"{match['sha']} {match['version']}")
    assert all(len(versions) == 1 for versions in pinned.values()), pinned
    assert {"actions/checkout", "pulumi/actions", "aws-actions/configure-aws-credentials"} <= set(pinned)


def _raw_uses_line(where: str, uses: str) -> str:
    """The `uses:` value with its trailing comment (which YAML parsing drops)."""
    path = GITHUB_DIR / ("workflows/" + where if "/" not in where else where)
    for line in path.read_text().splitlines():
        stripped = line.strip().removeprefix("- ")
        if stripped.startswith("uses: ") and stripped.removeprefix("uses: ").startswith(uses):
            return stripped.removeprefix("uses: ")
    raise AssertionError(f"{uses} not found in {path}")


def test_pulumi_cli_version_is_the_sdks():
    pin = re.search(r"^pulumi==([\d.]+)$", (PROJECT_ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert pin
    versions = {
        str(step["with"]["pulumi-version"])
        for _, step in all_steps()
        if str(step.get("uses", "")).startswith("pulumi/actions@")
    }
    assert versions == {pin[1]}


# --- Least privilege ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_jobs_have_exactly_the_permissions_their_steps_use(path):
    """Nothing at workflow level; each job declares what its steps use (table: step_needs)."""
    document = load(path)
    assert document.get("permissions") == {}, f"{path.name}: workflow-level permissions must be {{}}"
    for name, job in document["jobs"].items():
        needed: dict[str, str] = {}
        for step in job["steps"]:
            needed |= step_needs(step)
        assert job.get("permissions") == needed, f"{path.name} job {name}: declares {job.get('permissions')}"


def test_id_token_only_where_a_role_is_assumed_and_comments_only_where_posted():
    """The two sensitive permissions, spelled out: which jobs hold them."""
    holders: dict[str, list[str]] = {"id-token": [], "pull-requests": []}
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            for permission in holders:
                if (job.get("permissions") or {}).get(permission) == "write":
                    holders[permission].append(f"{path.name}:{name}")
    assert holders == {
        "id-token": ["pulumi-deploy.yml:up", "pulumi-drift.yml:drift", "pulumi-preview.yml:preview"],
        "pull-requests": ["preview-comment.yml:comment", "pulumi-preview.yml:preview"],
    }


# --- One source for the stacks -------------------------------------------------------------------


@pytest.mark.parametrize("name", STACK_WORKFLOWS)
def test_stack_matrices_equal_the_cloud_stacks_the_render_tool_knows(name):
    """The matrix is written out (readable, checkable by actionlint, and a new stack is a reviewed
    workflow change plus its GitHub environment); this keeps it equal to tools.stacks."""
    (job,) = workflow(name)["jobs"].values()
    assert job["strategy"]["matrix"]["include"] == stacks.ci_matrix(), (
        f"{name}: set strategy.matrix.include to `python -m tools.stacks --matrix`"
    )
    assert {entry["stack"] for entry in stacks.ci_matrix()} < set(known_stacks())


def test_concurrency_is_per_stack_and_pull_request():
    preview = workflow("pulumi-preview.yml")["jobs"]["preview"]["concurrency"]
    assert "matrix.stack" in preview["group"] and "pull_request.number" in preview["group"]
    assert preview["cancel-in-progress"] is True
    deploy = workflow("pulumi-deploy.yml")["jobs"]["up"]["concurrency"]
    assert deploy == {"group": "pulumi-deploy-${{ matrix.stack }}", "cancel-in-progress": False}
    drift = workflow("pulumi-drift.yml")["jobs"]["drift"]["concurrency"]
    assert drift == {"group": "pulumi-drift-${{ matrix.stack }}", "cancel-in-progress": False}


def _concurrency_groups() -> list[tuple[str, str]]:
    """(where, group) of every workflow-level and job-level concurrency setting."""
    found = []
    for path in WORKFLOWS:
        document = load(path)
        levels = [(path.name, document.get("concurrency"))]
        levels += [(f"{path.name}:{name}", job.get("concurrency")) for name, job in document["jobs"].items()]
        for where, concurrency in levels:
            if concurrency is not None:
                found.append((where, concurrency if isinstance(concurrency, str) else concurrency["group"]))
    return found


def test_nothing_else_can_cancel_a_queued_deploy():
    """GitHub cancels a group's pending job when another job queues in the group, whatever
    cancel-in-progress says. Drift once shared the deploy's group: a scheduled drift check queued
    behind a running deploy cancelled the pending deploy of main's newest commit. Only deploys may
    join a deploy's group (a newer deploy of main replacing an older pending one is intended)."""
    groups = _concurrency_groups()
    (deploy_group,) = [group for where, group in groups if where == "pulumi-deploy.yml:up"]
    prefix = deploy_group.split("${{")[0]  # the literal part: pulumi-deploy-
    sharing = [where for where, group in groups if where != "pulumi-deploy.yml:up" and group.startswith(prefix)]
    assert not sharing, f"{sharing} would join the deploy's group {deploy_group}"


# --- What each workflow does ---------------------------------------------------------------------


def _pulumi_step(name: str) -> dict[str, Any]:
    (job,) = workflow(name)["jobs"].values()
    (step,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
    return step


def test_preview_comments_per_stack_with_diff_and_the_policy_pack():
    step = _pulumi_step("pulumi-preview.yml")["with"]
    assert step["command"] == "preview"
    assert step["comment-on-pr"] is True and step["edit-pr-comment"] is True
    assert step["diff"] is True and step["suppress-outputs"] is True
    assert step["policyPacks"] == "policy"


def test_credentialed_workflows_skip_forks_and_repositories_without_a_backend():
    """Forks' and Dependabot's pull-request runs get no OIDC token and no Actions secrets (even when a
    maintainer re-runs them): the credentialed preview would only fail, so it does not run."""
    preview = workflow("pulumi-preview.yml")["jobs"]["preview"]["if"]
    assert "head.repo.full_name == github.repository" in preview and "vars.PULUMI_BACKEND_URL" in preview
    assert "github.actor != 'dependabot[bot]'" in preview
    for name in ("pulumi-deploy.yml", "pulumi-drift.yml"):
        (job,) = workflow(name)["jobs"].values()
        assert "vars.PULUMI_BACKEND_URL" in job["if"]


def test_deploy_runs_behind_the_stacks_environment_on_main():
    document = workflow("pulumi-deploy.yml")
    assert document["on"]["push"] == {"branches": ["main"]}
    job = document["jobs"]["up"]
    assert job["environment"] == {"name": "${{ matrix.stack }}"}
    assert _pulumi_step("pulumi-deploy.yml")["with"]["command"] == "up"


READ_ONLY_SECRETS = {"PULUMI_PREVIEW_TOKEN"}
"""Secrets a job outside a protected environment may name: a repository secret reaches every
workflow of every branch, including a pull request's own edit of a workflow, so it must not be
able to change a stack."""
ENVIRONMENT_SECRETS = {"PULUMI_DEPLOY_TOKEN"}
"""Secrets that may change a stack: set in each stack's environment only, named only by jobs that
run in it (required reviewers, main only)."""


def _secrets_named(job: dict[str, Any]) -> set[str]:
    return set(re.findall(r"secrets\.([A-Za-z0-9_]+)", yaml.safe_dump(job)))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_only_jobs_in_an_environment_name_a_secret_that_can_change_a_stack(path):
    """The preview once passed PULUMI_ACCESS_TOKEN, a repository secret that could update the stacks,
    to a job running the pull request's code (`pulumi stack export --show-secrets`, or an update)."""
    document = load(path)
    for name, job in document["jobs"].items():
        named = _secrets_named(job)
        allowed = READ_ONLY_SECRETS | (ENVIRONMENT_SECRETS if "environment" in job else set())
        assert named <= allowed, f"{path.name} job {name} names {sorted(named - allowed)}"
        if "pull_request" in document["on"] or "pull_request_target" in document["on"]:
            assert "environment" not in job, f"{path.name} job {name}: a pull request's job in an environment"


def test_each_pulumi_step_has_its_token():
    tokens = {
        name: _pulumi_step(name).get("env", {}).get("PULUMI_ACCESS_TOKEN")
        for name in ("pulumi-preview.yml", "pulumi-drift.yml", "pulumi-deploy.yml")
    }
    assert tokens == {
        "pulumi-preview.yml": "${{ secrets.PULUMI_PREVIEW_TOKEN }}",
        "pulumi-drift.yml": "${{ secrets.PULUMI_PREVIEW_TOKEN }}",
        "pulumi-deploy.yml": "${{ secrets.PULUMI_DEPLOY_TOKEN }}",
    }


def test_gcp_credentials_install_the_auth_plugin_the_gke_kubeconfig_runs():
    """The GKE kubeconfig execs gke-gcloud-auth-plugin for every Kubernetes call; no credentialed job
    installed it, so preview, deploy and drift of a GKE stack failed at the first Kubernetes resource.
    It is installed after the Google login, whose credentials gcloud (and so the plugin) uses."""
    from components.backends.gke.cluster import AUTH_PLUGIN

    steps = load(GITHUB_DIR / "actions" / "cloud-credentials" / "action.yml")["runs"]["steps"]
    uses = [str(step.get("uses", "")).split("@")[0] for step in steps]
    setup = steps[uses.index("google-github-actions/setup-gcloud")]
    assert setup["if"] == "inputs.cloud == 'gcp'"
    assert AUTH_PLUGIN in [c.strip() for c in setup["with"]["install_components"].split(",")]
    assert uses.index("google-github-actions/auth") < uses.index("google-github-actions/setup-gcloud")


def test_drift_check_is_a_scheduled_refresh_that_expects_no_changes():
    document = workflow("pulumi-drift.yml")
    assert document["on"]["schedule"]
    step = _pulumi_step("pulumi-drift.yml")["with"]
    assert step["command"] == "preview" and step["refresh"] is True and step["expect-no-changes"] is True


def test_offline_comment_never_checks_out_or_runs_pull_request_code():
    """The privileged workflow_run job checks out the default branch only, downloads the artifact
    as data, and runs nothing but tools/pr_comment.py (standard library, from that checkout)."""
    comment = workflow("preview-comment.yml")
    assert set(comment["on"]) == {"workflow_run"}
    assert comment["on"]["workflow_run"]["workflows"] == [workflow("preview-offline.yml")["name"]]
    (job,) = comment["jobs"].values()
    assert "workflow_run.event == 'pull_request'" in job["if"]
    checkout, download, post = job["steps"]
    assert checkout["with"]["ref"] == "${{ github.event.repository.default_branch }}"
    assert checkout["with"]["persist-credentials"] is False
    assert download["uses"].startswith("actions/download-artifact@")
    assert post["run"].split()[:3] == ["python3", "tools/pr_comment.py", "post"]
    assert "head_sha" not in str(checkout) and "head_branch" not in str(post["run"])


def test_offline_preview_uploads_the_markdown_and_the_pr_number_without_write_access():
    job = workflow("preview-offline.yml")["jobs"]["render"]
    assert job["permissions"] == {"contents": "read"}
    runs = " ".join(str(step.get("run", "")) for step in job["steps"])
    assert "./scripts/preview-diff" in runs and "preview/pr-number" in runs and "GITHUB_STEP_SUMMARY" in runs
    upload = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert upload and upload[0]["with"]["name"] == "offline-preview"


def test_ci_runs_the_readme_test_command():
    steps = workflow("ci.yml")["jobs"]["test"]["steps"]
    assert any(step.get("run") == "./scripts/test" for step in steps)


def test_e2e_deploys_dev_kind_checks_predict_and_always_cleans_up():
    document = workflow("e2e-kind.yml")
    paths = document["on"]["pull_request"]["paths"]
    assert {"components/**", "images/**", "stacks/**"} <= set(paths)
    assert document["on"]["push"] == {"branches": ["main"]}
    job = document["jobs"]["dev-kind"]
    assert job["timeout-minutes"] <= 20
    runs = [str(step.get("run", "")) for step in job["steps"]]
    assert any(run.startswith("./scripts/up-dev-kind --yes") for run in runs)
    assert "./scripts/smoke-dev-kind" in runs
    (cleanup,) = [s for s in job["steps"] if "pulumi destroy" in str(s.get("run", ""))]
    assert cleanup["if"] == "always()" and "kind delete cluster" in cleanup["run"]
    assert job["steps"][-1] is cleanup


def test_smoke_script_sends_the_readmes_request_and_expects_its_answer():
    readme = (PROJECT_ROOT / "README.md").read_text()
    script = (PROJECT_ROOT / "scripts" / "smoke-dev-kind").read_text()
    readme_request = re.search(r"-d '(\{\"instances\".*?\})'", readme)
    script_request = re.search(r"^request='(.*)'$", script, re.MULTILINE)
    assert readme_request and script_request and readme_request[1] == script_request[1]
    readme_answer = re.search(r"^# (\{\"predictions\":\[0\]\})$", readme, re.MULTILINE)
    assert readme_answer and f"expected='{readme_answer[1]}'" in script


def test_up_dev_kind_passes_yes_to_pulumi_up():
    """`scripts/up-dev-kind --yes` is how CI runs it: extra arguments go to `pulumi up`."""
    assert 'pulumi up --stack dev-kind "$@"' in (PROJECT_ROOT / "scripts" / "up-dev-kind").read_text()


def test_preview_script_previews_every_stack_against_a_commit(tmp_path):
    """scripts/preview-diff renders each stack at a base commit and at the working tree and prints
    one section per stack, with its policy and cost sections (what changed is tested in
    tests/test_render_diff*.py). It runs in a clone, whose worktrees are the script's alone."""
    clone = tmp_path / "clone"
    assert _run("git", "clone", "--quiet", str(PROJECT_ROOT), str(clone)).returncode == 0
    environment = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(
        ["bash", "scripts/preview-diff", "HEAD"],
        cwd=clone,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("## Offline preview")
    assert "Offline approximation of `pulumi preview`" in result.stdout
    for stack in known_stacks():
        assert f"### `{stack}`" in result.stdout
    assert result.stdout.count("#### Policy: ") == result.stdout.count("#### Cost (") == len(known_stacks())
    worktrees = _run("git", "worktree", "list", cwd=clone).stdout
    assert worktrees.count("\n") == 1, f"the base worktree was not removed:\n{worktrees}"


def test_preview_script_fails_when_the_stack_list_is_refused(tmp_path):
    """A stack list tools.stacks refuses (two cloud stacks sharing CI variables) fails the preview
    with its `stacks:` line. A failed `$(...)` in a `for` list is ignored even under `set -e`: the
    preview showed every stack as deleted and exited 0. The stacks are committed, so that the
    base's list is refused too."""
    clone = tmp_path / "clone"
    assert _run("git", "clone", "--quiet", str(PROJECT_ROOT), str(clone)).returncode == 0
    shutil.copy(clone / "stacks" / "Pulumi.prod-eks.yaml", clone / "stacks" / "Pulumi.prod.eks.yaml")
    identity = ("-c", "user.name=test", "-c", "user.email=test@example.com")
    assert _run("git", "-C", str(clone), "add", "stacks").returncode == 0
    assert _run("git", "-C", str(clone), *identity, "commit", "--quiet", "-m", "collide").returncode == 0
    result = subprocess.run(
        ["bash", "scripts/preview-diff", "HEAD"],
        cwd=clone,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "stacks: " in result.stderr and "both stacks' CI variables would end in _PROD_EKS" in result.stderr
    assert "### `" not in result.stdout
    worktrees = _run("git", "worktree", "list", cwd=clone).stdout
    assert worktrees.count("\n") == 1, f"the base worktree was not removed:\n{worktrees}"
