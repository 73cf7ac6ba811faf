/*=========================================================================
 *  ITKStochasticMicrostructure
 *  Licensed under the Apache License, Version 2.0
 *=========================================================================*/
#ifndef itkMicrostructureDescriptorsImageFilter_hxx
#define itkMicrostructureDescriptorsImageFilter_hxx

#include "itkMicrostructureDescriptorsImageFilter.h"

#include <cmath>
#include <limits>

namespace itk
{
template <typename TInputImage>
MicrostructureDescriptorsImageFilter<TInputImage>::MicrostructureDescriptorsImageFilter()
{
  const RealType nan = std::numeric_limits<RealType>::quiet_NaN();
  // Creates the decorated outputs (itkSetDecoratedOutputMacro makes them on first use).
  Self::SetVolumeFraction(nan);
  Self::SetMeanFreePath(nan);
  Self::SetMeanFreePathHorizontal(nan);
  Self::SetMeanFreePathVertical(nan);
  Self::SetMeanFreePathPhysical(nan);
  Self::SetMeanFreePathHorizontalPhysical(nan);
  Self::SetMeanFreePathVerticalPhysical(nan);
  Self::SetGrainSizeNumber(nan);
}

template <typename TInputImage>
DataObject::Pointer
MicrostructureDescriptorsImageFilter<TInputImage>::MakeOutput(const DataObjectIdentifierType & name)
{
  if (name == "VolumeFraction" || name == "MeanFreePath" || name == "MeanFreePathHorizontal" ||
      name == "MeanFreePathVertical" || name == "MeanFreePathPhysical" || name == "MeanFreePathHorizontalPhysical" ||
      name == "MeanFreePathVerticalPhysical" || name == "GrainSizeNumber")
  {
    return RealObjectType::New();
  }
  return Superclass::MakeOutput(name);
}

template <typename TInputImage>
void
MicrostructureDescriptorsImageFilter<TInputImage>::VerifyPreconditions() ITKv5_CONST
{
  Superclass::VerifyPreconditions();
  if (m_LineSpacing == 0)
  {
    itkExceptionMacro(<< "LineSpacing is 0; it is the number of pixels between test lines and must be at least 1.");
  }
}

template <typename TInputImage>
void
MicrostructureDescriptorsImageFilter<TInputImage>::BeforeThreadedGenerateData()
{
  this->CheckWholeInputBuffered();
  const InputImageType * input = this->GetInput();
  const auto             size = input->GetLargestPossibleRegion().GetSize();
  m_Total = Accumulator{};
  for (unsigned p = 0; p < 2; ++p)
  {
    for (unsigned d = 0; d < 2; ++d)
    {
      m_Total.chords[p][d].assign(size[d] + 1, 0);
    }
  }
}

template <typename TInputImage>
void
MicrostructureDescriptorsImageFilter<TInputImage>::ScanLine(const PixelType * first, OffsetValueType stride,
                                                            SizeValueType length, unsigned direction,
                                                            Accumulator & acc) const
{
  const PixelType fgValue = m_ForegroundValue;
  auto &          fgChords = acc.chords[0][direction];
  auto &          bgChords = acc.chords[1][direction];
  // Branch-free passes over the pixels (gather the line as 0/1, then record where the phase
  // changes); only the runs themselves are visited with branches.
  auto & isFg = acc.isForeground;
  auto & starts = acc.runStarts;
  isFg.resize(length);
  starts.resize(length + 1);
  const PixelType * p = first;
  for (SizeValueType i = 0; i < length; ++i, p += stride)
  {
    isFg[i] = static_cast<unsigned char>(*p == fgValue);
  }
  SizeValueType n = 1;
  starts[0] = 0;
  for (SizeValueType i = 1; i < length; ++i)
  {
    starts[n] = i;
    n += static_cast<SizeValueType>(isFg[i] != isFg[i - 1]);
  }
  starts[n] = length;
  for (SizeValueType r = 0; r < n; ++r)
  {
    const SizeValueType i = starts[r];
    const SizeValueType j = starts[r + 1];
    const bool          fg = isFg[i] != 0;
    const SizeValueType run = j - i;
    const bool          cut = (i == 0 || j == length);
    if (fg)
    {
      acc.foregroundLength[direction] += run;
      if (cut)
      {
        ++acc.edge[direction];
      }
      else
      {
        ++acc.interior[direction];
      }
    }
    if (!cut || m_IncludeEdgeChords)
    {
      ++(fg ? fgChords : bgChords)[run];
    }
  }
  ++acc.lines[direction];
  acc.lineLength[direction] += length;
}

template <typename TInputImage>
void
MicrostructureDescriptorsImageFilter<TInputImage>::DynamicThreadedGenerateData(const RegionType & region)
{
  const InputImageType * input = this->GetInput();
  const RegionType &     largest = input->GetLargestPossibleRegion();
  const SizeValueType    W = largest.GetSize(0);
  const SizeValueType    H = largest.GetSize(1);
  const PixelType *      buffer = input->GetBufferPointer();
  const PixelType        fgValue = m_ForegroundValue;

  Accumulator acc;
  for (unsigned p = 0; p < 2; ++p)
  {
    acc.chords[p][0].assign(W + 1, 0);
    acc.chords[p][1].assign(H + 1, 0);
  }

  // Area fraction: the pixels of this region.
  const SizeValueType rx = region.GetIndex(0) - largest.GetIndex(0);
  const SizeValueType ry = region.GetIndex(1) - largest.GetIndex(1);
  for (SizeValueType y = ry; y < ry + region.GetSize(1); ++y)
  {
    const PixelType * row = buffer + y * W + rx;
    for (SizeValueType x = 0; x < region.GetSize(0); ++x)
    {
      acc.foregroundPixels += (row[x] == fgValue);
    }
  }

  // Test lines: the band of rows [a, b) starting at the first column owns its horizontal
  // lines and the vertical lines of columns [a*W/H, b*W/H); each line is scanned whole.
  if (rx == 0)
  {
    const SizeValueType a = ry;
    const SizeValueType b = ry + region.GetSize(1);
    const SizeValueType s = m_LineSpacing;
    const SizeValueType o = m_LineOffset;
    for (SizeValueType y = a; y < b; ++y)
    {
      if (y >= o && (y - o) % s == 0)
      {
        this->ScanLine(buffer + y * W, 1, W, 0, acc);
      }
    }
    const SizeValueType ca = a * W / H;
    const SizeValueType cb = b * W / H;
    for (SizeValueType x = ca; x < cb; ++x)
    {
      if (x >= o && (x - o) % s == 0)
      {
        this->ScanLine(buffer + x, static_cast<OffsetValueType>(W), H, 1, acc);
      }
    }
  }

  const std::lock_guard<std::mutex> lock(m_Mutex);
  m_Total.foregroundPixels += acc.foregroundPixels;
  for (unsigned d = 0; d < 2; ++d)
  {
    m_Total.lines[d] += acc.lines[d];
    m_Total.lineLength[d] += acc.lineLength[d];
    m_Total.foregroundLength[d] += acc.foregroundLength[d];
    m_Total.interior[d] += acc.interior[d];
    m_Total.edge[d] += acc.edge[d];
    for (unsigned p = 0; p < 2; ++p)
    {
      auto &       total = m_Total.chords[p][d];
      const auto & part = acc.chords[p][d];
      for (std::size_t k = 0; k < part.size(); ++k)
      {
        total[k] += part[k];
      }
    }
  }
}

template <typename TInputImage>
void
MicrostructureDescriptorsImageFilter<TInputImage>::AfterThreadedGenerateData()
{
  const InputImageType * input = this->GetInput();
  const RealType         nan = std::numeric_limits<RealType>::quiet_NaN();
  const RealType         edgeWeight = (m_EdgeRule == EdgeRuleEnum::ASTMHalfCount) ? 0.5 : 1.0;
  const auto             spacing = input->GetSpacing();

  m_ForegroundPixelCount = m_Total.foregroundPixels;
  this->SetVolumeFraction(static_cast<RealType>(m_Total.foregroundPixels) /
                          static_cast<RealType>(input->GetLargestPossibleRegion().GetNumberOfPixels()));

  for (unsigned d = 0; d < 2; ++d)
  {
    InterceptStatistics & s = m_Intercepts[d];
    s = InterceptStatistics{};
    s.NumberOfLines = m_Total.lines[d];
    s.TestLineLength = static_cast<RealType>(m_Total.lineLength[d]);
    s.ForegroundLength = static_cast<RealType>(m_Total.foregroundLength[d]);
    s.InteriorSegments = m_Total.interior[d];
    s.EdgeSegments = m_Total.edge[d];
    s.InterceptCount = static_cast<RealType>(s.InteriorSegments) + edgeWeight * static_cast<RealType>(s.EdgeSegments);
    s.LineFraction = s.TestLineLength > 0 ? s.ForegroundLength / s.TestLineLength : nan;
    s.InterceptsPerLength = s.TestLineLength > 0 ? s.InterceptCount / s.TestLineLength : nan;
    s.MeanFreePath = s.InterceptCount > 0 ? s.ForegroundLength / s.InterceptCount : nan;
    s.Spacing = spacing[d];
    s.MeanFreePathPhysical = s.MeanFreePath * s.Spacing;
    for (unsigned p = 0; p < 2; ++p)
    {
      m_Chords[p][d] = m_Total.chords[p][d];
    }
  }
  const InterceptStatistics & h = m_Intercepts[0];
  const InterceptStatistics & v = m_Intercepts[1];
  const RealType              n = h.InterceptCount + v.InterceptCount;
  this->SetMeanFreePathHorizontal(h.MeanFreePath);
  this->SetMeanFreePathVertical(v.MeanFreePath);
  this->SetMeanFreePathHorizontalPhysical(h.MeanFreePathPhysical);
  this->SetMeanFreePathVerticalPhysical(v.MeanFreePathPhysical);
  this->SetMeanFreePath(n > 0 ? (h.ForegroundLength + v.ForegroundLength) / n : nan);
  this->SetMeanFreePathPhysical(n > 0 ? (h.ForegroundLength * h.Spacing + v.ForegroundLength * v.Spacing) / n : nan);

  // ASTM E112: G = 6.643856 log10(N_L [1/mm]) - 3.288, spacing in micrometres.
  const RealType lineLengthMillimetres = (h.TestLineLength * h.Spacing + v.TestLineLength * v.Spacing) / 1000.0;
  this->SetGrainSizeNumber(n > 0 && lineLengthMillimetres > 0 ? 6.643856 * std::log10(n / lineLengthMillimetres) - 3.288
                                                              : nan);

  // Release the scratch histograms.
  m_Total = Accumulator{};
}

template <typename TInputImage>
auto
MicrostructureDescriptorsImageFilter<TInputImage>::GetPooledInterceptsPerLength() const -> RealType
{
  const RealType length = m_Intercepts[0].TestLineLength + m_Intercepts[1].TestLineLength;
  return length > 0 ? (m_Intercepts[0].InterceptCount + m_Intercepts[1].InterceptCount) / length
                    : std::numeric_limits<RealType>::quiet_NaN();
}

template <typename TInputImage>
auto
MicrostructureDescriptorsImageFilter<TInputImage>::GetMeanChordLength(PhaseEnum phase, DirectionEnum direction) const
  -> RealType
{
  const ChordLengthHistogramType & hist = this->GetChordLengthHistogram(phase, direction);
  double                           count = 0.0;
  double                           sum = 0.0;
  for (std::size_t k = 0; k < hist.size(); ++k)
  {
    count += static_cast<double>(hist[k]);
    sum += static_cast<double>(k) * static_cast<double>(hist[k]);
  }
  return count > 0 ? sum / count : std::numeric_limits<RealType>::quiet_NaN();
}

template <typename TInputImage>
void
MicrostructureDescriptorsImageFilter<TInputImage>::PrintSelf(std::ostream & os, Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  os << indent << "ForegroundValue: " << static_cast<typename NumericTraits<PixelType>::PrintType>(m_ForegroundValue)
     << std::endl;
  os << indent << "LineSpacing: " << m_LineSpacing << std::endl;
  os << indent << "LineOffset: " << m_LineOffset << std::endl;
  os << indent << "EdgeRule: " << m_EdgeRule << std::endl;
  os << indent << "IncludeEdgeChords: " << (m_IncludeEdgeChords ? "On" : "Off") << std::endl;
  os << indent << "ForegroundPixelCount: " << m_ForegroundPixelCount << std::endl;
  for (unsigned d = 0; d < 2; ++d)
  {
    const InterceptStatistics & s = m_Intercepts[d];
    os << indent << static_cast<DirectionEnum>(d) << ": lines " << s.NumberOfLines << ", L " << s.TestLineLength
       << ", foreground length " << s.ForegroundLength << ", N " << s.InterceptCount << ", d_f " << s.MeanFreePath
       << std::endl;
  }
}
} // end namespace itk

#endif
