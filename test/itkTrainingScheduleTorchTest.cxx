/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
// The trainers' private schedule helpers (src/torch/itkTrainingSchedule.h, torch-free; "Torch" in
// the name gives the test the private include path).
#include "itkTrainingSchedule.h"

#include <gtest/gtest.h>

#include <string>

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
