// itk::ConditionalMicrostructureImageSource: geometry, seeds, streaming, that
// the images are the decoded index maps, and clear errors. Tiny untrained
// networks: what is tested is the plumbing, not the quality of the samples.
#include "itkConditionalMicrostructureImageSource.h"
#include "itkImageFileReader.h"
#include "itkImageFileWriter.h"
#include "itkVQDecodeImageFilter.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace
{
using ImageType = itk::Image<unsigned char, 3>;
using IndexType = itk::Image<unsigned short, 3>;
using SourceType = itk::ConditionalMicrostructureImageSource<ImageType, IndexType>;
using Prior = itk::PixelCNNPriorModel;

itk::VQVAEModel::Pointer
TinyVQVAE(unsigned int K)
{
  auto                             m = itk::VQVAEModel::New();
  itk::VQVAEModel::Hyperparameters h;
  h.EncoderChannels = { 4, 8 }; // f = 4
  h.NumberOfResidualBlocks = 1;
  h.CodebookSize = K;
  h.CodeDimension = 4;
  m->SetHyperparameters(h);
  m->SetSeed(1);
  m->SetDevice("cpu");
  m->SetPixelSizeMicrometres(0.5);
  m->Initialize();
  return m;
}

Prior::Pointer
TinyPrior(unsigned int K)
{
  auto                   m = Prior::New();
  Prior::Hyperparameters h;
  h.CodebookSize = K;
  h.EmbeddingDimension = 8;
  h.HiddenChannels = 8;
  h.NumberOfLayers = 3;
  h.OutputHiddenChannels = 16;
  m->SetHyperparameters(h);
  m->SetConditionSchema({ Prior::LearnContinuousCondition("ln_rate", { 0.0, 1.0, 2.0, 3.4 }),
                          Prior::LearnCategoricalCondition("method", { "air", "furnace" }) });
  m->SetSeed(2);
  m->SetDevice("cpu");
  m->SetLatentHeight(6);
  m->SetLatentWidth(5);
  m->Initialize();
  return m;
}

SourceType::Pointer
MakeSource(unsigned int K = 12)
{
  auto s = SourceType::New();
  s->SetVQVAEModel(TinyVQVAE(K));
  s->SetPriorModel(TinyPrior(K));
  s->SetCondition({ { "ln_rate", "1.1" }, { "method", "air" } });
  s->SetNumberOfSamples(7);
  s->SetBatchSize(3);
  s->SetSeed(42);
  return s;
}
} // namespace

TEST(ConditionalMicrostructureImageSource, GeometryAndImagesAreTheDecodedMaps)
{
  auto source = MakeSource();
  source->Update();
  const auto * images = source->GetOutput();
  const auto * maps = source->GetIndexMaps();
  // Latent size defaults to the prior's training size (5 wide, 6 high), f = 4.
  EXPECT_EQ(images->GetLargestPossibleRegion().GetSize(), (ImageType::SizeType{ { 20, 24, 7 } }));
  EXPECT_EQ(maps->GetLargestPossibleRegion().GetSize(), (IndexType::SizeType{ { 5, 6, 7 } }));
  EXPECT_DOUBLE_EQ(images->GetSpacing()[0], 0.5);
  EXPECT_DOUBLE_EQ(maps->GetSpacing()[0], 2.0);
  for (unsigned short v : std::vector<unsigned short>(maps->GetBufferPointer(), maps->GetBufferPointer() + 5 * 6 * 7))
    ASSERT_LT(v, 12);

  // The images are exactly the VQ-VAE decoder's output for the maps.
  auto decode = itk::VQDecodeImageFilter<IndexType, ImageType>::New();
  decode->SetInput(maps);
  decode->SetModel(source->GetVQVAEModel());
  decode->Update();
  const size_t count = 20 * 24 * 7;
  EXPECT_TRUE(std::equal(
    images->GetBufferPointer(), images->GetBufferPointer() + count, decode->GetOutput()->GetBufferPointer()));

  // A larger field of view: any latent size.
  source->SetLatentSize({ { 9, 4 } });
  source->SetNumberOfSamples(2);
  source->Update();
  EXPECT_EQ(source->GetOutput()->GetLargestPossibleRegion().GetSize(), (ImageType::SizeType{ { 36, 16, 2 } }));
}

TEST(ConditionalMicrostructureImageSource, SeedsAndStreaming)
{
  auto a = MakeSource();
  a->Update();
  auto b = MakeSource();
  b->Update();
  const size_t                n = 5 * 6 * 7;
  std::vector<unsigned short> ma(a->GetIndexMaps()->GetBufferPointer(), a->GetIndexMaps()->GetBufferPointer() + n);
  std::vector<unsigned short> mb(b->GetIndexMaps()->GetBufferPointer(), b->GetIndexMaps()->GetBufferPointer() + n);
  EXPECT_EQ(ma, mb); // same seed, same samples
  auto c = MakeSource();
  c->SetSeed(43);
  c->Update();
  std::vector<unsigned short> mc(c->GetIndexMaps()->GetBufferPointer(), c->GetIndexMaps()->GetBufferPointer() + n);
  EXPECT_NE(ma, mc);

  // Streaming through a writer in 4 pieces gives the same stack (whole batches are generated).
  const auto path = (std::filesystem::temp_directory_path() / "itkConditionalSourceStream.mha").string();
  auto       d = MakeSource();
  auto       writer = itk::ImageFileWriter<IndexType>::New();
  writer->SetInput(d->GetIndexMaps());
  writer->SetFileName(path);
  writer->SetNumberOfStreamDivisions(4);
  writer->Update();
  auto reader = itk::ImageFileReader<IndexType>::New();
  reader->SetFileName(path);
  reader->Update();
  std::vector<unsigned short> md(reader->GetOutput()->GetBufferPointer(), reader->GetOutput()->GetBufferPointer() + n);
  EXPECT_EQ(ma, md);
  std::filesystem::remove(path);

  // A sample depends on its batch only: the first 3 samples of 7 are those of 3.
  auto e = MakeSource();
  e->SetNumberOfSamples(3);
  e->Update();
  std::vector<unsigned short> me(e->GetIndexMaps()->GetBufferPointer(), e->GetIndexMaps()->GetBufferPointer() + 90);
  EXPECT_EQ(me, std::vector<unsigned short>(ma.begin(), ma.begin() + 90));
}

TEST(ConditionalMicrostructureImageSource, ClearErrors)
{
  auto describe = [](SourceType * s) -> std::string {
    try
    {
      s->Update();
    }
    catch (const itk::ExceptionObject & e)
    {
      return e.GetDescription();
    }
    return "";
  };
  auto mismatch = MakeSource();
  mismatch->SetVQVAEModel(TinyVQVAE(16)); // the prior has K = 12
  EXPECT_NE(describe(mismatch).find("12"), std::string::npos);

  auto missing = MakeSource();
  missing->SetCondition({ { "ln_rate", "1.0" } });
  EXPECT_NE(describe(missing).find("method"), std::string::npos);

  auto category = MakeSource();
  category->SetCondition({ { "ln_rate", "1.0" }, { "method", "water" } });
  EXPECT_NE(describe(category).find("water"), std::string::npos);

  auto temperature = MakeSource();
  temperature->SetTemperature(0.0);
  EXPECT_NE(describe(temperature).find("temperature"), std::string::npos);

  auto noPrior = SourceType::New();
  noPrior->SetVQVAEModel(TinyVQVAE(12));
  EXPECT_NE(describe(noPrior).find("no prior"), std::string::npos);
}
