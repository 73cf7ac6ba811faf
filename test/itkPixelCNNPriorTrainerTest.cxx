#include "itkCommand.h"
#include "itkPixelCNNPriorTrainer.h"
#include "itkTinyModelsTestHelper.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

namespace
{
namespace fs = std::filesystem;
using Prior = itk::PixelCNNPriorModel;
using Trainer = itk::PixelCNNPriorTrainer;
using MapType = Trainer::MapImageType;

std::string
TempPath(const std::string & name)
{
  const fs::path dir = fs::temp_directory_path() / ("itkPixelCNNPriorTrainerTest-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

using tinymodels::Maps;
using tinymodels::TinyPrior;

class Aborter : public itk::Command
{
public:
  using Self = Aborter;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  unsigned int events{ 0 }, abortAt{ 0 };
  void
  Execute(itk::Object * caller, const itk::EventObject &) override
  {
    if (++events == abortAt)
      static_cast<itk::ProcessObject *>(caller)->AbortGenerateDataOn();
  }
  void
  Execute(const itk::Object *, const itk::EventObject &) override
  {}
};
} // namespace

TEST(PixelCNNPriorTrainer, LearnsTheConditionalStatisticsAndLogs)
{
  std::vector<Prior::Condition> trainC, valC;
  const auto                    train = Maps(64, 1, trainC);
  const auto                    val = Maps(32, 2, valC);
  auto                          prior = TinyPrior(3);
  auto                          t = Trainer::New();
  t->SetModel(prior);
  t->SetTrainingMaps(train, trainC);
  t->SetValidationMaps(val, valC);
  t->SetBatchSize(16);
  t->SetNumberOfEpochs(15);
  const std::string log = TempPath("prior-log.csv");
  t->SetLogPath(log);
  t->Train();
  const auto & r = t->GetEpochRecords();
  ASSERT_EQ(r.size(), 15u);
  EXPECT_EQ(r.back().Step, 60u);
  EXPECT_EQ(r.back().ValidationMaps, 32u);
  // 15 epochs: the validation NLL after epochs 1, 3, ..., 15 (every 2nd, at most about 10 in a run), NaN between.
  for (size_t e = 0; e < r.size(); ++e)
  {
    EXPECT_EQ(r[e].ValidationMaps, e % 2 == 0 ? 32u : 0u) << "epoch " << e + 1;
    EXPECT_EQ(std::isnan(r[e].ValidationBitsPerIndex), e % 2 == 1) << "epoch " << e + 1;
  }
  // log2(4) = 2 bits per index for a uniform guess; the data has far less.
  EXPECT_LT(r.back().ValidationBitsPerIndex, 0.8 * r.front().ValidationBitsPerIndex);
  EXPECT_LT(r.back().ValidationBitsPerIndex, 1.6);
  // The validation figure is the exact NLL: recompute it.
  std::vector<int32_t> idx(val->GetBufferPointer(), val->GetBufferPointer() + 6 * 6 * 32);
  const auto           ll = prior->LogLikelihood(idx.data(), 32, 6, 6, valC);
  double               sum = 0;
  for (const double v : ll)
    sum += v;
  EXPECT_NEAR(r.back().ValidationBitsPerIndex, -sum / (36.0 * 32 * std::log(2.0)), 1e-9);
  // Sampling the trained prior reproduces the dependence on the condition.
  const auto   high = prior->Sample(200, 6, 6, { { { "rate", "1" } } }, 1.0, 7);
  const auto   low = prior->Sample(200, 6, 6, { { { "rate", "-1" } } }, 1.0, 7);
  const double ones = std::count(high.begin(), high.end(), 1) / double(high.size());
  const double twos = std::count(low.begin(), low.end(), 2) / double(low.size());
  EXPECT_GT(ones, 0.6);
  EXPECT_GT(twos, 0.6);
  const auto table = itk::MicrostructureTable::Read(log);
  EXPECT_EQ(table.GetColumnNames(), Trainer::LogColumns());
  EXPECT_EQ(table.GetNumberOfRows(), 15u);
}

TEST(PixelCNNPriorTrainer, ResumeGivesTheUninterruptedRun)
{
  std::vector<Prior::Condition> trainC, valC;
  const auto                    train = Maps(24, 4, trainC);
  const auto                    val = Maps(8, 5, valC);
  auto                          make = [&](Prior * m) {
    auto t = Trainer::New();
    t->SetModel(m);
    t->SetTrainingMaps(train, trainC);
    t->SetValidationMaps(val, valC);
    t->SetBatchSize(8);
    t->SetNumberOfSteps(8);
    t->SetSeed(9);
    t->SetLearningRateSchedule("cosine"); // a function of the step: a resumed run follows it too
    return t;
  };
  auto straight = TinyPrior(11);
  make(straight)->Train();
  EXPECT_DOUBLE_EQ(straight->GetLearningRate(), 3e-3); // the schedule leaves the model's rate as it was

  const std::string checkpoint = TempPath("prior.ckpt");
  auto              first = TinyPrior(11);
  auto              t2 = make(first);
  t2->SetCheckpointPath(checkpoint);
  t2->SetCheckpointInterval(3);
  auto abort = Aborter::New();
  abort->abortAt = 6; // start event + 5 steps
  t2->AddObserver(itk::ProgressEvent(), abort);
  EXPECT_THROW(t2->Train(), itk::ProcessAborted);

  auto resumed = Prior::New();
  resumed->SetDevice("cpu");
  resumed->SetLearningRate(3e-3);
  resumed->Read(checkpoint);
  ASSERT_TRUE(resumed->GetHasTrainingState());
  EXPECT_EQ(resumed->GetNumberOfTrainingSteps(), 5u);
  auto t3 = make(resumed);
  t3->Train();
  std::vector<int32_t> idx(val->GetBufferPointer(), val->GetBufferPointer() + 6 * 6 * 8);
  EXPECT_EQ(resumed->LogLikelihood(idx.data(), 8, 6, 6, valC), straight->LogLikelihood(idx.data(), 8, 6, 6, valC));
  EXPECT_EQ(t3->GetEpochRecords().size(), 3u); // epochs end at steps 3, 6 and the last step 8

  // The schedule is applied: the same run at a constant rate ends elsewhere.
  auto constant = TinyPrior(11);
  auto t4 = make(constant);
  t4->SetLearningRateSchedule("constant");
  t4->Train();
  EXPECT_NE(constant->LogLikelihood(idx.data(), 8, 6, 6, valC), straight->LogLikelihood(idx.data(), 8, 6, 6, valC));
  EXPECT_THROW(t4->SetLearningRateSchedule("step"), itk::ExceptionObject);
}

TEST(PixelCNNPriorTrainer, ClearErrors)
{
  std::vector<Prior::Condition> c;
  const auto                    maps = Maps(16, 1, c);
  auto                          describe = [](Trainer * t) -> std::string {
    try
    {
      t->Train();
    }
    catch (const itk::ExceptionObject & e)
    {
      return e.GetDescription();
    }
    return "";
  };
  auto prior = TinyPrior(1);
  auto t = Trainer::New();
  t->SetModel(prior);
  t->SetBatchSize(4);
  t->SetTrainingMaps(maps, std::vector<Prior::Condition>(c.begin(), c.begin() + 5));
  EXPECT_NE(describe(t).find("one condition per map"), std::string::npos);

  maps->GetBufferPointer()[40] = 9; // K = 4
  t->SetTrainingMaps(maps, c);
  EXPECT_NE(describe(t).find("outside the prior's codebook"), std::string::npos);
  maps->GetBufferPointer()[40] = 1;

  std::vector<Prior::Condition> bad = c;
  bad[3] = { { "speed", "1" } };
  t->SetTrainingMaps(maps, bad);
  EXPECT_NE(describe(t).find("speed"), std::string::npos);
  EXPECT_EQ(prior->GetNumberOfTrainingSteps(), 0u);
}
