#!/usr/bin/python3
"""Checks that the documentation agrees with the code and with itself.

1. Settings: every setting of the table in src/config/config.cpp is in README's
   settings table (section "Configuration"), and every setting named there
   is in the table.
2. Links: in every Markdown file of the repository, each relative link
   ([text](path), <img src>, <a href>) names a file that exists, and each
   #anchor names a heading of its file by GitHub's slug rules.
3. References in words, in those files and in the compose files, scripts,
   configuration, Docker files and sources: a path such as docs/docker.md or
   docs/docker.md#the-sentinel-stack must exist (anchor included), and a
   section named as  docs/docker.md, "Caveats"  or  README, "Tokens"  or
   "Caveats" in docs/docker.md  must be a heading of that file, and in
   Markdown, "(see Event settings)" must start a heading of the same file.

Usage: docs_test.py [REPOSITORY_ROOT] (default: this file's repository).
Prints every problem and exits 1 if there is one.
"""
import os
import re
import subprocess
import sys
import unicodedata

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "..", ".."))
problems = []


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def tracked_files():
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files"], check=True, capture_output=True,
                             text=True).stdout.split("\n")
        files = [f for f in out if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, dirs, names in os.walk(ROOT):
            dirs[:] = [x for x in dirs if not x.startswith((".", "build", "var"))]
            files += [os.path.relpath(os.path.join(d, n), ROOT) for n in names]
    # A file deleted in the working tree but not yet in git's index.
    return [f for f in files if os.path.isfile(os.path.join(ROOT, f))]


# ------------------------------------------------------------------ settings --

def config_settings():
    text = read("src/config/config.cpp")
    table = re.search(r"const Setting kSettings\[\] = \{(.*?)\n\};", text, re.S)
    if not table:
        problems.append("src/config/config.cpp: no kSettings table found")
        return []
    return re.findall(r'^\s*\{"([a-z_0-9]+)",\s*"[A-Z_0-9]+"', table.group(1), re.M)


def readme_settings():
    text = read("README.md")
    section = re.search(r"^## Configuration\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if not section:
        problems.append("README.md: no '## Configuration' section")
        return []
    names = []
    for line in section.group(1).split("\n"):
        if not line.startswith("| `"):
            continue
        first = line.split("|")[1]
        names += re.findall(r"`([a-z_0-9]+)`", first)
    if not names:
        problems.append("README.md: no settings table in '## Configuration'")
    return names


def check_settings():
    table, readme = config_settings(), readme_settings()
    for name in table:
        if name not in readme:
            problems.append(f"README.md: setting `{name}` (src/config/config.cpp) is missing from the "
                            "settings table of 'Configuration'")
    for name in readme:
        if name not in table:
            problems.append(f"README.md: the settings table names `{name}`, which is no setting "
                            "of src/config/config.cpp")
    seen = set()
    for name in readme:
        if name in seen:
            problems.append(f"README.md: setting `{name}` is in the settings table twice")
        seen.add(name)
    return len(table)


# ------------------------------------------------------------------ headings --

FENCE = re.compile(r"^\s*(```|~~~)")


def without_code_blocks(text):
    """The text with fenced code blocks blanked (line numbers kept)."""
    out, inside = [], False
    for line in text.split("\n"):
        if FENCE.match(line):
            inside = not inside
            out.append("")
        else:
            out.append("" if inside else line)
    return out


def heading_text(raw):
    """A heading as GitHub shows it: inline Markdown reduced to its text."""
    t = raw.strip().rstrip("#").strip()
    t = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", t)  # images
    t = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", t)  # links
    t = re.sub(r"<[^>]+>", "", t)  # HTML tags
    t = t.replace("`", "")
    t = re.sub(r"(\*\*|__|\*|_)(\S(?:.*?\S)?)\1", r"\2", t)  # emphasis
    return t


def slug(text):
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to '-'."""
    s = text.strip().lower()
    s = "".join(c for c in s
                if c in " -_" or unicodedata.category(c)[0] in "LMN")
    return s.replace(" ", "-")


_headings = {}


def headings(path):
    """(texts, anchors) of a Markdown file's headings."""
    if path not in _headings:
        texts, anchors, counts = [], set(), {}
        for line in without_code_blocks(read(path)):
            m = re.match(r"^ {0,3}(#{1,6})\s+(.*)$", line)
            if not m:
                continue
            text = heading_text(m.group(2))
            texts.append(text)
            base = slug(text)
            n = counts.get(base, 0)
            counts[base] = n + 1
            anchors.add(base if n == 0 else f"{base}-{n}")
        # Explicit HTML anchors: <a name="x"> or id="x".
        for m in re.finditer(r"<a\s+(?:name|id)=\"([^\"]+)\"", read(path)):
            anchors.add(m.group(1))
        _headings[path] = (texts, anchors)
    return _headings[path]


def is_markdown(path):
    return path.lower().endswith(".md")


# --------------------------------------------------------------------- links --

def check_target(where, source_dir, target, base_dirs=None):
    """Checks one relative link or path#anchor; `where` says where it is."""
    path, _, anchor = target.partition("#")
    if path:
        path = path.split("?")[0]
        candidates = [os.path.normpath(os.path.join(d, path)) for d in (base_dirs or [source_dir])]
        found = next((c for c in candidates if os.path.exists(os.path.join(ROOT, c))), None)
        if found is None:
            problems.append(f"{where}: '{target}': no such file ({candidates[0]})")
            return
    else:
        found = os.path.normpath(source_dir)  # set by the caller to the file itself
    if anchor:
        if not is_markdown(found) or not os.path.isfile(os.path.join(ROOT, found)):
            problems.append(f"{where}: '{target}': an anchor into a file that is not Markdown")
            return
        if anchor not in headings(found)[1]:
            problems.append(f"{where}: '{target}': {found} has no heading with the anchor "
                            f"#{anchor}")


LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=\"([^\"]+)\"", re.I)


def check_markdown_links(path):
    count = 0
    d = os.path.dirname(path)
    for n, line in enumerate(without_code_blocks(read(path)), 1):
        line = re.sub(r"``.*?``|`[^`]*`", "", line)  # code spans are not links
        for m in list(LINK.finditer(line)) + list(HTML_LINK.finditer(line)):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("//"):
                continue  # http:, https:, mailto:
            count += 1
            if target.startswith("#"):
                check_target(f"{path}:{n}", path, target)
            else:
                check_target(f"{path}:{n}", d, target)
    return count


# ---------------------------------------------------------- references in words --

DOC_FILE = r"(?:docs/[A-Za-z0-9_.-]+\.(?:md|yaml)|(?:[a-z]+/)*README\.md|BENCHMARKS\.md|STYLE\.md)"
PATH_REF = re.compile(r"(?<![\w/.(-])(" + DOC_FILE + r")(#[a-z0-9_-]+)?")
# docs/docker.md, "Caveats"   README, "Tokens"   README.md, "Tokens"
NAMED_AFTER = re.compile(r"(" + DOC_FILE + r"|\bREADME)\s*,\s*\"([^\"\n]+)\"")
# "Caveats" in docs/docker.md
NAMED_BEFORE = re.compile(r"\"([^\"\n]+)\"\s+in\s+(?:the\s+)?(" + DOC_FILE + r"|\bREADME)")

SEE_SECTION = re.compile(r"\(see ([A-Z][A-Za-z' ]*[A-Za-z])\)")
# The start of a comment's next line: its marker and indentation.
CONTINUATION = re.compile(r"^\s*(?:#|//|\*|--|;)?\s*")

REFERRING = re.compile(r"(^docker-compose[^/]*\.ya?ml$|^docker/|^scripts/|^config/|^src/|"
                       r"^bench/|^tests/.*\.(sh|py|cpp|h)$|^fuzz/.*\.(sh|cpp)$|"
                       r"^CMakeLists\.txt$|^cmake/|^web/|\.md$|\.yaml$)")


def check_named(where, doc, name):
    doc = "README.md" if doc == "README" else doc
    if not os.path.isfile(os.path.join(ROOT, doc)):
        problems.append(f"{where}: '{doc}': no such file")
        return
    texts = headings(doc)[0]
    # A section is named by its heading, or by a heading's first words
    # ("Replicated Redis" for "Replicated Redis: Sentinel or Cluster").
    if not any(t == name or t.startswith(name + ":") for t in texts):
        problems.append(f"{where}: {doc} has no section \"{name}\"")


def check_references(path):
    count = 0
    try:
        text = read(path)
    except UnicodeDecodeError:
        return 0
    lines = without_code_blocks(text) if is_markdown(path) else text.split("\n")
    if is_markdown(path):
        # Links are checked by check_markdown_links.
        lines = [re.sub(r"(?:href|src)=\"[^\"]*\"", "", re.sub(r"\]\([^)]*\)", "]", line))
                 for line in lines]
    for n, line in enumerate(lines, 1):
        where = f"{path}:{n}"
        for m in PATH_REF.finditer(line):
            count += 1
            # A path in words names a file from the repository's root.
            check_target(where, "", m.group(1) + (m.group(2) or ""), base_dirs=[""])
        # A named section may go on to the next line (of a comment).
        nxt = lines[n] if n < len(lines) else ""
        both = line + " " + CONTINUATION.sub("", nxt, count=1)
        for m in NAMED_AFTER.finditer(both):
            if m.start() < len(line):
                count += 1
                check_named(where, m.group(1), " ".join(m.group(2).split()))
        for m in NAMED_BEFORE.finditer(both):
            if m.start() < len(line):
                count += 1
                check_named(where, m.group(2), " ".join(m.group(1).split()))
        if is_markdown(path):
            # "(see Event settings)": a section of the same file, by its
            # heading's first words.
            for m in SEE_SECTION.finditer(both):
                if m.start() < len(line):
                    count += 1
                    name = " ".join(m.group(1).split())
                    if not any(t.startswith(name) for t in headings(path)[0]):
                        problems.append(f"{where}: (see {name}): {path} has no section so named")
    return count


def main():
    settings = check_settings()
    files = tracked_files()
    links = sum(check_markdown_links(f) for f in files if is_markdown(f))
    refs = sum(check_references(f) for f in files if REFERRING.search(f)
               and not f.startswith(("tests/unit/", "fuzz/corpus/", "tests/scripts/docs_test")))
    for p in problems:
        print("FAIL:", p)
    print(f"docs_test: {settings} settings, {links} Markdown links, {refs} references in words "
          f"checked: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
