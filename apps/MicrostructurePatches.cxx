/*=========================================================================
 *  MicrostructurePatches: a CSV of micrographs + process parameters ->
 *  a patch stack and a per-patch condition table, split by sample.
 *=========================================================================*/
#include "MicrostructureCLI.h"
#include "itkMicrostructureDataset.h"
#include "itkMicrostructureIO.h"

#include <filesystem>
#include <iostream>

namespace
{
using sm::cli::Module;

void
Declare(Module & m)
{
  m.Group("Input/Output");
  // A <file>, not a <table>: Slicer passes the path as chosen (a <table> would be copied into a
  // temporary folder first, where the relative paths of its file column no longer resolve).
  m.AddPositional("file",
                  "micrographs",
                  0,
                  "input",
                  "Micrographs (CSV)",
                  "One row per micrograph: a file column (relative to --imageFolder, by default the CSV's own "
                  "folder), its pixel size (um_per_px), its sample and its process parameters; e.g. "
                  "../shared/data/uhcs/micrographs.csv or the micrographs.csv of MicrostructureSynthesize. "
                  "Comma-separated, or tab-separated when the name ends in .tsv.")
    .fileExtensions = ".csv,.tsv";
  m.Add("image",
        "outputStack",
        "outputStack",
        "",
        "Patch stack",
        "3D image (x, y, patch), 8-bit, spacing = the patches' pixel size (e.g. patches.nrrd).")
    .channel = "output";
  m.Add("table",
        "outputTable",
        "outputTable",
        "",
        "Patch table (CSV)",
        "One row per patch: patch, file, sample_id, x, y, flipped, um_per_px, split (train/test), conditions.")
    .channel = "output";
  m.Group("Selection");
  m.Add("string-vector",
        "conditions",
        "conditions",
        "",
        "Condition columns",
        "Comma-separated columns copied to every patch (the process parameters), e.g. "
        "anneal_temperature_C,anneal_time_min,cool_method.");
  m.Add("string-vector",
        "where",
        "where",
        "",
        "Row filters",
        "Comma-separated column=value conditions a micrograph must meet, e.g. microconstituent=spheroidite.");
  m.Add("string-vector",
        "range",
        "range",
        "",
        "Numeric ranges",
        "Comma-separated column=min:max conditions (inclusive) a micrograph must meet, e.g. um_per_px=0.18:0.21 "
        "keeps one magnification.");
  m.Add("string", "fileColumn", "fileColumn", "file", "File column", "Column with the image paths.");
  m.Add("directory",
        "imageFolder",
        "imageFolder",
        "",
        "Image folder",
        "Folder the relative paths of the file column are relative to; empty = the CSV's own folder (give it when "
        "the CSV was copied away from its images).");
  m.Add("directory",
        "confineReads",
        "confineReads",
        "",
        "Confine reads to",
        "Refuse a micrograph (or the data file of a detached NRRD or MetaImage header) outside this folder, "
        "symbolic links and .. resolved, before reading any: for a table from elsewhere, whose file column could "
        "name ../.. or /etc/passwd. Usually the table's own folder; empty = no confinement.");
  m.Add("string",
        "sampleColumn",
        "sampleColumn",
        "sample_id",
        "Sample column",
        "Column naming the physical sample; the train/test split never separates a sample's micrographs. When "
        "absent, each micrograph is its own sample.");
  m.Add("string",
        "pixelSizeColumn",
        "pixelSizeColumn",
        "um_per_px",
        "Pixel size column",
        "Column with each micrograph's pixel size in micrometres.");
  auto & inputPixelSize =
    m.Add("double",
          "inputPixelSize",
          "inputPixelSize",
          "0",
          "Input pixel size (um)",
          "Pixel size of all micrographs, overriding the pixel size column; 0 = the column, or the files' own "
          "spacing when the table has no such column.");
  inputPixelSize.minimum = "0";
  inputPixelSize.maximum = "1000";
  inputPixelSize.step = "0.0001";
  m.Group("Patches");
  auto & pixelSize = m.Add("double",
                           "pixelSize",
                           "pixelSize",
                           "0",
                           "Target pixel size (um)",
                           "Resample every micrograph to this pixel size first, so patches cover the same physical "
                           "area; 0 = keep (then all micrographs must share one pixel size).");
  pixelSize.minimum = "0";
  pixelSize.maximum = "1000";
  pixelSize.step = "0.0001";
  m.Add("integer-vector", "patchSize", "patchSize", "128,128", "Patch size (px)", "Width,height of a patch.");
  m.Add("integer-vector", "stride", "stride", "0,0", "Stride (px)", "Distance between patches; 0 = patch size.");
  m.Add("boolean", "flip", "flip", "false", "Horizontal flip", "Add a left-right mirrored copy of every patch.");
  auto & maxPatches = m.Add("integer",
                            "maxPatchesPerImage",
                            "maxPatchesPerImage",
                            "0",
                            "Max patches per image",
                            "Keep at most this many patches of each micrograph (a seeded random subset); 0 = all.");
  maxPatches.minimum = "0";
  maxPatches.maximum = "100000";
  m.Group("Split");
  auto & tf = m.Add("double",
                    "testFraction",
                    "testFraction",
                    "0.2",
                    "Test fraction",
                    "Fraction of the samples (not patches) held out for testing.");
  tf.minimum = "0";
  tf.maximum = "0.99";
  tf.step = "0.01";
  m.AddSeed("seed", "1", "Seed", "Seed of the split and of the patch subsets.");
}

std::vector<unsigned int>
TwoInts(const Module & m, const std::string & name)
{
  const auto v = m.GetDoubleList(name);
  if (v.size() != 2 || v[0] < 0 || v[1] < 0)
  {
    throw std::invalid_argument("--" + name + " takes two whole numbers, e.g. 128,128");
  }
  return { static_cast<unsigned int>(v[0]), static_cast<unsigned int>(v[1]) };
}

/** A clear error, before any work, when none of the relative paths of the file column resolves
 * against `folder`: the CSV was moved or copied away from its images (as Slicer does with a <table>
 * input). A single missing file is the dataset's to report. */
void
CheckRelativePaths(const itk::MicrostructureTable & table, const std::string & column, const std::string & folder,
                   const std::string & input, bool folderIsTables)
{
  namespace fs = std::filesystem;
  if (!table.HasColumn(column))
  {
    return; // the dataset names the missing column
  }
  std::string first;
  for (std::size_t r = 0; r < table.GetNumberOfRows(); ++r)
  {
    const std::string & file = table.Get(r, column);
    if (file.empty() || fs::path(file).is_absolute())
    {
      continue;
    }
    std::error_code ec;
    if (fs::exists(fs::path(folder) / file, ec))
    {
      return;
    }
    first = first.empty() ? file : first;
  }
  if (!first.empty())
  {
    throw std::invalid_argument(
      "none of the relative paths of column '" + column + "' of " + input + " (e.g. '" + first + "') is in " +
      (folder.empty() ? std::string("the current folder") : "'" + folder + "'") +
      (folderIsTables ? ": they are relative to the CSV's own folder; when the CSV was copied away from its images, "
                        "give --imageFolder (the folder they are relative to) or absolute paths"
                      : " (--imageFolder): give the folder they are relative to"));
  }
}

int
Body(Module & m)
{
  const std::string input = m.Get("micrographs");
  const std::string outStack = m.Get("outputStack");
  const std::string outTable = m.Get("outputTable");
  if (outStack.empty() || outTable.empty())
  {
    throw std::invalid_argument("give both --outputStack (e.g. patches.nrrd) and --outputTable (e.g. patches.csv)");
  }
  itk::CheckOutputPathWritable(outStack);
  itk::CheckOutputPathWritable(outTable);

  itk::MicrostructureDataset::Options o;
  o.FileColumn = m.Get("fileColumn");
  o.ConfineReadsTo = m.Get("confineReads");
  o.TableName = input;
  o.SampleColumn = m.Get("sampleColumn");
  o.PixelSizeColumn = m.Get("pixelSizeColumn");
  o.InputPixelSize = m.GetDouble("inputPixelSize");
  o.TargetPixelSize = m.GetDouble("pixelSize");
  for (const auto & c : m.GetList("conditions"))
  {
    if (!c.empty())
    {
      o.ConditionColumns.push_back(c);
    }
  }
  for (const auto & w : m.GetList("where"))
  {
    const auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0)
    {
      throw std::invalid_argument("--where takes column=value conditions, not '" + w + "'");
    }
    o.Where.emplace_back(w.substr(0, eq), w.substr(eq + 1));
  }
  for (const auto & w : m.GetList("range"))
  {
    if (w.empty())
    {
      continue;
    }
    const auto  eq = w.find('=');
    const auto  colon = w.find(':', eq == std::string::npos ? 0 : eq);
    std::size_t used1 = 0, used2 = 0;
    double      lo = 0.0, hi = 0.0;
    bool        ok = eq != std::string::npos && eq > 0 && colon != std::string::npos;
    try
    {
      if (ok)
      {
        lo = std::stod(w.substr(eq + 1, colon - eq - 1), &used1);
        hi = std::stod(w.substr(colon + 1), &used2);
        ok = used1 == colon - eq - 1 && used2 == w.size() - colon - 1;
      }
    }
    catch (const std::exception &)
    {
      ok = false;
    }
    if (!ok)
    {
      throw std::invalid_argument("--range takes column=min:max conditions, e.g. um_per_px=0.18:0.21, not '" + w + "'");
    }
    o.Ranges.push_back({ w.substr(0, eq), lo, hi });
  }
  const auto ps = TwoInts(m, "patchSize");
  const auto st = TwoInts(m, "stride");
  o.PatchSize[0] = ps[0];
  o.PatchSize[1] = ps[1];
  o.Stride[0] = st[0];
  o.Stride[1] = st[1];
  o.HorizontalFlip = m.GetBool("flip");
  o.TestFraction = m.GetDouble("testFraction");
  o.Seed = m.GetSeed("seed");
  o.MaxPatchesPerImage = static_cast<unsigned int>(m.GetInt("maxPatchesPerImage"));

  const auto        table = itk::MicrostructureTable::Read(input);
  const std::string imageFolder =
    m.Get("imageFolder").empty() ? std::filesystem::path(input).parent_path().string() : m.Get("imageFolder");
  CheckRelativePaths(table, o.FileColumn, imageFolder, input, m.Get("imageFolder").empty());
  sm::cli::Progress          progress("MicrostructurePatches", "Cutting micrographs into patches");
  itk::MicrostructureDataset dataset;
  dataset.Build(table, imageFolder, o, [&progress](double f) { progress.Update(0.9 * f); });
  dataset.Write(outStack, outTable);
  progress.End();
  if (!dataset.GetSkippedMicrographs().empty())
  {
    std::cerr << "skipped " << dataset.GetSkippedMicrographs().size() << " micrographs smaller than one patch, e.g. "
              << dataset.GetSkippedMicrographs().front() << "\n";
  }
  std::cerr << dataset.GetPatchTable().GetNumberOfRows() << " patches from " << dataset.GetNumberOfMicrographs()
            << " micrographs; samples: " << dataset.GetNumberOfSamples("train") << " train, "
            << dataset.GetNumberOfSamples("test") << " test\n";
  m.SetReturn("numberOfPatches", std::to_string(dataset.GetPatchTable().GetNumberOfRows()));
  return 0;
}
} // namespace

int
main(int argc, char * argv[])
{
  Module m("Microstructure Patches",
           "Microstructure",
           "Turns a CSV of micrographs with their process parameters into a stack of patches (optionally resampled "
           "to one pixel size, flipped for augmentation) and a per-patch condition table, with a train/test split by "
           "sample (never by patch).");
  Declare(m);
  m.Group("Results", "Output scalars (for Slicer).");
  m.Add("integer", "numberOfPatches", "numberOfPatches", "", "Patches", "Number of patches written.").channel =
    "output";
  return sm::cli::Run(m, argc, argv, Body);
}
