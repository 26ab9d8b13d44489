"""`move serve`: the HTTP API on the shipped default model, with audio made by the tests."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from conftest import DEFAULT_INSTRUMENTS
from move.audio.synthetic import harmonic_note  # noqa: E402
from move.demo import example_notes  # noqa: E402
from move.serve.app import create_app  # noqa: E402
from move.serve.jobs import JobStore  # noqa: E402

SR = 22050
MAX_MB = 1.0
MAX_SECONDS = 6.0


@pytest.fixture(scope="module")
def app():
    return create_app(max_upload_mb=MAX_MB, max_seconds=MAX_SECONDS, workers=2)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


def note_bytes(seconds: float, midi: int = 69, sr: int = SR) -> bytes:
    """A synthetic harmonic note as WAV bytes."""
    buf = io.BytesIO()
    sf.write(buf, harmonic_note(midi, [1.0, 0.5, 0.3, 0.2], duration=seconds, sr=sr), sr, format="WAV")
    return buf.getvalue()


def decode(client, url: str) -> tuple[np.ndarray, int]:
    resp = client.get(url)
    assert resp.status_code == 200, resp.text
    return sf.read(io.BytesIO(resp.content), dtype="float32")


def assert_error(resp, status: int, *words: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and "\n" not in body["error"] and "Traceback" not in body["error"]
    for word in words:
        assert word in body["error"], body["error"]


# --------------------------------------------------------------------- success
def test_model_card(client):
    body = client.get("/api/model").json()
    assert body["instruments"] == DEFAULT_INSTRUMENTS
    assert body["latent_dim"] == 3 and body["octaves"] == sorted(body["octaves"])
    assert body["pitch_ranges"]["Flute"] == {"midi": [60, 96], "notes": "C4-C7"}
    assert body["card"]["latent_dim"] == 3 and "instruments (12)" in body["text"]
    assert body["limits"]["max_seconds"] == MAX_SECONDS


def test_the_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas id=\"pad\"" in page.text
    for ref in ("/static/app.js", "/static/style.css"):
        assert client.get(ref).status_code == 200 and ref in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from the network


def test_transfer_to_two_targets(app, client):
    note = example_notes()[0]  # ASax-ord-D#5-f.flac, 4 s
    resp = client.post("/api/transfer", files={"file": (note.name, note.read_bytes(), "audio/flac")},
                       data={"targets": "violin, Flute"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [o["target"] for o in body["outputs"]] == ["Violin", "Flute"]
    assert body["source"] == "Alto-Sax" and "identified" not in body  # from the SOL name
    n_in = sf.info(str(note)).frames * SR // sf.info(str(note)).samplerate
    for out in body["outputs"]:
        audio, sr = decode(client, out["audio"])
        assert sr == SR and abs(len(audio) - n_in) <= 1 and np.abs(audio).max() > 0.01
        png = client.get(out["image"])
        assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert out["audio"].startswith(f"/files/{body['job']}/") and out["target"] in out["audio"]
    assert not any(str(app.state.server.store.root) in m for m in body["messages"])
    assert not (app.state.server.store.root / body["job"] / "in").exists()  # the upload is removed


def test_auto_source_is_identified(client):
    note = example_notes()[-1]  # Vn-ord-B4-f.flac
    resp = client.post("/api/transfer", files={"file": ("violin take.flac", note.read_bytes(), "audio/flac")},
                       data={"targets": "Flute", "source": "auto", "pitch": "B4"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["identified"]["instrument"] == "Violin" == body["source"]
    assert "identified as Violin" in body["identified"]["message"]


def test_a_long_transfer_can_be_polled(client):
    resp = client.post("/api/transfer", files={"file": ("Vn-ord-A4-mf.wav", note_bytes(1.5), "audio/wav")},
                       data={"targets": "French-Horn", "wait": "0"})
    assert resp.status_code == 202, resp.text
    job = resp.json()["job"]
    for _ in range(600):
        status = client.get(f"/api/jobs/{job}").json()
        assert status["job"] == job and status["elapsed"] >= 0
        if status["state"] not in ("queued", "running"):
            break
        time.sleep(0.1)
    assert status["state"] == "done", status
    assert status["result"]["outputs"][0]["target"] == "French-Horn"
    audio, _ = decode(client, status["result"]["outputs"][0]["audio"])
    assert abs(len(audio) - int(1.5 * SR)) <= 1
    assert_error(client.get("/api/jobs/0123456789abcdef"), 404, "no job")


def test_synth_a_path_and_a_point(client):
    resp = client.post("/api/synth", json={"path": "linear", "instrument": "flute", "note": "A4",
                                           "from_z": [-1, 0, 0.5], "to_z": [1, 1, 0.5], "duration": 1.0,
                                           "points": 16, "transfer_to": "Violin"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [o["target"] for o in body["outputs"]] == ["Flute", "Violin"]
    assert len(body["path"]) == 16 and body["path"][0] == [-1.0, 0.0, 0.5]
    for out in body["outputs"]:
        audio, sr = decode(client, out["audio"])
        assert sr == SR and len(audio) == SR
        assert client.get(out["image"]).content[:4] == b"\x89PNG"
    resp = client.post("/api/point", json={"instrument": "Violin", "note": "G4", "z": [0.2, -0.3, 0.0],
                                           "duration": 0.5})
    assert resp.status_code == 200, resp.text
    audio, sr = decode(client, resp.json()["outputs"][0]["audio"])
    assert len(audio) == SR // 2 and np.abs(audio).max() > 0.001


def test_latent_scatter_of_the_example_notes(client):
    assert len(example_notes()) == 4
    body = client.get("/api/latent").json()
    assert "example notes" in body["source"]
    assert len(body["z"]) == len(body["instrument"]) == len(body["note"]) > 20
    assert all(len(z) == 3 for z in body["z"])
    assert set(body["instrument"]) == {"Alto-Sax", "Flute", "French-Horn", "Violin"}


# --------------------------------------------------------------------- bad input
def test_bad_uploads_are_4xx_with_one_line(client):
    post = lambda name, data, **form: client.post(  # noqa: E731
        "/api/transfer", files={"file": (name, data, "application/octet-stream")}, data={"targets": "Flute", **form})
    assert_error(post("notes.txt", b"not audio at all"), 400, "notes.txt", "not an audio file")
    assert_error(post("huge.wav", b"\0" * int(1.2 * MAX_MB * 1048576)), 413, "huge.wav", "upload limit")
    assert_error(post("Vn-ord-A4-mf.wav", note_bytes(MAX_SECONDS + 1, sr=8000)), 413, "limit of 6 s")
    assert_error(post("Vn-ord-A4-mf.wav", note_bytes(1.0), targets="Kazoo"), 422, "unknown instrument 'Kazoo'")
    assert_error(post("Vn-ord-A4-mf.wav", note_bytes(1.0), source="Banjo"), 422, "unknown instrument 'Banjo'")
    assert_error(post("Vn-ord-A4-mf.wav", note_bytes(1.0), pitch="H9"), 422, "H9")
    assert_error(post("Vn-ord-A4-mf.wav", note_bytes(0.05)), 400, "too short")
    assert_error(post("Vn-ord-A4-mf.wav", b""), 400, "empty")
    assert_error(client.post("/api/transfer", data={"targets": "Flute"}), 400, "multipart")
    assert_error(client.post("/api/transfer", files={"other": ("a.wav", b"x")}, data={"targets": "Flute"}),
                 400, "'file'")
    assert_error(client.post("/api/transfer", files={"file": ("a.wav", note_bytes(1.0))}), 422, "targets")
    silent = io.BytesIO()
    sf.write(silent, np.zeros(SR, np.float32), SR, format="WAV")
    assert_error(post("quiet.wav", silent.getvalue(), source="auto"), 400, "quiet.wav", "silent")


def test_bad_json_is_4xx_with_one_line(client):
    ok = {"path": "linear", "instrument": "Flute", "note": "C5", "from_z": [0, 0, 0], "to_z": [1, 0, 0],
          "duration": 1.0, "points": 8}
    synth = lambda **change: client.post("/api/synth", json={**ok, **change})  # noqa: E731
    assert_error(client.post("/api/synth", content=b"{\"path\": ", headers={"content-type": "application/json"}),
                 400, "malformed JSON")
    assert_error(client.post("/api/synth", json=[1, 2]), 400, "expected an object")
    assert_error(synth(instrument="Kazoo"), 422, "unknown instrument 'Kazoo'")
    assert_error(synth(transfer_to="Ukulele"), 422, "Ukulele")
    assert_error(synth(note="X#9"), 422, "X#9")
    assert_error(synth(path="spiral"), 422, "spiral")
    assert_error(synth(from_z=[0, 0]), 422, "from_z")
    assert_error(synth(to_z=["a", 0, 0]), 422, "to_z")
    assert_error(synth(duration=1000), 422, "duration")
    assert_error(synth(colour="red"), 422, "colour")
    point = lambda **change: client.post("/api/point", json={"instrument": "Flute", "note": "C5",  # noqa: E731
                                                             "z": [0, 0, 0], **change})
    assert_error(point(instrument="Theremin"), 422, "Theremin")
    assert_error(point(note="C#"), 422, "C#")
    assert_error(point(z=[0, 0, "x"]), 422, "z")
    assert_error(point(duration=60), 422, "duration")
    assert_error(client.post("/api/point", content=b"not json"), 400, "malformed JSON")
    assert_error(client.get("/files/0123456789abcdef/x.wav"), 404, "x.wav")
    # the server serves on after all of them
    assert client.get("/api/model").status_code == 200
    assert point().status_code == 200


def test_concurrent_transfers_get_their_own_outputs(client):
    """8 transfers at once (2 workers): each answer holds the target and the length it asked for."""
    asks = [(1.0 + 0.1 * i, ("Flute", "French-Horn", "Violin", "Alto-Sax")[i % 4]) for i in range(8)]
    answers: dict[int, object] = {}

    def ask(i: int) -> None:
        seconds, target = asks[i]
        answers[i] = client.post("/api/transfer", data={"targets": target},
                                 files={"file": ("Vn-ord-A4-mf.wav", note_bytes(seconds), "audio/wav")})

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    jobs = set()
    for i, (seconds, target) in enumerate(asks):
        resp = answers[i]
        assert resp.status_code == 200, resp.text
        (out,) = resp.json()["outputs"]
        jobs.add(resp.json()["job"])
        assert out["target"] == target and out["audio"].endswith(f"_{target}.wav")
        audio, _ = decode(client, out["audio"])
        assert abs(len(audio) - int(round(seconds * SR))) <= 1, (i, len(audio))
    assert len(jobs) == 8


# --------------------------------------------------------------------- jobs and the command
def test_job_folders_expire_and_are_removed_at_close(tmp_path):
    store = JobStore(1, keep=2, ttl_s=3600, root=tmp_path)
    jobs = []
    for i in range(4):
        job = store.new_job()
        (job.folder / "in" / "up.wav").write_bytes(b"x")
        store.submit(job, lambda j, i=i: (j.folder / "out.wav").write_bytes(b"y") and {"outputs": [], "i": i}).result()
        assert not (job.folder / "in").exists() and (job.folder / "out.wav").exists()
        jobs.append(job)
    assert len({j.id for j in jobs}) == 4
    assert store.expire() == [jobs[1].id]  # jobs[0] went when jobs[3] was made (keep=2)
    assert [j.folder.exists() for j in jobs] == [False, False, True, True]
    assert store.get(jobs[0].id) is None and store.file(jobs[3].id, "out.wav") is not None
    assert store.file(jobs[3].id, "../out.wav") is None
    failed = store.new_job()
    with pytest.raises(ValueError):
        store.submit(failed, lambda j: (_ for _ in ()).throw(ValueError("boom"))).result()
    assert failed.state == "error" and store.expire(now=time.monotonic() + 7200)  # the ttl
    store.close()
    assert not store.root.exists()


def test_the_serve_command_parses_without_heavy_imports():
    code = ("import sys; from move.cli import build_parser; "
            "a = build_parser().parse_args(['serve', '--port', '9123', '--workers', '3']); "
            "print(a.host, a.port, a.workers, a.max_upload_mb, a.max_seconds, "
            "'torch' in sys.modules, 'fastapi' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["127.0.0.1", "9123", "3", "50.0", "600.0", "False", "False"]
    help_text = subprocess.run([sys.executable, "-m", "move.cli", "serve", "--help"], capture_output=True,
                               text=True, check=True).stdout
    assert "--max-upload-mb" in help_text and "--data" in help_text


def test_latent_scatter_of_a_prepared_set(app, tiny_prepared):
    """``--data``: the held-out test notes of a prepared set, encoded (Flute, Violin, Alto-Sax)."""
    from move.data.prepare import PreparedDataset
    from move.serve.work import latent_points

    body = latent_points(app.state.server.model, tiny_prepared)
    ds = PreparedDataset(tiny_prepared)
    assert len(body["z"]) == len(ds.select("test")) > 0 and "test notes of set" in body["source"]
    assert set(body["instrument"]) <= {"Flute", "Violin", "Alto-Sax"} and all(len(z) == 3 for z in body["z"])


def _midi_bytes(notes: list[tuple[int, float]]) -> bytes:
    """A one-track MIDI file playing ``(pitch, seconds)`` in turn at 120 bpm."""
    import mido

    track = mido.MidiTrack()
    per_beat = 480
    for pitch, seconds in notes:
        track.append(mido.Message("note_on", note=pitch, velocity=90, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=int(seconds * 2 * per_beat)))
    buf = io.BytesIO()
    mido.MidiFile(tracks=[track], ticks_per_beat=per_beat).save(file=buf)
    return buf.getvalue()


def test_a_solo_transfer_with_its_midi_pitches(client):
    pytest.importorskip("mido")
    solo = np.concatenate([harmonic_note(m, [1.0, 0.5, 0.3], duration=1.0, sr=SR) for m in (67, 69)])
    buf = io.BytesIO()
    sf.write(buf, solo, SR, format="WAV")
    resp = client.post("/api/transfer", data={"targets": "Flute", "source": "Violin"},
                       files={"file": ("my solo.wav", buf.getvalue(), "audio/wav"),
                              "midi": ("my solo.mid", _midi_bytes([(67, 1.0), (69, 1.0)]), "audio/midi")})
    assert resp.status_code == 200, resp.text
    (out,) = resp.json()["outputs"]
    audio, _ = decode(client, out["audio"])
    assert out["target"] == "Flute" and abs(len(audio) - len(solo)) <= 1
    bad = client.post("/api/transfer", data={"targets": "Flute", "source": "Violin"},
                      files={"file": ("my solo.wav", buf.getvalue(), "audio/wav"),
                             "midi": ("pitches.txt", b"C4 D4", "text/plain")})
    assert_error(bad, 400, "pitches.txt", "MIDI")


def test_an_unexpected_error_is_one_line_and_the_server_serves_on(app, client, monkeypatch):
    from move.serve import work

    def broken(*args, **kwargs):
        raise RuntimeError("a bug\nwith a second line")

    monkeypatch.setattr(work, "run_point", broken)
    resp = client.post("/api/point", json={"instrument": "Flute", "note": "C5", "z": [0, 0, 0]})
    assert_error(resp, 500, "internal error (RuntimeError)")
    monkeypatch.undo()
    assert client.post("/api/point", json={"instrument": "Flute", "note": "C5", "z": [0, 0, 0]}).status_code == 200
    # no upload is left behind by the requests before (refused ones included)
    root = app.state.server.store.root
    assert not [p for p in root.rglob("*") if p.parent.name == "in"]
