"""The project folder `platform/` must never shadow the stdlib module `platform`."""

import os
import pathlib
import subprocess
import sys
import sysconfig

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_stdlib_platform_is_the_real_one():
    # given the test run's import path (platform/ is on it)
    import platform

    # then the stdlib module wins
    assert pathlib.Path(platform.__file__).parent == pathlib.Path(sysconfig.get_paths()["stdlib"])
    assert callable(platform.system)
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_project_package_lives_in_platform_folder():
    import foyer.settings.base

    assert pathlib.Path(foyer.settings.base.__file__).is_relative_to(ROOT / "platform" / "foyer")


def test_manage_py_runs_with_stdlib_intact():
    # given manage.py, which puts platform/ first on sys.path
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "foyer.settings.test"}
    # when Django starts (uuid imports platform.system on start-up)
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "import platform, uuid; print(platform.system(), uuid.uuid4().version)",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # then
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("Linux 4")
