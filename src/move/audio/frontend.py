"""Spectral front ends: audio <-> compressed magnitudes, with magnitude-only inversion.

Two front ends turn audio into the frames the model sees and back:

``"stft"`` (the default)
    Short-time Fourier transform with a Gaussian window (``n_fft=1024``, hop 256 samples,
    513 bins, 86 frames per second at 22 050 Hz). Magnitudes are inverted by Phase
    Gradient Heap Integration (:mod:`move.audio.pghi`) followed by ``gl_iters`` iterations of fast
    Griffin-Lim: spectral convergence about 0.01-0.03 on instrument notes.
``"nsgt-mel"`` (the MoVE paper's)
    Non-stationary Gabor transform on a mel scale (500 bins from 30 Hz to 11 kHz, hop 168
    samples, 131 frames per second). Magnitudes are inverted by fast Griffin-Lim alone:
    spectral convergence about 0.3 (the mel NSGT is barely redundant, so its phase is
    poorly determined).

Magnitudes are compressed as ``log(magnitude + log_floor)`` (natural log; coefficients
are scaled so a full-scale sinusoid has magnitude 1, so ``log_floor=1e-5`` is -100 dB).
Per-bin normalisation statistics (mean and standard deviation of the compressed
magnitudes) belong to the front end and travel with the model through :meth:`Frontend.state`.

Examples
--------
>>> fe = make_frontend("stft")
>>> x = torch.randn(22050)
>>> logmag = fe.analyze(x)  # (87, 513)
>>> y = fe.invert(logmag, length=22050)  # audio, (22050,)
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from move.audio import stft as _stft
from move.audio.inversion import fast_griffin_lim
from move.audio.names import DEFAULT_FRONTEND, FRONTENDS
from move.audio.nsgt import NsgtMel
from move.config import from_dict, to_dict
from move.errors import ConfigError

__all__ = [
    "DEFAULT_FRONTEND",
    "FRONTENDS",
    "Frontend",
    "FrontendConfig",
    "NsgtMelFrontend",
    "StftFrontend",
    "frontend_config",
    "make_frontend",
    "roundtrip",
    "warm_up",
]

#: Floor of the per-bin standard deviation (natural-log units, about 0.9 dB), so bins that
#: never change in the training data do not blow up when they do at inference.
STD_FLOOR = 0.1


@dataclass
class FrontendConfig:
    """Parameters of a spectral front end (saved with every model and prepared dataset).

    Parameters
    ----------
    name : str
        ``"stft"`` or ``"nsgt-mel"``.
    sample_rate : int
        Sampling rate of the audio in Hz.
    n_fft : int
        STFT window and FFT length in samples (``stft`` only); ``n_fft // 2 + 1`` bins.
    hop_length : int
        Samples between frames (both front ends; the ``nsgt-mel`` preset uses 168,
        about 131 frames per second, the largest hop for which that transform is
        invertible is 170).
    n_bins : int
        Number of mel bins (``nsgt-mel`` only).
    fmin, fmax : float
        Centre frequencies of the lowest and highest mel bin in Hz (``nsgt-mel`` only).
    log_floor : float
        Amplitude compression ``log(magnitude + log_floor)``; magnitude 1 is a full-scale
        sinusoid.
    gl_iters : int
        Fast Griffin-Lim iterations of the magnitude-only inversion (after PGHI for
        ``stft``, from a fixed pseudo-random phase for ``nsgt-mel``).
    gl_momentum : float
        Fast Griffin-Lim acceleration (Perraudin et al. 2013); 0 is plain Griffin-Lim.
    """

    name: str = "stft"
    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    n_bins: int = 500
    fmin: float = 30.0
    fmax: float = 11000.0
    log_floor: float = 1e-5
    gl_iters: int = 32
    gl_momentum: float = 0.99


_PRESETS: dict[str, FrontendConfig] = {
    "stft": FrontendConfig(name="stft"),
    "nsgt-mel": FrontendConfig(name="nsgt-mel", hop_length=168),
}


def frontend_config(name: str, **overrides: Any) -> FrontendConfig:
    """The preset configuration of front end ``name``, with ``overrides`` applied.

    Parameters
    ----------
    name : str
        One of :data:`FRONTENDS`.
    **overrides
        Any :class:`FrontendConfig` field, e.g. ``hop_length=128``.

    Returns
    -------
    config : FrontendConfig

    Raises
    ------
    ConfigError
        Unknown front end name or option.

    Examples
    --------
    >>> frontend_config("nsgt-mel").hop_length
    168
    """
    if name not in _PRESETS:
        raise ConfigError(f"unknown front end {name!r}; choose one of: {', '.join(FRONTENDS)}")
    fields = set(FrontendConfig.__dataclass_fields__)
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"front end {name}: unknown option(s) {', '.join(unknown)}")
    if "name" in overrides and overrides["name"] != name:
        raise ConfigError(f"front end {name}: cannot override name with {overrides['name']!r}")
    return replace(_PRESETS[name], **overrides)


#: Fields of :class:`FrontendConfig` that only the inversion uses: data analysed with one
#: value serves a model with another.
INVERSION_FIELDS = ("gl_iters", "gl_momentum")
_INT_FIELDS = ("sample_rate", "n_fft", "hop_length", "n_bins", "gl_iters")
_FLOAT_FIELDS = ("fmin", "fmax", "log_floor", "gl_momentum")


def _validate(cfg: FrontendConfig) -> None:
    """Raise :class:`ConfigError` naming the first invalid option of ``cfg``."""
    if cfg.name not in FRONTENDS:
        raise ConfigError(f"unknown front end {cfg.name!r}; choose one of: {', '.join(FRONTENDS)}")
    for field in _INT_FIELDS:
        value = getattr(cfg, field)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"front end {cfg.name}: {field} must be an integer, got {value!r}")
    for field in _FLOAT_FIELDS:
        value = getattr(cfg, field)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ConfigError(
                f"front end {cfg.name}: {field} must be a finite number, got {value!r}"
            )
    checks = [
        (cfg.sample_rate > 0, "sample_rate must be positive"),
        (cfg.hop_length > 0, "hop_length must be positive"),
        (cfg.log_floor > 0, "log_floor must be positive"),
        (cfg.gl_iters >= 0, "gl_iters must be non-negative"),
        (0 <= cfg.gl_momentum < 1, "gl_momentum must be in [0, 1)"),
    ]
    if cfg.name == "stft":
        checks += [
            (cfg.n_fft >= 16 and cfg.n_fft % 2 == 0, "n_fft must be an even integer >= 16"),
            (cfg.hop_length <= cfg.n_fft // 2, "hop_length must be at most n_fft / 2"),
        ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"front end {cfg.name}: {message}")


def _as_tensor(x: torch.Tensor | np.ndarray, device: torch.device) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    return torch.as_tensor(np.asarray(x), device=device)


class Frontend:
    """Base class of the spectral front ends; build one with :func:`make_frontend`.

    Attributes
    ----------
    config : FrontendConfig
    n_bins : int
        Bins per frame of :meth:`analyze` (513 for the 1024-point STFT, 500 for nsgt-mel).
    n_complex_bins : int
        Bins per frame of :meth:`forward_complex` (``n_bins`` for stft, ``n_bins + 2`` for
        nsgt-mel: low-pass band first, high-pass band last).
    hop_length : int
        Samples between frames.
    frame_rate : float
        Frames per second.
    mean, std : torch.Tensor or None, shape (n_bins,)
        Per-bin statistics of the compressed magnitudes (:meth:`fit_normalization`).
    """

    config: FrontendConfig
    n_bins: int
    n_complex_bins: int

    def __init__(self, config: FrontendConfig) -> None:
        _validate(config)
        self.config = config
        self.hop_length = int(config.hop_length)
        self.frame_rate = config.sample_rate / config.hop_length
        self.mean: torch.Tensor | None = None
        self.std: torch.Tensor | None = None
        self.device = torch.device("cpu")

    def __repr__(self) -> str:
        fitted = "fitted" if self.mean is not None else "not fitted"
        return f"{type(self).__name__}({self.config}, {fitted})"

    # -- to implement ------------------------------------------------------------------------
    def n_frames(self, n_samples: int) -> int:
        """Number of frames :meth:`analyze` returns for ``n_samples`` samples."""
        raise NotImplementedError

    def forward_complex(self, audio: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Complex coefficients of ``audio``.

        Parameters
        ----------
        audio : torch.Tensor or np.ndarray, shape (..., samples)

        Returns
        -------
        coefs : torch.Tensor, complex64, shape (..., frames, n_complex_bins)
        """
        raise NotImplementedError

    def inverse_complex(self, coefs: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Audio from complex coefficients (exact inverse of :meth:`forward_complex`).

        Parameters
        ----------
        coefs : torch.Tensor, complex, shape (..., frames, n_complex_bins)
        length : int, optional
            Output length in samples (default: as many as the frames cover).

        Returns
        -------
        audio : torch.Tensor, float32, shape (..., length)
        """
        raise NotImplementedError

    def _invert_magnitude(self, mag: torch.Tensor, length: int | None) -> torch.Tensor:
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------
    def analyze(self, audio: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Compressed magnitudes ``log(|coefs| + log_floor)`` of ``audio`` (not normalised).

        Parameters
        ----------
        audio : torch.Tensor or np.ndarray, shape (..., samples)
            Mono audio at ``config.sample_rate``; a numpy array goes to the front end's
            device, a tensor stays on its own.

        Returns
        -------
        logmag : torch.Tensor, float32, shape (..., n_frames(samples), n_bins)

        Examples
        --------
        >>> make_frontend("nsgt-mel").analyze(torch.zeros(22050)).shape
        torch.Size([132, 500])
        """
        coefs = self.forward_complex(audio)
        if coefs.shape[-1] != self.n_bins:
            coefs = coefs[..., 1:-1]
        return torch.log(coefs.abs() + self.config.log_floor)

    def magnitude(self, logmag: torch.Tensor) -> torch.Tensor:
        """Linear magnitudes from compressed ones: ``max(exp(logmag) - log_floor, 0)``."""
        return (torch.exp(logmag.to(torch.float32)) - self.config.log_floor).clamp_min(0.0)

    def transpose(self, logmag: torch.Tensor, octaves: torch.Tensor | float) -> torch.Tensor:
        """Move compressed magnitudes ``[..., frames, bins]`` up or down by ``octaves``.

        Every frequency is multiplied by ``2 ** octaves`` (a sampler's transposition:
        partials and formants move together): the output at frequency ``f`` is the input
        at ``f / 2 ** octaves``, linearly interpolated between bins; frequencies that come
        from outside the analysed band are silent (``log(log_floor)``).

        Parameters
        ----------
        logmag : Tensor [..., frames, bins]
            Compressed magnitudes (:meth:`analyze`).
        octaves : Tensor [...] or float
            Octaves to move each spectrogram of the batch by (positive: up; fractions
            allowed, 1/12 is a semitone).

        Returns
        -------
        Tensor, same shape as ``logmag``

        Examples
        --------
        >>> fe = make_frontend("stft")
        >>> lm = fe.analyze(np.sin(2 * np.pi * 220 * np.arange(22050) / 22050))
        >>> float(fe.frequencies[fe.transpose(lm, 1.0)[10].argmax()])  # doctest: +ELLIPSIS
        43...
        """
        freqs = torch.as_tensor(np.asarray(self.frequencies, dtype=np.float32), device=logmag.device)
        shift = torch.as_tensor(octaves, dtype=torch.float32, device=logmag.device)
        lead = logmag.shape[:-2]
        shift = shift.expand(lead) if shift.dim() == 0 else shift
        query = freqs * torch.exp2(-shift)[..., None]  # [..., bins]: where each output bin reads
        pos = torch.searchsorted(freqs, query.contiguous()).clamp(1, freqs.numel() - 1)
        f0, f1 = freqs[pos - 1], freqs[pos]
        w = ((query - f0) / (f1 - f0)).clamp(0.0, 1.0)
        idx0 = (pos - 1).unsqueeze(-2).expand(logmag.shape)
        idx1 = pos.unsqueeze(-2).expand(logmag.shape)
        w = w.unsqueeze(-2)
        out = (1.0 - w) * logmag.gather(-1, idx0) + w * logmag.gather(-1, idx1)
        outside = ((query < freqs[0]) | (query > freqs[-1])).unsqueeze(-2).expand(logmag.shape)
        return torch.where(outside, torch.full_like(out, float(np.log(self.config.log_floor))), out)

    @torch.no_grad()
    def invert(self, logmag: torch.Tensor | np.ndarray, length: int | None = None) -> torch.Tensor:
        """Audio from compressed magnitudes alone (phase retrieval).

        ``stft``: PGHI phase then ``gl_iters`` fast Griffin-Lim iterations; ``nsgt-mel``:
        ``gl_iters`` fast Griffin-Lim iterations from a fixed pseudo-random phase.

        Parameters
        ----------
        logmag : torch.Tensor or np.ndarray, shape (..., frames, n_bins)
            Compressed magnitudes as returned by :meth:`analyze` (denormalised).
        length : int, optional
            Output length in samples; default ``(frames - 1) * hop_length`` for stft and
            ``frames * hop_length`` for nsgt-mel (the length that gives ``frames``).

        Returns
        -------
        audio : torch.Tensor, float32, shape (..., length)

        Examples
        --------
        >>> fe = make_frontend("stft")
        >>> x = torch.randn(2, 22050)
        >>> fe.invert(fe.analyze(x), length=22050).shape
        torch.Size([2, 22050])
        """
        logmag = _as_tensor(logmag, self.device)
        if logmag.ndim < 2 or logmag.shape[-1] != self.n_bins:
            raise ValueError(
                f"{self.config.name}: expected magnitudes (..., frames, {self.n_bins}), got {tuple(logmag.shape)}"
            )
        if length is not None and length < 0:
            raise ValueError(f"{self.config.name}: negative length {length}")
        return self._invert_magnitude(self.magnitude(logmag), length)

    def fit_normalization(
        self, logmag_frames: torch.Tensor | np.ndarray, std_floor: float = STD_FLOOR
    ) -> None:
        """Set :attr:`mean` and :attr:`std` per bin from compressed magnitudes.

        Parameters
        ----------
        logmag_frames : torch.Tensor or np.ndarray, shape (..., n_bins)
            Frames of :meth:`analyze` (e.g. all training frames, shape ``(N, n_bins)``).
        std_floor : float
            Smallest standard deviation kept (natural-log units).
        """
        frames = _as_tensor(logmag_frames, torch.device("cpu")).detach()
        if frames.ndim < 1 or frames.shape[-1] != self.n_bins:
            raise ValueError(
                f"{self.config.name}: expected frames (N, {self.n_bins}), got {tuple(frames.shape)}"
            )
        frames = frames.reshape(-1, self.n_bins).to("cpu", torch.float64)
        if frames.shape[0] == 0:
            raise ValueError(f"{self.config.name}: no frames to fit the normalisation on")
        if not torch.isfinite(frames).all():
            raise ValueError(f"{self.config.name}: frames hold NaN or infinite values")
        mean = frames.mean(0)
        std = frames.std(0, correction=0).clamp_min(std_floor)
        self.mean = mean.to(self.device, torch.float32)
        self.std = std.to(self.device, torch.float32)

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mean is None or self.std is None:
            raise ConfigError(
                f"front end {self.config.name}: normalisation not fitted (call fit_normalization first)"
            )
        return self.mean.to(like.device), self.std.to(like.device)

    def normalize(self, logmag: torch.Tensor | np.ndarray) -> torch.Tensor:
        """``(logmag - mean) / std`` per bin (shape ``(..., n_bins)``)."""
        logmag = _as_tensor(logmag, self.device).to(torch.float32)
        mean, std = self._stats(logmag)
        return (logmag - mean) / std

    def denormalize(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Inverse of :meth:`normalize`: ``x * std + mean``."""
        x = _as_tensor(x, self.device).to(torch.float32)
        mean, std = self._stats(x)
        return x * std + mean

    def state(self) -> dict[str, Any]:
        """JSON-compatible state: ``{"config": {...}, "mean": [...] | None, "std": [...] | None}``."""
        return {
            "config": to_dict(self.config),
            "mean": None if self.mean is None else [float(v) for v in self.mean.cpu()],
            "std": None if self.std is None else [float(v) for v in self.std.cpu()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Frontend:
        """Rebuild a front end (the right subclass) from :meth:`state`.

        Raises
        ------
        ConfigError
            Malformed state: not a mapping, unknown keys or options, statistics of the
            wrong length or not finite and positive.
        """
        if not isinstance(state, dict) or "config" not in state:
            raise ConfigError("front end state: expected a mapping with a 'config' entry")
        unknown = sorted(set(state) - {"config", "mean", "std"})
        if unknown:
            raise ConfigError(f"front end state: unknown key(s) {', '.join(unknown)}")
        config = from_dict(FrontendConfig, state["config"])
        frontend = make_frontend(config)
        mean, std = state.get("mean"), state.get("std")
        if (mean is None) != (std is None):
            raise ConfigError(
                "front end state: 'mean' and 'std' must both be given or both be null"
            )
        if mean is not None:
            try:
                mean_t = torch.tensor(mean, dtype=torch.float32)
                std_t = torch.tensor(std, dtype=torch.float32)
            except (TypeError, ValueError, RuntimeError):
                raise ConfigError(
                    "front end state: 'mean' and 'std' must be lists of numbers"
                ) from None
            n = frontend.n_bins
            if mean_t.shape != (n,) or std_t.shape != (n,):
                raise ConfigError(
                    f"front end state: 'mean' and 'std' must hold {n} values for {config.name}, "
                    f"got {tuple(mean_t.shape)} and {tuple(std_t.shape)}"
                )
            if not (
                torch.isfinite(mean_t).all() and torch.isfinite(std_t).all() and (std_t > 0).all()
            ):
                raise ConfigError(
                    "front end state: 'mean' must be finite and 'std' finite and positive"
                )
            frontend.mean, frontend.std = mean_t, std_t
        return frontend

    def to(self, device: torch.device | str) -> Frontend:
        """Move the normalisation statistics (and default device for numpy input); returns self."""
        self.device = torch.device(device)
        if self.mean is not None and self.std is not None:
            self.mean = self.mean.to(self.device)
            self.std = self.std.to(self.device)
        return self


class StftFrontend(Frontend):
    """Gaussian-window STFT front end; magnitudes inverted by PGHI + fast Griffin-Lim.

    See :mod:`move.audio.stft`. ``n_frames(n) = 1 + n // hop_length``; frame ``i`` is
    centred on sample ``i * hop_length``.
    """

    def __init__(self, config: FrontendConfig) -> None:
        super().__init__(config)
        self.n_fft = int(config.n_fft)
        self.n_bins = self.n_fft // 2 + 1
        self.n_complex_bins = self.n_bins
        #: Centre frequency of each bin in Hz.
        self.frequencies = np.arange(self.n_bins) * config.sample_rate / self.n_fft

    def n_frames(self, n_samples: int) -> int:
        return _stft.stft_n_frames(n_samples, self.hop_length)

    def forward_complex(self, audio: torch.Tensor | np.ndarray) -> torch.Tensor:
        audio = _as_tensor(audio, self.device)
        return _stft.stft(audio, self.n_fft, self.hop_length)

    def inverse_complex(self, coefs: torch.Tensor, length: int | None = None) -> torch.Tensor:
        return _stft.istft(coefs, length, self.n_fft, self.hop_length)

    def _invert_magnitude(self, mag: torch.Tensor, length: int | None) -> torch.Tensor:
        frames = mag.shape[-2]
        inner = max((frames - 1) * self.hop_length, 1)  # a length whose STFT has `frames` frames
        phase = _stft.pghi_phase(mag, self.n_fft, self.hop_length)
        coefs = fast_griffin_lim(
            mag,
            lambda x: _stft.stft(x, self.n_fft, self.hop_length),
            lambda c: _stft.istft(c, inner, self.n_fft, self.hop_length),
            n_iter=self.config.gl_iters,
            momentum=self.config.gl_momentum,
            init_phase=phase,
        )
        return _stft.istft(coefs, inner if length is None else length, self.n_fft, self.hop_length)


class NsgtMelFrontend(Frontend):
    """Mel-scale non-stationary Gabor transform front end (the MoVE paper's).

    See :mod:`move.audio.nsgt`. ``n_frames(n) = ceil(n / hop_length)``; frame ``i`` is
    centred on sample ``i * hop_length``. Magnitudes are inverted by fast Griffin-Lim.
    """

    def __init__(self, config: FrontendConfig) -> None:
        super().__init__(config)
        self.transform = NsgtMel(
            config.sample_rate, config.hop_length, config.n_bins, config.fmin, config.fmax
        )
        self.n_bins = int(config.n_bins)
        self.n_complex_bins = self.n_bins + 2
        #: Centre frequency of each mel bin in Hz.
        self.frequencies = self.transform.centres[1:-1]

    def n_frames(self, n_samples: int) -> int:
        return self.transform.n_frames(n_samples)

    def forward_complex(self, audio: torch.Tensor | np.ndarray) -> torch.Tensor:
        return self.transform.forward(_as_tensor(audio, self.device))

    def inverse_complex(self, coefs: torch.Tensor, length: int | None = None) -> torch.Tensor:
        m = coefs.shape[-2]
        inner = m * self.hop_length
        if length is None or length <= inner:
            return self.transform.backward(coefs, length)
        audio = self.transform.backward(coefs, inner)
        return torch.nn.functional.pad(audio, (0, length - inner))

    def _invert_magnitude(self, mag: torch.Tensor, length: int | None) -> torch.Tensor:
        full = torch.nn.functional.pad(mag, (1, 1))  # low-pass and high-pass bands: silent
        gen = torch.Generator().manual_seed(0)
        # the same pseudo-random phase for every item, so a batch inverts like its items
        phase = (torch.rand(full.shape[-2:], generator=gen) * (2 * math.pi)).to(full.device)
        phase = phase.expand(full.shape)
        inner = mag.shape[-2] * self.hop_length
        coefs = fast_griffin_lim(
            full,
            self.transform.forward,
            lambda c: self.transform.backward(c, inner),
            n_iter=self.config.gl_iters,
            momentum=self.config.gl_momentum,
            init_phase=phase,
        )
        return self.inverse_complex(coefs, length)


_CLASSES: dict[str, type[Frontend]] = {"stft": StftFrontend, "nsgt-mel": NsgtMelFrontend}


def make_frontend(config: FrontendConfig | str) -> Frontend:
    """Build the front end described by ``config`` (a config or a preset name).

    Parameters
    ----------
    config : FrontendConfig or str
        A configuration, or one of :data:`FRONTENDS` for its preset.

    Returns
    -------
    frontend : Frontend
        A :class:`StftFrontend` or :class:`NsgtMelFrontend` (normalisation not fitted).

    Raises
    ------
    ConfigError
        Unknown name or invalid parameters.

    Examples
    --------
    >>> make_frontend("stft").n_bins
    513
    """
    if isinstance(config, str):
        config = frontend_config(config)
    if not isinstance(config, FrontendConfig):
        raise ConfigError(
            f"front end: expected a FrontendConfig or a name, got {type(config).__name__}"
        )
    _validate(config)
    return _CLASSES[config.name](config)


_WARM: set[tuple[str, int]] = set()


def warm_up(frontend: Frontend) -> None:
    """Run a tiny inversion once per process so one-time costs (numba compilation of
    PGHI, about 5 s) are not counted in timings."""
    key = (frontend.config.name, frontend.config.n_fft)
    if key not in _WARM:
        n = 4 * max(frontend.hop_length, getattr(frontend, "n_fft", 0))
        noise = torch.randn(n, generator=torch.Generator().manual_seed(0))
        frontend.invert(frontend.analyze(noise), n)
        _WARM.add(key)


def roundtrip(
    path: str | os.PathLike,
    frontend: str | FrontendConfig | Frontend = DEFAULT_FRONTEND,
    out_path: str | os.PathLike | None = None,
) -> dict[str, float]:
    """Analyse a file, invert its magnitudes alone, and measure the result.

    Parameters
    ----------
    path : path-like
        Audio file (loaded mono at the front end's sample rate).
    frontend : str, FrontendConfig or Frontend
        Front end to test.
    out_path : path-like, optional
        Where to write the resynthesised audio (atomically).

    Returns
    -------
    result : dict
        ``spectral_convergence`` and ``log_spectral_distance`` (dB) against the input on a
        common 1024-point Hann STFT, ``seconds`` (analysis + inversion wall time, without
        the one-time numba compilation), ``x_realtime`` (duration / seconds) and
        ``duration`` (seconds of audio).

    Examples
    --------
    >>> roundtrip("note.wav", "stft", "note-resynth.wav")  # doctest: +SKIP
    {'spectral_convergence': 0.012, 'log_spectral_distance': 1.9, 'seconds': 0.05, ...}
    """
    from move.audio.io import load_audio, write_audio
    from move.audio.metrics import log_spectral_distance, spectral_convergence

    fe = frontend if isinstance(frontend, Frontend) else make_frontend(frontend)
    audio, sr = load_audio(path, fe.config.sample_rate)
    x = torch.from_numpy(audio).to(fe.device)
    warm_up(fe)
    start = time.perf_counter()
    y = fe.invert(fe.analyze(x), length=x.shape[-1])
    seconds = time.perf_counter() - start
    out = y.cpu().numpy()
    if out_path is not None:
        write_audio(out_path, out, sr)
    duration = audio.shape[-1] / sr
    return {
        "spectral_convergence": spectral_convergence(audio, out),
        "log_spectral_distance": log_spectral_distance(audio, out),
        "seconds": seconds,
        "x_realtime": duration / seconds if seconds > 0 else float("inf"),
        "duration": duration,
    }
