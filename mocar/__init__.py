"""mocar: identify archaeological objects (collection/region and year) from a photo.

Follows "Cultural Assets Identification using Transfer Learning" (Bugert, Liu, Berchtold,
Steinebach): BiT ResNet-V2 backbones with the MaxAvg-Cat and MOCaR heads, then exports to mobile
formats with measured parity. Sub-packages mirror the pipeline: data, model, train, export, quantize,
bench; `mocar.cli` is the command line.
"""

__version__ = "0.1.0"
