#!/usr/bin/env python3
"""Assembles docs/STUDIES.md: an introduction (what the studies are, how to rerun them, the
machine and the date), a list of contents, then every docs/studies/s<N>_*.md in number order.
The sections are written by the study scripts; this only joins them."""
import datetime
import os
import re

from common import ROOT, SECTIONS_DIR, cpu_name

OUTPUT = os.path.join(ROOT, "docs", "STUDIES.md")
SECTION_NAME = re.compile(r"^s(\d+)_.*\.md$")


def sections():
    """The section files in study order (s2 before s10)."""
    names = [name for name in os.listdir(SECTIONS_DIR) if SECTION_NAME.match(name)] if os.path.isdir(SECTIONS_DIR) else []
    return [os.path.join(SECTIONS_DIR, name) for name in sorted(names, key=lambda n: int(SECTION_NAME.match(n).group(1)))]


def heading(text):
    """The '## N. Title' line of a section."""
    return next(line[3:].strip() for line in text.splitlines() if line.startswith("## "))


def anchor(title):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def introduction(titles):
    contents = "\n".join(f"- [{title}](#{anchor(title)})" for title in titles)
    return f"""# Studies

Open questions of the deep-learning crash course notes, answered with data. Each study is a
script in `studies/` that trains small models with `nntrain fit` (and reads them with
`nntrain diagnose`) over 3 seeds, and writes one section below: the question as the notes put
it, the setup (the model and the exact flags), a table of mean ± std over seeds, a chart, and
**the answer in one sentence with its numbers** — what the table shows, also where the notes
said otherwise. The numbers in the answers are filled in from the runs, so a rerun on another
machine keeps each sentence true to its table.

Rerun them all with `make studies`, some with `STUDIES="s4 s6" make studies`, or one with
`python3 studies/s4_dropout.py` (`NNTRAIN=path` picks the binary; the default is
`.build/release/nntrain`); `python3 studies/build_doc.py` then rebuilds this page from
`docs/studies/*.md`. Runs are deterministic for a fixed seed and thread count (`--threads 1`,
at most two processes at once), and each study takes under three minutes on 2 vCPUs.

Measured on {cpu_name()}, {os.cpu_count()} vCPU, {datetime.date.today().isoformat()}.

{contents}
"""


def main():
    texts = []
    for path in sections():
        with open(path) as file:
            texts.append(file.read().strip() + "\n")
    with open(OUTPUT, "w") as file:
        file.write(introduction([heading(text) for text in texts]) + "\n" + "\n".join(texts))
    print(f"wrote {os.path.relpath(OUTPUT, ROOT)}: {len(texts)} studies")


if __name__ == "__main__":
    main()
