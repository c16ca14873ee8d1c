"""huggingface_hub 0.24 (the real Python client) against the project's Hub double: what truecast publishes
downloads byte for byte with snapshot_download and hf_hub_download, get_safetensors_metadata reads the dtypes
truecast wrote, and HfApi.upload_folder (the Python client's own preupload / LFS batch / multipart / verify /
NDJSON commit) succeeds against the double, so the double speaks the protocol the real client speaks.

The double runs with small LFS limits (multipart above 16 KiB, 8 KiB parts) and a verify action, so both
clients' multipart and verify paths are taken by these tiny models.
"""
import hashlib
from pathlib import Path

import pytest
import torch

from hub_support import cli_env, online, serve_double
from truecast_cli import export, truecast

DOUBLE_ARGS = ["--multipart-threshold", "16384", "--part-size", "8192", "--verify-action"]


@pytest.fixture(scope="module")
def hub():
    with serve_double(*DOUBLE_ARGS) as h:
        yield h


@pytest.fixture
def hf(hub, monkeypatch, tmp_path):
    with online(monkeypatch, tmp_path / "hf-cache", hub["url"]):
        yield


def files_of(folder):
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def published(hub, hf_model, tmp_path_factory):
    """Two repos published by truecast: a bf16 export in one file, and a float16 export in three shards."""
    src = hf_model("llama", dtype=torch.bfloat16)
    root = tmp_path_factory.mktemp("hub-published")
    repos = {}
    for name, args in {"one": [], "sharded": ["--dtype", "float16", "--max-shard-size", "30KB"]}.items():
        out = root / name
        export(src, out, "--quiet", *args)
        repo = f"{hub['user']}/tiny-{name}"
        truecast("publish", out, repo, "--endpoint", hub["url"], "--public", "--quiet", env=cli_env(hub))
        repos[name] = (repo, out)
    assert (repos["sharded"][1] / "model.safetensors.index.json").is_file()
    assert len(list(repos["sharded"][1].glob("model-*-of-*.safetensors"))) >= 2
    return repos


@pytest.mark.parametrize("name", ["one", "sharded"])
def test_snapshot_download_gives_the_published_bytes(hub, published, hf, tmp_path, name):
    from huggingface_hub import snapshot_download
    repo, out = published[name]
    got = Path(snapshot_download(repo, endpoint=hub["url"], token=hub["readToken"], cache_dir=tmp_path / "c"))
    local, remote = files_of(out), files_of(got)
    assert set(remote) == set(local) | {".gitattributes"}, sorted(set(remote) ^ set(local))
    for path, data in local.items():
        assert remote[path] == data, f"{path}: downloaded bytes differ"


def test_hf_hub_download_single_files_with_their_etags(hub, published, hf, tmp_path):
    from huggingface_hub import HfApi, hf_hub_download
    repo, out = published["one"]
    for path in ["model.safetensors", "config.json"]:
        got = hf_hub_download(repo, path, endpoint=hub["url"], token=hub["readToken"], cache_dir=tmp_path / "c")
        assert Path(got).read_bytes() == (out / path).read_bytes()
    meta = HfApi(endpoint=hub["url"], token=hub["readToken"]).get_hf_file_metadata(
        url=f"{hub['url']}/{repo}/resolve/main/model.safetensors")
    assert meta.etag == hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    assert meta.size == (out / "model.safetensors").stat().st_size
    assert len(meta.commit_hash) == 40


@pytest.mark.parametrize("name,dtype", [("one", "BF16"), ("sharded", "F16")])
def test_get_safetensors_metadata_gives_the_written_dtypes(hub, published, hf, name, dtype):
    from huggingface_hub import HfApi
    from safetensors import safe_open
    repo, out = published[name]
    meta = HfApi(endpoint=hub["url"], token=hub["readToken"]).get_safetensors_metadata(repo)
    shards = sorted(p.name for p in out.glob("*.safetensors"))
    assert meta.sharded == (name == "sharded")
    assert sorted(meta.files_metadata) == shards
    expected = {}
    for shard in shards:
        with safe_open(str(out / shard), framework="pt") as f:
            for k in f.keys():
                t = f.get_slice(k)
                expected[k] = (t.get_dtype(), t.get_shape())
    got = {k: (t.dtype, t.shape) for fm in meta.files_metadata.values() for k, t in fm.tensors.items()}
    assert got == expected
    assert {d for d, _ in got.values()} == {dtype}
    assert meta.parameter_count == {dtype: sum(torch.Size(s).numel() for _, s in expected.values())}


def test_upload_folder_with_the_python_client(hub, published, hf, tmp_path):
    """HfApi.create_repo + upload_folder: regular files inline, safetensors through LFS (multipart here, with the
    verify action), one NDJSON commit; then the repo lists and downloads as uploaded, and truecast's own remote
    verification (an hf:// inspect reads the headers in place) agrees."""
    from huggingface_hub import HfApi, snapshot_download
    _, out = published["sharded"]
    assert any(p.stat().st_size > 16384 for p in out.glob("*.safetensors"))  # at least one multipart upload
    api = HfApi(endpoint=hub["url"], token=hub["token"])
    assert api.whoami()["name"] == hub["user"]
    repo = f"{hub['user']}/uploaded-by-python"
    url = api.create_repo(repo, private=True)
    assert url.repo_id == repo
    info = api.upload_folder(folder_path=out, repo_id=repo, commit_message="upload from huggingface_hub")
    assert len(info.oid) == 40
    assert api.repo_info(repo).sha == info.oid
    listed = {f.path: f for f in api.list_repo_tree(repo, recursive=True)}
    local = files_of(out)
    assert set(listed) == set(local) | {".gitattributes"}
    for path, data in local.items():
        assert listed[path].size == len(data)
        if path.endswith(".safetensors"):
            assert listed[path].lfs.sha256 == hashlib.sha256(data).hexdigest()
    got = Path(snapshot_download(repo, endpoint=hub["url"], token=hub["token"], cache_dir=tmp_path / "c"))
    remote = files_of(got)
    assert all(remote[p] == d for p, d in local.items())
    # a second upload of the same folder: every LFS object is already stored, the commit still lands
    again = api.upload_folder(folder_path=out, repo_id=repo, commit_message="again")
    assert len(again.oid) == 40 and api.repo_info(repo).sha == again.oid
    # a pull request: the commit lands on refs/pr/1, main stays where it was
    extra = tmp_path / "pr"
    extra.mkdir()
    (extra / "notes.txt").write_text("from a pull request\n")
    pr = api.upload_folder(folder_path=extra, repo_id=repo, create_pr=True, commit_message="a PR")
    assert pr.pr_revision == "refs/pr/1"
    assert api.repo_info(repo).sha == again.oid
    got = Path(snapshot_download(repo, revision="refs/pr/1", endpoint=hub["url"], token=hub["token"],
                                 cache_dir=tmp_path / "c2"))
    assert (got / "notes.txt").read_text() == "from a pull request\n"
    assert (got / "config.json").read_bytes() == local["config.json"]
