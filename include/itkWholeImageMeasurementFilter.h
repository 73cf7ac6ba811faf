/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkWholeImageMeasurementFilter_h
#define itkWholeImageMeasurementFilter_h

#include "itkImageToImageFilter.h"

namespace itk
{
/** \class WholeImageMeasurementFilter
 * \brief Base of the filters that measure their whole input image and pass it through unchanged
 * (MicrostructureDescriptorsImageFilter, MicrostructureParticlesImageFilter).
 *
 * Output 0 is the input's data (grafted: nothing is allocated). The filter requests the input's
 * largest possible region whatever region is requested of its output, and refuses an empty input
 * with an itk::ExceptionObject that says what to give. Subclasses compute their measurements in
 * GenerateData or the threaded methods and call CheckWholeInputBuffered() first.
 *
 * \ingroup StochasticMicrostructure
 */
template <typename TInputImage>
class ITK_TEMPLATE_EXPORT WholeImageMeasurementFilter : public ImageToImageFilter<TInputImage, TInputImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(WholeImageMeasurementFilter);

  using Self = WholeImageMeasurementFilter;
  using Superclass = ImageToImageFilter<TInputImage, TInputImage>;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;
  using InputImageType = TInputImage;

  itkTypeMacro(WholeImageMeasurementFilter, ImageToImageFilter);

protected:
  WholeImageMeasurementFilter() { this->SetNumberOfRequiredInputs(1); }
  ~WholeImageMeasurementFilter() override = default;

  /** Also refuses an empty input (known only once the pipeline has run its information pass). */
  void
  GenerateOutputInformation() override
  {
    Superclass::GenerateOutputInformation();
    const InputImageType * input = this->GetInput();
    if (input->GetLargestPossibleRegion().GetNumberOfPixels() == 0)
    {
      itkExceptionMacro(<< "The input image is empty (size " << input->GetLargestPossibleRegion().GetSize()
                        << "); give a 2D label image with at least one pixel.");
    }
  }
  void
  GenerateInputRequestedRegion() override
  {
    Superclass::GenerateInputRequestedRegion();
    if (auto * input = const_cast<InputImageType *>(this->GetInput()))
    {
      input->SetRequestedRegionToLargestPossibleRegion();
    }
  }
  void
  EnlargeOutputRequestedRegion(DataObject * output) override
  {
    Superclass::EnlargeOutputRequestedRegion(output);
    output->SetRequestedRegionToLargestPossibleRegion();
  }
  /** Passes the input through as output 0. */
  void
  AllocateOutputs() override
  {
    this->GraftOutput(const_cast<InputImageType *>(this->GetInput()));
  }
  /** Throws unless the input's buffer holds its whole image. */
  void
  CheckWholeInputBuffered() const
  {
    const InputImageType * input = this->GetInput();
    if (input->GetBufferedRegion() != input->GetLargestPossibleRegion())
    {
      itkExceptionMacro(<< "The input's buffered region " << input->GetBufferedRegion()
                        << " is not its whole image; update the input with its largest possible region.");
    }
  }
};
} // end namespace itk

#endif
