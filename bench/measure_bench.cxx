// Benchmark: Otsu + mean free path d_f + two-point correlation S2 on a stack of patches, with the
// library's own filters, against bench/measure_reference.py (scikit-image/numpy). Driven by
// bench/run_measure_bench.sh; see bench/README.md.
//
//   measure_bench generate OUT.mhd [COUNT=1000] [SIZE=128] [SEED=2021]
//       writes COUNT deterministic SIZE x SIZE uint8 two-phase patches as one MetaImage stack
//   measure_bench measure IN.mhd RESULTS.f64 [THREADS=2] [REPEATS=3]
//       measures every patch, prints the best of REPEATS wall times, writes per-patch results
//       (little-endian float64 records [threshold, vf, df_h, df_v, df, S2_x[0..R], S2_y[0..R],
//       S2_radial[0..R]], R = SIZE/2, d_f in micrometres), the layout measure_reference.py reads.
#include "itkImage.h"
#include "itkImageFileReader.h"
#include "itkImageFileWriter.h"
#include "itkMicrostructureParticles.h"
#include "itkMicrostructureStackMeasurement.h"
#include "itkMultiThreaderBase.h"
#include "itkSmoothingRecursiveGaussianImageFilter.h"
#include "itkTwoPointCorrelationImageFilter.h"
#include "itkVnlHalfHermitianToRealInverseFFTImageFilter.h"
#include "itkVnlRealToHalfHermitianForwardFFTImageFilter.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdlib>
#include <functional>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace
{
using StackType = itk::Image<unsigned char, 3>;
using LabelSliceType = itk::Image<unsigned char, 2>;
using FieldType = itk::Image<float, 2>;
using S2FilterType = itk::TwoPointCorrelationImageFilter<LabelSliceType>;
using MeasurementType = itk::MicrostructureStackMeasurement<StackType>;

constexpr double PixelSizeMicrometres = 0.5;

// Patch k: uniform noise smoothed with a Gaussian (sigma 2..5 px), cut at a level that gives a
// volume fraction of roughly 0.25..0.65, rendered as bright (~170) and dark (~80) phases plus
// Gaussian noise (sd 22), clamped to 0..255. Seeded by (seed, k) only: any subset is reproducible.
void
GeneratePatch(unsigned int size, unsigned int seed, unsigned int k, unsigned char * out)
{
  std::mt19937                          rng(seed * 1000003u + k);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  auto                                  field = FieldType::New();
  FieldType::RegionType                 region;
  region.SetSize({ { size, size } });
  field->SetRegions(region);
  field->Allocate();
  for (float *p = field->GetBufferPointer(), *e = p + size * size; p != e; ++p)
  {
    *p = uniform(rng);
  }
  auto smooth = itk::SmoothingRecursiveGaussianImageFilter<FieldType, FieldType>::New();
  smooth->SetInput(field);
  smooth->SetSigma(2.0 + 3.0 * uniform(rng));
  smooth->SetNumberOfWorkUnits(1);
  smooth->Update();
  const float *      s = smooth->GetOutput()->GetBufferPointer();
  std::vector<float> sorted(s, s + size * size);
  const double       fraction = 0.25 + 0.4 * uniform(rng);
  std::nth_element(sorted.begin(), sorted.begin() + std::size_t((1.0 - fraction) * sorted.size()), sorted.end());
  const float                      level = sorted[std::size_t((1.0 - fraction) * sorted.size())];
  std::normal_distribution<double> noise(0.0, 22.0);
  for (unsigned int i = 0; i < size * size; ++i)
  {
    const double value = (s[i] > level ? 170.0 : 80.0) + noise(rng);
    out[i] = static_cast<unsigned char>(std::clamp(std::lround(value), 0L, 255L));
  }
}

int
Generate(const std::string & path, unsigned int count, unsigned int size, unsigned int seed)
{
  auto                  stack = StackType::New();
  StackType::RegionType region;
  region.SetSize({ { size, size, count } });
  stack->SetRegions(region);
  StackType::SpacingType spacing;
  spacing[0] = PixelSizeMicrometres;
  spacing[1] = PixelSizeMicrometres;
  spacing[2] = 1.0;
  stack->SetSpacing(spacing);
  stack->Allocate();
  for (unsigned int k = 0; k < count; ++k)
  {
    GeneratePatch(size, seed, k, stack->GetBufferPointer() + std::size_t(k) * size * size);
  }
  auto writer = itk::ImageFileWriter<StackType>::New();
  writer->SetInput(stack);
  writer->SetFileName(path);
  writer->Update();
  std::cout << "wrote " << count << " patches of " << size << "x" << size << " (seed " << seed << ") to " << path
            << std::endl;
  return EXIT_SUCCESS;
}

struct Timing
{
  double otsuAndDescriptors{ 0.0 };
  double s2{ 0.0 };
  double descriptorsOnly{ 0.0 }; // informative, not in Total(): d_f of the phase maps alone
  double
  Total() const
  {
    return otsuAndDescriptors + s2;
  }
};

// One full measurement of the stack on `threads` threads: Otsu + descriptors of every slice
// (MicrostructureStackMeasurement, slices in parallel), then S2 of every phase map (slices in
// parallel). Fills `records` in the layout of measure_reference.py.
Timing
MeasureOnce(const StackType * stack, unsigned int threads, std::vector<double> & records)
{
  using Clock = std::chrono::steady_clock;
  const auto         size = stack->GetLargestPossibleRegion().GetSize();
  const unsigned int r = static_cast<unsigned int>(std::min(size[0], size[1]) / 2);
  const std::size_t  width = 5 + 3 * (r + 1);
  const std::size_t  count = size[2];
  records.assign(count * width, 0.0);
  Timing timing;

  const auto start = Clock::now();
  auto       measurement = MeasurementType::New();
  measurement->SetInput(stack);
  measurement->SetKeepSegmentation(true); // the phase maps feed S2
  measurement->SetNumberOfWorkUnits(threads);
  measurement->Update();
  const auto middle = Clock::now();

  // S2 of every phase map: a 2D image viewing the slice's pixels (no copy), one filter per slice.
  const auto *               segmentation = measurement->GetSegmentation();
  LabelSliceType::RegionType region;
  region.SetSize({ { size[0], size[1] } });
  LabelSliceType::SpacingType spacing;
  spacing[0] = stack->GetSpacing()[0];
  spacing[1] = stack->GetSpacing()[1];
  auto threader = itk::MultiThreaderBase::New();
  threader->SetNumberOfWorkUnits(threads);
  threader->ParallelizeArray(
    0,
    count,
    [&](itk::SizeValueType k) {
      auto slice = LabelSliceType::New();
      slice->SetRegions(region);
      slice->SetSpacing(spacing);
      slice->GetPixelContainer()->SetImportPointer(const_cast<unsigned char *>(segmentation->GetBufferPointer()) +
                                                     k * size[0] * size[1],
                                                   size[0] * size[1],
                                                   false);
      auto s2 = S2FilterType::New();
      s2->SetInput(slice);
      s2->SetMaximumDistance(r);
      s2->Update();
      double * rec = records.data() + k * width;
      std::copy(s2->GetXCurve().begin(), s2->GetXCurve().end(), rec + 5);
      std::copy(s2->GetYCurve().begin(), s2->GetYCurve().end(), rec + 6 + r);
      std::copy(s2->GetRadialCurve().begin(), s2->GetRadialCurve().end(), rec + 7 + 2 * r);
    },
    nullptr);
  const auto end = Clock::now();

  // Informative breakdown (not part of the timed total): the descriptors alone, on the phase
  // maps as binary input, so that Otsu's share is the difference.
  auto descriptorsOnly = MeasurementType::New();
  descriptorsOnly->SetInput(segmentation);
  descriptorsOnly->SetInputIsBinary(true);
  descriptorsOnly->SetNumberOfWorkUnits(threads);
  const auto startDescriptors = Clock::now();
  descriptorsOnly->Update();
  timing.descriptorsOnly = std::chrono::duration<double>(Clock::now() - startDescriptors).count();

  const auto & m = measurement->GetMeasurements();
  for (std::size_t k = 0; k < count; ++k)
  {
    double * rec = records.data() + k * width;
    rec[0] = m[k].OtsuThreshold;
    rec[1] = m[k].VolumeFraction;
    rec[2] = m[k].MeanFreePathHorizontalPhysical;
    rec[3] = m[k].MeanFreePathVerticalPhysical;
    rec[4] = m[k].MeanFreePathPhysical;
  }
  timing.otsuAndDescriptors = std::chrono::duration<double>(middle - start).count();
  timing.s2 = std::chrono::duration<double>(end - middle).count();
  return timing;
}

int
Measure(const std::string & input, const std::string & output, unsigned int threads, unsigned int repeats)
{
  auto reader = itk::ImageFileReader<StackType>::New();
  reader->SetFileName(input);
  reader->Update();
  const StackType::Pointer stack = reader->GetOutput();
  stack->DisconnectPipeline();
  const auto size = stack->GetLargestPossibleRegion().GetSize();

  std::vector<double> records;
  MeasureOnce(stack, threads, records); // warm-up: FFTW plans, thread pool, page faults
  Timing best;
  best.otsuAndDescriptors = best.s2 = 1e30;
  double bestTotal = 1e30;
  for (unsigned int i = 0; i < repeats; ++i)
  {
    const Timing t = MeasureOnce(stack, threads, records);
    if (t.Total() < bestTotal)
    {
      bestTotal = t.Total();
      best = t;
    }
  }
  std::ofstream out(output, std::ios::binary);
  out.write(reinterpret_cast<const char *>(records.data()), std::streamsize(records.size() * sizeof(double)));
  if (!out)
  {
    std::cerr << "measure_bench: could not write " << output << std::endl;
    return EXIT_FAILURE;
  }
  std::cout << "C++ (" << threads << " thread" << (threads == 1 ? "" : "s") << "): " << size[2] << " patches of "
            << size[0] << "x" << size[1] << " in " << bestTotal << " s (best of " << repeats << "; "
            << 1e6 * bestTotal / double(size[2]) << " us/patch)" << std::endl
            << "    Otsu + d_f (MicrostructureStackMeasurement) " << best.otsuAndDescriptors
            << " s, of which d_f alone (binary input) " << best.descriptorsOnly
            << " s; S2 (TwoPointCorrelationImageFilter) " << best.s2 << " s" << std::endl;
  std::cout << "CXX_SECONDS=" << bestTotal << std::endl;
  return EXIT_SUCCESS;
}

/** The stack's phase maps (Otsu per patch), kept by the measurement that made them. */
MeasurementType::Pointer
PhaseMaps(const std::string & input)
{
  auto reader = itk::ImageFileReader<StackType>::New();
  reader->SetFileName(input);
  auto measurement = MeasurementType::New();
  measurement->SetInput(reader->GetOutput());
  measurement->SetKeepSegmentation(true);
  measurement->Update();
  return measurement;
}

// S2 of the first `count` phase maps of the stack (Otsu per patch), one thread, best of `repeats`,
// by each route TwoPointCorrelationImageFilter has: FFTW called directly (where ITK has FFTW), ITK's
// FFT factory (UseFFTW Off: ITK's FFTW filters here), and VNL's FFT (what an ITK without FFTW, such as
// 3D Slicer's, uses), with the ratios to the direct route. The counts agree exactly (tested).
int
S2Routes(const std::string & input, unsigned int count, unsigned int repeats)
{
  const auto   measurement = PhaseMaps(input);
  const auto * segmentation = measurement->GetSegmentation();
  const auto   size = segmentation->GetLargestPossibleRegion().GetSize();
  count = std::min<unsigned int>(count, static_cast<unsigned int>(size[2]));
  const unsigned int         r = static_cast<unsigned int>(std::min(size[0], size[1]) / 2);
  LabelSliceType::RegionType region;
  region.SetSize({ { size[0], size[1] } });
  auto slice = [&](unsigned int k) {
    auto image = LabelSliceType::New();
    image->SetRegions(region);
    image->GetPixelContainer()->SetImportPointer(const_cast<unsigned char *>(segmentation->GetBufferPointer()) +
                                                   std::size_t(k) * size[0] * size[1],
                                                 size[0] * size[1],
                                                 false);
    return image;
  };
  auto time = [&](const std::function<void(unsigned int)> & one) {
    double best = 1e30;
    for (unsigned int i = 0; i <= repeats; ++i) // the first pass warms up (plans, page faults)
    {
      const auto start = std::chrono::steady_clock::now();
      for (unsigned int k = 0; k < count; ++k)
        one(k);
      const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      best = i > 0 ? std::min(best, t) : best;
    }
    return best;
  };
  auto filterRoute = [&](bool useFFTW) {
    return [&, useFFTW](unsigned int k) {
      auto s2 = S2FilterType::New();
      s2->SetUseFFTW(useFFTW);
      s2->SetInput(slice(k));
      s2->SetMaximumDistance(r);
      s2->Update();
    };
  };
  using RealImageType = itk::Image<double, 2>;
  using ComplexImageType = itk::Image<std::complex<double>, 2>;
  std::vector<double> counts((2 * r + 1) * (2 * r + 1));
  const auto          px = S2FilterType::PaddedLength(size[0], r), py = S2FilterType::PaddedLength(size[1], r);
  auto                vnl = [&](unsigned int k) {
    itk::TwoPointCorrelationDetail::PairCountsThroughFFTFilters<
      itk::VnlRealToHalfHermitianForwardFFTImageFilter<RealImageType, ComplexImageType>,
      itk::VnlHalfHermitianToRealInverseFFTImageFilter<ComplexImageType, RealImageType>>(
      slice(k)->GetBufferPointer(), static_cast<unsigned char>(1), size[0], size[1], px, py, long(r), counts);
  };
  const double direct = S2FilterType::HasFFTW ? time(filterRoute(true)) : 0.0;
  const double factory = time(filterRoute(false));
  const double vnlOnly = time(vnl);
  std::cout << "S2 of " << count << " phase maps of " << size[0] << "x" << size[1] << ", R = " << r
            << ", one thread, best of " << repeats << ":\n";
  if (S2FilterType::HasFFTW)
    std::cout << "  FFTW directly (the default)        " << direct << " s\n";
  std::cout << "  ITK's FFT factory (UseFFTW Off)    " << factory << " s";
  if (S2FilterType::HasFFTW)
    std::cout << "  (" << factory / direct << "x the direct route)";
  std::cout << "\n  VNL's FFT (an ITK without FFTW)    " << vnlOnly << " s";
  if (S2FilterType::HasFFTW)
    std::cout << "  (" << vnlOnly / direct << "x the direct route)";
  std::cout << std::endl;
  return EXIT_SUCCESS;
}

/** Particle labelling of the phase maps: OpenCV's connectedComponentsWithStats against ITK's
 * ConnectedComponentImageFilter (LabelMicrostructureParticles with each Labeling), one thread, side by
 * side; checks that both give the same particles. */
int
ParticleRoutes(const std::string & input, unsigned int count, unsigned int repeats)
{
  using Labeling = itk::MicrostructureParticlesEnums::Labeling;
  if (!itk::MicrostructureParticlesHaveOpenCV())
  {
    std::cout << "particles: this build has no OpenCV; only the ITK labelling exists, nothing to compare\n";
    return EXIT_SUCCESS;
  }
  const auto   measurement = PhaseMaps(input);
  const auto * segmentation = measurement->GetSegmentation();
  const auto   size = segmentation->GetLargestPossibleRegion().GetSize();
  count = std::min<unsigned int>(count, static_cast<unsigned int>(size[2]));
  const std::size_t     area = size[0] * size[1];
  const unsigned char * maps = segmentation->GetBufferPointer();
  std::size_t           particles = 0;
  for (unsigned int k = 0; k < count; ++k)
  {
    const auto a = itk::LabelMicrostructureParticles(maps + k * area, size[0], size[1], false, Labeling::OpenCV);
    const auto b = itk::LabelMicrostructureParticles(maps + k * area, size[0], size[1], false, Labeling::ITK);
    bool       same = a.size() == b.size();
    for (std::size_t i = 0; same && i < a.size(); ++i)
      same = a[i].Area == b[i].Area && a[i].Left == b[i].Left && a[i].Top == b[i].Top && a[i].Width == b[i].Width &&
             a[i].Height == b[i].Height;
    if (!same)
    {
      std::cerr << "FAIL: OpenCV and ITK label phase map " << k << " differently\n";
      return EXIT_FAILURE;
    }
    particles += a.size();
  }
  auto time = [&](Labeling labeling) {
    double best = 1e30;
    for (unsigned int i = 0; i <= repeats; ++i) // the first pass warms up
    {
      const auto start = std::chrono::steady_clock::now();
      for (unsigned int k = 0; k < count; ++k)
        itk::LabelMicrostructureParticles(maps + k * area, size[0], size[1], false, labeling);
      const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      best = i > 0 ? std::min(best, t) : best;
    }
    return best;
  };
  const double openCV = time(Labeling::OpenCV), itkRoute = time(Labeling::ITK);
  std::cout << "Particles of " << count << " phase maps of " << size[0] << "x" << size[1] << " (" << particles
            << " particles, the same from both), one thread, best of " << repeats << ":\n"
            << "  OpenCV connectedComponentsWithStats  " << openCV << " s (" << 1e6 * openCV / count << " us per map)\n"
            << "  ITK ConnectedComponentImageFilter    " << itkRoute << " s (" << 1e6 * itkRoute / count
            << " us per map)\n"
            << "PARTICLES_ITK_OVER_OPENCV=" << itkRoute / openCV << std::endl;
  return EXIT_SUCCESS;
}

unsigned int
Arg(int argc, char * argv[], int i, unsigned int fallback)
{
  return argc > i ? static_cast<unsigned int>(std::stoul(argv[i])) : fallback;
}
} // namespace

int
main(int argc, char * argv[])
{
  const std::string usage = "usage: measure_bench generate OUT.mhd [COUNT=1000] [SIZE=128] [SEED=2021]\n"
                            "       measure_bench measure IN.mhd RESULTS.f64 [THREADS=2] [REPEATS=3]\n"
                            "       measure_bench s2routes IN.mhd [COUNT=200] [REPEATS=3]\n"
                            "       measure_bench particles IN.mhd [COUNT=1000] [REPEATS=3]\n";
  try
  {
    if (argc >= 3 && std::string(argv[1]) == "generate")
    {
      return Generate(argv[2], Arg(argc, argv, 3, 1000), Arg(argc, argv, 4, 128), Arg(argc, argv, 5, 2021));
    }
    if (argc >= 3 && std::string(argv[1]) == "s2routes")
    {
      return S2Routes(argv[2], std::max(1u, Arg(argc, argv, 3, 200)), std::max(1u, Arg(argc, argv, 4, 3)));
    }
    if (argc >= 3 && std::string(argv[1]) == "particles")
    {
      return ParticleRoutes(argv[2], std::max(1u, Arg(argc, argv, 3, 1000)), std::max(1u, Arg(argc, argv, 4, 3)));
    }
    if (argc >= 4 && std::string(argv[1]) == "measure")
    {
      const unsigned int threads = std::max(1u, Arg(argc, argv, 4, 2));
      return Measure(argv[2], argv[3], threads, std::max(1u, Arg(argc, argv, 5, 3)));
    }
  }
  catch (const std::exception & e)
  {
    std::cerr << "measure_bench: " << e.what() << std::endl;
    return EXIT_FAILURE;
  }
  std::cerr << usage;
  return EXIT_FAILURE;
}
