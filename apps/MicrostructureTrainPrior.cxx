/*=========================================================================
 *  MicrostructureTrainPrior (`train-prior`): trains the conditional gated
 *  PixelCNN prior of Noguchi & Inoue (2021) on the index maps a trained
 *  VQ-VAE gives for a patch stack (computed once and cached), conditioned on
 *  process parameters from the patch table; validation on the table's test
 *  split (by sample); per-epoch CSV log, checkpoints, --resume.
 *=========================================================================*/
#include "MicrostructureCLI.h"
#include "itkMicrostructureCodeStatistics.h"
#include "itkMicrostructureHash.h"
#include "itkMicrostructureIO.h"
#include "itkMicrostructureTable.h"
#include "itkFlipImageFilter.h"
#include "itkPixelCNNPriorTrainer.h"
#include "itkMicrostructureStackMeasurement.h"
#include "itkOtsuPhaseSegmentationImageFilter.h"
#include "itkVQDecodeImageFilter.h"
#include "itkVQEncodeImageFilter.h"

#include <algorithm>
#include <memory>
#include <numeric>
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

/** The stack and its mirror images, 4 N slices: 0..N-1 as given, then flipped left-right,
 * top-bottom, and both (itk::FlipImageFilter). */
ByteStackType::Pointer
WithMirrorImages(const ByteStackType * stack)
{
  const auto            size = stack->GetLargestPossibleRegion().GetSize();
  const size_t          count = size[0] * size[1] * size[2];
  auto                  out = ByteStackType::New();
  ByteStackType::SizeType outSize = size;
  outSize[2] *= 4;
  out->SetRegions(ByteStackType::RegionType(outSize));
  out->SetSpacing(stack->GetSpacing());
  out->Allocate();
  std::copy_n(stack->GetBufferPointer(), count, out->GetBufferPointer());
  const bool axes[3][2] = { { true, false }, { false, true }, { true, true } };
  for (int k = 0; k < 3; ++k)
  {
    auto flip = itk::FlipImageFilter<ByteStackType>::New();
    flip->SetInput(stack);
    itk::FixedArray<bool, 3> flipAxes;
    flipAxes[0] = axes[k][0];
    flipAxes[1] = axes[k][1];
    flipAxes[2] = false;
    flip->SetFlipAxes(flipAxes);
    flip->Update();
    std::copy_n(flip->GetOutput()->GetBufferPointer(), count, out->GetBufferPointer() + (k + 1) * count);
  }
  return out;
}

/** The index maps of the stack (with --mirrors: of the stack and its mirror images, 4 N maps)
 * under the VQ-VAE, from the cache when it was made from the same two files and the same
 * choice, else encoded and cached. */
MapType::Pointer
IndexMaps(const std::string & stackPath, const std::string & vqvaePath, const std::string & cachePath, bool mirrors,
          sm::cli::Progress & progress)
{
  std::ostringstream key;
  key << "stack " << FileFingerprint(stackPath) << " vqvae " << FileFingerprint(vqvaePath);
  if (mirrors)
    key << " mirrors";
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
  if (mirrors)
    stack = WithMirrorImages(stack);
  auto encode = itk::VQEncodeImageFilter<ByteStackType, MapType>::New();
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

/** Per patch of a stack, the named statistics (volume_fraction, mean_free_path: pixels, both line
 * directions, ASTM half count at the edge), measured as MicrostructureMeasure does (Otsu per patch);
 * count x names.size() values, row-major. */
std::vector<double>
PatchStatistics(const ByteStackType * stack, bool dark, const std::vector<std::string> & names)
{
  using MeasureType = itk::MicrostructureStackMeasurement<ByteStackType>;
  auto measure = MeasureType::New();
  measure->SetInput(stack);
  measure->SetForegroundPhase(dark ? MeasureType::ForegroundPhaseEnum::Dark : MeasureType::ForegroundPhaseEnum::Bright);
  measure->Update();
  std::vector<double> v;
  for (const auto & r : measure->GetMeasurements())
    for (const auto & name : names)
      v.push_back(name == "volume_fraction" ? r.VolumeFraction : r.MeanFreePath);
  return v;
}

/** The named statistics (PatchStatistics) of the patches that maps (count x h x w) decode to. */
std::vector<double>
DecodedStatistics(const itk::VQVAEModel * vqvae, const int32_t * maps, unsigned int count, unsigned int h,
                  unsigned int w, bool dark, const std::vector<std::string> & names)
{
  auto              stack = MapType::New();
  MapType::SizeType size = { { w, h, count } };
  stack->SetRegions(MapType::RegionType(size));
  stack->Allocate();
  std::copy_n(maps, static_cast<size_t>(count) * h * w, stack->GetBufferPointer());
  auto decode = itk::VQDecodeImageFilter<MapType, ByteStackType>::New();
  decode->SetInput(stack);
  decode->SetModel(const_cast<itk::VQVAEModel *>(vqvae));
  decode->Update();
  return PatchStatistics(decode->GetOutput(), dark, names);
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
  const auto meanStatistics = m.GetList("calibrationMeanStatistics");
  for (const auto & name : meanStatistics)
    if (name != "volume_fraction" && name != "mean_free_path")
      throw std::invalid_argument("--calibrationMeanStatistics holds \"" + name +
                                  "\": give volume_fraction and/or mean_free_path (comma-separated), or nothing");
  const auto termStatistics = m.GetList("calibrationMeanTermStatistics");
  for (const auto & name : termStatistics)
    if (std::find(meanStatistics.begin(), meanStatistics.end(), name) == meanStatistics.end())
      throw std::invalid_argument("--calibrationMeanTermStatistics holds \"" + name +
                                  "\", which is not one of --calibrationMeanStatistics: give a subset of those");
  std::string checkpoint = m.Get("checkpoint");
  if (checkpoint.empty())
    checkpoint = output + ".checkpoint";
  std::string cache = m.Get("cache");
  if (cache.empty())
    cache = output + ".maps.nrrd";

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
      throw std::invalid_argument("the table " + m.Get("table") + " has no column \"" + c.source +
                                  "\": give process-parameter columns that MicrostructurePatches copied (--conditions)");
  if (!table.HasColumn("split"))
    throw std::invalid_argument("the table has no \"split\" column: make it with MicrostructurePatches");
  // --exclude: rows left out of training and validation (e.g. a held-out condition).
  const sm::cli::RowExclusion exclude(m.GetList("exclude"), table);

  const bool   mirrors = m.GetBool("mirrors");
  const size_t copies = mirrors ? 4 : 1;
  auto         maps = IndexMaps(m.Get("input"), m.Get("vqvae"), cache, mirrors, progress);
  const auto   size = maps->GetLargestPossibleRegion().GetSize();
  if (table.GetNumberOfRows() * copies != size[2])
    throw std::invalid_argument("the table has " + std::to_string(table.GetNumberOfRows()) + " rows but the stack " +
                                std::to_string(size[2] / copies) + " patches: give the table written with this stack");

  std::vector<size_t>           trainRows, testRows;
  std::vector<Prior::Condition> trainConditions, testConditions;
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
    if (test)
    {
      testRows.push_back(i); // validation on the patches as they are
      testConditions.push_back(c);
    }
    else
    {
      for (size_t k = 0; k < copies; ++k) // with --mirrors, also their mirror images
      {
        trainRows.push_back(i + k * table.GetNumberOfRows());
        trainConditions.push_back(c);
      }
      for (const auto & kv : c)
        trainValues[kv.first].push_back(kv.second);
    }
  }
  if (trainRows.empty())
    throw std::invalid_argument("no training patches left (split train, not excluded)");
  // The training maps, selected once: for the trainer, the composition level and the calibration.
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
    prior->Read(checkpoint);
    if (!prior->GetHasTrainingState())
      throw std::invalid_argument(checkpoint + " is a model file without training state: it cannot be resumed");
    std::cerr << "resuming " << checkpoint << " at step " << prior->GetNumberOfTrainingSteps() << "\n";
    // The network of a checkpoint cannot change: an architecture option given now must be the checkpoint's.
    const auto & hp = prior->GetHyperparameters();
    std::string  dilations;
    for (const auto d : hp.Dilations)
      dilations += (dilations.empty() ? "" : ",") + std::to_string(d);
    const std::vector<std::pair<std::string, std::string>> architecture = {
      { "layers", std::to_string(hp.NumberOfLayers) },
      { "hiddenChannels", std::to_string(hp.HiddenChannels) },
      { "embeddingDimension", std::to_string(hp.EmbeddingDimension) },
      { "firstKernelSize", std::to_string(hp.FirstKernelSize) },
      { "kernelSize", std::to_string(hp.KernelSize) },
      { "outputHiddenChannels", std::to_string(hp.OutputHiddenChannels) },
      { "dilations", dilations }
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
    h.EmbeddingDimension = static_cast<unsigned int>(m.GetInt("embeddingDimension"));
    h.HiddenChannels = static_cast<unsigned int>(m.GetInt("hiddenChannels"));
    h.NumberOfLayers = static_cast<unsigned int>(m.GetInt("layers"));
    h.FirstKernelSize = static_cast<unsigned int>(m.GetInt("firstKernelSize"));
    h.KernelSize = static_cast<unsigned int>(m.GetInt("kernelSize"));
    h.OutputHiddenChannels = static_cast<unsigned int>(m.GetInt("outputHiddenChannels"));
    for (const auto & d : m.GetList("dilations"))
    {
      if (d.empty() || d.find_first_not_of("0123456789") != std::string::npos || d.size() > 2)
        throw std::invalid_argument("--dilations " + m.Get("dilations") +
                                    ": give whole numbers 1..64 separated by commas, e.g. 1,2,4,8");
      h.Dilations.push_back(static_cast<unsigned int>(std::stoul(d)));
    }
    prior->SetHyperparameters(h);
    // Continuous parameters: normalisation and trained range from the training rows. Categorical
    // ones: every category of the table (also those only in the test split or held out), so
    // validation and generation can name them; a category never trained on keeps its initial
    // (untrained) bias.
    // --conditionExponentials name:rate,..: the terms exp(rate x) of continuous parameters.
    std::map<std::string, std::vector<double>> rates;
    for (const auto & entry : m.GetList("conditionExponentials"))
    {
      const auto colon = entry.rfind(':');
      const std::string name = colon == std::string::npos ? entry : entry.substr(0, colon);
      const bool known = std::any_of(columns.begin(), columns.end(),
                                     [&](const Column & c) { return !c.categorical && c.name == name; });
      size_t end = 0;
      double rate = 0.0;
      try
      {
        rate = colon == std::string::npos ? 0.0 : std::stod(entry.substr(colon + 1), &end);
      }
      catch (const std::exception &)
      {
        end = 0;
      }
      if (colon == std::string::npos || !known || end == 0 || end != entry.size() - colon - 1)
        throw std::invalid_argument("--conditionExponentials " + entry +
                                    " is not parameter:rate with a continuous parameter of this prior (as named "
                                    "here, e.g. ln_cooling_rate_C_per_s:-1 for 1 / cooling rate)");
      rates[name].push_back(rate);
    }
    Prior::ConditionSchema schema;
    for (const auto & col : columns)
    {
      if (col.categorical)
        schema.push_back(Prior::LearnCategoricalCondition(col.name, table.GetColumn(col.source)));
      else
        schema.push_back(Prior::LearnCondition(col.name, trainValues[col.name], false,
                                               static_cast<unsigned int>(m.GetInt("conditionDegree")), rates[col.name],
                                               !m.GetBool("conditionExponentialsCalibrationOnly")));
    }
    prior->SetConditionSchema(schema);
    if (m.Get("compositionLevel") != "none")
    {
      // The top level: each map's share of the bright phase, from its codes' own shares measured on
      // the training patches (Otsu per patch).
      const auto   patches = itk::ReadScalarImage<ByteStackType>(m.Get("input"));
      const bool interfaces = m.Get("compositionLevel") == "phase_interface";
      const auto code = itk::ComputeMicrostructureCodeStatistics(patches.GetPointer(), maps.GetPointer(), trainRows,
                                                                 h.CodebookSize);
      std::vector<float> values; // K x L, a code's L values together
      for (unsigned int k = 0; k < h.CodebookSize; ++k)
      {
        values.push_back(static_cast<float>(code.ForegroundShare[k]));
        if (interfaces)
          values.push_back(static_cast<float>(code.InterfaceDensity[k]));
      }
      prior->SetCompositionLevel(values, interfaces ? 2 : 1, trainIndices.data(),
                                 static_cast<unsigned int>(trainRows.size()), static_cast<unsigned int>(size[1]),
                                 static_cast<unsigned int>(size[0]), trainConditions);
      const auto & s = prior->GetConditionSchema();
      std::cerr << "composition level: the share of the bright phase per map"
                << (interfaces ? " and its interface density" : "") << " (standardised)";
      if (!s.empty() && !s[0].Categorical)
        for (const double z : { s[0].Minimum, s[0].Maximum })
        {
          const auto top = prior->GetCompositionPrior({ { s[0].Name, itk::MicrostructureTable::FormatNumber(z) } });
          std::cerr << "; at " << s[0].Name << " = " << z << ": mean " << top.Mean[0] << ", sd " << top.StdDev[0];
        }
      std::cerr << "\n";
    }
    if (m.GetBool("compositionBudget") && m.Get("compositionLevel") == "none")
      throw std::invalid_argument("--compositionBudget needs --compositionLevel phase: the budget is the composition "
                                  "left to place of the map's drawn share");
    prior->SetCompositionBudget(m.GetBool("compositionBudget"));
    prior->SetSeed(std::stoull(m.Get("seed")));
    prior->Initialize();
    prior->SetVQVAEFingerprint(vqvaeFingerprint); // the VQ-VAE whose index maps it learns
  }
  const unsigned int levelCount = m.Get("compositionLevel") == "none" ? 0u : (m.Get("compositionLevel") == "phase" ? 1u : 2u);
  if (resume && prior->GetCompositionCount() != levelCount)
    throw std::invalid_argument("--compositionLevel " + m.Get("compositionLevel") + " differs from the checkpoint " +
                                checkpoint + " (a composition level of " + std::to_string(prior->GetCompositionCount()) +
                                " value(s) per map): resume with the setting it was trained with, or start anew "
                                "without --resume");
  if (resume && prior->GetCompositionBudget() != m.GetBool("compositionBudget"))
    throw std::invalid_argument(std::string("--compositionBudget ") + (m.GetBool("compositionBudget") ? "on" : "off") +
                                " differs from the checkpoint " + checkpoint +
                                ": resume with the setting it was trained with, or start anew without --resume");

  auto trainer = itk::PixelCNNPriorTrainer::New();
  trainer->SetModel(prior);
  trainer->SetTrainingMaps(trainMaps, trainConditions);
  if (!testRows.empty())
    trainer->SetValidationMaps(sm::cli::SelectSlices<MapType>(maps, testRows), testConditions);
  trainer->SetNumberOfEpochs(static_cast<unsigned int>(m.GetInt("epochs")));
  trainer->SetNumberOfSteps(static_cast<unsigned long>(m.GetInt("steps")));
  trainer->SetBatchSize(static_cast<unsigned int>(m.GetInt("batchSize")));
  trainer->SetSeed(std::stoull(m.Get("seed")));
  trainer->SetLearningRateSchedule(m.Get("schedule"));
  trainer->SetCheckpointPath(checkpoint);
  trainer->SetCheckpointInterval(static_cast<unsigned long>(m.GetInt("checkpointInterval")));
  trainer->SetLogPath(m.Get("log"));
  auto onEpoch = itk::CStyleCommand::New();
  onEpoch->SetCallback([](itk::Object * caller, const itk::EventObject &, void *) {
    const auto & r = static_cast<itk::PixelCNNPriorTrainer *>(caller)->GetEpochRecords().back();
    std::cerr << "\nepoch " << r.Epoch << " (step " << r.Step << ", " << static_cast<long>(r.Seconds)
              << " s): train " << r.TrainBitsPerIndex << " bits/index";
    if (r.ValidationMaps > 0)
      std::cerr << ", validation " << r.ValidationBitsPerIndex << " bits/index";
    std::cerr << std::endl;
  });
  trainer->AddObserver(itk::IterationEvent(), onEpoch);
  const auto calibrationSamples = static_cast<unsigned int>(m.GetInt("calibrationSamples"));
  progress.Observe(trainer, 0.1, calibrationSamples > 0 ? 0.75 : 0.9);
  std::cerr << "training the prior on " << trainRows.size() << " index maps of " << size[0] << " x " << size[1]
            << (mirrors ? " (patches and their mirror images)" : "") << " (" << testRows.size() << " validation, "
            << excluded << " excluded), conditions:";
  for (const auto & col : columns)
    std::cerr << ' ' << col.name;
  std::cerr << ", device " << prior->GetDeviceInUse() << " (" << prior->GetPrecisionInUse() << ")\n";
  trainer->Train();

  std::ostringstream summary;
  summary << "trained " << prior->GetNumberOfTrainingSteps() << " steps of batch " << trainer->GetBatchSize()
          << " (learning rate " << m.Get("learningRate") << ", " << trainer->GetLearningRateSchedule() << ") on "
          << trainRows.size() << " index maps of " << m.Get("input") << (mirrors ? " and its mirror images" : "")
          << " under " << m.Get("vqvae");
  if (!exclude.Empty())
    summary << ", excluding " << exclude.Describe();
  const auto & records = trainer->GetEpochRecords();
  if (!records.empty())
    summary << "; last validation " << records.back().ValidationBitsPerIndex << " bits/index";
  if (calibrationSamples > 0)
  {
    // The code frequencies of sampled maps matched to the training maps' at every training condition.
    Prior::CalibrationOptions options;
    options.SamplesPerCondition = calibrationSamples;
    options.Iterations = static_cast<unsigned int>(m.GetInt("calibrationRounds"));
    options.Seed = std::stoull(m.Get("seed"));
    options.Ridge = m.GetDouble("calibrationRidge");
    options.SpreadComponents = static_cast<unsigned int>(m.GetInt("calibrationSpread"));
    options.ProbeVariations = m.GetDoubleList("calibrationProbeVariations");
    const std::string statistic = m.Get("calibrationSpreadStatistic");
    const bool spreadByVolumeFraction = options.SpreadComponents > 0 && statistic == "volume_fraction";
    const bool tiltByContent = m.Get("calibrationTiltDirection") == "content";
    options.VariationInVariance = m.Get("calibrationTiltFit") == "variance";
    if (tiltByContent && !spreadByVolumeFraction)
      throw std::invalid_argument("--calibrationTiltDirection content directs the per-map tilt by the codes' share of the "
                                  "phase: give it with --calibrationSpread 1 --calibrationSpreadStatistic volume_fraction");
    if (spreadByVolumeFraction || !meanStatistics.empty())
    {
      // What the study measures, on the decoded maps against the training patches themselves (so
      // that the VQ-VAE's own bias and loss of variance are made up too); mirror images (row + k N)
      // have their patch's statistics.
      const bool dark = m.Get("calibrationForeground") == "dark";
      itk::VQVAEModel::Pointer decoder = itk::VQVAEModel::New();
      decoder->SetDevice(m.Get("device"));
      decoder->Read(m.Get("vqvae"));
      // Every statistic either calibration uses, measured once per set of maps: the patches once,
      // and each sampling's maps decoded once for both (the calibration asks for the spread's and
      // the means' statistics of the same maps in turn; the last maps and their values are kept).
      std::vector<std::string> names = meanStatistics;
      if (spreadByVolumeFraction && std::find(names.begin(), names.end(), "volume_fraction") == names.end())
        names.push_back("volume_fraction");
      const size_t all = names.size();
      struct Decoded
      {
        std::vector<int32_t> maps;
        unsigned int         h{ 0 }, w{ 0 };
        std::vector<double>  values; // maps x all
      };
      auto last = std::make_shared<Decoded>();
      auto decoded = [decoder, dark, names, last](const int32_t * maps, unsigned int count, unsigned int h,
                                                  unsigned int w) -> const std::vector<double> & {
        const size_t length = static_cast<size_t>(count) * h * w;
        if (last->h != h || last->w != w || last->maps.size() != length || !std::equal(maps, maps + length, last->maps.begin()))
        {
          last->values = DecodedStatistics(decoder, maps, count, h, w, dark, names);
          last->maps.assign(maps, maps + length);
          last->h = h, last->w = w;
        }
        return last->values;
      };
      // Columns `which` of a maps x all table, row-major.
      auto columns = [all](const std::vector<double> & table, const std::vector<size_t> & which, size_t row) {
        std::vector<double> v;
        for (const size_t c : which)
          v.push_back(table[row * all + c]);
        return v;
      };
      auto select = [columns](const std::vector<double> & table, const std::vector<size_t> & which, size_t rows) {
        std::vector<double> v;
        for (size_t r = 0; r < rows; ++r)
        {
          const auto row = columns(table, which, r);
          v.insert(v.end(), row.begin(), row.end());
        }
        return v;
      };
      const auto   patches = itk::ReadScalarImage<ByteStackType>(m.Get("input"));
      const auto   real = PatchStatistics(patches, dark, names);
      const size_t N = table.GetNumberOfRows();
      std::vector<size_t> meanColumns(meanStatistics.size());
      std::iota(meanColumns.begin(), meanColumns.end(), size_t{ 0 });
      if (spreadByVolumeFraction)
      {
        const std::vector<size_t> vf{ static_cast<size_t>(
          std::find(names.begin(), names.end(), "volume_fraction") - names.begin()) };
        for (const size_t row : trainRows)
          options.RealStatistic.push_back(columns(real, vf, row % N)[0]);
        options.MapStatistic = [decoded, select, vf](const int32_t * maps, unsigned int count, unsigned int h,
                                                     unsigned int w) { return select(decoded(maps, count, h, w), vf, count); };
        if (tiltByContent)
          options.CodeStatistic =
            itk::ComputeMicrostructureCodeStatistics(patches.GetPointer(), maps.GetPointer(), trainRows,
                                                     prior->GetHyperparameters().CodebookSize,
                                                     dark ? itk::OtsuPhaseSegmentationImageFilterEnums::ForegroundPhase::Dark
                                                          : itk::OtsuPhaseSegmentationImageFilterEnums::ForegroundPhase::Bright)
              .ForegroundShare;
      }
      if (!meanStatistics.empty())
      {
        for (const size_t row : trainRows)
        {
          const auto v = columns(real, meanColumns, row % N);
          options.RealMeanStatistics.insert(options.RealMeanStatistics.end(), v.begin(), v.end());
        }
        options.MeanStatistics = [decoded, select, meanColumns](const int32_t * maps, unsigned int count,
                                                               unsigned int h, unsigned int w) {
          return select(decoded(maps, count, h, w), meanColumns, count);
        };
        options.MeanRounds = static_cast<unsigned int>(m.GetInt("calibrationMeanRounds"));
        if (!termStatistics.empty())
          for (const auto & name : meanStatistics)
            options.MeanShiftFollowsTerms.push_back(std::find(termStatistics.begin(), termStatistics.end(), name) !=
                                                    termStatistics.end());
      }
    }
    const bool byVariation = options.SpreadComponents > 0; // the spread calibration: the per-map tilt
    prior->SetInferenceBatchSize(std::max(256u, prior->GetInferenceBatchSize())); // sampling: wide batches
    std::cerr << "calibrating the code frequencies: " << options.Iterations << " rounds of " << calibrationSamples
              << " sampled maps per training condition";
    if (byVariation)
      std::cerr << ", then the per-map tilt per condition that matches the maps' spread along "
                << options.SpreadComponents << " directions (" << options.ProbeVariations.size() + 1 << " probes)";
    std::cerr << "\n";
    const auto calibration = prior->CalibrateMarginals(
      trainIndices.data(), static_cast<unsigned int>(trainRows.size()), static_cast<unsigned int>(size[1]),
      static_cast<unsigned int>(size[0]), trainConditions, options,
      [&progress](double f) { progress.Update(0.85 + 0.15 * f); });
    // stage "probe": the spread calibration's samplings at each probe of the tilt (at the kept offsets,
    // after the rounds; a last round samples the calibrated model);
    // stage "round": the offsets' rounds (0 = before any offset), then the tilted model's;
    // stage "mean_probe" / "mean": the mean calibration's probes (the first without a shift) and
    // corrections, after the rounds; mean_difference_<statistic>: decoded sampled mean / patches' - 1.
    std::vector<std::string> columns{ "stage",        "round",     "condition",       "real_maps",
                                      "sampled_maps", "variation", "total_variation", "spread_ratio", "kept" };
    for (const auto & name : meanStatistics)
      columns.push_back("mean_difference_" + name);
    itk::MicrostructureTable table(columns);
    size_t trainConditionCount = 0; // distinct training conditions: one round-0 record each
    for (const auto & r : calibration)
      trainConditionCount += (!r.Probe && !r.Mean && r.Round == 0);
    unsigned int lastKept = 0;
    for (const auto & r : calibration)
      if (r.Kept && !r.Probe && !r.Mean)
        lastKept = std::max(lastKept, r.Round);
    // The records of the stored model: the tilt's last round; the mean calibration's last kept
    // correction (its unshifted probe when none was kept); the last kept round otherwise.
    std::vector<bool> stored(calibration.size(), false);
    for (size_t i = 0; i < calibration.size(); ++i)
      stored[i] = !calibration[i].Probe && !calibration[i].Mean && calibration[i].Round == lastKept;
    if (!byVariation && !meanStatistics.empty())
    {
      std::vector<size_t> unshifted, kept;
      for (size_t i = 0; i < calibration.size(); ++i)
      {
        const auto & r = calibration[i];
        if (r.Mean && r.Probe && unshifted.size() < trainConditionCount)
          unshifted.push_back(i);
        if (r.Mean && !r.Probe && r.Kept)
          kept.push_back(i);
      }
      if (kept.size() > trainConditionCount)
        kept.erase(kept.begin(), kept.end() - static_cast<std::ptrdiff_t>(trainConditionCount));
      std::fill(stored.begin(), stored.end(), false);
      for (const size_t i : kept.empty() ? unshifted : kept)
        stored[i] = true;
    }
    double before = 0.0, after = 0.0, spreadBefore = 0.0, spreadAfter = 0.0;
    size_t nBefore = 0, nAfter = 0;
    std::ostringstream tiltScales;
    std::vector<double> meanBefore(meanStatistics.size(), 0.0), meanAfter(meanStatistics.size(), 0.0);
    for (size_t i = 0; i < calibration.size(); ++i)
    {
      const auto &             r = calibration[i];
      std::vector<std::string> row{ r.Mean ? (r.Probe ? "mean_probe" : "mean") : (r.Probe ? "probe" : "round"),
                                    std::to_string(r.Round),
                                    r.Condition,
                                    std::to_string(r.RealMaps),
                                    std::to_string(r.SampledMaps),
                                    itk::MicrostructureTable::FormatNumber(r.Variation),
                                    itk::MicrostructureTable::FormatNumber(r.TotalVariation),
                                    std::isfinite(r.SpreadRatio) ? itk::MicrostructureTable::FormatNumber(r.SpreadRatio)
                                                                 : "",
                                    r.Kept ? "1" : "0" };
      for (size_t t = 0; t < meanStatistics.size(); ++t)
      {
        row.push_back(t < r.MeanDifference.size() ? itk::MicrostructureTable::FormatNumber(r.MeanDifference[t]) : "");
        // Before the mean calibration: the first round (the network with no offsets); after: the stored model.
        if (t < r.MeanDifference.size() && !r.Probe && !r.Mean && r.Round == 0)
          meanBefore[t] += std::abs(r.MeanDifference[t]) / trainConditionCount;
        if (t < r.MeanDifference.size() && stored[i])
          meanAfter[t] += std::abs(r.MeanDifference[t]) / trainConditionCount;
      }
      table.AddRow(row);
      // Before: the network as trained (round 0, which the tilt's rounds sample without the tilt).
      if (!r.Probe && r.Round == 0)
        before += r.TotalVariation, spreadBefore += r.SpreadRatio, ++nBefore;
      if (stored[i])
      {
        after += r.TotalVariation, spreadAfter += r.SpreadRatio, ++nAfter;
        tiltScales << (nAfter > 1 ? ", " : "") << r.Condition << ": "
                   << itk::MicrostructureTable::FormatNumber(std::round(r.Variation * 1000) / 1000);
      }
    }
    if (lastKept == 0)
      std::cerr << "the calibration matched no better than the network alone: none kept\n";
    std::ostringstream means;
    for (size_t t = 0; t < meanStatistics.size(); ++t)
      means << (t ? ", " : "") << meanStatistics[t] << " "
            << itk::MicrostructureTable::FormatNumber(std::round(meanBefore[t] * 1e4) / 100) << " % -> "
            << itk::MicrostructureTable::FormatNumber(std::round(meanAfter[t] * 1e4) / 100) << " %";
    if (!meanStatistics.empty())
      std::cerr << "decoded means against the training patches' (mean |relative difference| over the training "
                   "conditions), network alone -> calibrated: "
                << means.str() << "\n";
    if (!m.Get("calibrationLog").empty())
      table.Write(m.Get("calibrationLog"));
    std::cerr << "code-frequency total variation, mean over " << nBefore << " training conditions: "
              << before / nBefore << " before, " << after / nAfter << " after calibration\n";
    if (options.SpreadComponents > 0)
      std::cerr << "spread ratio (sampled / real variance along " << options.SpreadComponents
                << " directions), mean: " << spreadBefore / nBefore << " as trained, " << spreadAfter / nAfter
                << " calibrated; tilt scales " << tiltScales.str() << "\n";
    summary << "; code frequencies calibrated (" << options.Iterations << " rounds of " << calibrationSamples
            << " maps per condition; total variation " << itk::MicrostructureTable::FormatNumber(before / nBefore)
            << " -> " << itk::MicrostructureTable::FormatNumber(after / nAfter) << ")";
    if (options.SpreadComponents > 0)
      summary << "; per-map tilt per condition for the maps' spread along " << options.SpreadComponents
              << " directions (spread ratio " << itk::MicrostructureTable::FormatNumber(spreadBefore / nBefore)
              << " -> " << itk::MicrostructureTable::FormatNumber(spreadAfter / nAfter) << "; " << tiltScales.str()
              << ")";
    if (!meanStatistics.empty())
      summary << "; decoded means matched to the patches' (" << means.str() << ")";
  }
  prior->SetTrainingSummary(summary.str());
  prior->Write(output);
  progress.End();
  std::cerr << "wrote " << output << "\n";
  if (!records.empty())
    m.SetReturn("validationBitsPerIndex", itk::MicrostructureTable::FormatNumber(records.back().ValidationBitsPerIndex));
  return 0;
}
} // namespace

int
main(int argc, char * argv[])
{
  Module m("Train Microstructure Prior",
           "Microstructure",
           "Trains the conditional gated PixelCNN prior of Noguchi & Inoue, Phys. Rev. E 104, 025302 (2021) on the "
           "VQ-VAE index maps of a patch stack (encoded once and cached), conditioned on process parameters from the "
           "patch table. The table's test split (held out by sample) gives the validation log-likelihood. "
           "Checkpoints are written atomically; --resume continues a killed run exactly.");
  m.Group("Input/Output");
  m.AddPositional("image", "input", 0, "input", "Patch stack", "3D stack of 8-bit patches from MicrostructurePatches.");
  m.AddPositional("file", "output", 1, "output", "Prior model", "The trained prior, e.g. prior.model.");
  m.Add("file", "vqvae", "vqvae", "", "VQ-VAE model", "Model file written by MicrostructureTrainVQVAE.");
  m.Add("table", "table", "table", "", "Patch table",
        "Per-patch table written with the stack: process-parameter columns and the train/test split.");
  m.Add("file", "cache", "cache", "", "Index-map cache",
        "Where the encoded index maps are kept (default: output + .maps.nrrd); reused while the stack and the "
        "VQ-VAE are unchanged.")
    .channel = "output";
  m.Add("table", "log", "log", "", "Training log (CSV)", "One row per epoch: train and validation bits per index.")
    .channel = "output";
  m.Add("file", "checkpoint", "checkpoint", "", "Checkpoint", "Default: the output path + .checkpoint.")
    .channel = "output";
  m.Add("integer", "checkpointInterval", "checkpointInterval", "200", "Checkpoint interval (steps)", "0 = none.")
    .minimum = "0";
  m.Add("boolean", "resume", "resume", "false", "Resume", "Continue from the checkpoint when it exists.");
  m.Group("Conditions");
  m.Add("string-vector", "conditions", "conditions", "", "Continuous parameters",
        "Table columns used as they are, e.g. anneal_temperature_C.");
  m.Add("string-vector", "logConditions", "logConditions", "", "Log-scaled parameters",
        "Table columns whose natural logarithm is the parameter, named ln_<column> (the paper: ln cooling rate), "
        "e.g. cooling_rate_C_per_s -> ln_cooling_rate_C_per_s.");
  m.Add("string-vector", "categorical", "categorical", "", "Categorical parameters",
        "Table columns of categories (one-hot), e.g. cool_method.");
  auto & degree = m.Add("integer", "conditionDegree", "conditionDegree", "1", "Condition degree",
        "How each continuous parameter enters the network and the calibrations: 1 = linearly (the paper), 2 or 3 = "
        "as the powers z, z^2(, z^3) of its standardised value z (not in the paper), so that what the prior does "
        "bends between training values instead of following a straight line: with three training values, degree 2 "
        "fits the calibration at all three and interpolates an unseen value between them along a parabola. Needs "
        "degree + 1 distinct training values of every continuous parameter.");
  degree.minimum = "1";
  degree.maximum = "3";
  m.Add("string-vector", "conditionExponentials", "conditionExponentials", "", "Exponential terms",
        "parameter:rate entries: the continuous parameter x also enters as exp(rate x), standardised (not in the "
        "paper). For an ln_ parameter that is the column's value to the power rate: ln_cooling_rate_C_per_s:-1 adds "
        "1 / cooling rate, so the network's biases and the calibrations follow a + b ln(rate) + c / rate (a grain "
        "size that coarsens steeply at slow cooling and levels off at fast) instead of a line in ln(rate); "
        ":-0.5 adds the Hall-Petch-like rate^-1/2. Each term needs one more distinct training value. "
        "bench/condition_terms.py picks terms from the training conditions' real statistics.");
  m.Add("boolean", "conditionExponentialsCalibrationOnly", "conditionExponentialsCalibrationOnly", "false",
        "Exponential terms for the calibrations only",
        "The --conditionExponentials terms enter the calibrations (code-frequency offsets, spread, mean shifts) but "
        "not the network, which conditions on the parameters as without them.");
  m.Add("string-vector", "exclude", "exclude", "", "Exclude",
        "Conditions whose patches are left out (e.g. a held-out condition: cooling_rate_C_per_s=3; a "
        "combination: anneal_temperature_C=970;cool_method=Q).");
  m.Group("Training");
  m.Add("integer", "epochs", "epochs", "10", "Epochs", "Passes over the training maps (unless --steps).").minimum = "1";
  m.Add("integer", "steps", "steps", "0", "Steps", "Total optimisation steps; 0 = use --epochs.").minimum = "0";
  m.Add("integer", "batchSize", "batchSize", "64", "Batch size", "").minimum = "1";
  m.Add("double", "learningRate", "learningRate", "0.0003", "Learning rate", "Adam's learning rate.");
  auto & schedule = m.Add("string-enumeration", "schedule", "schedule", "constant", "Learning-rate schedule",
                          "constant, or cosine: decay to 5 % of --learningRate over the run (a smoother final "
                          "model in a fixed budget).");
  schedule.elements = { "constant", "cosine" };
  m.Add("boolean", "mirrors", "mirrors", "false", "Mirror images",
        "Also train on the index maps of every training patch mirrored left-right, top-bottom and both (4x the "
        "maps, encoded once and cached): more data for microstructures whose statistics do not change under "
        "mirroring (no rolling or growth direction). Validation uses the patches as they are.");
  auto & composition = m.Add("string-enumeration", "compositionLevel", "compositionLevel", "none", "Composition level",
                             "A two-level prior (not in the paper): each map's share of the bright phase (Otsu per "
                             "training patch, through the codes' own shares) drawn first from a normal distribution "
                             "whose mean and log sd are lines in the condition, then the map given it. Gives the maps "
                             "the patch-to-patch variation in composition that the network alone lacks. none: the "
                             "paper's prior. phase_interface: the share and the interface density per map (phase "
                             "changes between neighbouring pixels per pixel), drawn together, so that the maps' "
                             "spread of mean free path is modelled as well.");
  composition.elements = { "none", "phase", "phase_interface" };
  m.Add("boolean", "compositionBudget", "compositionBudget", "false", "Composition budget",
        "With --compositionLevel: every layer also sees, at each position, the composition left to place for "
        "the map to end at its drawn share (not in the paper), so that the maps' own shares follow the top "
        "level instead of drifting from it.");
  m.Add("string", "seed", "seed", "1", "Seed", "Seed of the weights, the data order and the calibration's samples.");
  m.Group("Calibration");
  m.Add("integer", "calibrationSamples", "calibrationSamples", "0", "Calibration samples per condition",
        "After training, match the code frequencies of sampled maps to those of the training maps at every "
        "training condition (per-code logit offsets, linear in the encoded condition, so unseen conditions are "
        "interpolated; not in the paper): maps sampled per condition and round, e.g. 200. 0 = no calibration.")
    .minimum = "0";
  m.Add("integer", "calibrationRounds", "calibrationRounds", "3", "Calibration rounds",
        "Rounds of sample, compare, correct.")
    .minimum = "1";
  m.Add("double", "calibrationRidge", "calibrationRidge", "0.001", "Calibration ridge",
        "Ridge weight on the offsets' slopes over the encoded condition (standardised units): small = offsets "
        "that follow the training conditions and interpolate between them, large (e.g. 1e9) = one offset for all "
        "conditions.")
    .minimum = "0";
  m.Add("integer", "calibrationSpread", "calibrationSpread", "0", "Spread calibration directions",
        "With --calibrationSamples, after the code frequencies (not in the paper): each map draws a tilt of its "
        "logits along the direction in which the training maps differ most, with a spread per condition (log of it "
        "linear in the encoded condition, so unseen conditions are interpolated) so that sampled maps vary from one "
        "to the next as much as the training maps along this many leading directions of their per-map code "
        "frequencies (or in --calibrationSpreadStatistic), e.g. 1. 0 = no tilt.")
    .minimum = "0";
  auto & spreadStatistic =
    m.Add("string-enumeration", "calibrationSpreadStatistic", "calibrationSpreadStatistic", "codes",
          "Spread statistic",
          "What the spread calibration matches the variance of: codes (the maps' code frequencies along their "
          "leading directions) or volume_fraction (the volume fraction of the decoded maps against that of the "
          "training patches, Otsu per patch; the tilt then follows it).");
  spreadStatistic.elements = { "codes", "volume_fraction" };
  auto & tiltDirection =
    m.Add("string-enumeration", "calibrationTiltDirection", "calibrationTiltDirection", "regression",
          "Tilt direction",
          "Which way the per-map tilt moves the code frequencies (with --calibrationSpreadStatistic "
          "volume_fraction): regression (per code, the slope of the training maps' frequency on their volume "
          "fraction over the code's frequency) or content (per code, the share of the phase in the patch pixels "
          "it stands for, centred: a strong tilt then favours the codes richest in the phase instead of rare codes "
          "whose slopes are noise, and the decoded volume fraction stays as skewed as the training patches').");
  tiltDirection.elements = { "regression", "content" };
  auto & tiltFit = m.Add("string-enumeration", "calibrationTiltFit", "calibrationTiltFit", "log", "Tilt fit",
                         "How the per-map tilt's spread s(c) is fitted over the conditions: log (log s(c) "
                         "linear in the encoded condition; a condition whose network alone varies enough gets a small "
                         "floor, which pulls s(c) down around it) or variance (s(c)^2 linear, 0 there).");
  tiltFit.elements = { "log", "variance" };
  auto & foreground = m.Add("string-enumeration", "calibrationForeground", "calibrationForeground", "bright",
                            "Spread phase", "The phase whose volume fraction --calibrationSpreadStatistic "
                                            "volume_fraction matches: bright (ferrite) or dark.");
  foreground.elements = { "bright", "dark" };
  m.Add("string-vector", "calibrationMeanStatistics", "calibrationMeanStatistics", "", "Mean statistics",
        "After the code frequencies (with --calibrationSamples > 0; not in the paper): shift the code frequencies "
        "along the directions in which the training patches differ in these statistics until the decoded sampled "
        "maps' means match the patches' at every training condition (linear in the encoded condition, so unseen "
        "conditions are interpolated): volume_fraction and/or mean_free_path, comma-separated. Empty = none. "
        "Matched code frequencies left the decoded mean free path 5-10 % coarser than the patches'.");
  m.Add("string-vector", "calibrationMeanTermStatistics", "calibrationMeanTermStatistics", "", "Mean term statistics",
        "Of --calibrationMeanStatistics, those whose shifts follow the --conditionExponentials terms over the "
        "conditions; the others' shifts are fitted without them (a line in ln rate, say). Empty = all follow them. "
        "E.g. mean_free_path: d_f follows 1 / rate, V_f ln rate (bench/condition_terms.py).");
  m.Add("integer", "calibrationMeanRounds", "calibrationMeanRounds", "2", "Mean rounds",
        "Newton corrections of the mean shifts after their probes (each samples the model once more).")
    .minimum = "1";
  m.Add("float-vector", "calibrationProbeVariations", "calibrationProbeVariations", "0.5,1,1.5", "Probe variations",
        "Tilt spreads sampled besides 0 to fit the per-map tilt, as multiples of the training maps' own.");
  m.Add("table", "calibrationLog", "calibrationLog", "", "Calibration log (CSV)",
        "Total variation between real and sampled code frequencies (and the spread ratio) per training "
        "condition, before and after each round and at each probe of the per-map tilt.")
    .channel = "output";
  m.Group("Network");
  m.Add("integer", "layers", "layers", "15", "Gated layers", "The paper: 15.").minimum = "1";
  m.Add("integer", "hiddenChannels", "hiddenChannels", "64", "Hidden channels", "").minimum = "1";
  m.Add("integer", "embeddingDimension", "embeddingDimension", "64", "Embedding dimension", "").minimum = "1";
  m.Add("integer", "firstKernelSize", "firstKernelSize", "7", "First kernel size", "Odd; mask A.").minimum = "3";
  m.Add("integer", "kernelSize", "kernelSize", "3", "Kernel size", "Odd; mask B.").minimum = "1";
  m.Add("integer", "outputHiddenChannels", "outputHiddenChannels", "512", "Head channels", "").minimum = "1";
  m.Add("integer-vector", "dilations", "dilations", "", "Dilations",
        "Dilations of layers 2..L, cycled, e.g. 1,2,4,8 (not in the paper; default: none): a wider receptive field "
        "at the same cost, for structure on the scale of the whole map.");
  m.Group("Compute");
  m.Add("string", "device", "device", "auto", "Device", "auto (CUDA when present), cpu or cuda:N.");
  auto & precision = m.Add("string-enumeration", "precision", "precision", "float32", "Precision",
                           "float32; bfloat16: mixed precision, convolutions in bfloat16 (loss, weights and Adam in "
                           "float32); auto: bfloat16 where the CPU has AVX512-BF16, float32 otherwise.");
  precision.elements = { "float32", "bfloat16", "auto" };
  m.Group("Results", "Output scalars (for Slicer).");
  m.Add("double", "validationBitsPerIndex", "validationBitsPerIndex", "", "Validation bits per index", "Last epoch.")
    .channel = "output";
  return sm::cli::Run(m, argc, argv, Body);
}
