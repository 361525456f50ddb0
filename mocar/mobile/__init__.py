"""Floor 6: what a phone app bundles — golden vectors and the Android app's assets.

* :mod:`~mocar.mobile.golden`: golden vectors (decoded pixels, input tensors, outputs and answers of
  exported files) that the Android core's JVM tests replay bit-exactly;
* :mod:`~mocar.mobile.android_assets`: the TFLite files and a phone-readable copy of the reference
  index, written into an app's assets folder.

Everything here is computed by the floors below (runtime runners, field answers, the exporter's file
names); nothing is re-implemented.
"""
