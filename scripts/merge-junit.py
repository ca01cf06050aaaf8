#!/usr/bin/env python3
"""Merges the JUnit reports of the suite's nextest runs (one per kernel as
it is ready, then one of the tests of no one kernel) into one report, a
test binary's cases under one <testsuite>, and prints the totals.

Usage: merge-junit.py OUT IN...
"""
import sys
import xml.etree.ElementTree as ET

COUNTS = ("tests", "skipped", "failures", "errors")
# How a test's stdout line begins when it could not run on what was
# selected: kulink::matrix::SKIPPED, which a test of the suite holds to this.
SKIPPED = "kulink-test-skipped: "


def mark_skipped(suite):
    """Turns each passing case that said it was skipped into a <skipped>
    one, drops what the other passing cases printed (kept only to find the
    skipped), and returns how many it turned."""
    turned = 0
    for case in suite.findall("testcase"):
        if any(case.find(tag) is not None for tag in ("failure", "error", "skipped")):
            continue
        out = case.find("system-out")
        said = [line for line in (out.text or "").splitlines() if line.startswith(SKIPPED)] if out is not None else []
        if said:
            ET.SubElement(case, "skipped", message=said[0][len(SKIPPED):])
            turned += 1
            continue
        for tag in ("system-out", "system-err"):
            for element in case.findall(tag):
                case.remove(element)
    suite.set("skipped", str(int(suite.get("skipped", "0")) + turned))
    return turned


def main(out, inputs):
    root = ET.Element("testsuites", name="nextest-run")
    totals = dict.fromkeys(COUNTS, 0)
    seconds = 0.0
    suites = {}
    for path in inputs:
        run = ET.parse(path).getroot()
        root.attrib.setdefault("timestamp", run.get("timestamp", ""))
        seconds += float(run.get("time", "0"))
        for key in COUNTS:
            totals[key] += int(run.get(key, "0"))
        for suite in run.findall("testsuite"):
            totals["skipped"] += mark_skipped(suite)
            kept = suites.get(suite.get("name"))
            if kept is None:
                suites[suite.get("name")] = suite
                root.append(suite)
                continue
            for key in COUNTS:
                kept.set(key, str(int(kept.get(key, "0")) + int(suite.get(key, "0"))))
            kept.extend(list(suite))
    for key in COUNTS:
        root.set(key, str(totals[key]))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    ET.ElementTree(root).write(out, encoding="UTF-8", xml_declaration=True)
    failed = totals["failures"] + totals["errors"]
    passed = totals["tests"] - failed - totals["skipped"]
    # A test that failed and passed when nextest ran it again.
    flaky = sum(1 for case in root.iter("testcase") if case.find("flakyFailure") is not None or case.find("flakyError") is not None)
    runs = f"{len(inputs)} run" + ("s" if len(inputs) > 1 else "")
    print(
        f"kulink: {totals['tests']} tests in {runs} ({seconds:.0f} s of testing):"
        f" {passed} passed ({flaky} of them flaky), {failed} failed, {totals['skipped']} skipped",
        file=sys.stderr,
    )


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
