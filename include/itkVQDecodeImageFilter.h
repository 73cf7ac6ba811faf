/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkVQDecodeImageFilter_h
#define itkVQDecodeImageFilter_h

#include "itkImageToImageFilter.h"
#include "itkVQVAEModel.h"

namespace itk
{
/** \class VQDecodeImageFilter
 * \brief VQ-VAE codebook index maps -> micrographs (the decoder of Noguchi & Inoue 2021).
 *
 * Input: an index image (2D map or 3D stack of maps, last axis = patch), each pixel an index
 * 0..K-1 into the model's codebook (VQEncodeImageFilter's output, or a sampled map). Output: the
 * decoded images, x and y multiplied by the model's downsampling factor f, spacing divided by f,
 * origin moved back to the first pixel (the inverse of VQEncodeImageFilter's geometry). Values
 * are in the model's intensity units (0..255 by default: the inverse of the encoder's scaling);
 * an integer output pixel type (e.g. unsigned char) gets them rounded and clamped to its range.
 *
 * Stacks are decoded in batches of the model's InferenceBatchSize, from GenerateData on one
 * thread; progress per batch, AbortGenerateData honoured between batches. Throws
 * itk::ExceptionObject without a usable model or for an index outside 0..K-1.
 *
 * \ingroup StochasticMicrostructure
 */
template <typename TInputImage, typename TOutputImage>
class ITK_TEMPLATE_EXPORT VQDecodeImageFilter : public ImageToImageFilter<TInputImage, TOutputImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(VQDecodeImageFilter);

  using Self = VQDecodeImageFilter;
  using Superclass = ImageToImageFilter<TInputImage, TOutputImage>;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(VQDecodeImageFilter, ImageToImageFilter);

  static constexpr unsigned int ImageDimension = TInputImage::ImageDimension;
  static_assert(ImageDimension == 2 || ImageDimension == 3, "VQDecodeImageFilter takes a 2D map or a 3D stack");
  static_assert(TOutputImage::ImageDimension == ImageDimension, "input and output must have the same dimension");

  using InputImageType = TInputImage;
  using OutputImageType = TOutputImage;

  itkSetObjectMacro(Model, VQVAEModel);
  itkGetModifiableObjectMacro(Model, VQVAEModel);

protected:
  VQDecodeImageFilter() = default;
  ~VQDecodeImageFilter() override = default;

  void
  GenerateOutputInformation() override;
  void
  GenerateInputRequestedRegion() override;
  void
  EnlargeOutputRequestedRegion(DataObject * output) override;
  void
  GenerateData() override;
  void
  PrintSelf(std::ostream & os, Indent indent) const override;

private:
  VQVAEModel::Pointer m_Model;
};
} // end namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkVQDecodeImageFilter.hxx"
#endif

#endif
