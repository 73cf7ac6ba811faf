/*=========================================================================
 *  MicrostructureTrainVQVAE (`train-vqvae`): trains the VQ-VAE of Noguchi &
 *  Inoue (2021) on a patch stack from MicrostructurePatches, validating on the
 *  table's "test" split (by sample), with a per-epoch CSV log, atomic
 *  checkpoints and --resume.
 *=========================================================================*/
#include "MicrostructureCLI.h"
#include "MicrostructureModelCLI.h"
#include "itkCPUInstructionSet.h"
#include "itkCastImageFilter.h"
#include "MicrostructureDataParallelCLI.h"
#include "itkExtractImageFilter.h"
#include "itkMicrostructureIO.h"
#include "itkMicrostructureTable.h"
#include "itkTileImageFilter.h"
#include "itkVQVAETrainer.h"

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace
{
using sm::cli::Module;
using StackType = itk::VQVAETrainer::ImageType;
using ByteStackType = itk::Image<unsigned char, 3>;

std::string
Describe(const itk::VQVAETrainer::EpochRecord & r)
{
  std::ostringstream s;
  s << std::fixed << "epoch " << r.Epoch << " (step " << r.Step << ", " << std::setprecision(0) << r.Seconds
    << " s): train MSE " << std::setprecision(4) << r.TrainReconstructionLoss;
  if (r.ValidationPatches > 0)
  {
    s << ", validation MSE " << r.ValidationReconstructionLoss << ", perplexity " << std::setprecision(1)
      << r.ValidationPerplexity << ", codes in use " << r.ValidationCodesInUse << std::setprecision(2) << ", V_f bias "
      << r.VolumeFractionBias << " pp, d_f bias " << r.MeanFreePathBias << " %";
  }
  return s.str();
}

int
Body(Module & m)
{
  const std::string output = m.Get("output");
  itk::CheckOutputPathWritable(output);
  std::string checkpoint = m.Get("checkpoint");
  if (checkpoint.empty())
    checkpoint = output + ".checkpoint";
  if (!m.Get("log").empty())
    itk::CheckOutputPathWritable(m.Get("log"));

  // Started by torchrun, srun or a PyTorchJob (WORLD_SIZE > 1): a data-parallel job, in which rank 0 writes.
  const bool writes = sm::cli::JoinDataParallelJob("the log, checkpoints and model");

  sm::cli::Progress progress("MicrostructureTrainVQVAE", "VQ-VAE training");
  // Patches: 8-bit stacks (MicrostructurePatches) or any scalar stack, as float.
  auto                stack = itk::ReadScalarImage<StackType>(m.Get("input"), true);
  const auto          size = stack->GetLargestPossibleRegion().GetSize();
  std::vector<size_t> trainSlices, testSlices;
  std::string         dataSummary;
  if (!m.Get("table").empty())
  {
    const auto table = itk::MicrostructureTable::Read(m.Get("table"));
    if (table.GetNumberOfRows() != size[2])
    {
      throw std::invalid_argument("the table " + m.Get("table") + " has " + std::to_string(table.GetNumberOfRows()) +
                                  " rows but the stack " + m.Get("input") + " has " + std::to_string(size[2]) +
                                  " patches: give the table written with this stack by MicrostructurePatches");
    }
    if (!table.HasColumn("split"))
    {
      throw std::invalid_argument("the table " + m.Get("table") +
                                  " has no \"split\" column: make it with MicrostructurePatches (--testFraction)");
    }
    const sm::cli::RowExclusion exclude(m.GetList("exclude"), table);
    for (size_t i = 0; i < table.GetNumberOfRows(); ++i)
    {
      if (exclude.Excludes(table, i))
        continue;
      const std::string & split = table.Get(i, "split");
      if (split == "train")
        trainSlices.push_back(i);
      else if (split == "test")
        testSlices.push_back(i);
      else
        throw std::invalid_argument("row " + std::to_string(i + 1) + " of " + m.Get("table") + " has split \"" + split +
                                    "\": expected train or test");
    }
    if (testSlices.empty())
      std::cerr << "warning: the table has no \"test\" patches: no validation (use --testFraction in "
                   "MicrostructurePatches)\n";
  }
  else
  {
    for (size_t i = 0; i < size[2]; ++i)
      trainSlices.push_back(i);
    std::cerr << "warning: no --table: every patch is used for training and nothing is validated\n";
  }
  auto train = sm::cli::SelectSlices<StackType>(stack, trainSlices);
  auto validation = testSlices.empty() ? StackType::Pointer() : sm::cli::SelectSlices<StackType>(stack, testSlices);
  stack = nullptr;

  auto model = itk::VQVAEModel::New();
  model->SetDevice(m.Get("device"));
  model->SetPrecision(m.Get("precision"));
  model->SetLearningRate(m.GetDouble("learningRate"));
  model->SetInferenceBatchSize(static_cast<unsigned int>(m.GetInt("batchSize")));
  const bool resume = m.GetBool("resume") && std::filesystem::exists(checkpoint);
  if (m.GetBool("resume") && !resume)
    std::cerr << "no checkpoint at " << checkpoint << " yet: starting a new run\n";
  if (resume)
  {
    sm::cli::ReadCheckpointToResume(*model, checkpoint);
    // The network of a checkpoint cannot change: an architecture option given now must be the checkpoint's.
    const auto & hp = model->GetHyperparameters();
    std::string  channels;
    for (const auto c : hp.EncoderChannels)
      channels += (channels.empty() ? "" : ",") + std::to_string(c);
    const std::vector<std::pair<std::string, std::string>> architecture = {
      { "encoderChannels", channels },
      { "residualBlocks", std::to_string(hp.NumberOfResidualBlocks) },
      { "codebookSize", std::to_string(hp.CodebookSize) },
      { "codeDimension", std::to_string(hp.CodeDimension) },
      { "codebookUpdate", hp.CodebookUpdate }
    };
    sm::cli::CheckResumedArchitecture(m, checkpoint, architecture);
  }
  else
  {
    itk::VQVAEModel::Hyperparameters h;
    h.EncoderChannels.clear();
    for (const auto & c : m.GetList("encoderChannels"))
    {
      // Whole numbers only: std::stoul would wrap "-4" to 2^64 - 4.
      if (c.empty() || c.size() > 4 || c.find_first_not_of("0123456789") != std::string::npos || std::stoul(c) < 1 ||
          std::stoul(c) > 4096)
        throw std::invalid_argument(
          "--encoderChannels " + m.Get("encoderChannels") + ": \"" + c +
          "\" is not a channel count; give whole numbers 1..4096 separated by commas, one per "
          "halving, e.g. 32,64");
      h.EncoderChannels.push_back(static_cast<unsigned int>(std::stoul(c)));
    }
    h.NumberOfResidualBlocks = static_cast<unsigned int>(m.GetInt("residualBlocks"));
    h.CodebookSize = static_cast<unsigned int>(m.GetInt("codebookSize"));
    h.CodeDimension = static_cast<unsigned int>(m.GetInt("codeDimension"));
    h.CommitmentCost = m.GetDouble("commitmentCost");
    h.CodebookUpdate = m.Get("codebookUpdate");
    h.EMADecay = m.GetDouble("emaDecay");
    h.GradientLossWeight = m.GetDouble("gradientLossWeight");
    h.PhaseLossWeight = m.GetDouble("phaseLossWeight");
    h.PhaseLossSoftness = m.GetDouble("phaseLossSoftness");
    h.PhaseLossThreshold = m.Get("phaseLossThreshold");
    h.HistogramLossWeight = m.GetDouble("histogramLossWeight");
    h.InterfaceLossWeight = m.GetDouble("interfaceLossWeight");
    model->SetHyperparameters(h);
    model->SetSeed(m.GetSeed("seed"));
    model->Initialize();
  }
  const auto spacing = train->GetSpacing();
  model->SetPixelSizeMicrometres(spacing[0]);
  model->SetPatchSize(static_cast<unsigned int>(size[0]));

  auto trainer = itk::VQVAETrainer::New();
  trainer->SetModel(model);
  trainer->SetTrainingImages(train);
  if (validation)
    trainer->SetValidationImages(validation);
  trainer->SetNumberOfEpochs(static_cast<unsigned int>(m.GetInt("epochs")));
  trainer->SetNumberOfSteps(static_cast<unsigned long>(m.GetInt("steps")));
  trainer->SetBatchSize(static_cast<unsigned int>(m.GetInt("batchSize")));
  trainer->SetRandomFlips(!m.GetBool("noFlips"));
  trainer->SetSeed(m.GetSeed("seed"));
  trainer->SetLearningRateSchedule(m.Get("schedule"));
  trainer->SetMaximumValidationPatches(static_cast<unsigned int>(m.GetInt("validationPatches")));
  trainer->SetCheckpointPath(checkpoint);
  trainer->SetCheckpointInterval(static_cast<unsigned long>(m.GetInt("checkpointInterval")));
  trainer->SetLogPath(m.Get("log"));
  auto onEpoch = itk::CStyleCommand::New();
  onEpoch->SetConstCallback([](const itk::Object * caller, const itk::EventObject &, void *) {
    const auto & r = static_cast<const itk::VQVAETrainer *>(caller)->GetEpochRecords().back();
    std::cerr << "\n" << Describe(r) << std::endl;
  });
  onEpoch->SetCallback([](itk::Object * caller, const itk::EventObject &, void *) {
    const auto & r = static_cast<itk::VQVAETrainer *>(caller)->GetEpochRecords().back();
    std::cerr << "\n" << Describe(r) << std::endl;
  });
  trainer->AddObserver(itk::IterationEvent(), onEpoch);
  progress.Observe(trainer, 0.0, 1.0);
  std::cerr << "training on " << train->GetLargestPossibleRegion().GetSize()[2] << " patches of " << size[0] << " x "
            << size[1] << " px, validating on " << testSlices.size() << ", device " << model->GetDeviceInUse() << " ("
            << model->GetPrecisionInUse()
            << (model->GetDeviceInUse() == "cpu" ? ", " + itk::GetCPUInstructionSet() : "") << "), "
            << itk::MultiThreaderBase::GetGlobalDefaultNumberOfThreads() << " threads\n";
  trainer->Train();

  std::ostringstream summary;
  const auto &       records = trainer->GetEpochRecords();
  summary << "trained " << model->GetNumberOfTrainingSteps() << " steps of batch " << trainer->GetBatchSize() << " on "
          << trainSlices.size() << " patches of " << m.Get("input") << " (" << testSlices.size()
          << " validation patches), learning rate " << model->GetLearningRate() << ", data seed " << m.Get("seed");
  if (!records.empty())
    summary << "; last epoch: " << Describe(records.back());
  model->SetTrainingSummary(summary.str());
  if (!sm::cli::WriteTrainedModel(*model, output, progress, writes))
    return 0;
  if (!records.empty())
  {
    const auto & r = records.back();
    m.SetReturn("validationMSE", itk::MicrostructureTable::FormatNumber(r.ValidationReconstructionLoss));
    m.SetReturn("volumeFractionBias", itk::MicrostructureTable::FormatNumber(r.VolumeFractionBias));
    m.SetReturn("meanFreePathBias", itk::MicrostructureTable::FormatNumber(r.MeanFreePathBias));
    m.SetReturn("codesInUse", std::to_string(r.ValidationCodesInUse));
  }
  return 0;
}
} // namespace

int
main(int argc, char * argv[])
{
  Module m("Train Microstructure VQ-VAE",
           "Microstructure",
           "Trains the VQ-VAE of Noguchi & Inoue, Phys. Rev. E 104, 025302 (2021) on a stack of micrograph patches "
           "(MicrostructurePatches). Patches of the table's test split (held out by sample) validate every epoch: "
           "reconstruction error, codebook use, and the bias of the reconstructions' volume fraction and mean free "
           "path. Checkpoints are written atomically; --resume continues a killed run exactly.");
  m.Group("Input/Output");
  m.AddPositional("image",
                  "input",
                  0,
                  "input",
                  "Patch stack",
                  "3D stack of patches (x, y = patch, z = patch index), e.g. patches.nrrd from MicrostructurePatches.");
  m.AddPositional("file", "output", 1, "output", "Model file", "The trained VQ-VAE model, e.g. vqvae.model.");
  m.Add("table",
        "table",
        "table",
        "",
        "Patch table",
        "Per-patch table written with the stack (MicrostructurePatches --outputTable): its split column selects "
        "training (train) and validation (test) patches.");
  m.Add("string-vector",
        "exclude",
        "exclude",
        "",
        "Exclude",
        "Conditions whose patches are left out of training and validation (e.g. a held-out condition): "
        "column=value, or column=value;column2=value2 for a combination.");
  m.Add("table",
        "log",
        "log",
        "",
        "Training log (CSV)",
        "One row per epoch: train and validation MSE, perplexity, codes in use, volume fraction and mean free "
        "path bias of reconstructions.")
    .channel = "output";
  m.Add(
     "file", "checkpoint", "checkpoint", "", "Checkpoint", "Checkpoint file (default: the output path + .checkpoint).")
    .channel = "output";
  m.Add("integer",
        "checkpointInterval",
        "checkpointInterval",
        "100",
        "Checkpoint interval (steps)",
        "Steps between checkpoints; 0 = none.")
    .minimum = "0";
  m.Add("boolean",
        "resume",
        "resume",
        "false",
        "Resume",
        "Continue from the checkpoint when it exists (same data and settings), else start anew.");
  m.Group("Training");
  m.Add("integer", "epochs", "epochs", "10", "Epochs", "Passes over the training patches (unless --steps).").minimum =
    "1";
  m.Add("integer", "steps", "steps", "0", "Steps", "Total optimisation steps; 0 = use --epochs.").minimum = "0";
  m.Add("integer", "batchSize", "batchSize", "64", "Batch size", "Patches per step (the paper: 64).").minimum = "2";
  m.Add("double", "learningRate", "learningRate", "0.0002", "Learning rate", "Adam's learning rate.");
  auto & schedule = m.Add("string-enumeration",
                          "schedule",
                          "schedule",
                          "constant",
                          "Learning-rate schedule",
                          "constant, or cosine: decay to 5 % of --learningRate over the run (better final quality "
                          "in a fixed budget).");
  schedule.elements = { "constant", "cosine" };
  m.AddSeed("seed", "1", "Seed", "Seed of the weights, data order and flips.");
  m.Add("boolean",
        "noFlips",
        "noFlips",
        "false",
        "No flips",
        "Do not flip patches at random (on by default: flips are free data for isotropic microstructures).");
  m.Add("integer",
        "validationPatches",
        "validationPatches",
        "512",
        "Validation patches",
        "At most this many test patches are reconstructed and measured per epoch; 0 = all.")
    .minimum = "0";
  m.Group("Network");
  m.Add("integer-vector",
        "encoderChannels",
        "encoderChannels",
        "32,64,128",
        "Encoder channels",
        "Output channels of the stride-2 convolutions (one per halving: 3 -> 16 x 16 maps for 128 x 128 patches).");
  auto & blocks = m.Add("integer", "residualBlocks", "residualBlocks", "2", "Residual blocks", "");
  blocks.minimum = "0";
  blocks.maximum = "64";
  // Index maps are 16-bit images: at most 65536 codes.
  auto & codes = m.Add("integer", "codebookSize", "codebookSize", "512", "Codebook size (K)", "At most 65536.");
  codes.minimum = "2";
  codes.maximum = "65536";
  auto & dimension = m.Add("integer", "codeDimension", "codeDimension", "128", "Code dimension (D)", "");
  dimension.minimum = "1";
  dimension.maximum = "4096";
  m.Add("double",
        "commitmentCost",
        "commitmentCost",
        "0.25",
        "Commitment cost (beta)",
        "0.25 with the EMA codebook; the paper uses 1.0 with --codebookUpdate loss.");
  auto & update = m.Add("string-enumeration",
                        "codebookUpdate",
                        "codebookUpdate",
                        "ema",
                        "Codebook update",
                        "ema (default): exponential moving average with dead-code restart, which keeps the whole "
                        "codebook in use; loss: the paper's codebook loss (measured: far fewer codes in use).");
  update.elements = { "ema", "loss" };
  m.Add("double", "emaDecay", "emaDecay", "0.99", "EMA decay", "ema only.");
  m.Add("double",
        "gradientLossWeight",
        "gradientLossWeight",
        "0",
        "Gradient loss weight",
        "Weight of an image-gradient term added to the MSE (0 = the paper): keeps grain boundaries sharp.");
  m.Add("double",
        "phaseLossWeight",
        "phaseLossWeight",
        "0",
        "Phase loss weight",
        "Weight of a phase-map term added to the MSE (0 = the paper): soft Otsu phase maps of reconstructions "
        "vs originals, so thin boundaries and small particles stay on the right side of the threshold.");
  m.Add("double",
        "phaseLossSoftness",
        "phaseLossSoftness",
        "0.05",
        "Phase loss softness",
        "Width of the soft threshold in [-1, 1] intensity units.");
  auto & phaseThreshold = m.Add("string-enumeration",
                                "phaseLossThreshold",
                                "phaseLossThreshold",
                                "original",
                                "Phase loss threshold",
                                "Where the reconstruction's soft phase map is taken: original (at the original's Otsu "
                                "threshold) or own (at the reconstruction's own Otsu threshold, as the measurement "
                                "binarizes a decoded image).");
  phaseThreshold.elements = { "original", "own" };
  m.Add("double",
        "histogramLossWeight",
        "histogramLossWeight",
        "0",
        "Histogram loss weight",
        "Weight of an intensity-histogram term added to the MSE (0 = the paper): the mean squared difference of "
        "sorted pixel values, so reconstructions keep the originals' grey-level distribution and Otsu threshold.");
  m.Add("double",
        "interfaceLossWeight",
        "interfaceLossWeight",
        "0",
        "Interface loss weight",
        "Weight of an interface-count term added to the MSE (0 = the paper): the squared relative difference of the "
        "soft phase maps' phase changes per pixel along rows and columns, so reconstructions keep the originals' "
        "number of boundaries, which the mean free path divides by.");
  sm::cli::AddTrainingComputeOptions(m);
  m.Group("Results", "Output scalars (for Slicer).");
  m.Add("double", "validationMSE", "validationMSE", "", "Validation MSE", "Last epoch.").channel = "output";
  m.Add("double",
        "volumeFractionBias",
        "volumeFractionBias",
        "",
        "Volume fraction bias (pp)",
        "Reconstructions minus originals.")
    .channel = "output";
  m.Add(
     "double", "meanFreePathBias", "meanFreePathBias", "", "Mean free path bias (%)", "Reconstructions vs originals.")
    .channel = "output";
  m.Add("integer", "codesInUse", "codesInUse", "", "Codes in use", "On the validation patches.").channel = "output";
  return sm::cli::Run(m, argc, argv, Body);
}
