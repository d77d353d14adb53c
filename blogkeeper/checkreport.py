"""Turn check-code results into text: the terminal report, JUnit XML, GitHub annotations.

Pure functions from `PostReport` values to strings; the CLI prints and writes them.
"""

from __future__ import annotations

import re
import textwrap
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence

from blogkeeper.checkcode import UPDATED, Outcome, PostReport


def counts(reports: Sequence[PostReport]) -> Counter[str]:
    """Blocks passed, failed and skipped; a block not run after a failure counts as skipped."""
    tally: Counter[str] = Counter({"passed": 0, "failed": 0, "skipped": 0})
    for report in reports:
        for outcome in report.outcomes:
            tally["skipped" if outcome.status == "not run" else outcome.status] += 1
    return tally


def summary(reports: Sequence[PostReport]) -> str:
    tally = counts(reports)
    return f"{tally['passed']} passed, {tally['failed']} failed, {tally['skipped']} skipped"


def updated(reports: Sequence[PostReport]) -> list[str]:
    """The posts whose output blocks --update rewrote."""
    return [r.source for r in reports if any(o.message == UPDATED for o in r.outcomes)]


def failure_text(source: str, outcome: Outcome) -> str:
    """`posts/x.md:LINE: message`, then the traceback or diff indented below it; what a
    block printed is shown with control characters escaped (`\\x1b`), never obeyed."""
    text = f"{source}:{outcome.line}: {printable(outcome.message)}"
    if outcome.details:
        text += "\n" + textwrap.indent(printable(outcome.details.rstrip("\n")), "    ")
    return text


def printable(text: str) -> str:
    """`text` with terminal controls (escape sequences, `\\r`, C1 codes) and lone
    surrogates written as Python escapes; newlines and tabs stay."""
    return _CONTROL.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def report_text(reports: Sequence[PostReport]) -> str:
    """Every failure, a note for blocks left unrun, and the closing count line."""
    parts = []
    for report in reports:
        not_run = [o for o in report.outcomes if o.status == "not run"]
        for outcome in report.outcomes:
            if outcome.status == "failed":
                parts.append(failure_text(report.source, outcome))
        if not_run:
            count = len(not_run)
            parts.append(
                f"{report.source}:{not_run[0].line}: {count} later block"
                f"{'s' if count != 1 else ''} not run"
            )
    parts.append(summary(reports))
    return "\n".join(parts) + "\n"


def github_annotations(reports: Sequence[PostReport], prefix: str = "") -> str:
    """`::error file=…,line=…,title=…::message` lines for GitHub Actions; `prefix` is the
    site folder relative to the repository (`GITHUB_WORKSPACE`), "" or ending in "/"."""
    lines = []
    for report in reports:
        for outcome in report.outcomes:
            if outcome.status == "failed":
                text = outcome.message + ("\n" + outcome.details if outcome.details else "")
                title = f"check-code: {outcome.message.splitlines()[0][:80]}"
                lines.append(annotation(prefix + report.source, outcome.line, title, text))
    return "".join(lines)


def annotation(path: str, line: int | None, title: str, message: str, level: str = "error") -> str:
    """One GitHub Actions `::error` (or `::warning`) workflow command, its parts escaped."""
    where = f"file={_escape_property(path)}"
    if line is not None:
        where += f",line={line}"
    where += f",title={_escape_property(printable(title))}"
    return f"::{level} {where}::{_escape(printable(message))}\n"


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape(text).replace(":", "%3A").replace(",", "%2C")


def junit_xml(reports: Sequence[PostReport]) -> bytes:
    """One <testsuite> per post and one <testcase> per block, named by its line."""
    tally = counts(reports)
    root = ET.Element(
        "testsuites",
        name="blogkeeper check-code",
        tests=str(sum(tally.values())),
        failures=str(tally["failed"]),
        skipped=str(tally["skipped"]),
    )
    for report in reports:
        suite = ET.SubElement(
            root,
            "testsuite",
            name=report.source,
            tests=str(len(report.outcomes)),
            failures=str(sum(o.status == "failed" for o in report.outcomes)),
            skipped=str(sum(o.status in ("skipped", "not run") for o in report.outcomes)),
            time=f"{report.seconds:.3f}",
        )
        for outcome in report.outcomes:
            _testcase(suite, report.source, outcome)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def _testcase(suite: ET.Element, source: str, outcome: Outcome) -> None:
    case = ET.SubElement(suite, "testcase", classname=source, name=f"{source}:{outcome.block.line}")
    if outcome.status == "failed":
        message = _xml_text(f"{source}:{outcome.line}: {outcome.message}")
        failure = ET.SubElement(case, "failure", message=message)
        failure.text = _xml_text(outcome.details)
    elif outcome.status in ("skipped", "not run"):
        ET.SubElement(case, "skipped", message=outcome.message)


def _xml_text(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (what a block prints can hold anything)."""
    return _NOT_XML.sub("\ufffd", text)


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
