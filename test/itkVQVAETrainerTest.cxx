#include "itkTinyModelsTestHelper.h"
#include "itkVQVAETrainer.h"
#include "itkSyntheticMicrostructureImageSource.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace
{
namespace fs = std::filesystem;
using StackType = itk::VQVAETrainer::ImageType;

std::string
TempPath(const std::string & name)
{
  const fs::path dir = fs::temp_directory_path() / ("itkVQVAETrainerTest-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

/** `count` patches of size x size cut from synthetic ferrite-pearlite
 * micrographs (0..255) at the given cooling rate, one micrograph per seed. */
StackType::Pointer
SyntheticPatches(unsigned int count, unsigned int size, double coolingRate, uint64_t seed)
{
  using SourceType = itk::SyntheticMicrostructureImageSource<itk::Image<unsigned char, 2>>;
  const unsigned int    side = 4; // 4 x 4 patches per micrograph
  auto                  stack = StackType::New();
  StackType::RegionType region;
  region.SetSize({ { size, size, count } });
  stack->SetRegions(region);
  stack->Allocate();
  float * out = stack->GetBufferPointer();
  for (unsigned int first = 0; first < count; first += side * side)
  {
    auto source = SourceType::New();
    source->SetSize({ { side * size, side * size } });
    source->SetCoolingRate(coolingRate);
    source->SetSeed(seed + first);
    source->Update();
    const unsigned char * img = source->GetOutput()->GetBufferPointer();
    for (unsigned int p = 0; p < side * side && first + p < count; ++p)
    {
      const unsigned int px = (p % side) * size, py = (p / side) * size;
      for (unsigned int y = 0; y < size; ++y)
        for (unsigned int x = 0; x < size; ++x)
          out[(static_cast<size_t>(first + p) * size + y) * size + x] = img[(py + y) * side * size + px + x];
    }
  }
  return stack;
}

itk::VQVAEModel::Pointer
TinyModel(uint64_t seed)
{
  return tinymodels::TinyVQVAE(seed);
}

itk::VQVAETrainer::Pointer
MakeTrainer(itk::VQVAEModel * model, const StackType * train, const StackType * validation)
{
  auto t = itk::VQVAETrainer::New();
  t->SetModel(model);
  t->SetTrainingImages(train);
  if (validation)
    t->SetValidationImages(validation);
  t->SetBatchSize(8);
  t->SetSeed(5);
  return t;
}

std::string
ReadAll(const std::string & path)
{
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
} // namespace

/** Counts events and optionally aborts the trainer after `abortAt` progress events. */
class EventCounter : public itk::Command
{
public:
  using Self = EventCounter;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  unsigned int progress{ 0 }, iterations{ 0 }, abortAt{ 0 };
  void
  Execute(itk::Object * caller, const itk::EventObject & event) override
  {
    if (itk::ProgressEvent().CheckEvent(&event))
    {
      ++progress;
      if (abortAt && progress == abortAt)
        static_cast<itk::ProcessObject *>(caller)->AbortGenerateDataOn();
    }
    if (itk::IterationEvent().CheckEvent(&event))
      ++iterations;
  }
  void
  Execute(const itk::Object *, const itk::EventObject &) override
  {}
};

TEST(VQVAETrainer, TrainsLogsAndMeasuresTheDecodersBias)
{
  const auto train = SyntheticPatches(32, 32, 3.0, 100);
  const auto validation = SyntheticPatches(16, 32, 3.0, 900);
  auto       model = TinyModel(1);
  auto       trainer = MakeTrainer(model, train, validation);
  trainer->SetNumberOfEpochs(6);
  const std::string log = TempPath("log.csv");
  trainer->SetLogPath(log);
  auto counter = EventCounter::New();
  trainer->AddObserver(itk::ProgressEvent(), counter);
  trainer->AddObserver(itk::IterationEvent(), counter);
  trainer->Train();

  const auto & records = trainer->GetEpochRecords();
  ASSERT_EQ(records.size(), 6u); // 32 patches / batch 8 = 4 steps per epoch
  EXPECT_EQ(trainer->GetTotalSteps(), 24u);
  EXPECT_EQ(model->GetNumberOfTrainingSteps(), 24u);
  EXPECT_EQ(counter->iterations, 6u);
  EXPECT_EQ(counter->progress, 25u); // once at the start, once per step
  EXPECT_FLOAT_EQ(trainer->GetProgress(), 1.0f);
  for (unsigned int e = 0; e < 6; ++e)
  {
    EXPECT_EQ(records[e].Epoch, e + 1);
    EXPECT_EQ(records[e].Step, 4u * (e + 1));
    EXPECT_EQ(records[e].ValidationPatches, 16u);
    EXPECT_TRUE(std::isfinite(records[e].VolumeFractionBias));
    EXPECT_TRUE(std::isfinite(records[e].MeanFreePathBias));
    EXPECT_GE(records[e].ValidationCodesInUse, 1u);
    EXPECT_LE(records[e].ValidationCodesInUse, 16u);
    EXPECT_GE(records[e].ValidationPerplexity, 1.0 - 1e-9);
    EXPECT_LE(records[e].ValidationPerplexity, records[e].ValidationCodesInUse + 1e-9);
    EXPECT_GE(records[e].VolumeFractionMeanAbsoluteError, std::abs(records[e].VolumeFractionBias) - 1e-9);
  }
  // Learning: the validation reconstruction error falls.
  EXPECT_LT(records.back().ValidationReconstructionLoss, 0.7 * records.front().ValidationReconstructionLoss);
  EXPECT_LT(records.back().TrainReconstructionLoss, records.front().TrainReconstructionLoss);

  // The log file holds the same records.
  const auto table = itk::MicrostructureTable::Read(log);
  EXPECT_EQ(table.GetColumnNames(), itk::VQVAETrainer::LogColumns());
  ASSERT_EQ(table.GetNumberOfRows(), 6u);
  EXPECT_NEAR(table.GetNumber(5, "val_mse"), records.back().ValidationReconstructionLoss, 1e-9);
  EXPECT_NEAR(table.GetNumber(5, "vf_bias_pp"), records.back().VolumeFractionBias, 1e-9);
}

TEST(VQVAETrainer, ResumeFromACheckpointGivesTheUninterruptedRun)
{
  const auto train = SyntheticPatches(24, 32, 1.0, 300); // 3 steps per epoch
  const auto validation = SyntheticPatches(8, 32, 1.0, 700);

  // Uninterrupted: 8 steps (2 epochs and 2 steps).
  auto straight = TinyModel(9);
  auto t1 = MakeTrainer(straight, train, validation);
  t1->SetNumberOfSteps(8);
  t1->SetLearningRateSchedule("cosine"); // a function of the step: resumed runs follow it too
  t1->Train();

  // Interrupted: aborted after 5 steps (checkpoint every 2 steps + at the abort) ...
  const std::string checkpoint = TempPath("resume.ckpt");
  auto              first = TinyModel(9);
  auto              t2 = MakeTrainer(first, train, validation);
  t2->SetNumberOfSteps(8);
  t2->SetLearningRateSchedule("cosine");
  t2->SetCheckpointPath(checkpoint);
  t2->SetCheckpointInterval(2);
  auto counter = EventCounter::New();
  counter->abortAt = 6; // the start event + 5 steps
  t2->AddObserver(itk::ProgressEvent(), counter);
  EXPECT_THROW(t2->Train(), itk::ProcessAborted);
  ASSERT_TRUE(fs::exists(checkpoint));

  // ... then resumed in a fresh model and trainer.
  auto resumed = itk::VQVAEModel::New();
  resumed->SetDevice("cpu");
  resumed->SetLearningRate(3e-3);
  resumed->Read(checkpoint);
  EXPECT_TRUE(resumed->GetHasTrainingState());
  EXPECT_EQ(resumed->GetNumberOfTrainingSteps(), 5u);
  auto t3 = MakeTrainer(resumed, train, validation);
  t3->SetNumberOfSteps(8);
  t3->SetLearningRateSchedule("cosine");
  t3->Train();
  EXPECT_DOUBLE_EQ(resumed->GetLearningRate(), 3e-3); // the schedule leaves the model's rate as it was
  EXPECT_THROW(t3->SetLearningRateSchedule("step"), itk::ExceptionObject);

  EXPECT_EQ(resumed->GetNumberOfTrainingSteps(), 8u);
  EXPECT_EQ(resumed->GetCodebook(), straight->GetCodebook()); // bit-identical
  std::vector<float> x(4 * 32 * 32);
  const float *      v = validation->GetBufferPointer();
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = static_cast<float>(straight->NormalizeIntensity(v[i]));
  EXPECT_EQ(resumed->EncodeToLatents(x.data(), 4, 32, 32), straight->EncodeToLatents(x.data(), 4, 32, 32));
  // The epoch records (including those from before the interruption) agree.
  const auto & a = t1->GetEpochRecords();
  const auto & b = t3->GetEpochRecords();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
  {
    EXPECT_EQ(a[i].Step, b[i].Step);
    EXPECT_DOUBLE_EQ(a[i].TrainReconstructionLoss, b[i].TrainReconstructionLoss);
    EXPECT_DOUBLE_EQ(a[i].ValidationReconstructionLoss, b[i].ValidationReconstructionLoss);
  }
  // A plain model file is not a checkpoint; a checkpoint is also a model file.
  const std::string plain = TempPath("plain.vqvae");
  resumed->Write(plain);
  auto readBack = itk::VQVAEModel::New();
  readBack->Read(plain);
  EXPECT_FALSE(readBack->GetHasTrainingState());
  EXPECT_EQ(readBack->GetCodebook(), resumed->GetCodebook());
}

TEST(VQVAETrainer, DamagedCheckpointsAndMismatchedResumesAreClearErrors)
{
  const auto        train = SyntheticPatches(16, 32, 3.0, 10);
  const std::string checkpoint = TempPath("mismatch.ckpt");
  auto              model = TinyModel(4);
  auto              t = MakeTrainer(model, train, nullptr);
  t->SetNumberOfSteps(2);
  t->SetCheckpointPath(checkpoint);
  t->SetCheckpointInterval(1);
  t->Train();
  EXPECT_TRUE(t->GetEpochRecords().back().ValidationPatches == 0);

  // Truncated optimizer state.
  const std::string data = ReadAll(checkpoint);
  const std::string cut = TempPath("cut.ckpt");
  {
    std::ofstream f(cut, std::ios::binary);
    f << data.substr(0, data.size() - 50);
  }
  auto m2 = itk::VQVAEModel::New();
  try
  {
    m2->Read(cut);
    ADD_FAILURE() << "a truncated checkpoint was read";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("truncated"), std::string::npos) << e.GetDescription();
  }

  // Resuming with other data (more patches) is refused with what to do.
  auto resumed = itk::VQVAEModel::New();
  resumed->Read(checkpoint);
  auto other = MakeTrainer(resumed, SyntheticPatches(32, 32, 3.0, 10), nullptr);
  other->SetNumberOfSteps(4);
  try
  {
    other->Train();
    ADD_FAILURE() << "resumed with other data";
  }
  catch (const itk::ExceptionObject & e)
  {
    EXPECT_NE(std::string(e.GetDescription()).find("same training data"), std::string::npos) << e.GetDescription();
  }
}

TEST(VQVAETrainer, BadInputIsAClearError)
{
  auto describe = [](itk::VQVAETrainer * t) -> std::string {
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
  const auto patches = SyntheticPatches(16, 32, 3.0, 10);
  auto       noModel = itk::VQVAETrainer::New();
  noModel->SetTrainingImages(patches);
  EXPECT_NE(describe(noModel).find("no model"), std::string::npos);

  auto model = TinyModel(1);
  auto tooFew = MakeTrainer(model, patches, nullptr);
  tooFew->SetBatchSize(32);
  EXPECT_NE(describe(tooFew).find("smaller batch"), std::string::npos);

  const auto odd = SyntheticPatches(16, 30, 3.0, 10); // 30 is not a multiple of 4
  auto       badSize = MakeTrainer(model, odd, nullptr);
  EXPECT_NE(describe(badSize).find("multiples of 4"), std::string::npos);

  auto mismatched = MakeTrainer(model, patches, SyntheticPatches(16, 64, 3.0, 10));
  EXPECT_NE(describe(mismatched).find("validation patches"), std::string::npos);
  EXPECT_EQ(model->GetNumberOfTrainingSteps(), 0u); // nothing happened
}
