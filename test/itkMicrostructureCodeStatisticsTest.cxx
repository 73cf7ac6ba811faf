#include "itkMicrostructureCodeStatistics.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace
{
using PatchStack = itk::Image<unsigned char, 3>;
using MapStack = itk::Image<int32_t, 3>;

template <typename TImage>
typename TImage::Pointer
Stack(unsigned int x, unsigned int y, unsigned int z)
{
  auto                         image = TImage::New();
  typename TImage::SizeType    size = { { x, y, z } };
  image->SetRegions(typename TImage::RegionType(size));
  image->Allocate(true);
  return image;
}
} // namespace

// Two 8 x 8 patches, maps of 2 x 2 (blocks of 4 x 4). Patch 0: bright left half (code 0), dark right half
// (code 1): each left block holds 4 phase changes (with its right neighbours), share 1; each right block
// none, share 0. Patch 1: a one-pixel checkerboard, all code 2: blocks with 32, 28, 28 and 24 changes
// (neighbours outside the patch do not count), share 0.5. Per code: (sum + overall mean) / (blocks + 1);
// code 3 is unused and gets the overall means. Mirror slices (s + N) count once.
TEST(MicrostructureCodeStatistics, BlocksOfAnalyticPatches)
{
  auto patches = Stack<PatchStack>(8, 8, 2);
  auto maps = Stack<MapStack>(2, 2, 4);
  unsigned char * p = patches->GetBufferPointer();
  for (unsigned int j = 0; j < 8; ++j)
    for (unsigned int i = 0; i < 8; ++i)
    {
      p[j * 8 + i] = i < 4 ? 200 : 50;
      p[64 + j * 8 + i] = (i + j) % 2 ? 200 : 50;
    }
  int32_t * m = maps->GetBufferPointer();
  for (unsigned int s = 0; s < 4; s += 2) // slices 2 and 3 repeat 0 and 1, as mirror images would
  {
    const int32_t first[4] = { 0, 1, 0, 1 };
    for (unsigned int q = 0; q < 4; ++q)
    {
      m[s * 4 + q] = first[q];
      m[(s + 1) * 4 + q] = 2;
    }
  }
  const auto stats = itk::ComputeMicrostructureCodeStatistics(patches.GetPointer(), maps.GetPointer(), { 0, 1, 2, 3 }, 4);
  const double shareMean = 4.0 / 8.0, interfaceMean = (0.5 + 7.0) / 8.0;
  const double share[4] = { (2.0 + shareMean) / 3.0, shareMean / 3.0, (2.0 + shareMean) / 5.0, shareMean };
  const double interfaces[4] = { (0.5 + interfaceMean) / 3.0, interfaceMean / 3.0, (7.0 + interfaceMean) / 5.0,
                                 interfaceMean };
  ASSERT_EQ(stats.ForegroundShare.size(), 4u);
  ASSERT_EQ(stats.InterfaceDensity.size(), 4u);
  for (unsigned int k = 0; k < 4; ++k)
  {
    EXPECT_NEAR(stats.ForegroundShare[k], share[k], 1e-12) << k;
    EXPECT_NEAR(stats.InterfaceDensity[k], interfaces[k], 1e-12) << k;
  }
  // Patch 0 alone: its map's mean interface density, 1/8 per pixel, is what the test lines cross: each of
  // the 8 rows crosses one boundary, no column does, 8 crossings over 64 pixels.
  const auto left = itk::ComputeMicrostructureCodeStatistics(patches.GetPointer(), maps.GetPointer(), { 0 }, 2);
  const double mean0 = 0.5 / 4.0;
  EXPECT_NEAR(left.InterfaceDensity[0], (0.5 + mean0) / 3.0, 1e-12);
  EXPECT_NEAR(left.InterfaceDensity[1], mean0 / 3.0, 1e-12);
  // The dark phase measured instead: the shares swap sides, the interfaces stay.
  const auto dark = itk::ComputeMicrostructureCodeStatistics(
    patches.GetPointer(), maps.GetPointer(), { 0 }, 2, itk::OtsuPhaseSegmentationImageFilterEnums::ForegroundPhase::Dark);
  EXPECT_NEAR(dark.ForegroundShare[0], (0.0 + 0.5) / 3.0, 1e-12);
  EXPECT_NEAR(dark.ForegroundShare[1], (2.0 + 0.5) / 3.0, 1e-12);
  EXPECT_EQ(dark.InterfaceDensity, left.InterfaceDensity);
}

TEST(MicrostructureCodeStatistics, BadInputIsAClearError)
{
  auto patches = Stack<PatchStack>(8, 8, 1);
  auto maps = Stack<MapStack>(3, 3, 1);
  EXPECT_THROW(itk::ComputeMicrostructureCodeStatistics(patches.GetPointer(), maps.GetPointer(), { 0 }, 4),
               itk::ExceptionObject); // 8 is not whole blocks of 3
  auto square = Stack<MapStack>(2, 2, 1);
  square->GetBufferPointer()[3] = 7;
  try
  {
    itk::ComputeMicrostructureCodeStatistics(patches.GetPointer(), square.GetPointer(), { 0 }, 4);
    FAIL() << "code 7 of a codebook of 4 accepted";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("code 7 of a codebook of 4"), std::string::npos) << e.GetDescription();
  }
  EXPECT_THROW(itk::ComputeMicrostructureCodeStatistics(patches.GetPointer(), square.GetPointer(), { 1 }, 8),
               itk::ExceptionObject); // one map only
}
