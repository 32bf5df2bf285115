#!/usr/bin/env bash
# Regenerates screenshots/ with the demo model, under Xvfb when there is no display:
#   bash tools/screenshots.sh
# The heads shown are the ones `attngraph heads` scores highest on the text: the previous-token head, the
# induction head on a sentence said twice, and the head that sends most of its attention to token 0 (the sink) on
# the sentence said once.
set -euo pipefail
cd "$(dirname "$0")/.."
# ATTNGRAPH_BIN=target/debug/attngraph uses a binary already built (the pictures are the same).
bin=${ATTNGRAPH_BIN:-target/release/attngraph}
if [ -z "${ATTNGRAPH_BIN:-}" ]; then
  cargo build --release
fi
if [ -z "${DISPLAY:-}" ]; then
  Xvfb :97 -screen 0 1600x1000x24 >/dev/null 2>&1 &
  xvfb=$!
  trap 'kill $xvfb' EXIT
  export DISPLAY=:97
  sleep 1
fi
export HF_HUB_OFFLINE=1
once="The old man walks to the market every morning."
twice="$once $once"
# "layer head" of the best head of a kind on a text.
best() {
  "$bin" heads --model demo --text "$2" --format json |
    python3 -c "import json,sys; s=max(json.load(sys.stdin), key=lambda h: h['$1']); print(s['layer'], s['head'])"
}
read -r pl ph < <(best previous_token "$once")
read -r il ih < <(best induction "$twice")
# The sink on the sentence said once: said twice, the induction head rests on token 0 all through the first copy,
# where it has nothing to copy yet, and may score highest.
read -r sl sh < <(best sink "$once")
echo "previous-token head $pl.$ph, induction head $il.$ih, sink head $sl.$sh"
shot() { "$bin" gui --fresh --model demo "$@"; }
# The README's first picture: the project's own sentence, as the app opens on it, on the previous-token head.
shot --text "I love tennis." --layer "$pl" --head "$ph" --view graph --screenshot screenshots/tennis.png
shot --text "$once" --layer "$pl" --head "$ph" --view graph --screenshot screenshots/graph.png
# The second "market" (token 19) pinned: its arc to the token after the first "market", and a strip on every head.
shot --text "$twice" --layer "$il" --head "$ih" --view graph --pin 19 --screenshot screenshots/induction.png
# Every head of the induction head's layer at once, the same token pinned.
shot --text "$twice" --layer "$il" --head "$ih" --view overlay --pin 19 --screenshot screenshots/overlay.png
shot --text "$twice" --layer "$il" --head "$ih" --view matrix --screenshot screenshots/matrix.png
shot --text "$twice" --layer "$il" --head "$ih" --view graph --weight norm --screenshot screenshots/flow.png
shot --text "$twice" --layer "$sl" --head "$sh" --view markov --steps 4 --screenshot screenshots/markov.png
shot --text "$twice" --layer "$il" --head "$ih" --view heads --screenshot screenshots/grid.png
shot --view perplexity --score-file tests/fixtures/check_en.txt --screenshot screenshots/perplexity.png
# Which vocabulary reads Chinese: 我愛網球。 as the demo model's tokenizer cuts it, and as GPT-2's does (the
# tiny-gpt2 fixture carries GPT-2's own tokenizer, with random weights: only its tokens are the point).
shot --text "我愛網球。" --layer "$pl" --head "$ph" --view graph --screenshot screenshots/tokens-demo.png
"$bin" gui --fresh --model tests/fixtures/tiny-gpt2 --text "我愛網球。" --view graph --screenshot screenshots/tokens-gpt2.png
# The Compare view: the sentence said twice, ending before "market" comes again, after "market" and after "river";
# patched from the first into the second.
clean="$once The old man walks to the"
corrupt="${once/market/river} The old man walks to the"
shot --text "$clean" --compare "$corrupt" --view compare --layer "$il" --head "$ih" --patch --screenshot screenshots/compare.png
# Which heads matter: the head whose knock-out lowers a token of the repeated sentence the most, found with the
# sweep; the grid coloured by each head's contribution to that token's logit; the same head knocked out.
read -r kl kh kp < <("$bin" ablate --model demo --text "$twice" --bos --all-heads --format json --quiet |
  python3 -c "
import json, sys
s = json.load(sys.stdin)
# Tokens of the second copy: what the model can predict from the first.
half = len(s['tokens']) // 2
cells = [(d, l, h, p) for l, row in enumerate(s['sweep']) for h, c in enumerate(row)
         for p, d in enumerate(c['delta_logprob']) if d is not None and p > half]
d, l, h, p = min(cells)
print(l, h, p)")
echo "knocking out $kl.$kh hurts position $kp most"
"$bin" ablate --model demo --text "$twice" --bos --heads "$kl.$kh" | sed -n 1,6p
shot --text "$twice" --predict "$kp" --colour contribution --view heads --screenshot screenshots/contribution.png
shot --text "$twice" --predict "$kp" --colour knock-out --knock-out "$kl.$kh" --layer "$kl" --head "$kh" \
  --view graph --screenshot screenshots/knockout.png
# The logit lens on the sentence said twice.
shot --text "$twice" --view layers --screenshot screenshots/layers.png
# The lesson, in both languages, before the reader answers (the figure stays closed until then). The Chinese
# one is drawn with Droid Sans Fallback as the only CJK font (fonts-droid-fallback), which has no Korean.
fonts=$(mktemp -d)
printf '<?xml version="1.0"?>\n<fontconfig><dir>/usr/share/fonts/truetype/droid</dir><dir>/usr/share/fonts/truetype/dejavu</dir></fontconfig>\n' >"$fonts/fonts.conf"
shot --text "$twice" --view lesson --lesson-step 7 --layer "$il" --head "$ih" --screenshot screenshots/lesson-en.png
FONTCONFIG_FILE="$fonts/fonts.conf" shot --text "$twice" --view lesson --lesson-step 7 --layer "$il" --head "$ih" --lang zh-Hant \
  --screenshot screenshots/lesson-zh.png
# Long texts: the first N tokens of a page of prose the model never read, Moby-Dick's chapter 6 (whitespace
# joined to single spaces).
first_tokens() {
  python3 - "$1" "$2" <<'PY'
import sys
from tokenizers import Tokenizer
text = " ".join(open("tests/fixtures/long_en.txt").read().split())
offsets = Tokenizer.from_file(sys.argv[1]).encode(text).offsets
n = int(sys.argv[2])
print(text[: offsets[n][0]] if len(offsets) > n else text, end="")
PY
}
# The demo model's whole context: 254 tokens and BOS.
long=$(first_tokens assets/demo-model/tokenizer.json 254)
shot --text "$long" --layer "$sl" --head "$sh" --view graph --queries 200-254 --screenshot screenshots/long.png
# ATTNGRAPH_DEMO_ONLY=1 stops here: the pictures below do not read the demo model.
[ -n "${ATTNGRAPH_DEMO_ONLY:-}" ] && exit 0
# GPT-2's whole context, 1,023 tokens and BOS, on a model of GPT-2 small's shape with random weights (GPT-2
# itself cannot be fetched where these pictures are made): what the views do with 1,024 tokens. Random weights
# spread attention thin (about 1/i in row i), so the colours are on a log scale.
shape=${ATTNGRAPH_BENCH_MODEL:-/tmp/attngraph-gpt2-shape}
[ -f "$shape/model.safetensors" ] || python3 tools/make_bench_model.py "$shape"
long=$(first_tokens "$shape/tokenizer.json" 1023)
"$bin" gui --fresh --model "$shape" --text "$long" --layer 5 --head 1 --view graph --queries 960-1023 \
  --threshold 0 --log-colours --screenshot screenshots/long-1024.png
"$bin" gui --fresh --model "$shape" --text "$long" --layer 5 --head 1 --view matrix \
  --log-colours --screenshot screenshots/long-1024-matrix.png
