/*=========================================================================
 *  MicrostructureGenerate (`generate`): new micrographs for a process
 *  condition, sampled from a trained prior and decoded by its VQ-VAE.
 *=========================================================================*/
#include "MicrostructureCLI.h"
#include "MicrostructureModelCLI.h"
#include "MicrostructureDataParallelCLI.h"
#include "itkConditionalMicrostructureImageSource.h"
#include "itkMicrostructureIO.h"
#include "itkMicrostructureTable.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

namespace
{
using sm::cli::Module;
using ImageType = itk::Image<unsigned char, 3>;
using IndexType = itk::Image<unsigned short, 3>;
using SourceType = itk::ConditionalMicrostructureImageSource<ImageType, IndexType>;

/** "a=1.5,b=air" -> {a: 1.5, b: air}; a malformed pair throws with an example. */
itk::PixelCNNPriorModel::Condition
ParseCondition(const std::vector<std::string> & pairs)
{
  itk::PixelCNNPriorModel::Condition c;
  for (const auto & pair : pairs)
  {
    const size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0)
    {
      throw std::invalid_argument("condition \"" + pair +
                                  "\" is not name=value: write e.g. --condition ln_cooling_rate=1.0986,cool_method=AR");
    }
    const std::string name = pair.substr(0, eq);
    if (c.count(name))
      throw std::invalid_argument("condition " + name + " is given twice");
    c[name] = pair.substr(eq + 1);
  }
  return c;
}

std::string
SchemaText(const itk::PixelCNNPriorModel & prior)
{
  std::string text;
  for (const auto & spec : prior.GetConditionSchema())
  {
    text += "  " + spec.Name + ": ";
    if (spec.Categorical)
    {
      for (size_t i = 0; i < spec.Categories.size(); ++i)
        text += (i ? " | " : "") + spec.Categories[i];
    }
    else
    {
      text += "number, trained on " + itk::MicrostructureTable::FormatNumber(spec.Minimum) + " .. " +
              itk::MicrostructureTable::FormatNumber(spec.Maximum);
    }
    text += "\n";
  }
  return text.empty() ? "  (none: the prior is unconditional)\n" : text;
}

/** Generation shared by the processes of a data-parallel job: process r of W draws the samples of
 * batches [B r / W, B (r + 1) / W) of the B batches (a sample depends on the seed, the batch size and
 * its index only, so the result is that of one process), and every process then receives the whole
 * stack and its index maps. */
std::pair<ImageType::Pointer, IndexType::Pointer>
GenerateShared(SourceType * source, itk::SizeValueType samples, itk::SizeValueType batchSize)
{
  const itk::SizeValueType world = itk::DataParallel::GetWorldSize(), rank = itk::DataParallel::GetRank();
  const itk::SizeValueType batches = (samples + batchSize - 1) / batchSize;
  const auto first = [&](itk::SizeValueType r) { return std::min(samples, batches * r / world * batchSize); };
  source->UpdateOutputInformation();
  ImageType * images = source->GetOutput();
  IndexType * maps = source->GetIndexMaps();
  const auto  imageRegion = images->GetLargestPossibleRegion();
  const auto  mapRegion = maps->GetLargestPossibleRegion();
  const auto  imageSlice = imageRegion.GetSize(0) * imageRegion.GetSize(1);
  const auto  mapSlice = mapRegion.GetSize(0) * mapRegion.GetSize(1);

  // This process's samples: their pixels, then their index maps.
  std::vector<unsigned char> mine;
  const itk::SizeValueType   z0 = first(rank), z1 = first(rank + 1);
  if (z1 > z0)
  {
    auto region = imageRegion;
    region.SetIndex(2, static_cast<itk::IndexValueType>(z0));
    region.SetSize(2, z1 - z0);
    images->SetRequestedRegion(region);
    images->Update();
    const auto at = [](const auto * image, itk::SizeValueType z) {
      auto index = image->GetBufferedRegion().GetIndex();
      index[2] = static_cast<itk::IndexValueType>(z);
      return image->GetBufferPointer() + image->ComputeOffset(index);
    };
    const auto * pixels = at(images, z0);
    const auto * indices = at(maps, z0);
    const size_t imageBytes = (z1 - z0) * imageSlice * sizeof(ImageType::PixelType);
    const size_t mapBytes = (z1 - z0) * mapSlice * sizeof(IndexType::PixelType);
    mine.resize(imageBytes + mapBytes);
    std::memcpy(mine.data(), pixels, imageBytes);
    std::memcpy(mine.data() + imageBytes, indices, mapBytes);
  }
  const auto pieces = itk::DataParallel::AllGatherBytes(mine);

  auto all = ImageType::New();
  all->CopyInformation(images);
  all->SetRegions(imageRegion);
  all->Allocate();
  auto allMaps = IndexType::New();
  allMaps->CopyInformation(maps);
  allMaps->SetRegions(mapRegion);
  allMaps->Allocate();
  for (itk::SizeValueType r = 0; r < world; ++r)
  {
    const itk::SizeValueType n = first(r + 1) - first(r);
    const size_t             imageBytes = n * imageSlice * sizeof(ImageType::PixelType);
    if (pieces[r].size() != imageBytes + n * mapSlice * sizeof(IndexType::PixelType))
      throw std::runtime_error("process " + std::to_string(r) + " of the data-parallel job sent " +
                               std::to_string(pieces[r].size()) + " bytes of samples, not " +
                               std::to_string(imageBytes + n * mapSlice * sizeof(IndexType::PixelType)) +
                               ": start every process with the same arguments");
    if (n == 0)
      continue;
    std::memcpy(all->GetBufferPointer() + first(r) * imageSlice, pieces[r].data(), imageBytes);
    std::memcpy(allMaps->GetBufferPointer() + first(r) * mapSlice,
                pieces[r].data() + imageBytes,
                n * mapSlice * sizeof(IndexType::PixelType));
  }
  return { all, allMaps };
}

int
Body(Module & m)
{
  if (m.Get("vqvae").empty() || m.Get("prior").empty())
    throw std::invalid_argument("give both model files: --vqvae (MicrostructureTrainVQVAE) and --prior "
                                "(MicrostructureTrainPrior)");
  const std::string output = m.Get("output"), folder = m.Get("outputFolder");
  if (output.empty() && folder.empty())
    throw std::invalid_argument("give an output stack (e.g. generated.nrrd) or --outputFolder");
  // Started by torchrun, srun or a PyTorchJob (WORLD_SIZE > 1): the processes share the batches, and
  // rank 0 writes.
  const bool writes = sm::cli::JoinDataParallelJob("the outputs");
  if (writes && !output.empty())
    itk::CheckOutputPathWritable(output);
  for (const char * key : { "outputIndexMaps", "outputTable" })
    if (writes && !m.Get(key).empty())
      itk::CheckOutputPathWritable(m.Get(key));

  sm::cli::Progress progress("MicrostructureGenerate", "sampling the prior and decoding");
  auto              vqvae = itk::VQVAEModel::New();
  vqvae->SetDevice(m.Get("device"));
  vqvae->Read(m.Get("vqvae"));
  vqvae->SetInferenceBatchSize(static_cast<unsigned int>(m.GetInt("batchSize")));
  auto prior = itk::PixelCNNPriorModel::New();
  prior->SetDevice(m.Get("device"));
  prior->Read(m.Get("prior"));
  prior->SetInferenceBatchSize(static_cast<unsigned int>(m.GetInt("batchSize")));
  prior->SetSampler(m.Get("sampler"));
  prior->SetCompositionCandidates(
    static_cast<unsigned int>(m.GetInt("compositionCandidates"))); // 1..64: checked as parsed
  progress.Update(0.02);

  const auto condition = ParseCondition(m.GetList("condition"));
  try
  {
    prior->EncodeConditions({ condition }, 1);
  }
  catch (const itk::ExceptionObject & e)
  {
    throw std::invalid_argument(std::string(e.GetDescription()) + "\nThe prior's process parameters:\n" +
                                SchemaText(*prior));
  }

  auto source = SourceType::New();
  source->SetVQVAEModel(vqvae);
  source->SetPriorModel(prior);
  source->SetCondition(condition);
  source->SetNumberOfSamples(static_cast<itk::SizeValueType>(m.GetInt("samples")));
  const auto latent = m.GetList("latentSize");
  if (latent.size() != 2)
    throw std::invalid_argument("--latentSize takes width,height (e.g. 64,64), or 0,0 for the prior's training size");
  source->SetLatentSize({ { std::stoul(latent[0]), std::stoul(latent[1]) } });
  source->SetTemperature(m.GetDouble("temperature"));
  source->SetSeed(m.GetSeed("seed"));
  source->SetBatchSize(static_cast<itk::SizeValueType>(m.GetInt("batchSize")));
  progress.Observe(source, 0.02, 0.93);
  ImageType::Pointer images;
  IndexType::Pointer maps;
  if (itk::DataParallel::IsActive())
  {
    std::tie(images, maps) = GenerateShared(source,
                                            static_cast<itk::SizeValueType>(m.GetInt("samples")),
                                            static_cast<itk::SizeValueType>(m.GetInt("batchSize")));
  }
  else
  {
    source->Update();
    images = source->GetOutput();
    maps = source->GetIndexMaps();
  }
  if (!writes)
  {
    progress.End();
    return 0;
  }
  const auto size = images->GetLargestPossibleRegion().GetSize();
  if (!output.empty())
    itk::WriteImageAtomically(images.GetPointer(), output);
  if (!m.Get("outputIndexMaps").empty())
    itk::WriteImageAtomically(maps.GetPointer(), m.Get("outputIndexMaps"));
  if (!folder.empty())
  {
    std::filesystem::create_directories(folder);
    for (itk::SizeValueType k = 0; k < size[2]; ++k)
    {
      char name[32];
      std::snprintf(name, sizeof(name), "sample_%05lu.png", static_cast<unsigned long>(k));
      itk::WriteImageAtomically(sm::cli::ExtractSlice(images.GetPointer(), k).GetPointer(),
                                (std::filesystem::path(folder) / name).string());
    }
  }
  if (!m.Get("outputTable").empty())
  {
    // One row per sample, in MicrostructurePatches' layout, so MicrostructureMeasure --groupBy works.
    itk::MicrostructureTable table;
    table.AddColumn("patch");
    table.AddColumn("um_per_px");
    table.AddColumn("seed");
    for (const auto & kv : condition)
      table.AddColumn(kv.first);
    for (itk::SizeValueType k = 0; k < size[2]; ++k)
    {
      std::vector<std::string> row{ std::to_string(k),
                                    itk::MicrostructureTable::FormatNumber(images->GetSpacing()[0]),
                                    m.Get("seed") };
      for (const auto & kv : condition)
        row.push_back(kv.second);
      table.AddRow(row);
    }
    table.Write(m.Get("outputTable"));
  }
  progress.End();
  std::cerr << "generated " << size[2] << " micrographs of " << size[0] << " x " << size[1] << " px ("
            << images->GetSpacing()[0] << " um/px)\n";
  return 0;
}
} // namespace

int
main(int argc, char * argv[])
{
  Module m("Generate Microstructures",
           "Microstructure",
           "Generates new micrographs for a process condition (Noguchi & Inoue, Phys. Rev. E 104, 025302, 2021): "
           "index maps sampled from a conditional PixelCNN prior (MicrostructureTrainPrior), decoded by its VQ-VAE "
           "(MicrostructureTrainVQVAE). Any number of samples and any field of view (--latentSize); same seed, same "
           "micrographs.");
  m.Group("Input/Output");
  m.AddPositional("image",
                  "output",
                  0,
                  "output",
                  "Generated stack",
                  "3D stack of the generated micrographs (8-bit), e.g. generated.nrrd; optional with --outputFolder.")
    .required = false;
  m.Add("file", "vqvae", "vqvae", "", "VQ-VAE model", "Model file written by MicrostructureTrainVQVAE.");
  m.Add("file", "prior", "prior", "", "Prior model", "Model file written by MicrostructureTrainPrior.");
  m.Add("image", "outputIndexMaps", "outputIndexMaps", "", "Index maps", "The sampled index maps (16-bit stack).")
    .channel = "output";
  m.Add("directory",
        "outputFolder",
        "outputFolder",
        "",
        "One file per sample",
        "Also write every micrograph as FOLDER/sample_NNNNN.png.")
    .channel = "output";
  m.Add("table",
        "outputTable",
        "outputTable",
        "",
        "Sample table (CSV)",
        "One row per sample with the condition, for MicrostructureMeasure --table --groupBy.")
    .channel = "output";
  m.Group("Condition");
  m.Add("string-vector",
        "condition",
        "condition",
        "",
        "Process condition",
        "Every process parameter of the prior as name=value, comma-separated, e.g. "
        "ln_cooling_rate=1.0986 (a continuous value outside the trained range is an extrapolation: warned).");
  m.Group("Sampling");
  m.Add("integer", "samples", "samples", "16", "Samples", "Number of micrographs to generate.").minimum = "1";
  m.Add("integer-vector",
        "latentSize",
        "latentSize",
        "0,0",
        "Latent size",
        "Index-map width,height; 0,0 = the prior's training size (16,16 -> 128 x 128 px for the paper's networks). "
        "Larger maps give larger fields of view.");
  m.Add("double", "temperature", "temperature", "1.0", "Temperature", "Softmax temperature; 1 = the model.");
  m.AddSeed("seed", "1", "Seed", "Same seed, same micrographs.");
  auto & sampler =
    m.Add("string-enumeration",
          "sampler",
          "sampler",
          "incremental",
          "Sampler",
          "incremental (cached, fast) or naive (the paper's full recomputation per index; same samples).");
  sampler.elements = { "incremental", "naive" };
  auto & candidates = m.Add("integer",
                            "compositionCandidates",
                            "compositionCandidates",
                            "1",
                            "Composition candidates",
                            "For a prior with a composition level: maps drawn per map kept, all given the same drawn "
                            "composition; the one whose own composition lies nearest it is kept (not in the paper; "
                            "1 = the network's own draw, C times the cost). Without the level: no effect.");
  candidates.minimum = "1";
  candidates.maximum = "64";
  m.Group("Compute");
  m.Add("integer", "batchSize", "batchSize", "64", "Batch size", "Samples drawn and decoded together.").minimum = "1";
  sm::cli::AddDeviceOption(m);
  return sm::cli::Run(m, argc, argv, Body);
}
