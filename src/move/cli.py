"""The ``move`` command: thin argument parsing over the library.

Every subcommand calls one library function. Problems with the user's input surface as
:class:`move.errors.MoveError` and are printed as one line, ``move: error: ...``, with
exit status 2; :class:`move.errors.MoveWarning` as ``move: warning: ...``.

Parsing imports nothing heavy (no torch, numpy or scipy): ``move --help`` and argument
errors answer at once; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from move.app_config import ENVELOPES, NOTE_ENVELOPE, OUT_OF_RANGE
from move.audio.names import DEFAULT_FRONTEND, FRONTENDS
from move.errors import ConfigError, MoveError, MoveWarning

Command = Callable[[argparse.Namespace], int]



def _warn(message: str) -> None:
    print(f"move: warning: {message}", file=sys.stderr)


def _csv_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    return items or None


def _set_threads(n: int | None) -> None:
    import torch

    n = n or int(os.environ.get("MOVE_THREADS", "0")) or min(4, os.cpu_count() or 1)
    torch.set_num_threads(n)


def _torch_command(func: Command) -> Command:
    """A command that computes with torch: set its threads (``--threads``, MOVE_THREADS) first."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        _set_threads(args.threads)
        return func(args)

    return run


@contextlib.contextmanager
def _warnings_as_lines(category: type[Warning], *, quiet_others: bool = False) -> Iterator[None]:
    """Print warnings of ``category`` as they happen, one ``move: warning: ...`` line each.

    Other warnings keep Python's handling, or are dropped with ``quiet_others``.
    """
    with warnings.catch_warnings():
        if quiet_others:
            warnings.simplefilter("ignore")
        warnings.simplefilter("always", category)
        original = warnings.showwarning

        def show(message, cat, filename, lineno, file=None, line=None):
            if issubclass(cat, category):
                _warn(str(message))
            else:
                original(message, cat, filename, lineno, file, line)

        warnings.showwarning = show
        yield


# --------------------------------------------------------------------------- data
def cmd_data_render(args: argparse.Namespace) -> int:
    from move.data.render import render_database

    paths = render_database(
        args.out,
        instruments=_csv_list(args.instruments),
        soundfont=args.soundfont,
        dynamics=_csv_list(args.dynamics) or ("pp", "mf", "ff"),
        step=args.step,
        duration=args.duration,
        overwrite=args.overwrite,
    )
    print(f"{len(paths)} notes in {args.out}")
    return 0


def cmd_data_fetch_recordings(args: argparse.Namespace) -> int:
    from move.data.recordings import fetch_recordings

    counts = fetch_recordings(args.out, _csv_list(args.instruments))
    print(f"{sum(counts.values())} recorded notes of {len(counts)} instruments in {args.out} (sources: SOURCES.txt)")
    return 0


@_torch_command
def cmd_data_prepare(args: argparse.Namespace) -> int:
    from move.config import given_options
    from move.data.prepare import prepare_dataset
    from move.data.prepare_config import PrepareConfig

    report = prepare_dataset(
        args.notes_dir, args.out, PrepareConfig(**given_options(args, PrepareConfig)),
        instruments=_csv_list(args.instruments), csv_path=args.csv, warn=_warn, jobs=args.jobs,
        splits_from=args.splits_from,
    )
    state = "up to date, reused" if report.reused else "written"
    print(f"{args.out}: {report.notes} notes, {report.slices} slices ({state})")
    return 0


def cmd_data_info(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if (path / "prepared.json").is_file():
        from move.data.prepare import PreparedDataset, format_prepared_summary

        print(format_prepared_summary(PreparedDataset(path).summary()))
    else:
        from move.data.database import format_summary, scan_database, summarize

        print(format_summary(summarize(scan_database(path, warn=_warn))))
    return 0


@_torch_command
def cmd_data_roundtrip(args: argparse.Namespace) -> int:
    from move.audio.frontend import roundtrip

    result = roundtrip(args.input, args.frontend, args.out)
    print(
        f"{args.input} -> {args.out} [{args.frontend}]: spectral convergence "
        f"{result['spectral_convergence']:.4f}, log-spectral distance "
        f"{result['log_spectral_distance']:.2f} dB, {result['x_realtime']:.1f}x real time"
    )
    return 0


# --------------------------------------------------------------------------- train
@_torch_command
def cmd_train(args: argparse.Namespace) -> int:
    import shlex

    from move.config import from_dict, given_options, read_json
    from move.train import is_first_process, train
    from move.train_config import RunConfig, TrainConfig

    saved: dict = {}
    if args.config:  # a saved run's configs; options given on the command line win
        path = Path(args.config)
        path = path / "config.json" if path.is_dir() else path
        if not path.is_file():
            raise MoveError(f"{path}: no such run configuration (a run folder's config.json)")
        saved = read_json(path)
        if not isinstance(saved, dict) or "train" not in saved:
            raise MoveError(f"{path}: not a move train config.json (no 'train' section)")
    data = args.data or saved.get("data")
    if not data:
        raise MoveError("give --data PREPARED (or --config RUN/config.json, which names its data)")
    cfg = from_dict(TrainConfig, {**saved.get("train", {}), **given_options(args, TrainConfig)})
    run = from_dict(RunConfig, {**saved.get("run", {}), **given_options(args, RunConfig)})
    model_path = train(data, args.out, cfg, run, resume=args.resume,
                       command=shlex.join(["move", *args.argv]) if hasattr(args, "argv") else None)
    if is_first_process():
        print(f"model written: {model_path}")  # once, from the first of several DDP processes
    return 0


# --------------------------------------------------------------------------- evaluate
@_torch_command
def cmd_evaluate(args: argparse.Namespace) -> int:
    from move.app_config import EvaluateConfig
    from move.config import given_options
    from move.evaluate.report import evaluate

    evaluate(args.model, args.data, args.out, EvaluateConfig(**given_options(args, EvaluateConfig)))
    print(f"report written: {Path(args.out) / 'index.html'}")
    return 0


# --------------------------------------------------------------------------- benchmark
@_torch_command
def cmd_benchmark(args: argparse.Namespace) -> int:
    from move.app_config import BenchmarkConfig
    from move.benchmark import run_benchmark
    from move.config import given_options

    run_benchmark(args.data, _csv_list(args.instruments) or [], args.out,
                  BenchmarkConfig(**given_options(args, BenchmarkConfig)), progress=not args.no_progress)
    return 0


# --------------------------------------------------------------------------- transfer
def _input_files(path: Path) -> list[Path]:
    from move.audio.io import AUDIO_EXTENSIONS

    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS)
        if not files:
            raise MoveError(f"{path}: no audio files in this folder")
        return files
    if not path.exists():
        raise MoveError(f"{path}: file not found")
    return [path]


@_torch_command
def cmd_transfer(args: argparse.Namespace) -> int:
    from move.transfer import load_model, transfer_files

    model = load_model(args.model)
    targets = _csv_list(args.to) or []
    out_sr: str | int | None = args.sr
    if args.sr not in (None, "input"):
        try:
            out_sr = int(args.sr)
        except ValueError:
            raise MoveError(f"--sr {args.sr!r}: give a rate in Hz or 'input'") from None
    with _warnings_as_lines(UserWarning, quiet_others=True):
        transfer_files(
            _input_files(Path(args.input)), targets, model,
            Path(args.out) if args.out else None, source=args.source, pitch=args.pitch,
            reconstruct=args.reconstruct, out_sr=out_sr, mode=args.mode, warn=_warn,
            out_of_range=args.out_of_range, envelope=args.envelope, texture=not args.no_texture,
            progress=True,
        )
    return 0


@_torch_command
def cmd_stream(args: argparse.Namespace) -> int:
    from move.stream import StreamingTransfer, stream_file, stream_live, stream_source
    from move.transfer import load_model

    _check_stream_args(args)
    model = load_model(args.model)
    # a live input cannot be identified before it plays: --live has its --from
    source = args.source if args.live else stream_source(model, Path(args.input), args.source, args.pitch, log=print)
    stream = StreamingTransfer(model, source, args.to, pitch=args.pitch, mode=args.mode, texture=not args.no_texture)
    if args.live:
        report = stream_live(stream, block=args.block, seconds=args.seconds, device=args.device,
                             out=args.out and Path(args.out))
        if args.out:
            print(f"live ({stream.source} -> {stream.target}, {args.mode}) -> {args.out}")
    else:
        report = stream_file(stream, Path(args.input), Path(args.out), block=args.block)
        print(f"{Path(args.input).name} ({source} -> {stream.target}, {args.mode}) -> {args.out}")
    print(report.describe())
    return 0


def _check_stream_args(args: argparse.Namespace) -> None:
    """A file needs --out; --live needs --from and no file (ConfigError, before any model loads)."""
    if args.live:
        if args.input is not None:
            raise ConfigError(f"--live streams the audio input; drop {args.input!r} "
                              "(or drop --live to stream the file)")
        if not args.source or args.source.lower() == "auto":
            raise ConfigError("--live needs --from (a live input cannot be identified before it plays)")
        if args.seconds is not None and args.seconds <= 0:
            raise ConfigError(f"--seconds must be positive, got {args.seconds:g}")
    else:
        if args.input is None:
            raise ConfigError("give an audio file to stream, or --live for the audio input")
        if args.out is None:
            raise ConfigError("--out is required when streaming a file")


# --------------------------------------------------------------------------- synth
def _vector(text: str | None, flag: str) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise MoveError(f"{flag} {text!r}: expected three numbers like 0.5,-1,2") from None
    if len(values) != 3:
        raise MoveError(f"{flag} {text!r}: expected three coordinates, got {len(values)}")
    return values


@_torch_command
def cmd_synth(args: argparse.Namespace) -> int:
    from move.synth import synthesize
    from move.transfer import load_model

    if (args.from_z is None) != (args.to_z is None) and args.path != "shooting":
        raise MoveError("give both --from-z and --to-z, or --random SEED")
    model = load_model(args.model)
    notes = _csv_list(args.note) or []
    record = synthesize(
        model, kind=args.path, instrument=args.instrument,
        note=notes if len(notes) > 1 else notes[0] if notes else "C4",
        z0=_vector(args.from_z, "--from-z"), z1=_vector(args.to_z, "--to-z"),
        v0=_vector(args.velocity, "--velocity"), seed=args.random, duration=args.duration,
        transfer_to=args.transfer_to, n=args.points, out_dir=Path(args.out), warn=_warn,
    )
    for role, path in record.get("paths", {}).items():
        print(f"{role:>10}: {path}")
    return 0


# --------------------------------------------------------------------------- info
def cmd_info(args: argparse.Namespace) -> int:
    import json

    from move.model.checkpoint import describe_model, format_model_description

    path = args.model
    if path is None:
        from move.transfer import DEFAULT_MODEL

        path = DEFAULT_MODEL
    description = describe_model(path)
    print(json.dumps(description, indent=2) if args.json else format_model_description(description))
    return 0


# --------------------------------------------------------------------------- export
@_torch_command
def cmd_export(args: argparse.Namespace) -> int:
    from move.export import export_model

    for path in export_model(args.model, args.out, args.format):
        print(f"written: {path}")
    return 0


# --------------------------------------------------------------------------- demo
@_torch_command
def cmd_demo(args: argparse.Namespace) -> int:
    from move.demo import run_demo

    index = run_demo(args.out, log=print)
    print(f"demo written: {index}")
    return 0


# --------------------------------------------------------------------------- serve
def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from move.serve.app import create_app

    workers = max(1, args.workers)
    _set_threads(args.threads or max(1, min(4, (os.cpu_count() or 1) // workers)))
    app = create_app(args.model, data=args.data, max_upload_mb=args.max_upload_mb,
                     max_seconds=args.max_seconds, workers=workers)
    print(f"move serve: http://{args.host}:{args.port}/ (Ctrl-C stops it)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


# --------------------------------------------------------------------------- parser
def _add_serve_command(sub) -> None:
    """``move serve``."""
    p = sub.add_parser("serve", help="transfer and play the latent space in the browser (a local web server)")
    p.add_argument("--model", help="model file (default: the shipped default model)")
    p.add_argument("--data", help="prepared dataset whose held-out test notes are drawn on the latent pad "
                                  "(default: the shipped example notes)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--max-upload-mb", type=float, default=50.0, help="largest upload in MB (default 50)")
    p.add_argument("--max-seconds", type=float, default=600.0, help="longest recording in seconds (default 600)")
    p.add_argument("--workers", type=int, default=2, help="requests computed at once (default 2)")
    p.set_defaults(func=cmd_serve)


def _add_data_commands(sub) -> None:
    """``move data``: render, prepare, info, roundtrip."""
    from move.config import add_config_options
    from move.data.prepare_config import PrepareConfig

    data = sub.add_parser("data", help="note databases and prepared datasets")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    p = dsub.add_parser("render", help="render the built-in note database with FluidSynth")
    p.add_argument("--out", required=True, help="output folder for SOL-named wavs")
    p.add_argument("--instruments", help="comma-separated instruments (default: all 12)")
    p.add_argument("--soundfont", help="General MIDI soundfont (default: FluidR3_GM.sf2)")
    p.add_argument("--dynamics", default="pp,mf,ff", help="comma-separated dynamics")
    p.add_argument("--step", type=int, default=1, help="semitones between rendered notes")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per note")
    p.add_argument("--overwrite", action="store_true", help="re-render existing files")
    p.set_defaults(func=cmd_data_render)

    p = dsub.add_parser("fetch-recordings", help="fetch recorded notes of 10 real instruments (npm), SOL-named")
    p.add_argument("--out", required=True, help="output folder for the notes (files already there are kept)")
    p.add_argument("--instruments", help="comma-separated instruments (default: the 10 with recordings)")
    p.set_defaults(func=cmd_data_fetch_recordings)

    p = dsub.add_parser("prepare", help="analyse a note database into training slices")
    p.add_argument("notes_dir", help="folder of notes (SOL names, NSynth, or CSV labels)")
    p.add_argument("--out", required=True, help="prepared dataset folder")
    p.add_argument("--instruments", help="comma-separated instruments to keep")
    p.add_argument("--csv", help="CSV of labels: file, instrument, pitch[, dynamics]")
    p.add_argument("--jobs", type=int, default=1,
                   help="processes analysing the notes, one torch thread each (default 1; the set is the same)")
    p.add_argument("--splits-from", metavar="PREPARED",
                   help="an earlier prepared set whose notes keep their splits (added notes are split by --split)")
    add_config_options(p.add_argument_group("how the notes are prepared (PrepareConfig)"), PrepareConfig)
    p.set_defaults(func=cmd_data_prepare)

    p = dsub.add_parser("info", help="summarise a note database or a prepared dataset")
    p.add_argument("path")
    p.set_defaults(func=cmd_data_info)

    p = dsub.add_parser("roundtrip", help="analyse a file and invert its magnitudes only")
    p.add_argument("input")
    p.add_argument("--frontend", default=DEFAULT_FRONTEND, choices=FRONTENDS)
    p.add_argument("--out", required=True, help="output wav")
    p.set_defaults(func=cmd_data_roundtrip)


def _add_train_command(sub) -> None:
    """``move train``: its options are the fields of TrainConfig and RunConfig."""
    from move.config import add_config_options
    from move.train_config import RunConfig, TrainConfig

    p = sub.add_parser("train", help="train a MoVE model on a prepared dataset",
                       description="Every option below but --data, --out, --config and --resume is a field "
                                   "of move.train_config.TrainConfig or RunConfig.")
    p.add_argument("--data", help="prepared dataset folder (default with --config: the saved run's)")
    p.add_argument("--out", required=True, help="run folder (config, checkpoints, logs, model.pt)")
    p.add_argument("--config", help="train again with a saved run's configuration (RUN/config.json or RUN); "
                                    "options given here override it")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    train_options = p.add_argument_group("what is trained (TrainConfig)")
    add_config_options(train_options, TrainConfig, aliases={"beta_max": ("--beta",)})
    run_options = p.add_argument_group("where it runs (RunConfig)")
    add_config_options(run_options, RunConfig)
    p.set_defaults(func=cmd_train)


def _add_transfer_command(sub) -> None:
    """``move transfer``."""
    p = sub.add_parser("transfer", help="transfer notes or solos to other instruments' timbres")
    p.add_argument("input", help="a note or solo file, or a folder of them")
    p.add_argument("--to", help="target instrument(s), comma-separated")
    p.add_argument("--model", help="model file (default: the shipped default model)")
    p.add_argument("--out", help="output file (.wav) or folder (default: beside the input)")
    p.add_argument("--from", dest="source", help="source instrument, or auto: the model identifies it "
                   "(default: from the SOL name, else auto)")
    p.add_argument("--pitch", help="note (C4), or a MIDI file aligned with a solo "
                   "(default: the SOL name for notes, pYIN pitch tracking otherwise)")
    p.add_argument("--mode", default="auto", choices=("auto", "note", "solo"),
                   help="auto: SOL-named files up to 8 s are notes, the rest solos")
    p.add_argument("--reconstruct", action="store_true", help="also decode with the source condition")
    p.add_argument("--sr", help="output rate in Hz, or 'input' (default: 22050)")
    p.add_argument("--out-of-range", default="transpose", choices=OUT_OF_RANGE,
                   help="pitches outside the target's trained range: decode them octaves inside it and "
                        "transpose back (default), or condition the decoder on them as they are")
    p.add_argument("--envelope", default=NOTE_ENVELOPE, choices=ENVELOPES,
                   help="frame levels of notes: the input's (default: its attack and dynamics) or the decoder's")
    p.add_argument("--no-texture", action="store_true",
                   help="do not add the target's frame-to-frame texture (stored in the model file)")
    p.set_defaults(func=cmd_transfer)


def _add_stream_command(sub) -> None:
    """``move stream``."""
    p = sub.add_parser("stream", help="stream a file through the real-time transfer, block by block")
    p.add_argument("input", nargs="?", help="an audio file, played into the stream as if live")
    p.add_argument("--to", required=True, help="target instrument")
    p.add_argument("--out", help="output .wav (the stream's output, latency included); with --live: "
                   "a recording of what was played (optional)")
    p.add_argument("--from", dest="source", help="source instrument (default: from the SOL name, else "
                   "identified by the model on the first 5 s)")
    p.add_argument("--pitch", help="one note (C4) for the whole stream (default: tracked per frame)")
    p.add_argument("--block", type=int, default=512, help="block size in samples (default: 512)")
    p.add_argument("--mode", default="default", choices=("default", "low-latency"),
                   help="default: overlap-added slices (128 ms); low-latency: newest frame of each slice (46 ms)")
    p.add_argument("--model", help="model file (default: the shipped default model)")
    p.add_argument("--no-texture", action="store_true", help="do not add the target's frame-to-frame texture")
    live = p.add_argument_group("live audio (needs pip install 'move[live]' and PortAudio)")
    live.add_argument("--live", action="store_true", help="transfer the audio input to the audio output "
                      "in real time (sounddevice), until Ctrl-C")
    live.add_argument("--seconds", type=float, help="with --live: stop after this long")
    live.add_argument("--device", help="with --live: PortAudio device, a number or a name "
                      "(python -m sounddevice lists them; default: the system's)")
    p.set_defaults(func=cmd_stream)


def _add_synth_command(sub) -> None:
    """``move synth``."""
    p = sub.add_parser("synth", help="synthesize sound along a path in the 3-d latent space")
    p.add_argument("--model", help="model file (default: the shipped default model)")
    p.add_argument("--path", default="linear", choices=("linear", "geodesic", "shooting"))
    p.add_argument("--instrument", required=True, help="decoding instrument")
    p.add_argument("--note", default="C4", help="note, or comma-separated notes for a melody")
    p.add_argument("--from-z", help="start point x,y,z (write --from-z=-1,0,2 for negatives)")
    p.add_argument("--to-z", help="end point x,y,z (shooting: sets the initial velocity to-from)")
    p.add_argument("--velocity", help="initial velocity x,y,z for --path shooting")
    p.add_argument("--random", type=int, default=None, metavar="SEED",
                   help="draw the endpoints from the prior with this seed")
    p.add_argument("--duration", type=float, default=4.0, help="seconds of sound")
    p.add_argument("--points", type=int, default=64, help="points on the path")
    p.add_argument("--transfer-to", help="also decode the path under this instrument")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_synth)


def _add_evaluate_commands(sub) -> None:
    """``move evaluate`` and ``move benchmark``: their options are the fields of EvaluateConfig and
    BenchmarkConfig."""
    from move.app_config import BenchmarkConfig, EvaluateConfig
    from move.config import add_config_options

    p = sub.add_parser("evaluate", help="evaluate a model on held-out notes: metrics, figures, report page")
    p.add_argument("--model", help="model file (default: the shipped default model)")
    p.add_argument("--data", required=True, help="prepared dataset with the model's instruments")
    p.add_argument("--out", required=True, help="report folder (metrics.json, figures, index.html)")
    add_config_options(p.add_argument_group("what is measured and how (EvaluateConfig)"), EvaluateConfig)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("benchmark", help="train and evaluate MoVE and its baselines under one time budget")
    p.add_argument("--data", required=True, help="prepared dataset folder")
    p.add_argument("--instruments", required=True, help="comma-separated instruments (at least two)")
    p.add_argument("--out", required=True, help="benchmark folder (runs, results.md, results.json, loss_curves.png)")
    add_config_options(p.add_argument_group("the benchmark (BenchmarkConfig)"), BenchmarkConfig,
                       aliases={"budget_minutes": ("--budget",)})
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs, batch jobs)")
    p.set_defaults(func=cmd_benchmark)


def _add_info_and_demo_commands(sub) -> None:
    """``move info``, ``move export`` and ``move demo``."""
    p = sub.add_parser("info", help="what a model file holds: instruments and their ranges, front end, "
                                    "size, training data and command, versions")
    p.add_argument("model", nargs="?", help="model file (default: the shipped default model)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("export", help="export a model for hosts without move: TorchScript or ONNX, with a "
                                      "JSON sidecar (docs/export.md)")
    p.add_argument("model", nargs="?", help="model file (default: the shipped default model)")
    p.add_argument("--format", default="torchscript", choices=("torchscript", "onnx"))
    p.add_argument("--out", required=True, help="TorchScript file, or the stem of PATH.encoder.onnx and "
                                                "PATH.decoder.onnx; the sidecar is PATH.json")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("demo", help="run the demo on the shipped default model and examples")
    p.add_argument("--out", default="out/demo", help="output folder")
    p.set_defaults(func=cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    from move import __version__

    parser = argparse.ArgumentParser(
        prog="move",
        description="Many-to-many musical timbre transfer with Modulated Variational auto-Encoders.",
    )
    parser.add_argument("--version", action="version", version=f"move {__version__}")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_data_commands(sub)
    _add_train_command(sub)
    _add_transfer_command(sub)
    _add_stream_command(sub)
    _add_synth_command(sub)
    _add_evaluate_commands(sub)
    _add_info_and_demo_commands(sub)
    _add_serve_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``move`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        func: Command = args.func
        with _warnings_as_lines(MoveWarning):
            return func(args)
    except MoveError as exc:
        print(f"move: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("move: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
