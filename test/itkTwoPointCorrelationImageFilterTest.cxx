// Tests of itk::TwoPointCorrelationImageFilter against independent truths: the volume fraction,
// the Bernoulli limit p^2 with a sampling tolerance, the analytic triangle wave of stripes, a
// brute-force pair count, and a geometry a circular FFT would get wrong.
#include "itkTwoPointCorrelationImageFilter.h"
#include "itkVnlHalfHermitianToRealInverseFFTImageFilter.h"
#include "itkVnlRealToHalfHermitianForwardFFTImageFilter.h"

#include <gtest/gtest.h>
#include <array>
#include <cmath>
#include <complex>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

namespace
{
using LabelImage = itk::Image<unsigned char, 2>;
using S2Filter = itk::TwoPointCorrelationImageFilter<LabelImage>;

LabelImage::Pointer
MakeImage(unsigned int nx, unsigned int ny)
{
  auto                   image = LabelImage::New();
  LabelImage::RegionType region;
  region.SetSize({ { nx, ny } });
  image->SetRegions(region);
  image->Allocate(true);
  return image;
}

LabelImage::Pointer
BernoulliImage(unsigned int nx, unsigned int ny, double p, unsigned int seed, unsigned char fg = 1)
{
  auto                        image = MakeImage(nx, ny);
  std::mt19937                rng(seed);
  std::bernoulli_distribution coin(p);
  unsigned char *             buffer = image->GetBufferPointer();
  for (std::size_t i = 0; i < std::size_t(nx) * ny; ++i)
  {
    buffer[i] = coin(rng) ? fg : 0;
  }
  return image;
}

S2Filter::Pointer
RunS2(const LabelImage * image, unsigned int r = 0, unsigned char fg = 1, bool useFFTW = S2Filter::HasFFTW)
{
  auto filter = S2Filter::New();
  filter->SetUseFFTW(useFFTW);
  filter->SetInput(image);
  filter->SetMaximumDistance(r);
  filter->SetForegroundValue(fg);
  filter->Update();
  return filter;
}

float
At(const S2Filter * filter, long dx, long dy)
{
  const long r = filter->GetEffectiveMaximumDistance();
  return filter->GetOutput()->GetPixel({ { dx + r, dy + r } });
}

double
ForegroundFraction(const LabelImage * image, unsigned char fg)
{
  const auto  n = image->GetLargestPossibleRegion().GetNumberOfPixels();
  std::size_t count = 0;
  for (std::size_t i = 0; i < n; ++i)
  {
    count += (image->GetBufferPointer()[i] == fg);
  }
  return double(count) / double(n);
}
} // namespace

TEST(TwoPointCorrelation, ZeroDisplacementIsTheVolumeFractionExactly)
{
  const auto   image = BernoulliImage(97, 64, 0.37, 11);
  const auto   filter = RunS2(image);
  const double vf = ForegroundFraction(image, 1);
  EXPECT_EQ(filter->GetEffectiveMaximumDistance(), 32u); // default: half the smaller side
  EXPECT_EQ(filter->GetVolumeFraction(), vf);
  EXPECT_EQ(filter->GetXCurve()[0], vf);
  EXPECT_EQ(filter->GetYCurve()[0], vf);
  EXPECT_EQ(filter->GetRadialCurve()[0], vf);
  EXPECT_EQ(At(filter, 0, 0), static_cast<float>(vf));
  EXPECT_EQ(filter->GetXCurve().size(), 33u);
  EXPECT_EQ(filter->GetOutput()->GetLargestPossibleRegion().GetSize()[0], 65u);
  EXPECT_EQ(filter->GetOutput()->GetLargestPossibleRegion().GetSize()[1], 65u);
}

TEST(TwoPointCorrelation, BernoulliFieldTendsToPSquared)
{
  const double   p = 0.3;
  const unsigned n = 128;
  const unsigned r = 40;
  const auto     image = BernoulliImage(n, n, p, 2024);
  const auto     filter = RunS2(image, r);
  // S2(d) averages M = (N-|dx|)(N-|dy|) products I(x)I(x+d); each has variance p^2 - p^4 and is
  // correlated (covariance p^3 - p^4) with the two products sharing one of its points.
  const double unitVariance = p * p - std::pow(p, 4) + 2.0 * (std::pow(p, 3) - std::pow(p, 4));
  double       worstSigmas = 0.0;
  for (long dy = -long(r); dy <= long(r); ++dy)
  {
    for (long dx = -long(r); dx <= long(r); ++dx)
    {
      if (dx == 0 && dy == 0)
      {
        continue;
      }
      const double m = double(n - std::abs(dx)) * double(n - std::abs(dy));
      const double sigma = std::sqrt(unitVariance / m);
      worstSigmas = std::max(worstSigmas, std::abs(At(filter, dx, dy) - p * p) / sigma);
    }
  }
  // 6560 displacements: 5.5 sigma is exceeded by chance with probability < 3e-4.
  EXPECT_LT(worstSigmas, 5.5);
  // The radial average pools hundreds of displacements: much tighter.
  for (unsigned k = 1; k <= r; ++k)
  {
    EXPECT_NEAR(filter->GetRadialCurve()[k], p * p, 6.0 * std::sqrt(unitVariance / ((n - r) * (n - r) * 4.0 * k)))
      << "k = " << k;
  }
  // And S2(0) is the realised fraction, near p.
  EXPECT_NEAR(filter->GetVolumeFraction(), p, 5.0 * std::sqrt(p * (1 - p) / (n * n)));
}

TEST(TwoPointCorrelation, VerticalStripesGiveATriangleWaveAlongXAndAConstantAlongY)
{
  const unsigned period = 16;
  const unsigned width = 6; // foreground columns per period
  const unsigned nx = 2048;
  const unsigned ny = 48;
  const unsigned r = 40;
  auto           image = MakeImage(nx, ny);
  for (unsigned y = 0; y < ny; ++y)
  {
    for (unsigned x = 0; x < nx; ++x)
    {
      image->SetPixel({ { x, y } }, (x % period) < width ? 1 : 0);
    }
  }
  const auto   filter = RunS2(image, r);
  const double vf = double(width) / period;
  // Periodic stripes: overlap of a stripe with its copy shifted by t = d mod P.
  auto triangle = [&](unsigned d) {
    const double t = d % period;
    return (std::max(0.0, width - t) + std::max(0.0, t - (period - width))) / period;
  };
  for (unsigned d = 0; d <= r; ++d)
  {
    // A window of nx - d columns holds whole periods plus a remainder shorter than P, so the
    // count differs from (nx - d) * triangle(d) by less than P pairs per row.
    EXPECT_NEAR(filter->GetXCurve()[d], triangle(d), double(period) / double(nx - d)) << "dx = " << d;
    EXPECT_NEAR(filter->GetYCurve()[d], vf, 1e-12) << "dy = " << d;
  }
  EXPECT_NEAR(filter->GetXCurve()[period / 2], 0.0, 1e-12); // stripes of 6 never overlap at shift 8
  EXPECT_GT(filter->GetXCurve()[period], 0.99 * vf);
}

namespace
{
// Non-square, a label image where the phase of interest is label 3; every S2 value and curve
// against a direct pair count.
void
ExpectBruteForce(unsigned nx, unsigned ny, unsigned r, bool useFFTW = S2Filter::HasFFTW)
{
  auto                               image = MakeImage(nx, ny);
  std::mt19937                       rng(7);
  std::uniform_int_distribution<int> label(0, 3);
  for (unsigned y = 0; y < ny; ++y)
  {
    for (unsigned x = 0; x < nx; ++x)
    {
      image->SetPixel({ { x, y } }, static_cast<unsigned char>(label(rng)));
    }
  }
  const auto filter = RunS2(image, r, 3, useFFTW);
  auto       fg = [&](long x, long y) { return image->GetPixel({ { x, y } }) == 3; };

  std::vector<double> radialSum(r + 1, 0.0);
  std::vector<int>    radialCount(r + 1, 0);
  for (long dy = -long(r); dy <= long(r); ++dy)
  {
    for (long dx = -long(r); dx <= long(r); ++dx)
    {
      long count = 0;
      for (long y = std::max(0L, -dy); y < std::min(long(ny), long(ny) - dy); ++y)
      {
        for (long x = std::max(0L, -dx); x < std::min(long(nx), long(nx) - dx); ++x)
        {
          count += fg(x, y) && fg(x + dx, y + dy);
        }
      }
      const double expected = double(count) / (double(ny - std::abs(dy)) * double(nx - std::abs(dx)));
      ASSERT_EQ(At(filter, dx, dy), static_cast<float>(expected)) << "dx = " << dx << ", dy = " << dy;
      if (dy == 0 && dx >= 0)
      {
        EXPECT_EQ(filter->GetXCurve()[dx], expected);
      }
      if (dx == 0 && dy >= 0)
      {
        EXPECT_EQ(filter->GetYCurve()[dy], expected);
      }
      const long k = std::lround(std::sqrt(double(dx * dx + dy * dy)));
      if (k <= long(r))
      {
        radialSum[k] += expected;
        ++radialCount[k];
      }
    }
  }
  for (unsigned k = 0; k <= r; ++k)
  {
    EXPECT_NEAR(filter->GetRadialCurve()[k], radialSum[k] / radialCount[k], 1e-14) << "k = " << k;
  }
}
} // namespace

TEST(TwoPointCorrelation, EqualsABruteForcePairCount)
{
  ExpectBruteForce(23, 31, 12); // single-precision FFT path
}

TEST(TwoPointCorrelation, EqualsABruteForcePairCountOnALargeImage)
{
  ExpectBruteForce(300, 271, 5); // > 256 x 256 pixels: double-precision FFT path
}

// Without FFTW (or UseFFTW Off) the counts come through ITK's FFT factory: the same exact counts.
TEST(TwoPointCorrelation, ThroughITKsFFTFactoryEqualsABruteForcePairCount)
{
  ExpectBruteForce(23, 31, 12, false);
  ExpectBruteForce(300, 271, 5, false);
}

// VNL's FFT, which an ITK without FFTW uses, named explicitly (the factory gives FFTW where ITK has
// it): the pair counts equal those of the direct path, odd padded sizes included (23 + 12 -> 36,
// 31 + 12 -> 45: an odd x size exercises the half-Hermitian inverse's odd flag).
TEST(TwoPointCorrelation, VnlFFTGivesTheSamePairCounts)
{
  using RealImageType = itk::Image<double, 2>;
  using ComplexImageType = itk::Image<std::complex<double>, 2>;
  using Forward = itk::VnlRealToHalfHermitianForwardFFTImageFilter<RealImageType, ComplexImageType>;
  using Inverse = itk::VnlHalfHermitianToRealInverseFFTImageFilter<ComplexImageType, RealImageType>;
  for (const auto & [nx, ny, r] : { std::array<unsigned, 3>{ 23, 31, 12 }, std::array<unsigned, 3>{ 40, 25, 5 } })
  {
    const auto          image = BernoulliImage(nx, ny, 0.4, nx + ny);
    const auto          px = S2Filter::PaddedLength(nx, r), py = S2Filter::PaddedLength(ny, r);
    std::vector<double> counts((2 * r + 1) * (2 * r + 1));
    itk::TwoPointCorrelationDetail::PairCountsThroughFFTFilters<Forward, Inverse>(
      image->GetBufferPointer(), static_cast<unsigned char>(1), nx, ny, px, py, long(r), counts);
    const auto filter = RunS2(image, r);
    for (long dy = -long(r); dy <= long(r); ++dy)
    {
      for (long dx = -long(r); dx <= long(r); ++dx)
      {
        const double valid = double(nx - std::abs(dx)) * double(ny - std::abs(dy));
        ASSERT_EQ(static_cast<float>(counts[(dy + r) * (2 * r + 1) + dx + r] / valid), At(filter, dx, dy))
          << nx << " x " << ny << ", dx = " << dx << ", dy = " << dy;
      }
    }
  }
}

TEST(TwoPointCorrelation, IsNotCircular)
{
  // Foreground only in the first and last columns: a circular correlation would pair column
  // N-1 with column 0 at dx = 1, 2, ...; the true S2 is zero there.
  const unsigned n = 64;
  const unsigned r = 32;
  auto           image = MakeImage(n, n);
  for (unsigned y = 0; y < n; ++y)
  {
    image->SetPixel({ { 0, y } }, 1);
    image->SetPixel({ { n - 1, y } }, 1);
  }
  const auto filter = RunS2(image, r);
  for (unsigned d = 1; d <= r; ++d)
  {
    EXPECT_EQ(filter->GetXCurve()[d], 0.0) << "dx = " << d;
    EXPECT_EQ(At(filter, -long(d), 0), 0.0f);
    EXPECT_EQ(At(filter, long(d), 5), 0.0f);
    EXPECT_DOUBLE_EQ(filter->GetYCurve()[d], 2.0 / n) << "dy = " << d;
  }
  // Padding: N + R rounded up to a 2/3/5-smooth size, not 2N.
  EXPECT_EQ(S2Filter::PaddedLength(128, 64), 192u);
  EXPECT_EQ(S2Filter::PaddedLength(64, 32), 96u);
  EXPECT_EQ(S2Filter::PaddedLength(100, 7), 108u);
  EXPECT_EQ(S2Filter::PaddedLength(2048, 40), 2160u);
}

TEST(TwoPointCorrelation, OutputGeometryIsDisplacementInMicrometres)
{
  auto                    image = BernoulliImage(40, 30, 0.5, 3);
  LabelImage::SpacingType spacing;
  spacing[0] = 0.5;
  spacing[1] = 2.0;
  image->SetSpacing(spacing);
  LabelImage::PointType origin;
  origin[0] = 10.0;
  origin[1] = 20.0;
  image->SetOrigin(origin);
  const auto filter = RunS2(image, 6);
  const auto output = filter->GetOutput();
  EXPECT_EQ(output->GetSpacing()[0], 0.5);
  EXPECT_EQ(output->GetSpacing()[1], 2.0);
  EXPECT_DOUBLE_EQ(output->GetOrigin()[0], -3.0);
  EXPECT_DOUBLE_EQ(output->GetOrigin()[1], -12.0);
  LabelImage::PointType zero;
  zero.Fill(0.0);
  const auto centre = output->TransformPhysicalPointToIndex(zero);
  EXPECT_EQ(centre[0], 6);
  EXPECT_EQ(centre[1], 6);
  // The pixel at physical (1.5 um, -4 um) is the displacement (3, -2) pixels.
  LabelImage::PointType point;
  point[0] = 1.5;
  point[1] = -4.0;
  const auto idx = output->TransformPhysicalPointToIndex(point);
  EXPECT_EQ(output->GetPixel(idx), At(filter, 3, -2));
  // Point symmetry S2(d) = S2(-d).
  EXPECT_EQ(At(filter, 3, -2), At(filter, -3, 2));
}

TEST(TwoPointCorrelation, SingleSliceOf3DStackMatches2D)
{
  using Stack = itk::Image<unsigned char, 3>;
  const auto        image2 = BernoulliImage(50, 40, 0.4, 5);
  auto              slice = Stack::New();
  Stack::RegionType region;
  region.SetSize({ { 50, 40, 1 } });
  slice->SetRegions(region);
  slice->Allocate();
  std::copy(image2->GetBufferPointer(), image2->GetBufferPointer() + 2000, slice->GetBufferPointer());
  auto filter3 = itk::TwoPointCorrelationImageFilter<Stack>::New();
  filter3->SetInput(slice);
  filter3->Update();
  const auto filter2 = RunS2(image2);
  EXPECT_EQ(filter3->GetXCurve(), filter2->GetXCurve());
  EXPECT_EQ(filter3->GetRadialCurve(), filter2->GetRadialCurve());
}

TEST(TwoPointCorrelation, BadInputIsAClearError)
{
  using Stack = itk::Image<unsigned char, 3>;
  auto              stack = Stack::New();
  Stack::RegionType region;
  region.SetSize({ { 16, 16, 2 } });
  stack->SetRegions(region);
  stack->Allocate(true);
  auto filter3 = itk::TwoPointCorrelationImageFilter<Stack>::New();
  filter3->SetInput(stack);
  try
  {
    filter3->Update();
    FAIL() << "a 3D stack must be rejected";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("2 slices"), std::string::npos) << e.GetDescription();
  }

  auto empty = MakeImage(0, 10);
  EXPECT_THROW(RunS2(empty, 3), itk::ExceptionObject);

  const auto image = BernoulliImage(20, 12, 0.5, 1);
  try
  {
    RunS2(image, 12);
    FAIL() << "R >= the smaller side must be rejected";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("below 12"), std::string::npos) << e.GetDescription();
  }
  EXPECT_NO_THROW(RunS2(image, 11));

  auto noInput = S2Filter::New();
  EXPECT_THROW(noInput->Update(), itk::ExceptionObject);

  std::ostringstream os;
  noInput->Print(os);
  EXPECT_NE(os.str().find("MaximumDistance"), std::string::npos);
}

TEST(TwoPointCorrelation, ParallelInstancesAgreeWithSerial)
{
  // Many instances at once, with several padded sizes, exercise the shared plan cache.
  const unsigned                   jobs = 12;
  std::vector<LabelImage::Pointer> images;
  std::vector<S2Filter::CurveType> serial;
  for (unsigned j = 0; j < jobs; ++j)
  {
    images.push_back(BernoulliImage(60 + 7 * (j % 4), 50 + 3 * (j % 3), 0.45, 100 + j));
    serial.push_back(RunS2(images.back())->GetRadialCurve());
  }
  std::vector<S2Filter::CurveType> parallel(jobs);
  std::vector<std::thread>         threads;
  for (unsigned j = 0; j < jobs; ++j)
  {
    threads.emplace_back([&, j] {
      for (int repeat = 0; repeat < 5; ++repeat)
      {
        parallel[j] = RunS2(images[j])->GetRadialCurve();
      }
    });
  }
  for (auto & t : threads)
  {
    t.join();
  }
  for (unsigned j = 0; j < jobs; ++j)
  {
    EXPECT_EQ(parallel[j], serial[j]) << "job " << j;
  }
}

TEST(TwoPointCorrelation, AllForegroundIsExactlyOneAtTheSinglePrecisionLimit)
{
  // 256 x 256 is the largest image measured with single-precision FFTs, and all-foreground is
  // its worst case for rounding error (largest counts): S2 must still be exactly 1 everywhere.
  auto image = MakeImage(256, 256);
  image->FillBuffer(1);
  const auto   filter = RunS2(image, 128);
  const auto * out = filter->GetOutput()->GetBufferPointer();
  for (std::size_t i = 0; i < 257 * 257; ++i)
  {
    ASSERT_EQ(out[i], 1.0f) << "pixel " << i;
  }
  for (const double v : filter->GetRadialCurve())
  {
    EXPECT_EQ(v, 1.0);
  }
}
