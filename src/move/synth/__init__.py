"""Latent synthesis: paths through the 3-D latent space decoded to sound and animations.

Under a fixed condition (instrument, pitch class, octave) the decoder of a MoVE model maps
each point of its 3-dimensional latent space to a spectrogram slice, so a curve in the
latent space is a sound whose timbre moves along the curve. Three kinds of curves:

* **linear**: the straight segment between two latent points (:func:`linear`);
* **geodesic**: the discretised curve between the same two points that minimises its
  energy under the decoder's pull-back metric ``G(z) = J(z)^T J(z)``, ``J`` the Jacobian
  of the decoder (:func:`geodesic`): the path along which the decoded spectra change the
  least in total;
* **shooting**: the geodesic leaving a point with a given initial velocity, integrated
  step by step (:func:`shoot`).

:func:`path_audio` decodes a path to one slice per overlap-add hop, joins the slices with
a window (no clicks between slices) and inverts the spectrogram to audio of an exact
duration; :func:`animate_path` and :func:`summary_png` draw it; :func:`synthesize` does
all of it and writes the files.

The package keeps these concerns apart (each module imports only those listed before it):

* :mod:`move.synth.paths`: the path maths on any decoder (torch only);
* :mod:`move.synth.sound`: the model glue (:func:`model_decoder`) and :func:`path_audio`;
* :mod:`move.synth.pictures`: the animation and the summary picture;
* :mod:`move.synth.run`: :func:`synthesize`, the application that writes the files.

Notes
-----
The discrete energy of a path ``z_0 .. z_{n-1}`` (``t_i = i / (n - 1)``) is

.. math:: E = (n - 1) \\sum_i \\lVert f(z_{i+1}) - f(z_i) \\rVert^2,

which tends to :math:`\\int_0^1 \\dot z^T G(z) \\dot z \\, dt` as ``n`` grows. Its
stationary points with fixed endpoints satisfy, at every interior point,

.. math:: J(z_i)^T \\left( f(z_{i+1}) - 2 f(z_i) + f(z_{i-1}) \\right) = 0,

the discrete geodesic equation (the continuous one, ``J^T (J \\ddot z + \\partial^2 f
[\\dot z, \\dot z]) = 0``, i.e. ``\\ddot z = -\\Gamma(z)[\\dot z, \\dot z]``, in the limit).
:func:`geodesic` minimises ``E``; :func:`shoot` solves the same equation forwards for
``z_{i+1}`` from ``z_{i-1}, z_i`` (Newton steps on a 3x3 system whose Jacobians come from
forward-mode autodiff), so a shot path is a stationary point of the energy between its
own endpoints and :func:`geodesic` recovers it. With ReLU-like decoders the map is
piecewise linear: the metric is piecewise constant and geodesics bend where the paths
cross from one linear region to the next.

Examples
--------
>>> import torch
>>> from move.synth import geodesic, linear, path_energy
>>> f = lambda z: torch.stack([z[:, 0], z[:, 1], (z ** 2).sum(1)], 1)   # a paraboloid
>>> z0, z1 = torch.tensor([-1.0, 0.5], dtype=torch.float64), torch.tensor([1.0, 0.5], dtype=torch.float64)
>>> path, info = geodesic(f, z0, z1, n=32)
>>> bool(info["energy"] < info["energy_linear"])
True
"""

from move.synth.paths import Decoder, far_from_prior, geodesic, linear, path_energy, shoot
from move.synth.pictures import animate_path, summary_png
from move.synth.run import KINDS, synthesize
from move.synth.sound import FADE_S, model_decoder, path_audio

__all__ = [
    "FADE_S",
    "KINDS",
    "Decoder",
    "animate_path",
    "far_from_prior",
    "geodesic",
    "linear",
    "model_decoder",
    "path_audio",
    "path_energy",
    "shoot",
    "summary_png",
    "synthesize",
]
