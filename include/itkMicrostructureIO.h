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
#include "itkMacro.h"

#include <fstream>
#include <string>

namespace itk
{
/** \class AtomicOutputFile
 * \brief A file that appears under its final name only when it is complete.
 *
 * Writes go to a temporary sibling (same folder, same extension, so ITK's
 * image IO factory picks the same format); Commit() renames it over the final
 * name. If the object is destroyed without Commit() (an exception, an
 * interruption), the temporary is removed and nothing half-written remains.
 *
 * \ingroup StochasticMicrostructure
 */
class StochasticMicrostructure_EXPORT AtomicOutputFile
{
public:
  explicit AtomicOutputFile(std::string finalPath);
  ~AtomicOutputFile();
  AtomicOutputFile(const AtomicOutputFile &) = delete;
  AtomicOutputFile & operator=(const AtomicOutputFile &) = delete;

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
  /** Rename the temporary over the final path. Throws if that fails. */
  void
  Commit();

private:
  std::string m_FinalPath;
  std::string m_TemporaryPath;
  bool        m_Committed{ false };
};

/** Write a whole text file atomically. Throws itk::ExceptionObject on failure. */
StochasticMicrostructure_EXPORT void
WriteTextFileAtomically(const std::string & path, const std::string & contents);

/** Throws a clear itk::ExceptionObject unless the folder that will hold
 * `path` exists and is writable. Call before long work so a typo in an output
 * name fails at once. */
StochasticMicrostructure_EXPORT void
CheckOutputPathWritable(const std::string & path);

/** Write an image through ITK's IO factory, atomically (temp file + rename). */
template <typename TImage>
void
WriteImageAtomically(const TImage * image, const std::string & path, bool compress = true)
{
  CheckOutputPathWritable(path);
  AtomicOutputFile out(path);
  auto             writer = ImageFileWriter<TImage>::New();
  writer->SetInput(image);
  writer->SetFileName(out.GetTemporaryPath());
  writer->SetUseCompression(compress);
  writer->Update();
  out.Commit();
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
