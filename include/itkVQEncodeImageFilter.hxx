/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkVQEncodeImageFilter_hxx
#define itkVQEncodeImageFilter_hxx

#include "itkVQEncodeImageFilter.h"
#include "itkProgressReporter.h"

#include <algorithm>

namespace itk
{
template <typename TInputImage, typename TOutputImage>
void
VQEncodeImageFilter<TInputImage, TOutputImage>::CheckModel() const
{
  if (m_Model.IsNull())
  {
    itkExceptionMacro(<< "No VQ-VAE model: call SetModel() with a trained model (VQVAEModel::Read).");
  }
  if (!m_Model->IsInitialized())
  {
    itkExceptionMacro(<< "The VQ-VAE model has no weights: Read() a model file or Initialize() it first.");
  }
}

template <typename TInputImage, typename TOutputImage>
void
VQEncodeImageFilter<TInputImage, TOutputImage>::GenerateOutputInformation()
{
  CheckModel();
  const InputImageType *                input = this->GetInput();
  const unsigned int                    f = m_Model->GetDownsamplingFactor();
  const auto                            region = input->GetLargestPossibleRegion();
  typename OutputImageType::RegionType  outRegion;
  typename OutputImageType::SpacingType spacing = input->GetSpacing();
  typename OutputImageType::PointType   origin = input->GetOrigin();
  for (unsigned d = 0; d < ImageDimension; ++d)
  {
    outRegion.SetSize(d, region.GetSize(d));
  }
  for (unsigned d = 0; d < 2; ++d)
  {
    if (region.GetSize(d) < f)
    {
      itkExceptionMacro(<< "The image (" << region.GetSize() << ") is smaller than one " << f << " x " << f
                        << " block of the encoder: give patches of at least " << f << " pixels.");
    }
    outRegion.SetSize(d, region.GetSize(d) / f);
    origin[d] += 0.5 * (f - 1) * spacing[d];
    spacing[d] *= f;
  }
  OutputImageType * output = this->GetOutput();
  output->SetLargestPossibleRegion(outRegion);
  output->SetSpacing(spacing);
  output->SetOrigin(origin);
  output->SetDirection(input->GetDirection());
}

template <typename TInputImage, typename TOutputImage>
void
VQEncodeImageFilter<TInputImage, TOutputImage>::GenerateInputRequestedRegion()
{
  Superclass::GenerateInputRequestedRegion();
  if (auto * input = const_cast<InputImageType *>(this->GetInput()))
  {
    input->SetRequestedRegionToLargestPossibleRegion();
  }
}

template <typename TInputImage, typename TOutputImage>
void
VQEncodeImageFilter<TInputImage, TOutputImage>::EnlargeOutputRequestedRegion(DataObject * output)
{
  Superclass::EnlargeOutputRequestedRegion(output);
  output->SetRequestedRegionToLargestPossibleRegion();
}

template <typename TInputImage, typename TOutputImage>
void
VQEncodeImageFilter<TInputImage, TOutputImage>::GenerateData()
{
  CheckModel();
  this->AllocateOutputs();
  const InputImageType * input = this->GetInput();
  OutputImageType *      output = this->GetOutput();
  const unsigned int     f = m_Model->GetDownsamplingFactor();
  const auto             inSize = input->GetLargestPossibleRegion().GetSize();
  const auto             outSize = output->GetLargestPossibleRegion().GetSize();
  const SizeValueType    W = inSize[0];
  const SizeValueType    w = outSize[0];
  const SizeValueType    h = outSize[1];
  const auto *           in = input->GetBufferPointer();
  auto *                 out = output->GetBufferPointer();
  const VQVAEModel *     model = m_Model;

  // Gray values of rows [y0, y0 + rows) x columns [x0, x0 + cols) of slice k, normalised.
  auto gather =
    [&](SizeValueType k, SizeValueType x0, SizeValueType y0, SizeValueType cols, SizeValueType rows, float * dst) {
      const auto * slice = in + k * inSize[0] * inSize[1];
      for (SizeValueType y = 0; y < rows; ++y)
      {
        const auto * row = slice + (y0 + y) * W + x0;
        for (SizeValueType x = 0; x < cols; ++x)
        {
          *dst++ = static_cast<float>(model->NormalizeIntensity(static_cast<double>(row[x])));
        }
      }
    };

  if constexpr (ImageDimension == 3)
  {
    // Patches in batches; the remainder below f at the right/bottom is left out.
    const SizeValueType slices = inSize[2];
    const SizeValueType batch = std::max<unsigned int>(1, model->GetInferenceBatchSize());
    const SizeValueType H = h * f;
    const SizeValueType Wc = w * f;
    ProgressReporter    progress(this, 0, (slices + batch - 1) / batch);
    std::vector<float>  buffer;
    for (SizeValueType first = 0; first < slices; first += batch)
    {
      const SizeValueType n = std::min(batch, slices - first);
      buffer.resize(n * H * Wc);
      for (SizeValueType k = 0; k < n; ++k)
      {
        gather(first + k, 0, 0, Wc, H, buffer.data() + k * H * Wc);
      }
      const auto indices = model->Encode(buffer.data(), n, H, Wc);
      std::transform(indices.begin(), indices.end(), out + first * w * h, [](int32_t v) {
        return static_cast<typename OutputImageType::PixelType>(v);
      });
      progress.CompletedPixel();
    }
  }
  else
  {
    // Tiles of the output grid, each encoded with a margin of context that is then dropped.
    const SizeValueType tile = std::max<SizeValueType>(1, (m_TileSize + f - 1) / f); // in index cells
    const SizeValueType margin = (m_TileMargin + f - 1) / f;                         // in index cells
    const SizeValueType tilesX = (w + tile - 1) / tile;
    const SizeValueType tilesY = (h + tile - 1) / tile;
    ProgressReporter    progress(this, 0, tilesX * tilesY);
    std::vector<float>  buffer;
    for (SizeValueType ty = 0; ty < tilesY; ++ty)
    {
      for (SizeValueType tx = 0; tx < tilesX; ++tx)
      {
        // Core cells [cx0, cx1) x [cy0, cy1); with margin [ex0, ex1) x [ey0, ey1), clipped.
        const SizeValueType cx0 = tx * tile, cx1 = std::min(w, cx0 + tile);
        const SizeValueType cy0 = ty * tile, cy1 = std::min(h, cy0 + tile);
        const SizeValueType ex0 = cx0 > margin ? cx0 - margin : 0, ex1 = std::min(w, cx1 + margin);
        const SizeValueType ey0 = cy0 > margin ? cy0 - margin : 0, ey1 = std::min(h, cy1 + margin);
        const SizeValueType ew = ex1 - ex0, eh = ey1 - ey0;
        buffer.resize(ew * f * eh * f);
        gather(0, ex0 * f, ey0 * f, ew * f, eh * f, buffer.data());
        const auto indices = model->Encode(buffer.data(), 1, eh * f, ew * f);
        for (SizeValueType y = cy0; y < cy1; ++y)
        {
          for (SizeValueType x = cx0; x < cx1; ++x)
          {
            out[y * w + x] = static_cast<typename OutputImageType::PixelType>(indices[(y - ey0) * ew + (x - ex0)]);
          }
        }
        progress.CompletedPixel();
      }
    }
  }
}

template <typename TInputImage, typename TOutputImage>
void
VQEncodeImageFilter<TInputImage, TOutputImage>::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "Model: " << (m_Model ? "set" : "none") << std::endl;
  os << indent << "TileSize: " << m_TileSize << std::endl;
  os << indent << "TileMargin: " << m_TileMargin << std::endl;
}
} // end namespace itk

#endif
