"""Damaged or missing datasets end in a clean StitchError ("what is wrong ... Fix: ..."), and a
failed lookup leaves no MINARI_DATASETS_PATH folder behind. No network: minari's download is
monkeypatched (offline, the real call raises httpx's ConnectError after its retries)."""
import os
import types

import minari
import numpy as np
import pytest

from data import collect
from data.dataset import load_dataset, open_minari
from data.spec import StitchError
from tests.conftest import make_dataset, random_episode


def _episodes(n=3, length=20):
    rng = np.random.default_rng(0)
    return [random_episode(length, rng=rng) for _ in range(n)]


def _config(dataset_id):
    # load_dataset reads only these fields before it reads the episodes
    return types.SimpleNamespace(dataset=dataset_id, algo="bc")


def _data_dir(dataset_id):
    return os.path.join(os.environ["MINARI_DATASETS_PATH"], dataset_id, "data")


def test_truncated_hdf5_names_the_file_and_the_fix():
    make_dataset("faults/truncated-v0", _episodes())
    hdf5 = os.path.join(_data_dir("faults/truncated-v0"), "main_data.hdf5")
    with open(hdf5, "r+b") as f:
        f.truncate(os.path.getsize(hdf5) // 2)
    with pytest.raises(StitchError) as err:
        load_dataset(_config("faults/truncated-v0"))
    msg = str(err.value)
    assert hdf5 in msg and "damaged or truncated" in msg and "OSError" in msg
    assert msg.index("truncated") < msg.index("Fix:")
    assert "minari download faults/truncated-v0 --force" in msg and "backup" in msg
    assert err.value.__suppress_context__  # no chained h5py traceback


def test_our_own_validation_errors_are_not_rewrapped():
    episodes = _episodes()
    episodes[1] = random_episode(1)
    make_dataset("faults/short-v0", episodes)
    with pytest.raises(StitchError, match=r"episode 1 has 1 step\(s\)") as err:
        load_dataset(_config("faults/short-v0"))
    assert "damaged" not in str(err.value)


def test_missing_metadata_json_names_the_file_and_the_fix():
    make_dataset("faults/nometa-v0", _episodes())
    metadata = os.path.join(_data_dir("faults/nometa-v0"), "metadata.json")
    os.remove(metadata)
    with pytest.raises(StitchError) as err:
        open_minari("faults/nometa-v0")
    msg = str(err.value)
    assert f"its metadata file {metadata} is missing" in msg
    assert msg.index("missing") < msg.index("Fix:")


def test_missing_or_damaged_files_of_a_dataset_folder():
    make_dataset("faults/nohdf5-v0", _episodes())
    hdf5 = os.path.join(_data_dir("faults/nohdf5-v0"), "main_data.hdf5")
    os.remove(hdf5)
    with pytest.raises(StitchError, match="Fix:") as err:
        open_minari("faults/nohdf5-v0")
    assert f"its data file {hdf5} is missing" in str(err.value)

    make_dataset("faults/badmeta-v0", _episodes())
    metadata = os.path.join(_data_dir("faults/badmeta-v0"), "metadata.json")
    with open(metadata, "r+b") as f:
        f.truncate(os.path.getsize(metadata) // 2)
    with pytest.raises(StitchError, match="Fix:") as err:
        open_minari("faults/badmeta-v0")
    assert f"its metadata file {metadata} is damaged or truncated (JSONDecodeError" in str(err.value)


@pytest.mark.parametrize("failure", [
    ConnectionError("[Errno -2] Name or service not known"),
    ValueError("Couldn't find any version for dataset nowhere/thing in the remote Farama server."),
])
def test_unknown_id_says_not_found_locally_first_and_creates_no_root(tmp_path, monkeypatch, failure):
    root = tmp_path / "no-such-root"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    calls = []

    def offline_download(dataset_id, *args, **kwargs):
        calls.append(dataset_id)
        raise failure

    monkeypatch.setattr(minari, "download_dataset", offline_download)
    with pytest.raises(StitchError) as err:
        open_minari("nowhere/thing-v0")
    msg = str(err.value)
    assert calls == ["nowhere/thing-v0"]
    assert msg.startswith("Dataset 'nowhere/thing-v0' was not found locally")
    assert str(root) in msg and "which does not exist" in msg and "not a built-in" in msg
    reason = f"{type(failure).__name__}: {failure}"
    assert msg.index("not found locally") < msg.index(reason) < msg.index("Fix:")
    assert not root.exists()


def test_builtin_dataset_is_built_where_the_root_does_not_exist_yet(tmp_path, monkeypatch):
    root = tmp_path / "fresh-root"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    monkeypatch.setitem(collect.BUILTIN_DATASETS, "stitch/test/fresh-v0",
                        lambda dataset_id: make_dataset(dataset_id, _episodes()))
    assert open_minari("stitch/test/fresh-v0").total_episodes == 3
    assert (root / "stitch/test/fresh-v0/data/main_data.hdf5").exists()
    assert not [f for f in os.listdir(root) if f.startswith(".stitch-build-")]
    assert os.environ["MINARI_DATASETS_PATH"] == str(root)


def test_remote_id_is_downloaded_then_loaded(tmp_path, monkeypatch):
    root = tmp_path / "download-root"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    calls = []

    def fake_download(dataset_id, *args, **kwargs):  # what a successful download leaves behind
        calls.append(dataset_id)
        make_dataset(dataset_id, _episodes(n=4))

    monkeypatch.setattr(minari, "download_dataset", fake_download)
    dataset = open_minari("farama/remote/thing-v0")
    assert calls == ["farama/remote/thing-v0"]
    assert dataset.total_episodes == 4
    open_minari("farama/remote/thing-v0")  # now local: no second download
    assert calls == ["farama/remote/thing-v0"]
