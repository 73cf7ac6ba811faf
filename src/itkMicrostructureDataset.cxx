/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#include "itkMicrostructureDataset.h"
#include "itkMicrostructureIO.h"
#include "itkPatchExtractionImageFilter.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <set>

namespace itk
{
namespace
{
/** Deterministic Fisher-Yates with the raw engine (std::shuffle's use of the engine is
 * implementation-defined). */
template <typename T>
void
Shuffle(std::vector<T> & v, std::mt19937_64 & rng)
{
  for (std::size_t i = v.size(); i > 1; --i)
  {
    const std::size_t j = static_cast<std::size_t>(rng() % i);
    std::swap(v[i - 1], v[j]);
  }
}
} // namespace

void
MicrostructureDataset::Build(const MicrostructureTable & micrographs, const std::string & baseFolder,
                             const Options & options, const std::function<void(double)> & progress)
{
  namespace fs = std::filesystem;
  using ImageType = Image<unsigned char, 2>;
  using ExtractorType = PatchExtractionImageFilter<ImageType, StackType>;

  // Columns first, so a typo fails before any image is read.
  micrographs.GetColumnIndex(options.FileColumn);
  for (const auto & c : options.ConditionColumns)
  {
    micrographs.GetColumnIndex(c);
  }
  for (const auto & w : options.Where)
  {
    micrographs.GetColumnIndex(w.first);
  }
  for (const auto & range : options.Ranges)
  {
    micrographs.GetColumnIndex(range.Column);
    if (!(range.Minimum <= range.Maximum))
    {
      itkGenericExceptionMacro(<< "Range filter on '" << range.Column << "': minimum " << range.Minimum
                               << " is above maximum " << range.Maximum << "; give min <= max.");
    }
  }
  if (!(options.TestFraction >= 0.0 && options.TestFraction < 1.0))
  {
    itkGenericExceptionMacro(<< "TestFraction is " << options.TestFraction << "; give a fraction in [0, 1).");
  }
  const bool hasSample = micrographs.HasColumn(options.SampleColumn);
  const bool hasPixelColumn = !options.PixelSizeColumn.empty() && micrographs.HasColumn(options.PixelSizeColumn);
  const bool hasId = micrographs.HasColumn("micrograph_id");

  std::vector<std::size_t> rows;
  for (std::size_t r = 0; r < micrographs.GetNumberOfRows(); ++r)
  {
    bool keep = true;
    for (const auto & w : options.Where)
    {
      keep = keep && micrographs.Get(r, w.first) == w.second;
    }
    for (const auto & range : options.Ranges)
    {
      if (keep)
      {
        const double v = micrographs.GetNumber(r, range.Column); // throws on text; empty = NaN
        keep = v >= range.Minimum && v <= range.Maximum;
      }
    }
    if (keep)
    {
      rows.push_back(r);
    }
  }
  if (rows.empty())
  {
    itkGenericExceptionMacro(<< "No micrograph is left after the row filters (" << micrographs.GetNumberOfRows()
                             << " rows before): check the column=value conditions and numeric ranges.");
  }

  // Split by sample.
  auto sampleOf = [&](std::size_t r) {
    return hasSample ? micrographs.Get(r, options.SampleColumn) : micrographs.Get(r, options.FileColumn);
  };
  std::vector<std::string> samples;
  {
    std::set<std::string> seen;
    for (auto r : rows)
    {
      if (seen.insert(sampleOf(r)).second)
      {
        samples.push_back(sampleOf(r));
      }
    }
  }
  std::sort(samples.begin(), samples.end());
  std::mt19937_64 rng(options.Seed);
  Shuffle(samples, rng);
  std::size_t nTest = static_cast<std::size_t>(std::llround(options.TestFraction * samples.size()));
  if (options.TestFraction > 0.0 && samples.size() >= 2)
  {
    nTest = std::min(std::max<std::size_t>(nTest, 1), samples.size() - 1);
  }
  std::set<std::string> testSamples(samples.begin(), samples.begin() + nTest);

  std::vector<std::string> columns = { "patch", "file" };
  if (hasId)
  {
    columns.emplace_back("micrograph_id");
  }
  for (const char * c : { "sample_id", "x", "y", "flipped", "um_per_px", "split" })
  {
    columns.emplace_back(c);
  }
  for (const auto & c : options.ConditionColumns)
  {
    if (std::find(columns.begin(), columns.end(), c) != columns.end())
    {
      itkGenericExceptionMacro(<< "Condition column '" << c << "' clashes with a column the patch table has anyway.");
    }
    columns.push_back(c);
  }
  MicrostructureTable table(columns);

  // Results are kept in locals and assigned at the end: a failed Build() leaves the object as it was.
  std::vector<std::string>   skipped;
  std::vector<unsigned char> buffer;
  const SizeValueType        patchPixels = SizeValueType(options.PatchSize[0]) * options.PatchSize[1];
  double                     commonPixelSize = 0.0;
  std::string                commonPixelSizeFile;
  // Confinement first, so a table pointing outside its folder reads nothing.
  if (!options.ConfineReadsTo.empty())
  {
    std::error_code ec;
    if (!fs::is_directory(options.ConfineReadsTo, ec))
    {
      itkGenericExceptionMacro(<< "The folder reads are confined to, '" << options.ConfineReadsTo
                               << "', does not exist: give the folder of the dataset (--confineReads).");
    }
    for (const std::size_t r : rows)
    {
      const std::string file = micrographs.Get(r, options.FileColumn);
      CheckReadConfined((fs::path(baseFolder) / file).string(),
                        options.ConfineReadsTo,
                        "Data row " + std::to_string(r + 1) + " of '" + options.TableName + "' lists the file '" +
                          file + "' (column " + options.FileColumn + "), which");
    }
  }
  for (std::size_t i = 0; i < rows.size(); ++i)
  {
    const std::size_t  r = rows[i];
    const std::string  file = micrographs.Get(r, options.FileColumn);
    const std::string  path = (fs::path(baseFolder) / file).string();
    ImageType::Pointer image = ReadScalarImage<ImageType>(path);
    double             pixelSize = image->GetSpacing()[0];
    if (options.InputPixelSize > 0.0)
    {
      pixelSize = options.InputPixelSize;
    }
    else if (hasPixelColumn)
    {
      pixelSize = micrographs.GetNumber(r, options.PixelSizeColumn);
    }
    if (!(pixelSize > 0.0) || !std::isfinite(pixelSize))
    {
      itkGenericExceptionMacro(<< "Micrograph '" << file << "' has no valid pixel size (" << pixelSize
                               << "); give it in the column '" << options.PixelSizeColumn << "' or as InputPixelSize.");
    }
    ImageType::SpacingType spacing;
    spacing.Fill(pixelSize);
    image->SetSpacing(spacing);
    if (options.TargetPixelSize <= 0.0)
    {
      if (commonPixelSize == 0.0)
      {
        commonPixelSize = pixelSize;
        commonPixelSizeFile = file;
      }
      else if (std::abs(pixelSize - commonPixelSize) > 1e-6 * commonPixelSize)
      {
        itkGenericExceptionMacro(<< "Micrographs have different pixel sizes ('" << commonPixelSizeFile
                                 << "': " << commonPixelSize << " um, '" << file << "': " << pixelSize
                                 << " um): give a target pixel size to resample them all to, or filter the rows to "
                                    "one magnification.");
      }
    }

    // A micrograph too small for one patch (after resampling) is skipped and reported.
    bool tooSmall = false;
    for (unsigned d = 0; d < 2; ++d)
    {
      const double extent = image->GetLargestPossibleRegion().GetSize(d) * pixelSize;
      const double target = options.TargetPixelSize > 0.0 ? options.TargetPixelSize : pixelSize;
      tooSmall = tooSmall || std::floor(extent / target + 1e-9) < options.PatchSize[d];
    }
    if (tooSmall)
    {
      skipped.push_back(file);
      if (progress)
      {
        progress(double(i + 1) / rows.size());
      }
      continue;
    }

    auto extractor = ExtractorType::New();
    extractor->SetInput(image);
    extractor->SetPatchSize({ { options.PatchSize[0], options.PatchSize[1] } });
    extractor->SetStride({ { options.Stride[0], options.Stride[1] } });
    extractor->SetHorizontalFlip(options.HorizontalFlip);
    extractor->SetOutputPixelSize(options.TargetPixelSize);
    try
    {
      extractor->Update();
    }
    catch (const ExceptionObject & e)
    {
      itkGenericExceptionMacro(<< "Micrograph '" << file << "': " << e.GetDescription());
    }
    const StackType *        patches = extractor->GetOutput();
    const auto &             corners = extractor->GetPatchCorners();
    std::vector<std::size_t> keep(corners.size());
    for (std::size_t k = 0; k < keep.size(); ++k)
    {
      keep[k] = k;
    }
    if (options.MaxPatchesPerImage > 0 && keep.size() > options.MaxPatchesPerImage)
    {
      std::mt19937_64 imageRng(options.Seed * 0x9E3779B97F4A7C15ULL + r + 1);
      Shuffle(keep, imageRng);
      keep.resize(options.MaxPatchesPerImage);
      std::sort(keep.begin(), keep.end());
    }
    const std::string sample = sampleOf(r);
    const std::string split = testSamples.count(sample) ? "test" : "train";
    for (std::size_t k : keep)
    {
      const unsigned char * p = patches->GetBufferPointer() + k * patchPixels;
      buffer.insert(buffer.end(), p, p + patchPixels);
      std::vector<std::string> row = { std::to_string(table.GetNumberOfRows()), file };
      if (hasId)
      {
        row.push_back(micrographs.Get(r, "micrograph_id"));
      }
      row.push_back(sample);
      row.push_back(std::to_string(corners[k].Index[0]));
      row.push_back(std::to_string(corners[k].Index[1]));
      row.push_back(corners[k].Flipped ? "1" : "0");
      row.push_back(MicrostructureTable::FormatNumber(extractor->GetEffectivePixelSize(0)));
      row.push_back(split);
      for (const auto & c : options.ConditionColumns)
      {
        row.push_back(micrographs.Get(r, c));
      }
      table.AddRow(std::move(row));
    }
    if (progress)
    {
      progress(double(i + 1) / rows.size());
    }
  }

  if (table.GetNumberOfRows() == 0)
  {
    itkGenericExceptionMacro(<< "No patch: all " << rows.size() << " selected micrographs are smaller than a "
                             << options.PatchSize[0] << " x " << options.PatchSize[1]
                             << " patch. Use a smaller patch size or a smaller target pixel size.");
  }
  const double outPixel = options.TargetPixelSize > 0.0 ? options.TargetPixelSize : commonPixelSize;
  m_Patches = StackType::New();
  StackType::RegionType region;
  region.SetSize(0, options.PatchSize[0]);
  region.SetSize(1, options.PatchSize[1]);
  region.SetSize(2, table.GetNumberOfRows());
  m_Patches->SetRegions(region);
  StackType::SpacingType spacing;
  spacing[0] = spacing[1] = outPixel;
  spacing[2] = 1.0;
  m_Patches->SetSpacing(spacing);
  m_Patches->Allocate();
  std::copy(buffer.begin(), buffer.end(), m_Patches->GetBufferPointer());
  m_Table = std::move(table);
  m_NumberOfMicrographs = rows.size() - skipped.size();
  m_Skipped = std::move(skipped);
  m_TestSamples = nTest;
  m_TrainSamples = samples.size() - nTest;
}

std::size_t
MicrostructureDataset::GetNumberOfSamples(const std::string & split) const
{
  return split == "test" ? m_TestSamples : (split == "train" ? m_TrainSamples : m_TestSamples + m_TrainSamples);
}

void
MicrostructureDataset::Write(const std::string & stackPath, const std::string & tablePath) const
{
  if (!m_Patches)
  {
    itkGenericExceptionMacro(<< "Nothing to write: call Build() first.");
  }
  CheckOutputPathWritable(stackPath);
  CheckOutputPathWritable(tablePath);
  // Both through temporaries; the stack is moved into place only once the table is written too.
  AtomicOutputFile stack(stackPath);
  WriteImageToTemporary(m_Patches.GetPointer(), stack, true);
  AtomicOutputFile table(tablePath);
  table.WriteContents(m_Table.ToCSV());
  table.Commit();
  stack.Commit();
}
} // end namespace itk
