"""Training stage: BiT-HyperRule schedule, losses, MixUp, lr range test, the resumable loop, eval.

Python API: :func:`mocar.train.loop.fit` (``mocar train``), :func:`mocar.train.loop.find_lr`
(``mocar train lr-find``), :func:`mocar.train.eval_run.evaluate_run` (``mocar eval``).
"""
