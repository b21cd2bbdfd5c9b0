"""Posts the offline preview as one pull-request comment, updated in place on every push.

    python3 tools/pr_comment.py post --repo OWNER/NAME --pr-number-file F --head-sha SHA \
        --body-file preview.md [--full-url URL]          # GITHUB_TOKEN in the environment
    python3 tools/pr_comment.py truncate [--limit N | --step-summary] [--full-url URL] < preview.md

`post` runs in the privileged `workflow_run` job (.github/workflows/preview-comment.yml), from the
default branch's checkout, on files another workflow rendered from pull-request code. So it uses
the standard library only (nothing is installed, nothing from the pull request runs) and treats
what it reads as data: the PR number must be a decimal number, that PR's head commit must be the
commit the preview was rendered from (a stale or forged artifact posts nothing), and the body is
cut to GitHub's comment limit. Our comment is the bot's comment that carries `MARKER`; it is
edited if it exists, created otherwise.

Each limit is kept in the unit GitHub measures it in: a comment in characters (Unicode code points,
what Python's `len` counts), a step summary in bytes of UTF-8. A cut keeps whole lines, so it never
splits a character. Input is read, and output written, as UTF-8 whatever the locale.

Exit status 2, with one line, for a usage or input problem (no token, a file that cannot be read, a
limit too small for the cut note); 1 when the data is refused or GitHub cannot be reached or refuses.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MARKER = "<!-- ml-platform:offline-preview -->"
"""Hidden in the rendered comment; how we find our own comment again."""
BOT_LOGIN = "github-actions[bot]"
"""The author of comments made with a workflow's GITHUB_TOKEN. Only its comments are edited, so a
person quoting the marker never has their comment overwritten."""
COMMENT_LIMIT = 65_536
"""GitHub refuses an issue comment body longer than this many characters ("Body is too long (maximum
is 65536 characters)"). Characters are code points: bodies measured against the API store 65,536
four-byte emoji (131,072 UTF-16 units) and refuse more than 262,144 bytes, which 65,536 code points
never exceed, so counting code points keeps both readings."""
STEP_SUMMARY_LIMIT = 1024 * 1024
"""A step summary's limit in bytes: the runner refuses to upload a summary file larger than 1 MiB
(actions/runner, FileCommandManager: `fileSize > AttachmentSizeLimit`, 1024 * 1024 bytes), and
then shows none of it."""
API = "https://api.github.com"
PAGE_SIZE = 100


# --- Pure logic ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """How a limit measures text."""

    name: str
    """Plural, as the cut note says it: `characters`, `bytes`."""
    size: Callable[[str], int]


CHARACTERS = Unit("characters", len)
"""Unicode code points: what GitHub counts in a comment body."""
UTF8_BYTES = Unit("bytes", lambda text: len(text.encode("utf-8")))
"""Bytes of UTF-8: what the runner counts in a step summary file."""


def cut_note(shown: int, total: int, full_url: str, unit: Unit = CHARACTERS) -> str:
    where = f"the `offline-preview` artifact of [this run]({full_url})" if full_url else "the run's artifact"
    return (
        f"\n---\n**Preview cut** to fit GitHub's limit: {shown:,} of {total:,} {unit.name} shown. "
        f"The full Markdown is {where}.\n"
    )


class LimitError(ValueError):
    """A limit `truncate` cannot keep: not positive, or too small for the cut note itself."""


_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`).*?(?<!`)\1(?!`)")
"""An inline code span: a backtick run, then the next run of the same length (CommonMark)."""


def _details_change(line: str) -> int:
    """How many `<details>` blocks a line outside a fence opens (minus those it closes); a tag
    inside an inline code span is text, not a block."""
    text = _CODE_SPAN.sub("", line)
    return text.count("<details") - text.count("</details>")


def truncate(markdown: str, limit: int, full_url: str = "", unit: Unit = CHARACTERS) -> str:
    """`markdown` unchanged if it fits in `limit` (measured in `unit`); otherwise whole lines from
    the top, the code fences and `<details>` blocks left open closed again, then a note saying where
    the full text is. Whole lines: a multi-byte character is never split. The result never exceeds
    `limit`: a limit that is not positive, or that a cut could not keep because the note alone is
    longer, is a LimitError."""
    if limit <= 0:
        raise LimitError(f"limit {limit} is not a positive number of {unit.name}")
    total = unit.size(markdown)
    if total <= limit:
        return markdown
    lines = markdown.splitlines(keepends=True)
    note_budget = unit.size(cut_note(total, total, full_url, unit))
    if note_budget > limit:
        raise LimitError(f"limit {limit} is below the {note_budget} {unit.name} the cut note takes")
    kept: list[str] = []
    size = 0
    in_fence = False
    open_details = 0
    for line in lines:
        text = line if line.endswith("\n") else line + "\n"
        stripped = text.strip()
        next_fence = not in_fence if stripped.startswith("```") else in_fence
        next_details = open_details
        if not in_fence:
            next_details += _details_change(stripped)
        # The closers are ASCII: as many bytes as characters.
        closers = len("```\n") * next_fence + len("</details>\n") * max(next_details, 0)
        text_size = unit.size(text)
        if size + text_size + closers + note_budget > limit:
            break
        kept.append(text)
        size += text_size
        in_fence, open_details = next_fence, max(next_details, 0)
    closing = ("```\n" if in_fence else "") + "</details>\n" * open_details
    return "".join(kept) + closing + cut_note(size, total, full_url, unit)


def comment_body(markdown: str, full_url: str = "", limit: int = COMMENT_LIMIT) -> str:
    """The comment: the marker line, then the preview cut to fit what is left of the limit."""
    header = MARKER + "\n"
    return header + truncate(markdown, limit - len(header), full_url)


def is_ours(comment: dict[str, Any]) -> bool:
    user = comment.get("user") or {}
    return user.get("login") == BOT_LOGIN and MARKER in (comment.get("body") or "")


def find_comment(comments: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """Our comment: the first of the bot's comments that carries the marker."""
    return next((comment for comment in comments if is_ours(comment)), None)


_PR_NUMBER = re.compile(r"[1-9][0-9]{0,8}")


def parse_pr_number(text: str) -> int:
    """The artifact's PR number; anything but a plain positive number is refused."""
    value = text.strip()
    if not _PR_NUMBER.fullmatch(value):
        raise ValueError(f"not a pull request number: {value[:40]!r}")
    return int(value)


# --- HTTP (the boundary; the transport is injected so tests use a fake) ---------------------------


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


Transport = Callable[[Request], Response]


def urllib_transport(request: Request) -> Response:
    if not request.url.startswith(API + "/"):
        raise ValueError(f"refusing to call {request.url}: only {API} is allowed")
    raw = urllib.request.Request(request.url, data=request.body, headers=request.headers, method=request.method)  # noqa: S310 - https only, checked above
    try:
        with urllib.request.urlopen(raw, timeout=30) as answer:  # noqa: S310 - https only, checked above
            return Response(answer.status, answer.read(), dict(answer.headers))
    except urllib.error.HTTPError as error:
        return Response(error.code, error.read(), dict(error.headers))
    except OSError as error:  # no route, DNS, TLS, timeout: one line, not a traceback
        raise GitHubError(f"{request.method} {request.url}: {error}") from None


class GitHubError(Exception):
    pass


class GitHub:
    """The four REST calls the comment needs (issue comments are how PR conversation comments work)."""

    def __init__(self, token: str, repo: str, transport: Transport = urllib_transport, api: str = API):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
            raise ValueError(f"not a repository name: {repo!r}")
        self._token = token
        self._repo = repo
        self._transport = transport
        self._api = api

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        request = Request(
            method=method,
            url=f"{self._api}/repos/{self._repo}{path}",
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self._token}",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "ml-platform-pr-comment",
                **({"Content-Type": "application/json"} if payload is not None else {}),
            },
            body=json.dumps(payload).encode() if payload is not None else None,
        )
        response = self._transport(request)
        if not 200 <= response.status < 300:
            raise GitHubError(f"{method} {path}: HTTP {response.status}: {response.body[:300]!r}")
        return json.loads(response.body) if response.body else None

    def pull_request(self, number: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/pulls/{number}")
        return result

    def comments(self, number: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = self._call("GET", f"/issues/{number}/comments?per_page={PAGE_SIZE}&page={page}")
            found.extend(batch)
            if len(batch) < PAGE_SIZE:
                return found
            page += 1

    def create_comment(self, number: int, body: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/issues/{number}/comments", {"body": body})
        return result

    def update_comment(self, comment_id: int, body: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", f"/issues/comments/{comment_id}", {"body": body})
        return result


def post(github: GitHub, number: int, head_sha: str, markdown: str, full_url: str = "") -> str:
    """Creates or updates our comment on PR `number`; returns what it did."""
    pull = github.pull_request(number)
    current = (pull.get("head") or {}).get("sha")
    if current != head_sha:
        # A newer push has its own run coming, or the artifact names a PR it was not rendered for.
        return f"skipped: PR #{number} head is {current}, the preview is of {head_sha}"
    body = comment_body(markdown, full_url)
    existing = find_comment(github.comments(number))
    if existing is None:
        github.create_comment(number, body)
        return f"created the preview comment on PR #{number}"
    if existing.get("body") == body:
        return f"PR #{number}: the preview comment is already up to date"
    github.update_comment(int(existing["id"]), body)
    return f"updated the preview comment on PR #{number}"


class InputError(Exception):
    """A file named on the command line cannot be read; exit code 2."""


def read_input(path: Path, option: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{option} {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{option} {path}: cannot read it as UTF-8 text ({error})") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/pr_comment.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    post_parser = commands.add_parser("post", help="create or update the preview comment (GITHUB_TOKEN)")
    post_parser.add_argument("--repo", required=True, help="OWNER/NAME")
    post_parser.add_argument("--pr-number-file", type=Path, required=True)
    post_parser.add_argument("--head-sha", required=True, help="the commit the preview was rendered from")
    post_parser.add_argument("--body-file", type=Path, required=True)
    post_parser.add_argument("--full-url", default="", help="the run that holds the full Markdown")
    cut_parser = commands.add_parser("truncate", help="cut stdin (UTF-8) to a limit, with a note")
    limits = cut_parser.add_mutually_exclusive_group()
    limits.add_argument(
        "--limit", type=int, default=COMMENT_LIMIT, help=f"characters (default {COMMENT_LIMIT:,}, a comment's limit)"
    )
    limits.add_argument(
        "--step-summary",
        action="store_true",
        help=f"a step summary's limit: {STEP_SUMMARY_LIMIT:,} bytes of UTF-8",
    )
    cut_parser.add_argument("--full-url", default="")
    args = parser.parse_args(argv)

    if args.command == "truncate":
        limit, unit = (STEP_SUMMARY_LIMIT, UTF8_BYTES) if args.step_summary else (args.limit, CHARACTERS)
        return _truncate_stdin(limit, unit, args.full_url)
    token = os.environ.get("GITHUB_TOKEN", "")
    if not token:
        print("pr_comment: GITHUB_TOKEN is not set", file=sys.stderr)
        return 2
    if not re.fullmatch(r"[0-9a-f]{40}", args.head_sha):
        print(f"pr_comment: not a commit SHA: {args.head_sha[:60]!r}", file=sys.stderr)
        return 2
    try:
        pr_number_text = read_input(args.pr_number_file, "--pr-number-file")
        markdown = read_input(args.body_file, "--body-file")
    except InputError as error:
        print(f"pr_comment: {error}", file=sys.stderr)
        return 2
    try:
        number = parse_pr_number(pr_number_text)
        outcome = post(GitHub(token, args.repo), number, args.head_sha, markdown, args.full_url)
    except (ValueError, GitHubError) as error:
        print(f"pr_comment: {error}", file=sys.stderr)
        return 1
    print(outcome)
    return 0


def _truncate_stdin(limit: int, unit: Unit, full_url: str) -> int:
    """stdin cut to `limit`, to stdout; both as UTF-8 bytes, so that what is written is what was
    measured whatever the locale's encoding."""
    try:
        markdown = sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError as error:
        print(f"pr_comment: stdin is not UTF-8 text ({error})", file=sys.stderr)
        return 2
    try:
        cut = truncate(markdown, limit, full_url, unit)
    except LimitError as error:
        print(f"pr_comment: {error}", file=sys.stderr)
        return 2
    sys.stdout.buffer.write(cut.encode("utf-8"))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
