/*=========================================================================
 *
 *  ITKStochasticMicrostructure
 *
 *=========================================================================*/
#ifndef itkConditionalMicrostructureImageSource_h
#define itkConditionalMicrostructureImageSource_h

#include "itkImageSource.h"
#include "itkPixelCNNPriorModel.h"
#include "itkVQVAEModel.h"

namespace itk
{

/** \class ConditionalMicrostructureImageSource
 * \brief New micrographs for a process condition: index maps sampled from a
 * conditional PixelCNN prior, decoded by the VQ-VAE it was trained with
 * (Noguchi & Inoue, Phys. Rev. E 104, 025302, 2021, section II.C).
 *
 * Output 0 (GetOutput()): a 3D stack of NumberOfSamples generated
 * micrographs, each LatentSize x f pixels (f = the VQ-VAE's downsampling
 * factor; LatentSize defaults to the prior's training size, 16 x 16 -> 128 x
 * 128 for the paper's networks, and may be larger for larger fields of view,
 * e.g. 64 x 64 -> 512 x 512), in the VQ-VAE's intensity units (an integer
 * pixel type gets them rounded and clamped), spacing = the VQ-VAE's pixel size
 * in micrometres (1 when the model does not record it).
 * Output 1 (GetIndexMaps()): the sampled index maps, LatentSize x NumberOfSamples,
 * spacing multiplied by f.
 *
 * The condition (SetCondition) names every process parameter of the prior's
 * schema, e.g. {"ln_cooling_rate", "1.0986"}; a missing, unknown or invalid
 * value is an itk::ExceptionObject, a continuous value outside the trained
 * range a warning (extrapolation).
 *
 * Randomness: samples are drawn BatchSize at a time; batch b uses the seed
 * mix(Seed, b), so a sample depends on Seed, BatchSize and its index only,
 * never on how the output is streamed. The output streams along z in whole
 * batches (the requested region is enlarged to batch boundaries), so a
 * streaming writer (ImageFileWriter with SetNumberOfStreamDivisions, NRRD or
 * MetaImage) produces more samples than fit in memory.
 *
 * Sampling runs from GenerateData on one thread that calls LibTorch (its
 * threads follow ITK's global thread count); progress events follow the
 * sampled positions; AbortGenerateData is honoured between batches.
 *
 * \ingroup StochasticMicrostructure
 */
template <typename TOutputImage, typename TIndexImage = Image<unsigned short, TOutputImage::ImageDimension>>
class ITK_TEMPLATE_EXPORT ConditionalMicrostructureImageSource : public ImageSource<TOutputImage>
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(ConditionalMicrostructureImageSource);

  using Self = ConditionalMicrostructureImageSource;
  using Superclass = ImageSource<TOutputImage>;
  using Pointer = SmartPointer<Self>;
  using ConstPointer = SmartPointer<const Self>;

  itkNewMacro(Self);
  itkTypeMacro(ConditionalMicrostructureImageSource, ImageSource);

  static constexpr unsigned int ImageDimension = TOutputImage::ImageDimension;
  static_assert(ImageDimension == 3, "ConditionalMicrostructureImageSource produces a 3D stack of 2D micrographs");
  static_assert(TIndexImage::ImageDimension == 3, "the index maps are a 3D stack too");

  using OutputImageType = TOutputImage;
  using IndexImageType = TIndexImage;
  using Condition = PixelCNNPriorModel::Condition;
  using LatentSizeType = Size<2>;

  itkSetObjectMacro(VQVAEModel, VQVAEModel);
  itkGetModifiableObjectMacro(VQVAEModel, VQVAEModel);
  itkSetObjectMacro(PriorModel, PixelCNNPriorModel);
  itkGetModifiableObjectMacro(PriorModel, PixelCNNPriorModel);

  void
  SetCondition(const Condition & condition)
  {
    m_Condition = condition;
    this->Modified();
  }
  const Condition &
  GetCondition() const
  {
    return m_Condition;
  }

  itkSetMacro(NumberOfSamples, SizeValueType);
  itkGetConstMacro(NumberOfSamples, SizeValueType);
  /** Index-map size (width, height); {0, 0} (default) = the prior's training size. */
  itkSetMacro(LatentSize, LatentSizeType);
  itkGetConstMacro(LatentSize, LatentSizeType);
  /** Softmax temperature (> 0; 1 = the model's distribution, < 1 more typical samples). */
  itkSetMacro(Temperature, double);
  itkGetConstMacro(Temperature, double);
  itkSetMacro(Seed, uint64_t);
  itkGetConstMacro(Seed, uint64_t);
  /** Samples drawn and decoded together (memory and the seed of each batch). */
  itkSetMacro(BatchSize, SizeValueType);
  itkGetConstMacro(BatchSize, SizeValueType);

  IndexImageType *
  GetIndexMaps();

  /** The latent size used (LatentSize, or the prior's training size). */
  LatentSizeType
  GetEffectiveLatentSize() const;

protected:
  ConditionalMicrostructureImageSource();
  ~ConditionalMicrostructureImageSource() override = default;

  void
  VerifyPreconditions() ITKv5_CONST override;
  void
  GenerateOutputInformation() override;
  void
  EnlargeOutputRequestedRegion(DataObject * output) override;
  /** The two outputs differ in size: EnlargeOutputRequestedRegion sets both
   * (ProcessObject's default would copy one region onto the other). */
  void
  GenerateOutputRequestedRegion(DataObject *) override
  {}
  void
  GenerateData() override;
  void
  PrintSelf(std::ostream & os, Indent indent) const override;

private:
  VQVAEModel::Pointer         m_VQVAEModel;
  PixelCNNPriorModel::Pointer m_PriorModel;
  Condition                   m_Condition;
  SizeValueType               m_NumberOfSamples{ 16 };
  LatentSizeType              m_LatentSize{ { 0, 0 } };
  double                      m_Temperature{ 1.0 };
  uint64_t                    m_Seed{ 0 };
  SizeValueType               m_BatchSize{ 64 };
};

} // end namespace itk

#ifndef ITK_MANUAL_INSTANTIATION
#  include "itkConditionalMicrostructureImageSource.hxx"
#endif

#endif
