"""The four top-level folders install as one ``turngym`` namespace, editable and as a wheel."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORT_ALL = (
    "import turngym.envs, turngym.agents, turngym.algos, turngym.rewards, turngym.cli;"
    "print(turngym.envs.__file__)"
)


def test_packages_import_from_outside_the_repository(tmp_path):
    out = subprocess.run([sys.executable, "-c", IMPORT_ALL], cwd=tmp_path, capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert Path(out.stdout.strip()) == ROOT / "envs" / "__init__.py"


def test_wheel_maps_the_folders_into_the_namespace(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("turngym-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = ["envs/household.py", "agents/rollout.py", "algos/trainer.py", "rewards/__init__.py",
                "agents/backends/base.py", "envs/alfworld/env.py", "cli/app.py",
                "common/chat_client.py", "envs/webshop/text_env.py",
                "envs/webshop/templates/item_page.html",
                "envs/webshop/static/style.css", "algos/viewer_template.html"]  # fmt: skip
    for module in expected:
        assert f"turngym/{module}" in names
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    out = subprocess.run([sys.executable, "-c", IMPORT_ALL], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env={"PYTHONPATH": str(unpacked)})  # fmt: skip
    assert Path(out.stdout.strip()) == unpacked / "turngym" / "envs" / "__init__.py"
