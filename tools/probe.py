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
