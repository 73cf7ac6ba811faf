/*=========================================================================
 * Tests of the private LibTorch network of the VQ-VAE (src/torch/itkVQVAENetwork.h):
 * the decoder's fast transposed convolution (2x2 convolution + phase interleaving) against
 * LibTorch's own ConvTranspose2d, forward and gradients, and the compatibility of
 * its parameters (names, shapes, saved archives) with the ConvTranspose2d decoder.
 *
 * The test needs LibTorch's headers: the CMake target has them when it links LibTorch
 * (${TORCH_LIBRARIES}); without them every case is skipped, saying so.
 *=========================================================================*/
#include "gtest/gtest.h"

#if __has_include(<torch/torch.h>)
#  define SM_HAVE_TORCH_HEADERS 1
#  include "../src/torch/itkVQVAENetwork.h"

#  include "itkImage.h"
#  include "itkImportImageFilter.h"
#  include "itkOtsuThresholdImageFilter.h"

#  include <sstream>

namespace
{
namespace nn = torch::nn;

/** max |a - b| / max(1, max |b|). */
double
RelativeDifference(const torch::Tensor & a, const torch::Tensor & b)
{
  const double scale = std::max(1.0, b.abs().max().item<double>());
  return (a - b).abs().max().item<double>() / scale;
}

/** The decoder as it was before the fast transposed convolution: torch::nn::ConvTranspose2d. */
nn::Sequential
ConvTransposeDecoder(const itk::vqvae::NetworkOptions & o)
{
  const auto &   ch = o.encoderChannels;
  const auto     last = ch.back();
  nn::Sequential dec;
  dec->push_back(nn::Conv2d(nn::Conv2dOptions(o.codeDimension, last, 3).padding(1)));
  for (int64_t i = 0; i < o.residualBlocks; ++i)
  {
    dec->push_back(itk::vqvae::ResidualBlock(last));
  }
  dec->push_back(nn::ReLU());
  for (auto i = static_cast<int64_t>(ch.size()) - 1; i >= 1; --i)
  {
    dec->push_back(
      nn::ConvTranspose2d(nn::ConvTranspose2dOptions(ch[i], ch[i - 1], 4).stride(2).padding(1).bias(false)));
    dec->push_back(nn::BatchNorm2d(ch[i - 1]));
    dec->push_back(nn::ReLU());
  }
  dec->push_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(ch[0], o.inputChannels, 4).stride(2).padding(1)));
  dec->push_back(nn::Tanh());
  return dec;
}

itk::vqvae::NetworkOptions
SmallOptions()
{
  itk::vqvae::NetworkOptions o;
  o.encoderChannels = { 8, 16, 24 };
  o.residualBlocks = 1;
  o.codebookSize = 16;
  o.codeDimension = 12;
  return o;
}

} // namespace

// One layer against LibTorch's conv_transpose2d on the same parameter tensors: forward, and the
// gradients with respect to the input, the weight and the bias. In double precision the two
// formulations agree to rounding (1e-9 relative); in float (the network's type) the forward pass
// agrees to 1e-5 relative.
TEST(VQVAENetworkTorch, TransposedConvolution2xEqualsConvTranspose2d)
{
  torch::manual_seed(7);
  struct Case
  {
    int64_t in, out, h, w;
    bool    bias;
  };
  for (const Case c : { Case{ 128, 64, 8, 8, false }, Case{ 32, 1, 16, 16, true }, Case{ 3, 5, 5, 9, true } })
  {
    SCOPED_TRACE(std::to_string(c.in) + "->" + std::to_string(c.out) + " bias " + std::to_string(c.bias));
    itk::vqvae::TransposedConvolution2x fast(c.in, c.out, c.bias);
    ASSERT_EQ(fast->weight.sizes(), (std::vector<int64_t>{ c.in, c.out, 4, 4 }));
    ASSERT_EQ(fast->bias.defined(), c.bias);

    // float forward
    {
      torch::NoGradGuard noGrad;
      const auto         x = torch::randn({ 3, c.in, c.h, c.w });
      const auto         y = fast->forward(x);
      const auto         yr = torch::conv_transpose2d(x, fast->weight, fast->bias, /*stride=*/2, /*padding=*/1);
      ASSERT_EQ(y.sizes(), (std::vector<int64_t>{ 3, c.out, 2 * c.h, 2 * c.w }));
      EXPECT_LT(RelativeDifference(y, yr), 1e-5);
    }

    // double forward and gradients
    fast->to(torch::kDouble);
    auto x = torch::randn({ 3, c.in, c.h, c.w }, torch::kDouble).requires_grad_(true);
    auto xr = x.detach().clone().requires_grad_(true);
    auto wr = fast->weight.detach().clone().requires_grad_(true);
    auto br = c.bias ? fast->bias.detach().clone().requires_grad_(true) : torch::Tensor();
    auto y = fast->forward(x);
    auto yr = torch::conv_transpose2d(xr, wr, br, /*stride=*/2, /*padding=*/1);
    ASSERT_EQ(y.sizes(), yr.sizes());
    EXPECT_LT(RelativeDifference(y, yr), 1e-9);
    auto g = torch::randn_like(yr);
    y.backward(g);
    yr.backward(g);
    EXPECT_LT(RelativeDifference(x.grad(), xr.grad()), 1e-9);
    EXPECT_LT(RelativeDifference(fast->weight.grad(), wr.grad()), 1e-9);
    if (c.bias)
    {
      EXPECT_LT(RelativeDifference(fast->bias.grad(), br.grad()), 1e-9);
    }

    // The 2x2 weight of the four phases holds each 4x4 tap exactly once.
    const auto w2 = fast->ConvolutionWeight();
    EXPECT_EQ(w2.sizes(), (std::vector<int64_t>{ 4 * c.out, c.in, 2, 2 }));
    EXPECT_TRUE(torch::equal(std::get<0>(w2.flatten().sort()), std::get<0>(fast->weight.flatten().sort())));
  }
}

// The decoder has the parameter and buffer names and shapes of the ConvTranspose2d decoder, a
// decoder saved with ConvTranspose2d loads into it, and both compute the same images and
// gradients (training mode, batch statistics) and the same images in eval mode.
TEST(VQVAENetworkTorch, DecoderCompatibleWithConvTranspose2dDecoder)
{
  torch::manual_seed(11);
  const auto          o = SmallOptions();
  itk::vqvae::Network net(o);
  auto                old = ConvTransposeDecoder(o);
  for (auto & p : old->parameters())
  {
    torch::NoGradGuard noGrad;
    p.normal_(0.0, 0.2); // not the initial values of either side
  }

  const auto newParams = net->decoder->named_parameters();
  const auto oldParams = old->named_parameters();
  ASSERT_EQ(newParams.keys(), oldParams.keys());
  for (const auto & p : oldParams)
  {
    EXPECT_EQ(newParams[p.key()].sizes(), p.value().sizes()) << p.key();
  }
  ASSERT_EQ(net->decoder->named_buffers().keys(), old->named_buffers().keys());

  // An archive written by the old decoder loads into the new one.
  std::stringstream archive;
  torch::save(old, archive);
  torch::load(net->decoder, archive);
  for (const auto & p : oldParams)
  {
    EXPECT_TRUE(torch::equal(newParams[p.key()], p.value())) << p.key();
  }

  auto zq = torch::randn({ 4, o.codeDimension, 3, 5 });
  for (const bool training : { true, false })
  {
    SCOPED_TRACE(training ? "train" : "eval");
    net->train(training);
    old->train(training);
    auto a = zq.clone().requires_grad_(true);
    auto b = zq.clone().requires_grad_(true);
    auto ya = net->Decode(a);
    auto yb = old->forward(b);
    ASSERT_EQ(ya.sizes(), (std::vector<int64_t>{ 4, o.inputChannels, 24, 40 }));
    EXPECT_LT(RelativeDifference(ya, yb), 1e-5);
    if (training)
    {
      auto g = torch::randn_like(yb);
      ya.backward(g);
      yb.backward(g);
      EXPECT_LT(RelativeDifference(a.grad(), b.grad()), 1e-5);
      for (const auto & p : oldParams)
      {
        EXPECT_LT(RelativeDifference(newParams[p.key()].grad(), p.value().grad()), 1e-5) << p.key();
      }
    }
  }
}

// The network works channels-last inside (Encode and Decode convert their input): the same
// results as the plain NCHW forward of the same modules; and the index map is the brute-force
// nearest codebook vector.
TEST(VQVAENetworkTorch, ChannelsLastAndNearestCodes)
{
  torch::manual_seed(3);
  const auto          o = SmallOptions();
  itk::vqvae::Network net(o);
  net->eval();
  torch::NoGradGuard noGrad;
  const auto         x = torch::rand({ 2, 1, 32, 24 }) * 2 - 1;
  const auto         z = net->Encode(x);
  ASSERT_EQ(z.sizes(), (std::vector<int64_t>{ 2, o.codeDimension, 4, 3 }));
  EXPECT_LT(RelativeDifference(z.contiguous(), net->encoder->forward(x.contiguous())), 1e-5);
  const auto y = net->Decode(z);
  ASSERT_EQ(y.sizes(), x.sizes());
  EXPECT_LT(RelativeDifference(y.contiguous(), net->decoder->forward(z.contiguous())), 1e-5);

  const auto idx = net->quantizer->NearestCodes(z);
  const auto flat = z.permute({ 0, 2, 3, 1 }).reshape({ -1, 1, o.codeDimension });
  const auto brute = (flat - net->quantizer->codebook.unsqueeze(0)).pow(2).sum(2).argmin(1).reshape({ 2, 4, 3 });
  EXPECT_TRUE(torch::equal(idx, brute));
  const auto e = net->quantizer->Lookup(idx);
  EXPECT_TRUE(torch::equal(e.contiguous(),
                           net->quantizer->codebook.index_select(0, idx.reshape({ -1 }))
                             .reshape({ 2, 4, 3, o.codeDimension })
                             .permute({ 0, 3, 1, 2 })
                             .contiguous()));
}

// The phase loss's batched Otsu thresholds against ITK's OtsuThresholdImageFilter (256 bins over
// each image's range) on bimodal images with different contrasts, offsets and class sizes, and on a
// two-channel image (both channels pooled): the same threshold to within a hundredth of a bin.
TEST(VQVAENetworkTorch, OtsuThresholdsAgreeWithITK)
{
  torch::manual_seed(11);
  const int64_t n = 5, h = 40, w = 52;
  auto          x = torch::empty({ n, 1, h, w });
  for (int64_t i = 0; i < n; ++i)
  {
    const double dark = -0.8 + 0.1 * i, bright = 0.2 + 0.15 * i, fraction = 0.2 + 0.12 * i;
    auto         isBright = torch::rand({ h, w }) < fraction;
    auto         image = torch::where(isBright, torch::full({ h, w }, bright), torch::full({ h, w }, dark)) +
                 0.08 * torch::randn({ h, w });
    x[i][0].copy_(image);
  }
  const auto t = itk::vqvae::OtsuThresholds(x);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{ n }));
  using ImageType = itk::Image<float, 2>;
  auto itkThreshold = [](const float * data, int64_t count, int64_t width) {
    auto                import = itk::ImportImageFilter<float, 2>::New();
    ImageType::SizeType size{ { static_cast<itk::SizeValueType>(width),
                                static_cast<itk::SizeValueType>(count / width) } };
    import->SetRegion(ImageType::RegionType(size));
    import->SetImportPointer(const_cast<float *>(data), count, false);
    auto otsu = itk::OtsuThresholdImageFilter<ImageType, itk::Image<unsigned char, 2>>::New();
    otsu->SetInput(import->GetOutput());
    otsu->SetNumberOfHistogramBins(256);
    otsu->Update();
    return static_cast<double>(otsu->GetThreshold());
  };
  for (int64_t i = 0; i < n; ++i)
  {
    const auto   image = x[i].contiguous();
    const double binWidth = (image.max() - image.min()).item<double>() / 256.0;
    EXPECT_NEAR(t[i].item<double>(), itkThreshold(image.data_ptr<float>(), h * w, w), 0.01 * binWidth) << "image " << i;
  }
  // Two channels: the threshold of both pooled, i.e. of the image N x 1 x 2H x W.
  const auto   two = x.narrow(0, 0, 2).reshape({ 1, 2, h, w });
  const auto   pooled = two.reshape({ 2 * h * w }).contiguous();
  const double binWidth = (pooled.max() - pooled.min()).item<double>() / 256.0;
  EXPECT_NEAR(itk::vqvae::OtsuThresholds(two)[0].item<double>(),
              itkThreshold(pooled.data_ptr<float>(), 2 * h * w, w),
              0.01 * binWidth);
  // The thresholds separate the classes: between the dark and the bright level of each image.
  for (int64_t i = 0; i < n; ++i)
  {
    EXPECT_GT(t[i].item<double>(), -0.8 + 0.1 * i);
    EXPECT_LT(t[i].item<double>(), 0.2 + 0.15 * i);
  }
}

// The phase-map term: a reconstruction with half the contrast and an offset (x' = 0.5 x + 0.7) has
// the same phases at its own Otsu threshold, so the term at "own" is near 0, while at the original's
// threshold (in the gap between -0.5 and 0.5) every dark pixel of x' (0.45) reads as bright: the term
// is about the dark share.
// The term is differentiable with respect to the reconstruction.
TEST(VQVAENetworkTorch, SoftPhaseMapDistanceTakesTheReconstructionsOwnThreshold)
{
  torch::manual_seed(5);
  const int64_t n = 3, h = 32, w = 40;
  const auto    bright = torch::rand({ n, 1, h, w }) < 0.6;
  const auto    x = torch::where(bright, torch::full({ n, 1, h, w }, 0.5), torch::full({ n, 1, h, w }, -0.5)) +
                 0.05 * torch::randn({ n, 1, h, w });
  const auto   t = itk::vqvae::OtsuThresholds(x);
  const double darkShare = 1.0 - bright.to(torch::kDouble).mean().item<double>();
  auto         r = (0.5 * x + 0.7).set_requires_grad(true);
  const auto   atOriginal = itk::vqvae::SoftPhaseMapDistance(r, x, t, 0.02, false);
  const auto   atOwn = itk::vqvae::SoftPhaseMapDistance(r, x, t, 0.02, true);
  ASSERT_LT(t.max().item<double>(), 0.4); // Otsu in the gap between the noisy originals' levels
  EXPECT_NEAR(atOriginal.item<double>(), darkShare, 0.02);
  EXPECT_LT(atOwn.item<double>(), 0.025 * darkShare);
  // Identical images: 0 at both.
  EXPECT_LT(itk::vqvae::SoftPhaseMapDistance(x, x, t, 0.02, true).item<double>(), 1e-12);
  EXPECT_LT(itk::vqvae::SoftPhaseMapDistance(x, x, t, 0.02, false).item<double>(), 1e-12);
  atOwn.backward();
  ASSERT_TRUE(r.grad().defined());
  EXPECT_GT(r.grad().abs().sum().item<double>(), 0.0);
}

// The interface loss's densities: on sharp two-level images (softness far below the contrast) they
// are the phase changes per pixel step, counted here by brute force over rows and columns; vertical
// stripes have no vertical changes; the result is differentiable, and a blurred copy of an image at
// a wide softness crosses fewer boundaries than the sharp one.
TEST(VQVAENetworkTorch, SoftInterfaceDensityCountsPhaseChanges)
{
  const int64_t h = 16, w = 24;
  // Vertical stripes 4 px wide: 5 changes on each row's 23 steps, none on the columns.
  auto stripes = torch::full({ 1, 1, h, w }, -1.0, torch::kDouble);
  for (int64_t j = 0; j < w; ++j)
    if ((j / 4) % 2 == 1)
      stripes.select(3, j).fill_(1.0);
  auto d = itk::vqvae::SoftInterfaceDensity(stripes, torch::zeros({ 1 }, torch::kDouble), 1e-3);
  ASSERT_EQ(d.sizes(), (std::vector<int64_t>{ 1, 2 }));
  EXPECT_NEAR(d[0][0].item<double>(), 5.0 / 23.0, 1e-12);
  EXPECT_NEAR(d[0][1].item<double>(), 0.0, 1e-12);

  // Random two-level images, each with its own threshold between the levels.
  torch::manual_seed(3);
  const int64_t n = 3;
  auto          images = torch::empty({ n, 1, h, w }, torch::kDouble);
  auto          thresholds = torch::empty({ n }, torch::kDouble);
  for (int64_t i = 0; i < n; ++i)
  {
    const double dark = -0.9 + 0.2 * i, bright = 0.1 + 0.3 * i;
    images[i][0].copy_(torch::where(torch::rand({ h, w }, torch::kDouble) < 0.3 + 0.2 * i,
                                    torch::full({ h, w }, bright, torch::kDouble),
                                    torch::full({ h, w }, dark, torch::kDouble)));
    thresholds[i] = 0.5 * (dark + bright);
  }
  d = itk::vqvae::SoftInterfaceDensity(images, thresholds, 1e-4);
  for (int64_t i = 0; i < n; ++i)
  {
    const auto   a = images[i][0].contiguous();
    const auto   p = a.data_ptr<double>();
    const double t = thresholds[i].item<double>();
    int          changesH = 0, changesV = 0;
    for (int64_t r = 0; r < h; ++r)
      for (int64_t c = 0; c < w; ++c)
      {
        if (c + 1 < w && (p[r * w + c] > t) != (p[r * w + c + 1] > t))
          ++changesH;
        if (r + 1 < h && (p[r * w + c] > t) != (p[(r + 1) * w + c] > t))
          ++changesV;
      }
    EXPECT_NEAR(d[i][0].item<double>(), changesH / double(h * (w - 1)), 1e-12) << "image " << i;
    EXPECT_NEAR(d[i][1].item<double>(), changesV / double((h - 1) * w), 1e-12) << "image " << i;
  }

  // Differentiable, and blurring removes boundaries.
  auto soft = images.clone().requires_grad_(true);
  itk::vqvae::SoftInterfaceDensity(soft, thresholds, 0.2).sum().backward();
  EXPECT_GT(soft.grad().abs().sum().item<double>(), 0.0);
  const auto blurred = torch::avg_pool2d(images, 3, 1, 1, /*ceil_mode=*/false, /*count_include_pad=*/false);
  const auto sharpDensity = itk::vqvae::SoftInterfaceDensity(images, thresholds, 0.05);
  const auto blurredDensity = itk::vqvae::SoftInterfaceDensity(blurred, thresholds, 0.05);
  EXPECT_TRUE((blurredDensity < sharpDensity).all().item<bool>());
}

// The histogram loss: the squared Wasserstein-2 distance of the pixel-value distributions. A
// permutation of an image's pixels is at distance 0, an image plus a constant c at distance c^2,
// and in general it equals the brute-force value from sorted copies, image by image.
TEST(VQVAENetworkTorch, SortedIntensityDistanceIsWasserstein2OfPixelValues)
{
  torch::manual_seed(5);
  const auto a = torch::randn({ 3, 2, 9, 7 }, torch::kDouble);
  const auto permuted =
    a.reshape({ 3, -1 }).index_select(1, torch::randperm(2 * 9 * 7, torch::kLong)).reshape(a.sizes());
  EXPECT_LT(itk::vqvae::SortedIntensityDistance(permuted, a).item<double>(), 1e-24);
  EXPECT_NEAR(itk::vqvae::SortedIntensityDistance(a + 0.3, a).item<double>(), 0.09, 1e-12);
  const auto b = torch::rand({ 3, 2, 9, 7 }, torch::kDouble);
  double     brute = 0.0;
  for (int64_t i = 0; i < 3; ++i)
  {
    auto       va = a[i].flatten();
    auto       vb = b[i].flatten();
    const auto sa = std::get<0>(va.sort());
    const auto sb = std::get<0>(vb.sort());
    brute += (sa - sb).pow(2).sum().item<double>();
  }
  brute /= static_cast<double>(a.numel());
  EXPECT_NEAR(itk::vqvae::SortedIntensityDistance(a, b).item<double>(), brute, 1e-12);
  // Differentiable: the gradient moves the first batch's distribution towards the second's.
  auto x = a.clone().requires_grad_(true);
  itk::vqvae::SortedIntensityDistance(x, b).backward();
  const auto step = (x - 0.5 * static_cast<double>(a.numel()) * x.grad()).detach(); // lands on sorted b
  EXPECT_LT(itk::vqvae::SortedIntensityDistance(step, b).item<double>(), 1e-6 * brute);
}

#else

TEST(VQVAENetworkTorch, NeedsLibTorchHeaders)
{
  GTEST_SKIP() << "LibTorch's headers are not on this test's include path: link the test with "
                  "${TORCH_LIBRARIES} in test/CMakeLists.txt to run the network tests";
}

#endif
