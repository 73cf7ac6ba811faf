/*=========================================================================
 *  MicrostructureTrainPrior (`train-prior`): trains the conditional gated
 *  PixelCNN prior of Noguchi & Inoue (2021) on the index maps a trained
 *  VQ-VAE gives for a patch stack (computed once, cached beside the output), conditioned on
 *  process parameters from the patch table; validation on the table's test
 *  split (by sample); per-epoch CSV log, checkpoints, --resume.
 *=========================================================================*/
#include "MicrostructureCLI.h"
#include "MicrostructureModelCLI.h"
#include "itkCPUInstructionSet.h"
#include "itkCodeForegroundShare.h"
#include "MicrostructureDataParallelCLI.h"
#include "itkMicrostructureHash.h"
#include "itkMicrostructureIO.h"
#include "itkMicrostructureTable.h"
#include "itkPixelCNNPriorTrainer.h"
#include "itkVQEncodeImageFilter.h"

#include <algorithm>
#include <memory>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace
{
using sm::cli::Module;
using ByteStackType = itk::Image<unsigned char, 3>;
using MapType = itk::PixelCNNPriorTrainer::MapImageType;
using Prior = itk::PixelCNNPriorModel;

// Settings that every preset and the study used, fixed here rather than options (issue 24: an option
// earns its place by measurement):
/** A checkpoint every this many steps, and at the last step and when stopped. */
constexpr unsigned long CheckpointInterval = 200;
/** Passes over the training maps when --steps is 0. */
constexpr unsigned int EpochsWithoutSteps = 10;
// The network: the index embedding has --hiddenChannels channels (the paper: 64 and 64; the demo:
// 32 and 32), the kernels are the paper's (7 x 7 with mask A in layer 1, 3 x 3 with mask B after, the
// defaults of PixelCNNPriorModel::Hyperparameters), without dilations (measured three times and removed in session
// 33: raised the generated phase fraction, CHANGELOG.md "Prior variants at equal cost"; with the composition budget,
// fewer cross-validation targets met, docs/cross_validation.md sessions 23 and 32); the learning rate is constant (a
// cosine decay measured no better, CHANGELOG.md).

uint64_t
FileFingerprint(const std::string & path)
{
  std::ifstream f(path, std::ios::binary);
  uint64_t      h = itk::MicrostructureHashOffsetBasis;
  char          buffer[1 << 16];
  while (f.read(buffer, sizeof(buffer)) || f.gcount() > 0)
  {
    h = itk::MicrostructureHash(std::string_view(buffer, static_cast<std::size_t>(f.gcount())), h);
  }
  return h;
}

/** The index maps of the stack under the VQ-VAE, from the cache when it was made from the same two
 * files, else encoded and cached. */
MapType::Pointer
IndexMaps(const std::string & stackPath, const std::string & vqvaePath, const std::string & cachePath,
          sm::cli::Progress & progress)
{
  std::ostringstream key;
  key << "stack " << FileFingerprint(stackPath) << " vqvae " << FileFingerprint(vqvaePath);
  const std::string keyPath = cachePath + ".key";
  {
    std::ifstream k(keyPath);
    std::string   stored;
    std::getline(k, stored);
    if (stored == key.str() && std::filesystem::exists(cachePath))
    {
      std::cerr << "index maps from the cache " << cachePath << "\n";
      return itk::ReadScalarImage<MapType>(cachePath);
    }
  }
  auto vqvae = itk::VQVAEModel::New();
  vqvae->Read(vqvaePath);
  ByteStackType::Pointer stack = itk::ReadScalarImage<ByteStackType>(stackPath);
  auto                   encode = itk::VQEncodeImageFilter<ByteStackType, MapType>::New();
  encode->SetInput(stack);
  encode->SetModel(vqvae);
  progress.Observe(encode, 0.0, 0.1);
  encode->Update();
  MapType::Pointer maps = encode->GetOutput();
  maps->DisconnectPipeline();
  itk::WriteImageAtomically(maps.GetPointer(), cachePath);
  itk::WriteTextFileAtomically(keyPath, key.str() + "\n");
  return maps;
}

int
Body(Module & m)
{
  const std::string output = m.Get("output");
  itk::CheckOutputPathWritable(output);
  if (m.Get("vqvae").empty())
    throw std::invalid_argument("give the VQ-VAE model with --vqvae (MicrostructureTrainVQVAE)");
  if (m.Get("table").empty())
    throw std::invalid_argument("give the patch table with --table: it holds the process parameters of every patch");
  std::string checkpoint = m.Get("checkpoint");
  if (checkpoint.empty())
    checkpoint = output + ".checkpoint";
  const std::string cache = output + ".maps.nrrd";

  // Started by torchrun, srun or a PyTorchJob (WORLD_SIZE > 1): a data-parallel job, in which rank 0 writes.
  const bool writes = sm::cli::JoinDataParallelJob("the log, checkpoints and model");

  sm::cli::Progress progress("MicrostructureTrainPrior", "PixelCNN prior training");
  const auto        table = itk::MicrostructureTable::Read(m.Get("table"));
  // Conditions: continuous columns as they are, --logConditions as ln(value) named ln_<column>,
  // --categorical as categories.
  struct Column
  {
    std::string source, name;
    bool        log{ false }, categorical{ false };
  };
  std::vector<Column> columns;
  for (const auto & c : m.GetList("conditions"))
    columns.push_back({ c, c, false, false });
  for (const auto & c : m.GetList("logConditions"))
    columns.push_back({ c, "ln_" + c, true, false });
  for (const auto & c : m.GetList("categorical"))
    columns.push_back({ c, c, false, true });
  for (const auto & c : columns)
    if (!table.HasColumn(c.source))
      throw std::invalid_argument(
        "the table " + m.Get("table") + " has no column \"" + c.source +
        "\": give process-parameter columns that MicrostructurePatches copied (--conditions)");
  if (!table.HasColumn("split"))
    throw std::invalid_argument("the table has no \"split\" column: make it with MicrostructurePatches");
  // --exclude: rows left out of training and validation (e.g. a held-out condition).
  const sm::cli::RowExclusion exclude(m.GetList("exclude"), table);

  // Rank 0 encodes the patches into the cache; the other processes of a job then read it.
  if (!writes)
    itk::DataParallel::Barrier();
  auto maps = IndexMaps(m.Get("input"), m.Get("vqvae"), cache, progress);
  if (writes)
    itk::DataParallel::Barrier();
  const auto size = maps->GetLargestPossibleRegion().GetSize();
  if (table.GetNumberOfRows() != size[2])
    throw std::invalid_argument("the table has " + std::to_string(table.GetNumberOfRows()) + " rows but the stack " +
                                std::to_string(size[2]) + " patches: give the table written with this stack");

  std::vector<size_t>                             trainRows, testRows;
  std::vector<Prior::Condition>                   trainConditions, testConditions;
  std::map<std::string, std::vector<std::string>> trainValues;
  size_t                                          excluded = 0;
  for (size_t i = 0; i < table.GetNumberOfRows(); ++i)
  {
    if (exclude.Excludes(table, i))
    {
      ++excluded;
      continue;
    }
    Prior::Condition c;
    for (const auto & col : columns)
    {
      std::string v = table.Get(i, col.source);
      if (col.log)
      {
        const double x = table.GetNumber(i, col.source);
        if (!(x > 0))
          throw std::invalid_argument("row " + std::to_string(i + 1) + ": " + col.source + " = " + v +
                                      " has no logarithm: --logConditions needs positive values");
        v = itk::MicrostructureTable::FormatNumber(std::log(x));
      }
      c[col.name] = v;
    }
    const bool test = table.Get(i, "split") == "test";
    (test ? testRows : trainRows).push_back(i);
    (test ? testConditions : trainConditions).push_back(c);
    if (!test)
      for (const auto & kv : c)
        trainValues[kv.first].push_back(kv.second);
  }
  if (trainRows.empty())
    throw std::invalid_argument("no training patches left (split train, not excluded)");
  // The training maps, selected once: for the trainer and the composition level.
  const auto                 trainMaps = sm::cli::SelectSlices<MapType>(maps, trainRows);
  const std::vector<int32_t> trainIndices(trainMaps->GetBufferPointer(),
                                          trainMaps->GetBufferPointer() + trainRows.size() * size[0] * size[1]);

  auto prior = Prior::New();
  prior->SetDevice(m.Get("device"));
  prior->SetPrecision(m.Get("precision"));
  prior->SetLearningRate(m.GetDouble("learningRate"));
  prior->SetInferenceBatchSize(static_cast<unsigned int>(m.GetInt("batchSize")));
  const bool resume = m.GetBool("resume") && std::filesystem::exists(checkpoint);
  if (resume)
  {
    sm::cli::ReadCheckpointToResume(*prior, checkpoint);
    // The network of a checkpoint cannot change: an architecture option given now must be the checkpoint's.
    const auto &                                           hp = prior->GetHyperparameters();
    const std::vector<std::pair<std::string, std::string>> architecture = {
      { "layers", std::to_string(hp.NumberOfLayers) },
      { "hiddenChannels", std::to_string(hp.HiddenChannels) },
      { "outputHiddenChannels", std::to_string(hp.OutputHiddenChannels) }
    };
    sm::cli::CheckResumedArchitecture(m, checkpoint, architecture);
    auto vqvae = itk::VQVAEModel::New();
    vqvae->Read(m.Get("vqvae"));
    prior->CheckCompatibleVQVAE(vqvae->GetHyperparameters().CodebookSize, vqvae->GetWeightsFingerprint());
  }
  else
  {
    Prior::Hyperparameters h;
    std::string            vqvaeFingerprint;
    {
      auto vqvae = itk::VQVAEModel::New();
      vqvae->Read(m.Get("vqvae"));
      h.CodebookSize = vqvae->GetHyperparameters().CodebookSize;
      vqvaeFingerprint = vqvae->GetWeightsFingerprint();
    }
    h.HiddenChannels = static_cast<unsigned int>(m.GetInt("hiddenChannels"));
    h.EmbeddingDimension = h.HiddenChannels;
    h.NumberOfLayers = static_cast<unsigned int>(m.GetInt("layers"));
    h.OutputHiddenChannels = static_cast<unsigned int>(m.GetInt("outputHiddenChannels"));
    prior->SetHyperparameters(h);
    // Continuous parameters: normalisation and trained range from the training rows. Categorical
    // ones: every category of the table (also those only in the test split or held out), so
    // validation and generation can name them; a category never trained on keeps its initial
    // (untrained) bias.
    Prior::ConditionSchema schema;
    for (const auto & col : columns)
    {
      if (col.categorical)
        schema.push_back(Prior::LearnCategoricalCondition(col.name, table.GetColumn(col.source)));
      else
        schema.push_back(Prior::LearnCondition(col.name, trainValues[col.name], false));
    }
    prior->SetConditionSchema(schema);
    if (m.Get("compositionLevel") != "none")
    {
      // The top level: each map's share of the bright phase, from its codes' own shares measured on
      // the training patches (Otsu per patch).
      const auto patches = itk::ReadScalarImage<ByteStackType>(m.Get("input"));
      const auto share =
        itk::ComputeCodeForegroundShare(patches.GetPointer(), maps.GetPointer(), trainRows, h.CodebookSize);
      prior->SetCompositionLevel(std::vector<float>(share.begin(), share.end()),
                                 1,
                                 trainIndices.data(),
                                 static_cast<unsigned int>(trainRows.size()),
                                 static_cast<unsigned int>(size[1]),
                                 static_cast<unsigned int>(size[0]),
                                 trainConditions);
      // Its line at the ends of the first continuous parameter's range, the others at their training
      // mean (continuous) or first category.
      const auto &                 s = prior->GetConditionSchema();
      Prior::Condition             at;
      const Prior::ConditionSpec * first = nullptr;
      for (const auto & spec : s)
      {
        at[spec.Name] = spec.Categorical ? spec.Categories.front() : itk::MicrostructureTable::FormatNumber(spec.Mean);
        if (!spec.Categorical && !first)
          first = &spec;
      }
      std::cerr << "composition level: the share of the bright phase per map (standardised)";
      if (first)
        for (const double z : { first->Minimum, first->Maximum })
        {
          at[first->Name] = itk::MicrostructureTable::FormatNumber(z);
          const auto top = prior->GetCompositionPrior(at);
          std::cerr << "; at " << first->Name << " = " << z << ": mean " << top.Mean[0] << ", sd " << top.StdDev[0];
        }
      std::cerr << (s.size() > 1 && first ? " (the other parameters at their mean or first category)\n" : "\n");
    }
    prior->SetSeed(std::stoull(m.Get("seed")));
    prior->Initialize();
    prior->SetVQVAEFingerprint(vqvaeFingerprint); // the VQ-VAE whose index maps it learns
  }
  if (resume && prior->HasCompositionLevel() != (m.Get("compositionLevel") != "none"))
    throw std::invalid_argument("--compositionLevel " + m.Get("compositionLevel") + " differs from the checkpoint " +
                                checkpoint + " (" + (prior->HasCompositionLevel() ? "with" : "without") +
                                " a composition level): resume with the setting it was trained with, or start anew "
                                "without --resume");

  auto trainer = itk::PixelCNNPriorTrainer::New();
  trainer->SetModel(prior);
  trainer->SetTrainingMaps(trainMaps, trainConditions);
  if (!testRows.empty())
    trainer->SetValidationMaps(sm::cli::SelectSlices<MapType>(maps, testRows), testConditions);
  trainer->SetNumberOfEpochs(EpochsWithoutSteps);
  trainer->SetNumberOfSteps(static_cast<unsigned long>(m.GetInt("steps")));
  trainer->SetBatchSize(static_cast<unsigned int>(m.GetInt("batchSize")));
  trainer->SetSeed(std::stoull(m.Get("seed")));
  trainer->SetCheckpointPath(checkpoint);
  trainer->SetCheckpointInterval(CheckpointInterval);
  trainer->SetLogPath(m.Get("log"));
  auto onEpoch = itk::CStyleCommand::New();
  onEpoch->SetCallback([](itk::Object * caller, const itk::EventObject &, void *) {
    const auto & r = static_cast<itk::PixelCNNPriorTrainer *>(caller)->GetEpochRecords().back();
    std::cerr << "\nepoch " << r.Epoch << " (step " << r.Step << ", " << static_cast<long>(r.Seconds) << " s): train "
              << r.TrainBitsPerIndex << " bits/index";
    if (r.ValidationMaps > 0)
      std::cerr << ", validation " << r.ValidationBitsPerIndex << " bits/index";
    std::cerr << std::endl;
  });
  trainer->AddObserver(itk::IterationEvent(), onEpoch);
  progress.Observe(trainer, 0.1, 0.9);
  std::cerr << "training the prior on " << trainRows.size() << " index maps of " << size[0] << " x " << size[1] << " ("
            << testRows.size() << " validation, " << excluded << " excluded), conditions:";
  for (const auto & col : columns)
    std::cerr << ' ' << col.name;
  std::cerr << ", device " << prior->GetDeviceInUse() << " (" << prior->GetPrecisionInUse()
            << (prior->GetDeviceInUse() == "cpu" ? ", " + itk::GetCPUInstructionSet() : "") << ")\n";
  trainer->Train();

  std::ostringstream summary;
  summary << "trained " << prior->GetNumberOfTrainingSteps() << " steps of batch " << trainer->GetBatchSize()
          << " (learning rate " << m.Get("learningRate") << ", " << trainer->GetLearningRateSchedule() << ") on "
          << trainRows.size() << " index maps of " << m.Get("input") << " under " << m.Get("vqvae");
  if (!exclude.Empty())
    summary << ", excluding " << exclude.Describe();
  const auto & records = trainer->GetEpochRecords();
  if (!records.empty())
    summary << "; last validation " << records.back().ValidationBitsPerIndex << " bits/index";
  prior->SetTrainingSummary(summary.str());
  if (!sm::cli::WriteTrainedModel(*prior, output, progress, writes))
    return 0;
  if (!records.empty())
    m.SetReturn("validationBitsPerIndex",
                itk::MicrostructureTable::FormatNumber(records.back().ValidationBitsPerIndex));
  return 0;
}
} // namespace

int
main(int argc, char * argv[])
{
  Module m("Train Microstructure Prior",
           "Microstructure",
           "Trains the conditional gated PixelCNN prior of Noguchi & Inoue, Phys. Rev. E 104, 025302 (2021) on the "
           "VQ-VAE index maps of a patch stack (encoded once and cached beside the output, as <output>.maps.nrrd, "
           "while the stack and the VQ-VAE are unchanged), conditioned on process parameters from the "
           "patch table. The table's test split (held out by sample) gives the validation log-likelihood. "
           "Checkpoints are written atomically; --resume continues a killed run exactly.");
  m.Group("Input/Output");
  m.AddPositional("image", "input", 0, "input", "Patch stack", "3D stack of 8-bit patches from MicrostructurePatches.");
  m.AddPositional("file", "output", 1, "output", "Prior model", "The trained prior, e.g. prior.model.");
  m.Add("file", "vqvae", "vqvae", "", "VQ-VAE model", "Model file written by MicrostructureTrainVQVAE.");
  m.Add("table",
        "table",
        "table",
        "",
        "Patch table",
        "Per-patch table written with the stack: process-parameter columns and the train/test split.");
  m.Add("table", "log", "log", "", "Training log (CSV)", "One row per epoch: train and validation bits per index.")
    .channel = "output";
  m.Add("file",
        "checkpoint",
        "checkpoint",
        "",
        "Checkpoint",
        "Written every 200 steps and at the end. Default: the output path + .checkpoint.")
    .channel = "output";
  m.Add("boolean", "resume", "resume", "false", "Resume", "Continue from the checkpoint when it exists.");
  m.Group("Conditions");
  m.Add("string-vector",
        "conditions",
        "conditions",
        "",
        "Continuous parameters",
        "Table columns used as they are, e.g. anneal_temperature_C.");
  m.Add("string-vector",
        "logConditions",
        "logConditions",
        "",
        "Log-scaled parameters",
        "Table columns whose natural logarithm is the parameter, named ln_<column> (the paper: ln cooling rate), "
        "e.g. cooling_rate_C_per_s -> ln_cooling_rate_C_per_s.");
  m.Add("string-vector",
        "categorical",
        "categorical",
        "",
        "Categorical parameters",
        "Table columns of categories (one-hot), e.g. cool_method.");
  m.Add("string-vector",
        "exclude",
        "exclude",
        "",
        "Exclude",
        "Conditions whose patches are left out (e.g. a held-out condition: cooling_rate_C_per_s=3; a "
        "combination: anneal_temperature_C=970;cool_method=Q).");
  m.Group("Training");
  m.Add("integer", "steps", "steps", "0", "Steps", "Total optimisation steps; 0 = 10 passes over the training maps.")
    .minimum = "0";
  m.Add("integer", "batchSize", "batchSize", "64", "Batch size", "").minimum = "1";
  m.Add("double", "learningRate", "learningRate", "0.0003", "Learning rate", "Adam's learning rate, constant.");
  auto & composition = m.Add("string-enumeration",
                             "compositionLevel",
                             "compositionLevel",
                             "none",
                             "Composition level",
                             "A two-level prior (not in the paper): each map's share of the bright phase (Otsu per "
                             "training patch, through the codes' own shares) drawn first from a normal distribution "
                             "whose mean and log sd are lines in the condition, then the map given it, every layer "
                             "also seeing the composition left to place so that the map ends at its drawn share (the "
                             "composition budget). Gives the maps the patch-to-patch variation in composition that "
                             "the network alone lacks. none: the paper's prior.");
  composition.elements = { "none", "phase" };
  m.Add("string", "seed", "seed", "1", "Seed", "Seed of the weights and the data order.");
  m.Group("Network");
  m.Add("integer", "layers", "layers", "15", "Gated layers", "The paper: 15.").minimum = "1";
  m.Add("integer",
        "hiddenChannels",
        "hiddenChannels",
        "64",
        "Hidden channels",
        "Channels of both stacks and of the index embedding (the paper: 64). The kernels are the paper's: 7 x 7 "
        "(mask A) in the first layer, 3 x 3 (mask B) after.")
    .minimum = "1";
  m.Add("integer",
        "outputHiddenChannels",
        "outputHiddenChannels",
        "512",
        "Head channels",
        "Channels between the head's two 1x1 convolutions (the paper: 512; the demo: 96).")
    .minimum = "1";
  sm::cli::AddTrainingComputeOptions(m);
  m.Group("Results", "Output scalars (for Slicer).");
  m.Add("double", "validationBitsPerIndex", "validationBitsPerIndex", "", "Validation bits per index", "Last epoch.")
    .channel = "output";
  return sm::cli::Run(m, argc, argv, Body);
}
