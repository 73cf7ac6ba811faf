// Tests of itk::OtsuPhaseSegmentationImageFilter: two-level noisy images whose true phase
// map is known, per-slice thresholds on a stack, foreground switch, degenerate input.
#include "itkOtsuPhaseSegmentationImageFilter.h"
#include "itkOtsuThresholdImageFilter.h"
#include "itkTestingMacros.h"

#include <gtest/gtest.h>
#include <algorithm>
#include <cmath>
#include <random>

namespace
{
using GrayImage = itk::Image<unsigned char, 2>;
using FloatImage = itk::Image<float, 2>;
using GrayStack = itk::Image<unsigned char, 3>;
using LabelImage = itk::Image<unsigned char, 2>;
using LabelStack = itk::Image<unsigned char, 3>;

// True phase map: a disc of radius 20 and a horizontal bar, on 64 x 48.
int
TruePhase(int x, int y)
{
  const double dx = x - 30.0;
  const double dy = y - 22.0;
  return (dx * dx + dy * dy <= 400.0 || (y >= 40 && y < 44)) ? 1 : 0;
}

template <typename TImage>
typename TImage::Pointer
MakeTwoLevel(double low, double high, double sigma, unsigned seed, unsigned slices = 1, double sliceStep = 0.0)
{
  auto                        image = TImage::New();
  typename TImage::RegionType region;
  region.SetSize(0, 64);
  region.SetSize(1, 48);
  if constexpr (TImage::ImageDimension == 3)
  {
    region.SetSize(2, slices);
  }
  image->SetRegions(region);
  image->Allocate();
  std::mt19937                     rng(seed);
  std::normal_distribution<double> noise(0.0, sigma);
  auto *                           p = image->GetBufferPointer();
  for (unsigned k = 0; k < slices; ++k)
  {
    for (int y = 0; y < 48; ++y)
    {
      for (int x = 0; x < 64; ++x)
      {
        double v = (TruePhase(x, y) ? high : low) + k * sliceStep + noise(rng);
        if constexpr (std::is_same_v<typename TImage::PixelType, unsigned char>)
        {
          v = std::clamp(std::round(v), 0.0, 255.0);
        }
        *p++ = static_cast<typename TImage::PixelType>(v);
      }
    }
  }
  return image;
}

// Number of pixels of slice k whose label differs from TruePhase (or 1 - TruePhase).
template <typename TImage>
int
Mismatches(const TImage * labels, unsigned k, bool inverted)
{
  const auto * p = labels->GetBufferPointer() + k * 64 * 48;
  int          bad = 0;
  for (int y = 0; y < 48; ++y)
  {
    for (int x = 0; x < 64; ++x)
    {
      const int expected = inverted ? 1 - TruePhase(x, y) : TruePhase(x, y);
      bad += (*p++ != expected);
    }
  }
  return bad;
}

int
ExerciseBasics()
{
  auto filter = itk::OtsuPhaseSegmentationImageFilter<GrayImage, LabelImage>::New();
  ITK_EXERCISE_BASIC_OBJECT_METHODS(filter, OtsuPhaseSegmentationImageFilter, ImageToImageFilter);
  return EXIT_SUCCESS;
}
} // namespace

TEST(OtsuPhaseSegmentation, BasicObjectMethods)
{
  EXPECT_EQ(ExerciseBasics(), EXIT_SUCCESS);
  auto filter = itk::OtsuPhaseSegmentationImageFilter<GrayImage, LabelImage>::New();
  EXPECT_EQ(filter->GetForegroundPhase(), itk::OtsuPhaseSegmentationImageFilterEnums::ForegroundPhase::Bright);
  EXPECT_EQ(filter->GetNumberOfHistogramBins(), 256u);
}

TEST(OtsuPhaseSegmentation, NoisyTwoLevelImageGivesTruePhaseMap)
{
  const auto gray = MakeTwoLevel<GrayImage>(70.0, 170.0, 12.0, 1);
  auto       filter = itk::OtsuPhaseSegmentationImageFilter<GrayImage, LabelImage>::New();
  filter->SetInput(gray);
  filter->Update();
  EXPECT_EQ(Mismatches(filter->GetOutput(), 0, false), 0);
  ASSERT_EQ(filter->GetThresholds().size(), 1u);
  EXPECT_GT(filter->GetThresholds()[0], 100.0);
  EXPECT_LT(filter->GetThresholds()[0], 140.0);
  // Same geometry out as in.
  EXPECT_EQ(filter->GetOutput()->GetLargestPossibleRegion(), gray->GetLargestPossibleRegion());
}

TEST(OtsuPhaseSegmentation, DarkForegroundInvertsTheMap)
{
  const auto gray = MakeTwoLevel<GrayImage>(70.0, 170.0, 12.0, 2);
  auto       filter = itk::OtsuPhaseSegmentationImageFilter<GrayImage, LabelImage>::New();
  filter->SetInput(gray);
  filter->SetForegroundPhase(itk::OtsuPhaseSegmentationImageFilterEnums::ForegroundPhase::Dark);
  filter->Update();
  EXPECT_EQ(Mismatches(filter->GetOutput(), 0, true), 0);
}

TEST(OtsuPhaseSegmentation, ThresholdSideOnAKnownImage)
{
  // Exactly two gray levels 40 and 200: ITK puts pixels <= threshold on the "inside" side,
  // which this filter maps to 0 for Bright, so the 200 pixels (and only they) become 1.
  auto                  image = GrayImage::New();
  GrayImage::RegionType region;
  region.SetSize(0, 10);
  region.SetSize(1, 10);
  image->SetRegions(region);
  image->Allocate();
  for (unsigned i = 0; i < 100; ++i)
  {
    image->GetBufferPointer()[i] = (i % 3 == 0) ? 200 : 40;
  }
  auto filter = itk::OtsuPhaseSegmentationImageFilter<GrayImage, LabelImage>::New();
  filter->SetInput(image);
  filter->Update();
  const double t = filter->GetThresholds()[0];
  EXPECT_GE(t, 40.0);
  EXPECT_LT(t, 200.0);
  for (unsigned i = 0; i < 100; ++i)
  {
    EXPECT_EQ(filter->GetOutput()->GetBufferPointer()[i], (i % 3 == 0) ? 1 : 0) << i;
  }
}

TEST(OtsuPhaseSegmentation, StackGetsOneThresholdPerSlice)
{
  // Slices 0..3 shifted by 40 gray levels each: a single global threshold could not separate
  // them all (slice 3's dark level is above slice 0's bright one), one per slice does.
  const auto stack = MakeTwoLevel<GrayStack>(20.0, 110.0, 8.0, 3, 4, 45.0);
  auto       filter = itk::OtsuPhaseSegmentationImageFilter<GrayStack, LabelStack>::New();
  filter->SetInput(stack);
  filter->Update();
  ASSERT_EQ(filter->GetThresholds().size(), 4u);
  for (unsigned k = 0; k < 4; ++k)
  {
    EXPECT_EQ(Mismatches(filter->GetOutput(), k, false), 0) << "slice " << k;
    EXPECT_GT(filter->GetThresholds()[k], 20.0 + 45.0 * k + 20.0);
    EXPECT_LT(filter->GetThresholds()[k], 110.0 + 45.0 * k - 20.0);
  }
  EXPECT_EQ(filter->GetOutput()->GetLargestPossibleRegion(), stack->GetLargestPossibleRegion());
  // Updating again (e.g. after a setting change) starts the threshold list afresh.
  filter->SetNumberOfHistogramBins(128);
  filter->Update();
  EXPECT_EQ(filter->GetThresholds().size(), 4u);
}

TEST(OtsuPhaseSegmentation, FloatInput)
{
  const auto gray = MakeTwoLevel<FloatImage>(0.2, 0.8, 0.05, 4);
  auto       filter = itk::OtsuPhaseSegmentationImageFilter<FloatImage, LabelImage>::New();
  filter->SetInput(gray);
  filter->Update();
  EXPECT_EQ(Mismatches(filter->GetOutput(), 0, false), 0);
  EXPECT_GT(filter->GetThresholds()[0], 0.35);
  EXPECT_LT(filter->GetThresholds()[0], 0.65);
}

TEST(OtsuPhaseSegmentation, ConstantImageDoesNotCrash)
{
  // Otsu is undefined without contrast; the documented outcome: threshold NaN, all 0
  // whatever the foreground phase.
  for (const unsigned char value : { 0, 100, 255 })
  {
    for (const auto phase : { itk::OtsuPhaseSegmentationImageFilterEnums::ForegroundPhase::Bright,
                              itk::OtsuPhaseSegmentationImageFilterEnums::ForegroundPhase::Dark })
    {
      auto                  image = GrayImage::New();
      GrayImage::RegionType region;
      region.SetSize(0, 16);
      region.SetSize(1, 16);
      image->SetRegions(region);
      image->Allocate();
      image->FillBuffer(value);
      auto filter = itk::OtsuPhaseSegmentationImageFilter<GrayImage, LabelImage>::New();
      filter->SetInput(image);
      filter->SetForegroundPhase(phase);
      ASSERT_NO_THROW(filter->Update());
      const int expected = 0;
      EXPECT_TRUE(std::isnan(filter->GetThresholds()[0]));
      int bad = 0;
      for (unsigned i = 0; i < 256; ++i)
      {
        bad += (filter->GetOutput()->GetBufferPointer()[i] != expected);
      }
      EXPECT_EQ(bad, 0) << "value " << int(value) << " phase " << phase << " threshold " << filter->GetThresholds()[0];
    }
  }
  auto                   fimage = FloatImage::New();
  FloatImage::RegionType region;
  region.SetSize(0, 16);
  region.SetSize(1, 16);
  fimage->SetRegions(region);
  fimage->Allocate();
  fimage->FillBuffer(0.5f);
  auto ffilter = itk::OtsuPhaseSegmentationImageFilter<FloatImage, LabelImage>::New();
  ffilter->SetInput(fimage);
  ASSERT_NO_THROW(ffilter->Update());
  int sum = 0;
  for (unsigned i = 0; i < 256; ++i)
  {
    sum += ffilter->GetOutput()->GetBufferPointer()[i];
  }
  EXPECT_EQ(sum, 0) << "threshold " << ffilter->GetThresholds()[0];
  EXPECT_TRUE(std::isnan(ffilter->GetThresholds()[0]));

  // In a stack only the constant slice is affected.
  auto stack = MakeTwoLevel<GrayStack>(70.0, 170.0, 12.0, 6, 3);
  std::fill(stack->GetBufferPointer() + 64 * 48, stack->GetBufferPointer() + 2 * 64 * 48, 100);
  auto sfilter = itk::OtsuPhaseSegmentationImageFilter<GrayStack, LabelStack>::New();
  sfilter->SetInput(stack);
  sfilter->Update();
  ASSERT_EQ(sfilter->GetThresholds().size(), 3u);
  EXPECT_FALSE(std::isnan(sfilter->GetThresholds()[0]));
  EXPECT_TRUE(std::isnan(sfilter->GetThresholds()[1]));
  EXPECT_FALSE(std::isnan(sfilter->GetThresholds()[2]));
  EXPECT_EQ(Mismatches(sfilter->GetOutput(), 0, false), 0);
  EXPECT_EQ(Mismatches(sfilter->GetOutput(), 2, false), 0);
  const auto * s1 = sfilter->GetOutput()->GetBufferPointer() + 64 * 48;
  EXPECT_EQ(std::count(s1, s1 + 64 * 48, 0), 64 * 48);
}

TEST(OtsuPhaseSegmentation, BadInputIsAClearError)
{
  auto                  empty = GrayImage::New();
  GrayImage::RegionType region;
  region.SetSize(0, 0);
  region.SetSize(1, 5);
  empty->SetRegions(region);
  empty->Allocate();
  auto filter = itk::OtsuPhaseSegmentationImageFilter<GrayImage, LabelImage>::New();
  filter->SetInput(empty);
  try
  {
    filter->Update();
    FAIL() << "expected an exception for an empty image";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("empty"), std::string::npos) << e.GetDescription();
  }

  const auto gray = MakeTwoLevel<GrayImage>(70.0, 170.0, 12.0, 5);
  auto       bins = itk::OtsuPhaseSegmentationImageFilter<GrayImage, LabelImage>::New();
  bins->SetInput(gray);
  bins->SetNumberOfHistogramBins(1);
  EXPECT_THROW(bins->Update(), itk::ExceptionObject);

  auto noInput = itk::OtsuPhaseSegmentationImageFilter<GrayImage, LabelImage>::New();
  EXPECT_THROW(noInput->Update(), itk::ExceptionObject);
}

// The 8-bit path counts the histogram itself and calls ITK's OtsuThresholdCalculator: it must
// give exactly what ITK's OtsuThresholdImageFilter gives, threshold and phase map, on images
// of every kind of histogram (two noisy levels, skewed mixtures, narrow ranges, few levels).
TEST(OtsuPhaseSegmentation, EightBitPathEqualsITKOtsuThresholdImageFilter)
{
  using ITKOtsu = itk::OtsuThresholdImageFilter<GrayImage, LabelImage>;
  std::mt19937 rng(7);
  for (int trial = 0; trial < 60; ++trial)
  {
    const double low = std::uniform_real_distribution<double>(0, 200)(rng);
    const double high = low + std::uniform_real_distribution<double>(1, 120)(rng);
    const double sigma = std::uniform_real_distribution<double>(0.3, 40)(rng);
    auto         image = MakeTwoLevel<GrayImage>(low, high, sigma, 100 + trial);

    auto reference = ITKOtsu::New();
    reference->SetInput(image);
    reference->SetInsideValue(0); // <= threshold
    reference->SetOutsideValue(1);
    reference->Update();

    auto filter = itk::OtsuPhaseSegmentationImageFilter<GrayImage, LabelImage>::New();
    filter->SetInput(image);
    filter->Update();
    ASSERT_EQ(filter->GetThresholds().size(), 1u);
    EXPECT_EQ(filter->GetThresholds()[0], static_cast<double>(reference->GetThreshold())) << "trial " << trial;
    const auto * a = filter->GetOutput()->GetBufferPointer();
    const auto * b = reference->GetOutput()->GetBufferPointer();
    EXPECT_TRUE(std::equal(a, a + 64 * 48, b)) << "trial " << trial;
  }
}
