// Tests of itk::PatchExtractionImageFilter: counts, positions and exact pixel values for
// sizes and strides, flips, spacing and origin, resampling to a pixel size, bad input.
#include "itkPatchExtractionImageFilter.h"
#include "itkTestingMacros.h"

#include <gtest/gtest.h>
#include <cmath>

namespace
{
using Image2 = itk::Image<unsigned char, 2>;
using Stack = itk::Image<unsigned char, 3>;
using FloatImage2 = itk::Image<float, 2>;
using FloatStack = itk::Image<float, 3>;
using Filter = itk::PatchExtractionImageFilter<Image2, Stack>;

unsigned char
Code(long x, long y)
{
  return static_cast<unsigned char>((x + 7 * y) % 251);
}

Image2::Pointer
MakeCoded(unsigned w, unsigned h, double spacing = 0.5)
{
  auto               image = Image2::New();
  Image2::RegionType region;
  region.SetSize(0, w);
  region.SetSize(1, h);
  image->SetRegions(region);
  image->Allocate();
  Image2::SpacingType s;
  s.Fill(spacing);
  image->SetSpacing(s);
  Image2::PointType origin;
  origin[0] = 10.0;
  origin[1] = -4.0;
  image->SetOrigin(origin);
  for (unsigned y = 0; y < h; ++y)
  {
    for (unsigned x = 0; x < w; ++x)
    {
      image->SetPixel({ { x, y } }, Code(x, y));
    }
  }
  return image;
}

int
ExerciseBasics()
{
  auto filter = Filter::New();
  ITK_EXERCISE_BASIC_OBJECT_METHODS(filter, PatchExtractionImageFilter, ImageToImageFilter);
  return EXIT_SUCCESS;
}
} // namespace

TEST(PatchExtraction, BasicObjectMethods)
{
  EXPECT_EQ(ExerciseBasics(), EXIT_SUCCESS);
}

TEST(PatchExtraction, CountsPositionsAndValuesForSizesAndStrides)
{
  struct Case
  {
    unsigned w, h, px, py, sx, sy;
  };
  for (const Case c : { Case{ 100, 60, 20, 20, 0, 0 },
                        Case{ 100, 60, 32, 16, 0, 0 },
                        Case{ 100, 60, 32, 16, 17, 9 },
                        Case{ 64, 64, 64, 64, 0, 0 },
                        Case{ 70, 50, 8, 10, 3, 40 } })
  {
    auto filter = Filter::New();
    filter->SetInput(MakeCoded(c.w, c.h));
    filter->SetPatchSize({ { c.px, c.py } });
    filter->SetStride({ { c.sx, c.sy } });
    filter->Update();
    const unsigned sx = c.sx ? c.sx : c.px;
    const unsigned sy = c.sy ? c.sy : c.py;
    const unsigned nx = (c.w - c.px) / sx + 1;
    const unsigned ny = (c.h - c.py) / sy + 1;
    const auto     size = filter->GetOutput()->GetLargestPossibleRegion().GetSize();
    ASSERT_EQ(size[0], c.px);
    ASSERT_EQ(size[1], c.py);
    ASSERT_EQ(size[2], nx * ny) << c.w << "x" << c.h << " patch " << c.px << "x" << c.py;
    const auto & corners = filter->GetPatchCorners();
    ASSERT_EQ(corners.size(), nx * ny);
    for (unsigned k = 0; k < nx * ny; ++k)
    {
      const long x0 = (k % nx) * sx;
      const long y0 = (k / nx) * sy;
      EXPECT_EQ(corners[k].Index[0], x0);
      EXPECT_EQ(corners[k].Index[1], y0);
      EXPECT_FALSE(corners[k].Flipped);
      for (unsigned y = 0; y < c.py; y += 3)
      {
        for (unsigned x = 0; x < c.px; x += 5)
        {
          ASSERT_EQ(filter->GetOutput()->GetPixel({ { x, y, k } }), Code(x0 + x, y0 + y)) << "patch " << k;
        }
      }
    }
  }
}

TEST(PatchExtraction, FlipAddsTheMirrorAfterEachPatch)
{
  auto filter = Filter::New();
  filter->SetInput(MakeCoded(96, 64));
  filter->SetPatchSize({ { 32, 32 } });
  filter->SetHorizontalFlip(true);
  filter->Update();
  const auto * out = filter->GetOutput();
  ASSERT_EQ(out->GetLargestPossibleRegion().GetSize(2), 12u); // 3 x 2 patches, each twice
  for (unsigned k = 0; k < 12; k += 2)
  {
    EXPECT_FALSE(filter->GetPatchCorners()[k].Flipped);
    EXPECT_TRUE(filter->GetPatchCorners()[k + 1].Flipped);
    EXPECT_EQ(filter->GetPatchCorners()[k].Index, filter->GetPatchCorners()[k + 1].Index);
    for (unsigned y = 0; y < 32; ++y)
    {
      for (unsigned x = 0; x < 32; ++x)
      {
        ASSERT_EQ(out->GetPixel({ { x, y, k + 1 } }), out->GetPixel({ { 31 - x, y, k } }));
      }
    }
  }
}

TEST(PatchExtraction, SpacingAndOriginAreKept)
{
  auto filter = Filter::New();
  filter->SetInput(MakeCoded(64, 64, 0.34));
  filter->SetPatchSize({ { 16, 16 } });
  filter->UpdateOutputInformation();
  const auto * out = filter->GetOutput();
  EXPECT_DOUBLE_EQ(out->GetSpacing()[0], 0.34);
  EXPECT_DOUBLE_EQ(out->GetSpacing()[1], 0.34);
  EXPECT_DOUBLE_EQ(out->GetSpacing()[2], 1.0);
  EXPECT_DOUBLE_EQ(out->GetOrigin()[0], 10.0);
  EXPECT_DOUBLE_EQ(out->GetOrigin()[1], -4.0);
  EXPECT_EQ(out->GetLargestPossibleRegion().GetSize(2), 16u); // known before Update
}

TEST(PatchExtraction, ResamplingToAPixelSize)
{
  // 200 x 200 at 0.5 um/px resampled to 1.0 um/px: 100 x 100, so 3 x 3 patches of 32.
  auto                    ramp = FloatImage2::New();
  FloatImage2::RegionType region;
  region.SetSize(0, 200);
  region.SetSize(1, 200);
  ramp->SetRegions(region);
  ramp->Allocate();
  FloatImage2::SpacingType s;
  s.Fill(0.5);
  ramp->SetSpacing(s);
  // A linear ramp in physical x: smoothing and linear interpolation leave it unchanged away
  // from the border, so the resampled value at a physical point is known exactly.
  for (unsigned y = 0; y < 200; ++y)
  {
    for (unsigned x = 0; x < 200; ++x)
    {
      ramp->SetPixel({ { x, y } }, static_cast<float>(3.0 * (x * 0.5) + 1.0 * (y * 0.5)));
    }
  }
  auto filter = itk::PatchExtractionImageFilter<FloatImage2, FloatStack>::New();
  filter->SetInput(ramp);
  filter->SetPatchSize({ { 32, 32 } });
  filter->SetOutputPixelSize(1.0);
  filter->Update();
  const auto * out = filter->GetOutput();
  EXPECT_EQ(out->GetLargestPossibleRegion().GetSize(2), 9u);
  EXPECT_DOUBLE_EQ(out->GetSpacing()[0], 1.0);
  // Same field of view: first pixel centre at -0.25 + 0.5 = 0.25 um.
  EXPECT_DOUBLE_EQ(out->GetOrigin()[0], 0.25);
  // Patch 4 is the centre one (corner 32, 32 of the 100 x 100 image).
  for (unsigned y = 4; y < 28; y += 5)
  {
    for (unsigned x = 4; x < 28; x += 5)
    {
      const double px = 0.25 + (32 + x) * 1.0;
      const double py = 0.25 + (32 + y) * 1.0;
      EXPECT_NEAR(out->GetPixel({ { x, y, 4 } }), 3.0 * px + py, 1e-3);
    }
  }
  // The physical patch size gives the same pixel size.
  auto byWidth = itk::PatchExtractionImageFilter<FloatImage2, FloatStack>::New();
  byWidth->SetInput(ramp);
  byWidth->SetPatchSize({ { 32, 32 } });
  byWidth->SetPhysicalPatchSize(32.0);
  byWidth->UpdateOutputInformation();
  EXPECT_DOUBLE_EQ(byWidth->GetEffectivePixelSize(0), 1.0);
  EXPECT_EQ(byWidth->GetOutput()->GetLargestPossibleRegion().GetSize(2), 9u);
}

TEST(PatchExtraction, ResamplingRoundsIntegerPixels)
{
  // Resampling to the input's own pixel size changes nothing: every 8-bit value comes back
  // exactly (a truncating cast would turn 99.99998 into 99).
  auto same = Filter::New();
  same->SetInput(MakeCoded(96, 64, 0.5));
  same->SetPatchSize({ { 32, 32 } });
  same->SetOutputPixelSize(0.5);
  same->Update();
  ASSERT_EQ(same->GetOutput()->GetLargestPossibleRegion().GetSize(2), 6u);
  for (unsigned k = 0; k < 6; ++k)
  {
    const auto & c = same->GetPatchCorners()[k];
    for (unsigned y = 0; y < 32; ++y)
    {
      for (unsigned x = 0; x < 32; ++x)
      {
        ASSERT_EQ(same->GetOutput()->GetPixel({ { x, y, k } }), Code(c.Index[0] + x, c.Index[1] + y));
      }
    }
  }
  // Shrinking a half-grey image (values 100 and 101 in a checkerboard) by 3: the smoothed,
  // interpolated values lie near 100.5, so rounding gives 100 or 101 -- never 99, and the mean
  // stays within 0.25 of 100.5 (a truncating cast drags it to ~100).
  auto               checker = Image2::New();
  Image2::RegionType region;
  region.SetSize(0, 192);
  region.SetSize(1, 192);
  checker->SetRegions(region);
  checker->Allocate();
  for (unsigned y = 0; y < 192; ++y)
  {
    for (unsigned x = 0; x < 192; ++x)
    {
      checker->SetPixel({ { x, y } }, static_cast<unsigned char>(100 + (x + y) % 2));
    }
  }
  auto shrink = Filter::New();
  shrink->SetInput(checker);
  shrink->SetPatchSize({ { 64, 64 } });
  shrink->SetOutputPixelSize(3.0);
  shrink->Update();
  const auto * out = shrink->GetOutput();
  ASSERT_EQ(out->GetLargestPossibleRegion().GetSize(2), 1u);
  double sum = 0.0;
  for (unsigned y = 0; y < 64; ++y)
  {
    for (unsigned x = 0; x < 64; ++x)
    {
      const int v = out->GetPixel({ { x, y, 0 } });
      ASSERT_GE(v, 100);
      ASSERT_LE(v, 101);
      sum += v;
    }
  }
  EXPECT_NEAR(sum / (64 * 64), 100.5, 0.25);
}

TEST(PatchExtraction, BadInputIsAClearError)
{
  auto small = Filter::New();
  small->SetInput(MakeCoded(100, 60));
  small->SetPatchSize({ { 128, 128 } });
  EXPECT_THROW(small->Update(), itk::ExceptionObject);
  try
  {
    small->Update();
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("smaller than a patch"), std::string::npos);
  }
  auto empty = Filter::New();
  empty->SetInput(Image2::New());
  EXPECT_THROW(empty->Update(), itk::ExceptionObject);
  auto zero = Filter::New();
  zero->SetInput(MakeCoded(64, 64));
  zero->SetPatchSize({ { 0, 16 } });
  EXPECT_THROW(zero->Update(), itk::ExceptionObject);
  auto shrunk = Filter::New();
  shrunk->SetInput(MakeCoded(200, 200, 0.1)); // 20 um wide
  shrunk->SetPatchSize({ { 32, 32 } });
  shrunk->SetOutputPixelSize(1.0); // 20 px < 32
  EXPECT_THROW(shrunk->Update(), itk::ExceptionObject);
}
