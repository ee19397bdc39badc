"""Rebuild the small fMRI fixtures of this folder from the real files in ../shared/data.

Run from the repository root with ../shared present:  python tests/data/fmri/make_fixtures.py
Every step is described in SOURCE.txt; the random numbers use a fixed seed.
"""

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from nilearn.glm.first_level import compute_regressor
from nilearn.image import resample_img

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2].parent / "shared" / "data"
PARCELS = (
    SHARED
    / "language_parcels/data/functional_language_parcels/symmetrical parcels"
    / "nii (volumetric parcels)/langParcels_symmetrical.nii.gz"
)
GM = SHARED / "mni/mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"
STAT_MAP = SHARED / "mni/image_10426.nii.gz"
AFFINE = np.array([[3.0, 0, 0, -63], [0, 3, 0, -40], [0, 0, 3, -13], [0, 0, 0, 1]])
SHAPE = (10, 18, 9)
TR = 2.0
N_VOLUMES = 40


def on_grid(path: Path, interpolation: str) -> nib.Nifti1Image:
    return resample_img(
        nib.load(path),
        target_affine=AFFINE,
        target_shape=SHAPE,
        interpolation=interpolation,
        force_resample=True,
        copy_header=True,
    )


def main() -> None:
    labels = np.rint(on_grid(PARCELS, "nearest").get_fdata()).astype(np.uint8)
    nib.save(nib.Nifti1Image(labels, AFFINE), HERE / "lang_parcels_crop.nii.gz")
    gm = on_grid(GM, "linear").get_fdata() > 127.45
    nib.save(nib.Nifti1Image(gm.astype(np.uint8), AFFINE), HERE / "gm_mask_crop.nii.gz")
    stat = on_grid(STAT_MAP, "linear").get_fdata()

    rng = np.random.default_rng(2012)
    stim = [f"s{i:02d}" for i in range(1, 9)]
    onsets = 6.0 + 9.0 * np.arange(8)
    events = pd.DataFrame(
        {
            "onset": onsets,
            "duration": 1.0,
            "trial_type": ["sentence", "nonword"] * 4,
            "stim_id": stim,
            "text": [
                "the cat sat",
                "bleg florp",
                "a dog ran",
                "zib mab",
                "birds sing",
                "tev rop",
                "we read books",
                "glorp tin",
            ],
        }
    )
    events.to_csv(HERE / "sub-01_task-demo_events.tsv", sep="\t", index=False)
    frame_times = TR * np.arange(N_VOLUMES)
    amplitudes = np.array([3.0, 1.0, 2.5, 0.5, 2.0, 1.5, 3.5, 0.8])
    responses = np.stack(
        [
            compute_regressor(np.array([[o], [1.0], [1.0]]), "glover", frame_times)[0][:, 0]
            for o in onsets
        ],
        axis=1,
    )
    signal = responses @ amplitudes  # (n_volumes,)
    motion = np.cumsum(rng.normal(0, 0.02, size=(N_VOLUMES, 6)), axis=0)
    drift = np.linspace(-1.0, 1.0, N_VOLUMES)
    bold = (
        1000.0
        + 20.0 * np.abs(stat)[..., None] * 0.2
        + stat[..., None] * signal[None, None, None, :]
        + 5.0 * drift[None, None, None, :]
        + 3.0 * (motion[:, 0] - motion[:, 0].mean())[None, None, None, :]
        + rng.normal(0, 1.0, size=SHAPE + (N_VOLUMES,))
    )
    # int16 with scl_slope 0.1 (0.1-unit precision), so readers must apply NIfTI scaling
    img = nib.Nifti1Image(np.rint(bold * 10).astype(np.int16), AFFINE)
    img.header.set_slope_inter(0.1, 0.0)
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_zooms((3.0, 3.0, 3.0, TR))
    nib.save(img, HERE / "sub-01_task-demo_bold.nii.gz")

    names = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
    table = {}
    for k, name in enumerate(names):
        base = motion[:, k]
        deriv = np.r_[np.nan, np.diff(base)]
        table[name] = base
        table[f"{name}_derivative1"] = deriv
        table[f"{name}_power2"] = base**2
        table[f"{name}_derivative1_power2"] = deriv**2
    table["white_matter"] = 500 + rng.normal(0, 1, N_VOLUMES)
    table["csf"] = 800 + rng.normal(0, 1, N_VOLUMES)
    table["global_signal"] = bold.reshape(-1, N_VOLUMES).mean(axis=0)
    fd = np.abs(np.diff(motion[:, :3], axis=0)).sum(axis=1)
    table["framewise_displacement"] = np.r_[np.nan, fd]
    pd.DataFrame(table).to_csv(
        HERE / "sub-01_task-demo_desc-confounds_timeseries.tsv",
        sep="\t",
        index=False,
        na_rep="n/a",
        float_format="%.6f",
    )


if __name__ == "__main__":
    main()
