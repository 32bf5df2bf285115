"""The induction probe of `attngraph heads` (src/graph/heads.rs), written again in Python: `<|endoftext|>`, then
`length` pseudo-random ids from 1000 up, then the same ids again. The generator is the same xorshift, so that
scores computed here are for the very tokens attngraph scores."""

MASK = (1 << 64) - 1

#: Tokens in each half of the probe when none is chosen (heads::DEFAULT_PROBE_LEN).
DEFAULT_LENGTH = 50
#: The probe's seed (heads::PROBE_SEED).
SEED = 7


def probe_length(n_positions, length=DEFAULT_LENGTH):
    """The half-length attngraph uses: cut so that the probe fits the model's context."""
    return max(1, min(length, (n_positions - 1) // 2))


def induction_probe_ids(bos, length, vocab, seed=SEED):
    state = ((seed * 0x9E3779B97F4A7C15) & MASK) | 1
    span = max(vocab - 1001, 1)
    first = []
    for _ in range(length):
        state ^= state >> 12
        state ^= (state << 25) & MASK
        state ^= state >> 27
        first.append(1000 + ((state * 0x2545F4914F6CDD1D) & MASK) % span)
    return [bos] + first + first


def best_scores(attentions, ids):
    """The best previous-token and induction scores over the heads, with attngraph's definitions (no exclusions):
    a head's score is the attention it puts on the pattern's cells over all the attention it gives; the induction
    pattern holds, for token i, the token after every earlier copy of token i. `attentions`: one array or tensor
    [heads, n, n] per layer."""
    import numpy as np

    n = len(ids)
    previous = np.zeros((n, n))
    induction = np.zeros((n, n))
    for i in range(n):
        if i > 0:
            previous[i, i - 1] = 1.0
        for j in range(1, i + 1):
            if ids[j - 1] == ids[i]:
                induction[i, j] = 1.0
    best_previous = best_induction = 0.0
    for layer in attentions:
        a = np.asarray(layer, dtype=np.float64)
        total = a.sum(axis=(1, 2))
        best_previous = max(best_previous, float(((a * previous).sum(axis=(1, 2)) / total).max()))
        best_induction = max(best_induction, float(((a * induction).sum(axis=(1, 2)) / total).max()))
    return best_previous, best_induction
