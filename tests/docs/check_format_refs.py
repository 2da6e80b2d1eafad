#!/usr/bin/env python3
"""Citations of docs/FORMAT.md resolve, and nothing points outside the tree.

Code comments, messages, man pages and documents cite the format
specification as "FORMAT.md §9.4", "§14.1.5", "FORMAT.md 9.9", "FORMAT.md
section 15" or by invariant, "R12", "R3-R12".  This collects every such
citation in the source tree (docs/FORMAT.md's own cross-references
included) and fails, naming file:line, for each one whose section is not a
numbered heading of docs/FORMAT.md or whose invariant is not a row of its
invariant table.  It also fails for any file that mentions the workspace
copy the specification came from (the parent directory's "shared"
folder): the repository must be complete by itself.

A "§" after "RFC <number>" cites that RFC, not FORMAT.md.

Usage: check_format_refs.py [--list] SOURCE_ROOT
  --list   print every citation found (file:line: citation), then check.
Exit status: 0 all resolve, 1 a citation or a path is wrong, 2 usage or
docs/FORMAT.md missing or malformed.
"""
import argparse
import os
import re
import sys

SPEC = os.path.join("docs", "FORMAT.md")
# Built in two parts so that this file does not match itself.
OUTSIDE = [".." + "/shared", "/work" + "/shared"]

SKIP_DIRS = {".git", "__pycache__", "corpus", "subprojects"}
MAX_BYTES = 4 * 1024 * 1024

NUM = r"\d+(?:\.\d+)*"
HEADING_RE = re.compile(r"^#{1,6}[ \t]+(" + NUM + r")\.?[ \t]")
INVARIANT_ROW_RE = re.compile(r"^\|[ \t]*R(\d+)[ \t]*\|")
SECTION_RE = re.compile(r"§[ \t]?(" + NUM + r")")
RFC_BEFORE_RE = re.compile(r"RFC[ \t]*\d+[ \t]*$")
# "FORMAT.md 9.4", "FORMAT 9.4", "FORMAT.md section 15", "FORMAT.md
# sections 3, 5, 6, 9", possibly across a comment's line break.
BARE_ITEM = NUM + r"(?:[ \t]*[-–][ \t]*" + NUM + r")?"
BARE_RE = re.compile(r"(?<![\w])FORMAT(?:\.md)?(?:[ \t]|\n[ \t]*(?:\*|#|//)?)*"
                     r"(?:sections?[ \t]+)?"
                     r"(" + BARE_ITEM + r"(?:[ \t]*(?:,|and)[ \t]*" + BARE_ITEM +
                     r")*)")
INVARIANT_RE = re.compile(r"(?<![\w])R(\d+)(?:[ \t]*[-–][ \t]*R(\d+))?(?![\w])")


def is_build_dir(path):
    return os.path.isdir(os.path.join(path, "meson-private"))


def source_files(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames
                             if d not in SKIP_DIRS
                             and not is_build_dir(os.path.join(dirpath, d)))
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if os.path.islink(path) or os.path.getsize(path) > MAX_BYTES:
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
            except (UnicodeDecodeError, OSError):
                continue  # not text: nothing to cite from
            if "\0" in text:
                continue
            yield os.path.relpath(path, root), text


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def spec_definitions(text):
    """Section numbers of headings and invariant numbers of table rows;
    a number defined twice is an error of the specification itself."""
    sections, invariants, problems = {}, {}, []
    for lineno, line in enumerate(text.splitlines(), 1):
        m = HEADING_RE.match(line)
        if m:
            if m.group(1) in sections:
                problems.append("%s:%d: section %s is defined twice (also at "
                                "line %d)" % (SPEC, lineno, m.group(1),
                                              sections[m.group(1)]))
            sections.setdefault(m.group(1), lineno)
        m = INVARIANT_ROW_RE.match(line)
        if m:
            n = int(m.group(1))
            if n in invariants:
                problems.append("%s:%d: invariant R%d is defined twice (also "
                                "at line %d)" % (SPEC, lineno, n, invariants[n]))
            invariants.setdefault(n, lineno)
    return sections, invariants, problems


def citations(text):
    """(offset, kind, number) for every citation in text; kind is
    'section' (number a string such as '9.4') or 'invariant' (an int)."""
    for m in SECTION_RE.finditer(text):
        start = text.rfind("\n", 0, m.start()) + 1
        if RFC_BEFORE_RE.search(text[start:m.start()]):
            continue
        yield m.start(), "section", m.group(1)
    for m in BARE_RE.finditer(text):
        for num in re.split(r"[ \t]*(?:,|and|-|–)[ \t]*", m.group(1)):
            yield m.start(1), "section", num
    for m in INVARIANT_RE.finditer(text):
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) else first
        for n in range(first, max(first, last) + 1):
            yield m.start(), "invariant", n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true",
                    help="print every citation found")
    ap.add_argument("root", help="the source tree")
    args = ap.parse_args()

    spec_path = os.path.join(args.root, SPEC)
    try:
        with open(spec_path, encoding="utf-8") as f:
            spec = f.read()
    except OSError as e:
        print("%s: %s" % (spec_path, e.strerror), file=sys.stderr)
        return 2
    sections, invariants, problems = spec_definitions(spec)
    if not sections or not invariants:
        print("%s: no numbered sections or no invariant rows found" % SPEC,
              file=sys.stderr)
        return 2

    count = files = 0
    for rel, text in source_files(args.root):
        cited = False
        for word in OUTSIDE:
            at = text.find(word)
            if at >= 0:
                problems.append("%s:%d: points outside the repository (%s): "
                                "cite docs/FORMAT.md" %
                                (rel, line_of(text, at), word))
        for offset, kind, num in citations(text):
            cited = True
            count += 1
            lineno = line_of(text, offset)
            label = "§" + num if kind == "section" else "R%d" % num
            if args.list:
                print("%s:%d: %s" % (rel, lineno, label))
            known = sections if kind == "section" else invariants
            if num not in known:
                problems.append("%s:%d: cites FORMAT.md %s, which %s does not "
                                "define" % (rel, lineno, label, SPEC))
        files += cited
    for p in problems:
        print(p)
    if problems:
        print("%d problem(s); %s defines sections %s and invariants R%d-R%d" %
              (len(problems), SPEC, ", ".join(sorted(
                  (s for s in sections if "." not in s), key=int)),
               min(invariants), max(invariants)))
        return 1
    print("%d citations in %d files resolve in %s (%d sections, %d "
          "invariants)" % (count, files, SPEC, len(sections), len(invariants)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
