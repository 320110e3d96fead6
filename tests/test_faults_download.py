"""Faults in downloads that must never pass silently (issue "Nothing silently wrong").

1. A cached download changed after it was verified (a flipped byte) is caught when ``data``
   reads it: one error naming the file, both sha256 and the fix.
2. A failing re-download (a changed pin in an overlay) never loses the last verified copy,
   neither when the output still exists nor after Snakemake has removed it.
3. An unpinned URL that serves something else than its name declares (an HTML login or
   error page, an archive of the wrong kind) fails at download time, naming the URL.

Every upstream file is a ``file:`` URL under ``tmp_path``.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import shutil
from pathlib import Path

import pytest

from _download_fixtures import leftovers, sha256, tar_bytes, zip_bytes
from conftest import SHARED_DATA
from writing_alpaca import cli, data
from writing_alpaca.download import (
    DownloadCorruptError,
    UnexpectedContentError,
    download_source,
    kept_dir,
    sniff_content,
    verify_download,
)
from writing_alpaca.errors import WritingAlpacaError

SHARED = SHARED_DATA  # tests reading it are marked real_data
JFLEG_FILES = ["test/test.src", "test/test.ref0", "test/test.ref1", "test/test.ref2", "test/test.ref3"]
# config.yaml's pins for sources.jfleg (the real files, copied from shared/data)
JFLEG_PINS = {
    "test/test.src": "893db119162487aa7f956b65978453576919e6797cd6c1955f93b7a8b9f4bbd8",
    "test/test.ref0": "875953280a3ea1dea2827337b1778c0105f0c0aa79f2517a6e0e42db5e5e170c",
    "test/test.ref1": "190d3398f2765f54a39b5489d1e96c483412a656086c731f8712ad0591087d80",
    "test/test.ref2": "0e3c6abe934ccd16c9dffb2fd889d6f55afc3ad13a63c1e148c720bb4e99046b",
    "test/test.ref3": "19f49de6eff813b26505ecf756c20dc301aeb80696696b01ca950298f6e58441",
}
JFLEG_SET = {"task": "fluency", "format": "parallel", "src": "test/test.src", "refs": JFLEG_FILES[1:], "size": 747}
PAIRS = {"pairs.src": b"I has a cat .\nShe go home .\n", "pairs.tgt": b"I have a cat .\nShe goes home .\n"}
PAIR_SET = {"task": "gec", "format": "parallel", "src": "pairs.src", "refs": ["pairs.tgt"], "size": 2}


def upstream(tmp_path: Path, files: dict[str, bytes]) -> dict[str, str]:
    """Write ``files`` under tmp_path/upstream; their file: URLs."""
    urls = {}
    for name, body in files.items():
        path = tmp_path / "upstream" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        urls[name] = path.as_uri()
    return urls


def pinned_spec(urls: dict[str, str], pins: dict[str, str | None]) -> dict:
    return {"files": [{"url": urls[name], "name": name, "sha256": pins[name]} for name in urls]}


def flip_byte(path: Path, offset: int = 5) -> None:
    """Change one byte in place (same size, same inode): what a bad disk or a stray editor does."""
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x20]))


def jfleg_download(tmp_path: Path) -> Path:
    assert (SHARED / "jfleg" / "test" / "test.src").is_file(), f"shared data missing under {SHARED}"
    urls = upstream(tmp_path, {name: (SHARED / "jfleg" / name).read_bytes() for name in JFLEG_FILES})
    out = tmp_path / "resources" / "downloads" / "jfleg"
    download_source("jfleg", pinned_spec(urls, JFLEG_PINS), out)
    return out


# --------------------------------------------------------------------------- 1. cached copies are re-verified


@pytest.mark.real_data
def test_flipped_byte_in_cached_jfleg_is_one_clear_error(tmp_path, capsys):
    raw = jfleg_download(tmp_path)
    good = data.build_test_records("jfleg", JFLEG_SET, raw, 42)[0]
    assert len(good) == 747
    target = raw / "test" / "test.src"
    flip_byte(target)
    actual = sha256(target.read_bytes())
    with pytest.raises(DownloadCorruptError) as err:
        data.build_test_records("jfleg", JFLEG_SET, raw, 42)
    msg = str(err.value)
    assert str(target) in msg and JFLEG_PINS["test/test.src"] in msg and actual in msg
    assert f"delete {raw}" in msg and "snakemake resources/downloads/jfleg" in msg and "\n" not in msg
    assert isinstance(err.value, WritingAlpacaError)
    # the CLI (rule prepare_test) turns it into one error line, and writes no output
    out = tmp_path / "jfleg.jsonl"
    argv = ["data", "test", "--name", "jfleg", "--spec", json.dumps(JFLEG_SET), "--raw", str(raw)]
    assert cli.main([*argv, "--seed", "42", "--out", str(out)]) == 2
    assert "writing-alpaca: error:" in capsys.readouterr().err and not out.exists()


def test_corrupt_cache_recovers_by_downloading_again(tmp_path):
    """The kept copy shares the corrupt file's inode: it is re-verified, not trusted, and fetched anew."""
    urls = upstream(tmp_path, PAIRS)
    out = tmp_path / "dl" / "pairs"
    spec = pinned_spec(urls, {n: sha256(b) for n, b in PAIRS.items()})
    download_source("pairs", spec, out)
    flip_byte(out / "pairs.tgt")
    with pytest.raises(DownloadCorruptError, match="pairs.tgt does not match"):
        data.build_test_records("pairs", PAIR_SET, out, 42)
    shutil.rmtree(out)  # the fix the message gives
    download_source("pairs", spec, out)
    recs = data.build_test_records("pairs", PAIR_SET, out, 42)[0]
    assert recs[1]["references"] == ["She goes home ."]


def test_extracted_archive_members_are_verified(tmp_path):
    """Members of an extracted (and deleted) archive carry their own sha256 in the manifest."""
    blob = zip_bytes({"d/pairs.src": PAIRS["pairs.src"], "d/pairs.tgt": PAIRS["pairs.tgt"]})
    urls = upstream(tmp_path, {"d.zip": blob})
    out = tmp_path / "dl" / "zipped"
    download_source("zipped", {"files": [{"url": urls["d.zip"], "sha256": sha256(blob), "extract": True}]}, out)
    spec = dict(PAIR_SET, src="d/pairs.src", refs=["d/pairs.tgt"])
    assert len(data.build_test_records("zipped", spec, out, 42)[0]) == 2
    flip_byte(out / "d" / "pairs.src", 0)
    with pytest.raises(DownloadCorruptError, match=r"d/pairs\.src does not match .*MANIFEST\.json"):
        data.build_test_records("zipped", spec, out, 42)


def test_missing_added_and_truncated_files(tmp_path):
    urls = upstream(tmp_path, PAIRS)
    out = tmp_path / "dl" / "pairs"
    download_source("pairs", pinned_spec(urls, {n: None for n in PAIRS}), out)
    assert verify_download(out)["source"] == "pairs"
    (out / "extra.src").write_bytes(PAIRS["pairs.src"])  # put in by hand: not what was downloaded
    with pytest.raises(DownloadCorruptError, match=r"extra\.src: not part of the download"):
        data.build_test_records("pairs", dict(PAIR_SET, src="extra.src"), out, 42)
    (out / "pairs.tgt").write_bytes(PAIRS["pairs.tgt"][:-5])  # a new, shorter file
    with pytest.raises(DownloadCorruptError, match=r"\(31 bytes\), found [0-9a-f]{64} \(26 bytes\)"):
        verify_download(out, ["pairs.tgt"])
    verify_download(out, ["pairs.src"])  # only what is asked for is checked
    (out / "pairs.tgt").unlink()
    with pytest.raises(DownloadCorruptError, match="listed in .* but missing"):
        verify_download(out)


def test_old_manifest_without_contents_still_verifies_plain_files(tmp_path, caplog):
    blob = zip_bytes({"member.txt": b"m\n"})
    urls = upstream(tmp_path, {**PAIRS, "x.zip": blob})
    out = tmp_path / "dl" / "old"
    spec = pinned_spec({k: urls[k] for k in PAIRS}, {n: None for n in PAIRS})
    spec["files"].append({"url": urls["x.zip"], "extract": True})
    download_source("old", spec, out)
    manifest = json.loads((out / "MANIFEST.json").read_text())
    del manifest["contents"]  # as written before member hashes were recorded
    (out / "MANIFEST.json").write_text(json.dumps(manifest))
    verify_download(out, ["pairs.src"])
    with caplog.at_level("WARNING"):
        verify_download(out, ["member.txt"])
    assert "cannot be verified" in caplog.text
    flip_byte(out / "pairs.src")
    with pytest.raises(DownloadCorruptError, match="pairs.src does not match"):
        verify_download(out, ["pairs.src"])


def test_directory_without_manifest_is_not_a_download(tmp_path):
    """Hand-assembled raw directories (tests, shared/data) are read as they are."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, body in PAIRS.items():
        (raw / name).write_bytes(body)
    assert verify_download(raw) is None
    assert len(data.build_test_records("pairs", PAIR_SET, raw, 42)[0]) == 2


def test_bad_manifest_is_an_error(tmp_path):
    urls = upstream(tmp_path, PAIRS)
    out = tmp_path / "dl" / "pairs"
    download_source("pairs", pinned_spec(urls, {n: None for n in PAIRS}), out)
    (out / "MANIFEST.json").write_text("{not json")
    with pytest.raises(DownloadCorruptError, match=r"MANIFEST\.json:1: invalid JSON.*delete"):
        data.build_test_records("pairs", PAIR_SET, out, 42)


# --------------------------------------------------------------------------- 2. a failing re-download keeps the good copy


def test_changed_pin_keeps_the_good_copy(tmp_path):
    urls = upstream(tmp_path, PAIRS)
    pins = {n: sha256(b) for n, b in PAIRS.items()}
    out = tmp_path / "resources" / "downloads" / "pairs"
    download_source("pairs", pinned_spec(urls, pins), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    overlay = pinned_spec(urls, dict(pins, **{"pairs.tgt": "0" * 64}))  # an overlay pins another hash
    with pytest.raises(WritingAlpacaError, match="sha256 mismatch for .*pairs.tgt"):
        download_source("pairs", overlay, out)
    # the run that failed touched nothing: same files, still verified, no temporary siblings
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    verify_download(out)
    assert leftovers(out.parent, keep=("pairs",)) == [".pairs.last-good"]

    # Snakemake removes the output before it reruns the rule: the kept copy survives the failure
    shutil.rmtree(out)
    with pytest.raises(WritingAlpacaError) as err:
        download_source("pairs", overlay, out)
    assert str(kept_dir(out)) in str(err.value) and "sha256 mismatch" in str(err.value)
    assert not out.exists()
    verify_download(kept_dir(out))
    # ... and reverting the overlay takes the pinned files from it, with the upstream gone
    shutil.rmtree(tmp_path / "upstream")
    download_source("pairs", pinned_spec(urls, pins), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert len(data.build_test_records("pairs", PAIR_SET, out, 42)[0]) == 2


def test_kept_copy_is_replaced_only_by_a_verified_download(tmp_path):
    urls = upstream(tmp_path, PAIRS)
    out = tmp_path / "dl" / "pairs"
    download_source("pairs", pinned_spec(urls, {n: sha256(b) for n, b in PAIRS.items()}), out)
    new_tgt = b"I have a cat.\nShe goes home.\n"
    (tmp_path / "upstream" / "pairs.tgt").write_bytes(new_tgt)
    new_pins = {"pairs.src": sha256(PAIRS["pairs.src"]), "pairs.tgt": sha256(new_tgt)}
    download_source("pairs", pinned_spec(urls, new_pins), out)
    assert (out / "pairs.tgt").read_bytes() == new_tgt
    assert (kept_dir(out) / "pairs.tgt").read_bytes() == new_tgt  # the kept copy follows the good one
    assert sorted(p.name for p in out.parent.iterdir()) == [".pairs.last-good", "pairs"]


def test_kept_archive_is_reused_when_its_pin_matches(tmp_path):
    blob = tar_bytes({"d/a.txt": b"a\n", "d/b.txt": b"b\n"})
    urls = upstream(tmp_path, {"d.tar.gz": blob})
    out = tmp_path / "dl" / "tarred"
    spec = {"files": [{"url": urls["d.tar.gz"], "sha256": sha256(blob), "extract": True}]}
    first = download_source("tarred", spec, out)
    shutil.rmtree(out)
    (tmp_path / "upstream" / "d.tar.gz").unlink()
    again = download_source("tarred", spec, out)
    assert again["files"] == first["files"] and again["contents"] == first["contents"]
    assert (out / "d" / "b.txt").read_bytes() == b"b\n"
    # an unpinned file is never taken from the kept copy: it is fetched (and here fails)
    with pytest.raises(WritingAlpacaError, match="cannot download"):
        download_source("tarred", {"files": [{"url": urls["d.tar.gz"], "extract": True}]}, out)


# --------------------------------------------------------------------------- 3. content that is not what the source declares

LOGIN = b"\xef\xbb\xbf\n  <!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Log in</body></html>\n"


@pytest.mark.parametrize(
    "name,body,expected",
    [
        ("clang8.tsv", LOGIN, "an HTML page"),
        ("stsb-en-test.csv", b"<HTML lang='en'><body>404</body></HTML>", "an HTML page"),
        ("alpaca_data.json", b'<?xml version="1.0"?>\n<!-- error -->\n<html><body/></html>', "an HTML page"),
        ("alpaca_data.json", b"Rate limit exceeded\n", "expected JSON but received something else"),
        ("rows.jsonl", b"", "expected JSON but received an empty file"),
        ("d.tar.gz", LOGIN, "expected gzip data but received an HTML page"),
        ("d.tar.gz", zip_bytes({"a": b"a"}), "expected gzip data but received something else"),
        ("d.zip", gzip.compress(b"x"), "expected a zip archive but received something else"),
        ("d.tar.bz2", b"BZ", "expected bzip2 data"),
        ("d.tar.xz", bz2.compress(b"x"), "expected xz data"),
        ("d.tar", b"\0" * 1024, "expected a tar archive"),
    ],
)
def test_unpinned_source_serving_the_wrong_content_fails_at_download(tmp_path, name, body, expected):
    urls = upstream(tmp_path, {name: body})
    out = tmp_path / "dl" / "src"
    with pytest.raises(UnexpectedContentError) as err:
        download_source("src", {"files": [{"url": urls[name], "name": name, "sha256": None}]}, out)
    msg = str(err.value)
    assert urls[name] in msg and expected in msg and "\n" not in msg
    assert not out.exists() and leftovers(out.parent) == []


def test_html_received_for_a_pinned_file_is_named_in_the_mismatch(tmp_path):
    urls = upstream(tmp_path, {"test.src": LOGIN})
    with pytest.raises(WritingAlpacaError, match=r"sha256 mismatch .*received an HTML page .*Sign in"):
        download_source("s", {"files": [{"url": urls["test.src"], "sha256": "1" * 64}]}, tmp_path / "o")


def test_placed_html_is_rejected_too(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "clang8.tsv").write_bytes(LOGIN)  # "Save page as" instead of the data
    spec = {"gated": {"request": "the form", "place": "clang8.tsv"}, "files": [{"name": "clang8.tsv"}]}
    with pytest.raises(UnexpectedContentError, match=r"placed file .*clang8\.tsv.*an HTML page"):
        download_source("clang8", spec, tmp_path / "out", manual_dir=manual)


def test_genuine_content_passes(tmp_path):
    buf = io.BytesIO()
    with lzma.open(buf, "wb") as fh:
        fh.write(b"x")
    files = {
        "ok.tsv": b"<b>bold</b>\tbold\n",  # starts with markup but is not a page
        "page.html": LOGIN,  # a page where a page is declared
        "later.txt": b"text first\n<html>\n",  # HTML further down a text file is text
        "rows.jsonl": b'\xef\xbb\xbf {"a": 1}\n',
        "arr.json": b"\n[1, 2]",
        "d.tar": tar_bytes({"a": b"a"}, "w"),
        "d.tgz": tar_bytes({"a": b"a"}, "w:gz"),
        "d.tbz2": tar_bytes({"a": b"a"}, "w:bz2"),
        "x.xz": buf.getvalue(),
        "empty.zip": zip_bytes({}),
        "model.bin": b"\x00\x01binary",
    }
    problems = {}
    for name, body in files.items():
        path = tmp_path / name
        path.write_bytes(body)
        problems[name] = sniff_content(path, name)
    assert problems == {name: None for name in files}
    assert sniff_content(tmp_path / "ok.tsv", "ok.tsv") is None
    urls = upstream(tmp_path, {"ok.tsv": files["ok.tsv"]})
    download_source("ok", {"files": [{"url": urls["ok.tsv"]}]}, tmp_path / "o")
