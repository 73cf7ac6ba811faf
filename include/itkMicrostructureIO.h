/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructureIO_h
#define itkMicrostructureIO_h

#include "StochasticMicrostructureExport.h"
#include "itkImageFileReader.h"
#include "itkImageFileWriter.h"
#include "itkImageIOBase.h"
#include "itkImageIOFactory.h"
#include "itkMacro.h"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace itk
{
/** \class AtomicOutputFile
 * \brief A file that appears under its final name only when it is complete.
 *
 * Writes go to a temporary sibling (same folder, same extension, so ITK's
 * image IO factory picks the same format); Commit() checks the temporary,
 * flushes it to the disk and renames it over the final name. If the object is
 * destroyed without a successful Commit() (an exception, a full disk, an
 * interruption), the temporary is removed, nothing half-written remains and a
 * file already at the final name is left as it was.
 *
 * Every error names the final (user's) path, never the temporary one. A temporary left by a
 * writer that was killed (SIGKILL: no destructor ran) is removed by the next AtomicOutputFile of its
 * folder (RemoveStaleTemporaryFiles).
 *
 * \ingroup StochasticMicrostructure
 */
class StochasticMicrostructure_EXPORT AtomicOutputFile
{
public:
  explicit AtomicOutputFile(std::string finalPath);
  ~AtomicOutputFile();
  AtomicOutputFile(const AtomicOutputFile &) = delete;
  AtomicOutputFile &
  operator=(const AtomicOutputFile &) = delete;

  /** The temporary path to write to. */
  const std::string &
  GetTemporaryPath() const
  {
    return m_TemporaryPath;
  }
  const std::string &
  GetFinalPath() const
  {
    return m_FinalPath;
  }

  /** Write `contents` as the whole temporary file (every write checked);
   * Commit() then also checks that the file holds exactly these bytes. */
  void
  WriteContents(const std::string & contents);

  /** Reserve `bytes` on the disk for the temporary (posix_fallocate): a full
   * disk is then an error before a writer that cannot report one runs. The
   * writer then truncates the temporary to what it writes. */
  void
  Reserve(std::uintmax_t bytes);

  /** The fewest bytes a complete file can have (default 1: a writer that
   * reported success but left an empty file failed). */
  void
  SetMinimumSize(std::uintmax_t bytes)
  {
    m_MinimumSize = bytes;
  }

  /** Check that the temporary is a regular file of at least the minimum size
   * (the exact size after WriteContents), fsync it, rename it over the final
   * path and sync the folder. Throws itk::ExceptionObject naming the final
   * path if any step fails; the temporary is then removed by the destructor. */
  void
  Commit();

  /** Throws an itk::ExceptionObject "Could not write '<final path>': <what>"
   * (the temporary path in `what` replaced by the final one), with advice. */
  [[noreturn]] void
  Fail(const std::string & what) const;

private:
  std::string    m_FinalPath;
  std::string    m_TemporaryPath;
  std::uintmax_t m_MinimumSize{ 1 };
  std::uintmax_t m_ExactSize{ 0 };
  bool           m_HasExactSize{ false };
  bool           m_Committed{ false };
};

/** Removes, from `folder`, the temporaries of AtomicOutputFile (".<stem>.tmp-<pid>-<token>-<n><ext>")
 * that a killed writer left behind (after a SIGKILL or a power cut its destructor never ran), and
 * returns how many. A temporary goes only when its writer cannot be running:
 * - written on this machine and PID namespace (its <token> is this one's): when process <pid> no
 *   longer exists. A live writer, this process included, always exists, so its temporary stays; a
 *   dead writer's process id taken by another process keeps the file until that one ends (safe).
 * - written elsewhere (a folder shared between machines or containers, where <pid> means nothing
 *   here) or by a build without the token: only when it was last modified more than `foreignAge`
 *   ago (a day; every write of this module takes seconds to minutes).
 * Only regular files that match the pattern exactly are removed; links are never followed.
 * AtomicOutputFile calls it for its folder, once per folder and process. Never throws for an
 * unreadable folder or a file it cannot remove (it stays). */
StochasticMicrostructure_EXPORT std::size_t
RemoveStaleTemporaryFiles(const std::string & folder, std::chrono::seconds foreignAge = std::chrono::hours(24));

/** Write a whole text (or binary) file atomically. Throws itk::ExceptionObject
 * naming `path` on failure; a file already at `path` is then left unchanged. */
StochasticMicrostructure_EXPORT void
WriteTextFileAtomically(const std::string & path, const std::string & contents);

/** Throws a clear itk::ExceptionObject unless the folder that will hold
 * `path` exists and is writable. Call before long work so a typo in an output
 * name fails at once. */
StochasticMicrostructure_EXPORT void
CheckOutputPathWritable(const std::string & path);

/** The whole contents of the regular file `path`, of at most `maximumBytes`.
 * A directory, device (e.g. /dev/zero), pipe or socket is refused without
 * blocking, as is a larger file; `what` names the file in messages (e.g. "CSV
 * table", "VQ-VAE model file"). Throws itk::ExceptionObject naming the path. */
StochasticMicrostructure_EXPORT std::string
ReadRegularFile(const std::string & path, std::uintmax_t maximumBytes, const std::string & what);

/** Whether `path` lies inside `folder` (or is it), both made absolute with every `.`, `..` and
 * symbolic link of their existing parts resolved (std::filesystem::weakly_canonical): "../x", an
 * absolute path elsewhere and a link that leads out of the folder are outside. */
StochasticMicrostructure_EXPORT bool
IsInsideFolder(const std::string & path, const std::string & folder);

/** The files whose bytes reading the image `path` also reads, resolved against its folder: a NRRD
 * header's "data file:" (one file, a LIST, or a numbered "format min max step" pattern, given as
 * its first and last names), a MetaImage header's ElementDataFile (the same forms; LOCAL is none)
 * and the .img of an Analyze/NIfTI .hdr. Empty for an image with its data inside (PNG, TIFF, an
 * attached NRRD, .mha with LOCAL). Reads at most the first 1 MiB of `path`; a file that cannot be
 * read gives none (its reader reports that). Throws itk::ExceptionObject for a pattern whose
 * conversion is not one integer (%d, %03d): its names cannot be known. */
StochasticMicrostructure_EXPORT std::vector<std::string>
                                DetachedDataFiles(const std::string & path);

/** Throws itk::ExceptionObject unless the image `path` and every data file its header names
 * (DetachedDataFiles) lie inside `folder` (IsInsideFolder). `what` says where the path came from,
 * e.g. "row 3 of 'list.csv' lists the file '../outside.png', which". The message names the
 * resolved file and the folder, and says what to do. */
StochasticMicrostructure_EXPORT void
CheckReadConfined(const std::string & path, const std::string & folder, const std::string & what);

/** Write an image through ITK's IO factory to `out`'s temporary file and check
 * it by reading it back: ITK's PNG and MetaImage writers do not report a
 * failed write (a full disk leaves an empty or truncated file). Throws (via
 * out.Fail, naming the final path) when the writer fails or the file read back
 * is not the image. Call out.Commit() afterwards. */
template <typename TImage>
void
WriteImageToTemporary(const TImage * image, AtomicOutputFile & out, bool compress = true)
{
  bool same = false;
  try
  {
    auto writer = ImageFileWriter<TImage>::New();
    writer->SetInput(image);
    writer->SetFileName(out.GetTemporaryPath());
    // ITK 5.2's PNG writer corrupts the heap when a write fails (a full disk): reserve room
    // for the largest possible PNG first, so a full disk is found before it writes.
    auto io = ImageIOFactory::CreateImageIO(out.GetTemporaryPath().c_str(), ImageIOFactory::IOFileModeEnum::WriteMode);
    if (io && std::string(io->GetNameOfClass()) == "PNGImageIO")
    {
      const std::uintmax_t raw = image->GetPixelContainer()->Size() * sizeof(*image->GetBufferPointer());
      out.Reserve(raw + raw / 64 + 65536);
    }
    writer->SetUseCompression(compress);
    writer->Update();
    auto reader = ImageFileReader<TImage>::New();
    reader->SetFileName(out.GetTemporaryPath());
    reader->Update();
    const TImage * back = reader->GetOutput();
    const auto *   a = image->GetPixelContainer();
    const auto *   b = back->GetPixelContainer();
    // JPEG is lossy: there, a complete read is the check.
    const bool lossy = std::string(writer->GetModifiableImageIO()->GetNameOfClass()) == "JPEGImageIO";
    same = back->GetLargestPossibleRegion().GetSize() == image->GetBufferedRegion().GetSize() &&
           a->Size() == b->Size() &&
           (lossy || std::memcmp(image->GetBufferPointer(),
                                 back->GetBufferPointer(),
                                 a->Size() * sizeof(*image->GetBufferPointer())) == 0);
  }
  catch (const ExceptionObject & e)
  {
    out.Fail(e.GetDescription());
  }
  if (!same)
  {
    out.Fail("the file read back is not the image written (is the disk full?)");
  }
}

/** Write an image through ITK's IO factory, atomically (temp file, checked
 * by reading it back, fsync, rename). Throws itk::ExceptionObject naming
 * `path` on failure; a file already at `path` is then left unchanged. */
template <typename TImage>
void
WriteImageAtomically(const TImage * image, const std::string & path, bool compress = true)
{
  CheckOutputPathWritable(path);
  AtomicOutputFile out(path);
  WriteImageToTemporary(image, out, compress);
  out.Commit();
}

/** Throws an itk::ExceptionObject naming `name` (a file, or "the input
 * image") when a pixel of `image` is NaN or infinite: no threshold or
 * descriptor of such an image means anything. Integer images always pass. */
template <typename TImage>
void
CheckFinitePixels(const TImage * image, const std::string & name)
{
  using ValueType = typename NumericTraits<typename TImage::PixelType>::ValueType;
  if constexpr (!std::numeric_limits<ValueType>::is_integer)
  {
    const auto *        p = image->GetBufferPointer();
    const SizeValueType n = image->GetPixelContainer()->Size();
    SizeValueType       bad = 0, first = 0;
    for (SizeValueType i = 0; i < n; ++i)
    {
      if (!std::isfinite(static_cast<double>(p[i])))
      {
        first = bad++ == 0 ? i : first;
      }
    }
    if (bad > 0)
    {
      const auto index =
        image->ComputeIndex(static_cast<OffsetValueType>(first / image->GetNumberOfComponentsPerPixel()));
      itkGenericExceptionMacro(<< "'" << name << "' has " << bad
                               << " pixel value(s) that are NaN or infinite (the first at index " << index
                               << "): they cannot be segmented or measured. Replace them (e.g. by a valid "
                                  "neighbouring value) or crop them away, then measure again.");
    }
  }
}

/** Read an image and check its pixel type: a scalar image with one component.
 * Files of another component type are converted by ITK's reader only when
 * `allowConversion` is true; otherwise an RGB, vector or (for an 8-bit
 * expectation) 16-bit or float file is a clear error saying how to convert it. */
template <typename TImage>
typename TImage::Pointer
ReadScalarImage(const std::string & path, bool allowConversion = false);

} // end namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkMicrostructureIO.hxx"
#endif

#endif
