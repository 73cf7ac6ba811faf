/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
// The trainers' private schedule helpers (src/torch/itkTrainingSchedule.h, torch-free; "Torch" in
// the name gives the test the private include path).
#include "itkTrainingSchedule.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

// The trainers' split of a batch: the ranks' shares tile the batch in rank order, each the same
// size; a batch that does not divide is refused with a message that names the items and the fix.
TEST(TrainingSchedule, EveryProcessTakesAnEqualConsecutiveShareOfTheBatch)
{
  for (const unsigned int processes : { 1u, 2u, 3u, 4u })
  {
    unsigned int next = 0;
    for (unsigned int rank = 0; rank < processes; ++rank)
    {
      const auto share = itk::training::ShareOfBatch(12, processes, rank, "maps");
      EXPECT_EQ(share.count, 12u / processes);
      EXPECT_EQ(share.first, next);
      next += share.count;
    }
    EXPECT_EQ(next, 12u);
  }
  try
  {
    itk::training::ShareOfBatch(10, 4, 0, "patches");
    FAIL() << "a batch of 10 split 4 ways was accepted";
  }
  catch (const itk::ExceptionObject & e)
  {
    const std::string what = e.GetDescription();
    EXPECT_NE(what.find("a batch of 10 patches cannot be split evenly"), std::string::npos) << what;
    EXPECT_NE(what.find("multiple of 4"), std::string::npos) << what;
  }
  EXPECT_THROW(itk::training::ShareOfBatch(8, 0, 0, "maps"), itk::ExceptionObject);
}

// The random symmetries: 2 bits are the flips as they always were, the third bit adds the
// transposition; the 8 codes give the 8 symmetries of the square, each written out by hand here.
TEST(TrainingSchedule, SymmetryCodesAreTheFlipsPlusATranspositionAndCoverTheSquaresSymmetries)
{
  std::vector<uint32_t> order2, order3, order0;
  std::vector<uint8_t>  flips2, rot3, none;
  itk::training::EpochOrder(7, 3, 4000, 2, order2, flips2);
  itk::training::EpochOrder(7, 3, 4000, 3, order3, rot3);
  itk::training::EpochOrder(7, 3, 4000, 0, order0, none);
  EXPECT_EQ(order2, order3);
  EXPECT_EQ(order2, order0);
  std::vector<int> counts(8, 0);
  for (size_t i = 0; i < rot3.size(); ++i)
  {
    EXPECT_EQ(rot3[i] & 3u, flips2[i]);
    EXPECT_EQ(none[i], 0u);
    ASSERT_LT(rot3[i], 8u);
    ++counts[rot3[i]];
  }
  for (const int c : counts)
    EXPECT_NEAR(c, 500, 100);

  // A 3 x 3 image with no symmetry, its pixels numbered 0..8 row by row: (x, y) -> 3 y + x.
  const int src[9] = { 0, 1, 2, 3, 4, 5, 6, 7, 8 };
  auto      at = [&](int x, int y) { return src[3 * y + x]; };
  // dst(x, y) for each code, from its definition: mirrors in x, y, and the transposition last.
  std::vector<std::vector<int>> want(8, std::vector<int>(9));
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 3; ++x)
    {
      want[0][3 * y + x] = at(x, y);         // identity
      want[1][3 * y + x] = at(2 - x, y);     // mirror left-right
      want[2][3 * y + x] = at(x, 2 - y);     // mirror top-bottom
      want[3][3 * y + x] = at(2 - x, 2 - y); // rotation by 180 degrees
      want[4][3 * y + x] = at(y, x);         // transpose (mirror in the main diagonal)
      want[5][3 * y + x] = at(y, 2 - x);     // rotation by 90 degrees clockwise (y down)
      want[6][3 * y + x] = at(2 - y, x);     // rotation by 90 degrees anticlockwise
      want[7][3 * y + x] = at(2 - y, 2 - x); // mirror in the other diagonal
    }
  std::vector<std::vector<int>> seen;
  for (uint8_t code = 0; code < 8; ++code)
  {
    std::vector<int> dst(9, -1);
    itk::training::ApplySymmetry(src, dst.data(), 3, 3, code, [](int v) { return v; });
    EXPECT_EQ(dst, want[code]) << int(code);
    EXPECT_EQ(std::count(seen.begin(), seen.end(), dst), 0) << int(code);
    seen.push_back(dst);
  }
}
