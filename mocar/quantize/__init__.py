"""Int8 quantisation: calibration data and one module per back end."""
