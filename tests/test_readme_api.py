"""The README's Python API script runs as written (on the tests' tiny SynthAU tree, with a real face)."""
import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _script() -> str:
    section = README.read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_python_api_script_runs_and_scores_every_test_frame(synthau_tiny, tmp_path):
    from PIL import Image
    from skimage import data
    Image.fromarray(data.astronaut()).save(tmp_path / "face.jpg")
    (tmp_path / "api.py").write_text(_script())
    run = subprocess.run([sys.executable, "api.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(README.parent)})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "'AU06':" in run.stdout and "'avg':" in run.stdout          # per_au's scores
    assert (tmp_path / "mine" / "deploy.pt").is_file()
    csv = next((tmp_path / "mine" / "predictions").glob("*.csv"))
    assert "AU17_r" in csv.read_text() and "synthau-bp4d" in csv.read_text()
