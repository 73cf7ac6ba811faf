"""The module's Python wrapping, against analytic images and the C++ results it must reproduce.

Run by ctest in an ITK build with ITK_WRAP_PYTHON (wrapping/test/CMakeLists.txt), or by hand:
  PYTHONPATH=<ITK build>/Wrapping/Generators/Python python3 stochastic_microstructure_test.py
Needs ITK's unsigned char and float wrapping in 2D. Exits non-zero on the first failure.
"""
import math
import sys

import numpy as np

if not hasattr(np, "bool"):  # ITK 5.2's itk.support.types names np.bool, gone since NumPy 1.24 (ITK 5.3 mended it)
    np.bool = bool
import itk  # noqa: E402

UC2 = itk.Image[itk.UC, 2]
F2 = itk.Image[itk.F, 2]


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)
    print("ok:", what)


def stripes(pixel, low, high, w=64, h=32):
    """High in the columns x mod 8 in {3, 4} (V_f 1/4, horizontal d_f 2 px: no stripe touches an edge)."""
    a = np.full((h, w), low, dtype=pixel)
    a[:, np.isin(np.arange(w) % 8, (3, 4))] = high
    return itk.image_from_array(a)


# Enums and result types are wrapped.
edge = itk.MicrostructureDescriptorsEnums.EdgeRule_WholeCount
check(edge != itk.MicrostructureDescriptorsEnums.EdgeRule_ASTMHalfCount, "MicrostructureDescriptorsEnums.EdgeRule")
check(hasattr(itk.OtsuPhaseSegmentationImageFilterEnums, "ForegroundPhase_Bright"),
      "OtsuPhaseSegmentationImageFilterEnums.ForegroundPhase")

# Synthetic micrograph and its parameters (a result type).
source = itk.SyntheticMicrostructureImageSource[UC2].New()
source.SetSize([96, 96])
source.SetCoolingRate(10.0)
source.SetSeed(3)
source.Update()
params = source.GetParameters()
check(isinstance(params, itk.SyntheticMicrostructureParameters) and params.NucleationDensity > 0,
      "SyntheticMicrostructureParameters returned (NucleationDensity %.4f /um^2)" % params.NucleationDensity)
params.NoiseSigma = 0.0  # a field written from Python goes back into the source
source_quiet = itk.SyntheticMicrostructureImageSource[UC2].New(Size=[96, 96], Seed=3)
source_quiet.SetParameters(params)
check(source_quiet.GetParameters().NoiseSigma == 0.0 and not source_quiet.GetUseCalibration(),
      "SyntheticMicrostructureParameters written from Python (NoiseSigma 0)")
gray = itk.array_from_image(source.GetOutput())
check(gray.shape == (96, 96) and gray.min() < gray.max(), "synthetic micrograph 96 x 96")
source_f = itk.SyntheticMicrostructureImageSource[F2].New(Size=[96, 96], CoolingRate=10.0, Seed=3)
source_f.Update()
check(np.array_equal(itk.array_from_image(source_f.GetOutput()), gray.astype(np.float32)),
      "the float source gives the same micrograph")

# Otsu -> descriptors on stripes: V_f and d_f exact.
otsu = itk.OtsuPhaseSegmentationImageFilter[F2, UC2].New(Input=stripes(np.float32, 20.0, 100.0))
otsu.Update()
labels = itk.array_from_image(otsu.GetOutput())
check(labels.mean() == 0.25, "Otsu: the bright quarter is the foreground")
descriptors = itk.MicrostructureDescriptorsImageFilter[UC2].New(Input=otsu.GetOutput())
descriptors.Update()
check(descriptors.GetVolumeFraction() == 0.25, "descriptors: V_f = 0.25")
h = descriptors.GetHorizontalIntercepts()
check(isinstance(h, itk.MicrostructureLineInterceptStatistics) and h.MeanFreePath == 2.0,
      "descriptors: horizontal d_f = 2 px (MicrostructureLineInterceptStatistics)")

# S2 of the stripes: S2(0) = V_f, period 8 along x.
s2 = itk.TwoPointCorrelationImageFilter[UC2, F2].New(Input=otsu.GetOutput(), MaximumDistance=8)
s2.Update()
x = s2.GetXCurve()
check(abs(x[0] - 0.25) < 1e-6 and abs(x[8] - 0.25) < 1e-6 and abs(x[4]) < 1e-6, "S2 curve along x")

# Patches -> stack measurement: one MicrostructureSliceMeasurement per patch, the same V_f as numpy.
patches = itk.PatchExtractionImageFilter[UC2, itk.Image[itk.UC, 3]].New(Input=source.GetOutput())
patches.SetPatchSize([32, 32])
patches.Update()
stack = patches.GetOutput()
check(stack.GetLargestPossibleRegion().GetSize()[2] == 9, "9 patches of 32 x 32")
measure = itk.MicrostructureStackMeasurement[itk.Image[itk.UC, 3]].New(Input=stack)
measure.Update()
measurements = measure.GetMeasurements()
check(len(measurements) == 9, "9 slice measurements")
slices = itk.array_from_image(stack)
numpy_vf = []
for k in range(9):  # each patch binarised on its own, by the wrapped 2D Otsu, counted by numpy
    seg = itk.OtsuPhaseSegmentationImageFilter[UC2, UC2].New(Input=itk.image_from_array(np.ascontiguousarray(slices[k])))
    seg.Update()
    numpy_vf.append(itk.array_from_image(seg.GetOutput()).mean())
got = [m.VolumeFraction for m in measurements]
check(all(math.isclose(a, b, abs_tol=1e-12) for a, b in zip(got, numpy_vf)),
      "per-patch V_f equals each patch's Otsu counted by numpy: " + ", ".join("%.3f" % v for v in got))
print("all passed")
