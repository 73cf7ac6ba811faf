/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkVQEncodeImageFilter_h
#define itkVQEncodeImageFilter_h

#include "itkImageToImageFilter.h"
#include "itkVQVAEModel.h"

namespace itk
{
/** \class VQEncodeImageFilter
 * \brief Micrographs -> VQ-VAE codebook index maps (the characterization step of Noguchi &
 * Inoue 2021).
 *
 * Input: a 3D stack of 2D patches (last axis = patch; e.g. PatchExtractionImageFilter's output),
 * or one 2D micrograph of any size. Gray values are mapped to [-1, 1] with the model's intensity
 * range (0..255 by default). Output: an index image of the same dimension, pixel = index into the
 * codebook (0..K-1), with x and y divided by the model's downsampling factor f (8 for the paper's
 * network): size floor(size / f) (a remainder of fewer than f pixels at the right and bottom is
 * left out), spacing f times the input's, origin at the centre of the first f x f block.
 *
 * Stacks are encoded in batches of the model's InferenceBatchSize. A 2D micrograph is encoded in
 * tiles of TileSize x TileSize pixels (default 512) with a margin of TileMargin pixels (default 64,
 * wider than the encoder's receptive field) on every side, so memory stays bounded on large images
 * and the result equals encoding the whole image at once (tested).
 *
 * The network runs from GenerateData on one thread (LibTorch parallelises inside, with ITK's
 * global thread count). Progress events per batch or tile; AbortGenerateData is honoured between
 * them. Throws itk::ExceptionObject (saying what to do) without a model, with an uninitialised
 * model, or for an image smaller than f x f.
 *
 * \ingroup StochasticMicrostructure
 */
template <typename TInputImage, typename TOutputImage>
class ITK_TEMPLATE_EXPORT VQEncodeImageFilter : public ImageToImageFilter<TInputImage, TOutputImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(VQEncodeImageFilter);

  using Self = VQEncodeImageFilter;
  using Superclass = ImageToImageFilter<TInputImage, TOutputImage>;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(VQEncodeImageFilter, ImageToImageFilter);

  static constexpr unsigned int ImageDimension = TInputImage::ImageDimension;
  static_assert(ImageDimension == 2 || ImageDimension == 3, "VQEncodeImageFilter takes a 2D image or a 3D stack");
  static_assert(TOutputImage::ImageDimension == ImageDimension, "input and output must have the same dimension");

  using InputImageType = TInputImage;
  using OutputImageType = TOutputImage;

  /** The trained VQ-VAE (shared, not copied). */
  itkSetObjectMacro(Model, VQVAEModel);
  itkGetModifiableObjectMacro(Model, VQVAEModel);

  /** Tile size and margin (pixels) for 2D micrographs; both are rounded up to multiples of f. */
  itkSetMacro(TileSize, unsigned int);
  itkGetConstMacro(TileSize, unsigned int);
  itkSetMacro(TileMargin, unsigned int);
  itkGetConstMacro(TileMargin, unsigned int);

protected:
  VQEncodeImageFilter() = default;
  ~VQEncodeImageFilter() override = default;

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
  void
  CheckModel() const;

  VQVAEModel::Pointer m_Model;
  unsigned int        m_TileSize{ 512 };
  unsigned int        m_TileMargin{ 64 };
};
} // end namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkVQEncodeImageFilter.hxx"
#endif

#endif
