#!/usr/bin/env bash
# Regenerates screenshots/ with the demo model, under Xvfb when there is no display:
#   bash tools/screenshots.sh
# The heads shown are the ones `attngraph heads` scores highest on the text: the previous-token head, the
# induction head on a sentence said twice, and the head that sends most of its attention to token 0 (the sink).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
bin=target/release/attngraph
if [ -z "${DISPLAY:-}" ]; then
  Xvfb :97 -screen 0 1600x1000x24 >/dev/null 2>&1 &
  xvfb=$!
  trap 'kill $xvfb' EXIT
  export DISPLAY=:97
  sleep 1
fi
export HF_HUB_OFFLINE=1
once="The system administrator reads the log files every morning."
twice="$once $once"
# "layer head" of the best head of a kind on a text.
best() {
  "$bin" heads --model demo --text "$2" --format json |
    python3 -c "import json,sys; s=max(json.load(sys.stdin), key=lambda h: h['$1']); print(s['layer'], s['head'])"
}
read -r pl ph < <(best previous_token "$once")
read -r il ih < <(best induction "$twice")
read -r sl sh < <(best sink "$twice")
echo "previous-token head $pl.$ph, induction head $il.$ih, sink head $sl.$sh"
shot() { "$bin" gui --fresh --model demo "$@"; }
shot --text "$once" --layer "$pl" --head "$ph" --view graph --screenshot screenshots/graph.png
shot --text "$twice" --layer "$il" --head "$ih" --view graph --screenshot screenshots/induction.png
shot --text "$twice" --layer "$il" --head "$ih" --view matrix --screenshot screenshots/matrix.png
shot --text "$twice" --layer "$sl" --head "$sh" --view markov --steps 4 --screenshot screenshots/markov.png
shot --text "$twice" --layer "$il" --head "$ih" --view grid --screenshot screenshots/grid.png
shot --view perplexity --score-file tests/fixtures/demo_prose.txt --screenshot screenshots/perplexity.png
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
shot --text "$twice" --predict "$kp" --colour contribution --view grid --screenshot screenshots/contribution.png
shot --text "$twice" --predict "$kp" --colour knock-out --knock-out "$kl.$kh" --layer "$kl" --head "$kh" \
  --view graph --screenshot screenshots/knockout.png
# The lesson, in both languages.
shot --text "$twice" --view lesson --lesson-step 6 --layer "$sl" --head "$sh" --screenshot screenshots/lesson-en.png
shot --text "$twice" --view lesson --lesson-step 8 --lang zh-Hant --screenshot screenshots/lesson-zh.png
# A long text: a page of prose the model never read, cut to the demo model's context.
long=$(python3 -c "print(' '.join(open('tests/fixtures/demo_prose.txt').read().split()[:140]))")
shot --text "$long" --layer "$sl" --head "$sh" --view graph --queries 170-220 --screenshot screenshots/long.png
