"""The commands of README.md and docs/*.md, read from their fenced code blocks.

A fenced block in `bash`, `sql` or `python` is a command a user runs; CI runs every one
(`test_documented_commands.py`). Other languages (`json`, `text`, `yaml`) show output or
configuration and are not run. HTML comments right before a block adjust how CI runs it:

    <!-- ci: replace "--attempts 1000000" "--attempts 20000" -->   the same command on CI-sized data
    <!-- ci: service -->                                            needs `payloom serve` running

A block CI cannot run is followed by a visible line `*Not run in CI: <why>.*`, so a reader sees
why, and the test checks the reason is there.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
DOCUMENTS = [CHECKOUT / "README.md", *sorted((CHECKOUT / "docs").glob("*.md"))]
RUN_LANGUAGES = ("bash", "sql", "python")
NOT_RUN = re.compile(r"^\*Not run in CI[^:*]*: (?P<reason>.+?)\*\s*$")
_ANNOTATION = re.compile(r"^<!-- ci: (?P<body>.*) -->\s*$")


@dataclass(frozen=True)
class DocBlock:
    """One fenced block of a document."""

    document: Path
    line: int
    language: str
    text: str
    not_run_reason: str | None = None
    replacements: tuple[tuple[str, str], ...] = ()
    needs_service: bool = False
    annotations: tuple[str, ...] = field(default=(), repr=False)

    @property
    def name(self) -> str:
        return f"{self.document.relative_to(CHECKOUT)}:{self.line}"

    def command_text(self, substitutions: dict[str, str]) -> str:
        """The block with its CI replacements, then `substitutions`, applied."""
        text = self.text
        for old, new in self.replacements:
            if old not in text:
                raise ValueError(f"{self.name}: the ci replace {old!r} does not occur in the block")
            text = text.replace(old, new)
        for old, new in substitutions.items():
            text = text.replace(old, new)
        return text


def read_blocks(document: Path) -> list[DocBlock]:
    """Every fenced block of `document`, with its annotations and not-run reason."""
    lines = document.read_text().splitlines()
    blocks: list[DocBlock] = []
    index = 0
    while index < len(lines):
        opening = lines[index]
        if not opening.startswith("```"):
            index += 1
            continue
        language = opening[3:].strip().lower()
        start = index
        index += 1
        body = []
        while index < len(lines) and not lines[index].startswith("```"):
            body.append(lines[index])
            index += 1
        index += 1  # the closing fence
        annotations = []
        back = start - 1
        while back >= 0 and not lines[back].strip():
            back -= 1
        while back >= 0 and _ANNOTATION.match(lines[back]):
            annotations.insert(0, _ANNOTATION.match(lines[back])["body"])  # type: ignore[index]
            back -= 1
        after = next((line for line in lines[index:] if line.strip()), "")
        reason = NOT_RUN.match(after)
        replacements = []
        needs_service = False
        for annotation in annotations:
            words = shlex.split(annotation)
            if words[:1] == ["replace"] and len(words) == 3:
                replacements.append((words[1], words[2]))
            elif words == ["service"]:
                needs_service = True
            else:
                raise ValueError(f"{document}:{start + 1}: unknown ci annotation {annotation!r}")
        blocks.append(DocBlock(document, start + 1, language, "\n".join(body) + "\n", reason["reason"] if reason else None,
                               tuple(replacements), needs_service, tuple(annotations)))
    return blocks


def runnable_blocks() -> list[DocBlock]:
    """The blocks CI runs or must explain, in document order (README first)."""
    return [block for document in DOCUMENTS for block in read_blocks(document) if block.language in RUN_LANGUAGES]


_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_COMMAND = re.compile(r"^(\S+=\S+ )*(\.venv/bin/\S+|payloom(-sim)? [a-z-]+|dbt [a-z]+|feast|curl|duckdb) .*--")


def inline_commands(document: Path) -> list[tuple[int, str]]:
    """Inline code spans outside fenced blocks that are whole commands (a program and flags)."""
    found = []
    inside = False
    for number, line in enumerate(document.read_text().splitlines(), start=1):
        if line.startswith("```"):
            inside = not inside
            continue
        if inside:
            continue
        for span in _INLINE_CODE.findall(line):
            if span.startswith(".venv/bin/") or (_COMMAND.match(span) and "--vars" in span):
                found.append((number, span))
    return found
