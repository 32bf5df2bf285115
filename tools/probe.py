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


def fold(ids, alphabet):
    """The probe with its ids after the first folded into the `alphabet` ids from 1000 up that the copying task
    draws from, so that it scores heads on embeddings a copying run trained."""
    return [ids[0]] + [1000 + (i - 1000) % alphabet for i in ids[1:]]


def head_scores(attentions, ids):
    """Per head, attngraph's scores with no exclusions: the share of the head's attention on the previous token,
    on the token after every earlier copy of the current token (induction), and on token 0 (sink); and the
    copying kinds' own shares (`duplicate_share`, `induction_share`): of the attention in the rows where the
    pattern marks a target other than token 0, the token itself and the one before it, the share on those
    targets, or None where fewer than 4 rows have one or they hold less than a tenth of the attention.
    `attentions`: one array or tensor [heads, n, n] per layer."""
    import numpy as np

    att = np.array([np.asarray(layer, dtype=np.float64) for layer in attentions])  # (layers, heads, n, n)
    n = len(ids)
    prev = np.zeros((n, n))
    dup = np.zeros((n, n))
    ind = np.zeros((n, n))
    sink = np.zeros((n, n))
    for i in range(n):
        if i > 0:
            prev[i, i - 1] = 1
        sink[i, 0] = 1
        for j in range(i):
            if ids[j] == ids[i]:
                dup[i, j] = 1
        for j in range(1, i + 1):
            if ids[j - 1] == ids[i]:
                ind[i, j] = 1
    # Targets of a pattern's own: not column 0, the diagonal or the one below it.
    other = np.ones((n, n))
    other[:, 0] = 0
    other[np.eye(n, dtype=bool)] = 0
    other[np.eye(n, k=-1, dtype=bool)] = 0
    total = att.sum(axis=(2, 3))

    def own_share(a, pattern):
        targets = pattern * other
        rows = targets.any(axis=1)
        reach = a[rows].sum()
        if rows.sum() < 4 or reach / a.sum() < 0.1:
            return None
        return float((a * targets).sum() / reach)

    out = []
    for layer in range(att.shape[0]):
        for head in range(att.shape[1]):
            a = att[layer, head]
            out.append(
                {
                    "layer": layer,
                    "head": head,
                    "previous_token": float((a * prev).sum() / total[layer, head]),
                    "induction": float((a * ind).sum() / total[layer, head]),
                    "sink": float((a * sink).sum() / total[layer, head]),
                    "duplicate_share": own_share(a, dup),
                    "induction_share": own_share(a, ind),
                }
            )
    return out


def best_scores(attentions, ids):
    """The best previous-token and induction scores over the heads (`head_scores`)."""
    scores = head_scores(attentions, ids)
    return max(s["previous_token"] for s in scores), max(s["induction"] for s in scores)
