"""The built-in note database: isolated notes rendered from a General MIDI soundfont.

Notes are synthesised with FluidSynth (through ``pyfluidsynth``) from the FluidR3 GM
soundfont (Debian package ``fluid-soundfont-gm``). The synthesiser runs headless: no
audio driver is ever started, samples are pulled with ``fluid_synth_write_float`` (float
output; the int16 path adds dither that corrupts quiet notes), reverb and chorus are off
and the stereo output is mixed to mono.

Each of the 12 SOL instruments is rendered over its real playing range at the dynamics
pp / mf / ff (MIDI velocities from :data:`~move.data.instruments.DYNAMIC_VELOCITY`), about
5 s per note: the key is held, then released and the release tail rendered. Files are
named the SOL way (``ASax-ord-D#5-mf.wav``) so the database loads like any SOL folder.

FluidSynth applies MIDI events on the boundaries of its 64-sample blocks (2.9 ms at
22 050 Hz): note-offs and the events of :meth:`NoteRenderer.render_sequence` are placed
on the nearest block boundary, note-ons of :meth:`NoteRenderer.render_note` fall exactly
on the first sample, and renders are deterministic (the same call gives the same audio).

A few keys have no sample in FluidR3 (the violin's A#6, MIDI 94, is silent); such a key
is rendered from a neighbouring key with a one-semitone pitch bend.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from move.audio.io import SAMPLE_RATE, write_audio
from move.data.instruments import (
    DYNAMIC_VELOCITY,
    INSTRUMENTS,
    canonical_instrument,
    instrument_info,
    note_name,
)
from move.errors import ConfigError, DependencyError, LabelError

logger = logging.getLogger(__name__)

#: Environment variable naming a soundfont to use instead of the system's GM soundfont.
SOUNDFONT_ENV = "MOVE_SOUNDFONT"
#: Where General MIDI soundfonts are installed by Linux distributions (first found wins).
DEFAULT_SOUNDFONTS: tuple[Path, ...] = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),  # Debian/Ubuntu: fluid-soundfont-gm
    Path("/usr/share/sounds/sf2/default-GM.sf2"),  # Debian alternatives link
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),  # Fedora, Arch
    Path("/usr/share/soundfonts/default.sf2"),
)
_SOUNDFONT_HINT = (
    "install it with: sudo apt-get install fluid-soundfont-gm, or pass --soundfont PATH"
)
_FLUIDSYNTH_HINT = (
    "install the library with: sudo apt-get install libfluidsynth3 "
    "(macOS: brew install fluid-synth) and the binding with: pip install pyfluidsynth"
)

#: Output gain of the synthesiser. With FluidR3 the loudest ff note of the 12 instruments
#: peaks near 0.6 and the quietest pp notes near 0.005.
DEFAULT_GAIN = 1.0
#: FluidSynth's internal block size in samples; MIDI events take effect on its boundaries.
BLOCK = 64
#: Peak under which a render counts as "no sample for this key".
_SILENT_PEAK = 1e-6
#: Pitch-bend value for one semitone with the GM default bend range of 2 semitones.
_SEMITONE_BEND = 4096
#: Channels: 0 plays keys as they are; 1 is bent a semitone up, 2 a semitone down.
_CHANNEL_BEND = {0: 0, 1: _SEMITONE_BEND, 2: -_SEMITONE_BEND}

_LOG_CALLBACK: Any = None  # keeps the ctypes log callback alive
_LAST_FLUID_ERROR: list[str] = []


def find_soundfont(path: str | os.PathLike | None = None) -> Path:
    """Locate the General MIDI soundfont used to render the built-in database.

    Parameters
    ----------
    path : path-like, optional
        An explicit ``.sf2`` file. If omitted, ``$MOVE_SOUNDFONT`` is used when set, else
        the first of :data:`DEFAULT_SOUNDFONTS` that exists
        (``/usr/share/sounds/sf2/FluidR3_GM.sf2`` on Debian and Ubuntu).

    Returns
    -------
    pathlib.Path
        The soundfont file.

    Raises
    ------
    DependencyError
        If no soundfont is found; the message lists where it looked and how to install
        ``fluid-soundfont-gm``.

    Examples
    --------
    >>> find_soundfont()  # doctest: +SKIP
    PosixPath('/usr/share/sounds/sf2/FluidR3_GM.sf2')
    """
    if path is not None:
        candidates: tuple[Path, ...] = (Path(path).expanduser(),)
    elif os.environ.get(SOUNDFONT_ENV):
        candidates = (Path(os.environ[SOUNDFONT_ENV]).expanduser(),)
    else:
        candidates = DEFAULT_SOUNDFONTS
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise DependencyError(
        f"no General MIDI soundfont found (looked in {looked}); {_SOUNDFONT_HINT}"
    )


def _import_fluidsynth() -> Any:
    """Import ``pyfluidsynth``, reporting a missing library as a :class:`DependencyError`."""
    try:
        import fluidsynth
    except (ImportError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DependencyError(f"cannot load FluidSynth ({reason}); {_FLUIDSYNTH_HINT}") from None
    return fluidsynth


def _bind(lib: Any, name: str, restype: Any, *argtypes: Any) -> Callable[..., Any]:
    try:
        func = getattr(lib, name)
    except AttributeError:
        raise DependencyError(
            f"the FluidSynth library lacks {name} (FluidSynth 2 is required); {_FLUIDSYNTH_HINT}"
        ) from None
    func.restype = restype
    func.argtypes = list(argtypes)
    return func


def _route_fluid_log(lib: Any) -> None:
    """Send FluidSynth's messages to :mod:`logging` instead of stderr (once per process)."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is not None or not hasattr(lib, "fluid_set_log_function"):
        return
    proto = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)

    def log(level: int, message: bytes | None, _data: Any) -> None:
        text = (message or b"").decode("utf-8", "replace")
        if level <= 1:  # FLUID_PANIC, FLUID_ERR
            _LAST_FLUID_ERROR[:] = [text]
        logger.debug("fluidsynth[%d]: %s", level, text)

    _LOG_CALLBACK = proto(log)
    set_log = _bind(
        lib, "fluid_set_log_function", ctypes.c_void_p, ctypes.c_int, proto, ctypes.c_void_p
    )
    for level in range(5):  # FLUID_PANIC .. FLUID_DBG
        set_log(level, _LOG_CALLBACK, None)


class NoteRenderer:
    """A headless FluidSynth synthesiser rendering isolated notes and melodies.

    One synthesiser (one loaded soundfont) is reused for every render; between renders
    all voices are killed and the controllers reset, so nothing leaks from one note into
    the next. Use it as a context manager, or call :meth:`close`.

    Parameters
    ----------
    soundfont : path-like, optional
        The ``.sf2`` file; see :func:`find_soundfont`.
    sample_rate : int
        Output sample rate in Hz.
    gain : float
        FluidSynth's output gain (linear, 0-10).

    Raises
    ------
    DependencyError
        If FluidSynth or the soundfont is missing, or the soundfont cannot be loaded.

    Examples
    --------
    >>> with NoteRenderer() as r:  # doctest: +SKIP
    ...     a4 = r.render_note(73, 69, 80)  # flute A4, mezzo-forte, 5 s
    """

    def __init__(
        self,
        soundfont: str | os.PathLike | None = None,
        sample_rate: int = SAMPLE_RATE,
        gain: float = DEFAULT_GAIN,
    ) -> None:
        self.soundfont = find_soundfont(soundfont)
        self.sample_rate = int(sample_rate)
        if self.sample_rate <= 0:
            raise ConfigError(f"sample rate must be positive, got {sample_rate}")
        self.gain = float(gain)
        fluidsynth = _import_fluidsynth()
        lib = getattr(fluidsynth, "_fl", None)
        if lib is None:
            lib = ctypes.CDLL(fluidsynth.find_libfluidsynth())
        _route_fluid_log(lib)
        self._write_float = _bind(
            lib, "fluid_synth_write_float", ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
            ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
        )  # fmt: skip
        self._pitch_bend = _bind(
            lib, "fluid_synth_pitch_bend", ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int
        )
        self._pitch_wheel_sens = _bind(
            lib, "fluid_synth_pitch_wheel_sens", ctypes.c_int,
            ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
        )  # fmt: skip
        self._fs: Any = fluidsynth.Synth(
            gain=self.gain,
            samplerate=float(self.sample_rate),
            channels=16,
            **{"synth.reverb.active": 0, "synth.chorus.active": 0},
        )
        _LAST_FLUID_ERROR.clear()
        sfid = self._fs.sfload(str(self.soundfont))
        if sfid < 0:
            detail = f" ({_LAST_FLUID_ERROR[0]})" if _LAST_FLUID_ERROR else ""
            self.close()
            raise DependencyError(
                f"{self.soundfont}: cannot load soundfont{detail}; is it a SoundFont 2 file? "
                f"{_SOUNDFONT_HINT}"
            )
        self._sfid = sfid
        self._phase = 0  # samples written modulo BLOCK
        self._scratch = np.zeros((2 * BLOCK, 2), dtype=np.float32)
        self._program: int | None = None
        self._gaps: dict[tuple[int, int], tuple[int, int]] = {}
        # The very first voice FluidSynth plays ramps in differently from all later ones:
        # play one throw-away note so that every render is reproducible.
        fs = self._fs
        self._render(0, [(0, 1, lambda: fs.noteon(0, 60, 100))], 4 * BLOCK)

    # -- life cycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Free the synthesiser and the soundfont (idempotent)."""
        fs, self._fs = getattr(self, "_fs", None), None
        if fs is not None:
            fs.delete()

    def __enter__(self) -> NoteRenderer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    # -- low level ----------------------------------------------------------------------
    def _synth(self) -> Any:
        if self._fs is None:
            raise RuntimeError("NoteRenderer is closed")
        return self._fs

    def _write(self, out: np.ndarray) -> None:
        """Render ``len(out)`` stereo frames into the C-contiguous float32 array ``out``."""
        n = out.shape[0]
        if n == 0:
            return
        ptr = out.ctypes.data
        self._write_float(self._synth().synth, n, ptr, 0, 2, ptr, 1, 2)
        self._phase = (self._phase + n) % BLOCK

    def _reset(self, program: int) -> None:
        """Silence everything, reset the controllers and align on a block boundary."""
        fs = self._synth()
        if self._program != program:
            for chan in _CHANNEL_BEND:
                fs.program_select(chan, self._sfid, 0, program)
            self._program = program
        for chan, bend in _CHANNEL_BEND.items():
            fs.all_sounds_off(chan)
            fs.cc(chan, 121, 0)  # reset all controllers (mod wheel, expression, bend...)
            self._pitch_wheel_sens(fs.synth, chan, 2)
            self._pitch_bend(fs.synth, chan, 8192 + bend)
        # Drop what is left of the current block, then render one block in which the
        # killed voices are removed: the next event then starts a fresh, silent block.
        self._write(self._scratch[: (BLOCK - self._phase) % BLOCK])
        self._write(self._scratch[:BLOCK])

    def _render(
        self, program: int, events: list[tuple[int, int, Callable[[], Any]]], n: int
    ) -> np.ndarray:
        """Play ``(sample, order, action)`` events on a fresh synth state; mono float32."""
        self._reset(program)
        out = np.zeros((n, 2), dtype=np.float32)
        pos = 0
        for t, _order, action in sorted(events, key=lambda e: (e[0], e[1])):
            t = min(t, n)
            if t > pos:
                self._write(out[pos:t])
                pos = t
            action()
        self._write(out[pos:])
        mono = out[:, 0] + out[:, 1]  # (much faster than out.mean(axis=1))
        mono *= np.float32(0.5)
        return mono

    def _samples(self, seconds: float) -> int:
        return int(round(seconds * self.sample_rate))

    def _block(self, seconds: float) -> int:
        """Time in samples rounded to the nearest FluidSynth block boundary."""
        return int(round(seconds * self.sample_rate / BLOCK)) * BLOCK

    def _plan(self, program: int, midi: int) -> tuple[int, int]:
        """``(channel, key)`` that sounds pitch ``midi``: the key itself, or a bent neighbour."""
        return self._gaps.get((program, midi), (0, midi))

    def _find_substitute(self, program: int, midi: int) -> tuple[int, int] | None:
        """A bent neighbouring key for a key the soundfont has no sample for."""
        for chan, key in ((1, midi - 1), (2, midi + 1)):
            if 0 <= key <= 127 and self._probe(program, chan, key) >= _SILENT_PEAK:
                return chan, key
        return None

    def _probe(self, program: int, chan: int, key: int) -> float:
        """Peak of a short loud note on ``chan``."""
        fs = self._synth()
        n = self._block(0.25)
        audio = self._render(program, [(0, 1, lambda: fs.noteon(chan, key, 127))], n)
        return float(np.max(np.abs(audio)))

    def _check_key(self, program: int, midi: int) -> bool:
        """Make sure pitch ``midi`` can be played on ``program``; False if it cannot."""
        if (program, midi) in self._gaps:
            return True
        if self._probe(program, 0, midi) >= _SILENT_PEAK:
            return True
        sub = self._find_substitute(program, midi)
        if sub is None:
            return False
        logger.info("program %d has no sample for MIDI %d; bending key %d", program, midi, sub[1])
        self._gaps[(program, midi)] = sub
        return True

    # -- public API -----------------------------------------------------------------------
    def render_note(
        self,
        program: int,
        midi: int,
        velocity: int,
        duration: float = 5.0,
        release: float = 1.0,
    ) -> np.ndarray:
        """Render one isolated note.

        The key goes down on the first sample, is held for ``duration - release`` seconds
        (rounded to a 64-sample block), then released; the rest is the release tail.

        Parameters
        ----------
        program : int
            General MIDI program, 0-127 (bank 0).
        midi : int
            MIDI pitch, 0-127 (A4 = 69).
        velocity : int
            MIDI velocity, 1-127.
        duration : float
            Total length in seconds.
        release : float
            Seconds after the note-off, ``0 <= release <= duration``.

        Returns
        -------
        np.ndarray, shape (round(duration * sample_rate),), float32
            Mono audio. Silent only if the soundfont cannot play this pitch at all.

        Examples
        --------
        >>> with NoteRenderer() as r:  # doctest: +SKIP
        ...     audio = r.render_note(65, 63, 80)  # alto sax D#4 mf
        """
        program, midi, velocity = _check_midi(program, midi, velocity)
        duration, release = float(duration), float(release)
        if not duration > 0:
            raise ConfigError(f"note duration must be positive, got {duration}")
        if not 0 <= release <= duration:
            raise ConfigError(
                f"release must be between 0 and the duration ({duration} s), got {release}"
            )
        n = self._samples(duration)
        fs = self._synth()

        def play(chan: int, key: int) -> np.ndarray:
            t_off = min(self._block(duration - release), n)
            events = [(0, 1, lambda: fs.noteon(chan, key, velocity))]
            if t_off < n:
                events.append((max(t_off, BLOCK), 0, lambda: fs.noteoff(chan, key)))
            return self._render(program, events, n)

        audio = play(*self._plan(program, midi))
        if float(np.max(np.abs(audio))) < _SILENT_PEAK and (program, midi) not in self._gaps:
            sub = self._find_substitute(program, midi)
            if sub is not None:
                logger.info(
                    "program %d has no sample for MIDI %d; bending key %d", program, midi, sub[1]
                )
                self._gaps[(program, midi)] = sub
                audio = play(*sub)
        return audio

    def render_sequence(
        self,
        program: int,
        notes: Sequence[tuple[int, float, float, int]],
        duration: float,
    ) -> np.ndarray:
        """Render a melody (for example a monophonic example phrase).

        Parameters
        ----------
        program : int
            General MIDI program, 0-127.
        notes : sequence of (midi, start, length, velocity)
            Note events; ``start`` and ``length`` in seconds, placed on the nearest 64-sample
            block. Notes sounding past ``duration`` are cut.
        duration : float
            Length of the output in seconds.

        Returns
        -------
        np.ndarray, shape (round(duration * sample_rate),), float32
            Mono audio.

        Examples
        --------
        >>> with NoteRenderer() as r:  # doctest: +SKIP
        ...     tune = r.render_sequence(73, [(69, 0.0, 0.5, 80), (71, 0.5, 0.5, 80)], 1.5)
        """
        duration = float(duration)
        if not duration > 0:
            raise ConfigError(f"sequence duration must be positive, got {duration}")
        program = _check_midi(program, 60, 1)[0]
        fs = self._synth()
        events: list[tuple[int, int, Callable[[], Any]]] = []
        for i, note in enumerate(notes):
            try:
                midi, start, length, velocity = note
            except (TypeError, ValueError):
                raise ConfigError(
                    f"note {i}: expected (midi, start, length, velocity), got {note!r}"
                ) from None
            _, midi, velocity = _check_midi(program, midi, velocity)
            if not (float(start) >= 0 and float(length) > 0):
                raise ConfigError(
                    f"note {i}: start must be >= 0 and length > 0, got {start}, {length}"
                )
            if not self._check_key(program, midi):
                logger.warning("program %d cannot play MIDI %d; note %d left out", program, midi, i)
                continue
            chan, key = self._plan(program, midi)
            t_on = self._block(float(start))
            t_off = max(self._block(float(start) + float(length)), t_on + BLOCK)
            # At equal times note-offs go first, so a repeated key sounds again.
            events.append((t_on, 1, lambda c=chan, k=key, v=velocity: fs.noteon(c, k, v)))
            events.append((t_off, 0, lambda c=chan, k=key: fs.noteoff(c, k)))
        return self._render(program, events, self._samples(duration))


def _check_midi(program: Any, midi: Any, velocity: Any) -> tuple[int, int, int]:
    checks = (("GM program", program, 0), ("MIDI pitch", midi, 0), ("velocity", velocity, 1))
    values = []
    for what, value, low in checks:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, np.integer))
            or not low <= value <= 127
        ):
            raise ConfigError(f"{what} must be an integer {low}-127, got {value!r}")
        values.append(int(value))
    return values[0], values[1], values[2]


def _velocity(dynamics: str) -> int:
    if dynamics not in DYNAMIC_VELOCITY:
        raise LabelError(
            f"unknown dynamics {dynamics!r}; choose one of: {', '.join(DYNAMIC_VELOCITY)}"
        )
    return DYNAMIC_VELOCITY[dynamics]


def render_note(
    instrument: str,
    midi: int,
    dynamics: str = "mf",
    duration: float = 5.0,
    soundfont: str | os.PathLike | None = None,
) -> np.ndarray:
    """Render one note of one of the 12 instruments (one-off; loads the soundfont each call).

    Parameters
    ----------
    instrument : str
        Instrument name or abbreviation (``"Flute"``, ``"ASax"``...).
    midi : int
        MIDI pitch (A4 = 69); it may lie outside the instrument's playing range.
    dynamics : str
        One of ``pp p mf f ff``.
    duration : float
        Seconds; the last second (or a fifth of shorter notes) is the release.
    soundfont : path-like, optional
        See :func:`find_soundfont`.

    Returns
    -------
    np.ndarray, shape (round(duration * 22050),), float32
        Mono audio at :data:`~move.audio.io.SAMPLE_RATE`.

    Raises
    ------
    LabelError
        Unknown instrument or dynamics.
    DependencyError
        FluidSynth or the soundfont is missing.

    Examples
    --------
    >>> audio = render_note("Flute", 69, "ff")  # doctest: +SKIP
    """
    info = instrument_info(instrument)
    velocity = _velocity(dynamics)
    with NoteRenderer(soundfont) as renderer:
        return renderer.render_note(info.gm_program, midi, velocity, duration, _release(duration))


def _release(duration: float) -> float:
    return min(1.0, float(duration) / 5.0)


def database_filename(instrument: str, midi: int, dynamics: str) -> str:
    """SOL file name of a rendered note, e.g. ``"ASax-ord-D#5-mf.wav"``."""
    return f"{instrument_info(instrument).abbr}-ord-{note_name(midi)}-{dynamics}.wav"


def render_database(
    out_dir: str | os.PathLike,
    instruments: Sequence[str] | None = None,
    soundfont: str | os.PathLike | None = None,
    dynamics: Sequence[str] = ("pp", "mf", "ff"),
    step: int = 1,
    duration: float = 5.0,
    progress: bool = True,
    overwrite: bool = False,
    subtype: str = "FLOAT",
) -> list[Path]:
    """Render the built-in note database into a flat folder of SOL-named wav files.

    Every instrument is rendered over its playing range ``[low, high]`` every ``step``
    semitones at each dynamics. Files are written atomically and existing ones are kept
    unless ``overwrite``, so an interrupted render resumes where it stopped.

    Parameters
    ----------
    out_dir : path-like
        Output folder (created if needed).
    instruments : sequence of str, optional
        Instrument names or abbreviations; default all 12.
    soundfont : path-like, optional
        See :func:`find_soundfont`.
    dynamics : sequence of str
        Dynamics to render (velocities from ``DYNAMIC_VELOCITY``).
    step : int
        Pitch step in semitones (1 = every note, 12 = one note per octave).
    duration : float
        Seconds per note; the last second (a fifth of shorter notes) is the release.
    progress : bool
        Show a progress bar.
    overwrite : bool
        Render again notes whose file exists.
    subtype : str
        Wav sample format: ``"FLOAT"`` (default, exact; the full database at 5 s takes
        about 690 MB), ``"PCM_24"`` or ``"PCM_16"`` (half the size; quantises the quietest
        pp notes).

    Returns
    -------
    list of pathlib.Path
        The files of the requested database, existing and new, in rendering order. A
        pitch the soundfont cannot play at all is left out with a warning.

    Raises
    ------
    LabelError
        Unknown instrument or dynamics.
    DependencyError
        FluidSynth or the soundfont is missing (only checked if something is to render).

    Examples
    --------
    >>> paths = render_database("data/gm", instruments=["Flute"], step=12)  # doctest: +SKIP
    >>> paths[0].name  # doctest: +SKIP
    'Fl-ord-C4-pp.wav'
    """
    from tqdm import tqdm

    names = (
        [canonical_instrument(i) for i in instruments]
        if instruments is not None
        else [i.name for i in INSTRUMENTS]
    )
    velocities = {d: _velocity(d) for d in dynamics}
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ConfigError(f"pitch step must be a positive integer, got {step!r}")
    if not float(duration) > 0:
        raise ConfigError(f"note duration must be positive, got {duration}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for name in dict.fromkeys(names):
        info = instrument_info(name)
        for midi in range(info.low, info.high + 1, int(step)):
            for dyn in dict.fromkeys(dynamics):
                jobs.append((info, midi, dyn, out / database_filename(name, midi, dyn)))

    paths: list[Path] = []
    renderer: NoteRenderer | None = None
    if any(overwrite or not path.exists() for *_, path in jobs):
        renderer = NoteRenderer(soundfont)  # fails before the progress bar starts
    try:
        with tqdm(jobs, desc="rendering notes", unit="note", disable=not progress) as bar:
            for info, midi, dyn, path in bar:
                if path.exists() and not overwrite:
                    paths.append(path)
                    continue
                if renderer is None:
                    renderer = NoteRenderer(soundfont)
                audio = renderer.render_note(
                    info.gm_program, midi, velocities[dyn], duration, _release(duration)
                )
                if float(np.max(np.abs(audio))) < _SILENT_PEAK:
                    logger.warning(
                        "%s: %s cannot play %s; skipped", path.name, info.name, note_name(midi)
                    )
                    continue
                paths.append(write_audio(path, audio, renderer.sample_rate, subtype=subtype))
    finally:
        if renderer is not None:
            renderer.close()
    return paths
