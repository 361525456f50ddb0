"""Training stage: BiT-HyperRule schedule, losses, MixUp, lr range test, the resumable loop, eval.

Python API: :func:`mocar.train.trainers.train` (``mocar train``), :func:`mocar.train.trainers.find_lr`
(``mocar train lr-find``), :func:`mocar.train.distill.distill` (``mocar distill``),
:func:`mocar.train.eval_run.evaluate_run` (``mocar eval``). :func:`mocar.train.loop.fit` trains with
a trainer class the caller picks.
"""
