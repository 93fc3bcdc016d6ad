"""The policy classes: dataclasses that validate as pydantic models do, without pydantic
being imported by ``atr check`` when no policy file is given."""

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError as PydanticValidationError

from shared.checks.policy import ArchiveLimits, IgnoreRule, Policy
from shared.errors import ValidationError

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("document", "loc", "msg"),
    [
        ({"compiled_code": "sometimes"}, ("compiled_code",), "Input should be 'warning' or"),
        ({"archive": {"max_members": 0}}, ("archive", "max_members"), "greater than 0"),
        ({"archive": {"max_ratio": "lots"}}, ("archive", "max_ratio"), "valid number"),
        ({"archive": {"max_ratio": 1}}, ("archive", "max_ratio"), "greater than 1"),
        ({"podlin": True}, ("podlin",), "Extra inputs are not permitted"),
        ({"ignores": [{"check": "paths"}]}, ("ignores", 0, "reason"), "Field required"),
        ({"ignores": [{"check": "paths", "reason": ""}]}, ("ignores", 0, "reason"), "at least 1"),
        (
            {"ignores": [{"check": "paths", "reason": "r", "status": "pass"}]},
            ("ignores", 0, "status"),
            "Input should be 'blocker', 'warning' or 'note'",
        ),
        ({"license_header_excludes": [1]}, ("license_header_excludes", 0), "valid string"),
    ],
)
def test_documents_are_refused_with_pydantic_errors(
    document: dict[str, object], loc: tuple[object, ...], msg: str
) -> None:
    with pytest.raises(PydanticValidationError) as caught:
        Policy.model_validate(document)
    first = caught.value.errors()[0]
    assert first["loc"] == loc
    assert msg in first["msg"]


def test_documents_are_coerced_and_dumped_as_pydantic_does() -> None:
    document = {
        "podling": True,
        "archive": {"max_members": 10, "max_ratio": 5},
        "license_header_excludes": ["gen/*"],
        "ignores": [{"check": "paths", "path": "*", "reason": "kept"}],
    }
    policy = Policy.model_validate(document)
    assert policy.archive == ArchiveLimits(max_members=10, max_ratio=5.0)
    assert type(policy.archive.max_ratio) is float
    assert policy.license_header_excludes == ("gen/*",)
    assert policy.ignores == (IgnoreRule(check="paths", reason="kept"),)
    assert policy.model_dump(mode="json", exclude_defaults=True) == {
        "podling": True,
        "archive": {"max_members": 10, "max_ratio": 5.0},
        "license_header_excludes": ["gen/*"],
        "ignores": [{"check": "paths", "reason": "kept"}],
    }
    dumped = policy.model_dump()
    assert list(dumped) == [
        "podling",
        "compiled_code",
        "archive",
        "license_header_excludes",
        "license_header_mode",
        "license_header_missing",
        "ignores",
    ]
    assert dumped["license_header_excludes"] == ("gen/*",)
    assert dumped["ignores"] == ({"check": "paths", "path": "*", "reason": "kept", "status": None},)
    assert policy.model_dump(mode="json", include={"compiled_code"}) == {"compiled_code": "blocker"}
    assert "ignores" not in policy.model_dump(exclude={"ignores"})
    assert Policy.model_validate(policy.model_dump(mode="json")) == policy
    assert Policy().model_dump(exclude_defaults=True) == {}
    copy = policy.model_copy(update={"compiled_code": "warning"})
    assert copy.compiled_code == "warning" and policy.compiled_code == "blocker"
    assert pickle.loads(pickle.dumps(policy)) == policy
    assert hash(policy) == hash(Policy.model_validate(document))


def test_constructors_coerce_or_refuse_as_the_documents_do() -> None:
    assert ArchiveLimits(max_ratio=5).max_ratio == 5.0
    assert type(ArchiveLimits(max_ratio=5).max_ratio) is float
    assert Policy(archive={"max_depth": 3}).archive == ArchiveLimits(max_depth=3)  # type: ignore[arg-type]
    assert Policy(license_header_excludes=["a"]).license_header_excludes == ("a",)  # type: ignore[arg-type]
    with pytest.raises(PydanticValidationError, match="max_members"):
        ArchiveLimits(max_members=0)
    with pytest.raises(PydanticValidationError, match="reason"):
        IgnoreRule(check="paths", reason="")
    with pytest.raises(PydanticValidationError, match="compiled_code"):
        Policy(compiled_code="sometimes")  # type: ignore[arg-type]


def test_policy_files(tmp_path: Path) -> None:
    good = tmp_path / "policy.toml"
    good.write_text("podling = true\n[archive]\nmax_members = 7\n")
    assert Policy.load(good) == Policy(podling=True, archive=ArchiveLimits(max_members=7))
    bad = tmp_path / "policy.json"
    bad.write_text('{"archive": {"max_depth": -1}}')
    with pytest.raises(ValidationError, match=r"policy\.json: archive\.max_depth: Input should be"):
        Policy.load(bad)


def test_atr_check_without_a_policy_file_does_not_import_pydantic(tmp_path: Path) -> None:
    (tmp_path / "README.txt").write_text("hello\n")
    script = textwrap.dedent(
        """
        import sys
        from shared.cli import main
        sys.argv[1:] = ["check", sys.argv[1], "--json"]
        try:
            main()
        finally:
            sys.stderr.write("PYDANTIC %s\\n" % ("pydantic" in sys.modules))
        """
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert "PYDANTIC False" in proc.stderr
