"""The evaluation: Wasserstein ratios, the instrument classifier, pitch accuracy, the report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from browser import check_media, driver, needs_chromium, page_refs, ref_file, serve
from conftest import TIMBRES, harmonic_note, write_note
from move.data.prepare import PreparedDataset, prepare_dataset
from move.errors import CheckpointError, MoveError
from move.evaluate.classifier import load_classifier, train_classifier
from move.evaluate.metrics import magnitude_log_spectral_distance, magnitude_spectral_convergence
from move.evaluate.transfer_eval import descriptor_ratios, pitch_accuracy, w1_ratio

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- numbers


def test_w1_ratio_is_0_for_the_target_and_1_for_the_source():
    rng = np.random.default_rng(0)
    source = rng.normal(1000.0, 100.0, 800)
    target = rng.normal(2500.0, 300.0, 600)
    assert w1_ratio(target, source, target) == 0.0
    assert w1_ratio(source, source, target) == pytest.approx(1.0)
    # halfway: a shift of half the distance between two equal-shaped distributions
    shifted = source + 750.0
    assert w1_ratio(shifted, source, source + 1500.0) == pytest.approx(0.5)
    # overshooting the target is penalised
    assert w1_ratio(source + 3000.0, source, source + 1500.0) == pytest.approx(1.0)
    # NaN values are ignored; undefined ratios are NaN
    assert w1_ratio(np.r_[target, np.nan], source, target) == 0.0
    assert math.isnan(w1_ratio([], source, target))
    assert math.isnan(w1_ratio(target, source, source))


def test_descriptor_ratios_per_descriptor():
    rng = np.random.default_rng(1)
    src = {"centroid": rng.normal(1000, 50, 300), "flatness": 10 ** rng.normal(-4, 0.3, 300)}
    tgt = {"centroid": rng.normal(3000, 50, 300), "flatness": 10 ** rng.normal(-2, 0.3, 300)}
    r = descriptor_ratios(tgt, src, tgt, names=["centroid", "flatness"])
    assert r == {"centroid": 0.0, "flatness": 0.0}
    r = descriptor_ratios(src, src, tgt, names=["centroid", "flatness"])
    assert r["centroid"] == pytest.approx(1.0) and r["flatness"] == pytest.approx(1.0)


def test_magnitude_metrics():
    m = np.abs(np.random.default_rng(2).normal(size=(20, 30)))
    assert magnitude_spectral_convergence(m, m) == 0.0
    assert magnitude_spectral_convergence(m, 0.5 * m) == pytest.approx(0.5)
    assert magnitude_log_spectral_distance(m, m) == 0.0
    assert magnitude_log_spectral_distance(m, 10 * m) == pytest.approx(20.0)
    with pytest.raises(ValueError):
        magnitude_spectral_convergence(m, m[:5])


def test_pitch_accuracy_of_a_harmonic_note():
    audio = harmonic_note(69, TIMBRES["Vn"], duration=0.8)
    right = pitch_accuracy(audio, 22050, 69)
    assert right["voiced"] > 10 and right["accuracy"] > 0.95
    assert abs(right["median_cents"]) < 10
    wrong = pitch_accuracy(audio, 22050, 70)  # a semitone off: nothing within 50 cents
    assert wrong["accuracy"] < 0.05
    # a near-silent tail (-180 dB) is not analysed, whatever pYIN finds in it
    tail = 1e-9 * np.random.default_rng(0).standard_normal(22050).astype(np.float32)
    padded = pitch_accuracy(np.r_[audio, tail], 22050, 69)
    assert abs(padded["frames"] - right["frames"]) <= 4 and padded["accuracy"] > 0.95


# ----------------------------------------------------------------------------- classifier


def test_classifier_learns_the_synthetic_timbres(tiny_prepared, tmp_path):
    ds = PreparedDataset(tiny_prepared)
    clf = train_classifier(ds, epochs=30)
    assert clf.instruments == ["Alto-Sax", "Flute", "Violin"]
    assert clf.info["seconds"] > 0  # recorded (its speed is not a test's business)
    # held-out notes (valid and test splits): every note, nearly every slice
    hits, slice_hits, slices = [], 0, 0
    for row, note in enumerate(ds.notes):
        if note["split"] == "train":
            continue
        probs = clf.predict_slices(clf.note_slices(ds.note_frames(row)), note["pitch"])
        truth = clf.instruments.index(note["instrument"])
        hits.append(int(probs.mean(0).argmax()) == truth)
        slice_hits += int((probs.argmax(1) == truth).sum())
        slices += len(probs)
    assert len(hits) >= 6 and all(hits)
    assert slice_hits / slices >= 0.9
    # new notes at a pitch the dataset does not have, given as audio
    for abbr, name in (("Fl", "Flute"), ("Vn", "Violin"), ("ASax", "Alto-Sax")):
        probs = clf.predict_audio(harmonic_note(65, TIMBRES[abbr], seed=99), 22050, 65)
        assert clf.instruments[int(probs.argmax())] == name
        assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    # the saved file loads with weights_only=True and predicts the same
    path = clf.save(tmp_path / "clf.pt")
    torch.load(path, weights_only=True)
    again = load_classifier(path)
    x = ds.note_frames(0)
    assert np.allclose(again.predict_note(x, 60), clf.predict_note(x, 60), atol=1e-6)
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_classifier(tmp_path / "bad.pt")


# ----------------------------------------------------------------------------- the report


@pytest.fixture(scope="module")
def report(tiny_model, tiny_prepared, tmp_path_factory):
    from move.evaluate.report import evaluate

    out = tmp_path_factory.mktemp("report") / "eval"
    messages: list[str] = []
    metrics = evaluate(tiny_model, tiny_prepared, out, progress=False, log=messages.append,
                       map_grid=7, gif_steps=3, classifier_epochs=20)
    return out, metrics, messages


def _leaves(value, path="metrics"):
    """(path, value) of every leaf of a JSON tree."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, value


@pytest.mark.slow
def test_evaluate_writes_metrics_figures_and_page(report, tiny_prepared):
    out, metrics, messages = report
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk == metrics
    assert metrics["instruments"] == ["Alto-Sax", "Flute", "Violin"]
    assert metrics["out_of_range"] == "transpose"  # the transfers' default, recorded
    # the whole configuration is recorded, the options given included
    assert metrics["config"]["map_grid"] == 7 and metrics["config"]["classifier_epochs"] == 20
    assert metrics["config"]["envelope"] == "input" and metrics["config"]["latent"] is True
    assert set(metrics) >= {"classifier", "transfer", "reconstruction", "latent", "goals", "notes"}
    t = metrics["transfer"]
    for key in ("target_accuracy", "source_share", "pitch_accuracy", "voiced_share",
                "pitch_accuracy_real_notes"):
        assert 0.0 <= t[key] <= 1.0, key
    for key in ("descriptor_ratio_mean", "descriptor_ratio_median"):
        assert 0.0 <= t[key] < math.inf, key
    assert 0.0 <= t["target_accuracy"] + t["source_share"] <= 1.0
    assert set(t["pairs"]) == {f"{s}->{d}" for s in metrics["instruments"]
                               for d in metrics["instruments"] if s != d}
    pair = t["pairs"]["Flute->Violin"]
    assert set(pair["descriptor_ratios"]) == {
        "centroid", "flatness", "rolloff", "loudness", "bandwidth", "inharmonicity", "sharpness",
        "tristimulus1", "tristimulus2", "tristimulus3"}
    assert pair["transfers"] == metrics["notes"]["Flute"]
    assert t["in_target_range"]["transfers"] + t["out_of_target_range"]["transfers"] == t["transfers"]
    c = metrics["classifier"]
    assert c["note_accuracy"] == 1.0  # the synthetic timbres are easy
    r = metrics["reconstruction"]
    for domain in ("magnitude", "audio", "inversion_only"):
        assert set(r[domain]) == {"spectral_convergence", "log_spectral_distance_db"}
    assert r["inversion_only"]["spectral_convergence"] < r["audio"]["spectral_convergence"]
    assert set(metrics["goals"]) == {"target_accuracy", "pitch_accuracy", "descriptor_ratio_mean"}
    # fidelity: identity and temporal detail per instrument at each stage
    from move.evaluate.report import FIDELITY_GOALS, STAGES

    f = metrics["fidelity"]
    assert f["stages"] == list(STAGES) and set(f["goals"]) == set(FIDELITY_GOALS)
    for inst in metrics["instruments"]:
        b = f["per_instrument"][inst]
        assert b["real"]["identity"] == 1.0 and b["real"]["notes"] == metrics["notes"][inst]
        assert b["real"]["attack_error_ms"] == 0.0 and b["real"]["frame_change_ratio"] == 1.0
        assert b["round_trip"]["identity"] == 1.0  # phase retrieval keeps the instrument
        assert b["round_trip"]["attack_error_ms"] < 10.0  # and the attack (30 ms ramps)
        # phase retrieval adds a little noise to these very steady synthetic notes
        assert abs(b["round_trip"]["frame_change_db"] - b["real"]["frame_change_db"]) < 0.6
        assert 0.0 <= b["reconstruction"]["identity"] <= 1.0
        assert b["reconstruction"]["attack_ms"] >= 0.0 and b["reconstruction"]["frame_change_db"] > 0.0
        others = sum(n for i, n in metrics["notes"].items() if i != inst)
        assert b["transfer"]["notes"] == others and b["transfer"]["in_range"] == others
    rec_worst = min(f["per_instrument"][i]["reconstruction"]["identity"] for i in metrics["instruments"])
    assert f["goals"]["reconstruction_identity"]["value"] == rec_worst
    assert f["goals"]["pitch_accuracy"]["value"] == t["pitch_accuracy"]
    assert sum(m.startswith(("Flute: identity real", "all: identity real")) for m in messages) == 2
    assert "Fidelity by stage" in (out / "index.html").read_text()
    # every number is finite; null only for: a descriptor that does not separate two real
    # instruments (undefined ratio), no --max-notes, an empty group of transfers
    leaves = dict(_leaves(metrics))
    numbers = {p: v for p, v in leaves.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert len(numbers) > 200 and all(math.isfinite(v) for v in numbers.values())
    empty = {f"metrics.transfer.{g}" for g in ("in_target_range", "out_of_target_range")
             if t[g]["transfers"] == 0}
    for p, v in leaves.items():
        if v is None:
            assert ("descriptor_ratio" in p or p in ("metrics.max_notes", "metrics.config.max_notes", "metrics.config.judge")
                    or p.rsplit(".", 1)[0] in empty), p
    assert "NaN" not in (out / "metrics.json").read_text()
    # files
    load_classifier(out / "classifier.pt")
    for rel in ("index.html", "latent.html", "plotly.min.js", "figures/latent_scatter.png",
                "figures/descriptor_ratios.png", "figures/descriptors/Flute_to_Violin.png"):
        assert (out / rel).is_file() and (out / rel).stat().st_size > 0, rel
    assert len(list((out / "figures/latent_maps").glob("*.png"))) == 3
    assert len(list((out / "figures/latent_maps").glob("*.gif"))) == 3
    assert len(list((out / "audio").glob("*.wav"))) == 3 * 4  # source, reconstruction, 2 transfers
    html = (out / "latent.html").read_text()
    assert "://cdn" not in html.lower() and "plotly.min.js" in html  # no script from a CDN
    assert any("report:" in m for m in messages)


@pytest.mark.slow
def test_page_references_exist(report):
    out, _, _ = report
    refs = page_refs(out / "index.html")
    assert sum(r.endswith(".wav") for r in refs) == 12
    assert sum(r.endswith(".gif") for r in refs) == 3
    for ref in refs:
        assert ref_file(out, ref).is_file(), ref


@pytest.mark.slow
def test_disjoint_instruments_are_refused(tiny_model, tmp_path):
    from move.evaluate.report import evaluate

    notes = tmp_path / "notes"
    notes.mkdir()
    for j, (midi, name) in enumerate(((60, "C4"), (62, "D4"), (64, "E4"))):
        write_note(notes, f"Hn-ord-{name}-mf.wav", harmonic_note(midi, TIMBRES["Hn"], seed=j))
        write_note(notes, f"Ob-ord-{name}-mf.wav", harmonic_note(midi, TIMBRES["ASax"], seed=j))
    prepare_dataset(notes, tmp_path / "prep", progress=False)
    with pytest.raises(MoveError) as err:
        evaluate(tiny_model, tmp_path / "prep", tmp_path / "out", progress=False, log=lambda m: None)
    msg = str(err.value)
    assert "\n" not in msg and "French-Horn" in msg and "Flute" in msg
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_judge_trained_on_other_recordings(tiny_model, tiny_prepared, tmp_path):
    """``judge``: the classifier learns every note of another set, of the instruments it has."""
    from move.data.prepare import PrepareConfig
    from move.evaluate.report import evaluate

    def judge_set(name: str, abbrs: tuple[str, ...]) -> Path:
        notes = tmp_path / f"{name}_notes"
        notes.mkdir()
        for j, (midi, note) in enumerate(((59, "B3"), (65, "F4"), (72, "C5"))):
            for abbr in abbrs:
                write_note(notes, f"{abbr}-ord-{note}-mf.wav", harmonic_note(midi, TIMBRES[abbr], seed=50 + j))
        prepare_dataset(notes, tmp_path / name, PrepareConfig(slice_hop=4), progress=False)
        return tmp_path / name

    judge = judge_set("judge", ("Fl", "Vn"))
    messages: list[str] = []
    m = evaluate(tiny_model, tiny_prepared, tmp_path / "out", progress=False, log=messages.append,
                 judge=str(judge), latent=False, max_notes=1, classifier_epochs=20, examples=0)
    assert m["instruments"] == ["Flute", "Violin"] and m["config"]["judge"] == str(judge)
    assert any(x.startswith("no notes of Alto-Sax in the judge's set") for x in messages)
    train = m["classifier"]["train"]
    assert (train["data"], train["split"], train["notes"]) == (str(judge), "all", 6)
    assert m["classifier"]["note_accuracy"] == 1.0  # it knows the evaluated set's real notes
    assert m["transfer"]["transfers"] == 2
    assert "every note of" in (tmp_path / "out" / "index.html").read_text()
    # a judge that shares one instrument is refused, in one line naming it
    with pytest.raises(MoveError, match="share 1 of the evaluated instruments") as err:
        evaluate(tiny_model, tiny_prepared, tmp_path / "out2", progress=False, log=messages.append,
                 judge=str(judge_set("one", ("Fl", "Hn"))), latent=False, max_notes=1)
    assert "\n" not in str(err.value) and "one" in str(err.value)
    assert not (tmp_path / "out2").exists()


# ----------------------------------------------------------------------------- in a browser

@pytest.mark.slow
@needs_chromium
def test_page_loads_in_headless_chromium(report, tmp_path):
    out, _, _ = report
    drv = driver(tmp_path / "profile")
    try:
        with serve(out) as base:
            media = check_media(drv, base, out)  # every image loads, every clip has a duration
            assert len(media["images"]) >= 10
            assert len(media["audio"]) == 12 and min(media["audio"].values()) > 0.5
            shot = tmp_path / "report.png"
            assert drv.save_screenshot(str(shot))
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
            # the interactive latent page draws its plot offline
            drv.get(f"{base}/latent.html")
            drawn = drv.execute_async_script(
                "const done = arguments[0]; const t0 = Date.now();"
                "(function poll() { const d = document.querySelector('.js-plotly-plot');"
                " if (window.Plotly && d && d.querySelector('canvas, svg')) return done(true);"
                " if (Date.now() - t0 > 20000) return done(false); setTimeout(poll, 100); })();")
            assert drawn
    finally:
        drv.quit()


def test_real_notes_are_loaded_and_measured_once_for_many_models(report, tiny_prepared):
    """The benchmark's set-up: every held-out note's audio, detail and pooled descriptors."""
    from move.audio.io import load_audio
    from move.data.prepare import select_notes
    from move.evaluate.notes import real_notes
    from move.evaluate.transfer_eval import note_descriptors

    out, metrics, _ = report
    clf = load_classifier(out / "classifier.pt")
    ds = PreparedDataset(tiny_prepared)
    notes = select_notes(ds, metrics["instruments"], "test", 2)
    real = real_notes(clf, ds, notes, 22050)
    rows = [r for rs in notes.values() for r in rs]
    assert sorted(real.audio) == sorted(rows) == sorted(real.detail)
    first = rows[0]
    np.testing.assert_array_equal(real.audio[first], load_audio(ds.notes[first]["file"], 22050)[0])
    assert set(real.detail[first]) >= {"attack_ms", "frame_change_db"}
    for inst, rs in notes.items():
        frames = sum(len(note_descriptors(real.audio[r], 22050, int(ds.notes[r]["pitch"]))["centroid"]) for r in rs)
        assert len(real.descriptors[inst]["centroid"]) == frames
    hits = [clf.instruments[int(clf.predict_audio(real.audio[r], 22050, int(ds.notes[r]["pitch"])).argmax())] == inst
            for inst, rs in notes.items() for r in rs]
    assert real.classifier_accuracy == pytest.approx(np.mean(hits))
