"""The sticky preview comment: finding our comment, create vs update, the checks on the artifact's
data, truncation to GitHub's limit, and the exact requests sent (against a fake transport: the
GitHub API is the cloud boundary)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.rendering import PROJECT_ROOT
from tools import pr_comment
from tools.pr_comment import BOT_LOGIN, COMMENT_LIMIT, MARKER, GitHub, Request, Response

HEAD_SHA = "a" * 40
GOLDEN = Path(__file__).parent / "golden" / "pr_comment"


class FakeGitHub:
    """Answers the REST calls from an in-memory PR and its comments, and records every request."""

    def __init__(self, head_sha: str = HEAD_SHA, comments: list[dict[str, Any]] | None = None, fail: int = 0):
        self.head_sha = head_sha
        self.comments = comments or []
        self.requests: list[Request] = []
        self.fail = fail

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        if self.fail:
            return Response(self.fail, b'{"message": "nope"}')
        path = request.url.removeprefix("https://api.github.com/repos/o/r")
        if request.method == "GET" and path == "/pulls/7":
            return Response(200, json.dumps({"number": 7, "head": {"sha": self.head_sha}}).encode())
        if request.method == "GET" and path.startswith("/issues/7/comments?"):
            page = int(path.rsplit("page=", 1)[1])
            batch = self.comments[(page - 1) * 100 : page * 100]
            return Response(200, json.dumps(batch).encode())
        if request.method == "POST" and path == "/issues/7/comments":
            body = json.loads(request.body or b"{}")["body"]
            self.comments.append({"id": 999, "body": body, "user": {"login": BOT_LOGIN}})
            return Response(201, json.dumps(self.comments[-1]).encode())
        if request.method == "PATCH" and path.startswith("/issues/comments/"):
            return Response(200, b"{}")
        return Response(404, b'{"message": "Not Found"}')


def _comment(comment_id: int, body: str, login: str = BOT_LOGIN) -> dict[str, Any]:
    return {"id": comment_id, "body": body, "user": {"login": login}}


def test_creates_the_comment_when_there_is_none():
    fake = FakeGitHub(comments=[_comment(1, "LGTM", "alice")])
    outcome = pr_comment.post(GitHub("t0ken", "o/r", fake), 7, HEAD_SHA, "## Offline preview\n")
    assert outcome == "created the preview comment on PR #7"
    post = fake.requests[-1]
    assert (post.method, post.url) == ("POST", "https://api.github.com/repos/o/r/issues/7/comments")
    assert json.loads(post.body or b"{}") == {"body": f"{MARKER}\n## Offline preview\n"}


def test_updates_our_comment_and_leaves_a_quoting_human_alone():
    """Only the bot's comment carrying the marker is ours: a person who quotes the marker keeps theirs."""
    fake = FakeGitHub(comments=[_comment(1, f"> {MARKER} old", "mallory"), _comment(2, f"{MARKER}\nold")])
    outcome = pr_comment.post(GitHub("t0ken", "o/r", fake), 7, HEAD_SHA, "new\n")
    assert outcome == "updated the preview comment on PR #7"
    patch = fake.requests[-1]
    assert (patch.method, patch.url) == ("PATCH", "https://api.github.com/repos/o/r/issues/comments/2")
    assert json.loads(patch.body or b"{}")["body"] == f"{MARKER}\nnew\n"


def test_finds_our_comment_on_a_later_page():
    others = [_comment(index, f"comment {index}", "bob") for index in range(150)]
    fake = FakeGitHub(comments=[*others, _comment(500, f"{MARKER}\nold")])
    pr_comment.post(GitHub("t0ken", "o/r", fake), 7, HEAD_SHA, "new\n")
    pages = [r.url for r in fake.requests if "/comments?" in r.url]
    assert pages == [
        "https://api.github.com/repos/o/r/issues/7/comments?per_page=100&page=1",
        "https://api.github.com/repos/o/r/issues/7/comments?per_page=100&page=2",
    ]
    assert fake.requests[-1].url.endswith("/issues/comments/500")


def test_an_unchanged_preview_is_not_edited_again():
    fake = FakeGitHub(comments=[_comment(2, f"{MARKER}\nsame\n")])
    outcome = pr_comment.post(GitHub("t0ken", "o/r", fake), 7, HEAD_SHA, "same\n")
    assert "already up to date" in outcome
    assert all(r.method == "GET" for r in fake.requests)


def test_a_stale_or_forged_artifact_posts_nothing():
    """The PR's head must be the commit the preview was rendered from: an older run finishing late,
    or an artifact naming somebody else's PR, changes nothing."""
    fake = FakeGitHub(head_sha="b" * 40)
    outcome = pr_comment.post(GitHub("t0ken", "o/r", fake), 7, HEAD_SHA, "x\n")
    assert outcome.startswith("skipped")
    assert [r.method for r in fake.requests] == ["GET"]


def test_requests_carry_the_token_and_api_version():
    fake = FakeGitHub()
    pr_comment.post(GitHub("t0ken", "o/r", fake), 7, HEAD_SHA, "x\n")
    assert fake.requests, "post() sent nothing"
    for request in fake.requests:
        assert request.headers["Authorization"] == "Bearer t0ken"
        assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
        assert request.headers["Accept"] == "application/vnd.github+json"


def test_api_errors_are_raised_not_ignored():
    with pytest.raises(pr_comment.GitHubError, match="HTTP 403"):
        pr_comment.post(GitHub("t0ken", "o/r", FakeGitHub(fail=403)), 7, HEAD_SHA, "x\n")


@pytest.mark.parametrize("text", ["7\n", " 12 "])
def test_pr_number_accepts_plain_numbers(text):
    assert pr_comment.parse_pr_number(text) == int(text)


@pytest.mark.parametrize("text", ["", "0", "-1", "7; rm -rf /", "1e3", "12345678901", "../7"])
def test_pr_number_refuses_anything_else(text):
    with pytest.raises(ValueError, match="not a pull request number"):
        pr_comment.parse_pr_number(text)


def test_repository_names_are_checked_before_building_urls():
    with pytest.raises(ValueError, match="not a repository name"):
        GitHub("t", "o/r/../../users", FakeGitHub())


def test_the_real_transport_only_calls_the_github_api():
    with pytest.raises(ValueError, match=re.escape("only https://api.github.com")):
        pr_comment.urllib_transport(Request("GET", "http://example.com/x", {}))


def test_a_short_preview_is_not_cut():
    assert pr_comment.truncate("a\nb\n", 100) == "a\nb\n"


def test_comment_fits_githubs_limit_with_the_marker():
    markdown = "".join(f"| row {index} | {'x' * 80} |\n" for index in range(2000))
    body = pr_comment.comment_body(markdown, "https://github.com/o/r/actions/runs/1")
    assert len(body) <= COMMENT_LIMIT
    assert body.startswith(MARKER + "\n")
    assert "**Preview cut**" in body and "actions/runs/1" in body


def test_truncation_golden():
    """Cut inside a diff inside <details>: whole lines kept, fence and details closed, note last."""
    markdown = (
        "## Offline preview\n\n### `s`: 1 to update\n\n<details><summary>manifests</summary>\n\n```diff\n"
        + "".join(f"-  key{index}: old\n+  key{index}: new\n" for index in range(40))
        + "```\n\n</details>\n"
    )
    cut = pr_comment.truncate(markdown, 600, "https://run")
    assert len(cut) <= 600
    expected = GOLDEN / "truncated.md"
    if os.environ.get("UPDATE_GOLDEN"):  # regenerate, then review the diff like any golden file
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_text(cut)
        pytest.fail(f"{expected} rewritten: review the diff, then run without UPDATE_GOLDEN")
    assert cut == expected.read_text()


def test_cli_refuses_a_bad_sha_and_a_missing_token(tmp_path):
    (tmp_path / "n").write_text("7")
    (tmp_path / "b").write_text("x")
    common = ["--repo", "o/r", "--pr-number-file", str(tmp_path / "n"), "--body-file", str(tmp_path / "b")]
    script = str(PROJECT_ROOT / "tools" / "pr_comment.py")
    no_token = subprocess.run(
        [sys.executable, script, "post", *common, "--head-sha", HEAD_SHA],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert no_token.returncode == 2 and "GITHUB_TOKEN" in no_token.stderr
    bad_sha = subprocess.run(
        [sys.executable, script, "post", *common, "--head-sha", "main; echo"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "GITHUB_TOKEN": "t"},
        check=False,
    )
    assert bad_sha.returncode == 2 and "not a commit SHA" in bad_sha.stderr


def test_script_uses_only_the_standard_library():
    """It runs in the privileged workflow from a bare checkout, with nothing installed."""
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", "import runpy; runpy.run_path('tools/pr_comment.py', run_name='x')"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_truncate_command_cuts_to_a_step_summarys_limit():
    long = "".join(f"line {index}\n" for index in range(200_000))  # ~2 MB
    result = run_script("truncate", "--step-summary", stdin=long)
    assert result.returncode == 0, result.stderr
    out = result.stdout.encode()
    assert len(out) <= pr_comment.STEP_SUMMARY_LIMIT < len(long) and b"Preview cut" in out


@pytest.mark.parametrize("character", ["é", "日", "🌈"], ids=["2-byte", "3-byte", "4-byte"])
def test_the_step_summary_is_cut_by_bytes_not_characters(character):
    """The reported case: 1.8 MB of multi-byte diff passed a 1,000,000-character cut unchanged, and
    the runner refuses a summary file over 1 MiB (it then shows nothing). The cut counts UTF-8 bytes,
    keeps whole characters, and the note says bytes."""
    line = f"+ {character * 40}\n"
    markdown = "## Offline preview\n\n```diff\n" + line * (900_000 // len(line)) + "```\n"
    assert len(markdown) < pr_comment.STEP_SUMMARY_LIMIT < len(markdown.encode())
    result = subprocess.run(
        [sys.executable, SCRIPT, "truncate", "--step-summary", "--full-url", "https://run"],
        input=markdown.encode(),
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},  # the locale's encoding must not matter
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) <= pr_comment.STEP_SUMMARY_LIMIT
    cut = result.stdout.decode("utf-8")  # no character split: strict decoding succeeds
    assert cut.startswith("## Offline preview\n") and "bytes shown" in cut
    assert cut.split("\n---\n")[0].endswith("```\n")  # the diff fence is closed before the note
    assert all(row == line.rstrip("\n") for row in cut.splitlines()[3:-4]), "a diff row was cut inside"


def test_a_byte_cut_never_exceeds_a_limit_it_accepts():
    markdown = "<details><summary>s</summary>\n\n```diff\n" + "".join(f"+ 日本 {i}\n" for i in range(40)) + "```\n"
    size = len(markdown.encode())
    for limit in range(1, size + 2):
        try:
            cut = pr_comment.truncate(markdown, limit, "https://run", pr_comment.UTF8_BYTES)
        except pr_comment.LimitError:
            assert limit < len(pr_comment.cut_note(size, size, "https://run", pr_comment.UTF8_BYTES).encode())
            continue
        assert len(cut.encode()) <= limit, limit


def test_the_comment_limit_counts_code_points():
    """GitHub's comment limit is 65,536 characters (code points); a body of multi-byte characters
    within it is not cut, and one beyond it is cut to it, counted in characters."""
    fits = "🌈\n" * (COMMENT_LIMIT // 2 - len(MARKER))
    assert pr_comment.comment_body(fits) == f"{MARKER}\n{fits}"
    over = "日\n" * COMMENT_LIMIT
    body = pr_comment.comment_body(over)
    assert len(body) <= COMMENT_LIMIT and "characters shown" in body


def test_truncate_refuses_stdin_that_is_not_utf8():
    result = subprocess.run(
        [sys.executable, SCRIPT, "truncate"], input=b"\xff\xfe", capture_output=True, check=False, timeout=60
    )
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.decode().startswith("pr_comment: stdin is not UTF-8 text")
    assert result.stderr.count(b"\n") == 1


SCRIPT = str(PROJECT_ROOT / "tools" / "pr_comment.py")


def run_script(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, SCRIPT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "GITHUB_TOKEN": "fake"},  # the API is never reached
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("limit", ["10", "0", "-5"])
def test_truncate_refuses_a_limit_it_cannot_keep(limit):
    """The reported case printed 111 characters for --limit 10 and exited 0."""
    result = run_script("truncate", "--limit", limit, stdin="line one\n```diff\n+a\n+b\n```\n")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"pr_comment: limit {limit} ") and result.stderr.count("\n") == 1, result.stderr


def test_truncate_never_exceeds_a_limit_it_accepts():
    markdown = (
        "<details><summary>s</summary>\n\n```diff\n" + "".join(f"+ line {i}\n" for i in range(50)) + "```\n</details>\n"
    )
    note = len(pr_comment.cut_note(len(markdown), len(markdown), "https://run"))
    for limit in range(-1, len(markdown) + 2):
        if limit <= 0 or (limit < note and limit < len(markdown)):
            with pytest.raises(pr_comment.LimitError):
                pr_comment.truncate(markdown, limit, "https://run")
        else:
            assert len(pr_comment.truncate(markdown, limit, "https://run")) <= limit, limit


def test_details_in_an_inline_code_span_is_text_not_a_block():
    """Only the real <details> is closed after a cut: the one quoted in a code span opens nothing."""
    markdown = "<details><summary>x</summary>\n\nfold with `<details>` tags\n\n" + "".join(
        f"row {index}\n" for index in range(100)
    )
    cut = pr_comment.truncate(markdown, 300)
    assert len(cut) <= 300 and cut.count("</details>") == 1, cut


@pytest.mark.parametrize("missing", ["--pr-number-file", "--body-file"])
def test_post_with_a_missing_file_is_one_line_exit_2(tmp_path, missing):
    (tmp_path / "n").write_text("7")
    (tmp_path / "b").write_text("x")
    files = {"--pr-number-file": str(tmp_path / "n"), "--body-file": str(tmp_path / "b")}
    files[missing] = str(tmp_path / "nosuch")
    args = [arg for option, path in files.items() for arg in (option, path)]
    result = run_script("post", "--repo", "a/b", "--head-sha", HEAD_SHA, *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr == f"pr_comment: {missing} {tmp_path / 'nosuch'}: no such file\n"


def test_post_with_a_body_that_is_not_text_is_one_line_exit_2(tmp_path):
    (tmp_path / "n").write_text("7")
    (tmp_path / "b").write_bytes(b"\xff\xfe\x00binary")
    result = run_script(
        "post",
        "--repo",
        "a/b",
        "--head-sha",
        HEAD_SHA,
        "--pr-number-file",
        str(tmp_path / "n"),
        "--body-file",
        str(tmp_path / "b"),
    )
    assert result.returncode == 2 and result.stderr.startswith("pr_comment: --body-file ")
    assert result.stderr.count("\n") == 1, result.stderr
