#include "itkCodeForegroundShare.h"

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
  auto                      image = TImage::New();
  typename TImage::SizeType size = { { x, y, z } };
  image->SetRegions(typename TImage::RegionType(size));
  image->Allocate(true);
  return image;
}
} // namespace

// Two 8 x 8 patches, maps of 2 x 2 (blocks of 4 x 4). Patch 0: bright left half (code 0), dark right half
// (code 1): share 1 in each left block, 0 in each right one. Patch 1: a one-pixel checkerboard, all code 2:
// share 0.5 in every block. Per code: (sum + overall mean) / (blocks + 1); code 3 is unused and gets the
// overall mean. Mirror slices (s + N) count once; the dark phase swaps the shares.
TEST(CodeForegroundShare, BlocksOfAnalyticPatches)
{
  auto            patches = Stack<PatchStack>(8, 8, 2);
  auto            maps = Stack<MapStack>(2, 2, 4);
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
  const auto   share = itk::ComputeCodeForegroundShare(patches.GetPointer(), maps.GetPointer(), { 0, 1, 2, 3 }, 4);
  const double mean = 4.0 / 8.0;
  const double expected[4] = { (2.0 + mean) / 3.0, mean / 3.0, (2.0 + mean) / 5.0, mean };
  ASSERT_EQ(share.size(), 4u);
  for (unsigned int k = 0; k < 4; ++k)
    EXPECT_NEAR(share[k], expected[k], 1e-12) << k;
  const auto dark = itk::ComputeCodeForegroundShare(patches.GetPointer(),
                                                    maps.GetPointer(),
                                                    { 0 },
                                                    2,
                                                    itk::OtsuPhaseSegmentationImageFilterEnums::ForegroundPhase::Dark);
  EXPECT_NEAR(dark[0], (0.0 + 0.5) / 3.0, 1e-12);
  EXPECT_NEAR(dark[1], (2.0 + 0.5) / 3.0, 1e-12);
}

TEST(CodeForegroundShare, BadInputIsAClearError)
{
  auto patches = Stack<PatchStack>(8, 8, 1);
  auto maps = Stack<MapStack>(3, 3, 1);
  EXPECT_THROW(itk::ComputeCodeForegroundShare(patches.GetPointer(), maps.GetPointer(), { 0 }, 4),
               itk::ExceptionObject); // 8 is not whole blocks of 3
  auto square = Stack<MapStack>(2, 2, 1);
  square->GetBufferPointer()[3] = 7;
  try
  {
    itk::ComputeCodeForegroundShare(patches.GetPointer(), square.GetPointer(), { 0 }, 4);
    FAIL() << "code 7 of a codebook of 4 accepted";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("code 7 of a codebook of 4"), std::string::npos)
      << e.GetDescription();
  }
  EXPECT_THROW(itk::ComputeCodeForegroundShare(patches.GetPointer(), square.GetPointer(), { 1 }, 8),
               itk::ExceptionObject); // one map only
}
