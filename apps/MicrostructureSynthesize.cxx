/*=========================================================================
 *  MicrostructureSynthesize (`synthesize`): synthetic ferrite-pearlite
 *  optical micrographs for given cooling rates, each with its ground-truth
 *  phase map, written as a dataset (images/, phase_maps/, micrographs.csv) or
 *  as one image (-o). The model: itk::SyntheticMicrostructureImageSource.
 *=========================================================================*/
#include "MicrostructureCLI.h"
#include "itkMicrostructureDescriptorsImageFilter.h"
#include "itkMicrostructureIO.h"
#include "itkMicrostructureTable.h"
#include "itkSyntheticMicrostructureImageSource.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace
{
using sm::cli::Module;
using ImageType = itk::Image<unsigned char, 2>;
using SourceType = itk::SyntheticMicrostructureImageSource<ImageType>;

void
Declare(Module & m)
{
  m.Group("Output");
  auto & dir = m.AddPositional(
    "directory",
    "outputDirectory",
    0,
    "output",
    "Dataset folder",
    "Folder for a dataset: images/*.png (micrographs), phase_maps/*.png (labels 0 = "
    "pearlite, 1 = ferrite, 2 = grain boundary) and micrographs.csv (one row per "
    "micrograph). Not needed with --output, and not written then (Slicer always fills it: pick any folder).");
  dir.required = false;
  auto & out = m.Add("image",
                     "output",
                     "output",
                     "",
                     "Single micrograph",
                     "Write one micrograph for --coolingRate instead of a dataset (PNG, TIFF, NRRD, ...).");
  out.channel = "output";
  out.flag = "o";
  m.Add("image",
        "outputPhaseMap",
        "outputPhaseMap",
        "",
        "Single phase map",
        "With --output: also write its ground-truth phase map (0 pearlite, 1 ferrite, 2 grain boundary).")
    .channel = "output";
  m.Group("Process",
          "Cooling rates (degC/s); the model is calibrated at 1, 3, 10 and 30 degC/s and interpolated "
          "in between.");
  m.Add("float-vector",
        "coolingRates",
        "coolingRates",
        "1,3,10,30",
        "Cooling rates (degC/s)",
        "Dataset: comma-separated cooling rates, each in [0.01, 1000] (outside 1..30 is an extrapolation).");
  auto & perRate = m.Add(
    "integer", "imagesPerRate", "imagesPerRate", "4", "Images per rate", "Dataset: micrographs per cooling rate.");
  perRate.minimum = "1";
  perRate.maximum = "10000";
  m.Add("double", "coolingRate", "coolingRate", "3", "Cooling rate (degC/s)", "With --output: its cooling rate.");
  m.Group("Image");
  m.Add("integer-vector", "size", "size", "1024,768", "Size (px)", "Width,height in pixels.");
  m.Add(
    "double", "spacing", "spacing", "0.34", "Pixel size (um)", "Micrometres per pixel (the calibration is at 0.34).");
  m.AddSeed("seed",
            "0",
            "Seed",
            "Random seed (0 to 2^64-1); the same seed gives the same images. Each dataset image gets its own seed "
            "(column seed), which regenerates it with --output --coolingRate RATE --seed SEED.");
  m.Group("Results", "Output scalars (for Slicer).");
  m.Add("integer", "numberOfImages", "numberOfImages", "", "Micrographs written", "").channel = "output";
}

/** The seed of image k of rate `rate` in a dataset made with seed `base` (independent of the order
 * of the rates). */
uint64_t
ImageSeed(uint64_t base, double rate, int k)
{
  uint64_t bits;
  std::memcpy(&bits, &rate, sizeof(bits));
  using itk::SyntheticMicrostructureDetail::Mix;
  return Mix(Mix(base, bits), static_cast<uint64_t>(k)) >> 12; // 52 bits: exact in a double, any CSV reader
}

SourceType::Pointer
MakeSource(double rate, const ImageType::SizeType & size, double spacing, uint64_t seed)
{
  auto src = SourceType::New();
  src->SetCoolingRate(rate);
  src->SetSize(size);
  src->SetSpacing(spacing);
  src->SetSeed(seed);
  src->UpdateOutputInformation(); // checks everything (throws) before anything is written
  return src;
}

int
Body(Module & m)
{
  namespace fs = std::filesystem;
  const auto sizeList = m.GetDoubleList("size");
  if (sizeList.size() != 2 || !(sizeList[0] >= 1 && sizeList[1] >= 1) || sizeList[0] != std::floor(sizeList[0]) ||
      sizeList[1] != std::floor(sizeList[1]) || sizeList[0] > 65536 || sizeList[1] > 65536)
  {
    throw std::invalid_argument("--size must be two positive integers width,height (e.g. 1024,768)");
  }
  ImageType::SizeType size = { { static_cast<itk::SizeValueType>(sizeList[0]),
                                 static_cast<itk::SizeValueType>(sizeList[1]) } };
  const double        spacing = m.GetDouble("spacing");
  if (!(spacing > 0) || !std::isfinite(spacing))
  {
    throw std::invalid_argument("--spacing must be a positive number of micrometres per pixel");
  }
  const uint64_t    seed = m.GetSeed("seed"); // exact: declared as a string, parsed without a double
  sm::cli::Progress progress("MicrostructureSynthesize", "Synthetic ferrite-pearlite micrographs");

  // One image.
  if (!m.Get("output").empty())
  {
    if (!m.Get("outputDirectory").empty())
    {
      // Slicer always fills the positional folder: with --output it is left alone.
      std::cerr << "one micrograph (--output): the dataset folder '" << m.Get("outputDirectory")
                << "' is not written\n";
    }
    auto src = MakeSource(m.GetDouble("coolingRate"), size, spacing, seed);
    itk::CheckOutputPathWritable(m.Get("output"));
    if (!m.Get("outputPhaseMap").empty())
    {
      itk::CheckOutputPathWritable(m.Get("outputPhaseMap"));
    }
    progress.Observe(src, 0.0, 0.9);
    src->Update();
    itk::WriteImageAtomically(src->GetOutput(), m.Get("output"));
    if (!m.Get("outputPhaseMap").empty())
    {
      itk::WriteImageAtomically(src->GetPhaseMapOutput(), m.Get("outputPhaseMap"));
    }
    m.SetReturn("numberOfImages", "1");
    progress.End();
    return 0;
  }

  // A dataset. Check every argument before writing anything.
  const std::string dir = m.Get("outputDirectory");
  if (dir.empty())
  {
    throw std::invalid_argument("give an output folder for a dataset, or --output FILE for one image");
  }
  const auto rates = m.GetDoubleList("coolingRates");
  if (rates.empty())
  {
    throw std::invalid_argument("--coolingRates is empty: give at least one rate, e.g. 1,3,10,30");
  }
  for (double r : rates)
  {
    MakeSource(r, size, spacing, 0); // throws with the reason for a bad rate
  }
  const long long perRate = m.GetInt("imagesPerRate");
  if (perRate < 1)
  {
    throw std::invalid_argument("--imagesPerRate must be at least 1");
  }
  if (fs::exists(dir / fs::path("micrographs.csv")))
  {
    std::cerr << "note: replacing the dataset in " << dir << "\n";
  }
  fs::create_directories(fs::path(dir) / "images");
  fs::create_directories(fs::path(dir) / "phase_maps");

  itk::MicrostructureTable table({ "file",
                                   "micrograph_id",
                                   "sample_id",
                                   "microconstituent",
                                   "um_per_px",
                                   "detector",
                                   "cooling_rate_C_per_s",
                                   "seed",
                                   "phase_map",
                                   "ferrite_fraction_true",
                                   "mean_free_path_true_um" });
  const double             total = static_cast<double>(rates.size() * perRate);
  int                      id = 0;
  for (double rate : rates)
  {
    for (long long k = 0; k < perRate; ++k, ++id)
    {
      const uint64_t s = ImageSeed(seed, rate, static_cast<int>(k));
      auto           src = MakeSource(rate, size, spacing, s);
      progress.Observe(src, id / total, 0.9 / total);
      src->Update();
      std::ostringstream name;
      name << "synthetic_" << itk::MicrostructureTable::FormatNumber(rate) << "Cps_" << std::setw(3)
           << std::setfill('0') << k;
      const std::string image = "images/" + name.str() + ".png";
      const std::string phase = "phase_maps/" + name.str() + "_phase.png";
      itk::WriteImageAtomically(src->GetOutput(), (fs::path(dir) / image).string());
      itk::WriteImageAtomically(src->GetPhaseMapOutput(), (fs::path(dir) / phase).string());
      // The truth of the whole image: ferrite (label 1) measured on the phase map.
      auto truth = itk::MicrostructureDescriptorsImageFilter<ImageType>::New();
      truth->SetInput(src->GetPhaseMapOutput());
      truth->SetForegroundValue(SourceType::FerriteLabel);
      truth->Update();
      table.AddRow({ image,
                     std::to_string(id + 1),
                     std::to_string(id + 1),
                     "ferrite+pearlite (synthetic)",
                     itk::MicrostructureTable::FormatNumber(spacing),
                     "optical (synthetic)",
                     itk::MicrostructureTable::FormatNumber(rate),
                     std::to_string(s),
                     phase,
                     itk::MicrostructureTable::FormatNumber(truth->GetVolumeFraction()),
                     itk::MicrostructureTable::FormatNumber(truth->GetMeanFreePathPhysical()) });
      progress.Update((id + 1) / total);
    }
  }
  table.Write((fs::path(dir) / "micrographs.csv").string());
  m.SetReturn("numberOfImages", std::to_string(id));
  progress.End();
  std::cerr << "wrote " << id << " micrographs and their phase maps to " << dir << " (micrographs.csv)\n";
  return 0;
}
} // namespace

int
main(int argc, char * argv[])
{
  Module m("Synthesize Microstructures",
           "Microstructure",
           "Synthetic optical micrographs of a ferrite (bright) / pearlite (dark) steel for given cooling rates, "
           "each with its ground-truth phase map: ferrite grains from Johnson-Mehl nucleation and growth, etched "
           "grain boundaries, pearlite where the ferrite has not grown, optical blur and noise. Calibrated at 0.34 "
           "um/px on 128x128 patches to the ferrite fraction and mean free path of Noguchi & Inoue (2021) at 1, 3, "
           "10 and 30 degC/s, and interpolated in between. Writes a dataset with its micrographs.csv, or one image.");
  Declare(m);
  return sm::cli::Run(m, argc, argv, Body);
}
