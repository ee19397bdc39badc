"""Volume searchlight RSA: brainalign against rsatoolbox, on the same spheres.

The mask is the bundled crop of the MNI grey-matter map (756 voxels, 3 mm), the
searchlights are 7 mm spheres (up to 56 voxels), 40 conditions with random patterns and
three model RDMs, correlation distance and Spearman comparison. rsatoolbox runs
``get_searchlight_RDMs`` and then ``rsatoolbox.rdm.compare`` on all searchlight RDMs at
once (its fastest route; ``evaluate_models_searchlight`` adds a Python call per
searchlight). The script checks the scores agree, then prints both times and the ratio.
Building the spheres is timed separately (rsatoolbox's ``get_volume_searchlight`` loops
over centres in Python).

Run: ``python perf/searchlight_vs_rsatoolbox.py [--repeats 3] [--conditions 40]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

MASK = Path(__file__).resolve().parents[1] / "tests" / "data" / "fmri" / "mni_gm_crop_mask.nii.gz"


def best_of(repeats: int, function):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    import nibabel as nib
    from rsatoolbox.rdm import RDMs, compare
    from rsatoolbox.util.searchlight import get_searchlight_RDMs, get_volume_searchlight

    from brainalign.alignment.searchlight import searchlight_rsa, volume_searchlights

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--conditions", type=int, default=40)
    args = parser.parse_args()

    image = nib.load(MASK)
    mask = np.asarray(image.dataobj) > 0
    n_conditions = args.conditions
    rng = np.random.default_rng(0)

    ours_build, searchlights = best_of(
        args.repeats, lambda: volume_searchlights(image, radius=7.0, min_size=3)
    )
    theirs_build, _ = best_of(
        1,
        lambda: get_volume_searchlight(
            mask, radius=7.0 / 3 + 1e-9, threshold=0.0, truncate_at_boundary=True
        ),
    )
    data = rng.standard_normal((n_conditions, searchlights.n_units))
    models = rng.random((3, n_conditions * (n_conditions - 1) // 2))
    members = [searchlights[i] for i in range(len(searchlights))]

    def ours():
        return searchlight_rsa(data, searchlights, models)

    def theirs():
        rdms = get_searchlight_RDMs(
            data, searchlights.centers, members, np.arange(n_conditions), verbose=False
        )
        return compare(RDMs(models), rdms, method="spearman").T

    ours_time, ours_scores = best_of(args.repeats, ours)
    theirs_time, theirs_scores = best_of(args.repeats, theirs)
    difference = np.abs(ours_scores - theirs_scores).max()
    print(f"{len(searchlights)} searchlights, {n_conditions} conditions, 3 model RDMs")
    print(f"max |difference| of scores: {difference:.2e}")
    assert difference < 1e-10
    print(
        f"spheres: brainalign {ours_build * 1e3:.1f} ms, rsatoolbox {theirs_build * 1e3:.0f} ms "
        f"({theirs_build / ours_build:.0f}x)"
    )
    print(
        f"RDMs + comparison: brainalign {ours_time * 1e3:.0f} ms, rsatoolbox "
        f"{theirs_time * 1e3:.0f} ms -> brainalign is {theirs_time / ours_time:.1f}x faster"
    )


if __name__ == "__main__":
    main()
