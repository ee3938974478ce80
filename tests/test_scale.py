import pytest
import torch

from discgrad.scale import SCALES, get_device, get_scale, pick


@pytest.mark.parametrize("value", SCALES)
def test_scale_reads_the_environment(monkeypatch, value):
    monkeypatch.setenv("DISCGRAD_SCALE", value.upper())
    assert get_scale() == value


def test_default_scale_follows_cuda(monkeypatch):
    monkeypatch.delenv("DISCGRAD_SCALE", raising=False)
    assert get_scale() == ("gpu" if torch.cuda.is_available() else "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_scale() == "gpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_scale() == "cpu"


def test_unknown_scale_names_the_allowed_values(monkeypatch):
    monkeypatch.setenv("DISCGRAD_SCALE", "huge")
    with pytest.raises(ValueError, match=r"'huge'.*allowed values are smoke, cpu, gpu"):
        get_scale()


def test_pick_uses_the_active_scale_and_requires_every_scale(monkeypatch):
    monkeypatch.setenv("DISCGRAD_SCALE", "smoke")
    assert pick({"smoke": 1, "cpu": 2, "gpu": 3}) == 1
    with pytest.raises(ValueError, match="missing: gpu"):
        pick({"smoke": 1, "cpu": 2})
    with pytest.raises(ValueError, match="not one of"):
        pick({"smoke": 1, "cpu": 2, "gpu": 3}, scale="tiny")


def test_device_override(monkeypatch):
    monkeypatch.setenv("DISCGRAD_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    monkeypatch.setenv("DISCGRAD_DEVICE", "banana")
    with pytest.raises(ValueError, match="DISCGRAD_DEVICE='banana'"):
        get_device()
    if not torch.cuda.is_available():
        monkeypatch.setenv("DISCGRAD_DEVICE", "cuda")
        with pytest.raises(ValueError, match="CUDA is not available"):
            get_device()
