"""Regenerates the small files in this folder (python3 make_cases.py; needs numpy, not torch).

- npy_*.npy: written by numpy itself, to check NPYArray against the reference writer.
- training_p{2,4,5}.pth: torch.save-style zip archives whose data.pkl CPython's own pickler wrote
  (protocols 2, 4, 5) from stand-ins that reduce to the same globals torch uses. They mimic a
  training checkpoint: {'epoch', 'model': state dict, 'optimizer': {...}, 'args': Namespace,
  'config': dataclass, 'best': float}; the model's tensors are
    w   float32 [2, 3] = arange(6) / 4
    wt  float32 [3, 2], the transpose of w: same storage, stride (1, 3)   (non-contiguous)
    b   float32 [2]    = storage 'b' elements 1..2 of [9, 1.5, -2.5, 9]   (storage offset 1)
    h   float16 [3]    = [1, -2, 0.5]
    n   int64   []     = 7
"""
import argparse, dataclasses, io, pickle, struct, sys, types, zipfile
import numpy as np

# ---- .npy files written by numpy
np.save("npy_f32_2x3.npy", np.array([[0, 1.5, -2], [3.25, 1e-8, np.inf]], dtype="<f4"))
np.save("npy_i32_5.npy", np.array([1, -2, 3, 2**31 - 1, -2**31], dtype="<i4"))
np.save("npy_f32_scalar.npy", np.array(2.5, dtype="<f4"))
np.save("npy_f64_3.npy", np.array([0.1, -1e300, 2.0], dtype="<f8"))
np.save("npy_f16_4.npy", np.array([1, -2, 65504, 2**-24], dtype="<f2"))
np.save("npy_i64_2.npy", np.array([5, -6], dtype="<i8"))
np.save("npy_i16_2.npy", np.array([-300, 300], dtype="<i2"))
np.save("npy_u8_3.npy", np.array([0, 7, 255], dtype="u1"))
np.save("npy_bool_3.npy", np.array([True, False, True]))
np.save("npy_empty_0x4.npy", np.zeros((0, 4), dtype="<f4"))
np.save("npy_fortran_2x3.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
np.save("npy_bigendian_2.npy", np.array([1, 2], dtype=">f4"))
for version in [(2, 0), (3, 0)]:
    with open(f"npy_v{version[0]}_f32_2.npy", "wb") as f:
        np.lib.format.write_array(f, np.array([1.25, -4], dtype="<f4"), version=version)

# ---- stand-ins for the torch globals, registered so pickle can name them
def module(name):
    m = types.ModuleType(name)
    sys.modules[name] = m
    return m

torch = module("torch")
utils = module("torch._utils")
torch._utils = utils

def _rebuild_tensor_v2(*a): pass
def _rebuild_parameter(*a): pass
_rebuild_tensor_v2.__module__ = utils.__name__
_rebuild_parameter.__module__ = utils.__name__
utils._rebuild_tensor_v2 = _rebuild_tensor_v2
utils._rebuild_parameter = _rebuild_parameter

class FloatStorage: pass
class HalfStorage: pass
class LongStorage: pass
for cls in (FloatStorage, HalfStorage, LongStorage):
    cls.__module__ = "torch"
    setattr(torch, cls.__name__, cls)

class Storage:
    def __init__(self, kind, key, numel): self.kind, self.key, self.numel = kind, key, numel

class Tensor:
    def __init__(self, storage, offset, size, stride, parameter=False):
        self.args = (storage, offset, size, stride)
        self.parameter = parameter
    def __reduce_ex__(self, protocol):
        from collections import OrderedDict
        inner = (_rebuild_tensor_v2, self.args + (False, OrderedDict()))
        if self.parameter:
            return (_rebuild_parameter, (TensorNoParam(*self.args), True, OrderedDict()))
        return inner

class TensorNoParam(Tensor):
    pass

@dataclasses.dataclass
class TrainConfig:
    lr: float = 3e-4
    layers: int = 2
    name: str = "tiny"
TrainConfig.__module__ = "train"
sys.modules["train"] = types.ModuleType("train")
sys.modules["train"].TrainConfig = TrainConfig

w = np.arange(6, dtype="<f4") / 4
b = np.array([9, 1.5, -2.5, 9], dtype="<f4")
h = np.array([1, -2, 0.5], dtype="<f2")
n = np.array([7], dtype="<i8")
storages = {"0": w.tobytes(), "1": b.tobytes(), "2": h.tobytes(), "3": n.tobytes(),
            "4": np.array([0.5, 0.25], dtype="<f4").tobytes()}
sw = Storage(FloatStorage, "0", 6)
sb = Storage(FloatStorage, "1", 4)
sh = Storage(HalfStorage, "2", 3)
sn = Storage(LongStorage, "3", 1)
so = Storage(FloatStorage, "4", 2)

def build():
    from collections import OrderedDict
    model = OrderedDict()
    model["w"] = Tensor(sw, 0, (2, 3), (3, 1), parameter=True)
    model["wt"] = Tensor(sw, 0, (3, 2), (1, 3))
    model["b"] = Tensor(sb, 1, (2,), (1,), parameter=True)
    model["h"] = Tensor(sh, 0, (3,), (1,))
    model["n"] = Tensor(sn, 0, (), ())
    return {
        "epoch": 12,
        "args": argparse.Namespace(lr=0.001, batch_size=32, tags=["a", "b"], amp=True),
        "config": TrainConfig(),
        "optimizer": {"state": {0: {"step": 3, "exp_avg": Tensor(so, 0, (2,), (1,))}},
                      "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "params": [0, 1]}]},
        "model": model,
        "best": 0.8125,
        "big": 2**70,
        "blob": b"\x00\x01",
    }

class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.kind, obj.key, "cpu", obj.numel)
        return None

for protocol in (2, 4, 5):
    buffer = io.BytesIO()
    Pickler(buffer, protocol=protocol).dump(build())
    with zipfile.ZipFile(f"training_p{protocol}.pth", "w", zipfile.ZIP_STORED) as z:
        z.writestr("training/data.pkl", buffer.getvalue())
        z.writestr("training/byteorder", "little")
        for key, data in storages.items():
            z.writestr(f"training/data/{key}", data)
        z.writestr("training/version", "3\n")

# The same archive with deflate-compressed entries, which the reader must refuse clearly.
with zipfile.ZipFile("training_p2.pth") as src, \
        zipfile.ZipFile("deflated.pth", "w", zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist():
        dst.writestr(info.filename, src.read(info.filename))
