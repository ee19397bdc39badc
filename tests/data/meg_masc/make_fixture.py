"""Rebuild this MEG-MASC-layout fixture (run from the repository root).

    .venv/bin/python tests/data/meg_masc/make_fixture.py

Real inputs: tests/data/meeg/test.sqd (KIT MEG) and tests/data/speech/jfk.wav (speech).
Written here: the events.tsv rows (MEG-MASC's published format, word timings read off
jfk.wav's energy by hand) and the 2 s audio excerpt. See SOURCE.txt.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import soundfile as sf
from mne_bids import BIDSPath, write_raw_bids

HERE = Path(__file__).parent
REPO = HERE.parents[2]
SOUND = "stimuli/audio/lw1_0.wav"
SOUND_ONSET = 0.05  # seconds on the recording's clock at which the wav starts
#: (word, start within the wav in s, duration in s), read off jfk.wav's 50 ms RMS.
WORDS = [
    ("And", 0.30, 0.20),
    ("so", 0.65, 0.40),
    ("my", 1.35, 0.20),
    ("fellow", 1.55, 0.20),
    ("Americans", 1.75, 0.30),
]
#: Phonemes of the first word (ARPAbet with position B/I/E, as MEG-MASC labels them).
PHONEMES = [("ae_B", 0.30, 0.07), ("n_I", 0.37, 0.06), ("d_E", 0.43, 0.07)]


def annotation(kind: str, start: float, **extra: object) -> str:
    """A trial_type cell: the Python dict literal MEG-MASC writes."""
    base = {"story": "lw1", "story_uid": 0, "sound_id": 0, "kind": kind, "start": start}
    base["sound"] = SOUND if kind != "sound" else SOUND.replace(".wav", ".0.wav")
    if kind != "sound":
        base.update(sequence_id=0, condition="sentence", speech_rate=205, voice="Allison")
        base.update(pronounced=1.0)
    base.update(extra)
    return repr(base)


def events(sfreq: float) -> pd.DataFrame:
    rows = [(SOUND_ONSET, 0.0, annotation("sound", 0.0))]
    phonemes = iter(PHONEMES)
    for index, (word, start, duration) in enumerate(WORDS):
        if index == 0:
            for phoneme, p_start, p_duration in phonemes:
                rows.append(
                    (
                        SOUND_ONSET + p_start,
                        p_duration,
                        annotation("phoneme", p_start, word_index=0, phoneme=phoneme),
                    )
                )
        rows.append(
            (SOUND_ONSET + start, duration, annotation("word", start, word_index=index, word=word))
        )
    rows.sort(key=lambda row: row[0])
    table = pd.DataFrame(rows, columns=["onset", "duration", "trial_type"])
    table["onset"] = table["onset"].round(6)
    table["value"] = np.arange(1, len(table) + 1)
    table["sample"] = np.round(table["onset"] * sfreq).astype(int)
    return table


def main() -> None:
    for path in HERE.iterdir():
        if path.name not in ("make_fixture.py", "SOURCE.txt"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    raw = mne.io.read_raw_kit(REPO / "tests/data/meeg/test.sqd", verbose="error")
    raw.set_annotations(None)
    bids_path = BIDSPath(subject="01", session="0", task="0", datatype="meg", root=HERE)
    write_raw_bids(raw, bids_path, allow_preload=False, overwrite=True, verbose="error")
    meg = HERE / "sub-01/ses-0/meg"
    sqd = meg / "sub-01_ses-0_task-0_meg.sqd"
    con = sqd.with_suffix(".con")
    if sqd.exists():  # MEG-MASC ships KIT .con files; same KIT format, other extension
        sqd.rename(con)
        scans = HERE / "sub-01/ses-0/sub-01_ses-0_scans.tsv"
        scans.write_text(scans.read_text().replace(sqd.name, con.name))
    events(raw.info["sfreq"]).to_csv(meg / "sub-01_ses-0_task-0_events.tsv", sep="\t", index=False)
    audio, rate = sf.read(REPO / "tests/data/speech/jfk.wav", dtype="int16")
    (HERE / "stimuli/audio").mkdir(parents=True, exist_ok=True)
    sf.write(HERE / SOUND, audio[: int(2.0 * rate)], rate, subtype="PCM_16")


if __name__ == "__main__":
    main()
