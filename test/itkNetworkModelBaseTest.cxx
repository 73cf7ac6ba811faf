/*=========================================================================
 * The base of the two models (itk::NetworkModelBase) and of the two trainers
 * (itk::NetworkTrainerBase): both models answer the same settings the same way,
 * and both trainers write checkpoints that read back with their state and
 * refuse the same damaged ones.
 *=========================================================================*/
#include "itkPixelCNNPriorTrainer.h"
#include "itkTinyModelsTestHelper.h"
#include "itkVQVAETrainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <random>

namespace
{
namespace fs = std::filesystem;

std::string
TempPath(const std::string & name)
{
  const fs::path dir = fs::temp_directory_path() / ("itkNetworkModelBaseTest-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

/** n patches of 16 x 16 grey levels, a bright disc of random radius on a dark ground. */
itk::VQVAETrainer::ImageType::Pointer
Patches(unsigned int n, unsigned int seed)
{
  auto                                     image = itk::VQVAETrainer::ImageType::New();
  itk::VQVAETrainer::ImageType::RegionType region;
  region.SetSize({ { 16, 16, n } });
  image->SetRegions(region);
  image->Allocate();
  std::mt19937                           rng(seed);
  std::uniform_real_distribution<double> radius(2.0, 7.0);
  float *                                p = image->GetBufferPointer();
  for (unsigned int k = 0; k < n; ++k)
  {
    const double r = radius(rng);
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 16; ++x)
        *p++ = std::hypot(x - 7.5, y - 7.5) < r ? 200.0f : 60.0f;
  }
  return image;
}

/** Trains 4 steps with a checkpoint at the end, then reads the checkpoint into fresh (a model of the
 * same kind) and returns the trainer that made it. */
template <typename TTrainer, typename TModel>
void
TrainAndReadBack(TTrainer * trainer, TModel * model, TModel * fresh, const std::string & checkpoint)
{
  trainer->SetModel(model);
  trainer->SetBatchSize(8);
  trainer->SetNumberOfSteps(4);
  trainer->SetCheckpointPath(checkpoint);
  trainer->SetCheckpointInterval(2);
  trainer->Train();
  fresh->SetDevice("cpu");
  fresh->Read(checkpoint);
}
} // namespace

TEST(NetworkModelBase, BothModelsAnswerTheSharedSettingsAlike)
{
  const auto                                 vqvae = itk::VQVAEModel::New();
  const auto                                 prior = itk::PixelCNNPriorModel::New();
  const std::vector<itk::NetworkModelBase *> models = { vqvae.GetPointer(), prior.GetPointer() };
  // Their own defaults: Adam's rate and the inference batch.
  EXPECT_DOUBLE_EQ(vqvae->GetLearningRate(), 2e-4);
  EXPECT_DOUBLE_EQ(prior->GetLearningRate(), 3e-4);
  EXPECT_EQ(vqvae->GetInferenceBatchSize(), 64u);
  EXPECT_EQ(prior->GetInferenceBatchSize(), 256u);
  for (auto * m : models)
  {
    SCOPED_TRACE(m->GetNameOfClass());
    // The same refusals (the VQ-VAE used to take an infinite learning rate).
    for (const double bad :
         { 0.0, -1e-3, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN() })
      EXPECT_THROW(m->SetLearningRate(bad), itk::ExceptionObject) << bad;
    const double rate = m->GetLearningRate();
    m->SetLearningRate(5e-3);
    EXPECT_DOUBLE_EQ(m->GetLearningRate(), 5e-3);
    m->SetLearningRate(rate);
    EXPECT_THROW(m->SetPrecision("float8"), itk::ExceptionObject);
    EXPECT_THROW(m->SetDevice("gpu0"), itk::ExceptionObject);
    m->SetDevice("cpu");
    EXPECT_EQ(m->GetDeviceInUse(), "cpu");
    m->SetPrecision("float32");
    EXPECT_EQ(m->GetPrecisionInUse(), "float32");
    EXPECT_FALSE(m->IsInitialized());
    EXPECT_EQ(m->GetNumberOfTrainingSteps(), 0u);
    EXPECT_FALSE(m->GetHasTrainingState());
    std::ostringstream os;
    m->Print(os);
    EXPECT_NE(os.str().find("LearningRate: "), std::string::npos);
    EXPECT_NE(os.str().find("Device: cpu"), std::string::npos);
  }
}

TEST(NetworkTrainerBase, BothTrainersCheckpointTheirStateAndRefuseAnInconsistentOne)
{
  std::vector<itk::PixelCNNPriorModel::Condition> conditions;
  const auto                                      maps = tinymodels::Maps(24, 4, conditions);
  const auto                                      patches = Patches(24, 5);

  const auto priorTrainer = itk::PixelCNNPriorTrainer::New();
  priorTrainer->SetTrainingMaps(maps, conditions);
  const auto prior = tinymodels::TinyPrior(3);
  const auto priorRead = itk::PixelCNNPriorModel::New();
  TrainAndReadBack(priorTrainer.GetPointer(), prior.GetPointer(), priorRead.GetPointer(), TempPath("prior.ckpt"));

  const auto vqvaeTrainer = itk::VQVAETrainer::New();
  vqvaeTrainer->SetTrainingImages(patches);
  const auto vqvae = tinymodels::TinyVQVAE(3);
  const auto vqvaeRead = itk::VQVAEModel::New();
  TrainAndReadBack(vqvaeTrainer.GetPointer(), vqvae.GetPointer(), vqvaeRead.GetPointer(), TempPath("vqvae.ckpt"));

  const std::vector<std::pair<itk::NetworkTrainerBase *, itk::NetworkModelBase *>> pairs = {
    { priorTrainer.GetPointer(), priorRead.GetPointer() }, { vqvaeTrainer.GetPointer(), vqvaeRead.GetPointer() }
  };
  for (const auto & [trainer, model] : pairs)
  {
    SCOPED_TRACE(trainer->GetNameOfClass());
    // 24 items, batch 8: 3 batches an epoch, so step 4 is epoch 1, batch 1; 2 epoch records.
    EXPECT_EQ(trainer->GetTotalSteps(), 4u);
    EXPECT_EQ(trainer->GetLog().GetNumberOfRows(), 2u);
    ASSERT_TRUE(model->GetHasTrainingState());
    EXPECT_EQ(model->GetNumberOfTrainingSteps(), 4u);
    const std::string state = model->GetTrainerState();
    EXPECT_NE(state.find("\nepoch 1\n"), std::string::npos) << state;
    EXPECT_NE(state.find("\nbatch_in_epoch 1\n"), std::string::npos) << state;

    // A state whose position does not match the model's steps is refused, by both trainers alike.
    std::string moved = state;
    moved.replace(moved.find("\nbatch_in_epoch 1\n"), 18, "\nbatch_in_epoch 2\n");
    model->SetTrainerState(moved);
    try
    {
      if (auto * p = dynamic_cast<itk::PixelCNNPriorTrainer *>(trainer))
        p->SetModel(static_cast<itk::PixelCNNPriorModel *>(model));
      else
        static_cast<itk::VQVAETrainer *>(trainer)->SetModel(static_cast<itk::VQVAEModel *>(model));
      trainer->SetNumberOfSteps(6);
      trainer->SetCheckpointPath("");
      trainer->Train();
      ADD_FAILURE() << "an inconsistent checkpoint was accepted";
    }
    catch (const itk::ExceptionObject & e)
    {
      EXPECT_NE(std::string(e.GetDescription()).find("inconsistent"), std::string::npos) << e.GetDescription();
    }
    // The untouched state resumes, and Initialize() forgets it.
    model->SetTrainerState(state);
    trainer->Train();
    EXPECT_EQ(model->GetNumberOfTrainingSteps(), 6u);
    model->Initialize();
    EXPECT_FALSE(model->GetHasTrainingState());
    EXPECT_EQ(model->GetNumberOfTrainingSteps(), 0u);
    EXPECT_EQ(std::string(model->GetTrainerState()), "");
  }
}
