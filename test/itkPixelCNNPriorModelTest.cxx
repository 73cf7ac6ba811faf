#include "itkPixelCNNPriorModel.h"
#include "itkVQVAEModel.h"
#include "itkOutputWindow.h"
#include "itkMultiThreaderBase.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <tuple>
#include <iomanip>
#include <unistd.h>

namespace
{
namespace fs = std::filesystem;
using Prior = itk::PixelCNNPriorModel;

// Tiny networks run fastest on one LibTorch thread (on a shared, loaded machine OpenMP's spinning
// threads slow small operations by 10-100x); the model reads ITK's global thread count at Initialize/Read.
const bool oneThread = (itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(1), true);

Prior::Hyperparameters
TinyHyperparameters(unsigned int K, unsigned int layers)
{
  Prior::Hyperparameters h;
  h.CodebookSize = K;
  h.EmbeddingDimension = 6;
  h.HiddenChannels = 8;
  h.NumberOfLayers = layers;
  h.FirstKernelSize = 7;
  h.KernelSize = 3;
  h.OutputHiddenChannels = 16;
  return h;
}

/** A continuous "log_rate" (trained on -2..2) and a categorical "method" {air, water}. */
Prior::ConditionSchema
TwoParameterSchema()
{
  return { Prior::LearnContinuousCondition("log_rate", { -2.0, -1.0, 0.5, 2.0 }),
           Prior::LearnCategoricalCondition("method", { "water", "air", "water" }) };
}

Prior::Pointer
TinyPrior(unsigned int K, unsigned int layers, uint64_t seed, const Prior::ConditionSchema & schema = {},
          const std::vector<unsigned int> & dilations = {})
{
  auto m = Prior::New();
  auto h = TinyHyperparameters(K, layers);
  h.Dilations = dilations;
  m->SetHyperparameters(h);
  m->SetConditionSchema(schema);
  m->SetSeed(seed);
  m->SetDevice("cpu");
  m->Initialize();
  return m;
}

std::vector<int32_t>
RandomMaps(unsigned int n, unsigned int h, unsigned int w, unsigned int K, unsigned int seed)
{
  std::mt19937                       rng(seed);
  std::uniform_int_distribution<int> u(0, static_cast<int>(K) - 1);
  std::vector<int32_t>               out(static_cast<size_t>(n) * h * w);
  for (auto & v : out)
    v = u(rng);
  return out;
}

Prior::Condition
Cond(double logRate, const std::string & method = "")
{
  std::ostringstream s;
  s << std::setprecision(17) << logRate;
  Prior::Condition c{ { "log_rate", s.str() } };
  if (!method.empty())
    c["method"] = method;
  return c;
}

/** Records ITK warnings instead of printing them. */
class CapturingOutputWindow : public itk::OutputWindow
{
public:
  ITK_DISALLOW_COPY_AND_MOVE(CapturingOutputWindow);
  using Self = CapturingOutputWindow;
  using Superclass = itk::OutputWindow;
  using Pointer = itk::SmartPointer<Self>;
  itkNewMacro(Self);
  itkTypeMacro(CapturingOutputWindow, OutputWindow);

  void
  DisplayText(const char * text) override
  {
    m_Text += text;
  }
  void
  DisplayWarningText(const char * text) override
  {
    m_Warnings += text;
  }
  std::string m_Text, m_Warnings;

protected:
  CapturingOutputWindow() = default;
};

template <typename F>
std::string
ExceptionText(F && f)
{
  try
  {
    f();
  }
  catch (const itk::ExceptionObject & e)
  {
    return e.GetDescription();
  }
  return "(no exception)";
}

fs::path
TempDir(const std::string & name)
{
  auto d = fs::temp_directory_path() / ("itkPixelCNNPriorModelTest_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

/** Appends count indices drawn independently from the code distribution p (inverse CDF). */
void
DrawCodes(const std::vector<double> & p, size_t count, std::mt19937 & rng, std::vector<int32_t> & out)
{
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  for (size_t i = 0; i < count; ++i)
  {
    double  u = u01(rng), cumulative = 0.0;
    int32_t k = 0;
    while (k + 1 < static_cast<int32_t>(p.size()) && (cumulative += p[k]) <= u)
      ++k;
    out.push_back(k);
  }
}

/** Total variation 0.5 sum_k |f(k) - p(k)| between the index frequencies of maps and p. */
double
FrequencyDistance(const std::vector<int32_t> & maps, const std::vector<double> & p)
{
  double tv = 0.0;
  for (size_t k = 0; k < p.size(); ++k)
    tv += 0.5 * std::abs(std::count(maps.begin(), maps.end(), static_cast<int32_t>(k)) / double(maps.size()) - p[k]);
  return tv;
}

} // namespace


// Causality, exactly for one layer: perturbing the index at (r, c) changes the logits at (r', c') iff
// (r' == r and c < c' <= c + 3) [horizontal stack, mask A] or (r < r' <= r + 4 and |c' - c| <= 3)
// [vertical stack 4 x 7 seen through the down-shift], i.e. never at itself or before it, and the
// positions up and to the right are seen (no blind spot).
/** The bytes of a file. */
std::string
FileBytes(const fs::path & path)
{
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/** The bytes of a model file without its header checksum line, as files written before the
 * checksum existed are (and still read): a header edited in such a file reaches the reader's check
 * of the edited value itself instead of the checksum's "damaged header". */
std::string
WithoutHeaderChecksum(std::string bytes)
{
  const auto at = bytes.find("\nheader_fnv1a64 = ");
  if (at != std::string::npos)
    bytes.erase(at + 1, bytes.find('\n', at + 1) - at);
  return bytes;
}

/** Copies a model file with the first character of a header key's value replaced by "x" (and no
 * header checksum, see WithoutHeaderChecksum); false when the key is not in the file. */
bool
DamageHeaderValue(const fs::path & from, const std::string & key, const fs::path & to)
{
  std::string bytes = WithoutHeaderChecksum(FileBytes(from));
  const auto  at = bytes.find(key + " = ");
  if (at == std::string::npos)
    return false;
  bytes.replace(at + key.size() + 3, 1, "x");
  std::ofstream(to.string(), std::ios::binary) << bytes;
  return true;
}

TEST(PixelCNNPriorModel, FirstLayerMaskAReceptiveFieldIsExact)
{
  const unsigned int K = 5, H = 9, W = 10;
  auto               m = TinyPrior(K, 1, 3);
  auto               maps = RandomMaps(1, H, W, K, 11);
  const auto         base = m->Logits(maps.data(), 1, H, W, { {} });
  for (const auto & rc : std::vector<std::pair<int, int>>{ { 0, 0 }, { 2, 4 }, { 4, 9 }, { 8, 0 }, { 3, 1 } })
  {
    auto changed = maps;
    changed[rc.first * W + rc.second] = (changed[rc.first * W + rc.second] + 2) % K;
    const auto after = m->Logits(changed.data(), 1, H, W, { {} });
    for (int r = 0; r < static_cast<int>(H); ++r)
      for (int c = 0; c < static_cast<int>(W); ++c)
      {
        double diff = 0.0;
        for (unsigned int k = 0; k < K; ++k)
        {
          const size_t i = (static_cast<size_t>(k) * H + r) * W + c;
          diff = std::max(diff, std::abs(static_cast<double>(after[i]) - base[i]));
        }
        const bool sees = (r == rc.first && c > rc.second && c <= rc.second + 3) ||
                          (r > rc.first && r <= rc.first + 4 && std::abs(c - rc.second) <= 3);
        if (sees)
          EXPECT_GT(diff, 1e-4) << "(" << r << "," << c << ") should see (" << rc.first << "," << rc.second << ")";
        else
          EXPECT_LT(diff, 1e-6) << "(" << r << "," << c << ") must not see (" << rc.first << "," << rc.second << ")";
      }
  }
}

// Deep network (mask B layers with residuals): nothing at or before the perturbed position changes;
// the next position, and the row below on both sides, do.
class DeepLayers : public ::testing::TestWithParam<std::vector<unsigned int>>
{};

TEST_P(DeepLayers, AreCausalWithoutBlindSpot)
{
  const unsigned int K = 6, H = 8, W = 9;
  auto               m = TinyPrior(K, 6, 5, TwoParameterSchema(), GetParam());
  auto               maps = RandomMaps(1, H, W, K, 12);
  const std::vector<Prior::Condition> cond{ Cond(0.3, "air") };
  const auto                          base = m->Logits(maps.data(), 1, H, W, cond);
  auto diffAt = [&](const std::vector<float> & after, int r, int c) {
    double diff = 0.0;
    for (unsigned int k = 0; k < K; ++k)
    {
      const size_t i = (static_cast<size_t>(k) * H + r) * W + c;
      diff = std::max(diff, std::abs(static_cast<double>(after[i]) - base[i]));
    }
    return diff;
  };
  for (int p = 0; p < static_cast<int>(H * W); p += 5)
  {
    const int r0 = p / W, c0 = p % W;
    auto      changed = maps;
    changed[p] = (changed[p] + 1) % K;
    const auto after = m->Logits(changed.data(), 1, H, W, cond);
    for (int q = 0; q <= p; ++q)
      EXPECT_LT(diffAt(after, q / W, q % W), 1e-6) << "position " << q << " sees the later position " << p;
    if (c0 + 1 < static_cast<int>(W))
      EXPECT_GT(diffAt(after, r0, c0 + 1), 1e-4);
    if (r0 + 1 < static_cast<int>(H))
    {
      EXPECT_GT(diffAt(after, r0 + 1, c0), 1e-4);
      if (c0 > 0)
        EXPECT_GT(diffAt(after, r0 + 1, c0 - 1), 1e-4) << "blind spot: below-left does not see (" << r0 << "," << c0 << ")";
      if (c0 + 1 < static_cast<int>(W))
        EXPECT_GT(diffAt(after, r0 + 1, c0 + 1), 1e-4);
    }
  }
}
// Without dilations (the paper), and with dilations 1, 2, 3 cycled over layers 2..6.
INSTANTIATE_TEST_SUITE_P(PixelCNNPriorModel, DeepLayers,
                         ::testing::Values(std::vector<unsigned int>{}, std::vector<unsigned int>{ 1, 2, 3 }));

// Dilations widen the receptive field as computed by hand: with 3 layers (first kernel 7, then kernel
// 3 at dilation 8), the logits at (r, c) see, through the vertical stacks shifted down one row, the
// rows r-20..r-17 among others; without dilations they reach no further up than r-6.
TEST(PixelCNNPriorModel, DilationsWidenTheReceptiveField)
{
  const unsigned int K = 5, H = 24, W = 24;
  auto               plain = TinyPrior(K, 3, 4);
  auto               dilated = TinyPrior(K, 3, 4, {}, { 8 });
  auto               maps = RandomMaps(1, H, W, K, 13);
  auto               changed = maps;
  changed[0 * W + 12] = (changed[0 * W + 12] + 1) % K; // position (0, 12)
  auto diff = [&](Prior * m, int r, int c) {
    const auto a = m->Logits(maps.data(), 1, H, W, { {} });
    const auto b = m->Logits(changed.data(), 1, H, W, { {} });
    double     d = 0.0;
    for (unsigned int k = 0; k < K; ++k)
    {
      const size_t i = (static_cast<size_t>(k) * H + r) * W + c;
      d = std::max(d, std::abs(static_cast<double>(a[i]) - b[i]));
    }
    return d;
  };
  EXPECT_GT(diff(dilated, 20, 12), 1e-5);
  EXPECT_GT(diff(dilated, 17, 12), 1e-5);
  EXPECT_LT(diff(dilated, 21, 12), 1e-7); // beyond the field: r-20 is the farthest row
  EXPECT_GT(diff(plain, 6, 12), 1e-5);
  EXPECT_LT(diff(plain, 7, 12), 1e-7);
  EXPECT_LT(diff(plain, 20, 12), 1e-7);
}

// The likelihood is a normalised distribution over all K^(h w) maps (only if it is autoregressive), and
// equals the sum of log-softmax of the logits of one forward pass.
TEST(PixelCNNPriorModel, LogLikelihoodIsNormalisedAndMatchesLogits)
{
  const unsigned int K = 3, H = 2, W = 3;
  auto               m = TinyPrior(K, 3, 7, TwoParameterSchema());
  const unsigned int total = 729; // 3^6
  std::vector<int32_t> maps(total * H * W);
  for (unsigned int i = 0; i < total; ++i)
  {
    unsigned int v = i;
    for (unsigned int p = 0; p < H * W; ++p, v /= K)
      maps[i * H * W + p] = static_cast<int32_t>(v % K);
  }
  const std::vector<Prior::Condition> cond{ Cond(-0.7, "water") };
  m->SetInferenceBatchSize(100);
  const auto logL = m->LogLikelihood(maps.data(), total, H, W, cond);
  double     sum = 0.0;
  for (const double l : logL)
  {
    EXPECT_LT(l, 0.0);
    sum += std::exp(l);
  }
  EXPECT_NEAR(sum, 1.0, 1e-6);

  const auto logits = m->Logits(maps.data(), total, H, W, cond);
  for (unsigned int i = 0; i < total; i += 37)
  {
    double expected = 0.0;
    for (unsigned int p = 0; p < H * W; ++p)
    {
      double mx = -1e300, z = 0.0;
      for (unsigned int k = 0; k < K; ++k)
        mx = std::max(mx, static_cast<double>(logits[(i * K + k) * H * W + p]));
      for (unsigned int k = 0; k < K; ++k)
        z += std::exp(logits[(i * K + k) * H * W + p] - mx);
      expected += logits[(i * K + maps[i * H * W + p]) * H * W + p] - mx - std::log(z);
    }
    EXPECT_NEAR(logL[i], expected, 1e-9);
  }
}

// Incremental and naive samplers: the same indices for the same seed (several non-square maps, per-map
// conditions, batches of 4 and 1); another seed, other maps.
TEST(PixelCNNPriorModel, IncrementalSamplerEqualsNaive)
{
  const unsigned int K = 9, H = 5, W = 7, n = 6;
  auto               m = TinyPrior(K, 4, 9, TwoParameterSchema());
  std::vector<Prior::Condition> cond;
  for (unsigned int i = 0; i < n; ++i)
    cond.push_back(Cond(-2.0 + 0.8 * i, i % 2 ? "air" : "water"));
  m->SetInferenceBatchSize(4);
  m->SetSampler("naive");
  const auto naive = m->Sample(n, H, W, cond, 1.0, 42);
  m->SetSampler("incremental");
  const auto incremental = m->Sample(n, H, W, cond, 1.0, 42);
  EXPECT_EQ(incremental, naive);
  m->SetInferenceBatchSize(1);
  std::vector<double> progress;
  EXPECT_EQ(m->Sample(n, H, W, cond, 1.0, 42, [&](double f) { progress.push_back(f); }), naive);
  ASSERT_EQ(progress.size(), n * H); // once per row of every map
  EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));
  EXPECT_NEAR(progress.back(), 1.0, 1e-12);
  // Larger codebooks, other networks and seeds, 8 x 6 maps: still the same indices.
  for (unsigned int s = 1; s <= 3; ++s)
  {
    auto big = TinyPrior(64, 3, 100 + s, TwoParameterSchema());
    big->SetSampler("naive");
    const auto a = big->Sample(4, 8, 6, { cond[s] }, 1.0, s);
    big->SetSampler("incremental");
    EXPECT_EQ(big->Sample(4, 8, 6, { cond[s] }, 1.0, s), a) << "network " << s;
  }
  // Dilated layers (reaching past the map's edges, too): the incremental sampler's strided windows.
  for (const auto & dilations : std::vector<std::vector<unsigned int>>{ { 2 }, { 1, 3, 5 } })
  {
    auto dilated = TinyPrior(32, 4, 200 + dilations.size(), TwoParameterSchema(), dilations);
    dilated->SetSampler("naive");
    const auto a = dilated->Sample(3, 9, 7, { cond[2] }, 1.0, 5);
    dilated->SetSampler("incremental");
    EXPECT_EQ(dilated->Sample(3, 9, 7, { cond[2] }, 1.0, 5), a) << "dilations " << dilations.size();
  }
  EXPECT_NE(m->Sample(n, H, W, cond, 1.0, 43), naive);
  std::set<int32_t> used(naive.begin(), naive.end());
  EXPECT_GE(used.size(), 5u);
  // A lower temperature, too.
  m->SetSampler("naive");
  const auto cold = m->Sample(2, H, W, { cond[1] }, 0.5, 7);
  m->SetSampler("incremental");
  EXPECT_EQ(m->Sample(2, H, W, { cond[1] }, 0.5, 7), cold);
}

// The sampler draws from the model's distribution: on 2 x 2 maps with K = 3 (81 maps), the frequencies
// of 4000 samples against exp(LogLikelihood) (chi-square, 80 degrees of freedom); any latent size works.
TEST(PixelCNNPriorModel, SamplesFollowTheLikelihood)
{
  const unsigned int K = 3, H = 2, W = 2, n = 4000;
  auto               m = TinyPrior(K, 2, 13, TwoParameterSchema());
  const std::vector<Prior::Condition> cond{ Cond(1.0, "air") };
  const auto                          s = m->Sample(n, H, W, cond, 1.0, 2021);
  std::vector<double>                 observed(81, 0.0);
  for (unsigned int i = 0; i < n; ++i)
    observed[s[4 * i] + 3 * s[4 * i + 1] + 9 * s[4 * i + 2] + 27 * s[4 * i + 3]] += 1.0;
  std::vector<int32_t> all(81 * 4);
  for (unsigned int i = 0; i < 81; ++i)
    for (unsigned int p = 0, v = i; p < 4; ++p, v /= 3)
      all[4 * i + p] = static_cast<int32_t>(v % 3);
  const auto logL = m->LogLikelihood(all.data(), 81, H, W, cond);
  double     chi2 = 0.0;
  for (unsigned int i = 0; i < 81; ++i)
  {
    const double e = n * std::exp(logL[i]);
    chi2 += (observed[i] - e) * (observed[i] - e) / e;
  }
  EXPECT_LT(chi2, 150.0); // mean 80, sd 12.6
  EXPECT_GT(chi2, 30.0);

  const auto big = m->Sample(2, 32, 24, cond, 1.0, 5);
  ASSERT_EQ(big.size(), 2u * 32 * 24);
  for (const auto v : big)
    ASSERT_TRUE(v >= 0 && v < 3);
}

// A tiny prior learns how the statistics of the maps depend on a continuous condition: indices are
// independent with P(code 1) = sigmoid(c), c uniform in [-2, 2]. After training, the loss reaches the
// true conditional entropy, samples reproduce sigmoid(c), and the posterior over c of a map made with
// c = 1 peaks near 1.
TEST(PixelCNNPriorModel, LearnsConditionDependence)
{
  const unsigned int K = 2, H = 8, W = 8, batch = 32;
  std::mt19937       rng(3);
  std::uniform_real_distribution<double> uc(-2.0, 2.0), u01(0.0, 1.0);
  auto sigmoid = [](double c) { return 1.0 / (1.0 + std::exp(-c)); };
  auto makeMap = [&](double c, unsigned int h, unsigned int w, int32_t * out) {
    for (unsigned int i = 0; i < h * w; ++i)
      out[i] = u01(rng) < sigmoid(c) ? 1 : 0;
  };
  std::vector<double> column(200);
  for (auto & c : column)
    c = uc(rng);
  auto m = Prior::New();
  auto hp = TinyHyperparameters(K, 2);
  hp.HiddenChannels = 16;
  m->SetHyperparameters(hp);
  m->SetConditionSchema({ Prior::LearnContinuousCondition("c", column) });
  EXPECT_NEAR(m->GetConditionSchema()[0].Minimum, *std::min_element(column.begin(), column.end()), 0);
  m->SetSeed(1);
  m->SetDevice("cpu");
  m->SetLearningRate(1e-2);
  m->Initialize();

  // True entropy per index, bits, averaged over c.
  double entropy = 0.0;
  for (int i = 0; i < 4000; ++i)
  {
    const double p = sigmoid(-2.0 + 4.0 * (i + 0.5) / 4000);
    entropy -= (p * std::log2(p) + (1 - p) * std::log2(1 - p)) / 4000;
  }
  std::vector<int32_t>          maps(batch * H * W);
  std::vector<Prior::Condition> cond(batch);
  double                        first = 0.0, last = 0.0;
  const unsigned int            steps = 300;
  for (unsigned int s = 0; s < steps; ++s)
  {
    for (unsigned int i = 0; i < batch; ++i)
    {
      const double c = column[(s * batch + i) % column.size()];
      makeMap(c, H, W, maps.data() + i * H * W);
      cond[i] = { { "c", Cond(c).at("log_rate") } };
    }
    const auto r = m->TrainStep(maps.data(), batch, H, W, cond);
    EXPECT_NEAR(r.BitsPerIndex, r.Loss / std::log(2.0), 1e-12);
    if (s < 10)
      first += r.BitsPerIndex / 10;
    if (s >= steps - 30)
      last += r.BitsPerIndex / 30;
  }
  EXPECT_EQ(m->GetNumberOfTrainingSteps(), steps);
  EXPECT_EQ(m->GetLatentHeight(), H);
  EXPECT_LT(last, first);
  EXPECT_LT(last, entropy + 0.05) << "true conditional entropy " << entropy << " bits";

  // (Over 6 training seeds the largest deviation was 0.035.)
  std::vector<double> fractions;
  for (const double c : { -1.5, 0.0, 1.5 })
  {
    const auto s = m->Sample(200, H, W, { { { "c", Cond(c).at("log_rate") } } }, 1.0, 99);
    fractions.push_back(std::count(s.begin(), s.end(), 1) / static_cast<double>(s.size()));
    EXPECT_NEAR(fractions.back(), sigmoid(c), 0.06) << "c = " << c;
  }
  EXPECT_GT(fractions[2] - fractions[0], 0.5); // 0.635 in truth

  std::vector<int32_t> map(16 * 16);
  makeMap(1.0, 16, 16, map.data());
  std::vector<double> grid;
  for (int i = 0; i <= 38; ++i)
    grid.push_back(-1.9 + 0.1 * i);
  const auto   posterior = m->ConditionPosterior(map.data(), 16, 16, {}, "c", grid);
  const double total = std::accumulate(posterior.begin(), posterior.end(), 0.0);
  EXPECT_NEAR(total, 1.0, 1e-12);
  const auto best = grid[std::max_element(posterior.begin(), posterior.end()) - posterior.begin()];
  EXPECT_NEAR(best, 1.0, 0.5);
  double mean = 0.0;
  for (size_t i = 0; i < grid.size(); ++i)
    mean += grid[i] * posterior[i];
  EXPECT_NEAR(mean, 1.0, 0.5);
}

// bfloat16 mixed-precision training (SetPrecision; "auto" is resolved by the code the VQ-VAE test
// checks against /proc/cpuinfo): from the same weights its first loss is within 2 % of float32's,
// and it learns the conditional distribution as well (maps of Bernoulli(sigmoid(c)) indices).
TEST(PixelCNNPriorModel, BFloat16MixedPrecisionLearnsLikeFloat32)
{
  const unsigned int K = 2, H = 8, W = 8, batch = 32, steps = 150;
  std::vector<double> column(200);
  std::mt19937        rng(5);
  std::uniform_real_distribution<double> uc(-2.0, 2.0), u01(0.0, 1.0);
  for (auto & c : column)
    c = uc(rng);
  auto make = [&](const std::string & precision) {
    auto m = Prior::New();
    auto hp = TinyHyperparameters(K, 2);
    hp.HiddenChannels = 16;
    m->SetHyperparameters(hp);
    m->SetConditionSchema({ Prior::LearnContinuousCondition("c", column) });
    m->SetSeed(1);
    m->SetDevice("cpu");
    m->SetPrecision(precision);
    m->SetLearningRate(1e-2);
    m->Initialize();
    return m;
  };
  auto m32 = make("float32");
  auto m16 = make("bfloat16");
  EXPECT_EQ(m32->GetPrecisionInUse(), "float32");
  EXPECT_EQ(m16->GetPrecisionInUse(), "bfloat16");
  EXPECT_THROW(m16->SetPrecision("half"), itk::ExceptionObject);
  EXPECT_EQ(std::string(m16->GetPrecision()), "bfloat16");
  std::vector<int32_t>          maps(batch * H * W);
  std::vector<Prior::Condition> cond(batch);
  double                        first32 = 0, first16 = 0, last32 = 0, last16 = 0;
  for (unsigned int s = 0; s < steps; ++s)
  {
    for (unsigned int i = 0; i < batch; ++i)
    {
      const double c = column[(s * batch + i) % column.size()];
      for (unsigned int k = 0; k < H * W; ++k)
        maps[i * H * W + k] = u01(rng) < 1.0 / (1.0 + std::exp(-c)) ? 1 : 0;
      cond[i] = { { "c", Cond(c).at("log_rate") } };
    }
    const double b32 = m32->TrainStep(maps.data(), batch, H, W, cond).BitsPerIndex;
    const double b16 = m16->TrainStep(maps.data(), batch, H, W, cond).BitsPerIndex;
    if (s == 0)
    {
      first32 = b32;
      first16 = b16;
    }
    if (s >= steps - 30)
    {
      last32 += b32 / 30;
      last16 += b16 / 30;
    }
  }
  EXPECT_NEAR(first16, first32, 0.02 * first32);
  EXPECT_LT(last16, first16);
  EXPECT_NEAR(last16, last32, 0.05) << "bits per index after " << steps << " steps";
}

TEST(PixelCNNPriorModel, SameSeedSameWeightsAndTraining)
{
  const unsigned int K = 4, H = 4, W = 5;
  auto               maps = RandomMaps(3, H, W, K, 1);
  auto               a = TinyPrior(K, 3, 17), b = TinyPrior(K, 3, 17), c = TinyPrior(K, 3, 18);
  EXPECT_EQ(a->LogLikelihood(maps.data(), 3, H, W, { {} }), b->LogLikelihood(maps.data(), 3, H, W, { {} }));
  EXPECT_NE(a->LogLikelihood(maps.data(), 3, H, W, { {} }), c->LogLikelihood(maps.data(), 3, H, W, {}));
  for (int s = 0; s < 3; ++s)
  {
    EXPECT_EQ(a->TrainStep(maps.data(), 3, H, W, { {} }).Loss, b->TrainStep(maps.data(), 3, H, W, { {} }).Loss);
  }
  EXPECT_EQ(a->LogLikelihood(maps.data(), 3, H, W, { {} }), b->LogLikelihood(maps.data(), 3, H, W, { {} }));
}

TEST(PixelCNNPriorModel, WriteReadRoundTrip)
{
  const auto dir = TempDir("roundtrip");
  const unsigned int K = 6, H = 4, W = 6;
  auto               schema = TwoParameterSchema();
  schema.push_back(Prior::LearnCategoricalCondition("odd, name\\x", { "a,b", "c\nd" }));
  auto m = TinyPrior(K, 3, 21, schema, { 2, 3 });
  auto maps = RandomMaps(4, H, W, K, 2);
  Prior::Condition cond = Cond(0.25, "water");
  cond["odd, name\\x"] = "c\nd";
  m->TrainStep(maps.data(), 4, H, W, { cond });
  m->SetTrainingSummary("300 steps, lr 3e-4\nsecond line = x");
  const auto path = (dir / "prior.smprior").string();
  m->Write(path);

  auto r = Prior::New();
  r->SetDevice("cpu");
  r->Read(path);
  EXPECT_EQ(r->GetCodebookSize(), K);
  EXPECT_EQ(r->GetHyperparameters().NumberOfLayers, 3u);
  EXPECT_EQ(r->GetHyperparameters().Dilations, (std::vector<unsigned int>{ 2, 3 }));
  EXPECT_EQ(std::string(r->GetTrainingSummary()), std::string(m->GetTrainingSummary()));
  EXPECT_EQ(r->GetLatentHeight(), H);
  EXPECT_EQ(r->GetLatentWidth(), W);
  EXPECT_EQ(r->GetNumberOfTrainingSteps(), 1u);
  ASSERT_EQ(r->GetConditionSchema().size(), 3u);
  for (size_t i = 0; i < 3; ++i)
  {
    const auto &a = schema[i], &b = r->GetConditionSchema()[i];
    EXPECT_EQ(a.Name, b.Name);
    EXPECT_EQ(a.Categorical, b.Categorical);
    EXPECT_EQ(a.Categories, b.Categories);
    EXPECT_EQ(a.Mean, b.Mean);
    EXPECT_EQ(a.StdDev, b.StdDev);
    EXPECT_EQ(a.Minimum, b.Minimum);
    EXPECT_EQ(a.Maximum, b.Maximum);
  }
  EXPECT_EQ(r->LogLikelihood(maps.data(), 4, H, W, { cond }), m->LogLikelihood(maps.data(), 4, H, W, { cond }));
  EXPECT_EQ(r->Sample(3, H, W, { cond }, 1.0, 8), m->Sample(3, H, W, { cond }, 1.0, 8));
  fs::remove_all(dir);
}

TEST(PixelCNNPriorModel, DamagedForeignAndNewerFilesAreClearErrors)
{
  const auto dir = TempDir("damaged");
  auto       m = TinyPrior(4, 2, 1, TwoParameterSchema());
  const auto good = (dir / "good.smprior").string();
  m->Write(good);
  std::ifstream     in(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto write = [&](const std::string & name, const std::string & content) {
    const auto    p = (dir / name).string();
    std::ofstream o(p, std::ios::binary);
    o << content;
    return p;
  };
  auto readText = [&](const std::string & p) {
    auto r = Prior::New();
    r->SetDevice("cpu");
    return ExceptionText([&] { r->Read(p); });
  };
  EXPECT_NE(readText(write("truncated", bytes.substr(0, bytes.size() - 100))).find("truncated"), std::string::npos);
  std::string flipped = bytes;
  flipped[bytes.size() - 50] ^= 0x10;
  EXPECT_NE(readText(write("flipped", flipped)).find("checksum"), std::string::npos);
  EXPECT_NE(readText(write("text", "hello, world\n")).find("not a prior model file"), std::string::npos);
  EXPECT_NE(readText(write("newer", "ITKSMPRIOR 2" + bytes.substr(12))).find("format version 2"), std::string::npos);
  EXPECT_NE(readText(write("header", bytes.substr(0, 200))).find("end_header"), std::string::npos);
  EXPECT_NE(readText((dir / "missing").string()).find("cannot open"), std::string::npos);

  // A VQ-VAE model file is named as such.
  auto vq = itk::VQVAEModel::New();
  auto vh = vq->GetHyperparameters();
  vh.EncoderChannels = { 4 };
  vh.CodebookSize = 8;
  vh.CodeDimension = 4;
  vh.NumberOfResidualBlocks = 0;
  vq->SetHyperparameters(vh);
  vq->SetDevice("cpu");
  vq->Initialize();
  const auto vqPath = (dir / "vq.model").string();
  vq->Write(vqPath);
  EXPECT_NE(readText(vqPath).find("VQ-VAE"), std::string::npos);

  // A failed read leaves the model as it was; writing without a network writes nothing.
  auto r = TinyPrior(4, 2, 1, TwoParameterSchema());
  EXPECT_NE(readText(write("flipped2", flipped)), "(no exception)");
  auto empty = Prior::New();
  const auto none = (dir / "none.smprior").string();
  EXPECT_NE(ExceptionText([&] { empty->Write(none); }).find("Initialize"), std::string::npos);
  EXPECT_FALSE(fs::exists(none));
  fs::remove_all(dir);
}

TEST(PixelCNNPriorModel, BadConditionsAreClearErrorsOutOfRangeWarns)
{
  auto m = TinyPrior(4, 2, 1, TwoParameterSchema());
  auto maps = RandomMaps(2, 3, 3, 4, 5);
  auto logL = [&](const std::vector<Prior::Condition> & c) {
    return ExceptionText([&] { m->LogLikelihood(maps.data(), 2, 3, 3, c); });
  };
  EXPECT_NE(logL({ { { "log_rate", "0.5" } } }).find("\"method\" is missing"), std::string::npos);
  auto unknown = Cond(0.5, "air");
  unknown["temperature"] = "800";
  EXPECT_NE(logL({ unknown }).find("unknown process parameter \"temperature\""), std::string::npos);
  EXPECT_NE(logL({ Cond(std::numeric_limits<double>::quiet_NaN(), "air") }).find("not a finite number"),
            std::string::npos);
  EXPECT_NE(logL({ { { "log_rate", "fast" }, { "method", "air" } } }).find("not a finite number"), std::string::npos);
  EXPECT_NE(logL({ Cond(0.5, "oil") }).find("unknown category \"oil\""), std::string::npos);
  EXPECT_NE(logL({ Cond(0.5, "air"), Cond(0.5, "air"), Cond(0.5, "air") }).find("one condition for all"),
            std::string::npos);
  EXPECT_NE(ExceptionText([&] { m->Sample(1, 2, 2, { Cond(0.5, "oil") }, 1.0, 1); }).find("unknown category"),
            std::string::npos);
  auto bad = maps;
  bad[3] = 4;
  EXPECT_NE(ExceptionText([&] { m->LogLikelihood(bad.data(), 2, 3, 3, { Cond(0, "air") }); }).find("outside 0..3"),
            std::string::npos);
  EXPECT_NE(ExceptionText([&] { m->Sample(1, 2, 2, { Cond(0, "air") }, 0.0, 1); }).find("temperature"),
            std::string::npos);

  // Outside the trained range -2..2: a warning naming the value, and a result.
  auto window = CapturingOutputWindow::New();
  auto previous = itk::OutputWindow::GetInstance();
  itk::OutputWindow::SetInstance(window);
  const bool display = itk::Object::GetGlobalWarningDisplay();
  itk::Object::GlobalWarningDisplayOn();
  std::vector<double> inRange, outside;
  EXPECT_NO_THROW(inRange = m->LogLikelihood(maps.data(), 2, 3, 3, { Cond(1.5, "air") }));
  EXPECT_EQ(window->m_Warnings, "");
  EXPECT_NO_THROW(outside = m->LogLikelihood(maps.data(), 2, 3, 3, { Cond(3.5, "air") }));
  EXPECT_NE(window->m_Warnings.find("log_rate = 3.5"), std::string::npos) << window->m_Warnings;
  EXPECT_EQ(outside.size(), 2u);
  EXPECT_NE(outside, inRange);
  itk::Object::SetGlobalWarningDisplay(display);
  itk::OutputWindow::SetInstance(previous);

  // Far outside the trained range (the biases would overflow into NaN logits): refused, naming it.
  for (const double far : { -1000.0, 1e10 })
  {
    const auto text = ExceptionText([&] { m->EncodeConditions({ Cond(far, "air") }, 1); });
    EXPECT_NE(text.find("too far outside"), std::string::npos) << far << ": " << text;
    EXPECT_NE(text.find("log_rate"), std::string::npos) << text;
  }

  // Schema and hyperparameter errors.
  EXPECT_NE(ExceptionText([&] { m->SetConditionSchema({ TwoParameterSchema()[0], TwoParameterSchema()[0] }); })
              .find("appears twice"),
            std::string::npos);
  EXPECT_NE(ExceptionText([] { Prior::LearnCondition("x", { "1", "two" }, false); }).find("\"two\", not a number"),
            std::string::npos);
  auto h = TinyHyperparameters(4, 2);
  h.KernelSize = 4;
  EXPECT_NE(ExceptionText([&] { h.Validate(); }).find("KernelSize must be odd"), std::string::npos);
  h.KernelSize = 3;
  h.Dilations = { 1, 0 };
  EXPECT_NE(ExceptionText([&] { h.Validate(); }).find("every dilation must lie in 1..64"), std::string::npos);
  EXPECT_NE(ExceptionText([&] { m->SetSampler("fast"); }).find("unknown sampler"), std::string::npos);
  EXPECT_NE(ExceptionText([&] { m->SetDevice("gpu"); }).find("unknown device"), std::string::npos);
}

TEST(PixelCNNPriorModel, CodebookSizeMustMatchTheVQVAE)
{
  auto prior = TinyPrior(8, 1, 1);
  auto vq = itk::VQVAEModel::New();
  auto vh = vq->GetHyperparameters();
  vh.CodebookSize = 16;
  vq->SetHyperparameters(vh);
  const auto text = ExceptionText([&] { prior->CheckCompatibleCodebookSize(vq->GetHyperparameters().CodebookSize); });
  EXPECT_NE(text.find("8 codes"), std::string::npos) << text;
  EXPECT_NE(text.find("16 codes"), std::string::npos) << text;
  EXPECT_NO_THROW(prior->CheckCompatibleCodebookSize(8));
  EXPECT_NE(ExceptionText([] { Prior::New()->Sample(1, 2, 2, { {} }, 1.0, 1); }).find("Initialize"),
            std::string::npos);
}

// Marginal calibration, the mechanics: the offsets A[0] + c A[1..] are added to the network's logits
// (checked against the uncalibrated logits), the calibrated model is normalised, both samplers use it,
// the model file keeps it exactly, a training step discards it, and a calibration of the wrong size
// or with a non-finite value is a clear error.
// Conditions that cannot determine the calibration's slopes (here maps at two conditions that
// differ only in the categorical parameter, whose two one-hot columns add up to the intercept) with
// Ridge 0: a clear error before any sampling, and the model keeps the calibration it had; a
// Ridge > 0 makes the same system solvable.
TEST(PixelCNNPriorModel, UndeterminedCalibrationIsAClearErrorBeforeSampling)
{
  const unsigned int K = 3, H = 2, W = 3;
  auto               m = TinyPrior(K, 2, 5, TwoParameterSchema());
  const unsigned int D = m->GetEncodedConditionLength();
  const auto         maps = RandomMaps(4, H, W, K, 6);
  const std::vector<Prior::Condition> conditions{ Cond(0.5, "air"), Cond(0.5, "water"), Cond(0.5, "air"),
                                                  Cond(0.5, "water") };
  const std::vector<float> before((1 + D) * K, 0.125f);
  m->SetMarginalCalibration(before);
  Prior::CalibrationOptions options;
  options.SamplesPerCondition = 2;
  options.Iterations = 1;
  options.Ridge = 0.0;
  unsigned int progressCalls = 0;
  const auto   text = ExceptionText([&] {
    m->CalibrateMarginals(maps.data(), 4, H, W, conditions, options, [&](double) { ++progressCalls; });
  });
  EXPECT_NE(text.find("give a Ridge > 0"), std::string::npos) << text;
  EXPECT_NE(text.find("the 2 distinct conditions"), std::string::npos) << text;
  EXPECT_EQ(progressCalls, 0u);
  EXPECT_EQ(m->GetMarginalCalibration(), before);

  options.Ridge = 1e-3;
  const auto records = m->CalibrateMarginals(maps.data(), 4, H, W, conditions, options);
  EXPECT_EQ(records.size(), 2u * (options.Iterations + 1));
}

TEST(PixelCNNPriorModel, MarginalCalibrationOffsetsTheLogits)
{
  const unsigned int K = 3, H = 2, W = 3;
  auto               m = TinyPrior(K, 3, 17, TwoParameterSchema());
  const unsigned int D = m->GetEncodedConditionLength(); // log_rate + 2 categories
  ASSERT_EQ(D, 3u);
  const auto                          maps = RandomMaps(5, H, W, K, 4);
  const std::vector<Prior::Condition> cond{ Cond(0.5, "air") };
  const auto                          raw = m->Logits(maps.data(), 5, H, W, cond);
  std::vector<float>                  A((1 + D) * K);
  for (size_t i = 0; i < A.size(); ++i)
    A[i] = 0.25f * static_cast<float>(i % 5) - 0.4f;
  m->SetMarginalCalibration(A);
  EXPECT_EQ(m->GetMarginalCalibration(), A);
  const auto encoded = m->EncodeConditions(cond, 1);
  const auto calibrated = m->Logits(maps.data(), 5, H, W, cond);
  for (unsigned int i = 0; i < 5; ++i)
    for (unsigned int k = 0; k < K; ++k)
    {
      double offset = A[k];
      for (unsigned int j = 0; j < D; ++j)
        offset += encoded[j] * A[(1 + j) * K + k];
      for (unsigned int p = 0; p < H * W; ++p)
      {
        const size_t at = (static_cast<size_t>(i) * K + k) * H * W + p;
        ASSERT_NEAR(calibrated[at], raw[at] + offset, 1e-5);
      }
    }

  // Normalised: the probabilities of all 3^6 maps sum to 1.
  std::vector<int32_t> all(729 * H * W);
  for (unsigned int i = 0; i < 729; ++i)
    for (unsigned int p = 0, v = i; p < H * W; ++p, v /= K)
      all[i * H * W + p] = static_cast<int32_t>(v % K);
  double sum = 0.0;
  for (const double l : m->LogLikelihood(all.data(), 729, H, W, cond))
    sum += std::exp(l);
  EXPECT_NEAR(sum, 1.0, 1e-6);

  // Both samplers use it, and it changes what they draw.
  m->SetSampler("naive");
  const auto naive = m->Sample(4, 4, 5, cond, 1.0, 3);
  m->SetSampler("incremental");
  EXPECT_EQ(m->Sample(4, 4, 5, cond, 1.0, 3), naive);
  std::vector<float> strong((1 + D) * K, 0.0f);
  strong[2] = 8.0f; // code 2 almost everywhere
  m->SetMarginalCalibration(strong);
  const auto s = m->Sample(20, 4, 5, cond, 1.0, 3);
  EXPECT_GT(std::count(s.begin(), s.end(), 2), static_cast<long>(0.95 * s.size()));

  // The file keeps it exactly; a file without it has none.
  const auto dir = TempDir("calibration");
  m->SetMarginalCalibration(A);
  m->Write((dir / "calibrated.smprior").string());
  auto r = Prior::New();
  r->SetDevice("cpu");
  r->Read((dir / "calibrated.smprior").string());
  EXPECT_EQ(r->GetMarginalCalibration(), A);
  EXPECT_EQ(r->Logits(maps.data(), 5, H, W, cond), calibrated);
  m->SetMarginalCalibration({});
  m->Write((dir / "plain.smprior").string());
  r->Read((dir / "plain.smprior").string());
  EXPECT_TRUE(r->GetMarginalCalibration().empty());
  EXPECT_EQ(r->Logits(maps.data(), 5, H, W, cond), raw);

  // A damaged value in the file, a wrong size, a NaN: clear errors; training discards it.
  ASSERT_TRUE(DamageHeaderValue(dir / "calibrated.smprior", "marginal_calibration", dir / "bad.smprior"));
  EXPECT_NE(ExceptionText([&] { r->Read((dir / "bad.smprior").string()); }).find("marginal_calibration"),
            std::string::npos);
  EXPECT_NE(ExceptionText([&] { m->SetMarginalCalibration(std::vector<float>(K, 0.0f)); }).find("values, got 3"),
            std::string::npos);
  auto nan = A;
  nan[4] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(ExceptionText([&] { m->SetMarginalCalibration(nan); }).find("not a finite number"), std::string::npos);
  m->SetMarginalCalibration(A);
  m->TrainStep(maps.data(), 5, H, W, cond);
  EXPECT_TRUE(m->GetMarginalCalibration().empty());
  fs::remove_all(dir);
}

// Marginal calibration, the fit: real maps of independent indices whose frequencies depend on a
// continuous condition, p(k | c) proportional to exp(a_k + c b_k), at c = -1 and c = 1 only. An untrained
// prior samples them far off; after calibration the sampled frequencies match at both training
// conditions (total variation down to sampling noise), and at the unseen c = 0 they come close to the
// truth p(k | 0), which the linear interpolation of the offsets recovers for this family.
TEST(PixelCNNPriorModel, MarginalCalibrationMatchesCodeFrequencies)
{
  const unsigned int  K = 6, H = 4, W = 4, perCondition = 300;
  const double        a[K] = { 1.2, 0.4, 0.0, -0.3, -0.8, 0.9 }, b[K] = { -1.0, 0.8, 0.3, 0.0, 1.1, -0.6 };
  auto truth = [&](double c) {
    std::vector<double> p(K);
    double              z = 0.0;
    for (unsigned int k = 0; k < K; ++k)
      z += (p[k] = std::exp(a[k] + c * b[k]));
    for (auto & v : p)
      v /= z;
    return p;
  };
  auto m = Prior::New();
  m->SetHyperparameters(TinyHyperparameters(K, 2));
  m->SetConditionSchema({ Prior::LearnContinuousCondition("log_rate", { -1.0, 1.0 }) });
  m->SetSeed(5);
  m->SetDevice("cpu");
  m->Initialize();

  std::mt19937                  rng(11);
  std::vector<int32_t>          maps;
  std::vector<Prior::Condition> conditions;
  for (const double c : { -1.0, 1.0 })
  {
    DrawCodes(truth(c), perCondition * H * W, rng, maps);
    for (unsigned int i = 0; i < perCondition; ++i)
      conditions.push_back({ { "log_rate", c < 0 ? "-1" : "1" } });
  }
  auto sampledTV = [&](double c, uint64_t seed) {
    std::ostringstream text;
    text << c;
    return FrequencyDistance(m->Sample(2000, H, W, { { { "log_rate", text.str() } } }, 1.0, seed), truth(c));
  };
  const double unseenBefore = sampledTV(0.0, 77);

  Prior::CalibrationOptions options;
  options.SamplesPerCondition = 400;
  options.Iterations = 4;
  options.Seed = 9;
  std::vector<double> progress;
  const auto          records = m->CalibrateMarginals(maps.data(), 2 * perCondition, H, W, conditions, options,
                                             [&](double f) { progress.push_back(f); });
  ASSERT_EQ(records.size(), 2u * (options.Iterations + 1));
  EXPECT_EQ(records[0].Condition, "log_rate=-1");
  EXPECT_EQ(records[1].Condition, "log_rate=1");
  EXPECT_EQ(records[0].RealMaps, perCondition);
  ASSERT_FALSE(progress.empty());
  EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));
  EXPECT_NEAR(progress.back(), 1.0, 1e-12);
  for (const size_t g : { 0u, 1u })
  {
    EXPECT_GT(records[g].TotalVariation, 0.1) << "the untrained prior should be far off";
    EXPECT_LT(records[records.size() - 2 + g].TotalVariation, 0.035); // noise of 6400 + 4800 draws: ~0.01
  }
  // Independent of the records: fresh samples at the training conditions and at the unseen c = 0.
  EXPECT_LT(sampledTV(-1.0, 123), 0.035);
  EXPECT_LT(sampledTV(1.0, 124), 0.035);
  const double unseenAfter = sampledTV(0.0, 125);
  EXPECT_LT(unseenAfter, 0.5 * unseenBefore) << "before " << unseenBefore;
  EXPECT_LT(unseenAfter, 0.06);

  // Safeguard: with one sampled 3 x 3 map per condition the corrections are mostly noise. A round
  // whose offsets match worse (mean total variation) than the best kept so far is undone; the
  // records say which were kept, the kept total variation never rises, and when only round 0 (no
  // offsets) was kept the prior has no calibration.
  {
    std::vector<std::string> categories = { "a", "b", "c", "d", "e", "f" };
    auto noisy = TinyPrior(32, 2, 3, { Prior::LearnCategoricalCondition("c", categories) });
    const auto                    noisyMaps = RandomMaps(12, 3, 3, 32, 8);
    std::vector<Prior::Condition> noisyConditions;
    for (unsigned int i = 0; i < 12; ++i)
      noisyConditions.push_back({ { "c", categories[i % 6] } });
    Prior::CalibrationOptions few;
    few.SamplesPerCondition = 1;
    few.Iterations = 6;
    few.Seed = 4;
    const auto r = noisy->CalibrateMarginals(noisyMaps.data(), 12, 3, 3, noisyConditions, few);
    ASSERT_EQ(r.size(), 6u * 7);
    double       best = std::numeric_limits<double>::infinity();
    unsigned int lastKept = 0, undone = 0;
    for (unsigned int round = 0; round <= few.Iterations; ++round)
    {
      double mean = 0.0;
      for (unsigned int g = 0; g < 6; ++g)
      {
        mean += r[round * 6 + g].TotalVariation / 6;
        EXPECT_EQ(r[round * 6 + g].Kept, r[round * 6].Kept);
      }
      EXPECT_EQ(r[round * 6].Kept, mean <= best) << "round " << round;
      if (mean <= best)
        best = mean, lastKept = round;
      else
        ++undone;
    }
    EXPECT_GE(undone, 1u) << "this setting should make some rounds worse";
    if (lastKept == 0)
      EXPECT_TRUE(noisy->GetMarginalCalibration().empty());
    else
      EXPECT_EQ(noisy->GetMarginalCalibration().size(), 7u * 32);
  }

  // Bad options: clear errors.
  options.SamplesPerCondition = 0;
  EXPECT_NE(ExceptionText([&] { m->CalibrateMarginals(maps.data(), 2 * perCondition, H, W, conditions, options); })
              .find("SamplesPerCondition"),
            std::string::npos);
}

// Condition degree: a continuous parameter encoded as z, z^2 (z standardised). The encoding, the
// file, the errors; then what it is for: code frequencies that bend with the parameter (log p
// quadratic in it) at three training values. With degree 1 every calibration is a straight line in z
// and cannot meet all three; with degree 2 it meets them and an unseen value between them gets the
// parabola's frequencies.
TEST(PixelCNNPriorModel, ConditionDegreeTwoBendsTheCalibrationThroughThreeValues)
{
  // Encoding: values -1, 0, 2 -> mean 1/3, sd sqrt(14/9); x = 2 encodes as z, z^2.
  const auto spec = Prior::LearnContinuousCondition("x", { -1.0, 0.0, 2.0, 2.0 }, 2);
  EXPECT_EQ(spec.Degree, 2u);
  {
    auto       m = TinyPrior(4, 1, 3, { spec });
    const auto e = m->EncodeConditions({ { { "x", "2" } } }, 1);
    const double z = (2.0 - spec.Mean) / spec.StdDev;
    ASSERT_EQ(m->GetEncodedConditionLength(), 2u);
    ASSERT_EQ(e.size(), 2u);
    EXPECT_NEAR(e[0], z, 1e-6);
    EXPECT_NEAR(e[1], z * z, 1e-6);
    // With a categorical parameter after it: [z, z^2, one-hot].
    auto both = TinyPrior(4, 1, 3, { spec, Prior::LearnCategoricalCondition("m", { "a", "b" }) });
    const auto e2 = both->EncodeConditions({ { { "x", "-1" }, { "m", "b" } } }, 1);
    const double z2 = (-1.0 - spec.Mean) / spec.StdDev;
    ASSERT_EQ(e2.size(), 4u);
    EXPECT_NEAR(e2[0], z2, 1e-6);
    EXPECT_NEAR(e2[1], z2 * z2, 1e-6);
    EXPECT_EQ(e2[2], 0.0f);
    EXPECT_EQ(e2[3], 1.0f);
  }
  // Errors: too few distinct values for the degree, degrees outside 1..3 (learnt or set).
  EXPECT_NE(ExceptionText([] { Prior::LearnContinuousCondition("x", { 1.0, 2.0, 2.0 }, 2); }).find("2 distinct"),
            std::string::npos);
  EXPECT_NE(ExceptionText([] { Prior::LearnContinuousCondition("x", { 1.0, 2.0, 3.0 }, 4); }).find("degree"),
            std::string::npos);
  EXPECT_NE(ExceptionText([] { Prior::LearnCondition("x", { "1", "2", "3" }, false, 0); }).find("degree"),
            std::string::npos);
  EXPECT_EQ(Prior::LearnCondition("x", { "1", "2", "3" }, false, 2).Degree, 2u);
  // Degree 1 still takes a column of one value (training at one cooling rate).
  EXPECT_EQ(Prior::LearnContinuousCondition("x", { 2.0, 2.0 }, 1).StdDev, 1.0);
  EXPECT_NE(ExceptionText([] { Prior::LearnContinuousCondition("x", { 2.0, 2.0 }, 2); }).find("1 distinct training value:"),
            std::string::npos);
  {
    auto bad = spec;
    bad.Degree = 4;
    auto m = Prior::New();
    EXPECT_NE(ExceptionText([&] { m->SetConditionSchema({ bad }); }).find("Degree 4"), std::string::npos);
  }

  // The calibration. True log frequencies a + b c + q c^2 at c = -1, 0, 1; unseen c = 0.5.
  const unsigned int K = 6, H = 4, W = 4, perCondition = 300;
  const double       a[K] = { 1.0, 0.4, 0.0, -0.3, -0.6, 0.8 }, b[K] = { -0.6, 0.5, 0.3, 0.0, 0.7, -0.4 },
               q[K] = { 1.6, -1.2, 0.0, -0.9, 1.4, -1.0 };
  auto truth = [&](double c) {
    std::vector<double> p(K);
    double              sum = 0.0;
    for (unsigned int k = 0; k < K; ++k)
      sum += (p[k] = std::exp(a[k] + c * b[k] + c * c * q[k]));
    for (auto & v : p)
      v /= sum;
    return p;
  };
  std::mt19937                  rng(17);
  std::vector<int32_t>          maps;
  std::vector<Prior::Condition> conditions;
  const double                  trained[3] = { -1.0, 0.0, 1.0 };
  for (const double c : trained)
  {
    DrawCodes(truth(c), perCondition * H * W, rng, maps);
    for (unsigned int i = 0; i < perCondition; ++i)
      conditions.push_back({ { "x", c < 0 ? "-1" : (c > 0 ? "1" : "0") } });
  }
  auto calibrated = [&](unsigned int degree) {
    auto m = TinyPrior(K, 2, 5, { Prior::LearnContinuousCondition("x", { -1.0, 0.0, 1.0 }, degree) });
    Prior::CalibrationOptions options;
    options.SamplesPerCondition = 400;
    options.Iterations = 4;
    options.Seed = 9;
    m->CalibrateMarginals(maps.data(), 3 * perCondition, H, W, conditions, options);
    return m;
  };
  auto sampledTV = [&](const Prior::Pointer & m, double c, uint64_t seed) {
    std::ostringstream text;
    text << c;
    return FrequencyDistance(m->Sample(2000, H, W, { { { "x", text.str() } } }, 1.0, seed), truth(c));
  };
  const auto linear = calibrated(1), quadratic = calibrated(2);
  EXPECT_EQ(quadratic->GetMarginalCalibration().size(), 3u * K);
  double worstLinear = 0.0;
  for (const double c : trained)
  {
    EXPECT_LT(sampledTV(quadratic, c, 123), 0.035) << "c = " << c; // sampling noise: ~0.01
    worstLinear = std::max(worstLinear, sampledTV(linear, c, 123));
  }
  EXPECT_GT(worstLinear, 0.08) << "a straight line should not meet three values on a parabola";
  const double unseenQuadratic = sampledTV(quadratic, 0.5, 125), unseenLinear = sampledTV(linear, 0.5, 125);
  EXPECT_LT(unseenQuadratic, 0.05);
  EXPECT_LT(unseenQuadratic, 0.5 * unseenLinear) << "linear " << unseenLinear;
  std::cout << "total variation at c = 0.5 (unseen): degree 2 " << unseenQuadratic << ", degree 1 " << unseenLinear
            << "; worst at a training value, degree 1: " << worstLinear << std::endl;

  // The file keeps the degree (and a degree-1 parameter keeps the line files had before degrees).
  const auto dir = TempDir("degree");
  quadratic->Write((dir / "q.model").string());
  linear->Write((dir / "l.model").string());
  auto r = Prior::New();
  r->SetDevice("cpu");
  r->Read((dir / "q.model").string());
  ASSERT_EQ(r->GetConditionSchema().size(), 1u);
  EXPECT_EQ(r->GetConditionSchema()[0].Degree, 2u);
  EXPECT_EQ(r->Sample(5, H, W, { { { "x", "0.5" } } }, 1.0, 3), quadratic->Sample(5, H, W, { { { "x", "0.5" } } }, 1.0, 3));
  std::ifstream      in((dir / "l.model").string(), std::ios::binary);
  const std::string  bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto         at = bytes.find("condition_0 = ");
  ASSERT_NE(at, std::string::npos);
  const std::string line = bytes.substr(at, bytes.find('\n', at) - at);
  EXPECT_EQ(std::count(line.begin(), line.end(), ','), 5) << line;
  r->Read((dir / "l.model").string());
  EXPECT_EQ(r->GetConditionSchema()[0].Degree, 1u);
  fs::remove_all(dir);
}

// Exponential terms: an ln_ parameter x that also enters as exp(-x) (1 / the rate), standardised.
// The encoding against its definition, the file, the errors; then what it is for: code frequencies
// whose log is a + b x + q exp(-x) (steep at small x, level at large, as a grain size in the cooling
// rate) at x = ln 1, ln 10, ln 30. A line in x misses them and the rate 3 in between; the term meets
// all three and gets 3 right. A parabola in x (degree 2) also meets the three but not 3.
TEST(PixelCNNPriorModel, ExponentialTermFollowsACurveALineAndAParabolaMiss)
{
  const double trained[3] = { 0.0, std::log(10.0), std::log(30.0) }, unseen = std::log(3.0);
  const auto   spec = Prior::LearnContinuousCondition("x", { trained[0], trained[1], trained[2], trained[2] }, 1, { -1.0 });
  ASSERT_EQ(spec.ExponentialTerms.size(), 1u);
  {
    // exp(-x) at the training values: 1, 0.1, 1/30, 1/30 -> mean and population sd of those.
    const double v[4] = { 1.0, 0.1, 1.0 / 30, 1.0 / 30 };
    const double mean = (v[0] + v[1] + v[2] + v[3]) / 4;
    double       ss = 0.0;
    for (const double e : v)
      ss += (e - mean) * (e - mean);
    EXPECT_NEAR(spec.ExponentialTerms[0].Mean, mean, 1e-12);
    EXPECT_NEAR(spec.ExponentialTerms[0].StdDev, std::sqrt(ss / 4), 1e-12);
    auto       m = TinyPrior(4, 1, 3, { spec, Prior::LearnCategoricalCondition("m", { "a", "b" }) });
    const auto e = m->EncodeConditions({ { { "x", std::to_string(unseen) }, { "m", "a" } } }, 1);
    ASSERT_EQ(m->GetEncodedConditionLength(), 4u); // z, the term, one-hot
    ASSERT_EQ(e.size(), 4u);
    EXPECT_NEAR(e[0], (unseen - spec.Mean) / spec.StdDev, 1e-5);
    EXPECT_NEAR(e[1], (1.0 / 3.0 - mean) / std::sqrt(ss / 4), 1e-5);
    EXPECT_EQ(e[2], 1.0f);
    EXPECT_EQ(e[3], 0.0f);
  }
  // Errors: a rate of zero, twice, not finite; overflow; too few distinct values for degree + terms.
  EXPECT_NE(ExceptionText([] { Prior::LearnContinuousCondition("x", { 0.0, 1.0, 2.0 }, 1, { 0.0 }); }).find("non-zero"),
            std::string::npos);
  EXPECT_NE(ExceptionText([] { Prior::LearnContinuousCondition("x", { 0.0, 1.0, 2.0, 3.0 }, 1, { -1.0, -1.0 }); })
              .find("given once"),
            std::string::npos);
  EXPECT_NE(ExceptionText([] {
              Prior::LearnContinuousCondition("x", { 0.0, 1.0, 2.0 }, 1, { std::numeric_limits<double>::infinity() });
            }).find("finite"),
            std::string::npos);
  EXPECT_NE(ExceptionText([] { Prior::LearnContinuousCondition("x", { 0.0, 900.0, 1000.0 }, 1, { 1.0 }); }).find("ln_"),
            std::string::npos);
  EXPECT_NE(ExceptionText([] { Prior::LearnContinuousCondition("x", { 1.0, 2.0 }, 1, { -1.0 }); }).find("at least 3"),
            std::string::npos);
  EXPECT_NE(ExceptionText([] { Prior::LearnContinuousCondition("x", { 1.0, 2.0, 3.0 }, 2, { -1.0 }); }).find("at least 4"),
            std::string::npos);
  {
    auto bad = spec;
    bad.ExponentialTerms[0].StdDev = 0.0;
    auto m = Prior::New();
    EXPECT_NE(ExceptionText([&] { m->SetConditionSchema({ bad }); }).find("StdDev > 0"), std::string::npos);
  }

  // The calibration against true log frequencies a + b x + q exp(-x).
  const unsigned int K = 6, H = 4, W = 4, perCondition = 300;
  const double       a[K] = { 1.0, 0.4, 0.0, -0.3, -0.6, 0.8 }, b[K] = { -0.3, 0.25, 0.15, 0.0, 0.35, -0.2 },
               q[K] = { 2.0, -1.5, 0.0, -1.1, 1.7, -1.2 };
  auto truth = [&](double x) {
    std::vector<double> p(K);
    double              sum = 0.0;
    for (unsigned int k = 0; k < K; ++k)
      sum += (p[k] = std::exp(a[k] + x * b[k] + std::exp(-x) * q[k]));
    for (auto & v : p)
      v /= sum;
    return p;
  };
  std::mt19937                  rng(23);
  std::vector<int32_t>          maps;
  std::vector<Prior::Condition> conditions;
  std::vector<double>           column;
  for (const double x : trained)
  {
    DrawCodes(truth(x), perCondition * H * W, rng, maps);
    for (unsigned int i = 0; i < perCondition; ++i)
    {
      conditions.push_back({ { "x", std::to_string(x) } });
      column.push_back(std::stod(std::to_string(x)));
    }
  }
  auto calibrated = [&](unsigned int degree, const std::vector<double> & rates) {
    auto m = TinyPrior(K, 2, 5, { Prior::LearnContinuousCondition("x", column, degree, rates) });
    Prior::CalibrationOptions options;
    options.SamplesPerCondition = 400;
    options.Iterations = 4;
    options.Seed = 9;
    m->CalibrateMarginals(maps.data(), 3 * perCondition, H, W, conditions, options);
    return m;
  };
  auto sampledTV = [&](const Prior::Pointer & m, double x, uint64_t seed) {
    return FrequencyDistance(m->Sample(2000, H, W, { { { "x", std::to_string(x) } } }, 1.0, seed), truth(x));
  };
  const auto line = calibrated(1, {}), parabola = calibrated(2, {}), term = calibrated(1, { -1.0 });
  double worstLine = 0.0;
  for (const double x : trained)
  {
    EXPECT_LT(sampledTV(term, x, 123), 0.035) << "x = " << x; // sampling noise: ~0.01
    worstLine = std::max(worstLine, sampledTV(line, x, 123));
  }
  EXPECT_GT(worstLine, 0.06) << "a straight line should not meet three values on this curve";
  const double unseenTerm = sampledTV(term, unseen, 125), unseenLine = sampledTV(line, unseen, 125),
               unseenParabola = sampledTV(parabola, unseen, 125);
  EXPECT_LT(unseenTerm, 0.04);
  EXPECT_LT(unseenTerm, 0.5 * unseenLine) << "line " << unseenLine;
  EXPECT_LT(unseenTerm, 0.7 * unseenParabola) << "parabola " << unseenParabola;
  std::cout << "total variation at x = ln 3 (unseen): with exp(-x) " << unseenTerm << ", parabola " << unseenParabola
            << ", line " << unseenLine << "; worst at a training value, line: " << worstLine << std::endl;

  // The file keeps the term exactly; the file's line without terms is unchanged (5 commas).
  const auto dir = TempDir("exponential");
  term->Write((dir / "t.model").string());
  auto r = Prior::New();
  r->SetDevice("cpu");
  r->Read((dir / "t.model").string());
  ASSERT_EQ(r->GetConditionSchema().size(), 1u);
  ASSERT_EQ(r->GetConditionSchema()[0].ExponentialTerms.size(), 1u);
  EXPECT_EQ(r->GetConditionSchema()[0].ExponentialTerms[0].Rate, -1.0);
  EXPECT_EQ(r->GetConditionSchema()[0].ExponentialTerms[0].StdDev, term->GetConditionSchema()[0].ExponentialTerms[0].StdDev);
  const std::string x3 = std::to_string(unseen);
  EXPECT_EQ(r->Sample(5, H, W, { { { "x", x3 } } }, 1.0, 3), term->Sample(5, H, W, { { { "x", x3 } } }, 1.0, 3));

  // A term for the calibrations only: the network's input for it is 0, so moving the term's feature
  // (here through its standardisation) leaves the uncalibrated network's likelihoods as they are,
  // while with the term in the network they change. The calibration still follows the curve, and
  // the file keeps the flag.
  {
    const auto maps4 = RandomMaps(3, H, W, K, 31);
    auto       likelihoods = [&](bool network, double meanShift) {
      auto s = Prior::LearnContinuousCondition("x", column, 1, { -1.0 }, network);
      s.ExponentialTerms[0].Mean += meanShift;
      return TinyPrior(K, 2, 5, { s })->LogLikelihood(maps4.data(), 3, H, W, { { { "x", x3 } } });
    };
    EXPECT_EQ(likelihoods(false, 0.0), likelihoods(false, 0.3));
    EXPECT_NE(likelihoods(true, 0.0), likelihoods(true, 0.3));
    auto m = TinyPrior(K, 2, 5, { Prior::LearnContinuousCondition("x", column, 1, { -1.0 }, false) });
    Prior::CalibrationOptions options;
    options.SamplesPerCondition = 400;
    options.Iterations = 4;
    options.Seed = 9;
    m->CalibrateMarginals(maps.data(), 3 * perCondition, H, W, conditions, options);
    EXPECT_LT(sampledTV(m, unseen, 125), 0.04);
    m->Write((dir / "c.model").string());
    r->Read((dir / "c.model").string());
    ASSERT_EQ(r->GetConditionSchema()[0].ExponentialTerms.size(), 1u);
    EXPECT_FALSE(r->GetConditionSchema()[0].ExponentialTerms[0].Network);
    EXPECT_EQ(r->Sample(5, H, W, { { { "x", x3 } } }, 1.0, 3), m->Sample(5, H, W, { { { "x", x3 } } }, 1.0, 3));
  }
  fs::remove_all(dir);
}

// The sampling temperature per condition (temperature_calibration in the model file) was removed:
// a prior calibrated with it is refused with a message that names the file and says what to do; an
// empty line is no calibration.
TEST(PixelCNNPriorModel, FileWithTheRemovedTemperatureCalibrationIsRefused)
{
  auto       m = TinyPrior(3, 2, 17, TwoParameterSchema());
  const auto dir = TempDir("temperature");
  m->Write((dir / "plain.smprior").string());
  auto withHeaderLine = [&](const std::string & line, const std::string & name) {
    std::string bytes = WithoutHeaderChecksum(FileBytes(dir / "plain.smprior"));
    const auto  at = bytes.find("end_header\n");
    EXPECT_NE(at, std::string::npos);
    bytes.insert(at, line + "\n");
    std::ofstream((dir / name).string(), std::ios::binary) << bytes;
    return (dir / name).string();
  };
  auto       r = Prior::New();
  r->SetDevice("cpu");
  const auto calibrated = withHeaderLine("temperature_calibration = 0.3,-0.2,0.1,0.05", "calibrated.smprior");
  const auto message = ExceptionText([&] { r->Read(calibrated); });
  EXPECT_NE(message.find(calibrated), std::string::npos) << message;
  EXPECT_NE(message.find("temperature_calibration"), std::string::npos) << message;
  EXPECT_NE(message.find("recalibrate"), std::string::npos) << message;
  EXPECT_FALSE(r->IsInitialized()) << "nothing read from the refused file";
  r->Read(withHeaderLine("temperature_calibration = ", "empty.smprior"));
  const auto                          maps = RandomMaps(2, 2, 3, 3, 4);
  const std::vector<Prior::Condition> cond{ Cond(0.5, "air") };
  EXPECT_EQ(r->Logits(maps.data(), 2, 2, 3, cond), m->Logits(maps.data(), 2, 2, 3, cond));
  fs::remove_all(dir);
}

// The variation calibration's model, against independent truth: the likelihood is the mixture over
// a per-map tilt epsilon ~ N(0, s(c)^2), computed here by a dense trapezoid over epsilon from the
// epsilon = 0 logits (Logits); it sums to 1 over all maps; and what Sample draws follows it, not the
// untilted model.
TEST(PixelCNNPriorModel, VariationCalibrationTiltsEachMap)
{
  const unsigned int K = 3, H = 2, W = 3, P = H * W;
  auto               m = TinyPrior(K, 3, 23, TwoParameterSchema());
  const unsigned int D = m->GetEncodedConditionLength();
  const std::vector<Prior::Condition> cond{ Cond(0.5, "air") };
  std::vector<float>                  A((1 + D) * K);
  for (size_t i = 0; i < A.size(); ++i)
    A[i] = 0.2f * static_cast<float>(i % 4) - 0.3f;
  m->SetMarginalCalibration(A);
  std::vector<int32_t> all(729 * P);
  for (unsigned int i = 0; i < 729; ++i)
    for (unsigned int p = 0, v = i; p < P; ++p, v /= K)
      all[i * P + p] = static_cast<int32_t>(v % K);
  const auto untilted = m->LogLikelihood(all.data(), 729, H, W, cond);
  const auto logits = m->Logits(all.data(), 729, H, W, cond); // epsilon = 0

  EXPECT_DOUBLE_EQ(m->GetCalibratedVariation(cond[0]), 0.0);
  const std::vector<float> b{ 1.2f, -0.4f, -0.9f };
  const std::vector<float> v{ 0.4f, 0.2f, -0.1f, 0.3f };
  m->SetVariationCalibration(b, v);
  EXPECT_EQ(m->GetVariationDirection(), b);
  EXPECT_EQ(m->GetVariationCalibration(), v);
  const auto encoded = m->EncodeConditions(cond, 1);
  double     logS = v[0];
  for (unsigned int j = 0; j < D; ++j)
    logS += encoded[j] * v[1 + j];
  const double s = std::exp(logS);
  EXPECT_NEAR(m->GetCalibratedVariation(cond[0]), s, 1e-6);
  ASSERT_GT(s, 1.0) << "the test needs a tilt that matters";
  EXPECT_EQ(m->Logits(all.data(), 729, H, W, cond), logits) << "Logits are those of epsilon = 0";

  const auto tilted = m->LogLikelihood(all.data(), 729, H, W, cond);
  double     sum = 0.0, largestDifference = 0.0;
  for (unsigned int i = 0; i < 729; ++i)
  {
    sum += std::exp(tilted[i]);
    largestDifference = std::max(largestDifference, std::abs(tilted[i] - untilted[i]));
    if (i % 37 != 0)
      continue;
    // Trapezoid over epsilon in [-12 s, 12 s], 6001 points, in log space.
    std::vector<double> terms;
    const int           N = 6000;
    const double        h = 24.0 * s / N;
    for (int q = 0; q <= N; ++q)
    {
      const double e = -12.0 * s + q * h;
      double       l = -0.5 * e * e / (s * s) - std::log(s * std::sqrt(2.0 * M_PI)) + std::log(h) -
                 ((q == 0 || q == N) ? std::log(2.0) : 0.0);
      for (unsigned int p = 0; p < P; ++p)
      {
        double z[3], mx = -1e300;
        for (unsigned int k = 0; k < K; ++k)
          mx = std::max(mx, z[k] = logits[(static_cast<size_t>(i) * K + k) * P + p] + e * b[k]);
        double lse = 0.0;
        for (unsigned int k = 0; k < K; ++k)
          lse += std::exp(z[k] - mx);
        l += z[all[i * P + p]] - mx - std::log(lse);
      }
      terms.push_back(l);
    }
    const double mx = *std::max_element(terms.begin(), terms.end());
    double       acc = 0.0;
    for (const double l : terms)
      acc += std::exp(l - mx);
    // 2e-6: the 20-point quadrature's error here (1.5e-6 at map 0, the trapezoid converged; 1e-6 held
    // while the test divided logits and tilt by a calibrated temperature of about 1.15).
    EXPECT_NEAR(tilted[i], mx + std::log(acc), 2e-6) << "map " << i;
  }
  EXPECT_NEAR(sum, 1.0, 1e-6);
  EXPECT_GT(largestDifference, 0.1) << "the tilt should change the likelihood";

  // Sampling: the naive and incremental samplers agree, and the frequencies of 30000 sampled maps
  // follow the mixture far better than the untilted model.
  m->SetSampler("naive");
  const auto naive = m->Sample(8, 3, 4, cond, 1.0, 5);
  m->SetSampler("incremental");
  EXPECT_EQ(m->Sample(8, 3, 4, cond, 1.0, 5), naive);
  const unsigned int   n = 30000;
  const auto           sampled = m->Sample(n, H, W, cond, 1.0, 11);
  std::vector<double>  frequency(729, 0.0);
  for (unsigned int i = 0; i < n; ++i)
  {
    unsigned int code = 0;
    for (int p = P - 1; p >= 0; --p)
      code = code * K + static_cast<unsigned int>(sampled[i * P + p]);
    frequency[code] += 1.0 / n;
  }
  double tvTilted = 0.0, tvUntilted = 0.0;
  for (unsigned int i = 0; i < 729; ++i)
  {
    tvTilted += 0.5 * std::abs(frequency[i] - std::exp(tilted[i]));
    tvUntilted += 0.5 * std::abs(frequency[i] - std::exp(untilted[i]));
  }
  EXPECT_LT(tvTilted, 0.07); // sampling noise alone: about 0.06 for 729 cells and 30000 draws
  EXPECT_GT(tvUntilted, tvTilted + 0.05);

  // The model file keeps it; errors are clear; TrainStep discards it.
  const auto dir = TempDir("variation");
  m->Write((dir / "tilted.smprior").string());
  auto r = Prior::New();
  r->SetDevice("cpu");
  r->Read((dir / "tilted.smprior").string());
  EXPECT_EQ(r->GetVariationDirection(), b);
  EXPECT_EQ(r->GetVariationCalibration(), v);
  EXPECT_EQ(r->LogLikelihood(all.data(), 729, H, W, cond), tilted);
  EXPECT_EQ(r->Sample(50, H, W, cond, 1.0, 11), m->Sample(50, H, W, cond, 1.0, 11));
  ASSERT_TRUE(DamageHeaderValue(dir / "tilted.smprior", "variation_calibration", dir / "bad.smprior"));
  EXPECT_NE(ExceptionText([&] { r->Read((dir / "bad.smprior").string()); }).find("variation_calibration"),
            std::string::npos);
  EXPECT_NE(ExceptionText([&] { m->SetVariationCalibration(b, {}); }).find("log-scale coefficients, got 3 and 0"),
            std::string::npos);
  EXPECT_NE(ExceptionText([&] { m->SetVariationCalibration({ 1.0f }, v); }).find("direction of 3"), std::string::npos);
  auto nan = b;
  nan[1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(ExceptionText([&] { m->SetVariationCalibration(nan, v); }).find("not a finite number"), std::string::npos);

  // The same tilt given by the coefficients of s(c)^2 (inVariance): the line is s^2 at this condition,
  // so the model is the same; the file keeps the form; a line below 0 gives the smallest scale, 1e-3.
  EXPECT_FALSE(m->GetVariationCalibrationInVariance());
  auto variance = v;
  variance[0] = static_cast<float>(s * s - (logS - v[0]));
  m->SetVariationCalibration(b, variance, true);
  EXPECT_TRUE(m->GetVariationCalibrationInVariance());
  EXPECT_NEAR(m->GetCalibratedVariation(cond[0]), s, 1e-5 * s);
  const auto inVariance = m->LogLikelihood(all.data(), 729, H, W, cond);
  for (unsigned int i = 0; i < 729; i += 7)
    EXPECT_NEAR(inVariance[i], tilted[i], 1e-4) << "map " << i;
  m->Write((dir / "variance.smprior").string());
  r->Read((dir / "variance.smprior").string());
  EXPECT_TRUE(r->GetVariationCalibrationInVariance());
  EXPECT_EQ(r->GetVariationCalibration(), variance);
  EXPECT_EQ(r->LogLikelihood(all.data(), 729, H, W, cond), inVariance);
  ASSERT_TRUE(DamageHeaderValue(dir / "variance.smprior", "variation_scale", dir / "bad.smprior"));
  EXPECT_NE(ExceptionText([&] { r->Read((dir / "bad.smprior").string()); }).find("variation_scale holds \"xariance\""),
            std::string::npos);
  variance[0] = -100.0f;
  m->SetVariationCalibration(b, variance, true);
  EXPECT_NEAR(m->GetCalibratedVariation(cond[0]), 1e-3, 1e-9);
  m->SetVariationCalibration(b, v);
  EXPECT_FALSE(m->GetVariationCalibrationInVariance()) << "log s(c) unless asked";

  m->SetVariationCalibration({}, {});
  EXPECT_EQ(m->LogLikelihood(all.data(), 729, H, W, cond), untilted);
  m->SetVariationCalibration(b, variance, true);
  m->TrainStep(all.data(), 5, H, W, cond);
  EXPECT_FALSE(m->GetVariationCalibrationInVariance());
  EXPECT_TRUE(m->GetVariationDirection().empty());
  EXPECT_TRUE(m->GetVariationCalibration().empty());
  fs::remove_all(dir);
}

// "Real" maps drawn from the prior itself with a per-map tilt along `truth`, of spread 0.5 at
// log_rate = -1 (seed seedMinus) and 1.2 at log_rate = 1 (seed seedPlus); the prior is left untilted.
std::pair<std::vector<int32_t>, std::vector<Prior::Condition>>
TiltedRealMaps(Prior & m, const std::vector<float> & truth, unsigned int perCondition, unsigned int H,
               unsigned int W, uint64_t seedPlus, uint64_t seedMinus)
{
  std::vector<int32_t>          real;
  std::vector<Prior::Condition> conditions;
  for (const auto & [c, s] : std::vector<std::pair<std::string, double>>{ { "-1", 0.5 }, { "1", 1.2 } })
  {
    const Prior::Condition condition{ { "log_rate", c } };
    m.SetVariationCalibration(truth, { static_cast<float>(std::log(s)), 0.0f });
    const auto maps = m.Sample(perCondition, H, W, { condition }, 1.0, c == "1" ? seedPlus : seedMinus);
    real.insert(real.end(), maps.begin(), maps.end());
    conditions.insert(conditions.end(), perCondition, condition);
  }
  m.SetVariationCalibration({}, {});
  return { real, conditions };
}

// The variation calibration's fit against a known truth, for the two tests below: a tiny prior, "real"
// maps drawn from it with a per-map tilt along `truth` (TiltedRealMaps), and the options both fits
// use (one round, the tilt matched along one direction, probes 0.5, 1 and 1.5 x the real spread).
class PixelCNNPriorVariationFit : public ::testing::Test
{
protected:
  static constexpr unsigned int K = 6, H = 4, W = 4, perCondition = 600;
  const std::vector<float>      truth{ 1.0f, 1.0f, 1.0f, -1.0f, -1.0f, -1.0f };
  Prior::Pointer                m = TinyPrior(K, 3, 7, { Prior::LearnContinuousCondition("log_rate", { -1.0, 1.0 }) });
  std::vector<int32_t>          real;
  std::vector<Prior::Condition> conditions;
  Prior::CalibrationOptions     options = FitOptions();

  /** The real maps, from the seeds of log_rate = 1 and -1. */
  void
  DrawRealMaps(uint64_t seedPlus, uint64_t seedMinus)
  {
    std::tie(real, conditions) = TiltedRealMaps(*m, truth, perCondition, H, W, seedPlus, seedMinus);
  }
  std::vector<Prior::CalibrationRecord>
  Calibrate(const Prior::CalibrationOptions & o, const std::function<void(double)> & progress = {})
  {
    return m->CalibrateMarginals(real.data(), 2 * perCondition, H, W, conditions, o, progress);
  }
  /** The message of the exception that calibrating with o throws. */
  std::string
  CalibrationError(const Prior::CalibrationOptions & o)
  {
    return ExceptionText([&] { Calibrate(o); });
  }
  /** DrawRealMaps, with the spread measured in LowFraction. */
  void
  DrawRealMapsMeasuredInLowFraction(uint64_t seedPlus, uint64_t seedMinus)
  {
    DrawRealMaps(seedPlus, seedMinus);
    options.MapStatistic = LowFraction;
    options.RealStatistic = LowFraction(real.data(), 2 * perCondition, H, W);
  }
  /** The calibrated model's own samplings (records 10 on: after 2 rounds and 3 probes per condition)
   * vary as the real maps, within the noise of 600 maps. */
  static void
  ExpectSpreadMatched(const std::vector<Prior::CalibrationRecord> & records)
  {
    for (unsigned int i = 10; i < records.size(); ++i)
    {
      EXPECT_GT(records[i].SpreadRatio, 0.75) << i;
      EXPECT_LT(records[i].SpreadRatio, 1.33) << i;
    }
  }
  /** A per-map statistic that the true tilt moves (as it does the decoded volume fraction): the
   * fraction of a map's indices below 3. */
  static std::vector<double>
  LowFraction(const int32_t * maps, unsigned int count, unsigned int h, unsigned int w)
  {
    std::vector<double> f(count, 0.0);
    for (unsigned int i = 0; i < count; ++i)
      for (unsigned int p = 0; p < h * w; ++p)
        f[i] += (maps[static_cast<size_t>(i) * h * w + p] < 3) / static_cast<double>(h * w);
    return f;
  }

private:
  static Prior::CalibrationOptions
  FitOptions()
  {
    Prior::CalibrationOptions o;
    o.SamplesPerCondition = perCondition;
    o.Iterations = 1;
    o.Seed = 9;
    o.SpreadComponents = 1;
    o.ProbeVariations = { 0.5, 1.0, 1.5 };
    return o;
  }
};

// The variation calibration's fit, against a known truth: the "real" maps are drawn from the prior
// itself with a per-map tilt along a known direction, of spread 0.5 at c = -1 and 1.2 at c = 1. The
// calibration should find the direction, a larger tilt at c = 1, an unseen c = 0 in between, and a
// spread ratio (far below 1 without a tilt) near 1 after.
TEST_F(PixelCNNPriorVariationFit, RecoversThePerMapSpread)
{
  DrawRealMaps(41, 42);
  std::vector<double> progress;
  const auto          records = Calibrate(options, [&](double f) { progress.push_back(f); });
  // Rounds 0 and 1 (no tilt), 3 probes (0.5, 1, 1.5 x the real spread, at the kept offsets), and the
  // calibrated model sampled once more, per condition.
  ASSERT_EQ(records.size(), 2u * 2 + 2u * 3 + 2u);
  EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));
  EXPECT_NEAR(progress.back(), 1.0, 1e-12);
  for (unsigned int i = 0; i < records.size(); ++i)
  {
    EXPECT_EQ(records[i].Probe, i >= 4 && i < 10) << i;
    EXPECT_EQ(records[i].Variation == 0.0, i < 4) << i;
    EXPECT_EQ(records[i].Round, i < 2 ? 0u : i < 10 ? 1u : 2u) << i;
  }
  EXPECT_LT(records[0].SpreadRatio, 0.6) << "without a tilt the maps should vary less than the real ones";
  EXPECT_LT(records[1].SpreadRatio, 0.6);
  for (unsigned int i = 4; i + 2 < 10; ++i) // each condition's probes in increasing s
    EXPECT_LT(records[i].Variation, records[i + 2].Variation);
  const auto & b = m->GetVariationDirection();
  ASSERT_EQ(b.size(), K);
  const double cosine = std::inner_product(b.begin(), b.end(), truth.begin(), 0.0) /
                        std::sqrt(std::inner_product(b.begin(), b.end(), b.begin(), 0.0) * 6.0);
  EXPECT_GT(std::abs(cosine), 0.95);
  const double sMinus = m->GetCalibratedVariation({ { "log_rate", "-1" } });
  const double sPlus = m->GetCalibratedVariation({ { "log_rate", "1" } });
  const double sZero = m->GetCalibratedVariation({ { "log_rate", "0" } });
  EXPECT_GT(sPlus, 1.3 * sMinus);
  EXPECT_GT(sZero, sMinus);
  EXPECT_LT(sZero, sPlus);
  for (unsigned int i = 10; i < records.size(); ++i) // the stored model: the real maps' spread
  {
    EXPECT_TRUE(records[i].Kept);
    EXPECT_NEAR(records[i].Variation, (i % 2) ? sPlus : sMinus, 1e-6);
  }
  ExpectSpreadMatched(records);

  // Bad options: clear errors, before any sampling.
  auto bad = options;
  bad.SpreadComponents = K;
  EXPECT_NE(CalibrationError(bad).find("SpreadComponents"), std::string::npos);
  bad = options;
  bad.ProbeVariations = { 1.0, 0.5 };
  EXPECT_NE(CalibrationError(bad).find("probe variation"), std::string::npos);
  bad.ProbeVariations = {};
  EXPECT_NE(CalibrationError(bad).find("ProbeVariations"), std::string::npos);
  bad = options;
  bad.MinimumVariation = 0.0;
  EXPECT_NE(CalibrationError(bad).find("MinimumVariation"), std::string::npos);
}

// The same fit with the spread measured in a per-map statistic (as the decoded volume fraction is):
// here the fraction of a map's indices below 3, which the true tilt along (1, 1, 1, -1, -1, -1)
// moves. The statistic's variance over the sampled maps should come out as the real maps' (far
// below without a tilt), with the larger tilt at c = 1 and a direction along the truth.
TEST_F(PixelCNNPriorVariationFit, MatchesAMapStatistic)
{
  DrawRealMapsMeasuredInLowFraction(43, 44);
  unsigned int calls = 0;
  const auto   statistic = options.MapStatistic;
  options.MapStatistic = [&](const int32_t * maps, unsigned int count, unsigned int h, unsigned int w) {
    ++calls;
    EXPECT_EQ(count, perCondition);
    EXPECT_EQ(h, H);
    EXPECT_EQ(w, W);
    return statistic(maps, count, h, w);
  };
  const auto records = Calibrate(options);
  ASSERT_EQ(records.size(), 2u * 2 + 2u * 3 + 2u);
  EXPECT_EQ(calls, records.size()) << "every sampling is measured in the statistic";
  EXPECT_LT(records[0].SpreadRatio, 0.6) << "without a tilt the statistic should vary less than the real one";
  EXPECT_LT(records[1].SpreadRatio, 0.6);
  const auto & b = m->GetVariationDirection();
  ASSERT_EQ(b.size(), K);
  const double cosine = std::inner_product(b.begin(), b.end(), truth.begin(), 0.0) /
                        std::sqrt(std::inner_product(b.begin(), b.end(), b.begin(), 0.0) * 6.0);
  EXPECT_GT(cosine, 0.9) << "a tilt towards codes 0-2 raises the statistic";
  const double sMinus = m->GetCalibratedVariation({ { "log_rate", "-1" } });
  const double sPlus = m->GetCalibratedVariation({ { "log_rate", "1" } });
  EXPECT_GT(sPlus, 1.3 * sMinus);
  ExpectSpreadMatched(records);

  // Bad statistics: clear errors.
  auto bad = options;
  bad.RealStatistic.clear();
  EXPECT_NE(CalibrationError(bad).find("give both MapStatistic and RealStatistic"), std::string::npos);
  bad = options;
  bad.RealStatistic.pop_back();
  EXPECT_NE(CalibrationError(bad).find("RealStatistic has 1199 values for 1200 real maps"), std::string::npos);
  bad = options;
  bad.RealStatistic[5] = std::nan("");
  EXPECT_NE(CalibrationError(bad).find("finite"), std::string::npos);
  bad = options;
  bad.Iterations = 0;
  bad.MapStatistic = [](const int32_t *, unsigned int, unsigned int, unsigned int) { return std::vector<double>(3); };
  EXPECT_NE(CalibrationError(bad).find("MapStatistic returned 3 values for 600 maps"), std::string::npos);
}

// The tilt along the codes' own values of the statistic (CodeStatistic): for the fraction of a map's
// indices below 3 a code's value is 1 for codes 0-2 and 0 for the others, so the direction is known
// in closed form, b_k = (v_k - v) sd / var with v and var the mean and variance of v_k over the real
// maps' code frequencies (half a count added) and sd the statistic's pooled within-condition standard
// deviation: one unit of tilt moves the expected statistic by sd. The spread is then fitted as along
// the regression direction.
TEST_F(PixelCNNPriorVariationFit, TiltsAlongTheCodesOwnStatistic)
{
  DrawRealMapsMeasuredInLowFraction(47, 48);
  options.CodeStatistic = { 1, 1, 1, 0, 0, 0 };
  const auto records = Calibrate(options);
  ASSERT_EQ(records.size(), 2u * 2 + 2u * 3 + 2u);

  std::vector<double> f(K, 0.5);
  for (const int32_t k : real)
    f[k] += 1.0;
  const double total = std::accumulate(f.begin(), f.end(), 0.0);
  double       mean = 0.0, variance = 0.0;
  for (unsigned int k = 0; k < K; ++k)
    mean += f[k] / total * options.CodeStatistic[k];
  for (unsigned int k = 0; k < K; ++k)
    variance += f[k] / total * std::pow(options.CodeStatistic[k] - mean, 2);
  double squares = 0.0;
  for (const std::string c : { "1", "-1" })
  {
    std::vector<double> values;
    for (unsigned int i = 0; i < 2 * perCondition; ++i)
      if (conditions[i].at("log_rate") == c)
        values.push_back(options.RealStatistic[i]);
    const double m = std::accumulate(values.begin(), values.end(), 0.0) / values.size();
    for (const double v : values)
      squares += (v - m) * (v - m);
  }
  const double sd = std::sqrt(squares / (2 * perCondition - 2));
  const auto & b = m->GetVariationDirection();
  ASSERT_EQ(b.size(), K);
  for (unsigned int k = 0; k < K; ++k)
    EXPECT_NEAR(b[k], (options.CodeStatistic[k] - mean) * sd / variance, 1e-5) << k;
  EXPECT_GT(m->GetCalibratedVariation({ { "log_rate", "1" } }), 1.3 * m->GetCalibratedVariation({ { "log_rate", "-1" } }));
  ExpectSpreadMatched(records);

  // Bad code statistics: clear errors before any sampling.
  auto bad = options;
  bad.CodeStatistic.pop_back();
  EXPECT_NE(CalibrationError(bad).find("CodeStatistic has 5 values for a codebook of 6"), std::string::npos);
  bad = options;
  bad.CodeStatistic[2] = std::nan("");
  EXPECT_NE(CalibrationError(bad).find("finite"), std::string::npos);
  bad = options;
  bad.CodeStatistic.assign(K, 0.5);
  EXPECT_NE(CalibrationError(bad).find("does not vary over the codes"), std::string::npos);
  bad = options;
  bad.MapStatistic = nullptr;
  bad.RealStatistic.clear();
  EXPECT_NE(CalibrationError(bad).find("give it with MapStatistic"), std::string::npos);
  bad = options;
  bad.SpreadComponents = 0;
  EXPECT_NE(CalibrationError(bad).find("CodeStatistic directs"), std::string::npos);
}

// The tilt's spread fitted in variance (VariationInVariance): s(c)^2 is the line over the encoded
// condition, so the unseen log_rate = 0, halfway in the encoded condition, gets the mean of the two
// training conditions' s^2; the fit matches the spread there as in log s.
TEST_F(PixelCNNPriorVariationFit, FitsTheTiltVarianceAsALine)
{
  DrawRealMapsMeasuredInLowFraction(49, 50);
  options.CodeStatistic = { 1, 1, 1, 0, 0, 0 };
  options.VariationInVariance = true;
  const auto records = Calibrate(options);
  ASSERT_EQ(records.size(), 2u * 2 + 2u * 3 + 2u);
  EXPECT_TRUE(m->GetVariationCalibrationInVariance());
  const double sMinus = m->GetCalibratedVariation({ { "log_rate", "-1" } });
  const double sPlus = m->GetCalibratedVariation({ { "log_rate", "1" } });
  const double sZero = m->GetCalibratedVariation({ { "log_rate", "0" } });
  EXPECT_GT(sPlus, 1.3 * sMinus);
  EXPECT_NEAR(sZero * sZero, 0.5 * (sPlus * sPlus + sMinus * sMinus), 1e-4 * sPlus * sPlus);
  for (unsigned int i = 10; i < records.size(); ++i)
    EXPECT_NEAR(records[i].Variation, (i % 2) ? sPlus : sMinus, 1e-6) << i;
  ExpectSpreadMatched(records);
}

// The mean calibration against a known truth: two per-map statistics, the fraction of a map's
// indices below 3 and the fraction that are 5. The targets are the real maps' statistics with the
// first raised by 10 % and the second lowered by 15 %: matching the code frequencies leaves the
// sampled means near the real ones, well off the targets; the mean calibration should bring both
// within a few % at both conditions, and at an unseen condition in between land between the two.
TEST_F(PixelCNNPriorVariationFit, MatchesMapStatisticMeans)
{
  DrawRealMaps(45, 46);
  auto statistics = [](const int32_t * maps, unsigned int count, unsigned int h, unsigned int w) {
    std::vector<double> v;
    for (unsigned int i = 0; i < count; ++i)
    {
      const int32_t * map = maps + static_cast<size_t>(i) * h * w;
      double          low = 0.0, five = 0.0;
      for (unsigned int p = 0; p < h * w; ++p)
      {
        low += (map[p] < 3) / static_cast<double>(h * w);
        five += (map[p] == 5) / static_cast<double>(h * w);
      }
      v.push_back(low);
      v.push_back(five);
    }
    return v;
  };
  options.SpreadComponents = 0;
  options.MeanStatistics = statistics;
  options.RealMeanStatistics = statistics(real.data(), 2 * perCondition, H, W);
  for (size_t i = 0; i < options.RealMeanStatistics.size(); ++i)
    options.RealMeanStatistics[i] *= (i % 2) ? 0.85 : 1.10;
  const auto records = Calibrate(options);
  // Rounds 0 and 1, then per condition: the unshifted probe, one probe per statistic, 2 corrections.
  ASSERT_EQ(records.size(), 2u * 2 + 2u * 3 + 2u * 2);
  for (unsigned int i = 0; i < records.size(); ++i)
  {
    EXPECT_EQ(records[i].Mean, i >= 4) << i;
    EXPECT_EQ(records[i].Probe, i >= 4 && i < 10) << i;
    ASSERT_EQ(records[i].MeanDifference.size(), 2u) << "every sampling is measured in the statistics";
  }
  for (unsigned int g = 0; g < 2; ++g)
  {
    EXPECT_LT(records[4 + g].MeanDifference[0], -0.05) << "the code frequencies alone: below the raised target";
    EXPECT_GT(records[4 + g].MeanDifference[1], 0.05) << "and above the lowered one";
  }
  // The stored model: the last kept correction, sampled again with other seeds.
  const auto check = m->Sample(perCondition, H, W, { { { "log_rate", "1" } } }, 1.0, 777);
  const auto checkMinus = m->Sample(perCondition, H, W, { { { "log_rate", "-1" } } }, 1.0, 778);
  const auto checkZero = m->Sample(perCondition, H, W, { { { "log_rate", "0" } } }, 1.0, 779);
  auto means = [&](const std::vector<int32_t> & maps) {
    const auto v = statistics(maps.data(), perCondition, H, W);
    std::vector<double> mean(2, 0.0);
    for (size_t i = 0; i < v.size(); ++i)
      mean[i % 2] += v[i] / perCondition;
    return mean;
  };
  auto targets = [&](bool plus) {
    std::vector<double> mean(2, 0.0);
    for (unsigned int i = 0; i < 2 * perCondition; ++i)
      if ((conditions[i].at("log_rate") == "1") == plus)
        for (unsigned int t = 0; t < 2; ++t)
          mean[t] += options.RealMeanStatistics[2 * i + t] / perCondition;
    return mean;
  };
  const auto plus = means(check), minus = means(checkMinus), zero = means(checkZero);
  const auto targetPlus = targets(true), targetMinus = targets(false);
  for (unsigned int t = 0; t < 2; ++t)
  {
    EXPECT_NEAR(plus[t] / targetPlus[t], 1.0, 0.035) << "statistic " << t << " at log_rate = 1";
    EXPECT_NEAR(minus[t] / targetMinus[t], 1.0, 0.035) << "statistic " << t << " at log_rate = -1";
    EXPECT_GT(zero[t], std::min(targetPlus[t], targetMinus[t]) - 0.03) << t;
    EXPECT_LT(zero[t], std::max(targetPlus[t], targetMinus[t]) + 0.03) << t;
  }

  // Bad statistics: clear errors before any sampling.
  auto bad = options;
  bad.RealMeanStatistics.clear();
  EXPECT_NE(CalibrationError(bad).find("give both MeanStatistics and RealMeanStatistics"), std::string::npos);
  bad = options;
  bad.RealMeanStatistics.pop_back();
  EXPECT_NE(CalibrationError(bad).find("RealMeanStatistics has 2399 values for 1200 real maps"), std::string::npos);
  bad = options;
  bad.MeanRounds = 0;
  EXPECT_NE(CalibrationError(bad).find("MeanRounds"), std::string::npos);
  bad = options;
  for (size_t i = 1; i < bad.RealMeanStatistics.size(); i += 2) // the second a multiple of the first
    bad.RealMeanStatistics[i] = 2 * bad.RealMeanStatistics[i - 1];
  EXPECT_NE(CalibrationError(bad).find("do not vary independently"), std::string::npos);
  bad = options;
  bad.Iterations = 0;
  bad.MeanStatistics = [](const int32_t *, unsigned int, unsigned int, unsigned int) { return std::vector<double>(3); };
  EXPECT_NE(CalibrationError(bad).find("MeanStatistics returned 3 values for 600 maps"), std::string::npos);
  bad = options;
  bad.MeanShiftFollowsTerms = { true };
  EXPECT_NE(CalibrationError(bad).find("MeanShiftFollowsTerms has 1 values for 2 mean statistics"), std::string::npos);
  // Without exponential terms in the schema, "not following them" is the same fit: the same records.
  auto same = options;
  same.MeanShiftFollowsTerms = { false, true };
  const auto sameRecords = Calibrate(same);
  ASSERT_EQ(sameRecords.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i)
    EXPECT_EQ(sameRecords[i].MeanDifference, records[i].MeanDifference) << i;
}

namespace
{
/** Maps of two codes whose share of code 1 varies from map to map: per map p ~ N(mean, sd^2)
 * (clamped to 0.02..0.98), every position code 1 with probability p, independently. */
std::vector<int32_t>
MapsOfVaryingComposition(unsigned int n, unsigned int H, unsigned int W, double mean, double sd, unsigned int seed)
{
  std::mt19937                           rng(seed);
  std::normal_distribution<double>       share(mean, sd);
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  std::vector<int32_t>                   maps;
  for (unsigned int i = 0; i < n; ++i)
  {
    const double p = std::clamp(share(rng), 0.02, 0.98);
    for (unsigned int k = 0; k < H * W; ++k)
      maps.push_back(u01(rng) < p ? 1 : 0);
  }
  return maps;
}

/** Per map, the share of code 1. */
std::vector<double>
ShareOfCodeOne(const std::vector<int32_t> & maps, unsigned int per)
{
  std::vector<double> s(maps.size() / per, 0.0);
  for (size_t i = 0; i < maps.size(); ++i)
    s[i / per] += maps[i] / static_cast<double>(per);
  return s;
}

double
MeanOf(const std::vector<double> & v, size_t first, size_t count)
{
  return std::accumulate(v.begin() + first, v.begin() + first + count, 0.0) / count;
}

double
VarianceOf(const std::vector<double> & v, size_t first, size_t count)
{
  const double m = MeanOf(v, first, count);
  double       s = 0.0;
  for (size_t i = first; i < first + count; ++i)
    s += (v[i] - m) * (v[i] - m);
  return s / (count - 1);
}
/** n maps at log_rate = -1 (shares of code 1 drawn from N(0.3, sdLow^2), seed seedLow) followed by n at
 * log_rate = 1 (N(0.6, sdHigh^2), seed seedHigh), with their conditions. */
struct TwoConditionMaps
{
  std::vector<int32_t>          maps;
  std::vector<Prior::Condition> conditions;
};
TwoConditionMaps
MapsAtTwoConditions(unsigned int n, unsigned int H, unsigned int W, double sdLow, double sdHigh, unsigned int seedLow,
                    unsigned int seedHigh)
{
  TwoConditionMaps r;
  r.maps = MapsOfVaryingComposition(n, H, W, 0.3, sdLow, seedLow);
  const auto upper = MapsOfVaryingComposition(n, H, W, 0.6, sdHigh, seedHigh);
  r.maps.insert(r.maps.end(), upper.begin(), upper.end());
  r.conditions.assign(n, Cond(-1.0));
  r.conditions.insert(r.conditions.end(), n, Cond(1.0));
  return r;
}

/** A tiny prior on log_rate (two layers; with the composition level, and its budget, when asked) trained
 * `steps` steps of `batchSize` maps drawn at random (std::mt19937(rngSeed)) from the 2 n maps of H x W and
 * their conditions. */
Prior::Pointer
TrainedTinyPrior(const std::vector<int32_t> & real, const std::vector<Prior::Condition> & conditions, unsigned int n,
                 unsigned int H, unsigned int W, bool level, uint64_t seed, unsigned int rngSeed, int steps,
                 unsigned int batchSize, bool budget = false)
{
  const unsigned int per = H * W;
  auto               m = Prior::New();
  m->SetHyperparameters(TinyHyperparameters(2, 2));
  m->SetConditionSchema({ Prior::LearnContinuousCondition("log_rate", { -1.0, 1.0 }) });
  if (level)
    m->SetCompositionLevel({ 0.0f, 1.0f }, 1, real.data(), 2 * n, H, W, conditions);
  m->SetCompositionBudget(budget);
  m->SetSeed(seed);
  m->SetDevice("cpu");
  m->SetLearningRate(1e-2);
  m->Initialize();
  std::mt19937                  rng(rngSeed);
  std::vector<int32_t>          batch(batchSize * per);
  std::vector<Prior::Condition> batchConditions(batchSize);
  for (int step = 0; step < steps; ++step)
  {
    for (unsigned int b = 0; b < batchSize; ++b)
    {
      const unsigned int i = rng() % (2 * n);
      std::copy_n(real.begin() + i * per, per, batch.begin() + b * per);
      batchConditions[b] = conditions[i];
    }
    m->TrainStep(batch.data(), batchSize, H, W, batchConditions);
  }
  return m;
}
} // namespace

// The composition level's top level against the maps' own statistics: with two conditions and no
// ridge, m(c) and log s(c) pass through each condition's mean and log sd of the standardised share
// exactly, and the unseen midpoint gets the midpoint of both. The likelihood is the network's plus
// log N(u; m, s); the file keeps the level (same samples after Read), and a damaged level is refused.
TEST(PixelCNNPriorModel, CompositionLevelFitsItsTopLevelAndRoundTrips)
{
  const unsigned int K = 2, H = 6, W = 6, n = 300, per = H * W;
  auto               m = Prior::New();
  m->SetHyperparameters(TinyHyperparameters(K, 2));
  m->SetConditionSchema({ Prior::LearnContinuousCondition("log_rate", { -1.0, 1.0 }) });
  auto maps = MapsOfVaryingComposition(n, H, W, 0.3, 0.05, 1);
  auto upper = MapsOfVaryingComposition(n, H, W, 0.6, 0.15, 2);
  maps.insert(maps.end(), upper.begin(), upper.end());
  std::vector<Prior::Condition> conditions(n, Cond(-1.0));
  conditions.insert(conditions.end(), n, Cond(1.0));
  EXPECT_NE(ExceptionText([&] { m->SetCompositionLevel({ 0.0f, 1.0f, 0.5f }, 1, maps.data(), 2 * n, H, W, conditions); }),
            "(no exception)");
  m->SetCompositionLevel({ 0.0f, 1.0f }, 1, maps.data(), 2 * n, H, W, conditions, 0.0);
  ASSERT_TRUE(m->HasCompositionLevel());
  EXPECT_FALSE(m->IsInitialized()) << "the level changes the network's input: the network is discarded";

  const auto   share = ShareOfCodeOne(maps, per);
  const double mean = MeanOf(share, 0, 2 * n), sd = std::sqrt(VarianceOf(share, 0, 2 * n));
  const auto   u = m->Compositions(maps.data(), 2 * n, H, W);
  for (unsigned int i = 0; i < 2 * n; i += 97)
    EXPECT_NEAR(u[i], (share[i] - mean) / sd, 1e-9);
  double logSd[2];
  for (unsigned int g = 0; g < 2; ++g)
  {
    const auto top = m->GetCompositionPrior(Cond(g == 0 ? -1.0 : 1.0));
    EXPECT_NEAR(top.Mean[0], (MeanOf(share, g * n, n) - mean) / sd, 1e-5) << g;
    EXPECT_NEAR(top.StdDev[0], std::sqrt(VarianceOf(share, g * n, n)) / sd, 1e-5) << g;
    logSd[g] = std::log(top.StdDev[0]);
  }
  const auto mid = m->GetCompositionPrior(Cond(0.0));
  EXPECT_NEAR(mid.Mean[0],
              0.5 * (m->GetCompositionPrior(Cond(-1.0)).Mean[0] + m->GetCompositionPrior(Cond(1.0)).Mean[0]), 1e-5);
  EXPECT_NEAR(std::log(mid.StdDev[0]), 0.5 * (logSd[0] + logSd[1]), 1e-5);

  m->SetSeed(3);
  m->SetDevice("cpu");
  m->Initialize();
  const std::vector<Prior::Condition> at{ Cond(0.4) };
  const auto logL = m->LogLikelihood(maps.data(), 5, H, W, at);
  const auto logits = m->Logits(maps.data(), 5, H, W, at);
  const auto top = m->GetCompositionPrior(at[0]);
  for (unsigned int i = 0; i < 5; ++i)
  {
    double expected = 0.0;
    for (unsigned int p = 0; p < per; ++p)
    {
      const double a = logits[(i * K + 0) * per + p], b = logits[(i * K + 1) * per + p];
      const double mx = std::max(a, b);
      expected += logits[(i * K + maps[i * per + p]) * per + p] - mx - std::log(std::exp(a - mx) + std::exp(b - mx));
    }
    const double z = (u[i] - top.Mean[0]) / top.StdDev[0];
    expected += -0.5 * z * z - std::log(top.StdDev[0]) - 0.5 * std::log(2.0 * 3.141592653589793);
    EXPECT_NEAR(logL[i], expected, 1e-6) << i;
  }

  const auto dir = TempDir("composition");
  const auto path = (dir / "prior.model").string();
  m->Write(path);
  auto back = Prior::New();
  back->SetDevice("cpu");
  back->Read(path);
  ASSERT_TRUE(back->HasCompositionLevel());
  EXPECT_EQ(back->GetCompositionCodeValues(), m->GetCompositionCodeValues());
  EXPECT_EQ(back->Sample(20, H, W, at, 1.0, 11), m->Sample(20, H, W, at, 1.0, 11));
  EXPECT_EQ(back->Compositions(maps.data(), 3, H, W), m->Compositions(maps.data(), 3, H, W));

  std::string bytes = WithoutHeaderChecksum(FileBytes(path));
  const auto  line = bytes.find("composition_prior_log_sd = ");
  ASSERT_NE(line, std::string::npos);
  bytes.replace(line, bytes.find('\n', line) - line, "composition_prior_log_sd = 1");
  std::ofstream(path, std::ios::binary) << bytes;
  const auto message = ExceptionText([&] { back->Read(path); });
  EXPECT_NE(message.find("composition_prior_log_sd"), std::string::npos) << message;
  fs::remove_all(dir);
}

// What the level is for: "real" maps whose composition varies from map to map (sd 0.05 of the share
// at c = -1, 0.15 at c = 1; positions independent given it). A network that sees a quarter of the map
// infers the share from the positions it sees, so its maps vary less than the real maps; with the
// composition level, as much.
TEST(PixelCNNPriorModel, CompositionLevelCarriesThePerMapVariation)
{
  // 16 x 16 maps and 2 layers: the network sees about 4 rows back, a quarter of the map.
  const unsigned int H = 16, W = 16, n = 600, per = H * W, samples = 400;
  const auto         data = MapsAtTwoConditions(n, H, W, 0.05, 0.15, 5, 6);
  const auto &       real = data.maps;
  const auto &       conditions = data.conditions;
  const auto realShare = ShareOfCodeOne(real, per);

  double ratio[2][2]; // [with level][condition]: sampled over real variance of the share
  for (const bool level : { false, true })
  {
    auto m = TrainedTinyPrior(real, conditions, n, H, W, level, 2, 4, 250, 64);
    for (unsigned int g = 0; g < 2; ++g)
    {
      const auto sampled = ShareOfCodeOne(m->Sample(samples, H, W, { Cond(g == 0 ? -1.0 : 1.0) }, 1.0, 21 + g), per);
      ratio[level][g] = VarianceOf(sampled, 0, samples) / VarianceOf(realShare, g * n, n);
      if (level)
        EXPECT_NEAR(MeanOf(sampled, 0, samples), MeanOf(realShare, g * n, n), 0.04) << g;
    }
  }
  // With the level, within the noise of 400 samples; without, the variation the network misses shows.
  for (unsigned int g = 0; g < 2; ++g)
  {
    EXPECT_GT(ratio[1][g], 0.65) << g;
    EXPECT_LT(ratio[1][g], 1.5) << g;
    EXPECT_LT(std::abs(std::log(ratio[1][g])), std::abs(std::log(ratio[0][g]))) << g;
  }
  std::cout << "share variance ratio at c = -1 / 1: network alone " << ratio[0][0] << " / " << ratio[0][1]
            << ", with the composition level " << ratio[1][0] << " / " << ratio[1][1] << "\n";
}

// Composition candidates: a network trained briefly draws maps whose share of code 1 drifts from the
// drawn composition u (as the demo's prior does), so the sampled shares' mean misses the real maps'
// (which the top level is fitted to). Of C = 16 candidates per map, the one nearest u is kept: the kept
// shares' mean comes out as the real maps', their variance near it. C outside 1..64 throws; without the
// level C changes nothing.
TEST(PixelCNNPriorModel, CompositionCandidatesKeepTheMapNearestItsComposition)
{
  const unsigned int H = 16, W = 16, n = 400, per = H * W, samples = 300;
  const auto         data = MapsAtTwoConditions(n, H, W, 0.08, 0.12, 7, 8);
  const auto &       real = data.maps;
  const auto &       conditions = data.conditions;
  const auto realShare = ShareOfCodeOne(real, per);
  auto       m = TrainedTinyPrior(real, conditions, n, H, W, true, 3, 5, 20, 32);
  double ratio[2][2], meanError[2][2]; // [C = 1, 16][condition]
  for (const unsigned int c : { 0u, 1u })
  {
    m->SetCompositionCandidates(c == 0 ? 1 : 16);
    for (unsigned int g = 0; g < 2; ++g)
    {
      const auto sampled = ShareOfCodeOne(m->Sample(samples, H, W, { Cond(g == 0 ? -1.0 : 1.0) }, 1.0, 31 + g), per);
      ratio[c][g] = VarianceOf(sampled, 0, samples) / VarianceOf(realShare, g * n, n);
      meanError[c][g] = std::abs(MeanOf(sampled, 0, samples) - MeanOf(realShare, g * n, n));
    }
  }
  EXPECT_GT(std::max(meanError[0][0], meanError[0][1]), 0.03) << "the network alone should drift";
  for (unsigned int g = 0; g < 2; ++g)
  {
    EXPECT_GT(ratio[1][g], 0.7) << g;
    EXPECT_LT(ratio[1][g], 1.4) << g;
    EXPECT_LT(meanError[1][g], 0.025) << g; // the sampling noise of 300 shares: about 0.006
    EXPECT_LT(meanError[1][g], 0.5 * meanError[0][g] + 0.005) << g;
  }
  std::cout << "share variance ratio at c = -1 / 1: 1 candidate " << ratio[0][0] << " / " << ratio[0][1]
            << ", 16 candidates " << ratio[1][0] << " / " << ratio[1][1] << "; mean error " << meanError[0][0] << " / "
            << meanError[0][1] << " -> " << meanError[1][0] << " / " << meanError[1][1] << "\n";
  EXPECT_THROW(m->SetCompositionCandidates(0), itk::ExceptionObject);
  EXPECT_THROW(m->SetCompositionCandidates(65), itk::ExceptionObject);
  auto plain = TinyPrior(3, 2, 17, TwoParameterSchema());
  const auto one = plain->Sample(4, 3, 3, { Cond(0.5, "air") }, 1.0, 9);
  plain->SetCompositionCandidates(8);
  EXPECT_EQ(plain->Sample(4, 3, 3, { Cond(0.5, "air") }, 1.0, 9), one) << "no level: candidates change nothing";
}

// The composition budget keeps the network autoregressive: swapping the indices at positions p and q > p
// (which keeps the map's composition u, an input of every position) changes no logits at or before p. It
// is a global summary of the earlier positions: with it, after swapping the first and the last position,
// the position before the last sees the change, six rows below (outside the two layers' receptive
// field); without it, it does not. The incremental sampler draws
// what the naive one (a full forward pass per position) draws. The file keeps the budget (same samples
// after Read); a damaged budget line and a budget without the level are refused.
TEST(PixelCNNPriorModel, CompositionBudgetIsCausalGlobalAndRoundTrips)
{
  const unsigned int H = 7, W = 6, n = 40, per = H * W;
  const auto         data = MapsAtTwoConditions(n, H, W, 0.08, 0.12, 3, 4);
  auto               plain = TrainedTinyPrior(data.maps, data.conditions, n, H, W, true, 5, 1, 0, 1);
  auto               m = TrainedTinyPrior(data.maps, data.conditions, n, H, W, true, 5, 1, 0, 1, true);
  ASSERT_TRUE(m->GetCompositionBudget());
  const std::vector<Prior::Condition> cond{ Cond(0.2) };
  std::vector<int32_t>                maps(per);
  for (unsigned int p = 0; p < per; ++p)
    maps[p] = static_cast<int32_t>((p * 7 + p / 5) % 3 == 0); // both codes in every row
  auto maxDiff = [&](const std::vector<float> & a, const std::vector<float> & b, unsigned int q) {
    return std::max(std::abs(a[q] - b[q]), std::abs(a[per + q] - b[per + q])); // K = 2
  };
  auto swapped = [&](unsigned int p) { // p with the next position of the other code
    auto changed = maps;
    unsigned int q = p + 1;
    while (q < per && maps[q] == maps[p])
      ++q;
    if (q < per)
      std::swap(changed[p], changed[q]);
    return changed;
  };
  const auto base = m->Logits(maps.data(), 1, H, W, cond);
  for (unsigned int p = 0; p + 6 < per; p += 5)
  {
    const auto changed = swapped(p);
    ASSERT_NE(changed, maps) << p;
    const auto after = m->Logits(changed.data(), 1, H, W, cond);
    for (unsigned int q = 0; q <= p; ++q)
      EXPECT_LT(maxDiff(after, base, q), 1e-6) << "position " << q << " sees a later position than " << p;
  }
  auto ends = maps;
  ends[0] = 1, ends[per - 1] = 0;
  maps[0] = 0, maps[per - 1] = 1;
  EXPECT_GT(maxDiff(m->Logits(ends.data(), 1, H, W, cond), m->Logits(maps.data(), 1, H, W, cond), per - 2), 1e-5)
    << "with the budget, position " << per - 2 << " sees position 0";
  EXPECT_LT(maxDiff(plain->Logits(ends.data(), 1, H, W, cond), plain->Logits(maps.data(), 1, H, W, cond), per - 2),
            1e-7)
    << "without the budget, position " << per - 2 << " is outside position 0's receptive field";

  m->SetSampler("naive");
  const auto naive = m->Sample(5, H, W, { Cond(-0.5) }, 1.0, 17);
  m->SetSampler("incremental");
  EXPECT_EQ(m->Sample(5, H, W, { Cond(-0.5) }, 1.0, 17), naive);
  EXPECT_NE(plain->Sample(5, H, W, { Cond(-0.5) }, 1.0, 17), naive);

  const auto dir = TempDir("budget");
  const auto path = (dir / "prior.model").string();
  m->Write(path);
  auto back = Prior::New();
  back->SetDevice("cpu");
  back->Read(path);
  EXPECT_TRUE(back->GetCompositionBudget());
  EXPECT_EQ(back->Sample(5, H, W, { Cond(-0.5) }, 1.0, 17), naive);
  plain->Write(path);
  back->Read(path);
  EXPECT_FALSE(back->GetCompositionBudget());

  m->Write(path);
  std::string bytes = WithoutHeaderChecksum(FileBytes(path));
  const auto  line = bytes.find("composition_budget = 1");
  ASSERT_NE(line, std::string::npos);
  bytes.replace(line, std::string("composition_budget = 1").size(), "composition_budget = 2");
  std::ofstream(path, std::ios::binary) << bytes;
  const auto message = ExceptionText([&] { back->Read(path); });
  EXPECT_NE(message.find("composition_budget"), std::string::npos) << message;
  fs::remove_all(dir);

  auto noLevel = TinyPrior(3, 2, 17, TwoParameterSchema());
  noLevel->SetCompositionBudget(true);
  const auto refusal = ExceptionText([&] { noLevel->Initialize(); });
  EXPECT_NE(refusal.find("composition level"), std::string::npos) << refusal;
}

// What the budget is for: the briefly trained network of CompositionCandidatesKeepTheMapNearestItsComposition
// drifts from the drawn composition u; the same training with the budget draws maps whose own share
// follows u: the sampled shares' mean comes out as the real maps', their variance near it, at the cost of
// one sample per map.
TEST(PixelCNNPriorModel, CompositionBudgetKeepsMapsAtTheirComposition)
{
  const unsigned int H = 16, W = 16, n = 400, per = H * W, samples = 300;
  const auto         data = MapsAtTwoConditions(n, H, W, 0.08, 0.12, 7, 8);
  const auto         realShare = ShareOfCodeOne(data.maps, per);
  double             ratio[2][2], meanError[2][2]; // [without, with the budget][condition]
  for (const bool budget : { false, true })
  {
    auto m = TrainedTinyPrior(data.maps, data.conditions, n, H, W, true, 3, 5, 20, 32, budget);
    for (unsigned int g = 0; g < 2; ++g)
    {
      const auto sampled = ShareOfCodeOne(m->Sample(samples, H, W, { Cond(g == 0 ? -1.0 : 1.0) }, 1.0, 31 + g), per);
      ratio[budget][g] = VarianceOf(sampled, 0, samples) / VarianceOf(realShare, g * n, n);
      meanError[budget][g] = std::abs(MeanOf(sampled, 0, samples) - MeanOf(realShare, g * n, n));
    }
  }
  std::cout << "share variance ratio at c = -1 / 1: without the budget " << ratio[0][0] << " / " << ratio[0][1]
            << ", with " << ratio[1][0] << " / " << ratio[1][1] << "; mean error " << meanError[0][0] << " / "
            << meanError[0][1] << " -> " << meanError[1][0] << " / " << meanError[1][1] << "\n";
  EXPECT_GT(std::max(meanError[0][0], meanError[0][1]), 0.03) << "the network without the budget should drift";
  for (unsigned int g = 0; g < 2; ++g)
  {
    EXPECT_GT(ratio[1][g], 0.7) << g;
    EXPECT_LT(ratio[1][g], 1.4) << g;
    EXPECT_LT(meanError[1][g], 0.025) << g;
  }
}

// Two composition values per map (the share of code 0 and of code 1, drawn anticorrelated): the top
// level's correlation is the maps' within-condition correlation pooled over the conditions, and the
// likelihood adds the bivariate normal log density, computed here by hand.
TEST(PixelCNNPriorModel, CompositionLevelOfTwoValuesFitsTheirCorrelation)
{
  const unsigned int K = 3, H = 6, W = 6, n = 200, per = H * W, L = 2;
  std::mt19937       rng(8);
  std::normal_distribution<double>       noise(0.0, 1.0);
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  std::vector<int32_t>                   maps;
  std::vector<Prior::Condition>          conditions;
  for (unsigned int i = 0; i < 2 * n; ++i)
  {
    const double c = i < n ? -1.0 : 1.0;
    const double a = std::clamp(0.3 + 0.05 * c + 0.08 * noise(rng), 0.05, 0.6);
    const double b = std::clamp(0.6 - a + 0.05 * noise(rng), 0.05, 0.9 - a);
    for (unsigned int p = 0; p < per; ++p)
    {
      const double x = u01(rng);
      maps.push_back(x < a ? 0 : (x < a + b ? 1 : 2));
    }
    conditions.push_back(Cond(c));
  }
  auto m = Prior::New();
  m->SetHyperparameters(TinyHyperparameters(K, 2));
  m->SetConditionSchema({ Prior::LearnContinuousCondition("log_rate", { -1.0, 1.0 }) });
  EXPECT_NE(ExceptionText([&] { m->SetCompositionLevel({ 1, 0, 0, 1, 0 }, L, maps.data(), 2 * n, H, W, conditions); }),
            "(no exception)");
  m->SetCompositionLevel({ 1, 0, 0, 1, 0, 0 }, L, maps.data(), 2 * n, H, W, conditions, 0.0);
  ASSERT_EQ(m->GetCompositionCount(), L);
  const auto u = m->Compositions(maps.data(), 2 * n, H, W);
  // The pooled within-condition correlation, from the standardised compositions directly.
  double sab = 0.0, saa = 0.0, sbb = 0.0;
  for (unsigned int g = 0; g < 2; ++g)
  {
    double ma = 0.0, mb = 0.0, va = 0.0, vb = 0.0, cab = 0.0;
    for (unsigned int i = g * n; i < (g + 1) * n; ++i)
      ma += u[i * L] / n, mb += u[i * L + 1] / n;
    for (unsigned int i = g * n; i < (g + 1) * n; ++i)
    {
      va += (u[i * L] - ma) * (u[i * L] - ma);
      vb += (u[i * L + 1] - mb) * (u[i * L + 1] - mb);
      cab += (u[i * L] - ma) * (u[i * L + 1] - mb);
    }
    sab += cab / std::sqrt(va * vb), saa += 1.0, sbb += 1.0;
  }
  const auto top = m->GetCompositionPrior(Cond(0.3));
  ASSERT_EQ(top.Correlation.size(), 4u);
  EXPECT_NEAR(top.Correlation[1], sab / std::sqrt(saa * sbb), 1e-9);
  EXPECT_LT(top.Correlation[1], -0.5) << "the shares were drawn anticorrelated";

  m->SetSeed(5);
  m->SetDevice("cpu");
  m->Initialize();
  const std::vector<Prior::Condition> at{ Cond(0.3) };
  const auto logL = m->LogLikelihood(maps.data(), 4, H, W, at);
  const auto logits = m->Logits(maps.data(), 4, H, W, at);
  const double rho = top.Correlation[1];
  for (unsigned int i = 0; i < 4; ++i)
  {
    double expected = 0.0;
    for (unsigned int p = 0; p < per; ++p)
    {
      double mx = -1e300, z = 0.0;
      for (unsigned int k = 0; k < K; ++k)
        mx = std::max(mx, static_cast<double>(logits[(i * K + k) * per + p]));
      for (unsigned int k = 0; k < K; ++k)
        z += std::exp(logits[(i * K + k) * per + p] - mx);
      expected += logits[(i * K + maps[i * per + p]) * per + p] - mx - std::log(z);
    }
    const double a = (u[i * L] - top.Mean[0]) / top.StdDev[0], b = (u[i * L + 1] - top.Mean[1]) / top.StdDev[1];
    expected += -(a * a - 2 * rho * a * b + b * b) / (2 * (1 - rho * rho)) - std::log(top.StdDev[0] * top.StdDev[1]) -
                0.5 * std::log(1 - rho * rho) - std::log(2.0 * 3.141592653589793);
    EXPECT_NEAR(logL[i], expected, 1e-6) << i;
  }
  // Sampled maps carry the drawn compositions' anticorrelation through the network's input: the file
  // keeps the level, and the samples are the same after Read.
  const auto dir = TempDir("composition2");
  m->Write((dir / "p.model").string());
  auto back = Prior::New();
  back->SetDevice("cpu");
  back->Read((dir / "p.model").string());
  EXPECT_EQ(back->GetCompositionCount(), L);
  EXPECT_EQ(back->GetCompositionPrior(Cond(0.3)).Correlation, top.Correlation);
  EXPECT_EQ(back->Sample(10, H, W, at, 1.0, 2), m->Sample(10, H, W, at, 1.0, 2));
  fs::remove_all(dir);
}
