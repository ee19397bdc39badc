import subprocess
import sys

import brainalign


def test_every_export_resolves():
    for name in brainalign.__all__:
        assert getattr(brainalign, name) is not None


def test_import_is_light():
    code = "import sys, brainalign; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
