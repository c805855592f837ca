"""Regenerate generated/ from proto/ with betterproto2, or check that it is fresh.

python tools/generate.py           rewrite generated/
python tools/generate.py --check   exit 1 if generated/ differs from what proto/ produces
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "generated"
HEADER = "# Generated from proto/ by tools/generate.py (betterproto2). DO NOT EDIT.\n"
# betterproto2's MessagePool() is unannotated, which mypy --strict reports in every program
# that imports the generated package. The one call is marked; a compiler upgrade that
# changes the line makes generation fail here instead of silently dropping the mark.
POOL_CALL = "default_message_pool = betterproto2.MessagePool()\n"
POOL_CALL_MARKED = "default_message_pool = betterproto2.MessagePool()  # type: ignore[no-untyped-call]\n"


def generate(out: Path) -> None:
    protos = sorted(p.name for p in PROTO_DIR.glob("*.proto"))
    env = dict(os.environ)
    # protoc finds the betterproto2 plugin on PATH; it sits beside this interpreter.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"--python_betterproto2_out={out}",
            "--python_betterproto2_opt=client_generation=none",
            *protos,
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"protoc failed with exit code {done.returncode}")
    pool = out / "message_pool.py"
    text = pool.read_text(encoding="utf-8")
    if POOL_CALL not in text:
        raise SystemExit(f"unexpected {pool.name} from betterproto2; update tools/generate.py")
    pool.write_text(text.replace(POOL_CALL, POOL_CALL_MARKED), encoding="utf-8")
    for path in out.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "DO NOT EDIT" not in text:
            path.write_text(HEADER + text, encoding="utf-8")


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def main(argv: list[str]) -> int:
    check = "--check" in argv
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        want = snapshot(fresh)
        if not check:
            for old in OUT_DIR.rglob("*") if OUT_DIR.exists() else []:
                if (
                    old.is_file()
                    and "__pycache__" not in old.parts
                    and str(old.relative_to(OUT_DIR)) not in want
                ):
                    old.unlink()
            for rel, text in want.items():
                target = OUT_DIR / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            print(f"generated/ rewritten from {len(list(PROTO_DIR.glob('*.proto')))} proto files")
            return 0
    have = snapshot(OUT_DIR) if OUT_DIR.exists() else {}
    if have == want:
        print("generated/ is fresh")
        return 0
    for rel in sorted(set(have) | set(want)):
        if have.get(rel) != want.get(rel):
            sys.stdout.writelines(
                difflib.unified_diff(
                    have.get(rel, "").splitlines(keepends=True),
                    want.get(rel, "").splitlines(keepends=True),
                    f"generated/{rel} (committed)",
                    f"generated/{rel} (from proto/)",
                )
            )
    print("generated/ is stale: run `make generate` and commit the result", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
