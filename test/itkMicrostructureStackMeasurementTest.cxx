// Tests of itk::MicrostructureStackMeasurement: equals the per-slice filters, analytic stripes,
// binary and float input, one 2D image, progress, table export, bad input files.
#include "itkMicrostructureStackMeasurement.h"
#include "itkDiscreteGaussianImageFilter.h"
#include "itkExtractImageFilter.h"
#include "itkImageFileWriter.h"
#include "itkMicrostructureIO.h"
#include "itkRGBPixel.h"
#include "itkTestingMacros.h"

#include <gtest/gtest.h>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>

namespace
{
using GrayStack = itk::Image<unsigned char, 3>;
using FloatStack = itk::Image<float, 3>;
using GrayImage = itk::Image<unsigned char, 2>;
using LabelStack = itk::Image<unsigned char, 3>;
using LabelImage = itk::Image<unsigned char, 2>;

// Slice k: column stripes of width 4 + 2k and period 2 (4 + 2k), first stripe starting at x = 3,
// plus a disc; dark level 60, bright level 190, Gaussian noise sigma (0 = none).
template <typename TStack>
typename TStack::Pointer
MakeStack(unsigned w, unsigned h, unsigned slices, double sigma, unsigned seed, bool withDisc = true)
{
  auto                        stack = TStack::New();
  typename TStack::RegionType region;
  region.SetSize(0, w);
  region.SetSize(1, h);
  region.SetSize(2, slices);
  stack->SetRegions(region);
  stack->Allocate();
  typename TStack::SpacingType spacing;
  spacing[0] = 0.25;
  spacing[1] = 0.5;
  spacing[2] = 1.0;
  stack->SetSpacing(spacing);
  std::mt19937                     rng(seed);
  std::normal_distribution<double> noise(0.0, sigma > 0 ? sigma : 1.0);
  auto *                           p = stack->GetBufferPointer();
  for (unsigned k = 0; k < slices; ++k)
  {
    const unsigned width = 4 + 2 * k;
    for (unsigned y = 0; y < h; ++y)
    {
      for (unsigned x = 0; x < w; ++x)
      {
        bool fg = x >= 3 && ((x - 3) % (2 * width)) < width;
        if (withDisc)
        {
          const double dx = x - w / 2.0, dy = y - h / 2.0;
          fg = fg || dx * dx + dy * dy < 100.0;
        }
        double v = (fg ? 190.0 : 60.0) + (sigma > 0 ? noise(rng) : 0.0);
        v = std::min(255.0, std::max(0.0, std::round(v)));
        *p++ = static_cast<typename TStack::PixelType>(v);
      }
    }
  }
  return stack;
}

/** Slice k of a label stack as a 2D image filter (ITK's ExtractImageFilter). */
itk::ExtractImageFilter<LabelStack, LabelImage>::Pointer
ExtractSlice(const LabelStack * stack, unsigned k)
{
  auto                   extract = itk::ExtractImageFilter<LabelStack, LabelImage>::New();
  LabelStack::RegionType region = stack->GetLargestPossibleRegion();
  region.SetIndex(2, k);
  region.SetSize(2, 0);
  extract->SetExtractionRegion(region);
  extract->SetDirectionCollapseToSubmatrix();
  extract->SetInput(stack);
  return extract;
}

void
ExpectSame(double a, double b, const char * what, unsigned k)
{
  if (std::isnan(a) || std::isnan(b))
  {
    EXPECT_TRUE(std::isnan(a) && std::isnan(b)) << what << " slice " << k << ": " << a << " vs " << b;
  }
  else
  {
    EXPECT_DOUBLE_EQ(a, b) << what << " slice " << k;
  }
}

int
ExerciseBasics()
{
  auto m = itk::MicrostructureStackMeasurement<GrayStack>::New();
  ITK_EXERCISE_BASIC_OBJECT_METHODS(m, MicrostructureStackMeasurement, ImageSink);
  return EXIT_SUCCESS;
}
} // namespace

TEST(MicrostructureStackMeasurement, BasicObjectMethods)
{
  EXPECT_EQ(ExerciseBasics(), EXIT_SUCCESS);
}

TEST(MicrostructureStackMeasurement, EqualsThePerSliceFilters)
{
  const auto stack = MakeStack<GrayStack>(96, 64, 6, 20.0, 11);
  auto       m = itk::MicrostructureStackMeasurement<GrayStack>::New();
  m->SetInput(stack);
  m->SetKeepSegmentation(true);
  m->Update();
  const auto & results = m->GetMeasurements();
  ASSERT_EQ(results.size(), 6u);

  // Reference: the 3D Otsu filter (SliceBySlice) then the descriptors on each extracted slice.
  auto otsu = itk::OtsuPhaseSegmentationImageFilter<GrayStack, LabelStack>::New();
  otsu->SetInput(stack);
  otsu->Update();
  ASSERT_EQ(otsu->GetThresholds().size(), 6u);
  const auto * seg = m->GetSegmentation();
  ASSERT_NE(seg, nullptr);
  const auto n = stack->GetLargestPossibleRegion().GetNumberOfPixels();
  EXPECT_TRUE(std::equal(seg->GetBufferPointer(), seg->GetBufferPointer() + n, otsu->GetOutput()->GetBufferPointer()));

  using Phase = itk::MicrostructureDescriptorsEnums::Phase;
  using Direction = itk::MicrostructureDescriptorsEnums::Direction;
  for (unsigned k = 0; k < 6; ++k)
  {
    auto extract = ExtractSlice(otsu->GetOutput(), k);
    auto d = itk::MicrostructureDescriptorsImageFilter<LabelImage>::New();
    d->SetInput(extract->GetOutput());
    d->Update();
    const auto & r = results[k];
    EXPECT_EQ(r.SliceIndex, k);
    ExpectSame(r.OtsuThreshold, otsu->GetThresholds()[k], "threshold", k);
    ExpectSame(r.VolumeFraction, d->GetVolumeFraction(), "vf", k);
    ExpectSame(r.MeanFreePath, d->GetMeanFreePath(), "mfp", k);
    ExpectSame(r.MeanFreePathHorizontal, d->GetMeanFreePathHorizontal(), "mfp h", k);
    ExpectSame(r.MeanFreePathVertical, d->GetMeanFreePathVertical(), "mfp v", k);
    ExpectSame(r.MeanFreePathPhysical, d->GetMeanFreePathPhysical(), "mfp um", k);
    ExpectSame(r.MeanFreePathHorizontalPhysical, d->GetMeanFreePathHorizontalPhysical(), "mfp h um", k);
    ExpectSame(r.MeanFreePathVerticalPhysical, d->GetMeanFreePathVerticalPhysical(), "mfp v um", k);
    ExpectSame(r.InterceptCountHorizontal, d->GetHorizontalIntercepts().InterceptCount, "N h", k);
    ExpectSame(r.InterceptCountVertical, d->GetVerticalIntercepts().InterceptCount, "N v", k);
    ExpectSame(r.TestLineLengthHorizontal, d->GetHorizontalIntercepts().TestLineLength, "L h", k);
    ExpectSame(r.ForegroundLineLengthVertical, d->GetVerticalIntercepts().ForegroundLength, "fg v", k);
    ExpectSame(r.MeanChordLengthBackgroundVertical,
               d->GetMeanChordLength(Phase::Background, Direction::Vertical),
               "chord bg v",
               k);
    ExpectSame(r.GrainSizeNumber, d->GetGrainSizeNumber(), "G", k);
    EXPECT_GT(r.VolumeFraction, 0.3);
  }

  // The number of work units does not change anything.
  auto single = itk::MicrostructureStackMeasurement<GrayStack>::New();
  single->SetInput(stack);
  single->SetNumberOfWorkUnits(1);
  single->Update();
  for (unsigned k = 0; k < 6; ++k)
  {
    ExpectSame(single->GetMeasurements()[k].MeanFreePath, results[k].MeanFreePath, "mfp 1 unit", k);
    ExpectSame(single->GetMeasurements()[k].MeanChordLengthForegroundHorizontal,
               results[k].MeanChordLengthForegroundHorizontal,
               "chord 1 unit",
               k);
  }
}

// SmoothingSigma: each gray slice is smoothed by ITK's DiscreteGaussianImageFilter (variance sigma^2
// in pixels, in float) before Otsu, and the phase maps are those of that pipeline run by hand. On
// noisy slices it turns fewer noise pixels into particles: closer to the noise-free slices' count.
TEST(MicrostructureStackMeasurement, SmoothingIsAGaussianBeforeOtsu)
{
  const auto noisy = MakeStack<GrayStack>(96, 64, 3, 45.0, 5);
  const auto clean = MakeStack<GrayStack>(96, 64, 3, 0.0, 5);
  const auto measure = [](const GrayStack * stack, double sigma) {
    auto m = itk::MicrostructureStackMeasurement<GrayStack>::New();
    m->SetInput(stack);
    m->SetSmoothingSigma(sigma);
    m->SetKeepSegmentation(true);
    m->Update();
    return m;
  };
  const auto smoothed = measure(noisy, 0.7);
  const auto raw = measure(noisy, 0.0);
  const auto truth = measure(clean, 0.0);
  for (unsigned k = 0; k < 3; ++k)
  {
    auto       gauss = itk::DiscreteGaussianImageFilter<GrayImage, itk::Image<float, 2>>::New();
    const auto extract = ExtractSlice(noisy, k);
    gauss->SetInput(extract->GetOutput());
    gauss->SetUseImageSpacing(false);
    gauss->SetVariance(0.49);
    gauss->SetMaximumError(0.001);
    gauss->SetMaximumKernelWidth(64);
    auto otsu = itk::OtsuPhaseSegmentationImageFilter<itk::Image<float, 2>, LabelImage>::New();
    otsu->SetInput(gauss->GetOutput());
    otsu->Update();
    const auto * seg = smoothed->GetSegmentation()->GetBufferPointer() + k * 96 * 64;
    EXPECT_TRUE(std::equal(seg, seg + 96 * 64, otsu->GetOutput()->GetBufferPointer())) << "slice " << k;
    ExpectSame(smoothed->GetMeasurements()[k].OtsuThreshold, otsu->GetThresholds()[0], "threshold", k);
    const double trueCount = truth->GetMeasurements()[k].ParticlesCounted;
    const double rawCount = raw->GetMeasurements()[k].ParticlesCounted;
    const double smoothCount = smoothed->GetMeasurements()[k].ParticlesCounted;
    std::cout << "slice " << k << ": particles counted, noise-free " << trueCount << ", raw Otsu " << rawCount
              << ", smoothed " << smoothCount << "\n";
    EXPECT_GT(rawCount, 2.0 * trueCount) << "slice " << k; // the noise makes particles
    EXPECT_LT(std::abs(smoothCount - trueCount), 0.25 * std::abs(rawCount - trueCount)) << "slice " << k;
  }
  auto bad = itk::MicrostructureStackMeasurement<GrayStack>::New();
  bad->SetInput(noisy);
  bad->SetSmoothingSigma(-1.0);
  EXPECT_THROW(bad->Update(), itk::ExceptionObject);
}

// With ComputeCorrelation the S2 curves of each slice are those of TwoPointCorrelationImageFilter
// run on that slice's phase map, and S2(0) is the slice's volume fraction.
TEST(MicrostructureStackMeasurement, CorrelationEqualsThePerSliceFilter)
{
  const auto stack = MakeStack<GrayStack>(64, 48, 4, 15.0, 5);
  auto       m = itk::MicrostructureStackMeasurement<GrayStack>::New();
  m->SetInput(stack);
  m->SetKeepSegmentation(true);
  m->SetComputeCorrelation(true);
  m->SetCorrelationMaximumDistance(20);
  m->Update();
  const auto * seg = m->GetSegmentation();
  for (unsigned k = 0; k < 4; ++k)
  {
    auto extract = ExtractSlice(seg, k);
    auto s2 = itk::TwoPointCorrelationImageFilter<LabelImage>::New();
    s2->SetInput(extract->GetOutput());
    s2->SetMaximumDistance(20);
    s2->Update();
    const auto & r = m->GetMeasurements()[k];
    ASSERT_EQ(r.CorrelationRadial.size(), 21u);
    EXPECT_EQ(r.CorrelationX, s2->GetXCurve());
    EXPECT_EQ(r.CorrelationY, s2->GetYCurve());
    EXPECT_EQ(r.CorrelationRadial, s2->GetRadialCurve());
    EXPECT_NEAR(r.CorrelationX[0], r.VolumeFraction, 1e-6);
  }
  auto off = itk::MicrostructureStackMeasurement<GrayStack>::New();
  off->SetInput(stack);
  off->Update();
  EXPECT_TRUE(off->GetMeasurements()[0].CorrelationRadial.empty());
}

TEST(MicrostructureStackMeasurement, AnalyticStripesPerSlice)
{
  // No disc, no noise: slice k has stripes of width w = 4 + 2k from x = 3; the width 243 = 3 +
  // 240 ends every slice exactly at the end of a gap (240 is a multiple of every period 2w),
  // so every horizontal segment is interior and d_f = w under both edge rules.
  const auto stack = MakeStack<GrayStack>(243, 20, 4, 0.0, 1, false);
  for (const auto rule : { itk::MicrostructureDescriptorsEnums::EdgeRule::ASTMHalfCount,
                           itk::MicrostructureDescriptorsEnums::EdgeRule::WholeCount })
  {
    auto m = itk::MicrostructureStackMeasurement<GrayStack>::New();
    m->SetInput(stack);
    m->SetEdgeRule(rule);
    m->Update();
    const double whole = (rule == itk::MicrostructureDescriptorsEnums::EdgeRule::WholeCount) ? 1.0 : 0.5;
    for (unsigned k = 0; k < 4; ++k)
    {
      const auto & r = m->GetMeasurements()[k];
      const double width = 4 + 2 * k;
      const double stripes = 240.0 / (2 * width);
      EXPECT_DOUBLE_EQ(r.InterceptCountHorizontal, 20 * stripes) << k;
      EXPECT_DOUBLE_EQ(r.MeanFreePathHorizontal, width) << k;
      EXPECT_DOUBLE_EQ(r.MeanFreePathHorizontalPhysical, 0.25 * width) << k;
      // Vertical lines: each foreground column is one whole-line segment (1/2 or 1).
      EXPECT_DOUBLE_EQ(r.InterceptCountVertical, stripes * width * whole) << k;
      EXPECT_DOUBLE_EQ(r.MeanFreePathVertical, 20.0 / whole) << k;
      EXPECT_DOUBLE_EQ(r.MeanFreePathVerticalPhysical, 0.5 * 20.0 / whole) << k;
      EXPECT_DOUBLE_EQ(r.VolumeFraction, 0.5 * 240.0 / 243.0) << k;
      EXPECT_DOUBLE_EQ(r.MeanChordLengthForegroundHorizontal, width) << k;
      EXPECT_GE(r.OtsuThreshold, 60.0);
      EXPECT_LT(r.OtsuThreshold, 190.0);
    }
  }
}

TEST(MicrostructureStackMeasurement, BinaryFloatAndSingleImageInputs)
{
  const auto gray = MakeStack<GrayStack>(80, 40, 3, 0.0, 1);
  auto       ref = itk::MicrostructureStackMeasurement<GrayStack>::New();
  ref->SetInput(gray);
  ref->Update();

  // Binary stack with labels 0 / 255 and ForegroundValue 255: no Otsu, same descriptors.
  auto binary = MakeStack<GrayStack>(80, 40, 3, 0.0, 1);
  for (auto * p = binary->GetBufferPointer(); p < binary->GetBufferPointer() + 80 * 40 * 3; ++p)
  {
    *p = (*p > 128) ? 255 : 0;
  }
  auto b = itk::MicrostructureStackMeasurement<GrayStack>::New();
  b->SetInput(binary);
  b->SetInputIsBinary(true);
  b->SetForegroundValue(255);
  b->Update();

  // Float stack with the same structure.
  const auto flt = MakeStack<FloatStack>(80, 40, 3, 0.0, 1);
  auto       f = itk::MicrostructureStackMeasurement<FloatStack>::New();
  f->SetInput(flt);
  f->Update();
  for (unsigned k = 0; k < 3; ++k)
  {
    EXPECT_TRUE(std::isnan(b->GetMeasurements()[k].OtsuThreshold));
    ExpectSame(b->GetMeasurements()[k].MeanFreePath, ref->GetMeasurements()[k].MeanFreePath, "binary", k);
    ExpectSame(b->GetMeasurements()[k].VolumeFraction, ref->GetMeasurements()[k].VolumeFraction, "binary vf", k);
    ExpectSame(f->GetMeasurements()[k].MeanFreePath, ref->GetMeasurements()[k].MeanFreePath, "float", k);
  }

  // One 2D image is a stack of one.
  auto                  extract = itk::ExtractImageFilter<GrayStack, GrayImage>::New();
  GrayStack::RegionType region = gray->GetLargestPossibleRegion();
  region.SetIndex(2, 2);
  region.SetSize(2, 0);
  extract->SetExtractionRegion(region);
  extract->SetDirectionCollapseToSubmatrix();
  extract->SetInput(gray);
  auto one = itk::MicrostructureStackMeasurement<GrayImage>::New();
  one->SetInput(extract->GetOutput()); // pipeline: the extract runs on Update()
  one->Update();
  ASSERT_EQ(one->GetMeasurements().size(), 1u);
  EXPECT_EQ(one->GetMeasurements()[0].SliceIndex, 0u);
  ExpectSame(one->GetMeasurements()[0].MeanFreePathPhysical, ref->GetMeasurements()[2].MeanFreePathPhysical, "2D", 2);
}

TEST(MicrostructureStackMeasurement, ProgressAndTable)
{
  const auto stack = MakeStack<GrayStack>(64, 32, 20, 10.0, 3);
  auto       m = itk::MicrostructureStackMeasurement<GrayStack>::New();
  m->SetInput(stack);
  int   events = 0;
  float last = -1.0f;
  m->AddObserver(itk::ProgressEvent(), [&](const itk::EventObject &) {
    ++events;
    last = m->GetProgress();
  });
  m->Update();
  EXPECT_GT(events, 1);
  EXPECT_FLOAT_EQ(last, 1.0f);

  const auto table = itk::MicrostructureMeasurementsToTable(m->GetMeasurements());
  EXPECT_EQ(table.GetNumberOfRows(), 20u);
  EXPECT_EQ(table.GetColumnNames(), itk::MicrostructureSliceMeasurement::ColumnNames());
  const auto back = itk::MicrostructureTable::Parse(table.ToCSV());
  EXPECT_DOUBLE_EQ(back.GetNumber(7, "mean_free_path_um"), m->GetMeasurements()[7].MeanFreePathPhysical);
  EXPECT_DOUBLE_EQ(back.GetNumber(19, "slice"), 19.0);
}

TEST(MicrostructureStackMeasurement, BadInputIsAClearError)
{
  auto                  empty = GrayStack::New();
  GrayStack::RegionType region;
  region.SetSize(0, 8);
  region.SetSize(1, 8);
  region.SetSize(2, 0);
  empty->SetRegions(region);
  empty->Allocate();
  auto m = itk::MicrostructureStackMeasurement<GrayStack>::New();
  m->SetInput(empty);
  try
  {
    m->Update();
    FAIL() << "expected an exception";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("empty"), std::string::npos) << e.GetDescription();
  }
  auto spacing0 = itk::MicrostructureStackMeasurement<GrayStack>::New();
  spacing0->SetInput(MakeStack<GrayStack>(8, 8, 2, 0.0, 1));
  spacing0->SetLineSpacing(0);
  EXPECT_THROW(spacing0->Update(), itk::ExceptionObject);

  // Files that are not 8-bit gray: RGB, 16-bit, float -> clear errors from ReadScalarImage.
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "sm_stack_measurement_test";
  fs::create_directories(dir);
  const auto writeOne = [&](auto pixel, const std::string & name) {
    using PixelType = decltype(pixel);
    using ImageType = itk::Image<PixelType, 2>;
    auto                           image = ImageType::New();
    typename ImageType::RegionType r;
    r.SetSize(0, 4);
    r.SetSize(1, 4);
    image->SetRegions(r);
    image->Allocate();
    image->FillBuffer(pixel);
    auto writer = itk::ImageFileWriter<ImageType>::New();
    writer->SetInput(image);
    writer->SetFileName((dir / name).string());
    writer->Update();
    return (dir / name).string();
  };
  const std::string rgb = writeOne(itk::RGBPixel<unsigned char>(static_cast<unsigned char>(9)), "rgb.png");
  const std::string u16 = writeOne(static_cast<unsigned short>(9), "u16.png");
  const std::string f32 = writeOne(1.5f, "f32.nrrd");
  for (const auto & path : { rgb, u16, f32 })
  {
    try
    {
      itk::ReadScalarImage<GrayImage>(path);
      FAIL() << "expected an exception for " << path;
    }
    catch (const itk::ExceptionObject & e)
    {
      EXPECT_NE(std::string(e.GetDescription()).find(path), std::string::npos) << e.GetDescription();
    }
  }
  EXPECT_THROW(itk::ReadScalarImage<GrayStack>((dir / "missing.png").string()), itk::ExceptionObject);
  fs::remove_all(dir);
}

// Timing of the workload: 1000 patches of 128 x 128 (Otsu + descriptors).
// Run with --gtest_also_run_disabled_tests --gtest_filter=*Timing*.
TEST(MicrostructureStackMeasurement, DISABLED_Timing1000Patches)
{
  const auto stack = MakeStack<GrayStack>(128, 128, 1000, 20.0, 5);
  auto       m = itk::MicrostructureStackMeasurement<GrayStack>::New();
  m->SetInput(stack);
  m->Update(); // warm-up
  for (const unsigned units : { 1u, 2u })
  {
    m->SetNumberOfWorkUnits(units);
    m->Modified();
    const auto t0 = std::chrono::steady_clock::now();
    m->Update();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "1000 patches 128x128, " << units << " work unit(s): " << s << " s" << std::endl;
    EXPECT_EQ(m->GetMeasurements().size(), 1000u);
  }
}
