"""What the bench scripts share: the CPU's name, for every table to say which machine it was measured on, and the
machine's own limits measured with PyTorch (its sgemm rate and its read bandwidth), from which the floors are made."""

import os
import platform
import time


def cpu_name():
    """The CPU's model name from /proc/cpuinfo (Linux) with its family, model and widest vector extension (the
    model name alone says "AMD EPYC" for every generation), else what the platform module knows."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor's block is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    name = fields.get("model name")
    if not name:
        return platform.processor() or platform.machine() or os.uname().machine
    if "cpu family" not in fields or "flags" not in fields:
        return name  # not an x86 block: no family, model or AVX flags to add
    flags = set(fields["flags"].split())
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{name} (family {fields['cpu family']} model {fields.get('model', '?')}, {vector})"


# What a CPU without AVX-512 runs, on PyTorch's side: its BLAS, oneDNN and its own vectorised ops capped at AVX2.
AVX2_PYTORCH = {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def cap_pytorch_at(isa):
    """For --isa avx2: starts this script again with PyTorch's caps in the environment, unless they are there (the
    libraries read them when they load, so call this before importing torch). attngraph's side is
    ATTNGRAPH_ISA=avx2, which the callers pass to it. For --isa auto, refuses to run with any cap already in the
    environment, which would make a capped run look like the CPU's own."""
    import sys

    if isa == "auto":
        set_caps = [k for k in [*AVX2_PYTORCH, "ATTNGRAPH_ISA"] if k in os.environ]
        if set_caps:
            raise SystemExit(f"{', '.join(set_caps)} set in the environment: unset them, or pass --isa avx2")
    elif any(os.environ.get(k) != v for k, v in AVX2_PYTORCH.items()):
        # orig_argv keeps the interpreter's own flags (-u, -X ...).
        os.execve(sys.executable, sys.orig_argv, {**os.environ, **AVX2_PYTORCH})


def _best_seconds(work, repeat):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def torch_peaks(threads, repeat=10):
    """PyTorch's float32 matrix-product rate in GFLOP/s (the best of `repeat` 2,048² products, after three
    untimed ones) and its read bandwidth in GB/s (the best of `repeat` sums over 512 MB), on `threads` threads:
    the rate and bandwidth the floor is computed from, measured in the same run as the times compared with it.
    (With one warm-up and the best of three, one run on an AMD EPYC gave 152 GFLOP/s where the next gave 194.)"""
    import torch

    torch.set_num_threads(threads)
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):  # warm-up: the BLAS picks its kernel and starts its threads on the first calls
        torch.mm(a, b)
    gflops = 2 * n**3 / _best_seconds(lambda: torch.mm(a, b), repeat) / 1e9
    big = torch.ones(128 * 1024 * 1024)  # 512 MB of float32, touched once by ones()
    big.sum()
    gbps = big.numel() * 4 / _best_seconds(lambda: big.sum(), repeat) / 1e9
    return gflops, gbps


def peaks_from(args, threads):
    """(GFLOP/s, GB/s) for the floor: --peak-gflops and --peak-gbps where given (each must be positive), PyTorch's
    own measured here for the rest; and a phrase saying which."""
    for name, value in (("--peak-gflops", args.peak_gflops), ("--peak-gbps", args.peak_gbps)):
        if value is not None and not value > 0:
            raise SystemExit(f"{name} must be a positive number, not {value}")
    gflops, gbps = args.peak_gflops, args.peak_gbps
    if gflops is None or gbps is None:
        measured = torch_peaks(threads)
        gflops = gflops if gflops is not None else measured[0]
        gbps = gbps if gbps is not None else measured[1]
    said = [f"{name} {'as given' if given is not None else 'measured in this run'}"
            for name, given in (("rate", args.peak_gflops), ("bandwidth", args.peak_gbps))]
    return gflops, gbps, ", ".join(said)


def floor_ms(flops, weight_bytes, gflops, gbps):
    """What this machine cannot beat: the work at the matrix-product rate or the weights read once at the memory
    bandwidth, whichever takes longer."""
    return max(flops / (gflops * 1e9), weight_bytes / (gbps * 1e9)) * 1e3
