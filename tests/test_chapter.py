"""What chapters import: the setup line, a chapter's recorded cost, the display names."""
import pytest
import torch

from discgrad.chapter import DISPLAY_NAMES, describe, display_name


def test_describe_names_scale_device_and_torch(monkeypatch):
    monkeypatch.setenv("DISCGRAD_SCALE", "smoke")
    line = describe()
    assert "scale=smoke" in line and "device=" in line and torch.__version__ in line


def test_describe_with_a_chapter_adds_its_recorded_cost(monkeypatch, tmp_path):
    import json

    monkeypatch.setenv("DISCGRAD_RESULTS", str(tmp_path))
    (tmp_path / "bench").mkdir()
    entries = [{"notebook": "notebooks/05_x", "scale": "smoke", "seconds": 12.2, "cpu_count": 2},
               {"notebook": "notebooks/05_x", "scale": "cpu", "seconds": 301.0, "cpu_count": 2}]
    (tmp_path / "bench" / "notebooks.json").write_text(json.dumps({"entries": entries}))
    first, second, third = describe("05_x").split("\n")
    assert first == describe()
    assert second == "recorded run time of this chapter (2 CPU cores, chapter 16):"
    assert third == "  12 s at smoke scale, 5 min 01 s at cpu scale"
    assert describe("06_y").endswith("no recorded run time for 06_y in results/bench/notebooks.json")


def test_display_names_read_like_the_book():
    assert display_name("identity_norm") == "Identity + P_norm"
    assert display_name("perturbed") == "Perturbed (Fenchel-Young)"
    assert display_name("tanh") == "tanh network (no discrete layer)"
    assert all(name and "_" not in name.replace("P_", "") for name in DISPLAY_NAMES.values())
    assert len(set(DISPLAY_NAMES.values())) == len(DISPLAY_NAMES), "two methods share a display name"


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="no display name for the method 'identity_foo'"):
        display_name("identity_foo")
