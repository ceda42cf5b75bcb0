"""The shell examples of a Markdown file: which fenced blocks they are, their commands, their exit codes.

A shell example is a fenced block whose info string is `sh`, `bash`, `shell` or `console` (indented
fences, as in a list item, count too). The line just before its opening fence may say it cannot run
in the tests, with its reason: `<!-- not-run: needs systemd -->`. In `console` blocks only the lines
starting with `$ ` are commands (the rest is output); in the others every line is, except blank and
comment lines. A line ending in a backslash continues on the next. A command whose comment says
`# exits N` (or `# exit N`) must end with code N; every other command must end with 0. A `text`
block right after a shell block is its output excerpt: each of its lines (but `...`) must have the
shape of a line the commands print (`shape`: URLs, absolute paths and numbers masked).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console"})
NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(?P<reason>.*?)\s*-->$")
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<info>[^`\s]*)")
_EXPECTED = re.compile(r"#\s*exits?\s+(?P<code>\d+)\b")


@dataclass(frozen=True)
class Command:
    """One command of an example: its text (continuations joined), the exit code it must end with."""

    line: int  # 1-based line of the Markdown file where the command starts
    text: str
    expected_exit: int = 0


@dataclass(frozen=True)
class Example:
    """One fenced shell block: where it starts, its language, its commands, why it is not run (if so)."""

    line: int  # 1-based line of the opening fence
    language: str
    commands: tuple[Command, ...] = field(default=())
    not_run: str | None = None  # the reason given in `<!-- not-run: ... -->`, else None
    output: tuple[str, ...] | None = None  # the lines of the `text` block shown right after it, if any


def trailing_comment(text: str) -> str:
    """The comment ending a shell command line (from a `#` outside quotes after a blank), else ""."""
    quote = ""
    for position, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (position == 0 or text[position - 1].isspace()):
            return text[position:]
    return ""


def _expected_exit(text: str) -> int:
    """The exit code a command's own comment names (`# exits 3`), else 0."""
    match = _EXPECTED.match(trailing_comment(text))
    return int(match.group("code")) if match else 0


def commands_of(body: list[tuple[int, str]], language: str) -> tuple[Command, ...]:
    """The commands of a block's lines (each with its 1-based line number in the file)."""
    commands: list[Command] = []
    pending: list[str] = []
    start = 0
    for number, raw in body:
        line = raw.rstrip()
        if not pending:
            if language == "console":
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            start = number
        elif language == "console" and line.startswith("> "):
            line = line[2:]
        if line.endswith("\\"):
            pending.append(line[:-1].rstrip())
            continue
        pending.append(line)
        text = " ".join(part.strip() for part in pending)
        commands.append(Command(line=start, text=text, expected_exit=_expected_exit(text)))
        pending = []
    if pending:
        text = " ".join(part.strip() for part in pending)
        commands.append(Command(line=start, text=text, expected_exit=_expected_exit(text)))
    return tuple(commands)


@dataclass(frozen=True)
class _Block:
    first: int  # 0-based index of the opening fence
    last: int  # 0-based index of the closing fence
    language: str
    body: tuple[tuple[int, str], ...]  # (1-based line number, text without the fence's indent)


def _fenced_blocks(lines: list[str]) -> list[_Block]:
    blocks: list[_Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence = opening.group("fence")
        indent = len(opening.group("indent"))
        start = index
        body: list[tuple[int, str]] = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            text = lines[index]
            body.append((index + 1, text[indent:] if text[:indent].strip() == "" else text.lstrip()))
            index += 1
        blocks.append(_Block(start, index, opening.group("info").lower(), tuple(body)))
        index += 1  # past the closing fence
    return blocks


def shell_examples(markdown: str) -> list[Example]:
    """Every fenced shell block of `markdown`, in order, with its commands, its not-run reason and the
    output excerpt shown right after it (a `text` block separated from it by blank lines only)."""
    lines = markdown.splitlines()
    blocks = _fenced_blocks(lines)
    examples: list[Example] = []
    for position, block in enumerate(blocks):
        if block.language not in SHELL_LANGUAGES:
            continue
        previous = next((lines[i].strip() for i in range(block.first - 1, -1, -1) if lines[i].strip()), "")
        marker = NOT_RUN.match(previous)
        following = blocks[position + 1] if position + 1 < len(blocks) else None
        output: tuple[str, ...] | None = None
        if (
            following is not None
            and following.language == "text"
            and all(not lines[i].strip() for i in range(block.last + 1, following.first))
        ):
            output = tuple(text for _, text in following.body)
        examples.append(
            Example(
                line=block.first + 1,
                language=block.language,
                commands=commands_of(list(block.body), block.language),
                not_run=marker.group("reason") if marker else None,
                output=output,
            )
        )
    return examples


_URL = re.compile(r"https?://[^\s)'\",;]+")
_PATH = re.compile(r"(?<![\w.:/])/[\w.@~+-]+(?:/[\w.@~+-]*)*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def shape(line: str) -> str:
    """A line with what changes from run to run masked: URLs, absolute paths, numbers, spacing."""
    line = _URL.sub("URL", line)
    line = _PATH.sub("PATH", line)
    line = _NUMBER.sub("N", line)
    return " ".join(line.split())


def unmatched_excerpt_lines(excerpt: tuple[str, ...], output: str) -> list[str]:
    """The lines of a README output excerpt whose shape no line of the real output has (`...` skipped)."""
    shapes = {shape(line) for line in output.splitlines()}
    return [line for line in excerpt if line.strip() not in ("", "...") and shape(line) not in shapes]


def dangling_markers(markdown: str) -> list[int]:
    """Lines of `<!-- not-run: ... -->` markers that do not stand just before a shell block."""
    marked = {example.line for example in shell_examples(markdown) if example.not_run is not None}
    lines = markdown.splitlines()
    dangling = []
    for number, line in enumerate(lines, start=1):
        if not NOT_RUN.match(line.strip()):
            continue
        following = next((n for n in range(number, len(lines)) if lines[n].strip()), None)
        if following is None or following + 1 not in marked:
            dangling.append(number)
    return dangling


def script_for(example: Example) -> str:
    """A bash script running the example's commands in order, stopping at the first unexpected exit code.

    The script exits 0 when every command ended as expected, else 100 after one line on stderr
    naming the command's Markdown line, its exit code and the one expected.
    """
    parts = ["set -u"]
    for command in example.commands:
        parts.append(command.text)
        parts.append(
            f"__rc=$?; if [ $__rc -ne {command.expected_exit} ]; then "
            f'echo "README line {command.line}: exited $__rc, expected {command.expected_exit}: "'
            f"{shlex.quote(command.text)} >&2; exit 100; fi"
        )
    return "\n".join(parts) + "\n"
