"""Floor 6: what a phone app bundles — golden vectors, the Android app's assets and the web app's site.

* :mod:`~mocar.mobile.golden`: golden vectors (decoded pixels, input tensors, outputs and answers of
  exported files) that the Android core's JVM tests replay bit-exactly;
* :mod:`~mocar.mobile.android_assets`: the TFLite files and a phone-readable copy of the reference
  index, written into an app's assets folder;
* :mod:`~mocar.mobile.web` (``mocar web build``): a static offline web app (PWA) and benchmark page
  over the export's ONNX files, with :mod:`~mocar.mobile.web_server` (``mocar web serve``) to serve it
  cross-origin isolated and receive benchmark rows; :mod:`~mocar.mobile.web_layout` is their shared
  folder contract.

Everything here is computed by the floors below (runtime runners, field answers, the exporter's file
names); nothing is re-implemented.
"""
