// Every class that wrapping/*.wrap instantiates, for every pixel type ITK's WRAP_ITK_* lists can put
// there (WRAP_ITK_SCALAR: the integer types and float, double; WRAP_ITK_INT: the integer types;
// WRAP_ITK_REAL: float, double), compiled and run on an analytic image: the same answer whatever the
// type. The Python wrapping itself needs a wrapped ITK (docs/itk_module.md); this keeps the lists in
// the .wrap files honest on any build.
#include "itkMicrostructureDescriptorsImageFilter.h"
#include "itkMicrostructureStackMeasurement.h"
#include "itkOtsuPhaseSegmentationImageFilter.h"
#include "itkPatchExtractionImageFilter.h"
#include "itkSyntheticMicrostructureImageSource.h"
#include "itkTwoPointCorrelationImageFilter.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <tuple>
#include <type_traits>

namespace
{
// ITK's integer pixel types (UC US UI UL ULL SC SS SI SL SLL) and real ones (F D).
using IntegerTypes = ::testing::Types<unsigned char, unsigned short, unsigned int, unsigned long, unsigned long long,
                                      signed char, short, int, long, long long>;
using ScalarTypes = ::testing::Types<unsigned char, unsigned short, unsigned int, unsigned long, unsigned long long,
                                     signed char, short, int, long, long long, float, double>;
// The synthetic source's gray levels are 0..255: signed char is refused at compile time.
using SourceTypes = ::testing::Types<unsigned char, unsigned short, unsigned int, unsigned long, unsigned long long,
                                     short, int, long, long long, float, double>;

// A w x h (x depth) image: `high` in the stripes x mod 8 in {3, 4} (a quarter of the columns), `low`
// elsewhere. V_f of the stripes = 1/4; each horizontal test line crosses w / 8 stripes of 2 pixels,
// none touching the image edge, so d_f (horizontal) = 2 pixels.
template <typename TImage>
typename TImage::Pointer
MakeStripes(unsigned w, unsigned h, unsigned depth, typename TImage::PixelType low, typename TImage::PixelType high)
{
  auto                        image = TImage::New();
  typename TImage::RegionType region;
  region.SetSize(0, w);
  region.SetSize(1, h);
  if (TImage::ImageDimension == 3)
    region.SetSize(TImage::ImageDimension - 1, depth);
  image->SetRegions(region);
  image->Allocate();
  const size_t slice = static_cast<size_t>(w) * h;
  for (size_t i = 0; i < image->GetLargestPossibleRegion().GetNumberOfPixels(); ++i)
  {
    const size_t x = (i % slice) % w;
    image->GetBufferPointer()[i] = (x % 8 == 3 || x % 8 == 4) ? high : low;
  }
  return image;
}

template <typename T>
class WrappedIntegerTypes : public ::testing::Test
{};
TYPED_TEST_SUITE(WrappedIntegerTypes, IntegerTypes);

template <typename T>
class WrappedScalarTypes : public ::testing::Test
{};
TYPED_TEST_SUITE(WrappedScalarTypes, ScalarTypes);

template <typename T>
class WrappedSourceTypes : public ::testing::Test
{};
TYPED_TEST_SUITE(WrappedSourceTypes, SourceTypes);

// MicrostructureDescriptorsImageFilter<I<L,2>> and TwoPointCorrelationImageFilter<I<L,2>, I<R,2>>
// for L in WRAP_ITK_INT, R in WRAP_ITK_REAL.
TYPED_TEST(WrappedIntegerTypes, DescriptorsAndCorrelationOfStripes)
{
  using Label = itk::Image<TypeParam, 2>;
  const auto stripes = MakeStripes<Label>(64, 32, 1, 0, 1);

  auto descriptors = itk::MicrostructureDescriptorsImageFilter<Label>::New();
  descriptors->SetInput(stripes);
  descriptors->SetForegroundValue(1);
  descriptors->Update();
  EXPECT_DOUBLE_EQ(descriptors->GetVolumeFraction(), 0.25);
  EXPECT_DOUBLE_EQ(descriptors->GetHorizontalIntercepts().MeanFreePath, 2.0);

  auto s2Float = itk::TwoPointCorrelationImageFilter<Label, itk::Image<float, 2>>::New();
  s2Float->SetInput(stripes);
  s2Float->SetForegroundValue(1);
  s2Float->SetMaximumDistance(8);
  s2Float->Update();
  EXPECT_NEAR(s2Float->GetVolumeFraction(), 0.25, 1e-12);
  EXPECT_NEAR(s2Float->GetXCurve()[8], 0.25, 1e-6); // the stripes repeat every 8 columns
  EXPECT_NEAR(s2Float->GetXCurve()[4], 0.0, 1e-6);  // and never overlap a shift of 4

  auto s2Double = itk::TwoPointCorrelationImageFilter<Label, itk::Image<double, 2>>::New();
  s2Double->SetInput(stripes);
  s2Double->SetForegroundValue(1);
  s2Double->SetMaximumDistance(8);
  s2Double->Update();
  EXPECT_NEAR(s2Double->GetYCurve()[8], 0.25, 1e-9); // the stripes run along y
}

// OtsuPhaseSegmentationImageFilter<I<T,d>, I<L,d>> for T in WRAP_ITK_SCALAR, L in WRAP_ITK_INT, d = 2, 3;
// MicrostructureStackMeasurement<I<T,d>>; PatchExtractionImageFilter<I<T,2>, I<T,3>>.
TYPED_TEST(WrappedScalarTypes, OtsuStackMeasurementAndPatchesOfStripes)
{
  using T = TypeParam;
  using Gray2 = itk::Image<T, 2>;
  using Gray3 = itk::Image<T, 3>;
  const T low = 20, high = 100;

  const auto gray2 = MakeStripes<Gray2>(64, 32, 1, low, high);
  const auto gray3 = MakeStripes<Gray3>(32, 32, 3, low, high);
  const auto checkOtsu = [&](auto image, auto label) {
    using In = typename std::remove_reference<decltype(*image)>::type;
    using Out = typename std::remove_pointer<decltype(label)>::type;
    auto otsu = itk::OtsuPhaseSegmentationImageFilter<In, Out>::New();
    otsu->SetInput(image);
    otsu->Update();
    const Out * out = otsu->GetOutput();
    size_t      bright = 0, n = out->GetLargestPossibleRegion().GetNumberOfPixels();
    for (size_t i = 0; i < n; ++i)
      bright += out->GetBufferPointer()[i] == 1;
    EXPECT_EQ(bright * 4, n) << "the bright quarter is the foreground";
  };
  checkOtsu(gray2.GetPointer(), static_cast<itk::Image<unsigned char, 2> *>(nullptr));
  checkOtsu(gray2.GetPointer(), static_cast<itk::Image<short, 2> *>(nullptr));
  checkOtsu(gray3.GetPointer(), static_cast<itk::Image<unsigned long long, 3> *>(nullptr));
  checkOtsu(gray3.GetPointer(), static_cast<itk::Image<signed char, 3> *>(nullptr));

  auto measure2 = itk::MicrostructureStackMeasurement<Gray2>::New();
  measure2->SetInput(gray2);
  measure2->Update();
  ASSERT_EQ(measure2->GetMeasurements().size(), 1u);
  EXPECT_DOUBLE_EQ(measure2->GetMeasurements()[0].VolumeFraction, 0.25);

  auto measure3 = itk::MicrostructureStackMeasurement<Gray3>::New();
  measure3->SetInput(gray3);
  measure3->Update();
  ASSERT_EQ(measure3->GetMeasurements().size(), 3u);
  for (const auto & m : measure3->GetMeasurements())
    EXPECT_DOUBLE_EQ(m.VolumeFraction, 0.25);

  auto patches = itk::PatchExtractionImageFilter<Gray2, Gray3>::New();
  patches->SetInput(gray2);
  typename itk::PatchExtractionImageFilter<Gray2, Gray3>::PatchSizeType size;
  size.Fill(16);
  patches->SetPatchSize(size);
  patches->Update();
  EXPECT_EQ(patches->GetOutput()->GetLargestPossibleRegion().GetSize(2), 8u); // 4 x 2 patches
  EXPECT_EQ(patches->GetOutput()->GetBufferPointer()[3], high);               // column 3 is a stripe
  EXPECT_EQ(patches->GetOutput()->GetBufferPointer()[2], low);
}

// SyntheticMicrostructureImageSource<I<T,2>> for T in WRAP_ITK_SCALAR without signed char: the same
// micrograph in every type.
TYPED_TEST(WrappedSourceTypes, SyntheticSourceGivesTheSameMicrographInEveryType)
{
  const auto make = [](auto * pixel) {
    using Image = itk::Image<typename std::remove_pointer<decltype(pixel)>::type, 2>;
    auto                     source = itk::SyntheticMicrostructureImageSource<Image>::New();
    typename Image::SizeType size;
    size.Fill(48);
    source->SetSize(size);
    source->SetCoolingRate(10.0);
    source->SetSeed(7);
    source->Update();
    return typename Image::Pointer(source->GetOutput());
  };
  const auto reference = make(static_cast<unsigned char *>(nullptr));
  const auto image = make(static_cast<TypeParam *>(nullptr));
  for (size_t i = 0; i < 48 * 48; ++i)
    ASSERT_EQ(static_cast<double>(image->GetBufferPointer()[i]), reference->GetBufferPointer()[i]) << i;
}
} // namespace
