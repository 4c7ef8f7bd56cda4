"""The digits CNN: conv -> ReLU -> pool -> dense -> softmax cross-entropy, trained by plain SGD.

This is the network of the NumPy CNN tutorial (8 filters of 3x3, padding 1, 2x2 max pooling,
one dense layer, batch 64, learning rate 0.1, 10 epochs on scikit-learn's bundled
``load_digits`` with an 80/20 stratified split), as a function, a saved model and a command
(``fastconv digits``, in :mod:`fastconv.cli`).

Two backends run the same loop on the same random draws:

* ``backend="reference"`` calls the public functions of :mod:`fastconv.reference` one layer at a
  time, exactly as the tutorial's script does (slow: about ten seconds per epoch);
* ``backend="fastconv"`` runs each SGD step as one compiled call
  (:class:`fastconv._digits.Stepper`, C without the GIL, float32/float64, SSE2 or AVX2+FMA
  picked at run time) on buffers allocated once per run: ReLU and pooling are fused (``max``
  and ``relu`` commute, and the gradient reaching the pool is masked where the pooled value is
  not positive, which gives the same numbers as ReLU's own backward), terms known to be zero are
  skipped and the first layer's input gradient is never computed. The tests hold this step to
  the same loop written layer by layer over :mod:`fastconv`'s public functions
  (``_Trainer(..., layer_by_layer=True)``): only the order of the sums differs.

With the same ``seed`` both backends draw the same split, initial weights and batches, and end
within float rounding of each other.

Files: ``_data`` (the bundled digits, image checks, the split), ``_model`` (:class:`DigitsModel`,
its file format, :func:`load`), ``_net`` (the layer-by-layer and the compiled step), ``_train``
(:func:`train`), ``_progress`` (the progress bar), ``_plot`` (:func:`plot`).
"""
from __future__ import annotations

from ._data import NUM_CLASSES, load_data
from ._model import DigitsModel, load
from ._plot import plot
from ._train import train

__all__ = ["DigitsModel", "train", "load", "load_data", "plot"]

DEFAULT_SEED = 6  # the seed the command line uses when none is given (see README: accuracy by seed)
