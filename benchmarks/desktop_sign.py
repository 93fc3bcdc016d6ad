"""Signing a large artifact on the desktop: peak memory and time, against ``gpg --detach-sign``.

Makes a file of ``--size`` MiB (default 1024) and an RSA-4096 key, then, each in a process
of its own so its peak resident memory (``ru_maxrss``) is its own:

* **desktop, keystore key** — a process set up like ``atr-desktop`` (PySide6 imported, a
  QApplication, the keystore) signs the file with ``Keystore.sign_file``: the streamed
  OpenPGP signature of :mod:`desktop.sigpacket` plus the ``.sha512``, the key unlocked
  with its passphrase;
* **desktop, GnuPG key** — the same process with the key used through the GnuPG backend
  (the file piped to ``gpg``; gpg's own peak is reported beside);
* **baseline** — ``gpg --detach-sign --armor`` of the same file with the same key, in the
  same run.

Every signature is checked with ``gpg --verify``. Target (issue 4): the desktop stays under
300 MB while signing a 1 GB artifact.

    .venv/bin/python benchmarks/desktop_sign.py                # 1 GiB
    .venv/bin/python benchmarks/desktop_sign.py --size 256 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSPHRASE = "benchmark passphrase"
TARGET_MB = 300


def rss_mb() -> float:
    """Current resident memory of this process in MB (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def child(mode: str, work: Path) -> None:
    """Run inside the measured process: set up like the desktop, sign, print JSON."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["ATR_DESKTOP_HOME"] = str(work / f"desktop-home-{mode}")
    # Imported here, after the environment is set, and only in the measured process.
    import keyring  # noqa: PLC0415
    from keyring.backends import null  # noqa: PLC0415
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    import desktop.app  # noqa: F401, PLC0415 - the desktop's modules, as atr-desktop loads them
    from desktop.keystore import Keystore  # noqa: PLC0415

    keyring.set_keyring(null.Keyring())  # type: ignore[no-untyped-call]
    app = QApplication([sys.argv[0]])
    keystore = Keystore.default()
    artifact = work / "artifact.tar.gz"
    out = work / mode
    out.mkdir(exist_ok=True)
    if mode == "desktop-pgpy":
        fingerprint = keystore.import_file(work / "secret.asc", passphrase=PASSPHRASE).fingerprint
        passphrase: str | None = PASSPHRASE
    else:
        fingerprint = (work / "fingerprint").read_text().strip()
        keystore.add_gnupg_key(fingerprint, home=work / "gnupg")
        passphrase = None
    before = rss_mb()
    start = time.perf_counter()
    signed = keystore.sign_file(fingerprint, artifact, passphrase=passphrase, out_dir=out)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "rss_before_mb": round(before, 1),
                "peak_mb": round(hwm_mb(os.getpid()) or 0.0, 1),
                "seconds": round(seconds, 2),
                "signature": str(signed.signature),
                "sha512": signed.sha512,
            }
        )
    )
    del app


def gpg(home: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback",
         "--passphrase", "", *args],
        input=stdin, capture_output=True, check=True,
    )  # fmt: skip


def hwm_mb(pid: int) -> float | None:
    """``VmHWM`` (peak resident memory of the process's current image) in MB."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        return None
    return None


class Sampler(threading.Thread):
    """Reads the peak memory of a process and of its descendants every 10 ms.

    ``ru_maxrss`` from ``wait4`` is no use here: Linux carries the forking parent's peak
    into the child across ``exec``. ``VmHWM`` belongs to the new image only, and only
    grows, so its last reading before the process ends is its peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peaks: dict[str, float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self._sample()
            time.sleep(0.01)

    def _sample(self) -> None:
        try:
            top = psutil.Process(self.pid)
            procs = [("main", top)] + [(p.name(), p) for p in top.children(recursive=True)]
        except psutil.Error:
            return
        for name, proc in procs:
            value = hwm_mb(proc.pid)
            if value is not None:
                self.peaks[name] = max(self.peaks.get(name, 0.0), value)


def measured(
    cmd: list[str], env: dict[str, str] | None = None
) -> tuple[dict[str, float], float, bytes]:
    """Run ``cmd``; the peak memory in MB of it and its children by name, seconds, stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    sampler = Sampler(proc.pid)
    sampler.start()
    out, err = proc.communicate()
    sampler.done.set()
    sampler.join()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed ({proc.returncode}):\n{err.decode(errors='replace')}")
    return {k: round(v, 1) for k, v in sampler.peaks.items()}, seconds, out


def make_file(path: Path, size_mb: int) -> None:
    block = os.urandom(1 << 20)
    with path.open("wb") as out:
        for i in range(size_mb):
            out.write(block[i % 7 :] + block[: i % 7])  # not all equal blocks; cheap


def verify(home: Path, signature: Path, data: Path) -> None:
    proc = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--status-fd", "1", "--verify",
         str(signature), str(data)],
        capture_output=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0 or b"GOODSIG" not in proc.stdout:
        raise SystemExit(f"gpg --verify refused {signature}:\n{proc.stderr.decode()}")


def run(size_mb: int) -> dict[str, Any]:
    from shared.openpgp.keys import generate_key, protect, public_armor  # noqa: PLC0415

    work = Path(tempfile.mkdtemp(prefix="atr-bench-sign-"))
    home = work / "gnupg"
    home.mkdir(mode=0o700)
    try:
        artifact = work / "artifact.tar.gz"
        print(f"making a {size_mb} MiB file and an RSA-4096 key…", file=sys.stderr)
        make_file(artifact, size_mb)
        key = generate_key("Bench Mark", "bench@example.org", bits=4096)
        gpg(home, "--import", stdin=str(key).encode())  # unprotected copy for GnuPG
        fingerprint = str(key.fingerprint).replace(" ", "")
        (work / "fingerprint").write_text(fingerprint)
        protect(key, PASSPHRASE)
        (work / "secret.asc").write_text(str(key))
        verify_home = work / "verify"
        verify_home.mkdir(mode=0o700)
        gpg(verify_home, "--import", stdin=public_armor(key).encode())

        results: dict[str, Any] = {"size_mb": size_mb, "target_mb": TARGET_MB}
        env = dict(os.environ)
        for mode in ("desktop-pgpy", "desktop-gnupg"):
            print(f"{mode}…", file=sys.stderr)
            peaks, _, out = measured(
                [sys.executable, __file__, "--child", mode, "--work", str(work)], env=env
            )
            row = json.loads(out.decode().strip().splitlines()[-1])
            row["sampled_peak_mb"] = peaks.get("main")
            row["gpg_peak_mb"] = peaks.get("gpg")
            verify(verify_home, Path(row.pop("signature")), artifact)
            results[mode] = row
        print("baseline gpg --detach-sign…", file=sys.stderr)
        baseline_sig = work / "baseline.asc"
        peaks, wall, _ = measured(
            ["gpg", "--homedir", str(home), "--batch", "--yes", "--armor", "--detach-sign",
             "--digest-algo", "SHA512", "--local-user", fingerprint,
             "--output", str(baseline_sig), str(artifact)],
        )  # fmt: skip
        verify(verify_home, baseline_sig, artifact)
        results["baseline-gpg"] = {"peak_mb": peaks.get("main"), "seconds": round(wall, 2)}
        start = time.perf_counter()
        subprocess.run(["sha512sum", str(artifact)], capture_output=True, check=True)
        results["sha512sum_seconds"] = round(time.perf_counter() - start, 2)
        return results
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
        shutil.rmtree(work, ignore_errors=True)


def report(results: dict[str, Any]) -> str:
    pgpy, gnupg, base = results["desktop-pgpy"], results["desktop-gnupg"], results["baseline-gpg"]
    size = results["size_mb"]
    lines = [
        f"signing a {size} MiB artifact (RSA-4096, SHA-512), peak resident memory:",
        f"  desktop, keystore key (streamed):  {pgpy['peak_mb']:7.1f} MB  "
        f"({pgpy['rss_before_mb']:.1f} MB before signing)  {pgpy['seconds']:6.2f} s  "
        "signature + .sha512",
        f"  desktop, GnuPG key (piped to gpg): {gnupg['peak_mb']:7.1f} MB  "
        f"({gnupg['rss_before_mb']:.1f} MB before signing)  {gnupg['seconds']:6.2f} s  "
        f"gpg child {gnupg['gpg_peak_mb']} MB",
        f"  baseline gpg --detach-sign:        {base['peak_mb']:7.1f} MB"
        f"{'':30}{base['seconds']:6.2f} s  signature only",
        f"  (sha512sum of the file alone: {results['sha512sum_seconds']:.2f} s)",
        f"target: desktop under {results['target_mb']} MB — "
        + ("met" if max(pgpy["peak_mb"], gnupg["peak_mb"]) < results["target_mb"] else "MISSED"),
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="artifact size in MiB")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.work)
        return 0
    results = run(args.size)
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    worst = max(results["desktop-pgpy"]["peak_mb"], results["desktop-gnupg"]["peak_mb"])
    return 0 if worst < TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
