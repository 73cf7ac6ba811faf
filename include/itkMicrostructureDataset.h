/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructureDataset_h
#define itkMicrostructureDataset_h

#include "StochasticMicrostructureExport.h"
#include "itkImage.h"
#include "itkMicrostructureTable.h"

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace itk
{
/** \class MicrostructureDataset
 * \brief A training set from a table of micrographs with their process parameters: a stack of
 * patches and a per-patch condition table, split into train and test BY SAMPLE.
 *
 * Input: a MicrostructureTable with one row per micrograph (e.g. the output of
 * MicrostructureSynthesize, or ../shared/data/uhcs/micrographs.csv) and the folder its file
 * paths are relative to. Each selected micrograph (rows kept by all the `Where` equality
 * filters, e.g. microconstituent = spheroidite, and all the numeric `Ranges`, e.g. um_per_px in
 * [0.19, 0.20]; an empty cell fails a range, a non-numeric one is an error) is read as 8-bit
 * grayscale (itk::ReadScalarImage: RGB, 16-bit or float files are clear errors), given its
 * pixel size in micrometres (InputPixelSize when > 0, else column PixelSizeColumn when the table
 * has it, else the file's own spacing), optionally resampled to TargetPixelSize (so micrographs at different
 * magnifications give patches of the same physical size), and cut into patches by
 * PatchExtractionImageFilter (PatchSize, Stride, HorizontalFlip; at most MaxPatchesPerImage
 * per micrograph, a seeded random subset, when > 0). Without TargetPixelSize all micrographs
 * must share one pixel size. A micrograph too small to give one patch (after resampling) is
 * skipped and listed by GetSkippedMicrographs().
 *
 * Split: the distinct values of SampleColumn (every micrograph is its own sample when the
 * column is absent) are shuffled with Seed and round(TestFraction * samples) of them, at
 * least one and at most all but one when there are two or more samples and TestFraction > 0,
 * go to "test"; all patches of a sample share its split, so no sample is in both.
 *
 * Outputs: GetPatches(), a 3D uint8 stack (x, y, patch) with the patches' pixel size as
 * spacing; GetPatchTable(), one row per patch: patch, file, micrograph_id (when the input has
 * it), sample_id, x, y (corner in the resampled micrograph, pixels), flipped, um_per_px,
 * split, then the ConditionColumns. Write() writes both atomically.
 *
 * Throws itk::ExceptionObject with what to do: missing columns, no micrograph left after
 * filtering, unreadable or non-grayscale images, pixel-size mismatch, micrographs smaller
 * than a patch, a micrograph outside Options::ConfineReadsTo.
 *
 * \ingroup StochasticMicrostructure
 */
class StochasticMicrostructure_EXPORT MicrostructureDataset
{
public:
  using StackType = Image<unsigned char, 3>;

  struct Options
  {
    std::string                                      FileColumn{ "file" };
    std::string                                      PixelSizeColumn{ "um_per_px" };
    std::string                                      SampleColumn{ "sample_id" };
    std::vector<std::string>                         ConditionColumns;
    std::vector<std::pair<std::string, std::string>> Where; // column = value, all must hold
    struct Range
    {
      std::string Column;
      double      Minimum;
      double      Maximum;
    };
    std::vector<Range> Ranges;                 // Minimum <= number <= Maximum, all must hold
    double             InputPixelSize{ 0.0 };  // um; > 0 overrides the column
    double             TargetPixelSize{ 0.0 }; // um; 0 = no resampling
    unsigned int       PatchSize[2]{ 128, 128 };
    unsigned int       Stride[2]{ 0, 0 }; // 0 = patch size
    bool               HorizontalFlip{ false };
    double             TestFraction{ 0.2 };
    std::uint64_t      Seed{ 1 };
    unsigned int       MaxPatchesPerImage{ 0 }; // 0 = all
    /** When not empty, every selected micrograph (and the data file of a detached NRRD or
     * MetaImage header) must lie inside this folder, links and `..` resolved; a file column entry
     * like "../x.png" or "/etc/passwd" is refused before any image is read (CheckReadConfined). */
    std::string ConfineReadsTo;
    /** The micrographs' table in messages, e.g. its path. */
    std::string TableName{ "the micrograph table" };
  };

  /** Build from `micrographs` (file paths relative to `baseFolder`). `progress` (optional)
   * receives the fraction done. */
  void
  Build(const MicrostructureTable & micrographs, const std::string & baseFolder, const Options & options,
        const std::function<void(double)> & progress = {});

  StackType *
  GetPatches() const
  {
    return m_Patches.GetPointer();
  }
  const MicrostructureTable &
  GetPatchTable() const
  {
    return m_Table;
  }
  /** Number of micrographs used and samples per split, after Build(). */
  std::size_t
  GetNumberOfMicrographs() const
  {
    return m_NumberOfMicrographs;
  }
  std::size_t
  GetNumberOfSamples(const std::string & split) const;
  /** Files skipped because they are smaller than a patch (after resampling). */
  const std::vector<std::string> &
  GetSkippedMicrographs() const
  {
    return m_Skipped;
  }

  /** Write the stack (any ITK 3D format: .nrrd, .mha, .nii.gz) and the table, both atomically;
   * if either fails, neither is left behind. */
  void
  Write(const std::string & stackPath, const std::string & tablePath) const;

private:
  StackType::Pointer       m_Patches;
  MicrostructureTable      m_Table;
  std::size_t              m_NumberOfMicrographs{ 0 };
  std::vector<std::string> m_Skipped;
  std::size_t              m_TrainSamples{ 0 };
  std::size_t              m_TestSamples{ 0 };
};
} // end namespace itk

#endif
