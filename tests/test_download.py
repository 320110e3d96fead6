"""Tests for the download stage, against a real HTTP server on 127.0.0.1 and real local files."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from _download_fixtures import (
    FixtureServer,
    Route,
    all_files,
    closed_port_url,
    leftovers,
    sha256,
    tar_bytes,
    zip_bytes,
)
from conftest import SHARED_DATA
from writing_alpaca import download
from writing_alpaca.download import FetchOptions, download_source, extract_archive, resolve_url
from writing_alpaca.errors import WritingAlpacaError

SHARED = SHARED_DATA  # tests reading it are marked real_data
FAST = FetchOptions(attempts=3, base_delay=0.01, timeout=10)
PAYLOAD = "naïve text\nline 2\n".encode() * 50


@pytest.fixture
def server():
    with FixtureServer() as srv:
        yield srv


@pytest.fixture
def no_network(monkeypatch):
    """Fail any socket connection that is not to 127.0.0.1 / a Unix socket."""
    real_connect = socket.socket.connect

    def guarded(self, address):
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"network access attempted: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


def manifest(out: Path) -> dict:
    return json.loads((out / "MANIFEST.json").read_text(encoding="utf-8"))


def assert_absent(out: Path) -> None:
    """The output directory and any temporary sibling are gone."""
    assert not out.exists()
    assert leftovers(out.parent) == [], leftovers(out.parent)


# --------------------------------------------------------------------------- resolve_url


def test_resolve_url(tmp_path):
    base = tmp_path / "wf dir"
    assert resolve_url("file:data/a.txt", base) == (base / "data" / "a.txt").as_uri()
    assert resolve_url("file:../x/a.txt", base) == (tmp_path / "x" / "a.txt").as_uri()
    assert resolve_url("file:/abs/a.txt", base) == "file:///abs/a.txt"
    assert "%20" in resolve_url("file:data/a.txt", base)  # the space is quoted
    for untouched in ("file:///abs/a.txt", "https://example.org/a.zip", "http://h/x?y=1"):
        assert resolve_url(untouched, base) == untouched


# --------------------------------------------------------------------------- plain files


def test_http_file_pinned(server, tmp_path):
    url = server.add("/data/a.txt", Route(PAYLOAD))
    out = tmp_path / "src"
    spec = {"files": [{"url": url, "sha256": sha256(PAYLOAD), "name": "a.txt", "extract": False}], "licence": "CC0"}
    result = download_source("src", spec, out, options=FAST)
    assert (out / "a.txt").read_bytes() == PAYLOAD
    assert sorted(all_files(out)) == ["MANIFEST.json", "a.txt"]
    m = manifest(out)
    assert m == result
    assert m["source"] == "src" and m["kind"] == "files" and m["licence"] == "CC0"
    assert m["files"] == [
        {"name": "a.txt", "size": len(PAYLOAD), "sha256": sha256(PAYLOAD), "pinned": True, "url": url}
    ]
    assert m["contents"] == {"a.txt": {"size": len(PAYLOAD), "sha256": sha256(PAYLOAD)}}
    # the verified download is also kept, hard-linked, beside it (download.kept_dir)
    assert leftovers(tmp_path, keep=("src",)) == [".src.last-good"]
    assert (tmp_path / ".src.last-good" / "a.txt").stat().st_ino == (out / "a.txt").stat().st_ino


def test_unpinned_file_warns_with_hash_and_defaults(server, tmp_path, caplog):
    url = server.add("/dir/b%20c.txt", Route(b"abc", send_length=False))
    out = tmp_path / "src"
    with caplog.at_level(logging.WARNING, logger="writing_alpaca.download"):
        download_source("src", {"files": [{"url": url}]}, out, options=FAST)
    # name defaults to the unquoted last URL component; sha256 to null (not pinned)
    assert (out / "b c.txt").read_bytes() == b"abc"
    assert manifest(out)["files"][0]["pinned"] is False
    assert sha256(b"abc") in caplog.text and "not pinned" in caplog.text


def test_file_names_with_subdirectories(server, tmp_path):
    url = server.add("/x", Route(b"x\n"))
    out = tmp_path / "src"
    download_source(
        "src", {"files": [{"url": url, "name": "test/test.src", "sha256": sha256(b"x\n")}]}, out, options=FAST
    )
    assert (out / "test" / "test.src").read_bytes() == b"x\n"


def test_file_url_and_relative_resolution(tmp_path, no_network):
    data = tmp_path / "upstream" / "my file.m2"
    data.parent.mkdir()
    data.write_bytes(PAYLOAD)
    out = tmp_path / "out" / "src"
    url = resolve_url("file:upstream/my file.m2", tmp_path)
    download_source("src", {"files": [{"url": url, "sha256": sha256(PAYLOAD)}]}, out, options=FAST)
    assert (out / "my file.m2").read_bytes() == PAYLOAD
    assert manifest(out)["files"][0]["url"] == url


def test_missing_file_url_fails_at_once(tmp_path, monkeypatch):
    sleeps: list[float] = []
    monkeypatch.setattr(download.time, "sleep", sleeps.append)
    out = tmp_path / "src"
    url = (tmp_path / "absent.txt").as_uri()
    with pytest.raises(WritingAlpacaError, match=r"cannot download file://.*absent\.txt: No such file"):
        download_source("src", {"files": [{"url": url}]}, out, options=FAST)
    assert sleeps == []  # a local file is not retried
    assert_absent(out)


@pytest.mark.real_data
def test_real_data_pinned_from_provenance(tmp_path, server):
    """Pins copied from shared/data PROVENANCE.md verify the real files (file:// and HTTP)."""
    conll = SHARED / "conll2014" / "official-2014.combined.m2"
    jfleg = SHARED / "jfleg" / "test" / "test.src"
    assert conll.is_file() and jfleg.is_file(), f"shared data missing under {SHARED}"
    spec = {
        "files": [
            {
                "url": conll.as_uri(),
                "sha256": "07771f4653844f2732e1d93a5711181995ff2ae0828016a276ad1e7335c96085",
                "name": "conll14st-test-data/noalt/official-2014.combined.m2",
            },
            {
                "url": server.add("/jfleg/test.src", Route(jfleg.read_bytes())),
                "sha256": "893db119162487aa7f956b65978453576919e6797cd6c1955f93b7a8b9f4bbd8",
                "name": "test/test.src",
            },
        ]
    }
    out = tmp_path / "real"
    download_source("real", spec, out, options=FAST)
    sizes = {f["name"]: f["size"] for f in manifest(out)["files"]}
    assert sizes == {"conll14st-test-data/noalt/official-2014.combined.m2": 438492, "test/test.src": 72684}
    assert len((out / "test" / "test.src").read_text(encoding="utf-8").splitlines()) == 747


# --------------------------------------------------------------------------- failures


def test_sha_mismatch_deletes_and_names_everything(server, tmp_path):
    wrong = b"not the file you pinned\n"
    url = server.add("/a.txt", Route(wrong))
    out = tmp_path / "src"
    expected = sha256(PAYLOAD)
    with pytest.raises(WritingAlpacaError) as err:
        download_source("src", {"files": [{"url": url, "sha256": expected.upper()}]}, out, options=FAST)
    msg = str(err.value)
    assert url in msg and expected in msg and sha256(wrong) in msg and "\n" not in msg
    assert_absent(out)


def test_http_404_is_not_retried(server, tmp_path):
    url = server.url("/missing.zip")
    out = tmp_path / "src"
    with pytest.raises(WritingAlpacaError, match=r"cannot download http://127\.0\.0\.1:\d+/missing\.zip: HTTP 404"):
        download_source("src", {"files": [{"url": url, "sha256": None}]}, out, options=FAST)
    assert_absent(out)


def test_dropped_connection_is_retried_then_fails(server, tmp_path):
    route = Route(PAYLOAD, truncate_to=100)
    url = server.add("/big.bin", route)
    out = tmp_path / "src"
    with pytest.raises(WritingAlpacaError, match=r"after 3 attempt\(s\)") as err:
        download_source("src", {"files": [{"url": url}]}, out, options=FAST)
    assert url in str(err.value)
    assert route.hits == 3
    assert_absent(out)


def test_incomplete_body_never_reaches_destination(server, tmp_path):
    url = server.add("/big.bin", Route(PAYLOAD, truncate_to=10))
    dest = tmp_path / "dl" / "big.bin"
    with pytest.raises(WritingAlpacaError):
        download.fetch_url(url, dest, FetchOptions(attempts=1))
    assert leftovers(dest.parent) == []  # neither the file nor its .part


@pytest.mark.parametrize("mode", ["503", "drop"])
def test_flaky_server_succeeds_after_retries(server, tmp_path, mode, monkeypatch):
    sleeps: list[float] = []
    monkeypatch.setattr(download.time, "sleep", sleeps.append)
    route = Route(PAYLOAD, fail_first=2, fail_mode=mode)
    url = server.add("/flaky.txt", route)
    out = tmp_path / "src"
    download_source(
        "src",
        {"files": [{"url": url, "sha256": sha256(PAYLOAD)}]},
        out,
        options=FetchOptions(attempts=4, base_delay=0.5),
    )
    assert (out / "flaky.txt").read_bytes() == PAYLOAD
    assert route.hits == 3
    assert sleeps == [0.5, 1.0]


def test_stalled_server_times_out_and_is_retried(server, tmp_path):
    route = Route(PAYLOAD, stall=1.0)
    url = server.add("/slow.txt", route)
    out = tmp_path / "src"
    with pytest.raises(WritingAlpacaError, match=r"after 2 attempt\(s\): .*timed out"):
        download_source(
            "src", {"files": [{"url": url}]}, out, options=FetchOptions(attempts=2, base_delay=0, timeout=0.2)
        )
    assert route.hits == 2
    assert_absent(out)


def test_unreachable_host_exponential_backoff(tmp_path, monkeypatch):
    sleeps: list[float] = []
    monkeypatch.setattr(download.time, "sleep", sleeps.append)
    url = closed_port_url()
    out = tmp_path / "src"
    options = FetchOptions(attempts=5, base_delay=3.0, max_delay=20.0)
    with pytest.raises(WritingAlpacaError, match=r"after 5 attempt\(s\): .*[Rr]efused"):
        download_source("src", {"files": [{"url": url}]}, out, options=options)
    assert sleeps == [3.0, 6.0, 12.0, 20.0]  # doubled, capped at max_delay
    assert_absent(out)


def test_failure_keeps_previous_output(server, tmp_path):
    out = tmp_path / "src"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(WritingAlpacaError):
        download_source("src", {"files": [{"url": server.url("/nope")}]}, out, options=FAST)
    assert sorted(all_files(out)) == ["old.txt"]
    download_source("src", {"files": [{"url": server.add("/new", Route(b"new"))}]}, out, options=FAST)
    assert sorted(all_files(out)) == ["MANIFEST.json", "new"]
    assert leftovers(tmp_path, keep=("src", ".src.last-good")) == []


# --------------------------------------------------------------------------- archives

MEMBERS = {"pkg/readme.txt": b"hello\n", "pkg/data/train.json": b'{"a": 1}\n', "top.tsv": b"x\ty\n"}


@pytest.mark.parametrize(
    "name,make",
    [
        ("d.tar.gz", lambda: tar_bytes(MEMBERS, "w:gz")),
        ("d.tgz", lambda: tar_bytes(MEMBERS, "w:gz")),
        ("d.tar.bz2", lambda: tar_bytes(MEMBERS, "w:bz2")),
        ("d.tar", lambda: tar_bytes(MEMBERS, "w")),
        ("d.zip", lambda: zip_bytes({**MEMBERS, "__MACOSX/pkg/._readme.txt": b"junk"})),
    ],
)
def test_archive_extracted_and_deleted(server, tmp_path, name, make):
    blob = make()
    url = server.add(f"/{name}", Route(blob))
    out = tmp_path / "src"
    download_source(
        "src", {"files": [{"url": url, "sha256": sha256(blob), "name": name, "extract": True}]}, out, options=FAST
    )
    for member, data in MEMBERS.items():
        assert (out / member).read_bytes() == data
    assert sorted(all_files(out)) == sorted(["MANIFEST.json", *MEMBERS])  # archive deleted, no __MACOSX
    entry = manifest(out)["files"][0]
    assert entry["sha256"] == sha256(blob) and entry["size"] == len(blob)
    assert entry["archive"] == {"members": 3, "kept": False, "files": list(MEMBERS)}
    # every extracted member is hashed too, so that data can verify what it reads
    assert manifest(out)["contents"] == {m: {"size": len(d), "sha256": sha256(d)} for m, d in sorted(MEMBERS.items())}


def test_keep_archives(server, tmp_path):
    blob = zip_bytes(MEMBERS)
    url = server.add("/d.zip", Route(blob))
    out = tmp_path / "src"
    download_source("src", {"files": [{"url": url, "extract": True}]}, out, options=FAST, keep_archives=True)
    assert (out / "d.zip").read_bytes() == blob
    assert manifest(out)["files"][0]["archive"]["kept"] is True


@pytest.mark.parametrize(
    "name,blob,needle",
    [
        ("evil.tar.gz", tar_bytes({"ok.txt": b"1", "../evil.txt": b"x"}), "unsafe member path '../evil.txt'"),
        ("evil2.tar.gz", tar_bytes({"a/../../evil.txt": b"x"}), "unsafe member path"),
        ("abs.tar", tar_bytes({"/tmp/evil.txt": b"x"}, "w"), "unsafe member path '/tmp/evil.txt'"),
        ("link.tar.gz", tar_bytes({"ok.txt": b"1"}, links={"l": "../../evil.txt"}), "points outside"),
        ("abslink.tar.gz", tar_bytes({}, links={"l": "/etc/passwd"}), "points outside"),
        ("evil.zip", zip_bytes({"ok.txt": b"1", "../../evil.txt": b"x"}), "unsafe member path '../../evil.txt'"),
        ("abs.zip", zip_bytes({"/evil.txt": b"x"}), "unsafe member path '/evil.txt'"),
        ("clash.zip", zip_bytes({"MANIFEST.json": b"{}"}), "would overwrite"),
        ("bad.tar.gz", b"\x1f\x8b this is not gzip", "bad archive"),
        ("bad.zip", b"PK\x03\x04 truncated", "bad archive"),
    ],
)
def test_unsafe_or_bad_archives_rejected(server, tmp_path, name, blob, needle):
    url = server.add(f"/{name}", Route(blob))
    work = tmp_path / "work"
    work.mkdir()
    out = work / "src"
    with pytest.raises(WritingAlpacaError, match="refusing|points outside|would overwrite|bad archive") as err:
        download_source("src", {"files": [{"url": url, "extract": True}]}, out, options=FAST)
    assert needle in str(err.value) and name in str(err.value)
    assert_absent(out)
    assert sorted(all_files(tmp_path)) == []  # nothing escaped anywhere


def test_archive_member_may_not_overwrite_other_download(server, tmp_path):
    blob = zip_bytes({"a.txt": b"from zip"})
    spec = {
        "files": [
            {"url": server.add("/a.txt", Route(b"plain")), "name": "a.txt"},
            {"url": server.add("/d.zip", Route(blob)), "extract": True},
        ]
    }
    with pytest.raises(WritingAlpacaError, match="d.zip: member 'a.txt' would overwrite"):
        download_source("src", spec, tmp_path / "src", options=FAST)


def test_extract_archive_directly(tmp_path):
    arc = tmp_path / "x.tar.gz"
    arc.write_bytes(tar_bytes({"./a/b.txt": b"b"}, links={"a/link": "b.txt"}))
    dest = tmp_path / "dest"
    dest.mkdir()
    files = extract_archive(arc, dest)
    assert files == ["a/b.txt", "a/link"]
    assert (dest / "a" / "link").read_bytes() == b"b"


# --------------------------------------------------------------------------- gated sources

GATED = {
    "gated": {"request": "https://forms.example/lang8", "place": "put clang8_source_target_en.spacy_tokenized.tsv"},
    "files": [{"name": "clang8.tsv", "sha256": sha256(b"src\ttgt\n")}, {"name": "extra/readme.txt", "sha256": None}],
    "licence": "Lang-8: research only",
}


def test_gated_without_a_file_list_says_nothing_is_placed_yet(tmp_path, no_network):
    spec = {k: v for k, v in GATED.items() if k != "files"}
    manual = tmp_path / "resources" / "manual" / "clang8"
    with pytest.raises(WritingAlpacaError) as err:
        download_source("clang8", spec, tmp_path / "downloads" / "clang8", manual_dir=manual)
    msg = str(err.value)
    assert f"Put it in {manual.resolve()}/ (nothing is there yet) and run again" in msg, msg
    assert "(any file)" not in msg


def test_gated_missing_gives_instructions(tmp_path, no_network):
    manual = tmp_path / "resources" / "manual" / "clang8"
    out = tmp_path / "downloads" / "clang8"
    with pytest.raises(WritingAlpacaError) as err:
        download_source("clang8", GATED, out, manual_dir=manual)
    msg = str(err.value)
    assert "licence-gated" in msg and "https://forms.example/lang8" in msg and GATED["gated"]["place"] in msg
    assert "How to get it: " in msg and "request it at" not in msg and "(any file)" not in msg
    assert str(manual.resolve()) in msg and "clang8.tsv" in msg and "extra/readme.txt" in msg
    assert "\n" not in msg
    assert_absent(out)


def test_gated_default_manual_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WritingAlpacaError, match=r"resources/manual/clang8/"):
        download_source("clang8", GATED, tmp_path / "out")


def test_gated_placed_is_verified_and_copied(tmp_path, no_network):
    manual = tmp_path / "manual"
    (manual / "extra").mkdir(parents=True)
    (manual / "clang8.tsv").write_bytes(b"src\ttgt\n")
    (manual / "extra" / "readme.txt").write_text("hi")
    out = tmp_path / "src"
    download_source("clang8", GATED, out, manual_dir=manual)
    assert (out / "clang8.tsv").read_bytes() == b"src\ttgt\n"
    assert (out / "extra" / "readme.txt").read_text() == "hi"
    m = manifest(out)
    assert m["kind"] == "gated" and m["licence"] == "Lang-8: research only"
    assert [(f["name"], f["pinned"], f["placed"]) for f in m["files"]] == [
        ("clang8.tsv", True, str((manual / "clang8.tsv").resolve())),
        ("extra/readme.txt", False, str((manual / "extra" / "readme.txt").resolve())),
    ]
    assert (manual / "clang8.tsv").is_file()  # the user's files stay


def test_gated_placed_with_wrong_hash(tmp_path):
    manual = tmp_path / "manual"
    (manual / "extra").mkdir(parents=True)
    (manual / "clang8.tsv").write_bytes(b"tampered\n")
    (manual / "extra" / "readme.txt").write_text("hi")
    out = tmp_path / "work" / "src"
    with pytest.raises(WritingAlpacaError, match=r"sha256 mismatch for placed file .*clang8\.tsv"):
        download_source("clang8", GATED, out, manual_dir=manual)
    assert_absent(out)
    assert (manual / "clang8.tsv").read_bytes() == b"tampered\n"


def test_gated_without_file_list_takes_everything_and_extracts_listed_archives(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "a.m2").write_text("S x\n")
    (manual / "b.m2").write_text("S y\n")
    out = tmp_path / "src"
    download_source("conll10", {"gated": {"request": "NUS", "place": "put the m2 files"}}, out, manual_dir=manual)
    assert sorted(all_files(out)) == ["MANIFEST.json", "a.m2", "b.m2"]
    # a listed archive placed by the user is extracted like a download
    (manual / "ann.zip").write_bytes(zip_bytes({"ann/10gec.m2": b"S z\n"}))
    spec = {"gated": {"request": "NUS", "place": "put ann.zip"}, "files": [{"name": "ann.zip", "extract": True}]}
    download_source("conll10", spec, out, manual_dir=manual)
    assert sorted(all_files(out)) == ["MANIFEST.json", "ann/10gec.m2"]


# --------------------------------------------------------------------------- Hugging Face datasets


def test_hf_save_to_disk_dataset_and_dict(tmp_path, no_network):
    import datasets

    rows = {"instruction": ["Fix it.", "Simplify."], "input": ["a é", "b"], "output": ["A é", "B"]}
    ds = datasets.Dataset.from_dict(rows)
    ds.save_to_disk(str(tmp_path / "single"))
    datasets.DatasetDict({"train": ds, "test": ds.select([1])}).save_to_disk(str(tmp_path / "dict"))

    out = tmp_path / "alpaca"
    download_source(
        "alpaca",
        {"hf": {"path": str(tmp_path / "single"), "name": None, "split": "train", "file": "alpaca.jsonl"}},
        out,
    )
    lines = (out / "alpaca.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in lines] == [
        {"instruction": "Fix it.", "input": "a é", "output": "A é"},
        {"instruction": "Simplify.", "input": "b", "output": "B"},
    ]
    assert "a é" in lines[0]  # UTF-8, not \u escapes
    entry = manifest(out)["files"][0]
    assert (
        entry["rows"] == 2
        and entry["hf"]["split"] == "train"
        and entry["sha256"] == download.sha256_file(out / "alpaca.jsonl")
    )

    out2 = tmp_path / "alpaca_test"
    download_source("x", {"hf": {"path": (tmp_path / "dict").as_uri(), "split": "test", "file": "t.jsonl"}}, out2)
    assert [json.loads(x)["input"] for x in (out2 / "t.jsonl").read_text().splitlines()] == ["b"]
    with pytest.raises(WritingAlpacaError, match="no split 'dev' \\(has: train, test\\)"):
        download_source("x", {"hf": {"path": str(tmp_path / "dict"), "split": "dev"}}, tmp_path / "o3")


@pytest.mark.real_data
def test_hf_real_local_json_lines_file(tmp_path, no_network):
    """The real IteraTeR-HUMAN test split (a JSON-lines file) through the `hf` form."""
    path = SHARED / "iterater" / "human_sent_level" / "test.json"
    assert path.is_file(), f"shared data missing: {path}"
    out = tmp_path / "iterater"
    download_source("iterater", {"hf": {"path": str(path), "split": "test", "file": "test.jsonl"}}, out)
    records = [json.loads(x) for x in (out / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == 364
    assert sorted(all_files(out)) == ["MANIFEST.json", "test.jsonl"]  # no Arrow scratch left behind
    assert sum(r["labels"] == "fluency" for r in records) == 88
    assert {"before_sent", "after_sent", "labels"} <= set(records[0])


def test_hf_builder_with_data_files(tmp_path, no_network):
    csv = tmp_path / "pairs.csv"
    csv.write_text("source,target\nteh cat,the cat\n", encoding="utf-8")
    out = tmp_path / "o"
    download_source(
        "pairs", {"hf": {"path": "csv", "data_files": {"train": str(csv)}, "split": "train", "file": "p.jsonl"}}, out
    )
    assert json.loads((out / "p.jsonl").read_text()) == {"source": "teh cat", "target": "the cat"}
    assert manifest(out)["files"][0]["hf"]["data_files"] == {"train": str(csv)}


def _run_offline(code: str, env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=240
    )


def test_hf_hub_id_offline_from_cache(tmp_path):
    """A Hub id is read from the datasets cache when HF_DATASETS_OFFLINE=1 (no network involved)."""
    import datasets

    cache = tmp_path / "hf_cache"
    src = tmp_path / "rows.jsonl"
    src.write_text('{"instruction": "Say hi.", "input": "", "output": "hi"}\n', encoding="utf-8")
    # Lay out the cache the way a previous online load_dataset("tiny-org/tiny-alpaca") leaves it.
    ds = datasets.load_dataset("json", data_files=str(src), split="train", cache_dir=str(cache / "build"))
    built = Path(ds.cache_files[0]["filename"]).parent
    target = cache / "tiny-org___tiny-alpaca" / "default" / "0.0.0" / "0123abcd"
    shutil.copytree(built, target, ignore=shutil.ignore_patterns("*.lock"))
    (target / "json-train.arrow").rename(target / "tiny-alpaca-train.arrow")
    del ds

    out = tmp_path / "out"
    code = f"""
        import json
        from writing_alpaca.download import download_source
        from writing_alpaca.errors import WritingAlpacaError
        download_source("alpaca", {{"hf": {{"path": "tiny-org/tiny-alpaca", "split": "train", "file": "a.jsonl"}}}}, {str(out)!r})
        try:
            download_source("other", {{"hf": {{"path": "nobody/not-cached", "split": "train"}}}}, {str(tmp_path / "o2")!r})
        except WritingAlpacaError as exc:
            print("ERROR:", exc)
    """
    proc = _run_offline(
        code, {"HF_DATASETS_OFFLINE": "1", "HF_DATASETS_CACHE": str(cache), "HF_HOME": str(tmp_path / "home")}
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "a.jsonl").read_text()) == {"instruction": "Say hi.", "input": "", "output": "hi"}
    error = [line for line in proc.stdout.splitlines() if line.startswith("ERROR:")]
    assert len(error) == 1 and "cannot load Hugging Face dataset 'nobody/not-cached'" in error[0]
    assert not (tmp_path / "o2").exists()


# --------------------------------------------------------------------------- spec validation and CLI


def test_relative_file_urls_resolve_as_the_workflow_means_them(tmp_path, monkeypatch):
    """The rules pass the config's relative `file:` URLs (a moved checkout reruns no download):
    `resources/...` against the working directory, the rest against the workflow's root."""
    from writing_alpaca.download import WORKFLOW_ROOT_ENV, resolve_source_urls

    root, work = tmp_path / "checkout", tmp_path / "work"
    for path, text in ((root / "demo" / "a.txt", b"demo\n"), (work / "resources" / "r" / "b.txt", b"standin\n")):
        path.parent.mkdir(parents=True)
        path.write_bytes(text)
    monkeypatch.chdir(work)
    monkeypatch.setenv(WORKFLOW_ROOT_ENV, str(root))
    spec = {"files": [{"url": "file:demo/a.txt", "sha256": sha256(b"demo\n")}, {"url": "file:resources/r/b.txt"}]}
    resolved = resolve_source_urls(spec)
    assert [f["url"] for f in resolved["files"]] == [
        (root / "demo" / "a.txt").as_uri(),
        (work / "resources" / "r" / "b.txt").as_uri(),
    ]
    assert spec["files"][0]["url"] == "file:demo/a.txt"  # not changed in place
    download_source("s", spec, work / "out")
    assert (work / "out" / "a.txt").read_bytes() == b"demo\n" and (work / "out" / "b.txt").read_bytes() == b"standin\n"


@pytest.mark.parametrize(
    "spec,needle",
    [
        ({}, "missing key 'files' or 'hf'"),
        ({"files": []}, "non-empty list"),
        ({"files": [{"name": "a"}]}, "sources.s.files[0]: missing key 'url'"),
        ({"files": [{"url": "https://h/a", "sha265": None}]}, "unknown key(s) sha265"),
        ({"files": [{"url": "https://h/a", "sha256": "abc"}]}, "sources.s.files[0].sha256: expected 64 hex digits"),
        ({"files": [{"url": "ftp://h/a"}]}, "unsupported URL"),
        ({"files": [{"url": "https://h/a", "name": "../a"}]}, "relative path without '..'"),
        ({"files": [{"url": "https://h/a", "name": "/etc/a"}]}, "relative path without '..'"),
        ({"files": [{"url": "https://h/a", "name": "MANIFEST.json"}]}, "reserved"),
        ({"files": [{"url": "https://h/a", "extract": True}]}, "not a known archive type"),
        ({"files": [{"url": "https://h/a"}, {"url": "https://g/a"}]}, "listed twice"),
        ({"files": [{"url": "https://h/a"}], "hf": {"path": "x"}}, "either 'files' or 'hf'"),
        ({"hf": {"split": "train"}}, "sources.s.hf: missing key 'path'"),
        ({"gated": {"request": "x"}}, "sources.s.gated: missing key 'place'"),
        ({"files": "https://h/a"}, "non-empty list"),
        ([1, 2], "expected a mapping"),
    ],
)
def test_spec_errors(spec, needle, tmp_path):
    with pytest.raises(WritingAlpacaError) as err:
        download_source("s", spec, tmp_path / "out")
    assert needle in str(err.value)
    assert not (tmp_path / "out").exists()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="writing-alpaca")
    download.register(parser.add_subparsers(dest="command"))
    return parser


def test_cli_download(server, tmp_path):
    blob = tar_bytes(MEMBERS)
    spec = {
        "files": [{"url": server.add("/d.tgz", Route(blob)), "sha256": sha256(blob), "name": "d.tgz", "extract": True}]
    }
    out = tmp_path / "resources" / "downloads" / "demo"
    args = _parser().parse_args(
        [
            "download",
            "--name",
            "demo",
            "--spec",
            json.dumps(spec),
            "--out",
            str(out),
            "--attempts",
            "2",
            "--retry-delay",
            "0",
            "--no-progress",
        ]
    )
    assert (args.attempts, args.retry_delay, args.progress, args.manual_dir) == (2, 0.0, False, None)
    assert args.func(args) == 0
    assert sorted(all_files(out)) == sorted(["MANIFEST.json", *MEMBERS])

    bad = _parser().parse_args(["download", "--name", "demo", "--spec", "{not json", "--out", str(out)])
    with pytest.raises(WritingAlpacaError, match="--spec: invalid JSON"):
        bad.func(bad)
    zero = _parser().parse_args(
        ["download", "--name", "demo", "--spec", json.dumps(spec), "--out", str(out), "--attempts", "0"]
    )
    with pytest.raises(WritingAlpacaError, match="--attempts must be at least 1"):
        zero.func(zero)


def test_progress_when_forced_and_off(server, tmp_path, caplog):
    """Not on a terminal, forced progress is log lines (here the summary: a small file is quick)."""
    url = server.add("/p.bin", Route(PAYLOAD))
    with caplog.at_level(logging.INFO, logger="writing_alpaca.download"):
        download.fetch_url(url, tmp_path / "p.bin", FetchOptions(progress=True))
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("download p.bin:")]
        assert len(lines) == 1 and "done" in lines[0] and "/s)" in lines[0]
        caplog.clear()
        download.fetch_url(url, tmp_path / "q.bin", FetchOptions(progress=False))
        assert not [r for r in caplog.records if r.getMessage().startswith("download q.bin:")]


def test_module_import_is_cheap():
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, writing_alpaca.download; print(sorted(m for m in ('datasets', 'torch', 'tqdm') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == "[]"
