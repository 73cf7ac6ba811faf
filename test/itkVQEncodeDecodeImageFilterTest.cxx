// Tests of itk::VQEncodeImageFilter and itk::VQDecodeImageFilter with a small VQ-VAE: the
// filters give exactly what the model gives on the same buffers, geometry (size, spacing,
// origin) for stacks and non-square micrographs, tiled encoding equal to whole-image encoding,
// and clear errors.
#include "itkVQDecodeImageFilter.h"
#include "itkVQEncodeImageFilter.h"
#include "itkTestingMacros.h"

#include <gtest/gtest.h>
#include <random>

namespace
{
using Stack = itk::Image<unsigned char, 3>;
using Image2 = itk::Image<unsigned char, 2>;
using IndexStack = itk::Image<unsigned short, 3>;
using IndexImage = itk::Image<unsigned short, 2>;
using FloatStack = itk::Image<float, 3>;

itk::VQVAEModel::Pointer
SmallModel()
{
  auto                             model = itk::VQVAEModel::New();
  itk::VQVAEModel::Hyperparameters h;
  h.EncoderChannels = { 8, 16 }; // f = 4
  h.NumberOfResidualBlocks = 1;
  h.CodebookSize = 16;
  h.CodeDimension = 8;
  model->SetHyperparameters(h);
  model->SetSeed(3);
  model->SetInferenceBatchSize(3); // several batches for a stack of 5
  model->Initialize();
  return model;
}

template <typename TImage>
typename TImage::Pointer
Random(const typename TImage::SizeType & size, unsigned seed)
{
  auto image = TImage::New();
  image->SetRegions(size);
  image->Allocate();
  typename TImage::SpacingType spacing;
  spacing.Fill(0.5);
  image->SetSpacing(spacing);
  typename TImage::PointType origin;
  origin.Fill(2.0);
  image->SetOrigin(origin);
  std::mt19937 rng(seed);
  for (auto * p = image->GetBufferPointer();
       p != image->GetBufferPointer() + image->GetBufferedRegion().GetNumberOfPixels();
       ++p)
  {
    *p = static_cast<unsigned char>(rng() % 256);
  }
  return image;
}

template <typename TFilter>
int
ExerciseBasics(TFilter * filter)
{
  ITK_EXERCISE_BASIC_OBJECT_METHODS(filter, VQEncodeImageFilter, ImageToImageFilter);
  return EXIT_SUCCESS;
}

std::vector<float>
Normalized(const itk::VQVAEModel * model, const unsigned char * p, std::size_t n)
{
  std::vector<float> out(n);
  for (std::size_t i = 0; i < n; ++i)
  {
    out[i] = static_cast<float>(model->NormalizeIntensity(p[i]));
  }
  return out;
}
} // namespace

TEST(VQEncodeDecode, StackEncodingEqualsTheModelAndDecodingInvertsTheGeometry)
{
  auto model = SmallModel();
  auto stack = Random<Stack>({ { 32, 24, 5 } }, 1);
  auto encode = itk::VQEncodeImageFilter<Stack, IndexStack>::New();
  EXPECT_EQ(ExerciseBasics(encode.GetPointer()), EXIT_SUCCESS);
  encode->SetInput(stack);
  encode->SetModel(model);
  encode->Update();
  const IndexStack * maps = encode->GetOutput();
  EXPECT_EQ(maps->GetLargestPossibleRegion().GetSize(), (IndexStack::SizeType{ { 8, 6, 5 } }));
  EXPECT_DOUBLE_EQ(maps->GetSpacing()[0], 2.0);
  EXPECT_DOUBLE_EQ(maps->GetSpacing()[2], 0.5);
  EXPECT_DOUBLE_EQ(maps->GetOrigin()[0], 2.0 + 1.5 * 0.5); // centre of the first 4 x 4 block
  const auto buffer = Normalized(model, stack->GetBufferPointer(), 32 * 24 * 5);
  const auto expected = model->Encode(buffer.data(), 5, 24, 32);
  for (std::size_t i = 0; i < expected.size(); ++i)
  {
    ASSERT_EQ(maps->GetBufferPointer()[i], expected[i]) << i;
  }

  auto decode = itk::VQDecodeImageFilter<IndexStack, FloatStack>::New();
  decode->SetInput(maps);
  decode->SetModel(model);
  decode->Update();
  const FloatStack * images = decode->GetOutput();
  EXPECT_EQ(images->GetLargestPossibleRegion().GetSize(), stack->GetLargestPossibleRegion().GetSize());
  for (unsigned d = 0; d < 3; ++d)
  {
    EXPECT_DOUBLE_EQ(images->GetSpacing()[d], stack->GetSpacing()[d]);
    EXPECT_NEAR(images->GetOrigin()[d], stack->GetOrigin()[d], 1e-12);
  }
  const auto decoded = model->Decode(expected.data(), 5, 6, 8);
  for (std::size_t i = 0; i < decoded.size(); i += 7)
  {
    ASSERT_FLOAT_EQ(images->GetBufferPointer()[i], static_cast<float>(model->DenormalizeIntensity(decoded[i])));
  }
  // 8-bit output: the same values rounded and clamped.
  auto decode8 = itk::VQDecodeImageFilter<IndexStack, Stack>::New();
  decode8->SetInput(maps);
  decode8->SetModel(model);
  decode8->Update();
  for (std::size_t i = 0; i < decoded.size(); i += 5)
  {
    const double v = std::min(255.0, std::max(0.0, std::round(model->DenormalizeIntensity(decoded[i]))));
    ASSERT_EQ(decode8->GetOutput()->GetBufferPointer()[i], static_cast<unsigned char>(v));
  }
}

TEST(VQEncodeDecode, TiledMicrographEqualsWholeImageEncoding)
{
  auto model = SmallModel();
  // Non-square, and not a multiple of f: the last 2 columns and 3 rows are left out.
  auto image = Random<Image2>({ { 150, 91 } }, 2);
  auto encode = itk::VQEncodeImageFilter<Image2, IndexImage>::New();
  encode->SetInput(image);
  encode->SetModel(model);
  encode->SetTileSize(32);
  encode->SetTileMargin(32);
  encode->Update();
  const auto * map = encode->GetOutput();
  ASSERT_EQ(map->GetLargestPossibleRegion().GetSize(), (IndexImage::SizeType{ { 37, 22 } }));

  std::vector<float> whole;
  for (unsigned y = 0; y < 88; ++y)
  {
    for (unsigned x = 0; x < 148; ++x)
    {
      whole.push_back(static_cast<float>(model->NormalizeIntensity(image->GetPixel({ { x, y } }))));
    }
  }
  const auto  expected = model->Encode(whole.data(), 1, 88, 148);
  std::size_t differences = 0;
  for (std::size_t i = 0; i < expected.size(); ++i)
  {
    differences += map->GetBufferPointer()[i] != expected[i];
  }
  EXPECT_EQ(differences, 0u) << "tiles with a margin wider than the receptive field must match";
}

TEST(VQEncodeDecode, BadInputIsAClearError)
{
  auto stack = Random<Stack>({ { 32, 32, 2 } }, 3);
  auto noModel = itk::VQEncodeImageFilter<Stack, IndexStack>::New();
  noModel->SetInput(stack);
  EXPECT_THROW(noModel->Update(), itk::ExceptionObject);
  auto uninitialised = itk::VQEncodeImageFilter<Stack, IndexStack>::New();
  uninitialised->SetInput(stack);
  uninitialised->SetModel(itk::VQVAEModel::New());
  EXPECT_THROW(uninitialised->Update(), itk::ExceptionObject);
  auto model = SmallModel();
  auto tiny = itk::VQEncodeImageFilter<Stack, IndexStack>::New();
  tiny->SetInput(Random<Stack>({ { 3, 32, 1 } }, 4));
  tiny->SetModel(model);
  EXPECT_THROW(tiny->Update(), itk::ExceptionObject);
  // An index the codebook does not have.
  auto maps = IndexStack::New();
  maps->SetRegions(IndexStack::SizeType{ { 4, 4, 1 } });
  maps->Allocate(true);
  maps->GetBufferPointer()[5] = 16;
  auto decode = itk::VQDecodeImageFilter<IndexStack, FloatStack>::New();
  decode->SetInput(maps);
  decode->SetModel(model);
  EXPECT_THROW(decode->Update(), itk::ExceptionObject);
}
