"""Build step: the wheel carries the repository's ``conf/`` and ``sweeps/`` as package data
(``qtgjax/conf``, ``qtgjax/sweeps``), read through importlib.resources (qtgjax.paths).
The repository's folders stay the editable source; everything else is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA = {"conf": ("*.yaml", "*.npz"), "sweeps": ("*.yaml",)}  # conf/models/*.npz: ML models


class BuildPyWithConfigs(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # an editable install reads the repository's folders
            return
        for folder, patterns in DATA.items():
            target = Path(self.build_lib) / "qtgjax" / folder
            shutil.rmtree(target, ignore_errors=True)
            for pattern in patterns:
                for src in sorted((ROOT / folder).rglob(pattern)):
                    dest = target / src.relative_to(ROOT / folder)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dest)


setup(cmdclass={"build_py": BuildPyWithConfigs})
