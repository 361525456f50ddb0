"""The typed int8 request (mocar.quantize.request): flags and saved jobs fail naming the flag or the key."""
import pytest

from mocar.errors import InputError
from mocar.quantize.request import DEFAULTS, OFFERED, Int8Request, request_from_flags


def test_unset_flags_take_the_unset_flavours_and_named_ones_are_kept():
    assert request_from_flags(None, None) == Int8Request(**DEFAULTS)
    assert request_from_flags(None, None, unset=OFFERED) == Int8Request.everything()
    chosen = request_from_flags("u8s8_all, s8s8_all", None)
    assert chosen.onnx == ("u8s8_all", "s8s8_all") and chosen.tflite == DEFAULTS["tflite"]


@pytest.mark.parametrize("onnx, tflite, message", [
    ("", None, r"^--onnx-int8 '': no onnx int8 flavour named; name one or more of u8s8_conv"),
    (None, " , ", r"^--tflite-int8 ' , ': no tflite int8 flavour named; name one or more of dynamic_range"),
    (None, "int4", r"^--tflite-int8 'int4': tflite int8 flavour\(s\) \['int4'\] not offered; valid: dynamic_range"),
])
def test_an_empty_or_unknown_flag_value_is_an_error_naming_the_flag(onnx, tflite, message):
    for unset in (DEFAULTS, OFFERED):
        with pytest.raises(InputError, match=message):
            request_from_flags(onnx, tflite, unset=unset)


def test_from_dict_round_trips_and_names_a_missing_key():
    request = Int8Request(onnx=("s8s8_all",), tflite=("dynamic_range",))
    assert Int8Request.from_dict(request.to_dict()) == request
    with pytest.raises(InputError, match=r"^int8 request: missing key\(s\) tflite \(expected a list"):
        Int8Request.from_dict({"onnx": ["s8s8_all"]})
    with pytest.raises(InputError, match=r"^job\.json: missing key\(s\) onnx, tflite"):
        Int8Request.from_dict({}, "job.json")
    with pytest.raises(InputError, match=r"^int8 request: expected an object with keys onnx, tflite, got NoneType"):
        Int8Request.from_dict(None)
