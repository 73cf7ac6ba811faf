/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructureIO_hxx
#define itkMicrostructureIO_hxx

#include "itkMicrostructureIO.h"
#include "itkImageIOFactory.h"

#include <sstream>

namespace itk
{
template <typename TImage>
typename TImage::Pointer
ReadScalarImage(const std::string & path, bool allowConversion)
{
  using PixelType = typename TImage::PixelType;
  ImageIOBase::Pointer io = ImageIOFactory::CreateImageIO(path.c_str(), ImageIOFactory::IOFileModeEnum::ReadMode);
  if (io.IsNull())
  {
    itkGenericExceptionMacro(<< "Cannot read '" << path
                             << "': the file does not exist, is not readable, or is not an image format ITK knows "
                                "(use PNG, TIFF, NRRD, MetaImage or NIfTI).");
  }
  io->SetFileName(path);
  io->ReadImageInformation();
  if (io->GetNumberOfComponents() != 1)
  {
    itkGenericExceptionMacro(<< "'" << path << "' has " << io->GetNumberOfComponents() << " components per pixel ("
                             << ImageIOBase::GetPixelTypeAsString(io->GetPixelType())
                             << "); a grayscale micrograph with one component is needed. Convert it to grayscale "
                                "first, e.g. `convert in.png -colorspace Gray out.png`.");
  }
  const auto expected = ImageIOBase::MapPixelType<PixelType>::CType;
  if (!allowConversion && io->GetComponentType() != expected)
  {
    itkGenericExceptionMacro(<< "'" << path << "' has " << ImageIOBase::GetComponentTypeAsString(io->GetComponentType())
                             << " pixels; " << ImageIOBase::GetComponentTypeAsString(expected)
                             << " pixels are needed. Rescale it to that type first (for 8-bit: map the intensity "
                                "range to 0..255).");
  }
  if (io->GetNumberOfDimensions() < TImage::ImageDimension)
  {
    itkGenericExceptionMacro(<< "'" << path << "' has " << io->GetNumberOfDimensions() << " dimensions; "
                             << TImage::ImageDimension << " are needed.");
  }
  auto reader = ImageFileReader<TImage>::New();
  reader->SetFileName(path);
  reader->Update();
  typename TImage::Pointer image = reader->GetOutput();
  image->DisconnectPipeline();
  if (image->GetLargestPossibleRegion().GetNumberOfPixels() == 0)
  {
    itkGenericExceptionMacro(<< "'" << path << "' is an empty image.");
  }
  return image;
}
} // end namespace itk

#endif
