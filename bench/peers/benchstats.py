"""Statistics shared by the Python peers, computed exactly as bench/harness.c does.

Quantiles interpolate linearly between order statistics (position q * (n - 1)
in the sorted samples), so every peer's median means the same thing as the
C harness's.
"""
import math


def quantile(sorted_samples, q):
    pos = q * (len(sorted_samples) - 1)
    lo = int(pos)
    if lo + 1 >= len(sorted_samples):
        return sorted_samples[-1]
    frac = pos - lo
    return sorted_samples[lo] + (sorted_samples[lo + 1] - sorted_samples[lo]) * frac


def stats(samples_us, ops_per_call=1):
    """Summary of per-operation samples in microseconds: the @bench fields."""
    s = sorted(samples_us)
    n = len(s)
    mean = sum(s) / n
    var = sum((x - mean) ** 2 for x in s) / (n - 1) if n > 1 else 0.0
    return {
        "iterations": n,
        "ops_per_call": ops_per_call,
        "median_us": quantile(s, 0.5),
        "mean_us": mean,
        "min_us": s[0],
        "p10_us": quantile(s, 0.1),
        "p90_us": quantile(s, 0.9),
        "max_us": s[-1],
        "stddev_us": math.sqrt(var),
    }
