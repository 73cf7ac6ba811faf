#include "itkSyntheticMicrostructureImageSource.h"

#include "itkMicrostructureDescriptorsImageFilter.h"
#include "itkMultiThreaderBase.h"
#include "itkOtsuThresholdImageFilter.h"
#include "itkRegionOfInterestImageFilter.h"

#include <gtest/gtest.h>
#include <cmath>
#include <limits>

namespace
{
using ImageType = itk::Image<unsigned char, 2>;
using SourceType = itk::SyntheticMicrostructureImageSource<ImageType>;

SourceType::Pointer
Make(double rate, uint64_t seed, unsigned w = 256, unsigned h = 192)
{
  auto src = SourceType::New();
  src->SetCoolingRate(rate);
  src->SetSeed(seed);
  src->SetSize({ { w, h } });
  return src;
}

bool
SameImage(const ImageType * a, const ImageType * b)
{
  const auto n = a->GetBufferedRegion().GetNumberOfPixels();
  if (n != b->GetBufferedRegion().GetNumberOfPixels())
  {
    return false;
  }
  return std::equal(a->GetBufferPointer(), a->GetBufferPointer() + n, b->GetBufferPointer());
}

/** Fraction (%) and mean free path (um) of label 1 of a 0/1/2 image. */
void
Describe(const ImageType * labels, double & fraction, double & df)
{
  auto d = itk::MicrostructureDescriptorsImageFilter<ImageType>::New();
  d->SetInput(labels);
  d->SetForegroundValue(1);
  d->SetNumberOfWorkUnits(1);
  d->Update();
  fraction = 100.0 * d->GetVolumeFraction();
  df = d->GetMeanFreePathPhysical();
}

struct PatchMeasure
{
  double fraction, df, truthFraction, truthDf;
};

/** The validation's measurement: 128 x 128 patches, Otsu (256 bins, bright = 1), descriptors;
 * and the same patches of the phase map measured directly. */
std::vector<PatchMeasure>
MeasurePatches(double rate, int images, uint64_t seed0)
{
  std::vector<PatchMeasure> out;
  for (int i = 0; i < images; ++i)
  {
    auto src = Make(rate, seed0 + i, 1024, 768);
    src->Update();
    for (unsigned y = 0; y + 128 <= 768; y += 128)
    {
      for (unsigned x = 0; x + 128 <= 1024; x += 128)
      {
        const ImageType::RegionType r({ { x, y } }, { { 128, 128 } });
        PatchMeasure                m;
        auto                        roi = itk::RegionOfInterestImageFilter<ImageType, ImageType>::New();
        roi->SetInput(src->GetOutput());
        roi->SetRegionOfInterest(r);
        auto otsu = itk::OtsuThresholdImageFilter<ImageType, ImageType>::New();
        otsu->SetInput(roi->GetOutput());
        otsu->SetNumberOfHistogramBins(256);
        otsu->SetInsideValue(0);
        otsu->SetOutsideValue(1);
        otsu->Update();
        Describe(otsu->GetOutput(), m.fraction, m.df);
        auto roi2 = itk::RegionOfInterestImageFilter<ImageType, ImageType>::New();
        roi2->SetInput(src->GetPhaseMapOutput());
        roi2->SetRegionOfInterest(r);
        roi2->Update();
        Describe(roi2->GetOutput(), m.truthFraction, m.truthDf);
        out.push_back(m);
      }
    }
  }
  return out;
}

struct Summary
{
  double mean, var, df, meanSE, dfSE;
};
Summary
Summarize(const std::vector<PatchMeasure> & v, int images)
{
  Summary s{ 0, 0, 0, 0, 0 };
  for (const auto & m : v)
  {
    s.mean += m.fraction / v.size();
    s.df += m.df / v.size();
  }
  for (const auto & m : v)
  {
    s.var += (m.fraction - s.mean) * (m.fraction - s.mean) / (v.size() - 1);
  }
  // Standard errors from the per-image means (patches of one image are correlated).
  const std::size_t   per = v.size() / images;
  std::vector<double> fm(images, 0.0), dm(images, 0.0);
  for (std::size_t k = 0; k < v.size(); ++k)
  {
    fm[k / per] += v[k].fraction / per;
    dm[k / per] += v[k].df / per;
  }
  double vf = 0, vd = 0;
  for (int i = 0; i < images; ++i)
  {
    vf += (fm[i] - s.mean) * (fm[i] - s.mean) / (images - 1);
    vd += (dm[i] - s.df) * (dm[i] - s.df) / (images - 1);
  }
  s.meanSE = std::sqrt(vf / images);
  s.dfSE = std::sqrt(vd / images);
  return s;
}
} // namespace

TEST(SyntheticMicrostructureImageSource, BasicObjectAndPrint)
{
  auto src = SourceType::New();
  EXPECT_STREQ(src->GetNameOfClass(), "SyntheticMicrostructureImageSource");
  std::ostringstream os;
  src->Print(os);
  EXPECT_NE(os.str().find("CoolingRate"), std::string::npos);
  EXPECT_EQ(src->GetSize()[0], 1024u);
  EXPECT_EQ(src->GetSize()[1], 768u);
  EXPECT_DOUBLE_EQ(src->GetSpacing()[0], 0.34);
}

TEST(SyntheticMicrostructureImageSource, SameSeedSameImageDifferentSeedDifferentImage)
{
  auto a = Make(3, 7);
  auto b = Make(3, 7);
  auto c = Make(3, 8);
  a->Update();
  b->Update();
  c->Update();
  EXPECT_TRUE(SameImage(a->GetOutput(), b->GetOutput()));
  EXPECT_TRUE(SameImage(a->GetPhaseMapOutput(), b->GetPhaseMapOutput()));
  EXPECT_FALSE(SameImage(a->GetOutput(), c->GetOutput()));
  EXPECT_FALSE(SameImage(a->GetPhaseMapOutput(), c->GetPhaseMapOutput()));
}

TEST(SyntheticMicrostructureImageSource, OutputDoesNotDependOnThreads)
{
  auto a = Make(10, 3, 300, 200);
  a->Update();
  auto b = Make(10, 3, 300, 200);
  b->SetNumberOfWorkUnits(1);
  b->GetMultiThreader()->SetMaximumNumberOfThreads(1);
  b->Update();
  EXPECT_TRUE(SameImage(a->GetOutput(), b->GetOutput()));
  EXPECT_TRUE(SameImage(a->GetPhaseMapOutput(), b->GetPhaseMapOutput()));
}

TEST(SyntheticMicrostructureImageSource, SameMicrostructureAtSamePhysicalPosition)
{
  // A crop made by shifting the origin by whole pixels: the phase map is the same there.
  auto big = Make(3, 5, 200, 150);
  big->Update();
  auto                 crop = Make(3, 5, 100, 80);
  ImageType::PointType origin;
  origin[0] = 40 * 0.34;
  origin[1] = 30 * 0.34;
  crop->SetOrigin(origin);
  crop->Update();
  int differ = 0;
  for (unsigned y = 0; y < 80; ++y)
  {
    for (unsigned x = 0; x < 100; ++x)
    {
      differ +=
        crop->GetPhaseMapOutput()->GetPixel({ { x, y } }) != big->GetPhaseMapOutput()->GetPixel({ { x + 40, y + 30 } });
    }
  }
  EXPECT_EQ(differ, 0);
}

TEST(SyntheticMicrostructureImageSource, SizeSpacingOriginOfBothOutputs)
{
  auto src = Make(3, 1, 321, 123);
  src->SetSpacing(0.5);
  ImageType::PointType origin;
  origin[0] = -10.0;
  origin[1] = 2.5;
  src->SetOrigin(origin);
  src->Update();
  for (ImageType * out : { src->GetOutput(), src->GetPhaseMapOutput() })
  {
    EXPECT_EQ(out->GetLargestPossibleRegion().GetSize()[0], 321u);
    EXPECT_EQ(out->GetLargestPossibleRegion().GetSize()[1], 123u);
    EXPECT_EQ(out->GetBufferedRegion(), out->GetLargestPossibleRegion());
    EXPECT_DOUBLE_EQ(out->GetSpacing()[0], 0.5);
    EXPECT_DOUBLE_EQ(out->GetSpacing()[1], 0.5);
    EXPECT_DOUBLE_EQ(out->GetOrigin()[0], -10.0);
    EXPECT_DOUBLE_EQ(out->GetOrigin()[1], 2.5);
  }
  // Labels are 0, 1, 2 and all three occur; ferrite is bright and pearlite dark in the image.
  std::array<std::size_t, 3> count{ { 0, 0, 0 } };
  std::array<double, 3>      gray{ { 0, 0, 0 } };
  const auto                 n = src->GetOutput()->GetBufferedRegion().GetNumberOfPixels();
  for (std::size_t k = 0; k < n; ++k)
  {
    const unsigned l = src->GetPhaseMapOutput()->GetBufferPointer()[k];
    ASSERT_LE(l, 2u);
    ++count[l];
    gray[l] += src->GetOutput()->GetBufferPointer()[k];
  }
  for (unsigned l = 0; l < 3; ++l)
  {
    ASSERT_GT(count[l], 0u) << "label " << l;
    gray[l] /= count[l];
  }
  EXPECT_GT(gray[1], 180.0);
  EXPECT_LT(gray[0], 80.0);
  EXPECT_LT(gray[2], 140.0); // thin boundaries, blurred
}

TEST(SyntheticMicrostructureImageSource, CalibrationTableAndInterpolation)
{
  const auto table = SourceType::GetCalibrationTable();
  ASSERT_EQ(table.size(), 4u);
  for (const auto & row : table)
  {
    const auto p = SourceType::GetParametersForCoolingRate(row.CoolingRate);
    EXPECT_NEAR(p.NucleationDensity, row.NucleationDensity, 1e-12 * row.NucleationDensity);
    EXPECT_NEAR(p.TransformationEnd, row.TransformationEnd, 1e-12 * row.TransformationEnd);
  }
  // Monotone: finer grains (larger lambda) and earlier growth stop with faster cooling.
  double lastLambda = 0, lastT = 1e9;
  for (double r : { 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 6.5, 10.0, 15.0, 20.0, 30.0, 60.0 })
  {
    bool       extrapolated = false;
    const auto p = SourceType::GetParametersForCoolingRate(r, &extrapolated);
    EXPECT_EQ(extrapolated, r < 1.0 || r > 30.0) << r;
    EXPECT_GT(p.NucleationDensity, lastLambda) << r;
    EXPECT_LT(p.TransformationEnd, lastT) << r;
    lastLambda = p.NucleationDensity;
    lastT = p.TransformationEnd;
  }
}

TEST(SyntheticMicrostructureImageSource, BadInputThrows)
{
  for (double rate :
       { 0.0, -3.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(), 0.001, 5000.0 })
  {
    auto src = Make(rate, 1, 64, 64);
    EXPECT_THROW(src->Update(), itk::ExceptionObject) << rate;
  }
  auto zero = Make(3, 1, 0, 64);
  EXPECT_THROW(zero->Update(), itk::ExceptionObject);
  auto badSpacing = Make(3, 1, 64, 64);
  badSpacing->SetSpacing(0.0);
  EXPECT_THROW(badSpacing->Update(), itk::ExceptionObject);
  auto badParams = SourceType::New();
  auto p = SourceType::GetParametersForCoolingRate(3);
  p.NucleationDensity = -1;
  badParams->SetParameters(p);
  EXPECT_THROW(badParams->Update(), itk::ExceptionObject);
  // Extrapolation within [0.01, 1000] works (with a warning).
  auto fast = Make(60, 1, 64, 64);
  EXPECT_NO_THROW(fast->Update());
}

// The phase map is the truth of the gray image: the same patches measured directly (label 1)
// and through Otsu agree. Tolerances from measurement (see the report in the .hxx): the blur
// narrows the thin dark boundaries a little, so Otsu sees slightly more ferrite.
TEST(SyntheticMicrostructureImageSource, PhaseMapAgreesWithOtsuOfTheImage)
{
  for (double rate : { 1.0, 30.0 })
  {
    const auto v = MeasurePatches(rate, 2, 100);
    double     meanAbsFraction = 0, meanFraction = 0, meanTruth = 0, df = 0, truthDf = 0;
    for (const auto & m : v)
    {
      meanAbsFraction += std::abs(m.fraction - m.truthFraction) / v.size();
      meanFraction += m.fraction / v.size();
      meanTruth += m.truthFraction / v.size();
      df += m.df / v.size();
      truthDf += m.truthDf / v.size();
    }
    EXPECT_NEAR(meanFraction, meanTruth, 1.5) << "rate " << rate;
    EXPECT_LT(meanAbsFraction, 2.0) << "rate " << rate;
    EXPECT_NEAR(df / truthDf, 1.0, 0.05) << "rate " << rate << ": d_f " << df << " vs truth " << truthDf;
  }
}

// The calibration is reproduced (fresh seeds, not those of the calibration): mean fraction within
// 1.5 pp, mean free path within 6 %, variance within a factor 1.5.
TEST(SyntheticMicrostructureImageSource, CalibrationReproduced)
{
  struct Target
  {
    double rate, mean, var, df;
  };
  for (const Target & t : { Target{ 3, 68.8, 13.9, 4.49 }, Target{ 30, 63.4, 50.3, 3.64 } })
  {
    const int  images = 8;
    const auto s = Summarize(MeasurePatches(t.rate, images, 5000), images);
    EXPECT_NEAR(s.mean, t.mean, 1.5) << "rate " << t.rate << " SE " << s.meanSE;
    EXPECT_NEAR(s.df / t.df, 1.0, 0.06) << "rate " << t.rate << " d_f " << s.df;
    EXPECT_LT(s.var, 1.5 * t.var) << "rate " << t.rate;
    EXPECT_GT(s.var, t.var / 1.5) << "rate " << t.rate;
  }
}

// Unseen rates (2, 6.5, 20 degC/s) lie between their neighbours, in fraction and mean free path.
TEST(SyntheticMicrostructureImageSource, TrendWithCoolingRateIncludingUnseenRates)
{
  const std::vector<double> rates = { 1, 2, 3, 6.5, 10, 20, 30 };
  std::vector<Summary>      s;
  const int                 images = 4;
  for (double r : rates)
  {
    s.push_back(Summarize(MeasurePatches(r, images, 9000), images));
  }
  for (std::size_t k : { 1u, 3u, 5u })
  {
    // Between the neighbours, allowing 2 standard errors of the difference.
    const double tolF = 2.0 * std::hypot(s[k].meanSE, std::max(s[k - 1].meanSE, s[k + 1].meanSE));
    const double tolD = 2.0 * std::hypot(s[k].dfSE, std::max(s[k - 1].dfSE, s[k + 1].dfSE));
    EXPECT_LT(s[k].mean, s[k - 1].mean + tolF) << "rate " << rates[k];
    EXPECT_GT(s[k].mean, s[k + 1].mean - tolF) << "rate " << rates[k];
    EXPECT_LT(s[k].df, s[k - 1].df + tolD) << "rate " << rates[k];
    EXPECT_GT(s[k].df, s[k + 1].df - tolD) << "rate " << rates[k];
  }
  // Overall trend: finer and less ferrite with faster cooling.
  EXPECT_GT(s.front().df, s.back().df + 1.5);
  EXPECT_GT(s.front().mean, s.back().mean + 5.0);
}
