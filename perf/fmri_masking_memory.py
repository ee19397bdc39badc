"""Peak memory of masking a large 4D NIfTI: brainalign's chunked loader vs NiftiMasker.

Writes a 91 x 109 x 91 x 1,000 float32 run (2 mm MNI grid, 3.6 GB, uncompressed .nii so that
nibabel memory-maps it) into a temporary folder, volume by volume, then runs in two fresh
subprocesses:

- ``brainalign.datasets.fmri.load_fmri_run(path, masker=mask)`` (reads ``chunk_volumes`` at a
  time through ``img.dataobj``), and
- ``nilearn.maskers.NiftiMasker(mask_img=mask).fit_transform(path)``,

each reporting its peak resident set size (``ru_maxrss``) and the RSS after its imports
("the interpreter"). The mask is nilearn's bundled 2 mm MNI152 brain mask resampled
(nearest) onto the 91 x 109 x 91 grid. Prints both peaks
beyond the interpreter, as multiples of the masked result's size (n_volumes x n_voxels x 4
bytes). The file is deleted afterwards.

Usage:  python perf/fmri_masking_memory.py [--volumes 1000] [--skip-nilearn] [--clean]

``--clean`` adds detrending, z-scoring and a 0.01 Hz high-pass filter to both loaders.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

SHAPE = (91, 109, 91)
MNI_2MM_AFFINE = np.array(  # the usual 2 mm MNI grid (FSL's MNI152_T1_2mm, the LanA parcels)
    [[-2.0, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]]
)

CHILD = """
import json, resource, sys, time
def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
import nibabel, nilearn.maskers, numpy as np
from brainalign.datasets.fmri import load_fmri_run
mask, run, which, clean = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "clean"
options = dict(detrend=True, standardize="zscore_sample", high_pass=0.01) if clean else {}
base = rss_mb()
t0 = time.perf_counter()
if which == "brainalign":
    data = load_fmri_run(run, masker=mask, **options).data
else:
    data = nilearn.maskers.NiftiMasker(mask_img=mask, t_r=2.0, **options).fit_transform(run)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"which": which, "base_mb": base, "peak_mb": peak, "seconds": seconds,
                  "shape": list(data.shape), "dtype": str(data.dtype),
                  "checksum": float(np.asarray(data[:, ::997], dtype=np.float64).sum())}))
"""


def write_run(path: Path, n_volumes: int, affine: np.ndarray) -> None:
    """Write a float32 NIfTI-1 run volume by volume (never the whole array in memory)."""
    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_data_dtype(np.float32)
    header.set_data_shape(SHAPE + (n_volumes,))
    header.set_qform(affine, code=4)
    header.set_sform(affine, code=4)
    header.set_xyzt_units("mm", "sec")
    header.set_zooms((2.0, 2.0, 2.0, 2.0))
    header["vox_offset"] = 352
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        header.write_to(f)
        f.write(b"\0" * (352 - f.tell()))
        baseline = 1000 + 50 * rng.random(SHAPE, dtype=np.float32)
        for _ in range(n_volumes):
            volume = baseline + rng.standard_normal(SHAPE, dtype=np.float32)
            f.write(np.asfortranarray(volume).tobytes(order="F"))


def measure(which: str, mask: Path, run: Path, clean: bool) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(mask), str(run), which, "clean" if clean else "raw"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return {"which": which, "error": result.stderr[-2000:]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=1000)
    parser.add_argument("--skip-nilearn", action="store_true")
    parser.add_argument(
        "--clean",
        action="store_true",
        help="also detrend, z-score and high-pass (0.01 Hz) in both loaders",
    )
    args = parser.parse_args()

    import nibabel as nib
    from nilearn.datasets import load_mni152_brain_mask
    from nilearn.image import resample_img

    mask_img = resample_img(
        load_mni152_brain_mask(resolution=2),
        target_affine=MNI_2MM_AFFINE,
        target_shape=SHAPE,
        interpolation="nearest",
        force_resample=True,
        copy_header=True,
    )
    n_voxels = int(np.asarray(mask_img.dataobj).astype(bool).sum())
    masked_mb = args.volumes * n_voxels * 4 / 2**20
    with tempfile.TemporaryDirectory(prefix="fmri_mem_") as tmp:
        mask = Path(tmp) / "mask.nii.gz"
        nib.save(mask_img, mask)
        run = Path(tmp) / "run.nii"
        t0 = time.perf_counter()
        write_run(run, args.volumes, mask_img.affine)
        print(
            f"wrote {run.stat().st_size / 2**30:.2f} GiB run {SHAPE + (args.volumes,)} in "
            f"{time.perf_counter() - t0:.0f} s; mask {n_voxels} voxels; masked result "
            f"{masked_mb:.0f} MiB (float32)"
        )
        results = [measure("brainalign", mask, run, args.clean)]
        if not args.skip_nilearn:
            results.append(measure("nilearn", mask, run, args.clean))
    for r in results:
        if "error" in r:
            print(f"{r['which']}: failed\n{textwrap.indent(r['error'], '  ')}")
            continue
        extra = r["peak_mb"] - r["base_mb"]
        print(
            f"{r['which']:>10}: peak RSS {r['peak_mb']:.0f} MiB, "
            f"interpreter {r['base_mb']:.0f} MiB, "
            f"beyond interpreter {extra:.0f} MiB = {extra / masked_mb:.2f} x masked size; "
            f"{r['seconds']:.1f} s; output {r['shape']} {r['dtype']}"
        )
    if len(results) == 2 and all("checksum" in r for r in results):
        same = np.isclose(results[0]["checksum"], results[1]["checksum"], rtol=1e-6)
        print(f"outputs agree (checksum of every 997th voxel): {bool(same)}")


if __name__ == "__main__":
    main()
