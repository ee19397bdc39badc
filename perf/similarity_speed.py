"""Linear CKA speed: Gram route against feature route, torch against numpy, one run.

The problem: 1000 stimuli, a 3000-wide representation (e.g. a concatenation of layers
or a voxel set) against a 768-wide one (a transformer layer). The feature route costs
``n (p^2 + q^2 + pq)`` multiply-adds (about 1.2e10 here), the Gram route ``n^2 (p + q)``
(about 3.8e9), so ``method="auto"`` should pick the Gram route. Also times the batch
form, :func:`linear_cka_matrix`, for 12 layers against one target, against 12
:func:`cka` calls. Every timing is checked to give the same number first. Runs the
torch CUDA backend too when a GPU is visible.

Run: ``python perf/similarity_speed.py [--repeats 3] [--threads N]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def best_of(repeats: int, function, sync=lambda: None) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        result = function()
        sync()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="BLAS / torch threads")
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    from brainalign.alignment.similarity import cka, linear_cka_matrix

    if args.threads:
        threadpool_limits(args.threads)
        torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    n = args.n
    X = rng.standard_normal((n, 3000))
    Y = X[:, :768] @ rng.standard_normal((768, 768)) + rng.standard_normal((n, 768))
    backends = {"numpy": (X, Y, lambda: None)}
    backends["torch"] = (torch.as_tensor(X), torch.as_tensor(Y), lambda: None)
    if torch.cuda.is_available():
        backends["torch_cuda"] = (
            torch.as_tensor(X, device="cuda"),
            torch.as_tensor(Y, device="cuda"),
            torch.cuda.synchronize,
        )

    print(f"linear CKA, X {X.shape} vs Y {Y.shape}, float64, best of {args.repeats}")
    results = {}
    for name, (A, B, sync) in backends.items():
        cka(A, B)  # warm-up (CUDA context, kernels)
        for method in ("gram", "feature", "auto"):
            seconds, value = best_of(
                args.repeats, lambda A=A, B=B, m=method: cka(A, B, method=m), sync
            )
            results[name, method] = seconds
            print(f"  {name:10s} {method:7s} {seconds * 1e3:9.1f} ms   CKA = {float(value):.12f}")
    reference = float(cka(X, Y, method="gram"))
    for name, (A, B, _) in backends.items():
        assert abs(float(cka(A, B, method="feature")) - reference) < 1e-10, name

    print("ratios (time / time):")
    for name in backends:
        ratio = results[name, "feature"] / results[name, "gram"]
        print(f"  {name:10s} feature / gram = {ratio:6.2f}")
        auto = results[name, "auto"] / min(results[name, "gram"], results[name, "feature"])
        print(f"  {name:10s} auto / best    = {auto:6.2f}")
    for method in ("gram", "feature"):
        for name in backends:
            if name != "numpy":
                ratio = results["numpy", method] / results[name, method]
                print(f"  numpy / {name:10s} ({method}) = {ratio:6.2f}")

    layers = [X[:, i * 250 : (i + 1) * 250] for i in range(12)]
    loop_s, loop = best_of(args.repeats, lambda: [cka(L, Y, method="gram") for L in layers])
    batch_s, batch = best_of(args.repeats, lambda: linear_cka_matrix(layers, Y))
    assert np.allclose(np.asarray(loop), batch[:, 0], rtol=1e-10)
    auto_s, _ = best_of(args.repeats, lambda: [cka(L, Y) for L in layers])
    print(
        f"12 layers (n x 250) vs Y, numpy: linear_cka_matrix {batch_s * 1e3:.1f} ms, "
        f"12 cka(method='gram') {loop_s * 1e3:.1f} ms (ratio {loop_s / batch_s:.2f}), "
        f"12 cka(auto) {auto_s * 1e3:.1f} ms (ratio {auto_s / batch_s:.2f})"
    )


if __name__ == "__main__":
    main()
