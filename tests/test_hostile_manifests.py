"""Any manifest file gives utterances or a one-line DataError naming file:line, never another exception."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from asrkit.data.manifest import read_manifest
from asrkit.errors import AsrkitError, DataError

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
RECORDS = st.fixed_dictionaries(
    {},
    optional={
        "audio_filepath": st.one_of(
            st.text(max_size=20), st.sampled_from(["~", "~nobody-here/a", "~/\x00"]), JSON_VALUES
        ),
        "duration": st.one_of(st.floats(), st.integers(), JSON_VALUES),
        "text": st.one_of(st.text(max_size=20), JSON_VALUES),
        "offset": st.one_of(st.floats(), st.integers(), JSON_VALUES),
        "id": JSON_VALUES,
    },
)
LINES = st.one_of(
    RECORDS.map(lambda r: json.dumps(r, allow_nan=True)),
    JSON_VALUES.map(lambda v: json.dumps(v, allow_nan=True)),
    st.text(max_size=40).filter(lambda t: "\n" not in t and "\r" not in t),
    st.integers(1, 50_000).map(lambda n: "[" * n),
)


@settings(max_examples=200, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINES, max_size=5), raw=st.binary(max_size=20))
@example(lines=["[" * 100_000], raw=b"")
@example(lines=[json.dumps({"audio_filepath": "~no-such-user-x/a.flac", "duration": 1, "text": "a"})], raw=b"")
@example(lines=[json.dumps({"audio_filepath": "a\x00", "duration": 1, "text": "a"})], raw=b"")
@example(lines=[json.dumps({"audio_filepath": "a", "duration": 1, "text": ["x" * 10_000]})], raw=b"")
def test_any_manifest_gives_utterances_or_a_one_line_data_error(tmp_path: Path, lines: list[str], raw: bytes) -> None:
    path = tmp_path / "any.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + raw)
    try:
        utterances = list(read_manifest(path))
    except DataError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600, str(exc)[:1000]
        assert str(exc).startswith((f"{path}:", f"cannot read manifest {path}"))
        return
    except AsrkitError as exc:  # pragma: no cover - a different asrkit error is still a failure here
        pytest.fail(f"expected DataError, got {type(exc).__name__}: {exc}")
    for utterance in utterances:
        assert utterance.duration >= 0 and utterance.offset >= 0 and isinstance(utterance.text, str)
